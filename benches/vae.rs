//! The default model on the CPU execution provider: one 768×512 image (the Kodak size), VAE
//! encode and decode alone, and the whole codec both ways.
//!
//! `cargo bench --bench vae` (needs ONNX Runtime: `scripts/ensure-onnxruntime.sh`).

use criterion::{criterion_group, criterion_main, Criterion};
use image::RgbImage;
use std::hint::black_box;
use vaerans::prelude::*;

fn photo_like(w: u32, h: u32) -> RgbImage {
    // Smooth gradients, edges and texture, deterministic.
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let edge = if (fx - 0.5).abs() + (fy - 0.4).abs() < 0.25 {
            60.0
        } else {
            0.0
        };
        let tex = ((x * 7 + y * 13) % 17) as f32 * 2.0;
        image::Rgb([
            (90.0 + 120.0 * fx + edge + tex).min(255.0) as u8,
            (60.0 + 100.0 * fy + tex).min(255.0) as u8,
            (140.0 + 60.0 * (fx * 9.0).sin() - edge).clamp(0.0, 255.0) as u8,
        ])
    })
}

fn bench(c: &mut Criterion) {
    let codec = Codec::builder()
        .execution_provider(ExecutionProvider::Cpu)
        .build()
        .expect("the default model opens (is ONNX Runtime installed?)");
    let vae = codec.vae().clone();
    let image = photo_like(768, 512);
    let (w, h) = (768usize, 512usize);
    let mut planar = vec![0f32; 3 * w * h];
    vaerans::vae::rgb_to_planar(image.as_raw(), w, h, w, h, [-1.0, 1.0], &mut planar);
    let latent = vae.encode_nchw(&planar, 1, h, w).unwrap();
    let stream = codec.compress(&image).unwrap();

    let mut g = c.benchmark_group("vae-cpu/768x512");
    g.sample_size(10);
    g.bench_function("vae-encode", |b| {
        b.iter(|| black_box(vae.encode_nchw(&planar, 1, h, w).unwrap()))
    });
    g.bench_function("vae-decode", |b| {
        b.iter(|| black_box(vae.decode_nchw(&latent, 1, h / 8, w / 8).unwrap()))
    });
    g.bench_function("compress", |b| {
        b.iter(|| black_box(codec.compress(&image).unwrap()))
    });
    g.bench_function("decompress", |b| {
        b.iter(|| black_box(codec.decompress(&stream).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

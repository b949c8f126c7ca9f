//! The VAE on ONNX Runtime's WebGPU plugin provider, against its CPU provider: on whatever
//! adapter the machine has (Mesa's lavapipe where there is no GPU, which is why the images are
//! small: WebGPU on lavapipe is many times slower than the CPU provider).
//!
//! The suite installs the plugin (`scripts/ensure-onnxruntime.sh`) and a Vulkan driver that
//! Dawn accepts (`scripts/ensure-vulkan.sh`: Mesa 25 or later); `.cargo/config.toml` points
//! the tests at the plugin and lets ONNX Runtime offer the software adapter. Nothing here is
//! skipped for lack of a device.

mod common;

use common::max_abs;
use image::RgbImage;
use vaerans::metrics::psnr_u8;
use vaerans::prelude::*;
use vaerans::vae::{self, provider::WEBGPU_EP};

/// A photo-like image: gradients, an edge, texture and a little noise.
fn photo(w: u32, h: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 9) as f32 - 4.0;
        let (u, v) = (x as f32 / w as f32, y as f32 / h as f32);
        let disc = ((u - 0.4).powi(2) + (v - 0.5).powi(2)).sqrt() < 0.25;
        let texture = (x as f32 * 0.8).sin() * (y as f32 * 0.6).cos() * 10.0;
        let rgb = [
            50.0 + 150.0 * u + if disc { 40.0 } else { 0.0 },
            40.0 + 160.0 * v + texture,
            200.0 - 120.0 * u * v - texture,
        ];
        image::Rgb(rgb.map(|c| (c + noise).clamp(0.0, 255.0) as u8))
    })
}

fn embedded(ep: ExecutionProvider) -> Vae {
    Vae::open(&ModelSpec::embedded_default(), ep)
        .unwrap_or_else(|e| panic!("the embedded model opens on {ep}: {e}"))
}

#[test]
fn every_node_of_the_embedded_model_runs_on_webgpu() {
    let vae = embedded(ExecutionProvider::WebGpu);
    assert_eq!(vae.provider(), ExecutionProvider::WebGpu);
    let (encoder, decoder) = vae.placement().unwrap();
    for (what, p) in [("encoder", &encoder), ("decoder", &decoder)] {
        assert!(p.total() > 10, "{what}: {p}");
        assert_eq!(p.on(WEBGPU_EP), p.total(), "{what}: {p}");
    }
}

#[test]
fn webgpu_latents_and_pixels_match_the_cpu_provider() {
    let (cpu, gpu) = (
        embedded(ExecutionProvider::Cpu),
        embedded(ExecutionProvider::WebGpu),
    );
    let (w, h, n) = (64usize, 48usize, 2usize);
    let range = cpu.spec().input_range;
    let plane = 3 * h * w;
    let mut x = vec![0f32; n * plane];
    for (i, out) in x.chunks_exact_mut(plane).enumerate() {
        let img = photo(w as u32, h as u32, i as u32 + 1);
        vae::rgb_to_planar(img.as_raw(), w, h, w, h, range, out);
    }
    let z_cpu = cpu.encode_nchw(&x, n, h, w).unwrap();
    let z_gpu = gpu.encode_nchw(&x, n, h, w).unwrap();
    let dz = max_abs(&z_cpu, &z_gpu);
    assert!(dz <= 1e-4, "latents differ by {dz}");

    let f = cpu.downsample();
    let y_cpu = cpu.decode_nchw(&z_cpu, n, h / f, w / f).unwrap();
    let y_gpu = gpu.decode_nchw(&z_cpu, n, h / f, w / f).unwrap();
    for i in 0..n {
        let image = i * plane..(i + 1) * plane;
        let (mut a, mut b) = (vec![0u8; plane], vec![0u8; plane]);
        vae::planar_to_rgb(&y_cpu[image.clone()], w, h, w, h, range, &mut a);
        vae::planar_to_rgb(&y_gpu[image], w, h, w, h, range, &mut b);
        let worst = a.iter().zip(&b).map(|(p, q)| p.abs_diff(*q)).max().unwrap();
        assert!(worst <= 1, "image {i}: pixels differ by {worst}");
    }
}

#[test]
fn streams_from_either_provider_decode_on_either_within_a_twentieth_of_a_db() {
    let image = photo(96, 64, 7);
    let codec = |ep: ExecutionProvider| {
        Codec::builder()
            .vae(std::sync::Arc::new(embedded(ep)))
            .device(Device::Cpu)
            .build()
            .unwrap()
    };
    let (cpu, gpu) = (
        codec(ExecutionProvider::Cpu),
        codec(ExecutionProvider::WebGpu),
    );
    let streams = [cpu.compress(&image).unwrap(), gpu.compress(&image).unwrap()];
    let psnr = |decoder: &Codec, stream: &[u8]| {
        let back = decoder.decompress(stream).unwrap();
        psnr_u8(image.as_raw(), back.as_raw()).unwrap()
    };
    let reference = psnr(&cpu, &streams[0]);
    for (enc, stream) in ["cpu", "webgpu"].iter().zip(&streams) {
        for (dec, decoder) in [("cpu", &cpu), ("webgpu", &gpu)] {
            let p = psnr(decoder, stream);
            assert!(
                (p - reference).abs() <= 0.05,
                "{enc} → {dec}: {p:.3} dB, cpu → cpu {reference:.3} dB"
            );
        }
    }
}

#[test]
fn auto_passes_over_a_possibly_software_webgpu_adapter() {
    // The suite allows software adapters, so `Auto` cannot trust the WebGPU device and must
    // say so rather than run the VAE on lavapipe.
    let vae = embedded(ExecutionProvider::Auto);
    if cfg!(not(feature = "cuda")) {
        assert_eq!(vae.provider(), ExecutionProvider::Cpu);
    }
}

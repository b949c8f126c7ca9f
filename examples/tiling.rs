//! Tiled against untiled VAE on one image: PSNR of the model's own round trip and of the
//! whole codec, each way, and the streams' sizes.
//!
//! ```text
//! cargo run --release --example tiling -- IMAGE [TILE] [OVERLAP] [QUALITY]
//! ```
//!
//! TILE and OVERLAP default to the embedded model's (1024 and 128 pixels); the untiled run
//! sets the tile to 0. The untiled run needs memory for the whole image in one session call.

use vaerans::metrics::Metrics;
use vaerans::vae::ModelSpec;
use vaerans::{Codec, Device, Limits};

fn main() -> vaerans::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args.first().expect("IMAGE");
    let whole = ModelSpec::embedded_default();
    let mut tiled = whole.clone();
    if let Some(t) = args.get(1) {
        tiled.tile = t.parse().expect("TILE in pixels");
    }
    if let Some(o) = args.get(2) {
        tiled.tile_overlap = o.parse().expect("OVERLAP in pixels");
    }
    let quality: u8 = args.get(3).map_or(75, |q| q.parse().expect("QUALITY"));
    let mut untiled = whole;
    untiled.tile = 0;
    let img = vaerans::open_image(path.as_ref(), vaerans::Alpha::Drop)?;
    let (w, h) = img.dimensions();
    println!("{path}: {w}×{h}, quality {quality}");
    for (name, spec) in [("untiled", untiled), ("tiled", tiled)] {
        let label = format!("{name} (tile {}, overlap {})", spec.tile, spec.tile_overlap);
        let codec = Codec::builder()
            .model_spec(spec)
            .device(Device::Cpu)
            .quality(quality)
            // Measuring the untiled call is the point: no budget.
            .limits(Limits::default().with_max_memory(u64::MAX))
            .build()?;
        let psnr = |b: &image::RgbImage| -> vaerans::Result<f64> {
            Ok(Metrics::of_rgb8(img.as_raw(), b.as_raw(), w, h)?.psnr)
        };
        let start = std::time::Instant::now();
        let model = psnr(&codec.vae_round_trip(&img)?)?;
        let stream = codec.compress(&img)?;
        let coded = psnr(&codec.decompress(&stream)?)?;
        println!(
            "{label:32} model alone {model:.4} dB, codec {coded:.4} dB at {} bytes ({:.4} bpp), {:.1} s",
            stream.len(),
            stream.len() as f64 * 8.0 / (f64::from(w) * f64::from(h)),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

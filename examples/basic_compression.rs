//! Compress one image with the default model, decompress it, and report size, bits per pixel
//! and PSNR (against the original, and the VAE's own reconstruction for reference).
//!
//! ```sh
//! cargo run --release --example basic_compression -- [IMAGE] [QUALITY]
//! ```
//! Defaults: `assets/coffee.png`, quality 75. Writes the stream and the decoded PNG to
//! `target/example/`.

use std::path::PathBuf;
use std::time::Instant;

use vaerans::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> vaerans::Result<()> {
    let mut args = std::env::args().skip(1);
    let input = PathBuf::from(args.next().unwrap_or_else(|| "assets/coffee.png".into()));
    let quality: u8 = match args.next() {
        Some(q) => q.parse().map_err(|_| {
            Error::InvalidInput(format!("quality `{q}` is not a number in 1..=100"))
        })?,
        None => vaerans::latent::quantize::DEFAULT_QUALITY,
    };

    let image = image::open(&input)
        .map_err(|e| Error::Image(format!("{}: {e}", input.display())))?
        .to_rgb8();
    let (w, h) = image.dimensions();

    let start = Instant::now();
    let codec = Codec::builder().quality(quality).build()?;
    println!(
        "model {} on {} (opened in {:.2} s)",
        codec.vae().id().name,
        codec.vae().provider(),
        start.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let stream = codec.compress(&image)?;
    let enc_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let decoded = codec.decompress(&stream)?;
    let dec_s = t.elapsed().as_secs_f64();

    let psnr = vaerans::metrics::psnr_u8(image.as_raw(), decoded.as_raw()).unwrap_or(f64::NAN);
    let bpp = stream.len() as f64 * 8.0 / (f64::from(w) * f64::from(h));
    println!(
        "{}: {w}×{h}, {} bytes of PNG",
        input.display(),
        std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0)
    );
    let layers = match codec.residual() {
        Some(r) => format!(
            "the latent at {} and a residual layer at {}",
            codec.latent().quality(),
            r.quality()
        ),
        None => format!("the latent alone at {}", codec.latent().quality()),
    };
    println!(
        "quality {quality} ({layers}): {} bytes, {bpp:.4} bpp, PSNR {psnr:.2} dB",
        stream.len()
    );
    println!("encode {enc_s:.3} s, decode {dec_s:.3} s");

    let out = PathBuf::from("target/example");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let stem = input
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("image");
    let stream_path = out.join(format!("{stem}.vaer"));
    std::fs::write(&stream_path, &stream).map_err(|e| Error::io(&stream_path, e))?;
    let png_path = out.join(format!("{stem}.decoded.png"));
    decoded
        .save(&png_path)
        .map_err(|e| Error::Image(format!("{}: {e}", png_path.display())))?;
    println!("wrote {} and {}", stream_path.display(), png_path.display());
    Ok(())
}

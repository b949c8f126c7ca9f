//! Compress every PNG/JPEG in a folder as one batch, decompress the batch, and print a table.
//! Images of equal padded size share VAE session calls; a bad file fails alone.
//!
//! ```sh
//! cargo run --release --example batch_processing -- [FOLDER] [QUALITY]
//! ```
//! Default folder: `assets/`.

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
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "assets".into()));
    let quality: u8 = args.next().and_then(|q| q.parse().ok()).unwrap_or(75);

    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| {
            matches!(
                p.extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("png" | "jpg" | "jpeg")
            )
        })
        .collect();
    paths.sort();
    let mut names = Vec::new();
    let mut images = Vec::new();
    for p in &paths {
        match image::open(p) {
            Ok(img) => {
                names.push(p.display().to_string());
                images.push(img.to_rgb8());
            }
            Err(e) => eprintln!("skipping {}: {e}", p.display()),
        }
    }

    let codec = Codec::builder().quality(quality).build()?;
    let t = Instant::now();
    let streams = codec.compress_batch(&images);
    let enc_s = t.elapsed().as_secs_f64();
    let ok: Vec<&[u8]> = streams
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .map(Vec::as_slice)
        .collect();
    let t = Instant::now();
    let decoded = codec.decompress_batch(&ok);
    let dec_s = t.elapsed().as_secs_f64();

    println!("{:<40} {:>10} {:>8} {:>8}", "image", "bytes", "bpp", "PSNR");
    let mut decoded = decoded.into_iter();
    for ((name, img), stream) in names.iter().zip(&images).zip(&streams) {
        match stream {
            Ok(s) => {
                let psnr = match decoded.next() {
                    Some(Ok(d)) => {
                        vaerans::metrics::psnr_u8(img.as_raw(), d.as_raw()).unwrap_or(f64::NAN)
                    }
                    _ => f64::NAN,
                };
                let bpp = s.len() as f64 * 8.0 / f64::from(img.width() * img.height());
                println!("{name:<40} {:>10} {bpp:>8.4} {psnr:>8.2}", s.len());
            }
            Err(e) => println!("{name:<40} failed: {e}"),
        }
    }
    println!(
        "{} images: encode {enc_s:.2} s ({:.2} images/s), decode {dec_s:.2} s",
        images.len(),
        images.len() as f64 / enc_s.max(1e-9)
    );
    Ok(())
}

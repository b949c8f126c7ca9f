//! Streams made on the GPU decode on the CPU and the reverse, with the same rate and quality.
//!
//! For every image: compress on both devices, decode each stream on both devices, and compare
//! the rate (stream bytes) and the reconstruction PSNR. Exits non-zero when a stream's rate
//! differs by more than 0.5% or a decoded image's PSNR by more than 0.05 dB.
//!
//! ```sh
//! cargo run --release --example device_parity -- path/to/kodak [quality]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use vaerans::gpu::GpuContext;
use vaerans::metrics::psnr_u8;
use vaerans::prelude::*;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> vaerans::Result<bool> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| Error::InvalidInput("usage: device_parity DIR [quality]".into()))?,
    );
    let quality: u8 = match args.next() {
        Some(q) => q
            .parse()
            .map_err(|_| Error::InvalidInput(format!("quality `{q}` is not 1..=100")))?,
        None => vaerans::latent::quantize::DEFAULT_QUALITY,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
        })
        .collect();
    files.sort();

    let cpu = Codec::builder()
        .quality(quality)
        .device(Device::Cpu)
        .build()?;
    let ctx = GpuContext::new()?;
    println!("GPU: {}", ctx.adapter_description());
    let gpu = Codec::builder()
        .vae(cpu.vae().clone())
        .quality(quality)
        .device(Device::Gpu)
        .gpu_context(ctx)
        .build()?;

    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "image", "cpu B", "gpu B", "Δrate%", "cpu→cpu", "gpu→cpu", "cpu→gpu", "gpu→gpu"
    );
    let (mut worst_rate, mut worst_psnr, mut ok) = (0.0f64, 0.0f64, true);
    for path in &files {
        let img = image::open(path)
            .map_err(|e| Error::Image(format!("{}: {e}", path.display())))?
            .to_rgb8();
        let from_cpu = cpu.compress(&img)?;
        let from_gpu = gpu.compress(&img)?;
        let psnr = |codec: &Codec, stream: &[u8]| -> vaerans::Result<f64> {
            let back = codec.decompress(stream)?;
            psnr_u8(img.as_raw(), back.as_raw())
                .ok_or_else(|| Error::InvalidInput("decoded size differs".into()))
        };
        // "a→b": made on a, decoded on b.
        let cc = psnr(&cpu, &from_cpu)?;
        let gc = psnr(&cpu, &from_gpu)?;
        let cg = psnr(&gpu, &from_cpu)?;
        let gg = psnr(&gpu, &from_gpu)?;
        let rate = (from_gpu.len() as f64 - from_cpu.len() as f64) / from_cpu.len() as f64 * 100.0;
        let spread = [cc, gc, cg, gg];
        let psnr_diff = spread.iter().cloned().fold(f64::MIN, f64::max)
            - spread.iter().cloned().fold(f64::MAX, f64::min);
        worst_rate = worst_rate.max(rate.abs());
        worst_psnr = worst_psnr.max(psnr_diff);
        ok &= rate.abs() <= 0.5 && psnr_diff <= 0.05;
        println!(
            "{:<14} {:>8} {:>8} {:>8.3} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            from_cpu.len(),
            from_gpu.len(),
            rate,
            cc,
            gc,
            cg,
            gg
        );
    }
    println!(
        "{} images at quality {quality}: largest rate difference {worst_rate:.3}%, largest PSNR \
         spread {worst_psnr:.4} dB ({})",
        files.len(),
        if ok {
            "within 0.5% and 0.05 dB"
        } else {
            "OUT OF BOUNDS"
        }
    );
    Ok(ok)
}

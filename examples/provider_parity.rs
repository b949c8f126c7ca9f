//! Streams made with the VAE on one ONNX Runtime execution provider decode with any other, at
//! the same quality.
//!
//! For every image: compress with each provider, decode every stream with every provider, and
//! compare the reconstructions' PSNR. Exits non-zero when any image's PSNR spreads by more than
//! 0.05 dB across the provider pairs.
//!
//! ```sh
//! cargo run --release --example provider_parity -- path/to/kodak [cpu,webgpu[,cuda]] [quality]
//! ```
//! Default providers: `cpu,webgpu`. The latent stages run on the CPU, so only the VAE differs.
//! On a machine whose only Vulkan device is a software one, WebGPU needs
//! `ORT_WEBGPU_EP_ALLOW_SOFTWARE_ADAPTER=1` (and is slow).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

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
    let usage = "usage: provider_parity DIR [PROVIDERS] [QUALITY]";
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| Error::InvalidInput(usage.into()))?,
    );
    let providers: Vec<ExecutionProvider> = args
        .next()
        .unwrap_or_else(|| "cpu,webgpu".into())
        .split(',')
        .map(|p| {
            p.parse()
                .map_err(|e| Error::InvalidInput(format!("provider `{p}`: {e}")))
        })
        .collect::<vaerans::Result<_>>()?;
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
    let images: Vec<image::RgbImage> = files
        .iter()
        .map(|p| {
            image::open(p)
                .map(|i| i.to_rgb8())
                .map_err(|e| Error::Image(format!("{}: {e}", p.display())))
        })
        .collect::<vaerans::Result<_>>()?;

    let codecs: Vec<Codec> = providers
        .iter()
        .map(|&ep| {
            Codec::builder()
                .quality(quality)
                .execution_provider(ep)
                .device(Device::Cpu)
                .max_batch(8)
                .build()
        })
        .collect::<vaerans::Result<_>>()?;
    let names: Vec<String> = providers.iter().map(|p| p.to_string()).collect();

    // streams[a][i]: image i made with provider a.
    let mut streams = Vec::new();
    for (codec, name) in codecs.iter().zip(&names) {
        let t = Instant::now();
        let made = codec
            .compress_batch(&images)
            .into_iter()
            .collect::<vaerans::Result<Vec<_>>>()?;
        eprintln!(
            "compressed {} images on {name} in {:.1} s",
            images.len(),
            t.elapsed().as_secs_f64()
        );
        streams.push(made);
    }
    // psnr[a][b][i]: made on a, decoded on b.
    let mut psnr = vec![vec![Vec::new(); codecs.len()]; codecs.len()];
    for (a, made) in streams.iter().enumerate() {
        for (b, codec) in codecs.iter().enumerate() {
            let t = Instant::now();
            for (img, back) in images.iter().zip(codec.decompress_batch(made)) {
                let back = back?;
                let p = psnr_u8(img.as_raw(), back.as_raw())
                    .ok_or_else(|| Error::InvalidInput("decoded size differs".into()))?;
                psnr[a][b].push(p);
            }
            eprintln!(
                "decoded {}'s streams on {} in {:.1} s",
                names[a],
                names[b],
                t.elapsed().as_secs_f64()
            );
        }
    }

    print!("{:<14}", "image");
    for a in &names {
        for b in &names {
            print!(" {:>15}", format!("{a}→{b}"));
        }
    }
    println!(" {:>9}", "spread dB");
    let (mut worst, mut identical) = (0.0f64, 0usize);
    for (i, path) in files.iter().enumerate() {
        let all: Vec<f64> = psnr.iter().flatten().map(|v| v[i]).collect();
        let spread = all.iter().cloned().fold(f64::MIN, f64::max)
            - all.iter().cloned().fold(f64::MAX, f64::min);
        worst = worst.max(spread);
        identical += usize::from(streams.iter().all(|s| s[i] == streams[0][i]));
        print!(
            "{:<14}",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        for p in &all {
            print!(" {p:>15.4}");
        }
        println!(" {spread:>9.5}");
    }
    let ok = worst <= 0.05;
    println!(
        "{} images at quality {quality} on {}: largest PSNR spread {worst:.5} dB ({}); \
         streams byte-identical across providers: {identical}/{}",
        files.len(),
        names.join(", "),
        if ok {
            "within 0.05 dB"
        } else {
            "OUT OF BOUNDS"
        },
        files.len()
    );
    Ok(ok)
}

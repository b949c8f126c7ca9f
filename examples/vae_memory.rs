//! Measures a model's working memory per pixel of one session call, the figure the memory
//! budget is checked with (`memory_per_pixel` in a model's config, `ModelSpec::memory_per_pixel`).
//!
//! ```text
//! cargo run --release --example vae_memory -- [MODEL] [SIDE]
//! ```
//!
//! MODEL is a configured name or an `.onnx` path (default: the embedded model); SIDE the
//! square image side of the call (default 1024; the default tile). Each graph is measured in
//! a process of its own: the peak resident memory (VmHWM) of one call, less what the process
//! held after opening the session and running a small call, over the call's image pixels.
//! Linux only.

use std::process::Command;

use vaerans::vae::{Config, ExecutionProvider, Vae};

fn kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .expect("a Linux /proc");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a size in kB")
}

/// One graph's bytes per pixel, measured in this process.
fn measure(model: Option<&str>, side: usize, decoder: bool) -> vaerans::Result<u64> {
    let spec = Config::load()?.resolve(model)?;
    let vae = Vae::open(&spec, ExecutionProvider::Cpu)?;
    let (f, c) = (vae.downsample(), vae.latent_channels());
    let run = |s: usize| -> vaerans::Result<()> {
        if decoder {
            let z = vec![0.1f32; c * (s / f) * (s / f)];
            vae.decode_nchw(&z, 1, s / f, s / f).map(drop)
        } else {
            let x = vec![0.1f32; 3 * s * s];
            vae.encode_nchw(&x, 1, s, s).map(drop)
        }
    };
    // Sessions open on their first call: a small one, so the baseline includes them.
    run(8 * f)?;
    let base = kib("VmRSS:");
    eprintln!("resident after opening the session: {} MiB", base / 1024);
    run(side)?;
    let peak = kib("VmHWM:");
    Ok((peak.saturating_sub(base) * 1024).div_ceil((side * side) as u64))
}

fn main() -> vaerans::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Ok(graph) = std::env::var("VAE_MEMORY_GRAPH") {
        let side: usize = args[1].parse().expect("SIDE");
        let model = (args[0] != "-").then_some(args[0].as_str());
        println!("{}", measure(model, side, graph == "decoder")?);
        return Ok(());
    }
    let model = args.first().cloned().unwrap_or_else(|| "-".into());
    let side = args.get(1).cloned().unwrap_or_else(|| "1024".into());
    let exe = std::env::current_exe().expect("the example's path");
    let mut out = Vec::new();
    for graph in ["encoder", "decoder"] {
        let run = Command::new(&exe)
            .args([&model, &side])
            .env("VAE_MEMORY_GRAPH", graph)
            .output()
            .expect("the example runs itself");
        if !run.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&run.stderr));
            std::process::exit(1);
        }
        eprint!("{graph}: {}", String::from_utf8_lossy(&run.stderr));
        let bytes = String::from_utf8_lossy(&run.stdout).trim().to_string();
        println!("{graph}: {bytes} bytes per pixel at {side}×{side}");
        out.push(bytes);
    }
    println!("memory_per_pixel = [{}, {}]", out[0], out[1]);
    Ok(())
}

//! The `vaerans` command-line tool: compress images to vaerans streams and back, inspect
//! streams, list models, evaluate and benchmark. One module per subcommand; `io` and `cli`
//! are what they share.

mod bench;
mod cli;
mod compress;
mod decompress;
mod eval;
mod info;
mod io;
mod latents;
mod models;
mod trace;

use std::process::ExitCode;

use clap::Parser;
use vaerans::{Error, Remedy, Result};

use cli::{Cli, Command};

/// The flag that avoids an error, for the message.
fn hint(e: &Error) -> Option<&'static str> {
    match e.remedy()? {
        Remedy::CpuExecutionProvider => Some("--ep cpu"),
        Remedy::CpuDevice => Some("--device cpu"),
        Remedy::StreamModel => Some("--model NAME"),
        Remedy::AlphaPolicy => Some("--alpha drop or --alpha over=RRGGBB"),
        Remedy::MemoryBudget => Some("--max-memory MIB"),
        _ => None,
    }
}

/// An error's message with the flag that avoids it, if there is one.
pub(crate) fn describe(e: &Error) -> String {
    match hint(e) {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

/// Where the CLI finds ONNX Runtime and its WebGPU plugin when the environment does not say:
/// the project-local install that `scripts/ensure-onnxruntime.sh` makes (`target/onnxruntime`
/// in the working directory), then the folders the Python packages are installed in. Python is
/// asked only when the local install lacks one of the two packages.
fn package_folders() -> Vec<std::path::PathBuf> {
    let local = std::path::PathBuf::from("target/onnxruntime");
    let mut dirs = vec![local.clone()];
    if ["onnxruntime", "onnxruntime_ep_webgpu"]
        .iter()
        .all(|package| local.join(package).is_dir())
    {
        return dirs;
    }
    for python in ["python3", "python"] {
        let out = std::process::Command::new(python)
            .args([
                "-c",
                "import importlib.util as u, os\n\
                 for m in ('onnxruntime', 'onnxruntime_ep_webgpu'):\n\
                 \x20   s = u.find_spec(m)\n\
                 \x20   s and print(os.path.dirname(os.path.dirname(s.origin)))",
            ])
            .stderr(std::process::Stdio::null())
            .output();
        if let Ok(out) = out {
            let listed = String::from_utf8_lossy(&out.stdout).into_owned();
            dirs.extend(
                listed
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(Into::into),
            );
            if out.status.success() {
                break;
            }
        }
    }
    dirs
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    vaerans::vae::runtime::set_fallback_search(
        "target/onnxruntime in the working directory, and the installed Python packages",
        package_folders,
    );
    let level = match cli.verbose {
        0 => "vaerans=info",
        _ => "vaerans=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    io::clean_up_on_signal();
    match run(cli.command) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} file(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs a command; returns how many files failed.
fn run(command: Command) -> Result<usize> {
    match command {
        Command::Compress {
            inputs,
            output,
            quality,
            target_bpp,
            target_size,
            model,
        } => {
            let target = match (target_bpp, target_size) {
                (Some(b), _) => Some(vaerans::RateTarget::Bpp(b)),
                (None, Some(n)) => Some(vaerans::RateTarget::Bytes(n)),
                (None, None) => None,
            };
            compress::compress(&inputs, &output, quality, target, &model)
        }
        Command::Decompress {
            inputs,
            output,
            latent: true,
            ..
        } => latents::decode(&inputs, &output, None),
        Command::Decompress {
            inputs,
            output,
            model,
            ..
        } => decompress::decompress(&inputs, &output, &model),
        Command::Eval {
            inputs,
            quality,
            baselines,
            no_baselines,
            out,
            model,
        } => {
            let baselines = match (no_baselines, baselines.is_empty()) {
                (true, _) => Vec::new(),
                (false, true) => eval::baselines::Baseline::defaults(),
                (false, false) => baselines,
            };
            eval::eval(&inputs, &quality, &baselines, Some(&out), &model)
        }
        Command::Info { stream, json } => info::info(&stream, json),
        Command::Models {
            calibrate: Some(model),
            images,
            count,
            out,
            provider,
            input_range,
            ..
        } => models::calibrate(&model, &images, count, out, input_range, &provider).map(|()| 0),
        Command::Models {
            json,
            placement,
            provider,
            ..
        } => models::models(json, placement, &provider),
        Command::Bench(args) => bench::run(args),
        Command::Latents { command } => latents::run(command),
    }
}

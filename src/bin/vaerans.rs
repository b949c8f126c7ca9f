//! The `vaerans` command-line tool: compress images to vaerans streams and back, inspect
//! streams, list models.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[path = "vaerans/baselines.rs"]
mod baselines;
#[path = "vaerans/bench.rs"]
mod bench;
#[path = "vaerans/report.rs"]
mod report;

use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use vaerans::bitstream::{self, Limits};
use vaerans::codec::{Codec, RawImage};
use vaerans::metrics::Metrics;
use vaerans::vae::{Config, ExecutionProvider, Vae};
use vaerans::{Device, Error, Result};

/// Image compression through a learned autoencoder's latent space.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// More log output (-v: debug). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compress images (PNG, JPEG) into .vaer streams.
    Compress {
        /// Image files or directories of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file (one input file) or directory (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        /// Quality, 1 (smallest) to 100 (best).
        #[arg(short, long, default_value_t = vaerans::quantize::DEFAULT_QUALITY,
              value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: u8,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Decompress .vaer streams into PNG images.
    Decompress {
        /// Stream files or directories of .vaer files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file (one input file) or directory (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print every header field of a stream.
    Info {
        /// The stream.
        stream: PathBuf,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Measure quality on a set of images: the VAE alone (no quantisation) and the full codec
    /// at each quality: bytes, bits per pixel, PSNR, seconds.
    Eval {
        /// Image files or directories of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Qualities to measure, comma-separated.
        #[arg(short, long, value_delimiter = ',',
              default_values_t = [5u8, 10, 20, 40, 60, 80, 95])]
        quality: Vec<u8>,
        /// Classical codecs to compare against, comma-separated, each swept over its own
        /// quality range [default: jpeg,webp, and avif in builds with the `avif` feature].
        #[arg(long, value_delimiter = ',', conflicts_with = "no_baselines")]
        baselines: Vec<baselines::Baseline>,
        /// Measure vaerans alone.
        #[arg(long)]
        no_baselines: bool,
        /// Where results.json, results.csv (every image and setting, the mean curves, the
        /// BD-rates, the machine) and report.html go; created if missing.
        #[arg(long, default_value = "vaerans-eval")]
        out: PathBuf,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Throughput, images/s both ways with a per-stage breakdown: the whole codec on images
    /// (default), or the latent pipeline alone on synthetic latents (`--latent`).
    Bench {
        /// Images to run the whole codec on (files or directories), repeated to fill each
        /// batch. Default: synthetic photo-like images of `--size`.
        inputs: Vec<PathBuf>,
        /// Size of the synthetic images, WxH.
        #[arg(long, default_value = "768x512", value_parser = parse_size)]
        size: (u32, u32),
        /// Benchmark only the latent pipeline (Hadamard, wavelet, quantisation, rANS, both
        /// ways) on synthetic latents of this shape, CxHxW; no model is loaded.
        #[arg(long, value_parser = parse_shape, conflicts_with = "inputs")]
        latent: Option<[usize; 3]>,
        /// Where the latent stages run: auto, gpu or cpu.
        #[arg(long, default_value = "auto")]
        device: Device,
        /// Model: a configured name or an .onnx path (default: the config's default, else the
        /// embedded model).
        #[arg(short, long)]
        model: Option<String>,
        /// ONNX Runtime execution provider for the VAE: auto, cpu or cuda.
        #[arg(long, default_value = "auto")]
        ep: ExecutionProvider,
        /// Batch sizes, comma-separated [default: 1,8 for images, 1,8,64 for latents].
        #[arg(long, value_delimiter = ',')]
        batch: Vec<usize>,
        /// Timed iterations per batch size, after one warm-up [default: 3 for images, 10 for
        /// latents].
        #[arg(long)]
        iters: Option<usize>,
        /// Quality, 1 to 100.
        #[arg(short, long, default_value_t = vaerans::quantize::DEFAULT_QUALITY,
              value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: u8,
        /// One JSON line per batch size.
        #[arg(long)]
        json: bool,
    },
    /// List the configured models: whether their files exist and load, and their latent shape.
    Models {
        /// One JSON line per model.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "cpu")]
        /// Execution provider used to load them.
        ep: ExecutionProvider,
    },
}

#[derive(Args)]
struct ModelArgs {
    /// Model: a configured name or an .onnx path (default: the config's default, else the
    /// embedded model; decompress defaults to the model the stream names).
    #[arg(short, long)]
    model: Option<String>,
    /// ONNX Runtime execution provider: auto, cpu or cuda.
    #[arg(long, default_value = "auto")]
    ep: ExecutionProvider,
    /// Images per VAE session call.
    #[arg(long, default_value_t = vaerans::vae::DEFAULT_MAX_BATCH)]
    batch: usize,
    /// Where Hadamard, wavelet and quantisation run: auto (a hardware GPU if present), gpu or
    /// cpu. The choice is logged.
    #[arg(long, default_value = "auto")]
    device: Device,
    /// Print a per-system time table (system, device, runs, entities, ms) on stderr at the
    /// end. GPU stages are then waited for one by one, so each is timed on its own.
    #[arg(long)]
    trace: bool,
    /// One JSON line per file on stdout (input, output, bytes, bpp, seconds; seconds are the
    /// file's share of its batch).
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    match run(cli.command) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("error: {failed} file(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
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
            model,
        } => compress(&inputs, &output, quality, &model),
        Command::Decompress {
            inputs,
            output,
            model,
        } => decompress(&inputs, &output, &model),
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
                (false, true) => baselines::Baseline::defaults(),
                (false, false) => baselines,
            };
            eval(&inputs, &quality, &baselines, Some(&out), &model)
        }
        Command::Info { stream, json } => info(&stream, json).map(|()| 0),
        Command::Models { json, ep } => models(json, ep),
        Command::Bench {
            inputs,
            size,
            latent,
            device,
            model,
            ep,
            batch,
            iters,
            quality,
            json,
        } => match latent {
            Some(shape) => bench::run_latents(
                device,
                shape,
                &or_default(batch, &[1, 8, 64]),
                iters.unwrap_or(10),
                quality,
                json,
            ),
            None => {
                let args = ModelArgs {
                    model,
                    ep,
                    batch: vaerans::vae::DEFAULT_MAX_BATCH,
                    device,
                    trace: false,
                    json,
                };
                let codec = codec_builder(&args, Config::load()?)
                    .quality(quality)
                    .build()?;
                let (images, source) = if inputs.is_empty() {
                    let (w, h) = size;
                    let images = (0..4)
                        .map(|i| bench::synthetic_image(w, h, i + 1))
                        .collect();
                    (images, format!("synthetic {w}×{h} images"))
                } else {
                    let files = image_files(&inputs)?;
                    let images = files
                        .iter()
                        .map(|p| {
                            image::open(p)
                                .map(|i| i.to_rgb8())
                                .map_err(|e| Error::Image(format!("{}: {e}", p.display())))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let source = format!("{} image(s) from {}", files.len(), inputs[0].display());
                    (images, source)
                };
                bench::run_images(
                    &codec,
                    &images,
                    &source,
                    &or_default(batch, &[1, 8]),
                    iters.unwrap_or(3),
                    json,
                )
            }
        },
    }
}

/// The distinct names of `names`, in the order they first appear.
fn first_seen<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// Trace rows of the same system and device summed into one, in first-seen order.
fn merge_trace(rows: Vec<vaerans::TraceRow>) -> Vec<vaerans::TraceRow> {
    let mut merged: Vec<vaerans::TraceRow> = Vec::new();
    for r in rows {
        match merged
            .iter_mut()
            .find(|m| m.system == r.system && m.device == r.device)
        {
            Some(m) => {
                m.runs += r.runs;
                m.entities += r.entities;
                m.ms += r.ms;
            }
            None => merged.push(r),
        }
    }
    merged
}

/// Prints per-system times on stderr, rows of the same system and device merged.
fn print_trace(rows: Vec<vaerans::TraceRow>) {
    let merged = merge_trace(rows);
    eprintln!(
        "{:<12} {:>6} {:>6} {:>9} {:>11} {:>11}",
        "system", "device", "runs", "entities", "total ms", "ms/entity"
    );
    for r in &merged {
        eprintln!(
            "{:<12} {:>6} {:>6} {:>9} {:>11.3} {:>11.3}",
            r.system,
            r.device,
            r.runs,
            r.entities,
            r.ms,
            r.ms / r.entities.max(1) as f64
        );
    }
}

/// `values`, or `default` when none were given.
fn or_default(values: Vec<usize>, default: &[usize]) -> Vec<usize> {
    if values.is_empty() {
        default.to_vec()
    } else {
        values
    }
}

/// Parses `N` positive integers joined by `x` (also `×`, `X`); `example` goes in the error.
fn parse_dims<const N: usize>(s: &str, example: &str) -> std::result::Result<[usize; N], String> {
    let parts: Vec<&str> = s.split(['x', '×', 'X']).collect();
    if parts.len() != N {
        return Err(format!("`{s}` is not {example}"));
    }
    let mut out = [0; N];
    for (o, v) in out.iter_mut().zip(parts) {
        *o = v
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{v}` is not a positive integer"))?;
    }
    Ok(out)
}

/// Parses `WxH` (also `W×H`).
fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let [w, h] = parse_dims::<2>(s, "WxH, e.g. 768x512")?;
    let side = |v: usize| u32::try_from(v).map_err(|_| format!("`{v}` is not a positive integer"));
    Ok((side(w)?, side(h)?))
}

/// Parses `CxHxW` (also `C×H×W`).
fn parse_shape(s: &str) -> std::result::Result<[usize; 3], String> {
    parse_dims::<3>(s, "CxHxW, e.g. 4x64x64")
}

const IMAGE_EXTS: &[&str] = &["png", "jpg", "jpeg"];
const STREAM_EXTS: &[&str] = &["vaer"];

/// The files directly in `dir` whose extension is one of `exts` (any case), sorted.
fn list_dir(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|d| d.ok().map(|d| d.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// A codec builder from the shared model options, resolving names in `config`, with
/// `--model` applied.
fn codec_builder(args: &ModelArgs, config: Config) -> vaerans::codec::CodecBuilder {
    let builder = Codec::builder()
        .execution_provider(args.ep)
        .device(args.device)
        .max_batch(args.batch)
        .config(config);
    match &args.model {
        Some(m) => builder.model(m.clone()),
        None => builder,
    }
}

/// Reports one file's outcome (`Ok((stream bytes, pixels))`) and advances the bar.
fn finish_file(
    bar: &ProgressBar,
    json: bool,
    (input, output): (&Path, &Path),
    result: Result<(usize, f64)>,
    seconds: f64,
    failed: &mut usize,
) {
    match result {
        Ok((bytes, pixels)) => report(
            bar,
            json,
            &FileReport {
                input,
                output,
                bytes,
                bpp: bytes as f64 * 8.0 / pixels,
                seconds,
            },
        ),
        Err(e) => {
            *failed += 1;
            fail(bar, input, &e);
        }
    }
    bar.inc(1);
}

/// Expands files and directories (non-recursive, sorted) into `(input, output)` pairs.
fn plan(
    inputs: &[PathBuf],
    output: &Path,
    exts: &[&str],
    out_ext: &str,
) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    let mut any_dir = false;
    for input in inputs {
        if input.is_dir() {
            any_dir = true;
            let found = list_dir(input, exts)?;
            if found.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "{} holds no {} files",
                    input.display(),
                    exts.join("/")
                )));
            }
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::InvalidInput(format!(
                "{} does not exist",
                input.display()
            )));
        }
    }
    let to_dir = any_dir
        || files.len() > 1
        || output.is_dir()
        || output.as_os_str().to_string_lossy().ends_with('/');
    if !to_dir {
        return Ok(vec![(files.remove(0), output.to_path_buf())]);
    }
    std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
    let mut seen = HashSet::new();
    let mut pairs = Vec::with_capacity(files.len());
    for f in files {
        let stem = f.file_stem().unwrap_or(f.as_os_str());
        let out = output.join(stem).with_extension(out_ext);
        if !seen.insert(out.clone()) {
            return Err(Error::InvalidInput(format!(
                "two inputs would both write {}; rename one",
                out.display()
            )));
        }
        pairs.push((f, out));
    }
    Ok(pairs)
}

/// Writes `bytes` to `path` through a temporary file in the same folder, so a failure never
/// leaves a half-written output.
fn write_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result =
        write(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn progress(n: usize, json: bool) -> ProgressBar {
    if n <= 1 || json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(n as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

#[derive(Serialize)]
struct FileReport<'a> {
    input: &'a Path,
    output: &'a Path,
    bytes: usize,
    bpp: f64,
    seconds: f64,
}

fn report(bar: &ProgressBar, json: bool, r: &FileReport<'_>) {
    if json {
        let line = serde_json::to_string(r).unwrap_or_default();
        bar.suspend(|| println!("{line}"));
    } else if bar.is_hidden() {
        println!(
            "{} -> {}: {} bytes, {:.4} bpp, {:.3} s",
            r.input.display(),
            r.output.display(),
            r.bytes,
            r.bpp,
            r.seconds
        );
    }
}

fn fail(bar: &ProgressBar, input: &Path, e: &Error) {
    bar.suspend(|| eprintln!("error: {}: {e}", input.display()));
}

fn compress(inputs: &[PathBuf], output: &Path, quality: u8, args: &ModelArgs) -> Result<usize> {
    let pairs = plan(inputs, output, IMAGE_EXTS, "vaer")?;
    let codec = codec_builder(args, Config::load()?)
        .quality(quality)
        .build()?;
    codec.set_profiling(args.trace);
    let bar = progress(pairs.len(), args.json);
    let mut failed = 0;
    for chunk in pairs.chunks(args.batch.max(1)) {
        let start = Instant::now();
        let loaded: Vec<Result<image::RgbImage>> = chunk
            .par_iter()
            .map(|(i, _)| {
                image::open(i)
                    .map(|img| img.to_rgb8())
                    .map_err(|e| Error::Image(e.to_string()))
            })
            .collect();
        let raws: Vec<RawImage<'_>> = loaded
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(RawImage::from)
            .collect();
        let mut streams = codec.compress_raw(&raws).into_iter();
        let share = start.elapsed().as_secs_f64() / chunk.len() as f64;
        for ((input, out), img) in chunk.iter().zip(&loaded) {
            let result = img
                .as_ref()
                .map_err(|e| Error::Image(e.to_string()))
                .and_then(|img| {
                    let bytes = streams
                        .next()
                        .unwrap_or_else(|| Err(Error::InvalidInput("lost result".into())))?;
                    write_atomic(out, |tmp| {
                        std::fs::write(tmp, &bytes).map_err(|e| Error::io(tmp, e))
                    })?;
                    Ok((bytes.len(), img.width() as f64 * img.height() as f64))
                });
            finish_file(&bar, args.json, (input, out), result, share, &mut failed);
        }
    }
    bar.finish_and_clear();
    if args.trace {
        print_trace(codec.take_trace());
    }
    Ok(failed)
}

fn decompress(inputs: &[PathBuf], output: &Path, args: &ModelArgs) -> Result<usize> {
    let pairs = plan(inputs, output, STREAM_EXTS, "png")?;
    let config = Config::load()?;
    let limits = Limits::default();
    // One codec per model the streams name (or the one --model names).
    let mut codecs: BTreeMap<String, Codec> = BTreeMap::new();
    let bar = progress(pairs.len(), args.json);
    let mut failed = 0;
    for chunk in pairs.chunks(args.batch.max(1)) {
        let start = Instant::now();
        let read: Vec<Result<(Vec<u8>, String)>> = chunk
            .iter()
            .map(|(i, _)| {
                let bytes = std::fs::read(i).map_err(|e| Error::io(i, e))?;
                let name = match &args.model {
                    Some(m) => m.clone(),
                    None => bitstream::read(&bytes, &limits)?.header.model.name,
                };
                Ok((bytes, name))
            })
            .collect();
        let mut by_model: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut results: Vec<Option<Result<image::RgbImage>>> =
            (0..chunk.len()).map(|_| None).collect();
        for (i, r) in read.iter().enumerate() {
            match r {
                Ok((_, name)) => by_model.entry(name.clone()).or_default().push(i),
                Err(e) => results[i] = Some(Err(Error::InvalidInput(e.to_string()))),
            }
        }
        let mut opening = std::time::Duration::ZERO;
        for (name, idx) in by_model {
            if !codecs.contains_key(&name) {
                let opened = Instant::now();
                // `name` is `--model` when given, else the model the stream names.
                let built = codec_builder(args, config.clone())
                    .model(name.clone())
                    .build();
                opening += opened.elapsed();
                match built {
                    Ok(c) => {
                        codecs.insert(name.clone(), c);
                    }
                    Err(e) => {
                        let msg = format!("cannot open the stream's model `{name}`: {e}");
                        for i in idx {
                            results[i] = Some(Err(Error::Model(msg.clone())));
                        }
                        continue;
                    }
                }
            }
            let codec = &codecs[&name];
            codec.set_profiling(args.trace);
            let streams: Vec<&[u8]> = idx
                .iter()
                .map(|&i| read[i].as_ref().map(|(b, _)| b.as_slice()).unwrap_or(&[]))
                .collect();
            for (i, r) in idx.into_iter().zip(codec.decompress_batch(&streams)) {
                results[i] = Some(r);
            }
        }
        // Opening a model is a one-off cost, not the files'.
        let share = start.elapsed().saturating_sub(opening).as_secs_f64() / chunk.len() as f64;
        for (((input, out), r), bytes) in chunk.iter().zip(results).zip(&read) {
            let r = r.unwrap_or_else(|| Err(Error::InvalidInput("not decoded".into())));
            let result = r.and_then(|img| {
                write_atomic(out, |tmp| {
                    img.save_with_format(tmp, image::ImageFormat::Png)
                        .map_err(|e| Error::Image(format!("{}: {e}", tmp.display())))
                })?;
                Ok(img.width() as f64 * img.height() as f64)
            });
            let n = bytes.as_ref().map_or(0, |(b, _)| b.len());
            let result = result.map(|pixels| (n, pixels));
            finish_file(&bar, args.json, (input, out), result, share, &mut failed);
        }
    }
    bar.finish_and_clear();
    if args.trace {
        print_trace(codecs.values().flat_map(Codec::take_trace).collect());
    }
    Ok(failed)
}

#[derive(Serialize, Clone)]
struct EvalRow {
    /// `vaerans` or a baseline's name.
    codec: String,
    image: String,
    width: u32,
    height: u32,
    /// `vae` (the model alone, no quantisation) or `q<quality>`.
    setting: String,
    bytes: Option<usize>,
    bpp: Option<f64>,
    psnr: f64,
    /// SSIM (11×11 Gaussian window, σ 1.5), RGB mean.
    ssim: Option<f64>,
    /// MS-SSIM (five scales), RGB mean; absent below 161 pixels a side.
    ms_ssim: Option<f64>,
    encode_seconds: f64,
    decode_seconds: f64,
}

fn image_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            files.extend(list_dir(input, IMAGE_EXTS)?);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(Error::InvalidInput(format!(
                "{} does not exist",
                input.display()
            )));
        }
    }
    if files.is_empty() {
        return Err(Error::InvalidInput("no images to evaluate".into()));
    }
    Ok(files)
}

fn eval(
    inputs: &[PathBuf],
    qualities: &[u8],
    baselines: &[baselines::Baseline],
    out_dir: Option<&Path>,
    args: &ModelArgs,
) -> Result<usize> {
    if let Some(q) = qualities.iter().find(|q| !(1..=100).contains(*q)) {
        return Err(Error::InvalidInput(format!(
            "quality {q} is outside 1..=100"
        )));
    }
    for b in baselines {
        b.check_available()?;
    }
    let files = image_files(inputs)?;
    let first = codec_builder(args, Config::load()?).build()?;
    let vae = first.vae().clone();
    let codecs: Vec<Codec> = qualities
        .iter()
        .map(|&q| {
            let codec = Codec::from_vae(vae.clone(), q);
            #[cfg(feature = "gpu")]
            if let Some(ctx) = first.gpu_context() {
                return codec.with_gpu(ctx.clone());
            }
            Ok(codec)
        })
        .collect::<Result<_>>()?;
    for c in &codecs {
        c.set_profiling(args.trace);
    }
    let bar = progress(files.len(), args.json);
    let mut rows: Vec<EvalRow> = Vec::new();
    let mut failed = 0;
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(name.clone());
        let result = (|| -> Result<Vec<EvalRow>> {
            let img = image::open(path)
                .map_err(|e| Error::Image(format!("{}: {e}", path.display())))?
                .to_rgb8();
            let (w, h) = img.dimensions();
            let measure = |b: &image::RgbImage| Metrics::of_rgb8(img.as_raw(), b.as_raw(), w, h);
            let row = |codec: &str, setting, bytes: Option<usize>, m: Metrics, enc, dec| EvalRow {
                codec: codec.into(),
                image: name.clone(),
                width: w,
                height: h,
                setting,
                bytes,
                bpp: bytes.map(|b| b as f64 * 8.0 / (f64::from(w) * f64::from(h))),
                psnr: m.psnr,
                ssim: m.ssim,
                ms_ssim: m.ms_ssim,
                encode_seconds: enc,
                decode_seconds: dec,
            };
            let mut out = Vec::new();
            let t = Instant::now();
            let recon = first.vae_round_trip(&img)?;
            let vae_seconds = t.elapsed().as_secs_f64();
            let m = measure(&recon)?;
            out.push(row("vaerans", "vae".into(), None, m, vae_seconds, 0.0));
            for codec in &codecs {
                let t = Instant::now();
                let stream = codec.compress(&img)?;
                let enc = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let back = codec.decompress(&stream)?;
                let dec = t.elapsed().as_secs_f64();
                let m = measure(&back)?;
                let setting = format!("q{}", codec.quality());
                out.push(row("vaerans", setting, Some(stream.len()), m, enc, dec));
            }
            for b in baselines {
                for &q in b.qualities() {
                    let rt = b.round_trip(&img, q)?;
                    let m = measure(&rt.decoded)?;
                    out.push(row(
                        b.name(),
                        format!("q{q}"),
                        Some(rt.bytes),
                        m,
                        rt.encode_seconds,
                        rt.decode_seconds,
                    ));
                }
            }
            Ok(out)
        })();
        match result {
            Ok(r) => {
                if args.json {
                    for row in &r {
                        let line = serde_json::to_string(row).unwrap_or_default();
                        bar.suspend(|| println!("{line}"));
                    }
                }
                rows.extend(r);
            }
            Err(e) => {
                failed += 1;
                fail(&bar, path, &e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let curves = mean_curves(&rows);
    let bd: Vec<BdRate> = baselines
        .iter()
        .map(|b| BdRate {
            baseline: b.name().to_string(),
            psnr: bd_rate_vs(&curves, b.name(), |c| Some(c.psnr)),
            ms_ssim: bd_rate_vs(&curves, b.name(), |c| c.ms_ssim.map(ms_ssim_db)),
        })
        .collect();
    let matched = matched_rates(&curves);
    if !args.json {
        let ours: Vec<EvalRow> = rows
            .iter()
            .filter(|r| r.codec == "vaerans")
            .cloned()
            .collect();
        print_eval_table(&ours, qualities, &vae.id().name);
        print_curves(&curves, &bd);
        print_matched(&matched);
    }
    if let Some(dir) = out_dir {
        #[cfg(feature = "gpu")]
        let device = first.gpu_context().map_or("cpu".to_string(), |c| {
            format!("gpu: {}", c.adapter_description())
        });
        #[cfg(not(feature = "gpu"))]
        let device = "cpu".to_string();
        let report = EvalReport {
            rows: &rows,
            curves: &curves,
            bd: &bd,
            matched: &matched,
            model: &vae.id().name,
            device: &device,
            baselines: &baselines
                .iter()
                .map(|b| (b.name().to_string(), b.describe()))
                .collect::<Vec<_>>(),
        };
        write_eval_report(dir, &report)?;
        if !args.json {
            println!(
                "wrote results.json, results.csv and report.html to {}",
                dir.display()
            );
        }
    }
    if args.trace {
        print_trace(codecs.iter().flat_map(Codec::take_trace).collect());
    }
    Ok(failed)
}

/// One codec setting's means over the images.
#[derive(Serialize, Clone)]
struct Curve {
    codec: String,
    setting: String,
    images: usize,
    bpp: f64,
    psnr: f64,
    ms_ssim: Option<f64>,
    encode_seconds: f64,
    decode_seconds: f64,
}

/// Means per (codec, setting), in first-seen order; the model-only `vae` rows are left out.
fn mean_curves(rows: &[EvalRow]) -> Vec<Curve> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.codec.clone(), r.setting.clone());
        if r.bpp.is_some() && !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(codec, setting)| {
            let sel: Vec<&EvalRow> = rows
                .iter()
                .filter(|r| r.codec == codec && r.setting == setting)
                .collect();
            let n = sel.len() as f64;
            let mean = |f: &dyn Fn(&EvalRow) -> f64| sel.iter().map(|r| f(r)).sum::<f64>() / n;
            let ms: Vec<f64> = sel.iter().filter_map(|r| r.ms_ssim).collect();
            Curve {
                images: sel.len(),
                bpp: mean(&|r| r.bpp.unwrap_or(0.0)),
                psnr: mean(&|r| r.psnr),
                ms_ssim: (ms.len() == sel.len()).then(|| ms.iter().sum::<f64>() / n),
                encode_seconds: mean(&|r| r.encode_seconds),
                decode_seconds: mean(&|r| r.decode_seconds),
                codec,
                setting,
            }
        })
        .collect()
}

/// BD-rate of vaerans against one baseline, on the mean curves.
struct BdRate {
    baseline: String,
    /// On PSNR.
    psnr: Result<f64>,
    /// On MS-SSIM in dB ([`ms_ssim_db`]).
    ms_ssim: Result<f64>,
}

/// MS-SSIM on a dB scale, −10·log10(1 − MS-SSIM), so BD-rate's cubic fit sees a quality axis
/// that does not saturate at 1.
fn ms_ssim_db(m: f64) -> f64 {
    -10.0 * (1.0 - m).max(1e-12).log10()
}

/// BD-rate of vaerans against `baseline` on the quality `metric`, on the mean curves.
fn bd_rate_vs(
    curves: &[Curve],
    baseline: &str,
    metric: impl Fn(&Curve) -> Option<f64>,
) -> Result<f64> {
    let points = |codec: &str| -> Result<Vec<(f64, f64)>> {
        curves
            .iter()
            .filter(|c| c.codec == codec)
            .map(|c| {
                metric(c).map(|q| (c.bpp, q)).ok_or_else(|| {
                    Error::InvalidInput(format!("{codec} {} lacks the metric", c.setting))
                })
            })
            .collect()
    };
    vaerans::metrics::bd_rate(&points(baseline)?, &points("vaerans")?)
}

/// One vaerans setting beside the baselines at the same rate.
#[derive(Serialize, Clone)]
struct Matched {
    setting: String,
    bpp: f64,
    psnr: f64,
    ms_ssim: Option<f64>,
    baselines: Vec<MatchedBaseline>,
}

/// A baseline's mean curve read at a vaerans rate.
#[derive(Serialize, Clone)]
struct MatchedBaseline {
    codec: String,
    psnr: Option<f64>,
    ms_ssim: Option<f64>,
}

/// `points` (rate, value) read at `bpp`, linear in log rate between the two neighbouring
/// points; `None` outside the points' range.
fn interpolate(points: &[(f64, f64)], bpp: f64) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(r, v)| *r > 0.0 && v.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.windows(2).find_map(|w| {
        let ((r0, v0), (r1, v1)) = (w[0], w[1]);
        (r0..=r1).contains(&bpp).then(|| {
            if r1 == r0 {
                v0
            } else {
                let t = (bpp.ln() - r0.ln()) / (r1.ln() - r0.ln());
                v0 + t * (v1 - v0)
            }
        })
    })
}

/// Every vaerans setting with each baseline's PSNR and MS-SSIM at the same mean rate.
fn matched_rates(curves: &[Curve]) -> Vec<Matched> {
    let baselines = first_seen(
        curves
            .iter()
            .map(|c| c.codec.as_str())
            .filter(|&c| c != "vaerans"),
    );
    if baselines.is_empty() {
        return Vec::new();
    }
    let points = |codec: &str, metric: &dyn Fn(&Curve) -> Option<f64>| -> Vec<(f64, f64)> {
        curves
            .iter()
            .filter(|c| c.codec == codec)
            .filter_map(|c| metric(c).map(|v| (c.bpp, v)))
            .collect()
    };
    curves
        .iter()
        .filter(|c| c.codec == "vaerans")
        .map(|c| Matched {
            setting: c.setting.clone(),
            bpp: c.bpp,
            psnr: c.psnr,
            ms_ssim: c.ms_ssim,
            baselines: baselines
                .iter()
                .map(|&b| MatchedBaseline {
                    codec: b.to_string(),
                    psnr: interpolate(&points(b, &|c| Some(c.psnr)), c.bpp),
                    ms_ssim: interpolate(&points(b, &|c| c.ms_ssim), c.bpp),
                })
                .collect(),
        })
        .collect()
}

fn print_matched(matched: &[Matched]) {
    let Some(first) = matched.first() else {
        return;
    };
    println!();
    println!("at vaerans' rate (baselines interpolated on their mean curves; - out of range):");
    print!("{:<8} {:>8} {:>17}", "vaerans", "bpp", "PSNR / MS-SSIM");
    for b in &first.baselines {
        print!(" {:>17}", b.codec);
    }
    println!();
    let cell = |p: Option<f64>, m: Option<f64>| match p {
        Some(p) => format!(
            "{p:.2} / {}",
            m.map_or("-".to_string(), |m| format!("{m:.4}"))
        ),
        None => "-".to_string(),
    };
    for m in matched {
        print!(
            "{:<8} {:>8.4} {:>17}",
            m.setting,
            m.bpp,
            cell(Some(m.psnr), m.ms_ssim)
        );
        for b in &m.baselines {
            print!(" {:>17}", cell(b.psnr, b.ms_ssim));
        }
        println!();
    }
}

fn print_curves(curves: &[Curve], bd: &[BdRate]) {
    if bd.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<9} {:>7} {:>8} {:>8} {:>8} {:>9} {:>9}",
        "codec", "setting", "bpp", "PSNR", "MS-SSIM", "enc s", "dec s"
    );
    for c in curves {
        println!(
            "{:<9} {:>7} {:>8.4} {:>8.2} {:>8} {:>9.4} {:>9.4}",
            c.codec,
            c.setting,
            c.bpp,
            c.psnr,
            c.ms_ssim.map_or("-".into(), |m| format!("{m:.4}")),
            c.encode_seconds,
            c.decode_seconds
        );
    }
    for b in bd {
        for (metric, r) in [("PSNR", &b.psnr), ("MS-SSIM", &b.ms_ssim)] {
            match r {
                Ok(v) => println!(
                    "BD-rate ({metric}) of vaerans against {}: {v:+.1}%",
                    b.baseline
                ),
                Err(e) => println!(
                    "BD-rate ({metric}) against {}: not defined ({e})",
                    b.baseline
                ),
            }
        }
    }
}

/// The machine an evaluation ran on, for reports.
#[derive(Serialize)]
struct Machine {
    os: &'static str,
    arch: &'static str,
    cpu: String,
    threads: usize,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        cpu,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// What `eval --out` writes.
struct EvalReport<'a> {
    rows: &'a [EvalRow],
    curves: &'a [Curve],
    bd: &'a [BdRate],
    matched: &'a [Matched],
    model: &'a str,
    device: &'a str,
    /// Each baseline's name and what it is.
    baselines: &'a [(String, String)],
}

/// Writes `contents` to `dir/name` atomically.
fn write_file(dir: &Path, name: &str, contents: &str) -> Result<()> {
    write_atomic(&dir.join(name), |tmp| {
        std::fs::write(tmp, contents).map_err(|e| Error::io(tmp, e))
    })
}

/// Writes results.json, results.csv and report.html into `dir` (created if missing), each
/// atomically.
fn write_eval_report(dir: &Path, r: &EvalReport<'_>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let machine = machine();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let json_bd = |f: &dyn Fn(&BdRate) -> Option<f64>| -> BTreeMap<&str, Option<f64>> {
        r.bd.iter().map(|b| (b.baseline.as_str(), f(b))).collect()
    };
    let report = serde_json::json!({
        "model": r.model,
        "device": r.device,
        "machine": &machine,
        "command": &command,
        "baselines": r.baselines.iter().cloned().collect::<BTreeMap<_, _>>(),
        "bd_rate_psnr_percent_vs": json_bd(&|b| b.psnr.as_ref().ok().copied()),
        "bd_rate_ms_ssim_percent_vs": json_bd(&|b| b.ms_ssim.as_ref().ok().copied()),
        "matched_rate": r.matched,
        "curves": r.curves,
        "rows": r.rows,
    });
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::InvalidInput(format!("report: {e}")))?;
    write_file(dir, "results.json", &json)?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    let mut csv = String::from(
        "codec,image,width,height,setting,bytes,bpp,psnr,ssim,ms_ssim,encode_seconds,decode_seconds\n",
    );
    for row in r.rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6},{},{},{:.6},{:.6}\n",
            row.codec,
            row.image.replace(',', "_"),
            row.width,
            row.height,
            row.setting,
            row.bytes.map_or(String::new(), |b| b.to_string()),
            opt(row.bpp),
            row.psnr,
            opt(row.ssim),
            opt(row.ms_ssim),
            row.encode_seconds,
            row.decode_seconds
        ));
    }
    write_file(dir, "results.csv", &csv)?;
    let bd: Vec<(String, Option<f64>, Option<f64>)> =
        r.bd.iter()
            .map(|b| {
                (
                    b.baseline.clone(),
                    b.psnr.as_ref().ok().copied(),
                    b.ms_ssim.as_ref().ok().copied(),
                )
            })
            .collect();
    let html = report::html(&report::Report {
        rows: r.rows,
        curves: r.curves,
        bd: &bd,
        matched: r.matched,
        model: r.model,
        device: r.device,
        machine: &machine,
        command: &command,
        baselines: r.baselines,
    })?;
    write_file(dir, "report.html", &html)
}

fn print_eval_table(rows: &[EvalRow], qualities: &[u8], model: &str) {
    let settings: Vec<String> = std::iter::once("vae".to_string())
        .chain(qualities.iter().map(|q| format!("q{q}")))
        .collect();
    println!("model {model}; PSNR in dB (RGB, 8-bit peak), rate in bits per pixel");
    print!("{:<16}{:>10}", "image", "VAE PSNR");
    for q in qualities {
        print!("{:>18}", format!("q{q} bpp / PSNR"));
    }
    println!();
    let images = first_seen(rows.iter().map(|r| r.image.as_str()));
    let cell = |image: &str, setting: &str| {
        rows.iter()
            .find(|r| r.image == image && r.setting == setting)
    };
    for image in &images {
        print!("{image:<16}");
        for s in &settings {
            match cell(image, s) {
                Some(r) if s == "vae" => print!("{:>10.2}", r.psnr),
                Some(r) => print!(
                    "{:>18}",
                    format!("{:.4} / {:.2}", r.bpp.unwrap_or(0.0), r.psnr)
                ),
                None => print!("{:>10}", "-"),
            }
        }
        println!();
    }
    print!("{:<16}", "mean");
    for s in &settings {
        let sel: Vec<&EvalRow> = rows.iter().filter(|r| &r.setting == s).collect();
        let n = sel.len().max(1) as f64;
        let psnr = sel.iter().map(|r| r.psnr).sum::<f64>() / n;
        if s == "vae" {
            print!("{psnr:>10.2}");
        } else {
            let bpp = sel.iter().filter_map(|r| r.bpp).sum::<f64>() / n;
            print!("{:>18}", format!("{bpp:.4} / {psnr:.2}"));
        }
    }
    println!();
    print!("{:<16}", "mean MS-SSIM");
    for s in &settings {
        let sel: Vec<f64> = rows
            .iter()
            .filter(|r| &r.setting == s)
            .filter_map(|r| r.ms_ssim)
            .collect();
        let cell = if sel.is_empty() {
            "-".to_string()
        } else {
            format!("{:.4}", sel.iter().sum::<f64>() / sel.len() as f64)
        };
        print!("{:>w$}", cell, w = if s == "vae" { 10 } else { 18 });
    }
    println!();
    let n = rows.iter().filter(|r| r.setting != "vae").count().max(1) as f64;
    let enc = rows
        .iter()
        .filter(|r| r.setting != "vae")
        .map(|r| r.encode_seconds)
        .sum::<f64>()
        / n;
    let dec = rows
        .iter()
        .filter(|r| r.setting != "vae")
        .map(|r| r.decode_seconds)
        .sum::<f64>()
        / n;
    println!("mean seconds per image: compress {enc:.3}, decompress {dec:.3}");
}

#[derive(Serialize)]
struct BandInfo {
    channel: usize,
    band: usize,
    level: u8,
    orientation: String,
    width: usize,
    height: usize,
    step_code: u8,
    step: f32,
    center: i32,
}

#[derive(Serialize)]
struct StreamInfo {
    file: PathBuf,
    version: String,
    width: u32,
    height: u32,
    padded_width: u32,
    padded_height: u32,
    latent_channels: u16,
    latent_height: u32,
    latent_width: u32,
    model: String,
    decoder_sha256: String,
    wavelet: String,
    levels: u8,
    quality: u8,
    bytes_total: usize,
    bytes_header: usize,
    bytes_tables: usize,
    bytes_payload: usize,
    bpp: f64,
    bands: Vec<BandInfo>,
}

fn info(path: &Path, json: bool) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let parsed = bitstream::read(&bytes, &Limits::default())?;
    let sizes = bitstream::sizes(&bytes, &parsed);
    let h = &parsed.header;
    let table = vaerans::wavelet::bands(h.latent_h as usize, h.latent_w as usize, h.levels);
    let bands = h
        .bands
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let b = table[i % table.len()];
            BandInfo {
                channel: i / table.len(),
                band: i % table.len(),
                level: b.level,
                orientation: format!("{:?}", b.orientation),
                width: b.w,
                height: b.h,
                step_code: q.step_code,
                step: q.step(),
                center: q.center,
            }
        })
        .collect();
    let info = StreamInfo {
        file: path.to_path_buf(),
        version: format!("{}.{}", h.version_major, h.version_minor),
        width: h.width,
        height: h.height,
        padded_width: h.padded_width,
        padded_height: h.padded_height,
        latent_channels: h.channels,
        latent_height: h.latent_h,
        latent_width: h.latent_w,
        model: h.model.name.clone(),
        decoder_sha256: h
            .model
            .decoder_hash
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        wavelet: format!("{:?}", h.wavelet),
        levels: h.levels,
        quality: h.quality,
        bytes_total: sizes.total,
        bytes_header: sizes.header,
        bytes_tables: sizes.tables,
        bytes_payload: sizes.payload,
        bpp: sizes.total as f64 * 8.0 / (f64::from(h.width) * f64::from(h.height)),
        bands,
    };
    let mut out = std::io::stdout().lock();
    if json {
        let line = serde_json::to_string(&info).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let _ = writeln!(out, "{line}");
        return Ok(());
    }
    let _ = writeln!(out, "file            {}", info.file.display());
    let _ = writeln!(out, "format version  {}", info.version);
    let _ = writeln!(
        out,
        "image           {}×{} (padded {}×{})",
        info.width, info.height, info.padded_width, info.padded_height
    );
    let _ = writeln!(
        out,
        "latent          {}×{}×{}",
        info.latent_channels, info.latent_height, info.latent_width
    );
    let _ = writeln!(
        out,
        "model           {}",
        if info.model.is_empty() {
            "(none: bare latent)"
        } else {
            &info.model
        }
    );
    let _ = writeln!(out, "decoder sha256  {}", info.decoder_sha256);
    let _ = writeln!(
        out,
        "wavelet         {} × {} levels",
        info.wavelet, info.levels
    );
    let _ = writeln!(out, "quality         {}", info.quality);
    let _ = writeln!(
        out,
        "size            {} bytes = header {} + tables {} + payload {} ({:.4} bpp)",
        info.bytes_total, info.bytes_header, info.bytes_tables, info.bytes_payload, info.bpp
    );
    let _ = writeln!(
        out,
        "bands           channel band level orientation size step center"
    );
    for b in &info.bands {
        let _ = writeln!(
            out,
            "                {:>7} {:>4} {:>5} {:>11} {}×{} {} {}",
            b.channel, b.band, b.level, b.orientation, b.width, b.height, b.step, b.center
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct ModelReport {
    name: String,
    default: bool,
    encoder: String,
    decoder: String,
    files_exist: bool,
    loads: bool,
    error: Option<String>,
    latent: Option<String>,
}

fn models(json: bool, ep: ExecutionProvider) -> Result<usize> {
    let config = Config::load()?;
    let default = config.resolve(None).map(|s| s.name).unwrap_or_default();
    match &config.path {
        Some(p) if !json => println!("config: {}", p.display()),
        None if !json => println!(
            "config: none found (searched {})",
            Config::search_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => {}
    }
    let mut broken = 0;
    for spec in config.all() {
        let files_exist = spec.encoder.exists() && spec.decoder.exists();
        let opened = if files_exist {
            Vae::open(&spec, ep).and_then(|vae| {
                // Probe the latent shape with one 64×64 image.
                let f = vae.downsample();
                let side = 8 * f;
                let z = vae.encode_nchw(&vec![0.0; 3 * side * side], 1, side, side)?;
                let c = z.len() / (side / f * (side / f));
                Ok(format!("{c}×H/{f}×W/{f}"))
            })
        } else {
            Err(Error::Model("file missing".into()))
        };
        let r = ModelReport {
            default: spec.name == default,
            name: spec.name.clone(),
            encoder: spec.encoder.to_string(),
            decoder: spec.decoder.to_string(),
            files_exist,
            loads: opened.is_ok(),
            error: opened.as_ref().err().map(|e| e.to_string()),
            latent: opened.ok(),
        };
        if !r.loads {
            broken += 1;
        }
        if json {
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
        } else {
            println!(
                "{}{}\n  encoder {}\n  decoder {}\n  {}",
                r.name,
                if r.default { " (default)" } else { "" },
                r.encoder,
                r.decoder,
                match (&r.latent, &r.error) {
                    (Some(l), _) => format!("loads; latent {l}"),
                    (None, Some(e)) => format!("does not load: {e}"),
                    _ => String::new(),
                }
            );
        }
    }
    Ok(broken)
}

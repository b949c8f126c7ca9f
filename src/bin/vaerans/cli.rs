//! The command line: subcommands, their options, and the parsers of option values.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use vaerans::vae::{Config, ConvSearch, ExecutionProvider, ProviderOptions};
use vaerans::{Codec, CodecBuilder, Device};

use crate::eval::baselines;

/// Image compression through a learned autoencoder's latent space.
#[derive(Parser)]
#[command(version, about, long_about = None)]
pub(crate) struct Cli {
    /// More log output (-v: debug). `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Compress images (PNG, JPEG) into .vaer streams.
    Compress {
        /// Image files or directories of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file (one input file) or directory (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        /// Quality, 1 (smallest) to 100 (best).
        #[arg(short, long, default_value_t = vaerans::latent::quantize::DEFAULT_QUALITY,
              value_parser = clap::value_parser!(u8).range(1..=100))]
        quality: u8,
        /// Compress each image to this many bits per pixel (within ±5%, or the nearest
        /// reachable, which is reported), searching the quality; -q is then ignored.
        #[arg(long, value_name = "BPP", conflicts_with = "target_size")]
        target_bpp: Option<f64>,
        /// Compress each image to this many bytes (within ±5%, or the nearest reachable).
        #[arg(long, value_name = "BYTES")]
        target_size: Option<u64>,
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
        /// Decode each stream's latent (no VAE) into OUTPUT/NAME.npy instead of an image, as
        /// `vaerans latents decode` does.
        #[arg(long)]
        latent: bool,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Latent caches: latent files (.npy, .safetensors) to streams and tar shards and back,
    /// with no VAE; extract, verify, eval and bench.
    Latents {
        #[command(subcommand)]
        command: crate::latents::LatentsCommand,
    },
    /// Print every header field of a stream, or list a shard's members (.tar), checking each.
    Info {
        /// The stream or shard.
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
    Bench(BenchArgs),
    /// List the configured models: whether their files exist and load, and their latent shape.
    Models {
        /// One JSON line per model.
        #[arg(long)]
        json: bool,
        /// Also run each model once with ONNX Runtime's profiler and report how many of its
        /// nodes ran on each provider (a WebGPU or CUDA run may leave some to the CPU).
        #[arg(long)]
        placement: bool,
        /// Execution provider used to load them.
        #[command(flatten)]
        provider: ProviderArgs,
        /// Calibrate this model (a configured name or an .onnx path) instead of listing:
        /// measure how its decoder responds to quantisation error in each latent channel and
        /// wavelet level on `--images`, and write the calibration the quantiser allocates its
        /// steps from (into the cache, or `--out`). Use training images, never the images the
        /// codec is evaluated on.
        #[arg(long, value_name = "MODEL", requires = "images")]
        calibrate: Option<String>,
        /// Calibration images (files or directories of PNG/JPEG).
        #[arg(long, value_name = "DIR")]
        images: Vec<PathBuf>,
        /// The calibrated model's pixel range, LO,HI, over its config's (as for compress).
        #[arg(long, value_name = "LO,HI", value_parser = parse_range,
              allow_hyphen_values = true, requires = "calibrate")]
        input_range: Option<[f32; 2]>,
        /// How many of `--images` (the first, by name).
        #[arg(long, default_value_t = 16)]
        count: usize,
        /// Where to write the calibration [default: the cache, where every codec finds it:
        /// `$VAERANS_CACHE_DIR`, `$XDG_CACHE_HOME/vaerans` or `~/.cache/vaerans`].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
pub(crate) struct ModelArgs {
    /// Model: a configured name or an .onnx path (default: the config's default, else the
    /// embedded model; decompress defaults to the model the stream names).
    #[arg(short, long)]
    pub(crate) model: Option<String>,
    /// The pixel range the model expects, LO,HI (u8 0 maps to LO, 255 to HI), over the
    /// config's `input_range` or the [-1, 1] assumed for an .onnx path; e.g. 0,1 for TAESD-
    /// and TAEF2-style models. Streams record it; decoding needs the same range.
    #[arg(long, value_name = "LO,HI", value_parser = parse_range, allow_hyphen_values = true)]
    pub(crate) input_range: Option<[f32; 2]>,
    /// The VAE's execution provider.
    #[command(flatten)]
    pub(crate) provider: ProviderArgs,
    /// Entropy coding of the streams written: auto (adaptive when it is at least 2% smaller),
    /// tables (static per-band tables, format 2: fastest to decode) or adaptive
    /// (context-adaptive, no tables, format 3: smallest at low rates and for many channels).
    #[arg(long, default_value = "auto", value_parser = parse_entropy)]
    pub(crate) entropy: Entropy,
    /// Images per batch, and the most per VAE session call [default: compress and decompress
    /// code one image per lane on the CPU provider, 16 on a GPU provider; one batch at a time
    /// and eval: 16].
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    /// Batches compress and decompress code side by side [default: one per core, at most 8,
    /// on the CPU provider; 2 on a GPU provider].
    #[arg(long)]
    pub(crate) lanes: Option<usize>,
    /// Compress or decompress one batch at a time (load, code, write, then the next batch)
    /// instead of pipelined: slower; for comparison.
    #[arg(long)]
    pub(crate) one_batch_at_a_time: bool,
    /// Images with an alpha channel: error (refuse them), drop (keep the colours as they are)
    /// or over=RRGGBB (composite over that colour, e.g. over=ffffff).
    #[arg(long, default_value = "error")]
    pub(crate) alpha: vaerans::Alpha,
    /// Most working memory for coding one image, in MiB, estimated before anything is
    /// allocated (the image, its tensors and the VAE's working memory; images over the
    /// model's tile size are run through the VAE in tiles). An image or stream that needs
    /// more is refused with the numbers. Each lane codes its own image.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub(crate) max_memory: u64,
    /// Where Hadamard, wavelet and quantisation run: auto (a hardware GPU if present), gpu or
    /// cpu. The choice is logged.
    #[arg(long, default_value = "auto")]
    pub(crate) device: Device,
    /// Quantise every latent channel and wavelet level with the same steps, ignoring the
    /// model's calibration (for comparison; streams decode the same way either way).
    #[arg(long, conflicts_with = "calibration")]
    pub(crate) uncalibrated: bool,
    /// Quantise with this calibration file (from `vaerans models --calibrate … --out FILE`)
    /// instead of the one found for the model.
    #[arg(long, value_name = "FILE")]
    pub(crate) calibration: Option<PathBuf>,
    /// Set the layers yourself: -q is then the base's quality, and every stream gets an
    /// enhancement layer at this quality (1 to 100), the residual between the image and the
    /// model's reconstruction. Without it, -q walks both layers.
    #[arg(long, value_name = "Q", value_parser = clap::value_parser!(u8).range(1..=100),
          conflicts_with = "no_residual")]
    pub(crate) residual_quality: Option<u8>,
    /// Code the base layer alone, -q being its quality (as versions before the residual layer
    /// did).
    #[arg(long)]
    pub(crate) no_residual: bool,
    /// Predict the residual from the base image blurred with this σ in pixels (0 to 4, in
    /// eighths; default 0: unblurred).
    #[arg(
        long,
        value_name = "SIGMA",
        default_value_t = 0.0,
        requires = "residual_quality"
    )]
    pub(crate) residual_blur: f32,
    /// Decode only the base layer of layered streams (reading nothing after it, so a damaged
    /// enhancement layer does not matter).
    #[arg(long)]
    pub(crate) base_only: bool,
    /// Print a per-system time table (system, device, runs, entities, ms) on stderr at the
    /// end. GPU stages are then waited for one by one, so each is timed on its own.
    #[arg(long)]
    pub(crate) trace: bool,
    /// One JSON line per file on stdout (input, output, bytes, bpp, seconds; seconds are the
    /// file's share of the run's time).
    #[arg(long)]
    pub(crate) json: bool,
}

/// Which ONNX Runtime execution provider runs the VAE, and its options.
#[derive(Args, Clone)]
pub(crate) struct ProviderArgs {
    /// ONNX Runtime execution provider for the VAE: auto (CUDA, else WebGPU on a hardware
    /// adapter, else the CPU; the choice is logged), cpu, cuda or webgpu. An explicit provider
    /// that cannot start is an error, never a CPU run.
    #[arg(long, default_value = "auto")]
    pub(crate) ep: ExecutionProvider,
    /// CUDA device to run the VAE on.
    #[arg(long, default_value_t = 0)]
    pub(crate) cuda_device: u32,
    /// How cuDNN picks convolution algorithms: exhaustive (fastest after a slow first batch
    /// per size), heuristic or default.
    #[arg(long, default_value = "exhaustive")]
    pub(crate) cudnn_search: ConvSearch,
    /// Keep CUDA from using TF32 tensor cores for f32 convolutions (Ampere and later).
    #[arg(long)]
    pub(crate) no_tf32: bool,
}

impl ProviderArgs {
    /// The provider options these flags ask for.
    pub(crate) fn options(&self) -> ProviderOptions {
        ProviderOptions::default()
            .with_cuda_device(self.cuda_device)
            .with_conv_search(self.cudnn_search)
            .with_tf32(!self.no_tf32)
    }
}

/// `values`, or `default` when none were given.
pub(crate) fn or_default(values: Vec<usize>, default: &[usize]) -> Vec<usize> {
    if values.is_empty() {
        default.to_vec()
    } else {
        values
    }
}

/// Parses `N` positive integers joined by `x` (also `×`, `X`); `example` goes in the error.
pub(crate) fn parse_dims<const N: usize>(
    s: &str,
    example: &str,
) -> std::result::Result<[usize; N], String> {
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
pub(crate) fn parse_size(s: &str) -> std::result::Result<(u32, u32), String> {
    let [w, h] = parse_dims::<2>(s, "WxH, e.g. 768x512")?;
    let side = |v: usize| u32::try_from(v).map_err(|_| format!("`{v}` is not a positive integer"));
    Ok((side(w)?, side(h)?))
}

/// `--entropy`: `None` chooses per image.
#[derive(Clone, Copy)]
pub(crate) struct Entropy(pub(crate) Option<vaerans::EntropyCoding>);

/// Parses `auto` or an entropy coding's name (`tables`, `adaptive`).
pub(crate) fn parse_entropy(s: &str) -> std::result::Result<Entropy, String> {
    if s == "auto" {
        return Ok(Entropy(None));
    }
    vaerans::EntropyCoding::named(s)
        .map(|e| Entropy(Some(e)))
        .map_err(|_| format!("`{s}` is not auto, tables or adaptive"))
}

/// Parses `LO,HI`: two different finite numbers.
pub(crate) fn parse_range(s: &str) -> std::result::Result<[f32; 2], String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [lo, hi] = parts[..] else {
        return Err(format!("`{s}` is not LO,HI, e.g. 0,1 or -1,1"));
    };
    let num = |v: &str| {
        v.trim()
            .parse::<f32>()
            .ok()
            .filter(|x| x.is_finite())
            .ok_or_else(|| format!("`{v}` is not a finite number"))
    };
    let range = [num(lo)?, num(hi)?];
    if range[0] == range[1] {
        return Err(format!("`{s}`: LO and HI must differ"));
    }
    Ok(range)
}

/// Parses `CxHxW` (also `C×H×W`).
pub(crate) fn parse_shape(s: &str) -> std::result::Result<[usize; 3], String> {
    parse_dims::<3>(s, "CxHxW, e.g. 4x64x64")
}

impl ModelArgs {
    /// The pipeline's batch and lanes, as given (`None`: the library's choice).
    pub(crate) fn pipeline(&self) -> vaerans::Pipeline {
        vaerans::Pipeline {
            batch: self.batch.map(|b| b.max(1)),
            lanes: self.lanes.map(|l| l.max(1)),
        }
    }

    /// Images per batch when coding one batch at a time.
    pub(crate) fn batch_at_a_time(&self) -> usize {
        self.batch.unwrap_or(vaerans::vae::DEFAULT_MAX_BATCH).max(1)
    }
}

/// A codec builder from the shared model options, resolving names in `config`, with
/// `--model` applied.
pub(crate) fn codec_builder(args: &ModelArgs, config: Config) -> vaerans::Result<CodecBuilder> {
    let builder = Codec::builder()
        .execution_provider(args.provider.ep)
        .provider_options(args.provider.options())
        .device(args.device)
        .max_batch(args.batch.unwrap_or(vaerans::vae::DEFAULT_MAX_BATCH))
        .limits(vaerans::Limits::default().with_max_memory(args.max_memory.saturating_mul(1 << 20)))
        .entropy(args.entropy.0)
        .base_only(args.base_only)
        .config(config);
    let builder = match args.residual_quality {
        Some(q) => {
            let sigma = args.residual_blur;
            if !(0.0..=4.0).contains(&sigma) {
                return Err(vaerans::Error::InvalidInput(format!(
                    "--residual-blur {sigma} is outside 0..=4 pixels"
                )));
            }
            let settings = vaerans::residual::ResidualSettings::new(q)?
                .with_blur((sigma * 8.0).round() as u8)?;
            builder.residual(Some(settings))
        }
        None if args.no_residual => builder.residual(None),
        None => builder,
    };
    let builder = match &args.calibration {
        Some(path) => builder.calibration(vaerans::vae::Calibration::load(path)?),
        None => builder,
    };
    let builder = if args.uncalibrated {
        builder.allocation(
            vaerans::latent::StepAllocation::uniform(),
            vaerans::components::ChannelTransform::Hadamard4,
        )
    } else {
        builder
    };
    let builder = match args.input_range {
        Some(range) => builder.input_range(range),
        None => builder,
    };
    Ok(match &args.model {
        Some(m) => builder.model(m.clone()),
        None => builder,
    })
}

/// `vaerans bench`'s options.
#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Images to run the whole codec on (files or directories), repeated to fill each
    /// batch. Default: synthetic photo-like images of `--size`.
    pub(crate) inputs: Vec<PathBuf>,
    /// Size of the synthetic images, WxH.
    #[arg(long, default_value = "768x512", value_parser = parse_size)]
    pub(crate) size: (u32, u32),
    /// Benchmark only the latent pipeline (Hadamard, wavelet, quantisation, rANS, both
    /// ways) on synthetic latents of this shape, CxHxW; no model is loaded.
    #[arg(long, value_parser = parse_shape, conflicts_with = "inputs")]
    pub(crate) latent: Option<[usize; 3]>,
    /// Where the latent stages run: auto, gpu or cpu.
    #[arg(long, default_value = "auto")]
    pub(crate) device: Device,
    /// The whole codec in three configurations, one after the other on the same images, so
    /// their ratios compare: `cpu` (the VAE on ONNX Runtime's CPU provider, the latent stages
    /// on the CPU), `latent-gpu` (the VAE on the CPU, the latent stages on the GPU) and `gpu`
    /// (the VAE on `--ep`, under auto the first GPU provider that starts, and the latent
    /// stages on the GPU). A configuration that cannot start is reported and skipped.
    #[arg(long, conflicts_with = "latent")]
    pub(crate) compare: bool,
    /// Model: a configured name or an .onnx path (default: the config's default, else the
    /// embedded model).
    #[arg(short, long)]
    pub(crate) model: Option<String>,
    /// The VAE's execution provider.
    #[command(flatten)]
    pub(crate) provider: ProviderArgs,
    /// Batch sizes, comma-separated [default: 1,8 for images, 1,8,64 for latents].
    #[arg(long, value_delimiter = ',')]
    pub(crate) batch: Vec<usize>,
    /// Timed iterations per batch size, after one warm-up [default: 3 for images, 10 for
    /// latents].
    #[arg(long)]
    pub(crate) iters: Option<usize>,
    /// Quality, 1 to 100.
    #[arg(short, long, default_value_t = vaerans::latent::quantize::DEFAULT_QUALITY,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    pub(crate) quality: u8,
    /// Entropy coding of the streams: auto, tables or adaptive (as for compress).
    #[arg(long, default_value = "auto", value_parser = parse_entropy)]
    pub(crate) entropy: Entropy,
    /// One JSON line per batch size.
    #[arg(long)]
    pub(crate) json: bool,
}

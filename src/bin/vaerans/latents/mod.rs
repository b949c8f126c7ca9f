//! `vaerans latents`: latent arrays (.npy, .safetensors) ⇄ streams and shards, with no VAE;
//! `extract` makes them from images with the model's encoder; `eval` and `bench` measure.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use vaerans::latent::bare::{chain_for, Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::{Limits, Result};

use crate::cli::{parse_entropy, parse_shape, parse_size, Entropy, ModelArgs};

mod bench;
mod decode;
mod encode;
mod eval;

use bench::bench;
use decode::verify;
pub(crate) use decode::{decode, list_shard};
use encode::{encode, Split};
use eval::{eval, extract};

/// The quality bare latents are coded at unless told: the decoded images of the embedded
/// model's latents lose about 0.03 dB at it (README, "Latent caches").
pub(crate) const DEFAULT_LATENT_QUALITY: u8 = 80;

const LATENT_EXTS: &[&str] = &["npy", "safetensors"];

/// Latent files `encode` reads before coding their latents in parallel.
const ENCODE_WINDOW: usize = 64;
const SHARD_EXT: &str = "tar";

#[derive(Subcommand)]
pub(crate) enum LatentsCommand {
    /// Code latent files (.npy, .safetensors; f32/f16/bf16; [C,h,w] or [N,C,h,w]) into
    /// streams: a folder of KEY.vaer files, or tar shards when OUTPUT ends in .tar.
    Encode {
        /// Latent files or folders of them.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// A folder (created if missing), or a shard NAME.tar.
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        fidelity: FidelityArgs,
        /// The name of the model that made the latents, recorded in every stream.
        #[arg(long, value_name = "NAME")]
        model_name: Option<String>,
        /// Start a new shard every N latents: NAME-000000.tar, NAME-000001.tar, …
        #[arg(long, value_name = "N", conflicts_with = "append")]
        shard_size: Option<usize>,
        /// Start a new shard before one would pass this many MiB (each holds at least one
        /// latent); with --shard-size, whichever comes first.
        #[arg(long, value_name = "MIB", conflicts_with = "append")]
        shard_mib: Option<u64>,
        /// Add to the shard NAME.tar instead of replacing it.
        #[arg(long)]
        append: bool,
        /// Entropy coding: tables (about 4× faster to decode), adaptive (5–7% smaller) or
        /// auto (adaptive when it is at least 2% smaller).
        #[arg(long, default_value = "tables", value_parser = parse_entropy)]
        entropy: Entropy,
    },
    /// Decode streams (.vaer files, .tar shards, or folders of them) into latent files named
    /// by key, in the element type each stream records (f32 for an image's latent).
    Decode {
        /// Streams, shards, or folders of them.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output folder (created if missing).
        #[arg(short, long)]
        output: PathBuf,
        /// npy or safetensors [default: npy, safetensors for bf16 latents].
        #[arg(long)]
        format: Option<String>,
    },
    /// List a shard's members, checking every stream (exit status 1 if any is damaged).
    Verify {
        /// Shards.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
    },
    /// Per quality: bits per latent value, latent SNR and largest error, and the size against
    /// f32, f16, bf16 and per-channel uint8 storage of the same latents.
    Eval {
        /// Latent files or folders of them.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Qualities, comma-separated.
        #[arg(short, long, value_delimiter = ',',
              default_values_t = [40u8, 60, 70, 80, 90, 100])]
        quality: Vec<u8>,
        /// The model that made the latents (its calibrated steps when it is the embedded one).
        #[arg(long, value_name = "NAME")]
        model_name: Option<String>,
        /// Entropy coding: tables, adaptive or auto.
        #[arg(long, default_value = "tables", value_parser = parse_entropy)]
        entropy: Entropy,
    },
    /// The model's latents of images (no quantisation), for a latent cache: one
    /// [N,C,h,w] file when OUTPUT ends in .npy or .safetensors (images of one size), else a
    /// folder of one file per image.
    Extract {
        /// Images or folders of images.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output file or folder.
        #[arg(short, long)]
        output: PathBuf,
        /// Resize every image to WxH first.
        #[arg(long, value_name = "WxH", value_parser = parse_size)]
        resize: Option<(u32, u32)>,
        /// Element type: f32, f16 or bf16.
        #[arg(long, default_value = "f16")]
        dtype: String,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Decoding throughput per core (one thread): latents/s from a vaerans shard against the
    /// same latents as f16 .npy and .safetensors files, from the page cache and cold.
    Bench {
        /// Latent files to use (all of one shape) [default: synthetic latents of --shape].
        inputs: Vec<PathBuf>,
        /// Shape of the synthetic latents.
        #[arg(long, default_value = "4x128x128", value_parser = parse_shape)]
        shape: [usize; 3],
        /// Latents to code and read.
        #[arg(long, default_value_t = 256)]
        count: usize,
        /// Quality of the streams.
        #[arg(short, long, default_value_t = DEFAULT_LATENT_QUALITY)]
        quality: u8,
        /// Entropy coding of the streams: tables, adaptive or auto.
        #[arg(long, default_value = "tables", value_parser = parse_entropy)]
        entropy: Entropy,
        /// Timed passes of each reader (the best is reported).
        #[arg(long, default_value_t = 3)]
        passes: usize,
    },
}

/// How faithful the streams must be: one of a quality, a largest error or an SNR.
#[derive(Args)]
pub(crate) struct FidelityArgs {
    /// Quality, 1 to 100.
    #[arg(short, long, default_value_t = DEFAULT_LATENT_QUALITY,
          value_parser = clap::value_parser!(u8).range(1..=100))]
    quality: u8,
    /// Code each latent at the lowest quality whose largest absolute error is at most this
    /// (measured on the decoded values); -q is then ignored.
    #[arg(long, value_name = "E", conflicts_with = "snr")]
    max_error: Option<f32>,
    /// Code each latent at the lowest quality whose SNR (variance over mean square error) is
    /// at least this many dB.
    #[arg(long, value_name = "DB")]
    snr: Option<f64>,
}

impl FidelityArgs {
    fn fidelity(&self) -> Fidelity {
        match (self.max_error, self.snr) {
            (Some(e), _) => Fidelity::MaxError(e),
            (None, Some(s)) => Fidelity::SnrDb(s),
            (None, None) => Fidelity::Quality(self.quality),
        }
    }
}

pub(crate) fn run(command: LatentsCommand) -> Result<usize> {
    match command {
        LatentsCommand::Encode {
            inputs,
            output,
            fidelity,
            model_name,
            shard_size,
            shard_mib,
            append,
            entropy,
        } => {
            let chain = chain_for(model_name.as_deref())?.with_entropy(entropy.0);
            let codec = LatentFileCodec::new(fidelity.fidelity())
                .with_chain(chain)
                .with_model(model_name.as_deref())?;
            let split = Split {
                members: shard_size,
                bytes: shard_mib.map(|m| m.saturating_mul(1 << 20)),
            };
            encode(&inputs, &output, &codec, split, append)
        }
        LatentsCommand::Decode {
            inputs,
            output,
            format,
        } => {
            let format = format
                .map(|f| LatentFormat::of_path(Path::new(&format!("x.{f}"))))
                .transpose()?;
            decode(&inputs, &output, format)
        }
        LatentsCommand::Verify { shards } => verify(&shards),
        LatentsCommand::Eval {
            inputs,
            quality,
            model_name,
            entropy,
        } => {
            let chain = chain_for(model_name.as_deref())?.with_entropy(entropy.0);
            eval(&inputs, &quality, &chain)
        }
        LatentsCommand::Extract {
            inputs,
            output,
            resize,
            dtype,
            model,
        } => extract(&inputs, &output, resize, &dtype, &model),
        LatentsCommand::Bench {
            inputs,
            shape,
            count,
            quality,
            entropy,
            passes,
        } => bench(&inputs, shape, count, quality, entropy, passes),
    }
}

/// One latent to code: its key, values, shape and type.
struct Item {
    key: String,
    values: Vec<f32>,
    shape: [usize; 3],
    dtype: LatentDType,
}

/// A key from a file stem: characters a key cannot hold become `_`.
fn key_of(stem: &str) -> String {
    let k: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(vaerans::latent::shard::MAX_KEY_LEN - 7)
        .collect();
    if k.is_empty() {
        "latent".into()
    } else {
        k
    }
}

/// The latents of a file: one item per latent, keyed by the file's stem (`STEM_000000`, … for
/// a batch).
fn items_of(path: &Path, limits: &Limits) -> Result<Vec<Item>> {
    let array = LatentArray::read(path, limits)?;
    let stem = key_of(&path.file_stem().unwrap_or_default().to_string_lossy());
    let shape = array.latent_shape();
    Ok(array
        .latents()
        .enumerate()
        .map(|(i, values)| Item {
            key: if array.is_batch() {
                format!("{stem}_{i:06}")
            } else {
                stem.clone()
            },
            values: values.to_vec(),
            shape,
            dtype: array.dtype(),
        })
        .collect())
}

/// Whether `p` names a tar shard (by its extension).
fn is_shard(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(SHARD_EXT))
}

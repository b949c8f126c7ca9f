//! `vaerans latents`: latent arrays (.npy, .safetensors) ⇄ streams and shards, with no VAE;
//! `extract` makes them from images with the model's encoder; `eval` and `bench` measure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use rayon::prelude::*;
use vaerans::latent::bare::{chain_for, measure, Coded, Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::latent::shard::{check_key, ShardReader, ShardWriter, EXTENSION};
use vaerans::{Error, LatentCodec, Limits, Result};

use crate::cli::{parse_entropy, parse_shape, parse_size, Entropy, ModelArgs};
use crate::io;

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
    let n: usize = shape.iter().product();
    Ok(array
        .data()
        .chunks_exact(n)
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

/// When a run of shards starts its next shard: after so many members, or before so many
/// bytes (neither: one shard).
#[derive(Clone, Copy)]
struct Split {
    members: Option<usize>,
    bytes: Option<u64>,
}

impl Split {
    fn is_none(self) -> bool {
        self.members.is_none() && self.bytes.is_none()
    }

    /// Whether `w` is full before a member of `len` bytes.
    fn full(self, w: &ShardWriter<std::fs::File>, len: usize) -> bool {
        let by_count = self.members.is_some_and(|n| w.members() >= n);
        // A member's header and padding, and the end-of-archive blocks.
        let after = w.bytes() + 512 + (len as u64).div_ceil(512) * 512 + 1024;
        let by_size = self.bytes.is_some_and(|b| w.members() > 0 && after > b);
        by_count || by_size
    }
}

/// Where encoded streams go: a folder of files or a run of shards.
enum Sink {
    Folder(PathBuf),
    Shards {
        writer: Option<ShardWriter<std::fs::File>>,
        name: PathBuf,
        split: Split,
        next: usize,
    },
}

impl Sink {
    fn put(&mut self, key: &str, stream: &[u8]) -> Result<PathBuf> {
        match self {
            Sink::Folder(dir) => {
                check_key(key)?;
                let path = dir.join(format!("{key}.{EXTENSION}"));
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                }
                io::write_atomic(&path, |tmp| {
                    std::fs::write(tmp, stream).map_err(|e| Error::io(tmp, e))
                })?;
                Ok(path)
            }
            Sink::Shards {
                writer,
                name,
                split,
                next,
            } => {
                if let Some(w) = writer.take_if(|w| split.full(w, stream.len())) {
                    w.finish()?;
                }
                let w = match writer {
                    Some(w) => w,
                    None => {
                        let path = shard_name(name, *split, *next);
                        *next += 1;
                        writer.insert(ShardWriter::create(&path)?)
                    }
                };
                w.append(key, stream)?;
                Ok(w.path().to_owned())
            }
        }
    }

    fn finish(self) -> Result<()> {
        if let Sink::Shards {
            writer: Some(w), ..
        } = self
        {
            w.finish()?;
        }
        Ok(())
    }
}

/// The `i`-th shard of `name` (`NAME.tar` → `NAME-00000i.tar` when shards are split).
fn shard_name(name: &Path, split: Split, i: usize) -> PathBuf {
    if split.is_none() {
        return name.to_owned();
    }
    let stem = name.file_stem().unwrap_or_default().to_string_lossy();
    name.with_file_name(format!("{stem}-{i:06}.{SHARD_EXT}"))
}

fn is_shard(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(SHARD_EXT))
}

fn encode(
    inputs: &[PathBuf],
    output: &Path,
    codec: &LatentFileCodec,
    split: Split,
    append: bool,
) -> Result<usize> {
    let (files, _) = io::expand(inputs, LATENT_EXTS)?;
    if split.members == Some(0) || split.bytes == Some(0) {
        return Err(Error::InvalidInput(
            "a shard holds at least 1 latent (--shard-size and --shard-mib are at least 1)".into(),
        ));
    }
    let mut sink = if is_shard(output) {
        let writer = if append {
            Some(ShardWriter::append_to(output, codec.limits())?)
        } else {
            None
        };
        Sink::Shards {
            writer,
            name: output.to_owned(),
            split,
            next: 0,
        }
    } else {
        if append || !split.is_none() {
            return Err(Error::InvalidInput(format!(
                "{}: --append, --shard-size and --shard-mib write shards; name the output \
                 NAME.tar",
                output.display()
            )));
        }
        std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
        Sink::Folder(output.to_owned())
    };
    let bar = io::progress(files.len(), false);
    let (start, mut failed) = (Instant::now(), 0);
    let (mut values, mut bytes, mut n) = (0usize, 0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let mut shards: Vec<PathBuf> = Vec::new();
    // Files a window at a time: their latents coded in parallel (a codec per thread), then
    // written in order, so a folder of one-latent files keeps every core busy too.
    for window in files.chunks(ENCODE_WINDOW) {
        let mut items: Vec<(&PathBuf, Item)> = Vec::new();
        for file in window {
            match items_of(file, codec.limits()) {
                Ok(its) => items.extend(its.into_iter().map(|it| (file, it))),
                Err(e) => {
                    io::fail(&bar, file, &e);
                    failed += 1;
                }
            }
        }
        let coded: Vec<Result<Coded>> = items
            .par_iter()
            .map_init(
                || codec.clone(),
                |c, (_, it)| c.encode(&it.values, it.shape, it.dtype),
            )
            .collect();
        for ((file, item), result) in items.iter().zip(coded) {
            let written = result.and_then(|c| {
                if !seen.insert(item.key.clone()) {
                    return Err(Error::InvalidInput(format!(
                        "key {} comes twice: rename one of the files",
                        item.key
                    )));
                }
                let at = sink.put(&item.key, c.stream.as_bytes())?;
                if shards.last() != Some(&at) && is_shard(&at) {
                    shards.push(at);
                }
                Ok(c)
            });
            match written {
                Ok(c) => {
                    values += item.values.len();
                    bytes += c.stream.len();
                    n += 1;
                    tracing::debug!(
                        "{}: quality {}, {} bytes, largest error {}, {:.2} dB",
                        item.key,
                        c.quality,
                        c.stream.len(),
                        c.max_error,
                        c.snr_db
                    );
                }
                Err(e) => {
                    bar.suspend(|| eprintln!("error: {} ({}): {}", file.display(), item.key, e));
                    failed += 1;
                }
            }
        }
        bar.inc(window.len() as u64);
    }
    sink.finish()?;
    bar.finish_and_clear();
    let bits = bytes as f64 * 8.0 / values.max(1) as f64;
    let into = match shards.len() {
        0 | 1 => output.display().to_string(),
        k => format!(
            "{k} shards {} … {}",
            shards[0].display(),
            shards[k - 1].display()
        ),
    };
    println!(
        "{n} latents ({values} values) -> {into}: {bytes} bytes, {bits:.3} bits a value ({:.1}× \
         smaller than f16), {:.2} s",
        16.0 / bits.max(f64::MIN_POSITIVE),
        start.elapsed().as_secs_f64()
    );
    Ok(failed)
}

/// One stream to decode: its key, its bytes (or why they could not be read), where from.
type Member = (String, Result<Vec<u8>>, PathBuf);

/// Streams to decode, [`DECODE_WINDOW`] at a time, in order: every member of each shard and
/// every `.vaer` file.
fn for_each_window(
    inputs: &[PathBuf],
    limits: &Limits,
    mut each: impl FnMut(Vec<Member>),
) -> Result<()> {
    let (files, _) = io::expand(inputs, &["vaer", SHARD_EXT])?;
    let mut window = Vec::new();
    let mut push = |m: Member, window: &mut Vec<Member>| {
        window.push(m);
        if window.len() == DECODE_WINDOW {
            each(std::mem::take(window));
        }
    };
    for file in files {
        if is_shard(&file) {
            let mut shard = ShardReader::open(&file, limits)?;
            let keys: Vec<String> = shard.keys().map(str::to_owned).collect();
            for key in keys {
                let bytes = shard.read(&key);
                push((key, bytes, file.clone()), &mut window);
            }
        } else {
            let key = key_of(&file.file_stem().unwrap_or_default().to_string_lossy());
            let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e));
            push((key, bytes, file), &mut window);
        }
    }
    if !window.is_empty() {
        each(window);
    }
    Ok(())
}

/// Streams `decode` reads before decoding them in parallel.
const DECODE_WINDOW: usize = 256;

pub(crate) fn decode(
    inputs: &[PathBuf],
    output: &Path,
    format: Option<LatentFormat>,
) -> Result<usize> {
    std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
    let codec = LatentFileCodec::new(Fidelity::Quality(DEFAULT_LATENT_QUALITY));
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut seen = std::collections::HashSet::new();
    let start = Instant::now();
    let write = |codec: &mut LatentFileCodec, key: &str, bytes: Result<Vec<u8>>| -> Result<()> {
        let latent = codec.decode(&codec.parse(bytes?)?)?;
        let format = format.unwrap_or(if latent.dtype() == LatentDType::Bf16 {
            LatentFormat::Safetensors
        } else {
            LatentFormat::Npy
        });
        let path = output.join(format!("{key}.{}", format.extension()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        io::write_atomic(&path, |tmp| {
            let bytes = latent.to_bytes(format)?;
            std::fs::write(tmp, bytes).map_err(|e| Error::io(tmp, e))
        })
    };
    for_each_window(inputs, codec.limits(), |window| {
        // A key met before would overwrite its file: refused, never lost.
        let members: Vec<(Member, bool)> = window
            .into_iter()
            .map(|m| {
                let fresh = seen.insert(m.0.clone());
                (m, fresh)
            })
            .collect();
        // Decoded and written in parallel; reported in order.
        let results: Vec<std::result::Result<(), (String, PathBuf, Error)>> = members
            .into_par_iter()
            .map_init(
                || codec.clone(),
                |c, ((key, bytes, from), fresh)| {
                    let r = if fresh {
                        write(c, &key, bytes)
                    } else {
                        Err(Error::InvalidInput(
                            "a stream of this key was decoded from another input already; \
                             decode the inputs into separate folders"
                                .into(),
                        ))
                    };
                    r.map_err(|e| (key, from, e))
                },
            )
            .collect();
        for r in results {
            match r {
                Ok(()) => ok += 1,
                Err((key, from, e)) => {
                    eprintln!(
                        "error: {}, key {key}: {}",
                        from.display(),
                        crate::describe(&e)
                    );
                    failed += 1;
                }
            }
        }
    })?;
    println!(
        "{ok} latents -> {} ({failed} failed), {:.2} s",
        output.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(failed)
}

fn verify(shards: &[PathBuf]) -> Result<usize> {
    let mut failed = 0;
    for path in shards {
        failed += list_shard(path, false)?;
    }
    Ok(failed)
}

/// One member of a shard as `info --json` lists it.
#[derive(serde::Serialize)]
struct MemberInfo<'a> {
    shard: &'a Path,
    key: &'a str,
    bytes: u64,
    /// `[C, h, w]`; absent for a damaged member.
    latent: Option<[usize; 3]>,
    dtype: Option<&'static str>,
    quality: Option<u8>,
    model: Option<String>,
    /// Why the member does not read, if it does not.
    error: Option<String>,
}

/// Lists a shard's members, checking each stream; returns how many are damaged.
pub(crate) fn list_shard(path: &Path, json: bool) -> Result<usize> {
    let mut shard = ShardReader::open(path, &Limits::default())?;
    let members = shard.members().to_vec();
    if !json {
        println!("{}: {} members", path.display(), members.len());
    }
    let mut failed = 0;
    for m in &members {
        let read = shard.stream(&m.key);
        let mut info = MemberInfo {
            shard: path,
            key: &m.key,
            bytes: m.len,
            latent: None,
            dtype: None,
            quality: None,
            model: None,
            error: None,
        };
        match &read {
            Ok(s) => {
                let h = s.header();
                info.latent = Some(h.latent_shape());
                info.dtype = Some(h.latent_dtype.map_or("f32", |d| d.name()));
                info.quality = Some(h.quant.quality);
                info.model = Some(h.source.model.name.clone()).filter(|n| !n.is_empty());
            }
            Err(e) => {
                info.error = Some(e.to_string());
                failed += 1;
            }
        }
        if json {
            println!("{}", serde_json::to_string(&info).unwrap_or_default());
            continue;
        }
        match (&info.error, info.latent) {
            (Some(e), _) => println!("  {:<24} DAMAGED: {e}", m.key),
            (None, Some(shape)) => println!(
                "  {:<24} {:>9} B  {shape:?} {}  quality {}{}",
                m.key,
                m.len,
                info.dtype.unwrap_or("f32"),
                info.quality.unwrap_or(0),
                info.model
                    .as_ref()
                    .map_or(String::new(), |n| format!("  model {n}"))
            ),
            (None, None) => {}
        }
    }
    Ok(failed)
}

fn eval(inputs: &[PathBuf], qualities: &[u8], chain: &LatentCodec) -> Result<usize> {
    let (files, _) = io::expand(inputs, LATENT_EXTS)?;
    let limits = Limits::default();
    let mut items = Vec::new();
    for f in &files {
        items.extend(items_of(f, &limits)?);
    }
    if items.is_empty() {
        return Err(Error::InvalidInput("no latents to evaluate".into()));
    }
    let values: usize = items.iter().map(|i| i.values.len()).sum();
    let channels: usize = items.iter().map(|i| i.shape[0]).sum();
    println!(
        "{} latents, {values} values; sizes in bytes (× smaller than f16 in brackets)",
        items.len()
    );
    println!(
        "{:>8} {:>11} {:>9} {:>11} {:>12} {:>10} {:>10} {:>12}",
        "quality", "bits/value", "SNR dB", "max error", "vaerans", "f32", "f16/bf16", "uint8/chan"
    );
    // Per-channel uint8: each channel's min and scale as two f32s, then a byte a value.
    let u8_bytes = values + channels * 8;
    for &q in qualities {
        let codec = LatentFileCodec::new(Fidelity::Quality(q)).with_chain(chain.clone());
        let coded: Vec<Result<Coded>> = items
            .par_iter()
            .map_init(
                || codec.clone(),
                |c, it| c.encode(&it.values, it.shape, it.dtype),
            )
            .collect();
        let (mut bytes, mut snr, mut max) = (0usize, 0.0f64, 0.0f32);
        for c in coded {
            let c = c?;
            bytes += c.stream.len();
            snr += c.snr_db.min(200.0);
            max = max.max(c.max_error);
        }
        println!(
            "{q:>8} {:>11.3} {:>9.2} {:>11.4} {:>12} {:>10} {:>10} {:>12}",
            bytes as f64 * 8.0 / values as f64,
            snr / items.len() as f64,
            max,
            format!("{bytes} ({:.1}×)", (values * 2) as f64 / bytes as f64),
            values * 4,
            values * 2,
            u8_bytes
        );
    }
    // What per-channel uint8 costs in fidelity, for the comparison.
    let (mut snr, mut max) = (0.0f64, 0.0f32);
    for it in &items {
        let back = uint8_round_trip(&it.values, it.shape[0]);
        let (m, s) = measure(&it.values, &back);
        snr += s.min(200.0);
        max = max.max(m);
    }
    println!(
        "per-channel uint8: {:.2} dB SNR, largest error {max:.4}",
        snr / items.len() as f64
    );
    Ok(0)
}

/// Per-channel min–max uint8 quantisation and back.
fn uint8_round_trip(values: &[f32], channels: usize) -> Vec<f32> {
    let per = values.len() / channels;
    values
        .chunks(per)
        .flat_map(|ch| {
            let lo = ch.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = ch.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
            ch.iter()
                .map(move |&v| ((v - lo) / scale).round() * scale + lo)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn extract(
    inputs: &[PathBuf],
    output: &Path,
    resize: Option<(u32, u32)>,
    dtype: &str,
    model: &ModelArgs,
) -> Result<usize> {
    let dtype = match dtype {
        "f32" => LatentDType::F32,
        "f16" => LatentDType::F16,
        "bf16" => LatentDType::Bf16,
        d => {
            return Err(Error::InvalidInput(format!(
                "`{d}` is not f32, f16 or bf16"
            )))
        }
    };
    let files = io::image_files(inputs)?;
    let codec = crate::cli::codec_builder(model, vaerans::vae::Config::load()?)?.build()?;
    let one_file = LatentFormat::of_path(output).ok();
    if one_file.is_none() {
        std::fs::create_dir_all(output).map_err(|e| Error::io(output, e))?;
    }
    let bar = io::progress(files.len(), false);
    let (mut all, mut shape, mut failed) = (Vec::new(), None, 0);
    for file in &files {
        let result = codec.open_image(file, model.alpha).and_then(|mut img| {
            if let Some((w, h)) = resize {
                img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Lanczos3);
            }
            let latent = codec.latent_of(&img)?;
            let values: Vec<f32> = latent.data().iter().map(|&v| dtype.round(v)).collect();
            LatentArray::new(values, latent.shape().to_vec(), dtype)
        });
        bar.inc(1);
        let latent = match result {
            Ok(l) => l,
            Err(e) => {
                io::fail(&bar, file, &e);
                failed += 1;
                continue;
            }
        };
        match one_file {
            Some(_) => {
                if *shape.get_or_insert(latent.latent_shape()) != latent.latent_shape() {
                    return Err(Error::InvalidInput(format!(
                        "{}: its latent {:?} differs from the first's {:?}; one file holds one \
                         shape (--resize, or a folder as the output)",
                        file.display(),
                        latent.latent_shape(),
                        shape.unwrap_or_default()
                    )));
                }
                // One file is built in memory: bounded like any array the library allocates.
                let limit = vaerans::Limits::default().max_alloc;
                if ((all.len() + latent.data().len()) as u64) * 4 > limit {
                    return Err(Error::LimitExceeded(format!(
                        "the latents of {} images exceed {} MiB in one file; write them to a \
                         folder (an output without .npy/.safetensors) and shard them with \
                         `latents encode`",
                        files.len(),
                        limit >> 20
                    )));
                }
                all.extend_from_slice(latent.data());
            }
            None => {
                let format = if dtype == LatentDType::Bf16 {
                    LatentFormat::Safetensors
                } else {
                    LatentFormat::Npy
                };
                let stem = key_of(&file.file_stem().unwrap_or_default().to_string_lossy());
                let path = output.join(format!("{stem}.{}", format.extension()));
                io::write_atomic(&path, |tmp| {
                    std::fs::write(tmp, latent.to_bytes(format)?).map_err(|e| Error::io(tmp, e))
                })?;
            }
        }
    }
    bar.finish_and_clear();
    if let (Some(format), Some(s)) = (one_file, shape) {
        let n = all.len() / s.iter().product::<usize>();
        let array = LatentArray::new(all, vec![n, s[0], s[1], s[2]], dtype)?;
        io::write_atomic(output, |tmp| {
            std::fs::write(tmp, array.to_bytes(format)?).map_err(|e| Error::io(tmp, e))
        })?;
    }
    println!(
        "{} latents -> {} ({failed} failed)",
        files.len() - failed,
        output.display()
    );
    Ok(failed)
}

/// The latents the benchmark reads: from `inputs`, else synthetic ones of `shape`.
fn bench_latents(inputs: &[PathBuf], shape: [usize; 3], count: usize) -> Result<Vec<Item>> {
    if inputs.is_empty() {
        return Ok((0..count)
            .map(|i| Item {
                key: format!("latent_{i:06}"),
                values: crate::bench::synthetic_latent(shape[0], shape[1], shape[2], i as u64 + 1)
                    .into_iter()
                    .map(|v| LatentDType::F16.round(v))
                    .collect(),
                shape,
                dtype: LatentDType::F16,
            })
            .collect());
    }
    let (files, _) = io::expand(inputs, LATENT_EXTS)?;
    let mut items = Vec::new();
    for f in &files {
        items.extend(items_of(f, &Limits::default())?);
    }
    let Some(first) = items.first().map(|i| i.shape) else {
        return Err(Error::InvalidInput("no latents to read".into()));
    };
    if items.iter().any(|i| i.shape != first) {
        return Err(Error::InvalidInput(
            "the benchmark's latents must share one shape".into(),
        ));
    }
    // Cycled up to `count`, each stored as f16, as caches keep them.
    Ok((0..count)
        .map(|i| {
            let it = &items[i % items.len()];
            Item {
                key: format!("latent_{i:06}"),
                values: it
                    .values
                    .iter()
                    .map(|&v| LatentDType::F16.round(v))
                    .collect(),
                shape: it.shape,
                dtype: LatentDType::F16,
            }
        })
        .collect())
}

/// One of the benchmark's readers: reads every latent, returns a checksum of what it read.
type Reader<'a> = Box<dyn Fn() -> Result<f64> + Sync + 'a>;

/// Drops `path`'s pages from the page cache, so the next read is cold (Linux; elsewhere the
/// "cold" column is what the cache leaves).
fn evict(path: &Path) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // Dirty pages stay cached: write them first.
    file.sync_all().map_err(|e| Error::io(path, e))?;
    #[cfg(target_os = "linux")]
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)
        .map_err(|e| Error::io(path, e.into()))?;
    drop(file);
    Ok(())
}

/// A scratch folder for the benchmark's files, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("vaerans-latents-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench(
    inputs: &[PathBuf],
    shape: [usize; 3],
    count: usize,
    quality: u8,
    entropy: Entropy,
    passes: usize,
) -> Result<usize> {
    if count == 0 || passes == 0 {
        return Err(Error::InvalidInput(
            "--count and --passes are at least 1".into(),
        ));
    }
    let items = bench_latents(inputs, shape, count)?;
    let shape = items[0].shape;
    let codec = LatentFileCodec::new(Fidelity::Quality(quality))
        .with_chain(LatentCodec::default().with_entropy(entropy.0));
    let dir = TempDir::new()?;
    let shard = dir.0.join("latents.tar");
    let coded: Vec<Coded> = items
        .par_iter()
        .map_init(
            || codec.clone(),
            |c, it| c.encode(&it.values, it.shape, it.dtype),
        )
        .collect::<Result<_>>()?;
    let mut writer = ShardWriter::create(&shard)?;
    let (mut npys, mut sts) = (Vec::new(), Vec::new());
    for (it, c) in items.iter().zip(&coded) {
        writer.append(&it.key, c.stream.as_bytes())?;
        let array = LatentArray::new(it.values.clone(), it.shape.to_vec(), it.dtype)?;
        for (format, list) in [
            (LatentFormat::Npy, &mut npys),
            (LatentFormat::Safetensors, &mut sts),
        ] {
            let p = dir.0.join(format!("{}.{}", it.key, format.extension()));
            std::fs::write(&p, array.to_bytes(format)?).map_err(|e| Error::io(&p, e))?;
            list.push(p);
        }
    }
    writer.finish()?;
    let stream_bytes: usize = coded.iter().map(|c| c.stream.len()).sum();
    let values = shape.iter().product::<usize>() * count;
    let mean_q = coded.iter().map(|c| f64::from(c.quality)).sum::<f64>() / count as f64;
    let snr = coded.iter().map(|c| c.snr_db.min(200.0)).sum::<f64>() / count as f64;
    println!(
        "{count} latents {}×{}×{} ({}), quality {mean_q:.0}: {:.3} bits a value, {snr:.2} dB \
         SNR; one thread",
        shape[0],
        shape[1],
        shape[2],
        if inputs.is_empty() {
            "synthetic"
        } else {
            "from the inputs"
        },
        stream_bytes as f64 * 8.0 / values as f64
    );
    println!(
        "{:<34} {:>12} {:>14} {:>14}",
        "reader", "bytes each", "warm latents/s", "cold latents/s"
    );
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .map_err(|e| Error::Internal(e.to_string()))?;
    let limits = Limits::default();
    // Each reader: read every latent into f32 values, summing one so nothing is skipped.
    let read_shard = || -> Result<f64> {
        let mut r = ShardReader::open(&shard, &limits)?;
        let mut sum = 0.0f64;
        for i in 0..r.members().len() {
            let s = codec.parse(r.read_at(i)?)?;
            sum += f64::from(codec.decode(&s)?.data()[0]);
        }
        Ok(sum)
    };
    let read_files = |files: &[PathBuf]| -> Result<f64> {
        let mut sum = 0.0f64;
        for p in files {
            sum += f64::from(LatentArray::read(p, &limits)?.data()[0]);
        }
        Ok(sum)
    };
    let in_memory: Vec<Vec<u8>> = coded.iter().map(|c| c.stream.as_bytes().to_vec()).collect();
    let decode_only = || -> Result<f64> {
        let mut sum = 0.0f64;
        for b in &in_memory {
            let s = codec.parse(b.clone())?;
            sum += f64::from(codec.decode(&s)?.data()[0]);
        }
        Ok(sum)
    };
    let file_size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let rows: [(&str, u64, Reader<'_>, Vec<PathBuf>); 4] = [
        (
            "vaerans shard (tar)",
            stream_bytes as u64 / count as u64,
            Box::new(read_shard),
            vec![shard.clone()],
        ),
        (
            "vaerans streams in memory",
            stream_bytes as u64 / count as u64,
            Box::new(decode_only),
            Vec::new(),
        ),
        (
            "f16 .npy files",
            file_size(&npys[0]),
            Box::new(|| read_files(&npys)),
            npys.clone(),
        ),
        (
            "f16 .safetensors files",
            file_size(&sts[0]),
            Box::new(|| read_files(&sts)),
            sts.clone(),
        ),
    ];
    for (name, bytes, read, files) in &rows {
        let timed = |cold: bool| -> Result<f64> {
            let mut best = f64::INFINITY;
            for _ in 0..passes {
                if cold {
                    for f in files {
                        evict(f)?;
                    }
                }
                let t = Instant::now();
                pool.install(read)?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            Ok(count as f64 / best)
        };
        let warm = timed(false)?;
        let cold = if files.is_empty() {
            "–".to_string()
        } else {
            format!("{:.0}", timed(true)?)
        };
        println!("{name:<34} {bytes:>12} {warm:>14.0} {cold:>14}");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of shards splits before a shard would pass its size, after its member count,
    /// and never leaves a shard empty.
    #[test]
    fn shards_split_by_count_and_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().join("s.tar");
        let member = vec![7u8; 3000]; // 512 + 3072 bytes in a shard
        let run = |split: Split, n: usize| -> Vec<usize> {
            let mut sink = Sink::Shards {
                writer: None,
                name: name.clone(),
                split,
                next: 0,
            };
            let mut paths = Vec::new();
            for i in 0..n {
                paths.push(sink.put(&format!("k{i}"), &member).unwrap());
            }
            sink.finish().unwrap();
            let mut counts = Vec::new();
            for (i, p) in paths.iter().enumerate() {
                if i == 0 || paths[i - 1] != *p {
                    counts.push(0);
                }
                *counts.last_mut().unwrap() += 1;
            }
            // Within the size, unless a member alone is larger.
            let mut shards = paths.clone();
            shards.dedup();
            for (p, &k) in shards.iter().zip(&counts) {
                let len = std::fs::metadata(p).unwrap().len();
                assert!(k == 1 || len <= split.bytes.unwrap_or(u64::MAX), "{len}");
            }
            counts
        };
        let by_count = Split {
            members: Some(3),
            bytes: None,
        };
        assert_eq!(run(by_count, 7), [3, 3, 1]);
        // 3584 bytes a member and 1024 of end blocks: four fit in 16 KiB.
        let by_size = Split {
            members: None,
            bytes: Some(16 << 10),
        };
        assert_eq!(run(by_size, 9), [4, 4, 1]);
        let both = Split {
            members: Some(2),
            bytes: Some(16 << 10),
        };
        assert_eq!(run(both, 5), [2, 2, 1]);
        // A member larger than the size still goes in, alone.
        let tiny = Split {
            members: None,
            bytes: Some(1000),
        };
        assert_eq!(run(tiny, 2), [1, 1]);
    }
}

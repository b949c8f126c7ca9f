//! `vaerans latents decode` and `verify`, and the shard listing of `vaerans info`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use vaerans::latent::bare::{Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentDType, LatentFormat};
use vaerans::latent::shard::ShardReader;
use vaerans::{Error, Limits, Result};

use super::*;
use crate::io;

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

pub(super) fn verify(shards: &[PathBuf]) -> Result<usize> {
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

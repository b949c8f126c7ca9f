//! `vaerans latents encode`: latent files into a folder of streams or a run of tar shards.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use vaerans::latent::bare::{Coded, LatentFileCodec};
use vaerans::latent::shard::{check_key, ShardWriter, EXTENSION};
use vaerans::{Error, Result};

use super::*;
use crate::io;

/// When a run of shards starts its next shard: after so many members, or before so many
/// bytes (neither: one shard).
#[derive(Clone, Copy)]
pub(super) struct Split {
    pub(super) members: Option<usize>,
    pub(super) bytes: Option<u64>,
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

pub(super) fn encode(
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

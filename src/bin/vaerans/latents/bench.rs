//! `vaerans latents bench`: latents/s decoding shards against reading raw `.npy` and
//! `.safetensors`, warm and cold.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use vaerans::latent::bare::{Coded, Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::latent::shard::{ShardReader, ShardWriter};
use vaerans::{Error, LatentCodec, Limits, Result};

use super::*;
use crate::cli::Entropy;
use crate::io;

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

pub(super) fn bench(
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

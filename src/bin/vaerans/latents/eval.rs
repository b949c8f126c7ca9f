//! `vaerans latents eval` (rate and error per quality, against raw storage) and `extract`
//! (latents from images through the model's encoder).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use vaerans::latent::bare::{measure, Coded, Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::{Error, LatentCodec, Limits, Result};

use super::*;
use crate::cli::ModelArgs;
use crate::io;

pub(super) fn eval(inputs: &[PathBuf], qualities: &[u8], chain: &LatentCodec) -> Result<usize> {
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

pub(super) fn extract(
    inputs: &[PathBuf],
    output: &Path,
    resize: Option<(u32, u32)>,
    dtype: &str,
    model: &ModelArgs,
) -> Result<usize> {
    let dtype = LatentDType::named(dtype)?;
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

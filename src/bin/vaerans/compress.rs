//! `vaerans compress`: images to streams, in batches.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use vaerans::vae::Config;
use vaerans::{Error, RawImage, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{finish_file, plan, progress, write_atomic, IMAGE_EXTS};
use crate::trace::print_trace;

pub(crate) fn compress(
    inputs: &[PathBuf],
    output: &Path,
    quality: u8,
    args: &ModelArgs,
) -> Result<usize> {
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
            let result = img.as_ref().map_err(Clone::clone).and_then(|img| {
                let bytes = streams.next().unwrap_or_else(|| {
                    Err(Error::Internal(
                        "the codec returned fewer streams than images".into(),
                    ))
                })?;
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

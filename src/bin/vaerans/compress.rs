//! `vaerans compress`: images to streams, pipelined (or one batch at a time).

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;
use vaerans::vae::Config;
use vaerans::{Alpha, Error, RawImage, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{
    create_output_dirs, finish_file, plan, progress, summary, write_atomic, How, Pace, IMAGE_EXTS,
};
use crate::trace::print_trace;

/// One file to compress: its input, its output, and its pixels once loaded (for bpp).
struct Job {
    input: PathBuf,
    output: PathBuf,
    pixels: OnceLock<f64>,
}

pub(crate) fn compress(
    inputs: &[PathBuf],
    output: &Path,
    quality: u8,
    args: &ModelArgs,
) -> Result<usize> {
    let pairs = plan(inputs, output, IMAGE_EXTS, "vaer")?;
    let codec = codec_builder(args, Config::load()?)?
        .quality(quality)
        .build()?;
    codec.set_profiling(args.trace);
    create_output_dirs(&pairs)?;
    let n = pairs.len();
    let bar = progress(n, args.json);
    let mut failed = 0;
    let start = Instant::now();
    let jobs = pairs.into_iter().map(|(input, output)| Job {
        input,
        output,
        pixels: OnceLock::new(),
    });
    let how = if args.one_batch_at_a_time {
        let batch = args.batch_at_a_time();
        let jobs: Vec<Job> = jobs.collect();
        for chunk in jobs.chunks(batch) {
            let mut pace = Pace::start();
            let loaded: Vec<Result<image::RgbImage>> = chunk
                .par_iter()
                .map(|j| load(&codec, j, args.alpha))
                .collect();
            let raws: Vec<RawImage<'_>> = loaded
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(RawImage::from)
                .collect();
            let mut streams = codec.compress_raw(&raws).into_iter();
            let results = loaded.iter().map(|img| {
                img.as_ref().map_err(Clone::clone).and_then(|_| {
                    streams.next().unwrap_or_else(|| {
                        Err(Error::Internal(
                            "the codec returned fewer streams than images".into(),
                        ))
                    })
                })
            });
            let done: Vec<(&Job, Result<Vec<u8>>)> = chunk.iter().zip(results).collect();
            write(&done, &mut pace, &bar, args.json, &mut failed);
        }
        How::OneBatchAtATime(batch)
    } else {
        let mut pace = Pace::start();
        let report = codec.compress_each(
            jobs,
            |j| load(&codec, j, args.alpha),
            args.pipeline(),
            |done| {
                write(&done, &mut pace, &bar, args.json, &mut failed);
            },
        )?;
        How::Pipelined(report)
    };
    bar.finish_and_clear();
    summary("compressed", n, start.elapsed(), &how);
    if args.trace {
        print_trace(codec.take_trace());
    }
    Ok(failed)
}

/// Loads one input as RGB8 (see [`vaerans::Codec::open_image`]: an image too large for the
/// codec's memory budget is refused before it is decoded), noting its pixels.
fn load(codec: &vaerans::Codec, job: &Job, alpha: Alpha) -> Result<image::RgbImage> {
    let img = codec.open_image(&job.input, alpha)?;
    let _ = job.pixels.set(img.width() as f64 * img.height() as f64);
    Ok(img)
}

/// Writes one batch's streams and reports each file, in order.
fn write<J: Borrow<Job> + Sync>(
    done: &[(J, Result<Vec<u8>>)],
    pace: &mut Pace,
    bar: &indicatif::ProgressBar,
    json: bool,
    failed: &mut usize,
) {
    let written: Vec<Result<(usize, f64)>> = done
        .par_iter()
        .map(|(job, r)| {
            let job = job.borrow();
            let bytes = r.as_ref().map_err(Clone::clone)?;
            write_atomic(&job.output, |tmp| {
                std::fs::write(tmp, bytes).map_err(|e| Error::io(tmp, e))
            })?;
            Ok((bytes.len(), job.pixels.get().copied().unwrap_or(f64::NAN)))
        })
        .collect();
    let share = pace.share(done.len());
    for ((job, _), result) in done.iter().zip(written) {
        let job = job.borrow();
        finish_file(bar, json, (&job.input, &job.output), result, share, failed);
    }
}

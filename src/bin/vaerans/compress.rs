//! `vaerans compress`: images to streams, pipelined (or one batch at a time).

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use rayon::prelude::*;
use vaerans::vae::Config;
use vaerans::{Alpha, Error, RateTarget, RawImage, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{
    create_output_dirs, finish_file, plan, progress, report, summary, write_atomic, FileReport,
    How, Pace, TargetReport, IMAGE_EXTS,
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
    target: Option<RateTarget>,
    args: &ModelArgs,
) -> Result<usize> {
    let pairs = plan(inputs, output, IMAGE_EXTS, "vaer")?;
    if target.is_some() && (args.residual_quality.is_some() || args.no_residual) {
        return Err(Error::InvalidInput(
            "a rate target searches the quality knob over both layers; drop \
             --residual-quality/--no-residual"
                .into(),
        ));
    }
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
    let how = if let Some(target) = target {
        // Each image searched on its own: a few encodes an image.
        for job in jobs {
            let t = Instant::now();
            let reached = load(&codec, &job, args.alpha)
                .and_then(|img| codec.compress_to(&img, target))
                .and_then(|r| {
                    write_atomic(&job.output, |tmp| {
                        std::fs::write(tmp, &r.stream).map_err(|e| Error::io(tmp, e))
                    })?;
                    Ok(r)
                });
            report_target(
                &bar,
                args.json,
                &job,
                reached,
                t.elapsed().as_secs_f64(),
                &mut failed,
            );
        }
        How::Searched
    } else if args.one_batch_at_a_time {
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

/// Reports a file compressed to a rate target, saying so when the target was out of reach.
fn report_target(
    bar: &indicatif::ProgressBar,
    json: bool,
    job: &Job,
    reached: Result<vaerans::Reached>,
    seconds: f64,
    failed: &mut usize,
) {
    let r = match reached {
        Ok(r) => r,
        Err(e) => {
            return finish_file(
                bar,
                json,
                (&job.input, &job.output),
                Err(e),
                seconds,
                failed,
            )
        }
    };
    report(
        bar,
        json,
        &FileReport {
            input: &job.input,
            output: &job.output,
            bytes: r.stream.len(),
            bpp: r.bpp,
            seconds,
            target: Some(TargetReport {
                quality: r.quality,
                base_quality: r.base_quality,
                residual_quality: r.residual_quality,
                target_bytes: r.target_bytes,
                within: r.within,
            }),
        },
    );
    if !r.within {
        bar.suspend(|| {
            eprintln!(
                "warning: {}: {} bytes is the nearest to the target's {:.0} (quality {})",
                job.input.display(),
                r.stream.len(),
                r.target_bytes,
                r.quality
            )
        });
    }
    bar.inc(1);
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

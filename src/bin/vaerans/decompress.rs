//! `vaerans decompress`: streams to PNG images, each with the model it names (or `--model`),
//! pipelined (or one batch at a time).

use std::borrow::Borrow;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use image::RgbImage;
use rayon::prelude::*;
use vaerans::vae::Config;
use vaerans::{AnsBitstream, Codec, Decoders, Error, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{
    create_output_dirs, finish_file, plan, progress, summary, write_atomic, How, Pace, STREAM_EXTS,
};
use crate::trace::print_trace;

/// One file to decompress: its input, its output, and its stream's length once read (for bpp).
struct Job {
    input: PathBuf,
    output: PathBuf,
    bytes: OnceLock<usize>,
}

pub(crate) fn decompress(inputs: &[PathBuf], output: &Path, args: &ModelArgs) -> Result<usize> {
    let pairs = plan(inputs, output, STREAM_EXTS, "png")?;
    // The builder's model is `--model` when given; otherwise each stream's own is opened.
    let mut decoders = Decoders::new(codec_builder(args, Config::load()?)?);
    decoders.set_profiling(args.trace);
    create_output_dirs(&pairs)?;
    let n = pairs.len();
    let bar = progress(n, args.json);
    let mut failed = 0;
    let start = Instant::now();
    let jobs = pairs.into_iter().map(|(input, output)| Job {
        input,
        output,
        bytes: OnceLock::new(),
    });
    let how = if args.one_batch_at_a_time {
        let batch = args.batch_at_a_time();
        let jobs: Vec<Job> = jobs.collect();
        for chunk in jobs.chunks(batch) {
            let mut pace = Pace::start();
            let opened = decoders.time_opening();
            let read: Vec<Result<AnsBitstream>> =
                chunk.iter().map(|job| decoders.parse(load(job)?)).collect();
            let results = decoders.decompress_parsed(read);
            // Opening a model is a one-off cost, not the files'.
            pace.skip(decoders.time_opening() - opened);
            let done: Vec<(&Job, Result<RgbImage>)> = chunk.iter().zip(results).collect();
            write(&done, &mut pace, &bar, args.json, &mut failed);
        }
        How::OneBatchAtATime(batch)
    } else {
        let mut pace = Pace::start();
        let report = decoders.decompress_each(jobs, load, args.pipeline(), |done| {
            write(&done, &mut pace, &bar, args.json, &mut failed);
        })?;
        How::Pipelined(report)
    };
    bar.finish_and_clear();
    summary("decompressed", n, start.elapsed(), &how);
    if args.trace {
        print_trace(decoders.codecs().flat_map(Codec::take_trace).collect());
    }
    Ok(failed)
}

/// Reads one stream file, noting its length.
fn load(job: &Job) -> Result<Vec<u8>> {
    let bytes = std::fs::read(&job.input).map_err(|e| Error::io(&job.input, e))?;
    let _ = job.bytes.set(bytes.len());
    Ok(bytes)
}

/// Writes one batch's images as PNG (several at once) and reports each file, in order.
fn write<J: Borrow<Job> + Sync>(
    done: &[(J, Result<RgbImage>)],
    pace: &mut Pace,
    bar: &indicatif::ProgressBar,
    json: bool,
    failed: &mut usize,
) {
    let written: Vec<Result<(usize, f64)>> = done
        .par_iter()
        .map(|(job, r)| {
            let job = job.borrow();
            let img = r.as_ref().map_err(Clone::clone)?;
            write_atomic(&job.output, |tmp| {
                img.save_with_format(tmp, image::ImageFormat::Png)
                    .map_err(|e| Error::Image(format!("{}: {e}", tmp.display())))
            })?;
            let n = job.bytes.get().copied().unwrap_or(0);
            Ok((n, img.width() as f64 * img.height() as f64))
        })
        .collect();
    let share = pace.share(done.len());
    for ((job, _), result) in done.iter().zip(written) {
        let job = job.borrow();
        finish_file(bar, json, (&job.input, &job.output), result, share, failed);
    }
}

//! `vaerans decompress`: streams to PNG images, each with the model it names (or `--model`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use vaerans::vae::Config;
use vaerans::{AnsBitstream, Codec, Decoders, Error, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{finish_file, plan, progress, write_atomic, STREAM_EXTS};
use crate::trace::print_trace;

pub(crate) fn decompress(inputs: &[PathBuf], output: &Path, args: &ModelArgs) -> Result<usize> {
    let pairs = plan(inputs, output, STREAM_EXTS, "png")?;
    // The builder's model is `--model` when given; otherwise each stream's own is opened.
    let mut decoders = Decoders::new(codec_builder(args, Config::load()?));
    decoders.set_profiling(args.trace);
    let bar = progress(pairs.len(), args.json);
    let mut failed = 0;
    for chunk in pairs.chunks(args.batch.max(1)) {
        let start = Instant::now();
        let opened = decoders.time_opening();
        let read: Vec<Result<AnsBitstream>> = chunk
            .iter()
            .map(|(i, _)| decoders.parse(std::fs::read(i).map_err(|e| Error::io(i, e))?))
            .collect();
        let sizes: Vec<usize> = read
            .iter()
            .map(|r| r.as_ref().map_or(0, AnsBitstream::len))
            .collect();
        let results = decoders.decompress_parsed(read);
        // Opening a model is a one-off cost, not the files'.
        let opening = decoders.time_opening() - opened;
        let share = start.elapsed().saturating_sub(opening).as_secs_f64() / chunk.len() as f64;
        for (((input, out), r), n) in chunk.iter().zip(results).zip(sizes) {
            let result = r.and_then(|img| {
                write_atomic(out, |tmp| {
                    img.save_with_format(tmp, image::ImageFormat::Png)
                        .map_err(|e| Error::Image(format!("{}: {e}", tmp.display())))
                })?;
                Ok((n, img.width() as f64 * img.height() as f64))
            });
            finish_file(&bar, args.json, (input, out), result, share, &mut failed);
        }
    }
    bar.finish_and_clear();
    if args.trace {
        print_trace(decoders.codecs().flat_map(Codec::take_trace).collect());
    }
    Ok(failed)
}

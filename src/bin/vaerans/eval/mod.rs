//! `vaerans eval`: the VAE alone and the codec at every quality on a set of images, against the
//! classical baselines; the tables on stdout and results.json, results.csv and report.html.

pub(crate) mod analysis;
pub(crate) mod baselines;
mod print;
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use vaerans::metrics::Metrics;
use vaerans::vae::Config;
use vaerans::{Codec, Error, Result};

use crate::cli::{codec_builder, ModelArgs};
use crate::io::{fail, image_files, progress, write_atomic};
use crate::trace::print_trace;
use analysis::{bd_rate_vs, matched_rates, mean_curves, ms_ssim_db, BdRate, Curve, Matched};
use print::{print_curves, print_eval_table, print_matched};

#[derive(Serialize, Clone)]
pub(crate) struct EvalRow {
    /// `vaerans` or a baseline's name.
    pub(crate) codec: String,
    pub(crate) image: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// `vae` (the model alone, no quantisation) or `q<quality>`.
    pub(crate) setting: String,
    pub(crate) bytes: Option<usize>,
    pub(crate) bpp: Option<f64>,
    pub(crate) psnr: f64,
    /// SSIM (11×11 Gaussian window, σ 1.5), RGB mean.
    pub(crate) ssim: Option<f64>,
    /// MS-SSIM (five scales), RGB mean; absent below 161 pixels a side.
    pub(crate) ms_ssim: Option<f64>,
    pub(crate) encode_seconds: f64,
    pub(crate) decode_seconds: f64,
}

/// The codec name of a layered stream's base layer decoded alone.
pub(crate) const BASE_ONLY: &str = "vaerans-base";

pub(crate) fn eval(
    inputs: &[PathBuf],
    qualities: &[u8],
    baselines: &[baselines::Baseline],
    out_dir: Option<&Path>,
    args: &ModelArgs,
) -> Result<usize> {
    for &q in qualities {
        vaerans::latent::quantize::check_quality(q)?;
    }
    for b in baselines {
        b.check_available()?;
    }
    let files = image_files(inputs)?;
    let first = codec_builder(args, Config::load()?)?.build()?;
    let vae = first.vae().clone();
    let codecs: Vec<Codec> = qualities
        .iter()
        .map(|&q| {
            let builder = Codec::builder()
                .vae(vae.clone())
                .quality(q)
                .allocation(
                    first.latent().allocation().clone(),
                    first.latent().transform(),
                )
                .entropy(first.latent().entropy())
                .device(first.device());
            // Layers set on the command line hold at every quality; else each is the knob's.
            let builder = if args.residual_quality.is_some() || args.no_residual {
                builder.residual(first.residual().copied())
            } else {
                builder
            };
            #[cfg(feature = "gpu")]
            let builder = match first.gpu_context() {
                Some(ctx) => builder.gpu_context(ctx.clone()),
                None => builder,
            };
            builder.build()
        })
        .collect::<Result<_>>()?;
    for c in &codecs {
        c.set_profiling(args.trace);
    }
    let bar = progress(files.len(), args.json);
    let mut rows: Vec<EvalRow> = Vec::new();
    let mut failed = 0;
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        bar.set_message(name.clone());
        let result = (|| -> Result<Vec<EvalRow>> {
            let img = vaerans::open_image(path, args.alpha)?;
            let (w, h) = img.dimensions();
            let measure = |b: &image::RgbImage| Metrics::of_rgb8(img.as_raw(), b.as_raw(), w, h);
            let row = |codec: &str, setting, bytes: Option<usize>, m: Metrics, enc, dec| EvalRow {
                codec: codec.into(),
                image: name.clone(),
                width: w,
                height: h,
                setting,
                bytes,
                bpp: bytes.map(|b| b as f64 * 8.0 / (f64::from(w) * f64::from(h))),
                psnr: m.psnr,
                ssim: m.ssim,
                ms_ssim: m.ms_ssim,
                encode_seconds: enc,
                decode_seconds: dec,
            };
            let mut out = Vec::new();
            let t = Instant::now();
            let recon = first.vae_round_trip(&img)?;
            let vae_seconds = t.elapsed().as_secs_f64();
            let m = measure(&recon)?;
            out.push(row("vaerans", "vae".into(), None, m, vae_seconds, 0.0));
            for codec in &codecs {
                let t = Instant::now();
                let stream = codec.compress(&img)?;
                let enc = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let back = codec.decompress(&stream)?;
                let dec = t.elapsed().as_secs_f64();
                let m = measure(&back)?;
                let setting = format!("q{}", codec.quality());
                // A layered stream's base layer alone: the base-only curve beside the full one.
                let parsed = vaerans::AnsBitstream::parse(stream.clone(), codec.limits())?;
                if parsed.enhancement().is_some() {
                    let base = parsed.without_enhancement();
                    let t = Instant::now();
                    let only = codec.decompress(base.as_bytes())?;
                    let dec = t.elapsed().as_secs_f64();
                    let m = measure(&only)?;
                    out.push(row(
                        BASE_ONLY,
                        setting.clone(),
                        Some(base.len()),
                        m,
                        0.0,
                        dec,
                    ));
                }
                out.push(row("vaerans", setting, Some(stream.len()), m, enc, dec));
            }
            'baselines: for b in baselines {
                for &q in b.qualities() {
                    let rt = match b.round_trip(&img, q) {
                        Ok(rt) => rt,
                        // A baseline that cannot code this image leaves vaerans' rows alone.
                        Err(e @ Error::InvalidInput(_)) => {
                            tracing::warn!("{name}: {} skipped: {e}", b.name());
                            continue 'baselines;
                        }
                        Err(e) => return Err(e),
                    };
                    let m = measure(&rt.decoded)?;
                    out.push(row(
                        b.name(),
                        format!("q{q}"),
                        Some(rt.bytes),
                        m,
                        rt.encode_seconds,
                        rt.decode_seconds,
                    ));
                }
            }
            Ok(out)
        })();
        match result {
            Ok(r) => {
                if args.json {
                    for row in &r {
                        let line = serde_json::to_string(row).unwrap_or_default();
                        bar.suspend(|| println!("{line}"));
                    }
                }
                rows.extend(r);
            }
            Err(e) => {
                failed += 1;
                fail(&bar, path, &e);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let curves = mean_curves(&rows);
    let bd: Vec<BdRate> = baselines
        .iter()
        .map(|b| BdRate {
            baseline: b.name().to_string(),
            psnr: bd_rate_vs(&curves, b.name(), |c| Some(c.psnr)),
            ms_ssim: bd_rate_vs(&curves, b.name(), |c| c.ms_ssim.map(ms_ssim_db)),
        })
        .collect();
    let matched = matched_rates(&curves);
    if !args.json {
        let ours: Vec<EvalRow> = rows
            .iter()
            .filter(|r| r.codec == "vaerans")
            .cloned()
            .collect();
        print_eval_table(&ours, qualities, &vae.id().name);
        print_curves(&curves, &bd);
        print_matched(&matched);
    }
    if let Some(dir) = out_dir {
        #[cfg(feature = "gpu")]
        let device = first.gpu_context().map_or("cpu".to_string(), |c| {
            format!("gpu: {}", c.adapter_description())
        });
        #[cfg(not(feature = "gpu"))]
        let device = "cpu".to_string();
        let report = EvalReport {
            rows: &rows,
            curves: &curves,
            bd: &bd,
            matched: &matched,
            model: &vae.id().name,
            device: &device,
            baselines: &baselines
                .iter()
                .map(|b| (b.name().to_string(), b.describe()))
                .collect::<Vec<_>>(),
        };
        write_eval_report(dir, &report)?;
        if !args.json {
            println!(
                "wrote results.json, results.csv and report.html to {}",
                dir.display()
            );
        }
    }
    if args.trace {
        print_trace(codecs.iter().flat_map(Codec::take_trace).collect());
    }
    Ok(failed)
}

/// The machine an evaluation ran on, for reports.
#[derive(Serialize)]
pub(crate) struct Machine {
    pub(crate) os: &'static str,
    pub(crate) arch: &'static str,
    pub(crate) cpu: String,
    pub(crate) threads: usize,
}

pub(crate) fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Machine {
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
        cpu,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// What `eval --out` writes.
pub(crate) struct EvalReport<'a> {
    rows: &'a [EvalRow],
    curves: &'a [Curve],
    bd: &'a [BdRate],
    matched: &'a [Matched],
    model: &'a str,
    device: &'a str,
    /// Each baseline's name and what it is.
    baselines: &'a [(String, String)],
}

/// Writes `contents` to `dir/name` atomically.
pub(crate) fn write_file(dir: &Path, name: &str, contents: &str) -> Result<()> {
    write_atomic(&dir.join(name), |tmp| {
        std::fs::write(tmp, contents).map_err(|e| Error::io(tmp, e))
    })
}

/// Writes results.json, results.csv and report.html into `dir` (created if missing), each
/// atomically.
pub(crate) fn write_eval_report(dir: &Path, r: &EvalReport<'_>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let machine = machine();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let json_bd = |f: &dyn Fn(&BdRate) -> Option<f64>| -> BTreeMap<&str, Option<f64>> {
        r.bd.iter().map(|b| (b.baseline.as_str(), f(b))).collect()
    };
    let report = serde_json::json!({
        "model": r.model,
        "device": r.device,
        "machine": &machine,
        "command": &command,
        "baselines": r.baselines.iter().cloned().collect::<BTreeMap<_, _>>(),
        "bd_rate_psnr_percent_vs": json_bd(&|b| b.psnr.as_ref().ok().copied()),
        "bd_rate_ms_ssim_percent_vs": json_bd(&|b| b.ms_ssim.as_ref().ok().copied()),
        "matched_rate": r.matched,
        "curves": r.curves,
        "rows": r.rows,
    });
    let json = serde_json::to_string_pretty(&report)
        .map_err(|e| Error::InvalidInput(format!("report: {e}")))?;
    write_file(dir, "results.json", &json)?;
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
    let mut csv = String::from(
        "codec,image,width,height,setting,bytes,bpp,psnr,ssim,ms_ssim,encode_seconds,decode_seconds\n",
    );
    for row in r.rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{:.6},{},{},{:.6},{:.6}\n",
            row.codec,
            row.image.replace(',', "_"),
            row.width,
            row.height,
            row.setting,
            row.bytes.map_or(String::new(), |b| b.to_string()),
            opt(row.bpp),
            row.psnr,
            opt(row.ssim),
            opt(row.ms_ssim),
            row.encode_seconds,
            row.decode_seconds
        ));
    }
    write_file(dir, "results.csv", &csv)?;
    let bd: Vec<(String, Option<f64>, Option<f64>)> =
        r.bd.iter()
            .map(|b| {
                (
                    b.baseline.clone(),
                    b.psnr.as_ref().ok().copied(),
                    b.ms_ssim.as_ref().ok().copied(),
                )
            })
            .collect();
    let html = report::html(&report::Report {
        rows: r.rows,
        curves: r.curves,
        bd: &bd,
        matched: r.matched,
        model: r.model,
        device: r.device,
        machine: &machine,
        command: &command,
        baselines: r.baselines,
    })?;
    write_file(dir, "report.html", &html)
}

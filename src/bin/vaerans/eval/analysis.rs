//! What `eval` derives from its rows: the mean curves, BD-rates against each baseline, and every
//! vaerans setting beside the baselines at the same rate.

use serde::Serialize;
use vaerans::{Error, Result};

use super::EvalRow;

/// The distinct names of `names`, in the order they first appear.
pub(crate) fn first_seen<'a>(names: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

/// One codec setting's means over the images.
#[derive(Serialize, Clone)]
pub(crate) struct Curve {
    pub(crate) codec: String,
    pub(crate) setting: String,
    pub(crate) images: usize,
    pub(crate) bpp: f64,
    pub(crate) psnr: f64,
    pub(crate) ms_ssim: Option<f64>,
    pub(crate) encode_seconds: f64,
    pub(crate) decode_seconds: f64,
}

/// Means per (codec, setting), in first-seen order; the model-only `vae` rows are left out.
pub(crate) fn mean_curves(rows: &[EvalRow]) -> Vec<Curve> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.codec.clone(), r.setting.clone());
        if r.bpp.is_some() && !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|(codec, setting)| {
            let sel: Vec<&EvalRow> = rows
                .iter()
                .filter(|r| r.codec == codec && r.setting == setting)
                .collect();
            let n = sel.len() as f64;
            let mean = |f: &dyn Fn(&EvalRow) -> f64| sel.iter().map(|r| f(r)).sum::<f64>() / n;
            let ms: Vec<f64> = sel.iter().filter_map(|r| r.ms_ssim).collect();
            Curve {
                images: sel.len(),
                bpp: mean(&|r| r.bpp.unwrap_or(0.0)),
                psnr: mean(&|r| r.psnr),
                ms_ssim: (ms.len() == sel.len()).then(|| ms.iter().sum::<f64>() / n),
                encode_seconds: mean(&|r| r.encode_seconds),
                decode_seconds: mean(&|r| r.decode_seconds),
                codec,
                setting,
            }
        })
        .collect()
}

/// BD-rate of vaerans against one baseline, on the mean curves.
pub(crate) struct BdRate {
    pub(crate) baseline: String,
    /// On PSNR.
    pub(crate) psnr: Result<f64>,
    /// On MS-SSIM in dB ([`ms_ssim_db`]).
    pub(crate) ms_ssim: Result<f64>,
}

/// MS-SSIM on a dB scale, −10·log10(1 − MS-SSIM), so BD-rate's cubic fit sees a quality axis
/// that does not saturate at 1.
pub(crate) fn ms_ssim_db(m: f64) -> f64 {
    -10.0 * (1.0 - m).max(1e-12).log10()
}

/// BD-rate of vaerans against `baseline` on the quality `metric`, on the mean curves.
pub(crate) fn bd_rate_vs(
    curves: &[Curve],
    baseline: &str,
    metric: impl Fn(&Curve) -> Option<f64>,
) -> Result<f64> {
    let points = |codec: &str| -> Result<Vec<(f64, f64)>> {
        curves
            .iter()
            .filter(|c| c.codec == codec)
            .map(|c| {
                metric(c).map(|q| (c.bpp, q)).ok_or_else(|| {
                    Error::InvalidInput(format!("{codec} {} lacks the metric", c.setting))
                })
            })
            .collect()
    };
    vaerans::metrics::bd_rate(&points(baseline)?, &points("vaerans")?)
}

/// One vaerans setting beside the baselines at the same rate.
#[derive(Serialize, Clone)]
pub(crate) struct Matched {
    pub(crate) setting: String,
    pub(crate) bpp: f64,
    pub(crate) psnr: f64,
    pub(crate) ms_ssim: Option<f64>,
    pub(crate) baselines: Vec<MatchedBaseline>,
}

/// A baseline's mean curve read at a vaerans rate.
#[derive(Serialize, Clone)]
pub(crate) struct MatchedBaseline {
    pub(crate) codec: String,
    pub(crate) psnr: Option<f64>,
    pub(crate) ms_ssim: Option<f64>,
}

/// `points` (rate, value) read at `bpp`, linear in log rate between the two neighbouring
/// points; `None` outside the points' range.
pub(crate) fn interpolate(points: &[(f64, f64)], bpp: f64) -> Option<f64> {
    let mut p: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(r, v)| *r > 0.0 && v.is_finite())
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.windows(2).find_map(|w| {
        let ((r0, v0), (r1, v1)) = (w[0], w[1]);
        (r0..=r1).contains(&bpp).then(|| {
            if r1 == r0 {
                v0
            } else {
                let t = (bpp.ln() - r0.ln()) / (r1.ln() - r0.ln());
                v0 + t * (v1 - v0)
            }
        })
    })
}

/// Every vaerans setting with each baseline's PSNR and MS-SSIM at the same mean rate.
pub(crate) fn matched_rates(curves: &[Curve]) -> Vec<Matched> {
    let baselines = first_seen(
        curves
            .iter()
            .map(|c| c.codec.as_str())
            .filter(|&c| c != "vaerans" && c != super::BASE_ONLY),
    );
    if baselines.is_empty() {
        return Vec::new();
    }
    let points = |codec: &str, metric: &dyn Fn(&Curve) -> Option<f64>| -> Vec<(f64, f64)> {
        curves
            .iter()
            .filter(|c| c.codec == codec)
            .filter_map(|c| metric(c).map(|v| (c.bpp, v)))
            .collect()
    };
    curves
        .iter()
        .filter(|c| c.codec == "vaerans")
        .map(|c| Matched {
            setting: c.setting.clone(),
            bpp: c.bpp,
            psnr: c.psnr,
            ms_ssim: c.ms_ssim,
            baselines: baselines
                .iter()
                .map(|&b| MatchedBaseline {
                    codec: b.to_string(),
                    psnr: interpolate(&points(b, &|c| Some(c.psnr)), c.bpp),
                    ms_ssim: interpolate(&points(b, &|c| c.ms_ssim), c.bpp),
                })
                .collect(),
        })
        .collect()
}

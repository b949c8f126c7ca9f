//! The quantiser's maths, the definition the GPU kernels (`shaders/quantize.wgsl`,
//! `shaders/dequantize.wgsl`) match.
//!
//! For each channel and band: the step is `base_step(quality) / sqrt(gain)` (the band's synthesis
//! energy gain, so every band contributes equally to the reconstruction error per unit step),
//! rounded to a *step code*: an 8-bit minifloat whose value is built from its bits, so encoder and
//! decoder (and the GPU) agree on the exact f32 step. If the band's range does not fit in 255
//! symbols at that step, the step grows until it does: no coefficient is ever clipped.
//!
//! `q = floor(v / step + ½)`, except that a detail band's coefficient within
//! [`ZERO_ZONE`] steps of zero is 0 (a dead zone); `symbol = q − center + 128` with
//! `center = floor((q_min + q_max)/2)`, and back: `v' = (symbol − 128 + center) · step`. Step
//! codes and centers are written to the stream, so decoding never recomputes a float
//! parameter, and the dead zone is the encoder's choice alone.

use super::StepAllocation;
use crate::components::BandQuant;
use crate::error::{Error, Result};
use crate::layout::{Band, Orientation, Wavelet};

/// Lowest quality.
pub const MIN_QUALITY: u8 = 1;
/// Highest quality.
pub const MAX_QUALITY: u8 = 100;
/// Default quality.
pub const DEFAULT_QUALITY: u8 = 75;

/// Largest `|center|`: keeps `symbol − 128 + center` exact in f32.
pub(crate) const MAX_CENTER: i64 = 1 << 22;

impl BandQuant {
    /// The exact step.
    pub fn step(&self) -> f32 {
        step_from_code(self.step_code)
    }
}

/// `quality` when it is in `MIN_QUALITY..=MAX_QUALITY`, else the error every caller reports:
/// the one check of the quality knob.
pub fn check_quality(quality: u8) -> Result<u8> {
    if (MIN_QUALITY..=MAX_QUALITY).contains(&quality) {
        Ok(quality)
    } else {
        Err(Error::InvalidInput(format!(
            "quality {quality} is outside {MIN_QUALITY}..={MAX_QUALITY}"
        )))
    }
}

/// The base quantiser step for a quality in `1..=100`: halves every 12.5 quality points,
/// `0.02` at 100, `0.32` at 50, `~4.6` at 1. Strictly decreasing, so rate rises and distortion
/// falls with quality.
pub(crate) fn base_step(quality: u8) -> f32 {
    0.02 * ((100.0 - f32::from(quality)) / 12.5).exp2()
}

/// The exact step of a code: `2^(e − 16) · (1 + m/8)` with `e = code >> 3`, `m = code & 7`
/// (so steps run from `2^-16` to `1.875 · 2^15` in eighth-octave-ish increments). Built from
/// bits, so it is the same f32 on every machine.
pub fn step_from_code(code: u8) -> f32 {
    let e = u32::from(code >> 3);
    let m = u32::from(code & 7);
    f32::from_bits(((e + 127 - 16) << 23) | (m << 20))
}

/// The code whose step is nearest to `step` (ties and out-of-range values clamp).
pub(crate) fn code_for_step(step: f32) -> u8 {
    if step.is_nan() || step <= step_from_code(0) {
        return 0;
    }
    if step >= step_from_code(255) {
        return 255;
    }
    let e = step.log2().floor();
    let m = ((step / e.exp2() - 1.0) * 8.0).round();
    let code = ((e + 16.0) * 8.0 + m).clamp(0.0, 255.0);
    code as u8
}

/// Bits of the f32 reciprocals of the step mantissas `1 + m/8`, `m = 0..8` (each the correctly
/// rounded `1.0f32 / (1.0 + m / 8.0)`). `shaders/quantize.wgsl` holds the same table.
pub(crate) const INV_MANTISSA_BITS: [u32; 8] = [
    0x3f80_0000,
    0x3f63_8e39,
    0x3f4c_cccd,
    0x3f3a_2e8c,
    0x3f2a_aaab,
    0x3f1d_89d9,
    0x3f12_4925,
    0x3f08_8889,
];

/// The f32 reciprocal of a code's step, built from bits like the step itself: `2^(16 − e)`
/// times the reciprocal of the mantissa, a product by a power of two and so exact.
///
/// Quantisation multiplies by this instead of dividing by the step: WGSL only promises 2.5 ULP
/// for division, but a correctly rounded product, so the GPU kernel and this reference compute
/// the same `v · (1/step)`.
pub(crate) fn inv_step_from_code(code: u8) -> f32 {
    let e = u32::from(code >> 3);
    let m = usize::from(code & 7);
    f32::from_bits((143 - e) << 23) * f32::from_bits(INV_MANTISSA_BITS[m])
}

/// Half-width, in steps, of the zero bin of a detail band: a coefficient `v` with
/// `|v| / step < ZERO_ZONE` is quantised to 0 instead of being rounded (5/8: a dead zone an
/// eighth of a step wider each side than rounding's). Wavelet detail coefficients cluster at
/// zero, so a value just past half a step costs more bits as ±1 than the error it saves;
/// measured through TAEF2's decoder on 12 BSDS500 training images (qualities 14 to 32):
/// BD-rate −4.9% at 0.6, −5.0% at 0.65, −3.7% at 0.7 against rounding. The LL band, whose
/// values are not centred on 0, is rounded (`0.5`). `shaders/quantize.wgsl` gets it per band.
pub(crate) const ZERO_ZONE: f32 = 0.625;

/// The zero-bin half-width of `band`: [`ZERO_ZONE`] for a detail band, ½ (plain rounding) for
/// the LL band.
pub(crate) fn zero_zone(band: &Band) -> f32 {
    match band.orientation {
        Orientation::LL => 0.5,
        _ => ZERO_ZONE,
    }
}

/// The quantised value of `v`: 0 within `zero` steps of 0, else rounded to the nearest step
/// (ties up). With `zero = ½` this is plain rounding. Non-decreasing in `v`, so a band's
/// extremes quantise to its extreme symbols.
#[inline]
fn quantize_value(v: f32, inv_step: f32, zero: f32) -> f32 {
    let x = v * inv_step;
    if x.abs() < zero {
        0.0
    } else {
        (x + 0.5).floor()
    }
}

/// Whether a band with values in `[min, max]` fits 255 symbols at `code` with a zero bin of
/// half-width `zero`; returns the center.
fn fit(code: u8, min: f32, max: f32, zero: f32) -> Option<i32> {
    let inv = inv_step_from_code(code);
    let (qmin, qmax) = (
        quantize_value(min, inv, zero),
        quantize_value(max, inv, zero),
    );
    if !(qmin.abs() < 2.0 * MAX_CENTER as f32 && qmax.abs() < 2.0 * MAX_CENTER as f32) {
        return None;
    }
    let (qmin, qmax) = (qmin as i64, qmax as i64);
    let center = (qmin + qmax).div_euclid(2);
    (qmax - qmin <= 254 && center.abs() <= MAX_CENTER).then_some(center as i32)
}

/// The step code a band starts from at `quality`, moved by its allocation `offset` (step codes,
/// [`StepAllocation::offset`]), before it is widened to fit the band's range (computed on the
/// host for both paths, so the GPU never evaluates `log2`).
pub(crate) fn initial_code(quality: u8, band: &Band, wavelet: Wavelet, offset: i32) -> u8 {
    let code = code_for_step(base_step(quality) / band.gain(wavelet).sqrt());
    (i32::from(code) + offset).clamp(0, 255) as u8
}

/// The error for a band whose values do not fit even the largest step (`range` when known).
pub(crate) fn range_error(range: Option<(f32, f32)>) -> Error {
    let limit = 127.0 * step_from_code(255);
    Error::InvalidInput(match range {
        Some((min, max)) => {
            format!("latent values in [{min}, {max}] exceed the quantiser's range (±{limit:e})")
        }
        None => format!("latent values exceed the quantiser's range (±{limit:e})"),
    })
}

/// The error for a latent holding NaN or infinite values.
pub(crate) fn non_finite_error() -> Error {
    Error::InvalidInput("the latent holds NaN or infinite values; check the encoder model".into())
}

/// Quantises channel `channel`'s `h × w` Mallat plane band by band into `symbols` in coding
/// order (the bands of `band_table` one after another, each in raster order), its steps moved
/// by `allocation`, appending each band's symbol histogram to `histograms`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn quantize_plane(
    coeffs: &[f32],
    w: usize,
    band_table: &[Band],
    wavelet: Wavelet,
    quality: u8,
    (allocation, channel): (&StepAllocation, usize),
    symbols: &mut [u8],
    histograms: &mut Vec<[u32; 256]>,
) -> Result<Vec<BandQuant>> {
    debug_assert_eq!(symbols.len(), coeffs.len());
    let mut params = Vec::with_capacity(band_table.len());
    let mut at = 0;
    for b in band_table {
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut finite = true;
        for row in b.rows(coeffs, w) {
            for &v in row {
                finite &= v.is_finite();
                min = min.min(v);
                max = max.max(v);
            }
        }
        if !finite {
            return Err(non_finite_error());
        }
        let zero = zero_zone(b);
        let mut code = initial_code(quality, b, wavelet, allocation.offset(channel, b));
        let center = loop {
            if let Some(c) = fit(code, min, max, zero) {
                break c;
            }
            code = code
                .checked_add(1)
                .ok_or_else(|| range_error(Some((min, max))))?;
        };
        let inv = inv_step_from_code(code);
        let offset = i64::from(center) - 128;
        let mut hist = [0u32; 256];
        for row in b.rows(coeffs, w) {
            let out = &mut symbols[at..at + row.len()];
            at += row.len();
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (quantize_value(v, inv, zero) as i64 - offset).clamp(0, 255) as u8;
                hist[usize::from(*o)] += 1;
            }
        }
        histograms.push(hist);
        params.push(BandQuant {
            step_code: code,
            center,
        });
    }
    Ok(params)
}

/// The inverse of [`quantize_plane`]: coding-order `symbols` of one channel back into its
/// Mallat plane of row stride `w`.
pub(crate) fn dequantize_plane(
    symbols: &[u8],
    w: usize,
    band_table: &[Band],
    params: &[BandQuant],
    coeffs: &mut [f32],
) {
    let mut at = 0;
    for (b, p) in band_table.iter().zip(params) {
        let step = p.step();
        let offset = p.center as f32 - 128.0;
        for row in b.rows_mut(coeffs, w) {
            let band = &symbols[at..at + row.len()];
            at += row.len();
            for (o, &s) in row.iter_mut().zip(band) {
                *o = (f32::from(s) + offset) * step;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::bands;

    #[test]
    fn step_codes_are_monotonic_and_exact() {
        let mut prev = 0.0;
        for code in 0..=255u8 {
            let s = step_from_code(code);
            assert!(s > prev, "code {code}");
            assert_eq!(code_for_step(s), code);
            prev = s;
        }
        assert_eq!(step_from_code(16 * 8), 1.0);
    }

    #[test]
    fn reciprocal_steps_are_exact_and_match_the_shader() {
        for (m, &bits) in INV_MANTISSA_BITS.iter().enumerate() {
            assert_eq!(
                bits,
                (1.0f32 / (1.0 + m as f32 / 8.0)).to_bits(),
                "mantissa {m}"
            );
            let hex = format!("{bits:#010x}u");
            assert!(GPU_SOURCE.contains(&hex), "quantize.wgsl lacks {hex}");
        }
        for code in 0..=255u8 {
            let (s, r) = (step_from_code(code), inv_step_from_code(code));
            assert!((s * r - 1.0).abs() <= 1e-7, "code {code}: {s} * {r}");
        }
    }

    #[test]
    fn detail_bands_have_a_dead_zone_and_the_ll_band_rounds() {
        let table = bands(4, 4, 1);
        let (ll, hh) = (zero_zone(&table[0]), zero_zone(&table[3]));
        assert_eq!((ll, hh), (0.5, ZERO_ZONE));
        for (v, want) in [
            (0.6, 0.0),
            (-0.6, 0.0),
            (0.0, 0.0),
            (0.625, 1.0),
            (-0.7, -1.0),
            (1.6, 2.0),
            (-2.5, -2.0),
        ] {
            assert_eq!(quantize_value(v, 1.0, hh), want, "detail {v}");
        }
        // A zero bin of half a step is plain rounding, ties up.
        for i in -3000..3000 {
            let v = i as f32 / 997.0;
            assert_eq!(quantize_value(v, 1.0, ll), (v + 0.5).floor(), "LL {v}");
        }
        assert_eq!(
            (quantize_value(0.5, 1.0, ll), quantize_value(-0.5, 1.0, ll)),
            (1.0, 0.0)
        );
    }

    /// The kernel's source, whether or not the GPU path is compiled in.
    const GPU_SOURCE: &str = include_str!("../../../shaders/quantize.wgsl");

    #[test]
    fn quality_outside_the_range_is_one_error() {
        assert_eq!(check_quality(1).unwrap(), 1);
        assert_eq!(check_quality(100).unwrap(), 100);
        for q in [0u8, 101, 255] {
            let msg = check_quality(q).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("quality {q}")) && msg.contains("1..=100"),
                "{msg}"
            );
        }
    }

    /// Coding order: a channel's symbols are its bands one after another, each in raster order.
    #[test]
    fn symbols_are_in_coding_order_and_dequantise_back() {
        let (h, w) = (5usize, 6usize);
        let table = bands(h, w, 1);
        // Each coefficient is its band's index: the symbols must come out grouped by band.
        let mut coeffs = vec![0.0f32; h * w];
        for (k, b) in table.iter().enumerate() {
            for row in b.rows_mut(&mut coeffs, w) {
                row.fill(k as f32);
            }
        }
        let mut syms = vec![0u8; h * w];
        let mut hists = Vec::new();
        let p = quantize_plane(
            &coeffs,
            w,
            &table,
            Wavelet::Haar,
            100,
            (&StepAllocation::uniform(), 0),
            &mut syms,
            &mut hists,
        )
        .unwrap();
        let mut at = 0;
        for (k, b) in table.iter().enumerate() {
            let band = &syms[at..at + b.len()];
            assert!(band.iter().all(|&s| s == band[0]), "band {k} is contiguous");
            assert_eq!(hists[k][usize::from(band[0])], b.len() as u32);
            at += b.len();
        }
        let mut back = vec![f32::NAN; h * w];
        dequantize_plane(&syms, w, &table, &p, &mut back);
        for (a, b) in coeffs.iter().zip(&back) {
            assert!((a - b).abs() <= 0.01, "{a} vs {b}");
        }
    }

    #[test]
    fn base_step_strictly_decreases() {
        for q in MIN_QUALITY..MAX_QUALITY {
            assert!(base_step(q) > base_step(q + 1));
        }
    }

    #[test]
    fn wide_ranges_widen_the_step_instead_of_clipping() {
        let table = bands(1, 2, 0);
        let coeffs = [-1000.0f32, 1000.0];
        let mut syms = [0u8; 2];
        let mut hist = Vec::new();
        let p = quantize_plane(
            &coeffs,
            2,
            &table,
            Wavelet::Cdf53,
            100,
            (&StepAllocation::uniform(), 0),
            &mut syms,
            &mut hist,
        )
        .unwrap();
        assert_eq!(hist.len(), 1);
        assert_eq!(hist[0].iter().sum::<u32>(), 2);
        let mut back = [0.0f32; 2];
        dequantize_plane(&syms, 2, &table, &p, &mut back);
        let step = p[0].step();
        for (a, b) in coeffs.iter().zip(back) {
            assert!(
                (a - b).abs() <= step / 2.0 + 1e-3,
                "{a} vs {b}, step {step}"
            );
        }
    }

    #[test]
    fn non_finite_values_are_errors() {
        let table = bands(1, 2, 0);
        let mut syms = [0u8; 2];
        let r = quantize_plane(
            &[f32::NAN, 0.0],
            2,
            &table,
            Wavelet::Cdf53,
            50,
            (&StepAllocation::uniform(), 0),
            &mut syms,
            &mut Vec::new(),
        );
        assert!(matches!(r, Err(Error::InvalidInput(_))));
    }
}

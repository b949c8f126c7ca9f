//! Per-band uniform quantisation of wavelet coefficients to a `u8` alphabet.
//!
//! For each channel and band: the step is `base_step(quality) / sqrt(gain)` (the band's synthesis
//! energy gain, so every band contributes equally to the reconstruction error per unit step),
//! rounded to a *step code*: an 8-bit minifloat whose value is built from its bits, so encoder and
//! decoder (and the GPU) agree on the exact f32 step. If the band's range does not fit in 255
//! symbols at that step, the step grows until it does: no coefficient is ever clipped.
//!
//! `q = floor(v / step + ½)`, `symbol = q − center + 128` with `center = floor((q_min + q_max)/2)`,
//! and back: `v' = (symbol − 128 + center) · step`. Step codes and centers are written to the
//! stream, so decoding never recomputes a float parameter.

use crate::components::{QuantParams, Symbols, WaveletPyr};
use crate::error::{Error, Result};
use crate::system::{map_tensors, Direction, System};
use crate::tensor::DType;
use crate::wavelet::{bands, Band, Wavelet};
use crate::world::{ComponentId, Entity, World};

/// Lowest quality.
pub const MIN_QUALITY: u8 = 1;
/// Highest quality.
pub const MAX_QUALITY: u8 = 100;
/// Default quality.
pub const DEFAULT_QUALITY: u8 = 75;

/// Largest `|center|`: keeps `symbol − 128 + center` exact in f32.
const MAX_CENTER: i64 = 1 << 22;

/// Quantiser parameters of one band of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BandQuant {
    /// Step as a minifloat code, see [`step_from_code`].
    pub step_code: u8,
    /// Integer offset of the symbol range (symbol 128 ↔ `center · step`).
    pub center: i32,
}

impl BandQuant {
    /// The exact step.
    pub fn step(&self) -> f32 {
        step_from_code(self.step_code)
    }
}

/// The base quantiser step for a quality in `1..=100`: halves every 12.5 quality points,
/// `0.02` at 100, `0.32` at 50, `~4.6` at 1. Strictly decreasing, so rate rises and distortion
/// falls with quality.
pub fn base_step(quality: u8) -> f32 {
    let q = f32::from(quality.clamp(MIN_QUALITY, MAX_QUALITY));
    0.02 * ((100.0 - q) / 12.5).exp2()
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
pub fn code_for_step(step: f32) -> u8 {
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

#[inline]
fn quantize_value(v: f32, step: f32) -> f32 {
    (v / step + 0.5).floor()
}

/// Whether a band with values in `[min, max]` fits 255 symbols at `code`; returns the center.
fn fit(code: u8, min: f32, max: f32) -> Option<i32> {
    let step = step_from_code(code);
    let (qmin, qmax) = (quantize_value(min, step), quantize_value(max, step));
    if !(qmin.abs() < 2.0 * MAX_CENTER as f32 && qmax.abs() < 2.0 * MAX_CENTER as f32) {
        return None;
    }
    let (qmin, qmax) = (qmin as i64, qmax as i64);
    let center = (qmin + qmax).div_euclid(2);
    (qmax - qmin <= 254 && center.abs() <= MAX_CENTER).then_some(center as i32)
}

/// Values of band `b` of an `h × w` plane with row stride `w`, in raster order.
pub(crate) fn band_rows<T>(plane: &[T], w: usize, b: Band) -> impl Iterator<Item = &[T]> {
    (b.y..b.y + b.h).map(move |y| &plane[y * w + b.x..y * w + b.x + b.w])
}

/// CPU reference: quantises one channel's `h × w` Mallat plane band by band.
pub fn quantize_plane(
    coeffs: &[f32],
    h: usize,
    w: usize,
    band_table: &[Band],
    wavelet: Wavelet,
    quality: u8,
    symbols: &mut [u8],
) -> Result<Vec<BandQuant>> {
    let base = base_step(quality);
    let mut params = Vec::with_capacity(band_table.len());
    for b in band_table {
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        let mut finite = true;
        for row in band_rows(coeffs, w, *b) {
            for &v in row {
                finite &= v.is_finite();
                min = min.min(v);
                max = max.max(v);
            }
        }
        if !finite {
            return Err(Error::InvalidInput(
                "latent holds NaN or infinite values; check the encoder model".into(),
            ));
        }
        let mut code = code_for_step(base / b.gain(wavelet).sqrt());
        let center = loop {
            if let Some(c) = fit(code, min, max) {
                break c;
            }
            code = code.checked_add(1).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "latent values in [{min}, {max}] exceed the quantiser's range (±{:e})",
                    127.0 * step_from_code(255)
                ))
            })?;
        };
        let step = step_from_code(code);
        let offset = i64::from(center) - 128;
        for (y, row) in (b.y..).zip(band_rows(coeffs, w, *b)) {
            let out = &mut symbols[y * w + b.x..y * w + b.x + b.w];
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (quantize_value(v, step) as i64 - offset).clamp(0, 255) as u8;
            }
        }
        params.push(BandQuant {
            step_code: code,
            center,
        });
    }
    debug_assert_eq!(symbols.len(), h * w);
    Ok(params)
}

/// CPU reference: the inverse of [`quantize_plane`].
pub fn dequantize_plane(
    symbols: &[u8],
    w: usize,
    band_table: &[Band],
    params: &[BandQuant],
    coeffs: &mut [f32],
) {
    for (b, p) in band_table.iter().zip(params) {
        let step = p.step();
        let offset = p.center as f32 - 128.0;
        for (y, row) in (b.y..).zip(band_rows(symbols, w, *b)) {
            let out = &mut coeffs[y * w + b.x..y * w + b.x + b.w];
            for (o, &s) in out.iter_mut().zip(row) {
                *o = (f32::from(s) + offset) * step;
            }
        }
    }
}

/// The quantisation system: `WaveletPyr → Symbols + QuantParams` forward, the reverse inverse.
#[derive(Debug, Clone, Copy)]
pub struct Quantize {
    direction: Direction,
    quality: u8,
}

impl Quantize {
    /// Forward at `quality` (`1..=100`; values outside are clamped).
    pub fn forward(quality: u8) -> Self {
        Self {
            direction: Direction::Forward,
            quality: quality.clamp(MIN_QUALITY, MAX_QUALITY),
        }
    }

    /// Inverse (dequantisation), with the parameters recorded in `QuantParams`.
    pub fn inverse() -> Self {
        Self {
            direction: Direction::Inverse,
            quality: DEFAULT_QUALITY,
        }
    }
}

impl System for Quantize {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "quantize",
            Direction::Inverse => "dequantize",
        }
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn required(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<WaveletPyr>()],
            Direction::Inverse => vec![
                ComponentId::of::<Symbols>(),
                ComponentId::of::<QuantParams>(),
            ],
        }
    }

    fn produced(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![
                ComponentId::of::<Symbols>(),
                ComponentId::of::<QuantParams>(),
            ],
            Direction::Inverse => vec![ComponentId::of::<WaveletPyr>()],
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        match self.direction {
            Direction::Forward => self.run_forward(world, entities),
            Direction::Inverse => run_inverse(world, entities),
        }
    }
}

impl Quantize {
    fn run_forward(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let quality = self.quality;
        let done = map_tensors::<f32, u8, WaveletPyr, Vec<BandQuant>, _, _>(
            world,
            entities,
            |w, e| {
                let p = *w.get::<WaveletPyr>(e)?;
                Ok((p.tensor, p.tensor.shape().to_vec(), p))
            },
            |x, y, t, p| {
                let (h, w) = (t.shape()[1], t.shape()[2]);
                let table = bands(h, w, p.levels);
                let mut all = Vec::new();
                for (plane, syms) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(h * w)) {
                    all.extend(quantize_plane(
                        plane, h, w, &table, p.wavelet, quality, syms,
                    )?);
                }
                Ok(all)
            },
        )?;
        for (e, tensor, p, params) in done {
            world.insert(e, Symbols { tensor })?;
            world.insert(
                e,
                QuantParams {
                    quality,
                    wavelet: p.wavelet,
                    levels: p.levels,
                    bands: params,
                },
            )?;
        }
        Ok(())
    }
}

fn run_inverse(world: &mut World, entities: &[Entity]) -> Result<()> {
    let done = map_tensors::<u8, f32, QuantParams, (), _, _>(
        world,
        entities,
        |w, e| {
            let s = w.get::<Symbols>(e)?.tensor;
            let q = w.get::<QuantParams>(e)?.clone();
            let [c, h, wd] = *s.shape() else {
                return Err(Error::InvalidInput(format!(
                    "Symbols must be [C, h, w], got {:?}",
                    s.shape()
                )));
            };
            let nb = bands(h, wd, q.levels).len();
            if q.bands.len() != c * nb || s.dtype != DType::U8 {
                return Err(Error::InvalidInput(format!(
                    "QuantParams has {} bands, Symbols of shape {:?} need {}",
                    q.bands.len(),
                    s.shape(),
                    c * nb
                )));
            }
            Ok((s, s.shape().to_vec(), q))
        },
        |x, y, t, q| {
            let (h, w) = (t.shape()[1], t.shape()[2]);
            let table = bands(h, w, q.levels);
            let per = table.len();
            for (i, (syms, plane)) in x
                .chunks_exact(h * w)
                .zip(y.chunks_exact_mut(h * w))
                .enumerate()
            {
                dequantize_plane(syms, w, &table, &q.bands[i * per..(i + 1) * per], plane);
            }
            Ok(())
        },
    )?;
    for (e, tensor, q, ()) in done {
        world.insert(
            e,
            WaveletPyr {
                tensor,
                wavelet: q.wavelet,
                levels: q.levels,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let p = quantize_plane(&coeffs, 1, 2, &table, Wavelet::Cdf53, 100, &mut syms).unwrap();
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
            1,
            2,
            &table,
            Wavelet::Cdf53,
            50,
            &mut syms,
        );
        assert!(matches!(r, Err(Error::InvalidInput(_))));
    }
}

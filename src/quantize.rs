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

use crate::components::{Histograms, QuantParams, Symbols, WaveletPyr};
use crate::error::{Error, Result};
use crate::system::{map_tensors, Direction, System};
use crate::tensor::{DType, TensorRef};
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

/// Bits of the f32 reciprocals of the step mantissas `1 + m/8`, `m = 0..8` (each the correctly
/// rounded `1.0f32 / (1.0 + m / 8.0)`). `shaders/quantize.wgsl` holds the same table.
const INV_MANTISSA_BITS: [u32; 8] = [
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
pub fn inv_step_from_code(code: u8) -> f32 {
    let e = u32::from(code >> 3);
    let m = usize::from(code & 7);
    f32::from_bits((143 - e) << 23) * f32::from_bits(INV_MANTISSA_BITS[m])
}

#[inline]
fn quantize_value(v: f32, inv_step: f32) -> f32 {
    (v * inv_step + 0.5).floor()
}

/// Whether a band with values in `[min, max]` fits 255 symbols at `code`; returns the center.
fn fit(code: u8, min: f32, max: f32) -> Option<i32> {
    let inv = inv_step_from_code(code);
    let (qmin, qmax) = (quantize_value(min, inv), quantize_value(max, inv));
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

/// The step code a band starts from at `quality`, before it is widened to fit the band's range
/// (computed on the host for both paths, so the GPU never evaluates `log2`).
pub fn initial_code(quality: u8, band: &Band, wavelet: Wavelet) -> u8 {
    code_for_step(base_step(quality) / band.gain(wavelet).sqrt())
}

/// The error for a band whose values do not fit even the largest step.
fn range_error(min: f32, max: f32) -> Error {
    Error::InvalidInput(format!(
        "latent values in [{min}, {max}] exceed the quantiser's range (±{:e})",
        127.0 * step_from_code(255)
    ))
}

/// The error for a latent holding NaN or infinite values.
fn non_finite_error() -> Error {
    Error::InvalidInput("latent holds NaN or infinite values; check the encoder model".into())
}

/// CPU reference: quantises one channel's `h × w` Mallat plane band by band, appending each
/// band's symbol histogram to `histograms`.
#[allow(clippy::too_many_arguments)]
pub fn quantize_plane(
    coeffs: &[f32],
    h: usize,
    w: usize,
    band_table: &[Band],
    wavelet: Wavelet,
    quality: u8,
    symbols: &mut [u8],
    histograms: &mut Vec<[u32; 256]>,
) -> Result<Vec<BandQuant>> {
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
            return Err(non_finite_error());
        }
        let mut code = initial_code(quality, b, wavelet);
        let center = loop {
            if let Some(c) = fit(code, min, max) {
                break c;
            }
            code = code.checked_add(1).ok_or_else(|| range_error(min, max))?;
        };
        let inv = inv_step_from_code(code);
        let offset = i64::from(center) - 128;
        let mut hist = [0u32; 256];
        for (y, row) in (b.y..).zip(band_rows(coeffs, w, *b)) {
            let out = &mut symbols[y * w + b.x..y * w + b.x + b.w];
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (quantize_value(v, inv) as i64 - offset).clamp(0, 255) as u8;
                hist[usize::from(*o)] += 1;
            }
        }
        histograms.push(hist);
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

/// The `[C, h, w]` of a non-empty rank-3 tensor.
fn chw(t: &TensorRef, what: &str) -> Result<[usize; 3]> {
    match *t.shape() {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => Err(Error::InvalidInput(format!(
            "{what} must be a non-empty [C, h, w] tensor, got {:?}",
            t.shape()
        ))),
    }
}

/// What quantising one entity reads, checked (both devices): its f32 coefficients and their
/// shape.
fn forward_input(world: &World, e: Entity) -> Result<(WaveletPyr, [usize; 3])> {
    let p = *world.get::<WaveletPyr>(e)?;
    if p.tensor.dtype != DType::F32 {
        return Err(Error::InvalidInput("WaveletPyr must be f32".into()));
    }
    Ok((p, chw(&p.tensor, "WaveletPyr")?))
}

/// What dequantising one entity reads, checked against each other (both devices): its u8
/// symbols, their parameters (one per channel and band) and shape.
fn inverse_input(world: &World, e: Entity) -> Result<(TensorRef, QuantParams, [usize; 3])> {
    let s = world.get::<Symbols>(e)?.tensor;
    let q = world.get::<QuantParams>(e)?.clone();
    let [c, h, w] = chw(&s, "Symbols")?;
    let nb = bands(h, w, q.levels).len();
    if q.bands.len() != c * nb || s.dtype != DType::U8 {
        return Err(Error::InvalidInput(format!(
            "QuantParams has {} bands, Symbols of shape {:?} need {}",
            q.bands.len(),
            s.shape(),
            c * nb
        )));
    }
    Ok((s, q, [c, h, w]))
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

    fn uses_gpu(&self) -> bool {
        true
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
                ComponentId::of::<Histograms>(),
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
        #[cfg(feature = "gpu")]
        if world.device() == crate::device::Device::Gpu {
            return gpu::quantize(world, entities, quality);
        }
        let done = map_tensors::<f32, u8, WaveletPyr, (Vec<BandQuant>, Vec<[u32; 256]>), _, _>(
            world,
            entities,
            |w, e| {
                let (p, shape) = forward_input(w, e)?;
                Ok((p.tensor, shape.to_vec(), p))
            },
            |x, y, t, p| {
                let (h, w) = (t.shape()[1], t.shape()[2]);
                let table = bands(h, w, p.levels);
                let mut all = Vec::new();
                let mut hists = Vec::with_capacity(table.len() * t.shape()[0]);
                for (plane, syms) in x.chunks_exact(h * w).zip(y.chunks_exact_mut(h * w)) {
                    all.extend(quantize_plane(
                        plane, h, w, &table, p.wavelet, quality, syms, &mut hists,
                    )?);
                }
                Ok((all, hists))
            },
        )?;
        for (e, tensor, p, (params, hists)) in done {
            world.insert(e, Symbols { tensor })?;
            world.insert(e, Histograms(hists))?;
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
    #[cfg(feature = "gpu")]
    if world.device() == crate::device::Device::Gpu {
        return gpu::dequantize(world, entities);
    }
    let done = map_tensors::<u8, f32, QuantParams, (), _, _>(
        world,
        entities,
        |w, e| {
            let (s, q, shape) = inverse_input(w, e)?;
            Ok((s, shape.to_vec(), q))
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

    /// The kernel's source, whether or not the GPU path is compiled in.
    const GPU_SOURCE: &str = include_str!("shaders/quantize.wgsl");

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
            1,
            2,
            &table,
            Wavelet::Cdf53,
            100,
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
            1,
            2,
            &table,
            Wavelet::Cdf53,
            50,
            &mut syms,
            &mut Vec::new(),
        );
        assert!(matches!(r, Err(Error::InvalidInput(_))));
    }
}

/// The GPU path: `shaders/quantize.wgsl` (statistics, quantisation and histograms in one pass)
/// and `shaders/dequantize.wgsl`, the kernels of [`quantize_plane`] and [`dequantize_plane`].
#[cfg(feature = "gpu")]
pub(crate) mod gpu {
    use super::*;
    use crate::gpu::{groups_for, job_grid, u32_of, Kernel};

    /// Flag in a band's parameter word: the range does not fit even the largest step.
    const FLAG_RANGE: u32 = 1;
    /// Flag in a band's parameter word: the band holds a NaN or an infinity.
    const FLAG_NON_FINITE: u32 = 2;

    /// One entry per (entity, channel, band); `QuantDesc` in `shaders/quantize.wgsl`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct QuantDesc {
        /// Word index of the channel's coefficient plane.
        pub src: u32,
        /// Row stride of the plane (its width).
        pub stride: u32,
        /// Band rectangle.
        pub bx: u32,
        /// Band rectangle.
        pub by: u32,
        /// Band rectangle.
        pub bw: u32,
        /// Band rectangle.
        pub bh: u32,
        /// Step code to start from ([`initial_code`]).
        pub code0: u32,
        /// Word index of the band's packed symbols.
        pub out_sym: u32,
        /// Word index of the band's two parameter words.
        pub out_params: u32,
        /// Word index of the band's 256 histogram bins.
        pub out_hist: u32,
    }

    /// One entry per (entity, channel, band); `DequantDesc` in `shaders/dequantize.wgsl`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct DequantDesc {
        /// Byte index of the channel's symbol plane.
        pub sym: u32,
        /// Word index of the channel's output plane.
        pub dst: u32,
        /// Row stride of both planes.
        pub stride: u32,
        /// Band rectangle.
        pub bx: u32,
        /// Band rectangle.
        pub by: u32,
        /// Band rectangle.
        pub bw: u32,
        /// Band rectangle.
        pub bh: u32,
        /// The exact step's bits.
        pub step: u32,
        /// `center − 128` as f32 bits.
        pub offset: u32,
    }

    const QUANTIZE: Kernel = Kernel {
        name: "quantize",
        source: include_str!("shaders/quantize.wgsl"),
        entry: "main",
    };

    const DEQUANTIZE: Kernel = Kernel {
        name: "dequantize",
        source: include_str!("shaders/dequantize.wgsl"),
        entry: "main",
    };

    /// Where one entity's bands sit in the batch's output block.
    struct Layout {
        entity: Entity,
        pyr: WaveletPyr,
        shape: [usize; 3],
        table: Vec<Band>,
        /// First band job of the entity.
        first_job: usize,
        /// Word offset (in the symbol section) of each of the entity's band jobs.
        sym_words: Vec<usize>,
    }

    /// `WaveletPyr → Symbols + QuantParams + Histograms` for a whole batch: one dispatch, one
    /// readback (parameters, histograms and packed symbols in one block).
    pub(crate) fn quantize(world: &mut World, entities: &[Entity], quality: u8) -> Result<()> {
        let mut jobs = Vec::new();
        for &e in entities {
            match forward_input(world, e) {
                Ok(j) => jobs.push((e, j)),
                Err(err) => world.record_failure(e, err),
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (p, _))| p.tensor).collect();
        let inputs = world.to_gpu(&inputs)?;

        // Output block: [2 parameter words per job | 256 bins per job | packed symbols].
        let mut layouts = Vec::with_capacity(jobs.len());
        let (mut n_jobs, mut sym_total) = (0usize, 0usize);
        for (e, (p, shape)) in &jobs {
            let [c, h, w] = *shape;
            let table = bands(h, w, p.levels);
            let mut sym_words = Vec::with_capacity(c * table.len());
            for _ in 0..c {
                for b in &table {
                    sym_words.push(sym_total);
                    sym_total += b.len().div_ceil(4);
                }
            }
            layouts.push(Layout {
                entity: *e,
                pyr: *p,
                shape: *shape,
                first_job: n_jobs,
                table,
                sym_words,
            });
            n_jobs += layouts.last().map_or(0, |l| l.sym_words.len());
        }
        let hist_at = 2 * n_jobs;
        let sym_at = hist_at + 256 * n_jobs;
        let total = sym_at + sym_total;

        let gpu = world.gpu_or_err()?;
        let out = gpu.alloc(DType::U32, &[total])?;
        let base = gpu.word(&out)? as usize;
        let mut descs = Vec::with_capacity(n_jobs);
        for (l, input) in layouts.iter().zip(&inputs) {
            let [c, h, w] = l.shape;
            let src = gpu.word(input)? as usize;
            let mut j = 0;
            for ch in 0..c {
                for b in &l.table {
                    let job = l.first_job + j;
                    descs.push(QuantDesc {
                        src: u32_of(src + ch * h * w, "coefficient offset")?,
                        stride: u32_of(w, "width")?,
                        bx: b.x as u32,
                        by: b.y as u32,
                        bw: b.w as u32,
                        bh: b.h as u32,
                        code0: u32::from(initial_code(quality, b, l.pyr.wavelet)),
                        out_sym: u32_of(base + sym_at + l.sym_words[j], "symbol offset")?,
                        out_params: u32_of(base + 2 * job, "parameter offset")?,
                        out_hist: u32_of(base + hist_at + 256 * job, "histogram offset")?,
                    });
                    j += 1;
                }
            }
        }
        let grid = job_grid(gpu.context(), 1, descs.len());
        gpu.dispatch(&QUANTIZE, &descs, grid)?;
        let block = gpu.readback(&[out])?.pop().unwrap_or_default();
        let words: &[u32] = bytemuck::try_cast_slice(&block)
            .map_err(|e| Error::Gpu(format!("readback block: {e}")))?;
        if words.len() != total {
            return Err(Error::Gpu(format!(
                "readback returned {} words, expected {total}",
                words.len()
            )));
        }
        let sym_bytes: &[u8] = bytemuck::cast_slice(&words[sym_at..]);

        for l in layouts {
            let [c, h, w] = l.shape;
            let per = c * l.table.len();
            let mut params = Vec::with_capacity(per);
            let mut hists = Vec::with_capacity(per);
            let mut failure = None;
            for j in 0..per {
                let job = l.first_job + j;
                let word = words[2 * job];
                let flags = word >> 8;
                if flags & FLAG_NON_FINITE != 0 {
                    failure = Some(non_finite_error());
                    break;
                }
                if flags & FLAG_RANGE != 0 {
                    failure = Some(Error::InvalidInput(format!(
                        "latent values exceed the quantiser's range (±{:e})",
                        127.0 * step_from_code(255)
                    )));
                    break;
                }
                params.push(BandQuant {
                    step_code: (word & 0xff) as u8,
                    center: words[2 * job + 1] as i32,
                });
                let bins = &words[hist_at + 256 * job..hist_at + 256 * (job + 1)];
                let mut hist = [0u32; 256];
                hist.copy_from_slice(bins);
                hists.push(hist);
            }
            if let Some(err) = failure {
                world.record_failure(l.entity, err);
                continue;
            }
            let tensor = world.arena_mut().alloc(DType::U8, &[c, h, w])?;
            {
                let symbols = world.arena_mut().view_mut::<u8>(&tensor)?;
                let mut j = 0;
                for plane in symbols.chunks_exact_mut(h * w) {
                    for b in &l.table {
                        let mut at = 4 * l.sym_words[j];
                        for y in b.y..b.y + b.h {
                            plane[y * w + b.x..y * w + b.x + b.w]
                                .copy_from_slice(&sym_bytes[at..at + b.w]);
                            at += b.w;
                        }
                        j += 1;
                    }
                }
            }
            world.insert(l.entity, Symbols { tensor })?;
            world.insert(l.entity, Histograms(hists))?;
            world.insert(
                l.entity,
                QuantParams {
                    quality,
                    wavelet: l.pyr.wavelet,
                    levels: l.pyr.levels,
                    bands: params,
                },
            )?;
        }
        Ok(())
    }

    /// `Symbols + QuantParams → WaveletPyr` for a whole batch: one upload of every entity's
    /// symbols, one dispatch; the coefficients stay on the GPU.
    pub(crate) fn dequantize(world: &mut World, entities: &[Entity]) -> Result<()> {
        let mut jobs = Vec::new();
        for &e in entities {
            let prepared = inverse_input(world, e)
                .map(|(s, q, [c, h, w])| (s, [c, h, w], bands(h, w, q.levels), q));
            match prepared {
                Ok(j) => jobs.push((e, j)),
                Err(err) => world.record_failure(e, err),
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (s, ..))| *s).collect();
        let inputs = world.to_gpu(&inputs)?;
        let gpu = world.gpu_or_err()?;
        let mut descs = Vec::new();
        let mut outs = Vec::with_capacity(jobs.len());
        let mut longest = 0;
        for ((_, (_, [c, h, w], table, q)), input) in jobs.iter().zip(&inputs) {
            let out = gpu.alloc(DType::F32, &[*c, *h, *w])?;
            gpu.check(input)?;
            let (sym, dst) = (input.offset, gpu.word(&out)? as usize);
            let per = table.len();
            for ch in 0..*c {
                for (b, p) in table.iter().zip(&q.bands[ch * per..(ch + 1) * per]) {
                    longest = longest.max(b.len());
                    descs.push(DequantDesc {
                        sym: u32_of(sym + ch * h * w, "symbol offset")?,
                        dst: u32_of(dst + ch * h * w, "coefficient offset")?,
                        stride: u32_of(*w, "width")?,
                        bx: b.x as u32,
                        by: b.y as u32,
                        bw: b.w as u32,
                        bh: b.h as u32,
                        step: p.step().to_bits(),
                        offset: (p.center as f32 - 128.0).to_bits(),
                    });
                }
            }
            outs.push(out);
        }
        let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
        gpu.dispatch(&DEQUANTIZE, &descs, grid)?;
        for ((e, (.., q)), tensor) in jobs.into_iter().zip(outs) {
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
    #[test]
    fn descriptors_match_the_shaders() {
        let q = QuantDesc {
            src: 0,
            stride: 1,
            bx: 2,
            by: 3,
            bw: 4,
            bh: 5,
            code0: 6,
            out_sym: 7,
            out_params: 8,
            out_hist: 9,
        };
        crate::gpu::layout::assert_same(
            q,
            QUANTIZE.source,
            "QuantDesc",
            &[
                "src",
                "stride",
                "bx",
                "by",
                "bw",
                "bh",
                "code0",
                "out_sym",
                "out_params",
                "out_hist",
            ],
        );
        let d = DequantDesc {
            sym: 0,
            dst: 1,
            stride: 2,
            bx: 3,
            by: 4,
            bw: 5,
            bh: 6,
            step: 7,
            offset: 8,
        };
        crate::gpu::layout::assert_same(
            d,
            DEQUANTIZE.source,
            "DequantDesc",
            &[
                "sym", "dst", "stride", "bx", "by", "bw", "bh", "step", "offset",
            ],
        );
        for (flag, name) in [
            (FLAG_RANGE, "FLAG_RANGE"),
            (FLAG_NON_FINITE, "FLAG_NON_FINITE"),
        ] {
            let decl = format!("const {name}: u32 = {flag}u;");
            assert!(
                QUANTIZE.source.contains(&decl),
                "quantize.wgsl lacks `{decl}`"
            );
        }
        assert!(QUANTIZE
            .source
            .contains(&format!("const MAX_CENTER: i32 = {MAX_CENTER};")));
    }
}

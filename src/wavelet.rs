//! Lifting wavelets (CDF 5/3 and Haar), multi-level, Mallat layout, any size.
//!
//! CDF 5/3 (LeGall), in f32:
//! - predict `d[n] = x[2n+1] − ½(x[2n] + x[2n+2])`
//! - update  `s[n] = x[2n] + ¼(d[n−1] + d[n])`
//!
//! with whole-sample symmetric extension at both borders (`x[−1] = x[1]`, `x[N] = x[N−2]`, which
//! makes `d[−1] = d[0]` and, for odd `N`, the missing last `d` equal to the one before it).
//! Haar: `d[n] = x[2n+1] − x[2n]`, `s[n] = x[2n] + ½d[n]`; an odd last sample passes through.
//!
//! A signal of length `N` splits into `ceil(N/2)` low and `floor(N/2)` high samples, written
//! `[low | high]`. One 2D level transforms the rows, then the columns, of the current LL region;
//! the next level works on the new LL (Mallat layout, in place: the output has the input's shape).
//! Levels are clamped so that no band is empty: a level needs both sides of its region ≥ 2.

use crate::components::{WaveletPyr, Yuvw};
use crate::error::{Error, Result};
use crate::system::{map_tensors, Direction, System};
use crate::tensor::{DType, TensorRef};
use crate::world::{ComponentId, Entity, World};

/// Which lifting wavelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Wavelet {
    /// CDF 5/3 (LeGall), the default.
    #[default]
    Cdf53,
    /// Haar.
    Haar,
}

impl Wavelet {
    /// The code written to the stream.
    pub fn code(self) -> u8 {
        match self {
            Wavelet::Cdf53 => 0,
            Wavelet::Haar => 1,
        }
    }

    /// The wavelet of a stream code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Wavelet::Cdf53),
            1 => Some(Wavelet::Haar),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Wavelet::Cdf53 => "cdf53",
            Wavelet::Haar => "haar",
        }
    }

    /// Energy of the 1D synthesis filters `(low, high)`: how much a unit error in a low or high
    /// coefficient costs in the reconstruction. Used to weight quantiser steps per band.
    pub fn synthesis_gains(self) -> (f32, f32) {
        match self {
            // low synthesis [½, 1, ½]; high synthesis [−⅛, −¼, ¾, −¼, −⅛]
            Wavelet::Cdf53 => (1.5, 0.71875),
            // low synthesis [1, 1]; high synthesis [−½, ½]
            Wavelet::Haar => (2.0, 0.5),
        }
    }
}

/// Band orientation. `HL` is high-pass along x (right of LL), `LH` high-pass along y (below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Low-pass both ways (only at the coarsest level).
    LL,
    /// High along x, low along y.
    HL,
    /// Low along x, high along y.
    LH,
    /// High both ways.
    HH,
}

/// One band of a Mallat layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Band {
    /// 1 is the finest level; the LL band carries the coarsest level.
    pub level: u8,
    /// Orientation.
    pub orientation: Orientation,
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width (≥ 1).
    pub w: usize,
    /// Height (≥ 1).
    pub h: usize,
}

impl Band {
    /// Number of coefficients.
    pub fn len(&self) -> usize {
        self.w * self.h
    }

    /// Always false: bands are never empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Synthesis energy gain of the band: the squared-error weight of its coefficients.
    pub fn gain(&self, wavelet: Wavelet) -> f32 {
        let (lo, hi) = wavelet.synthesis_gains();
        let coarser = lo.powi(2 * (i32::from(self.level) - 1));
        coarser
            * match self.orientation {
                Orientation::LL => lo * lo,
                Orientation::HL | Orientation::LH => lo * hi,
                Orientation::HH => hi * hi,
            }
    }
}

/// Most levels an `h × w` plane can take with no empty band.
pub fn max_levels(h: usize, w: usize) -> u8 {
    let (mut h, mut w, mut l) = (h, w, 0u8);
    while h >= 2 && w >= 2 {
        h = h.div_ceil(2);
        w = w.div_ceil(2);
        l += 1;
    }
    l
}

/// The band table of an `h × w` plane after `levels` levels (clamped to [`max_levels`]):
/// LL first, then from the coarsest level to the finest `HL, LH, HH`. This is also the order in
/// which bands are quantised and entropy coded.
pub fn bands(h: usize, w: usize, levels: u8) -> Vec<Band> {
    let levels = levels.min(max_levels(h, w));
    let mut sizes = vec![(h, w)];
    for _ in 0..levels {
        let (h, w) = *sizes.last().unwrap_or(&(h, w));
        sizes.push((h.div_ceil(2), w.div_ceil(2)));
    }
    let (lh, lw) = sizes[levels as usize];
    let mut out = vec![Band {
        level: levels.max(1),
        orientation: Orientation::LL,
        x: 0,
        y: 0,
        w: lw,
        h: lh,
    }];
    if levels == 0 {
        out[0].level = 0;
        return out;
    }
    for level in (1..=levels).rev() {
        let (rh, rw) = sizes[level as usize - 1];
        let (lh, lw) = sizes[level as usize];
        out.push(Band {
            level,
            orientation: Orientation::HL,
            x: lw,
            y: 0,
            w: rw - lw,
            h: lh,
        });
        out.push(Band {
            level,
            orientation: Orientation::LH,
            x: 0,
            y: lh,
            w: lw,
            h: rh - lh,
        });
        out.push(Band {
            level,
            orientation: Orientation::HH,
            x: lw,
            y: lh,
            w: rw - lw,
            h: rh - lh,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1D lifting. `lo` gets ceil(n/2) samples, `hi` floor(n/2).

/// Forward 1D lifting of `x` into `lo` (`ceil(n/2)`) and `hi` (`floor(n/2)`).
pub fn forward_1d(wavelet: Wavelet, x: &[f32], lo: &mut [f32], hi: &mut [f32]) {
    let n = x.len();
    let nh = n / 2;
    debug_assert_eq!(lo.len(), n - nh);
    debug_assert_eq!(hi.len(), nh);
    if n == 1 {
        lo[0] = x[0];
        return;
    }
    match wavelet {
        Wavelet::Cdf53 => {
            for i in 0..nh {
                let right = if 2 * i + 2 < n {
                    x[2 * i + 2]
                } else {
                    x[2 * i]
                };
                hi[i] = x[2 * i + 1] - 0.5 * (x[2 * i] + right);
            }
            for (i, s) in lo.iter_mut().enumerate() {
                let dl = hi[i.saturating_sub(1)];
                let dr = hi[i.min(nh - 1)];
                *s = x[2 * i] + 0.25 * (dl + dr);
            }
        }
        Wavelet::Haar => {
            for i in 0..nh {
                hi[i] = x[2 * i + 1] - x[2 * i];
                lo[i] = x[2 * i] + 0.5 * hi[i];
            }
            if n % 2 == 1 {
                lo[nh] = x[n - 1];
            }
        }
    }
}

/// Inverse of [`forward_1d`].
pub fn inverse_1d(wavelet: Wavelet, lo: &[f32], hi: &[f32], x: &mut [f32]) {
    let n = x.len();
    let nh = n / 2;
    debug_assert_eq!(lo.len(), n - nh);
    debug_assert_eq!(hi.len(), nh);
    if n == 1 {
        x[0] = lo[0];
        return;
    }
    match wavelet {
        Wavelet::Cdf53 => {
            for (i, &s) in lo.iter().enumerate() {
                let dl = hi[i.saturating_sub(1)];
                let dr = hi[i.min(nh - 1)];
                x[2 * i] = s - 0.25 * (dl + dr);
            }
            for i in 0..nh {
                let right = if 2 * i + 2 < n {
                    x[2 * i + 2]
                } else {
                    x[2 * i]
                };
                x[2 * i + 1] = hi[i] + 0.5 * (x[2 * i] + right);
            }
        }
        Wavelet::Haar => {
            for i in 0..nh {
                x[2 * i] = lo[i] - 0.5 * hi[i];
                x[2 * i + 1] = hi[i] + x[2 * i];
            }
            if n % 2 == 1 {
                x[n - 1] = lo[nh];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Column lifting on whole rows at once: the same formulas as the 1D functions, applied to row
// vectors, so the inner loops run along contiguous memory (and vectorise).

fn rows_ref(p: &[f32], stride: usize, width: usize, r: usize) -> &[f32] {
    &p[r * stride..r * stride + width]
}

/// Copies the `h` packed rows of width `w` in `tmp` back into the region of `p` (row stride
/// `stride`) they were computed for.
fn copy_rows_back(p: &mut [f32], stride: usize, h: usize, w: usize, tmp: &[f32]) {
    for (r, src) in tmp[..h * w].chunks_exact(w).enumerate() {
        p[r * stride..r * stride + w].copy_from_slice(src);
    }
}

fn forward_cols(
    wavelet: Wavelet,
    p: &mut [f32],
    stride: usize,
    h: usize,
    w: usize,
    tmp: &mut [f32],
) {
    if h == 1 {
        return;
    }
    let nh = h / 2;
    let nl = h - nh;
    let (lo, hi) = tmp[..h * w].split_at_mut(nl * w);
    let row = |r: usize| rows_ref(p, stride, w, r);
    match wavelet {
        Wavelet::Cdf53 => {
            for i in 0..nh {
                let (a, b) = (row(2 * i), row(2 * i + 1));
                let c = if 2 * i + 2 < h { row(2 * i + 2) } else { a };
                let d = &mut hi[i * w..(i + 1) * w];
                for j in 0..w {
                    d[j] = b[j] - 0.5 * (a[j] + c[j]);
                }
            }
            for i in 0..nl {
                let a = row(2 * i);
                let (dl, dr) = (i.saturating_sub(1), i.min(nh - 1));
                let s = &mut lo[i * w..(i + 1) * w];
                for j in 0..w {
                    s[j] = a[j] + 0.25 * (hi[dl * w + j] + hi[dr * w + j]);
                }
            }
        }
        Wavelet::Haar => {
            for i in 0..nh {
                let (a, b) = (row(2 * i), row(2 * i + 1));
                let d = &mut hi[i * w..(i + 1) * w];
                let s = &mut lo[i * w..(i + 1) * w];
                for j in 0..w {
                    d[j] = b[j] - a[j];
                    s[j] = a[j] + 0.5 * d[j];
                }
            }
            if h % 2 == 1 {
                lo[nh * w..].copy_from_slice(row(h - 1));
            }
        }
    }
    copy_rows_back(p, stride, h, w, tmp);
}

fn inverse_cols(
    wavelet: Wavelet,
    p: &mut [f32],
    stride: usize,
    h: usize,
    w: usize,
    tmp: &mut [f32],
) {
    if h == 1 {
        return;
    }
    let nh = h / 2;
    let nl = h - nh;
    // tmp receives the reconstructed rows in natural order.
    let out = &mut tmp[..h * w];
    let lo = |i: usize| rows_ref(p, stride, w, i);
    let hi = |i: usize| rows_ref(p, stride, w, nl + i);
    match wavelet {
        Wavelet::Cdf53 => {
            for i in 0..nl {
                let (s, dl, dr) = (lo(i), hi(i.saturating_sub(1)), hi(i.min(nh - 1)));
                let x = &mut out[2 * i * w..(2 * i + 1) * w];
                for j in 0..w {
                    x[j] = s[j] - 0.25 * (dl[j] + dr[j]);
                }
            }
            for i in 0..nh {
                let d = hi(i);
                let right = if 2 * i + 2 < h { 2 * i + 2 } else { 2 * i };
                for j in 0..w {
                    let v = d[j] + 0.5 * (out[2 * i * w + j] + out[right * w + j]);
                    out[(2 * i + 1) * w + j] = v;
                }
            }
        }
        Wavelet::Haar => {
            for i in 0..nh {
                let (s, d) = (lo(i), hi(i));
                for j in 0..w {
                    let x0 = s[j] - 0.5 * d[j];
                    out[2 * i * w + j] = x0;
                    out[(2 * i + 1) * w + j] = d[j] + x0;
                }
            }
            if h % 2 == 1 {
                out[(h - 1) * w..].copy_from_slice(lo(nh));
            }
        }
    }
    copy_rows_back(p, stride, h, w, tmp);
}

fn forward_rows(
    wavelet: Wavelet,
    p: &mut [f32],
    stride: usize,
    h: usize,
    w: usize,
    tmp: &mut [f32],
) {
    if w == 1 {
        return;
    }
    let nl = w - w / 2;
    for r in 0..h {
        let row = &mut p[r * stride..r * stride + w];
        let (lo, hi) = tmp[..w].split_at_mut(nl);
        forward_1d(wavelet, row, lo, hi);
        row.copy_from_slice(&tmp[..w]);
    }
}

fn inverse_rows(
    wavelet: Wavelet,
    p: &mut [f32],
    stride: usize,
    h: usize,
    w: usize,
    tmp: &mut [f32],
) {
    if w == 1 {
        return;
    }
    let nl = w - w / 2;
    for r in 0..h {
        let row = &mut p[r * stride..r * stride + w];
        let (lo, hi) = row.split_at(nl);
        inverse_1d(wavelet, lo, hi, &mut tmp[..w]);
        row.copy_from_slice(&tmp[..w]);
    }
}

/// Forward 2D transform of one `h × w` plane, in place, `levels` levels (clamped).
/// Returns the levels applied.
pub fn forward_2d(wavelet: Wavelet, plane: &mut [f32], h: usize, w: usize, levels: u8) -> u8 {
    let levels = levels.min(max_levels(h, w));
    let mut tmp = vec![0.0f32; h * w];
    let (mut rh, mut rw) = (h, w);
    for _ in 0..levels {
        forward_rows(wavelet, plane, w, rh, rw, &mut tmp);
        forward_cols(wavelet, plane, w, rh, rw, &mut tmp);
        rh = rh.div_ceil(2);
        rw = rw.div_ceil(2);
    }
    levels
}

/// Inverse of [`forward_2d`] with the same `levels` (clamped the same way).
pub fn inverse_2d(wavelet: Wavelet, plane: &mut [f32], h: usize, w: usize, levels: u8) {
    let levels = levels.min(max_levels(h, w));
    let mut tmp = vec![0.0f32; h * w];
    let mut sizes = vec![(h, w)];
    for _ in 1..levels {
        let (a, b) = *sizes.last().unwrap_or(&(h, w));
        sizes.push((a.div_ceil(2), b.div_ceil(2)));
    }
    for &(rh, rw) in sizes.iter().take(levels as usize).rev() {
        inverse_cols(wavelet, plane, w, rh, rw, &mut tmp);
        inverse_rows(wavelet, plane, w, rh, rw, &mut tmp);
    }
}

/// What one wavelet run reads from an entity, checked (both devices): the f32 input (`Yuvw`
/// forward, `WaveletPyr` inverse), the wavelet and levels to use (forward: the system's, with
/// the levels clamped to the size; inverse: the pyramid's own) and the `[C, h, w]`.
fn input(
    world: &World,
    e: Entity,
    dir: Direction,
    wavelet: Wavelet,
    levels: u8,
) -> Result<(TensorRef, Wavelet, u8, [usize; 3])> {
    let (t, wl, lv) = match dir {
        Direction::Forward => (world.get::<Yuvw>(e)?.tensor, wavelet, levels),
        Direction::Inverse => {
            let p = world.get::<WaveletPyr>(e)?;
            (p.tensor, p.wavelet, p.levels)
        }
    };
    let [c, h, w] = *t.shape() else {
        return Err(Error::InvalidInput(format!(
            "wavelet input must be [C, h, w], got {:?}",
            t.shape()
        )));
    };
    if t.dtype != DType::F32 || c == 0 || h == 0 || w == 0 {
        return Err(Error::InvalidInput(format!(
            "wavelet input must be a non-empty f32 tensor, got {:?} {}",
            t.shape(),
            t.dtype.name()
        )));
    }
    Ok((t, wl, lv.min(max_levels(h, w)), [c, h, w]))
}

/// Attaches a run's output to `e`: `WaveletPyr` forward, `Yuvw` inverse.
fn output(
    world: &mut World,
    e: Entity,
    dir: Direction,
    tensor: TensorRef,
    wavelet: Wavelet,
    levels: u8,
) -> Result<()> {
    match dir {
        Direction::Forward => world.insert(
            e,
            WaveletPyr {
                tensor,
                wavelet,
                levels,
            },
        ),
        Direction::Inverse => world.insert(e, Yuvw { tensor }),
    }
}

/// The wavelet system: `Yuvw → WaveletPyr` forward, `WaveletPyr → Yuvw` inverse.
#[derive(Debug, Clone, Copy)]
pub struct WaveletTransform {
    direction: Direction,
    wavelet: Wavelet,
    levels: u8,
}

impl WaveletTransform {
    /// `Yuvw → WaveletPyr` with `levels` levels (clamped per entity so no band is empty).
    pub fn forward(wavelet: Wavelet, levels: u8) -> Self {
        Self {
            direction: Direction::Forward,
            wavelet,
            levels,
        }
    }

    /// `WaveletPyr → Yuvw`, using the wavelet and levels recorded in each `WaveletPyr`.
    pub fn inverse() -> Self {
        Self {
            direction: Direction::Inverse,
            wavelet: Wavelet::Cdf53,
            levels: 0,
        }
    }
}

impl System for WaveletTransform {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "wavelet",
            Direction::Inverse => "wavelet⁻¹",
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
            Direction::Forward => vec![ComponentId::of::<Yuvw>()],
            Direction::Inverse => vec![ComponentId::of::<WaveletPyr>()],
        }
    }

    fn produced(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<WaveletPyr>()],
            Direction::Inverse => vec![ComponentId::of::<Yuvw>()],
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let dir = self.direction;
        let (wavelet, levels) = (self.wavelet, self.levels);
        #[cfg(feature = "gpu")]
        if world.device() == crate::device::Device::Gpu {
            return gpu::run(world, entities, dir, wavelet, levels);
        }
        let done = map_tensors::<f32, f32, (Wavelet, u8), (), _, _>(
            world,
            entities,
            |w, e| {
                let (t, wl, lv, _) = input(w, e, dir, wavelet, levels)?;
                Ok((t, t.shape().to_vec(), (wl, lv)))
            },
            |x, y, t, &(wl, lv)| {
                let (h, w) = (t.shape()[1], t.shape()[2]);
                y.copy_from_slice(x);
                for plane in y.chunks_exact_mut(h * w) {
                    match dir {
                        Direction::Forward => {
                            forward_2d(wl, plane, h, w, lv);
                        }
                        Direction::Inverse => inverse_2d(wl, plane, h, w, lv),
                    }
                }
                Ok(())
            },
        )?;
        for (e, tensor, (wavelet, levels), ()) in done {
            output(world, e, dir, tensor, wavelet, levels)?;
        }
        Ok(())
    }
}

/// The GPU path: `shaders/wavelet.wgsl`, the kernel of [`forward_1d`]/[`inverse_1d`] applied
/// to rows and columns as [`forward_2d`]/[`inverse_2d`] do.
#[cfg(feature = "gpu")]
pub(crate) mod gpu {
    use super::*;
    use crate::gpu::{groups_for, job_grid, u32_of, GpuArena, Kernel};

    /// One entry per plane; `WaveletDesc` in `shaders/wavelet.wgsl`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct WaveletDesc {
        /// Word index of the plane in the pass's input.
        pub src: u32,
        /// Word index of the plane in the pass's output.
        pub dst: u32,
        /// Row stride (the plane's full width).
        pub stride: u32,
        /// Rows of the region transformed.
        pub rh: u32,
        /// Columns of the region transformed.
        pub rw: u32,
        /// 0 CDF 5/3, 1 Haar.
        pub wavelet: u32,
    }

    const fn kernel(entry: &'static str) -> Kernel {
        Kernel {
            name: "wavelet",
            source: include_str!("shaders/wavelet.wgsl"),
            entry,
        }
    }

    /// One entity's part of a batch.
    #[derive(Clone, Copy)]
    struct Job {
        entity: Entity,
        wavelet: Wavelet,
        levels: u8,
        shape: [usize; 3],
        /// Input, output and scratch tensors.
        input: TensorRef,
        out: TensorRef,
        tmp: TensorRef,
    }

    /// Region sizes per level: `sizes[l]` is the LL region level `l + 1` transforms.
    fn level_sizes(h: usize, w: usize, levels: u8) -> Vec<(usize, usize)> {
        let mut sizes = vec![(h, w)];
        for _ in 1..levels {
            let (a, b) = sizes[sizes.len() - 1];
            sizes.push((a.div_ceil(2), b.div_ceil(2)));
        }
        sizes
    }

    /// One pass over every plane of the jobs that have `level` (None: whole planes), from
    /// `src` to `dst` of each job.
    fn pass(
        gpu: &mut GpuArena,
        jobs: &[Job],
        entry: &'static str,
        level: Option<usize>,
        src: impl Fn(&Job) -> TensorRef,
        dst: impl Fn(&Job) -> TensorRef,
    ) -> Result<()> {
        let (mut descs, mut longest) = (Vec::new(), 0);
        for j in jobs {
            let [c, h, w] = j.shape;
            let (rh, rw) = match level {
                None => (h, w),
                Some(l) if l < usize::from(j.levels) => level_sizes(h, w, j.levels)[l],
                Some(_) => continue,
            };
            let (s, d) = (gpu.word(&src(j))? as usize, gpu.word(&dst(j))? as usize);
            for ch in 0..c {
                descs.push(WaveletDesc {
                    src: u32_of(s + ch * h * w, "plane offset")?,
                    dst: u32_of(d + ch * h * w, "plane offset")?,
                    stride: u32_of(w, "width")?,
                    rh: u32_of(rh, "height")?,
                    rw: u32_of(rw, "width")?,
                    wavelet: u32::from(j.wavelet.code()),
                });
            }
            longest = longest.max(rh * rw);
        }
        let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
        gpu.dispatch(&kernel(entry), &descs, grid)
    }

    /// The whole batch: two dispatches (rows, then columns) per level, plus one copy; inputs
    /// still on the host are uploaded first (one upload).
    pub(crate) fn run(
        world: &mut World,
        entities: &[Entity],
        dir: Direction,
        wavelet: Wavelet,
        levels: u8,
    ) -> Result<()> {
        let mut found = Vec::new();
        for &e in entities {
            match input(world, e, dir, wavelet, levels) {
                Ok(j) => found.push((e, j)),
                Err(err) => world.record_failure(e, err),
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        let inputs: Vec<TensorRef> = found.iter().map(|(_, (t, ..))| *t).collect();
        let inputs = world.to_gpu(&inputs)?;
        let gpu = world.gpu_or_err()?;
        let mut jobs = Vec::with_capacity(found.len());
        for ((entity, (_, wavelet, levels, shape)), input) in found.into_iter().zip(inputs) {
            jobs.push(Job {
                entity,
                wavelet,
                levels,
                shape,
                input,
                out: gpu.alloc(DType::F32, &shape)?,
                tmp: gpu.alloc(DType::F32, &shape)?,
            });
        }
        let most = jobs
            .iter()
            .map(|j| usize::from(j.levels))
            .max()
            .unwrap_or(0);
        match dir {
            Direction::Forward => {
                // Level 1 reads the input; planes too small for any level are copied.
                let flat: Vec<Job> = jobs.iter().filter(|j| j.levels == 0).copied().collect();
                if !flat.is_empty() {
                    pass(gpu, &flat, "copy", None, |j| j.input, |j| j.out)?;
                }
                for l in 0..most {
                    if l == 0 {
                        pass(gpu, &jobs, "forward_rows", Some(l), |j| j.input, |j| j.tmp)?;
                    } else {
                        pass(gpu, &jobs, "forward_rows", Some(l), |j| j.out, |j| j.tmp)?;
                    }
                    pass(gpu, &jobs, "forward_cols", Some(l), |j| j.tmp, |j| j.out)?;
                }
            }
            Direction::Inverse => {
                pass(gpu, &jobs, "copy", None, |j| j.input, |j| j.out)?;
                for l in (0..most).rev() {
                    pass(gpu, &jobs, "inverse_cols", Some(l), |j| j.out, |j| j.tmp)?;
                    pass(gpu, &jobs, "inverse_rows", Some(l), |j| j.tmp, |j| j.out)?;
                }
            }
        }
        for j in jobs {
            output(world, j.entity, dir, j.out, j.wavelet, j.levels)?;
        }
        Ok(())
    }

    #[cfg(test)]
    #[test]
    fn descriptor_matches_the_shader() {
        let d = WaveletDesc {
            src: 0,
            dst: 1,
            stride: 2,
            rh: 3,
            rw: 4,
            wavelet: 5,
        };
        crate::gpu::layout::assert_same(
            d,
            kernel("copy").source,
            "WaveletDesc",
            &["src", "dst", "stride", "rh", "rw", "wavelet"],
        );
        assert_eq!(
            u32::from(Wavelet::Cdf53.code()),
            0,
            "the shader's wavelet codes"
        );
        assert_eq!(u32::from(Wavelet::Haar.code()), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_table_tiles_the_plane() {
        for (h, w) in [(1, 1), (2, 2), (17, 9), (96, 64), (61, 97)] {
            for levels in 0..=max_levels(h, w) + 1 {
                let bs = bands(h, w, levels);
                let mut cover = vec![0u8; h * w];
                for b in &bs {
                    assert!(!b.is_empty(), "{h}x{w} L{levels}: empty band {b:?}");
                    for y in b.y..b.y + b.h {
                        for x in b.x..b.x + b.w {
                            cover[y * w + x] += 1;
                        }
                    }
                }
                assert!(cover.iter().all(|&c| c == 1), "{h}x{w} L{levels}");
                assert_eq!(bs.len(), 1 + 3 * levels.min(max_levels(h, w)) as usize);
            }
        }
    }

    #[test]
    fn max_levels_examples() {
        assert_eq!(max_levels(1, 1), 0);
        assert_eq!(max_levels(1, 17), 0);
        assert_eq!(max_levels(2, 2), 1);
        assert_eq!(max_levels(96, 64), 6);
        assert_eq!(max_levels(3, 5), 2);
    }

    /// The synthesis gains are the energies of the impulse responses of the inverse transform.
    #[test]
    fn synthesis_gains_match_impulse_responses() {
        for wavelet in [Wavelet::Cdf53, Wavelet::Haar] {
            let n = 64;
            let (g_lo, g_hi) = wavelet.synthesis_gains();
            for (band_lo, expect) in [(true, g_lo), (false, g_hi)] {
                let mut lo = vec![0.0f32; n / 2];
                let mut hi = vec![0.0f32; n / 2];
                if band_lo {
                    lo[n / 4] = 1.0;
                } else {
                    hi[n / 4] = 1.0;
                }
                let mut x = vec![0.0f32; n];
                inverse_1d(wavelet, &lo, &hi, &mut x);
                let e: f32 = x.iter().map(|v| v * v).sum();
                assert!((e - expect).abs() < 1e-6, "{wavelet:?} lo={band_lo}: {e}");
            }
        }
    }
}

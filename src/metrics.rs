//! Image quality metrics.

/// Mean squared error between two equally long byte buffers (e.g. RGB8 images), in 8-bit
/// units. Returns `None` when the lengths differ or are zero.
pub fn mse_u8(a: &[u8], b: &[u8]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| {
            let d = u64::from(x.abs_diff(*y));
            d * d
        })
        .sum();
    Some(sum as f64 / a.len() as f64)
}

/// PSNR in dB with an 8-bit peak (255) over all channels; identical inputs give infinity.
/// Returns `None` when the lengths differ or are zero.
///
/// ```
/// let a = [10u8, 20, 30];
/// let b = [11u8, 20, 30];
/// let p = vaerans::metrics::psnr_u8(&a, &b).unwrap();
/// assert!((p - 10.0 * (255.0f64 * 255.0 * 3.0).log10()).abs() < 1e-9);
/// ```
pub fn psnr_u8(a: &[u8], b: &[u8]) -> Option<f64> {
    let mse = mse_u8(a, b)?;
    Some(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    })
}

use crate::error::{Error, Result};

/// Side of the SSIM window (Wang et al. 2004): 11×11 Gaussian, σ = 1.5.
pub const SSIM_WINDOW: usize = 11;
const SSIM_SIGMA: f64 = 1.5;
const K1: f64 = 0.01;
const K2: f64 = 0.03;
const PEAK: f64 = 255.0;
/// MS-SSIM's per-scale weights (Wang, Simoncelli, Bovik 2003), finest scale first.
pub const MS_SSIM_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
/// Smallest side MS-SSIM accepts: the coarsest of its five scales must still hold a window.
pub const MS_SSIM_MIN_SIDE: usize = (SSIM_WINDOW - 1) * 16 + 1;

/// The normalised 1D Gaussian of the SSIM window.
fn window() -> [f64; SSIM_WINDOW] {
    let r = (SSIM_WINDOW / 2) as f64;
    let mut g = [0.0; SSIM_WINDOW];
    for (i, v) in g.iter_mut().enumerate() {
        let d = i as f64 - r;
        *v = (-d * d / (2.0 * SSIM_SIGMA * SSIM_SIGMA)).exp();
    }
    let s: f64 = g.iter().sum();
    g.map(|v| v / s)
}

/// One channel as a plane of f64.
struct Plane {
    w: usize,
    h: usize,
    v: Vec<f64>,
}

impl Plane {
    fn channel(rgb: &[u8], w: usize, h: usize, c: usize) -> Self {
        Self {
            w,
            h,
            v: rgb
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&x| f64::from(x))
                .collect(),
        }
    }

    fn map2(&self, o: &Plane, f: impl Fn(f64, f64) -> f64) -> Plane {
        Plane {
            w: self.w,
            h: self.h,
            v: self.v.iter().zip(&o.v).map(|(&a, &b)| f(a, b)).collect(),
        }
    }

    /// Separable Gaussian filtering, "valid" region only (no padding): `(h−10) × (w−10)`.
    fn filter_valid(&self, g: &[f64; SSIM_WINDOW]) -> Plane {
        let (w, h) = (self.w, self.h);
        let (ow, oh) = (w + 1 - SSIM_WINDOW, h + 1 - SSIM_WINDOW);
        let mut rows = vec![0.0; ow * h];
        for y in 0..h {
            let src = &self.v[y * w..(y + 1) * w];
            for x in 0..ow {
                rows[y * ow + x] = g.iter().zip(&src[x..]).map(|(k, v)| k * v).sum();
            }
        }
        let mut out = vec![0.0; ow * oh];
        for y in 0..oh {
            for (k, gk) in g.iter().enumerate() {
                let src = &rows[(y + k) * ow..(y + k + 1) * ow];
                for (o, v) in out[y * ow..(y + 1) * ow].iter_mut().zip(src) {
                    *o += gk * v;
                }
            }
        }
        Plane {
            w: ow,
            h: oh,
            v: out,
        }
    }

    /// 2×2 average pooling; an odd side is padded with one zero on both ends, and padding
    /// counts in the average (as `avg_pool2d` with `padding = side % 2` does in MS-SSIM's
    /// reference implementation).
    fn halve(&self) -> Plane {
        let (pw, ph) = (self.w % 2, self.h % 2);
        let (ow, oh) = ((self.w + 2 * pw - 2) / 2 + 1, (self.h + 2 * ph - 2) / 2 + 1);
        let at = |x: isize, y: isize| -> f64 {
            if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
                0.0
            } else {
                self.v[y as usize * self.w + x as usize]
            }
        };
        let mut v = Vec::with_capacity(ow * oh);
        for y in 0..oh {
            for x in 0..ow {
                let (x0, y0) = (
                    (2 * x) as isize - pw as isize,
                    (2 * y) as isize - ph as isize,
                );
                v.push((at(x0, y0) + at(x0 + 1, y0) + at(x0, y0 + 1) + at(x0 + 1, y0 + 1)) / 4.0);
            }
        }
        Plane { w: ow, h: oh, v }
    }
}

/// Mean SSIM and mean contrast-structure term of one channel pair.
fn ssim_cs(x: &Plane, y: &Plane, g: &[f64; SSIM_WINDOW]) -> (f64, f64) {
    let (c1, c2) = ((K1 * PEAK).powi(2), (K2 * PEAK).powi(2));
    let mx = x.filter_valid(g);
    let my = y.filter_valid(g);
    let xx = x.map2(x, |a, b| a * b).filter_valid(g);
    let yy = y.map2(y, |a, b| a * b).filter_valid(g);
    let xy = x.map2(y, |a, b| a * b).filter_valid(g);
    let (mut ssim, mut cs) = (0.0, 0.0);
    for i in 0..mx.v.len() {
        let (m1, m2) = (mx.v[i], my.v[i]);
        let s1 = xx.v[i] - m1 * m1;
        let s2 = yy.v[i] - m2 * m2;
        let s12 = xy.v[i] - m1 * m2;
        let c = (2.0 * s12 + c2) / (s1 + s2 + c2);
        cs += c;
        ssim += (2.0 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1) * c;
    }
    let n = mx.v.len() as f64;
    (ssim / n, cs / n)
}

fn check_pair(
    a: &[u8],
    b: &[u8],
    width: u32,
    height: u32,
    min: usize,
    what: &str,
) -> Result<(usize, usize)> {
    let (w, h) = (width as usize, height as usize);
    if a.len() != w * h * 3 || b.len() != a.len() {
        return Err(Error::InvalidInput(format!(
            "{what}: {} and {} bytes for {width}×{height} RGB8 images, which need {}",
            a.len(),
            b.len(),
            w * h * 3
        )));
    }
    if w < min || h < min {
        return Err(Error::InvalidInput(format!(
            "{what} needs images of at least {min}×{min} pixels, got {width}×{height}"
        )));
    }
    Ok((w, h))
}

/// SSIM of two RGB8 images (Wang et al. 2004): 11×11 Gaussian window with σ = 1.5, K1 = 0.01,
/// K2 = 0.03, peak 255, population statistics, the mean over the window's valid positions of
/// each channel, averaged over the three channels (as scikit-image's `structural_similarity`
/// with `gaussian_weights=True, use_sample_covariance=False`).
pub fn ssim_rgb8(a: &[u8], b: &[u8], width: u32, height: u32) -> Result<f64> {
    let (w, h) = check_pair(a, b, width, height, SSIM_WINDOW, "SSIM")?;
    let g = window();
    let total: f64 = (0..3)
        .map(|c| ssim_cs(&Plane::channel(a, w, h, c), &Plane::channel(b, w, h, c), &g).0)
        .sum();
    Ok(total / 3.0)
}

/// MS-SSIM of two RGB8 images (Wang, Simoncelli, Bovik 2003): five scales with the standard
/// weights, 2×2 average pooling between scales, the contrast-structure term at the four finer
/// scales and SSIM at the coarsest, each clamped at 0, per channel, averaged over the channels
/// (as pytorch-msssim's `ms_ssim`). Both sides must be at least [`MS_SSIM_MIN_SIDE`].
pub fn ms_ssim_rgb8(a: &[u8], b: &[u8], width: u32, height: u32) -> Result<f64> {
    let (w, h) = check_pair(a, b, width, height, MS_SSIM_MIN_SIDE, "MS-SSIM")?;
    let g = window();
    let mut total = 0.0;
    for c in 0..3 {
        let (mut x, mut y) = (Plane::channel(a, w, h, c), Plane::channel(b, w, h, c));
        let mut value = 1.0;
        for (scale, weight) in MS_SSIM_WEIGHTS.iter().enumerate() {
            let (ssim, cs) = ssim_cs(&x, &y, &g);
            if scale + 1 < MS_SSIM_WEIGHTS.len() {
                value *= cs.max(0.0).powf(*weight);
                x = x.halve();
                y = y.halve();
            } else {
                value *= ssim.max(0.0).powf(*weight);
            }
        }
        total += value;
    }
    Ok(total / 3.0)
}

/// Quality of a decoded image against its source, attached by [`MeasureQuality`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// PSNR over all channels, dB (8-bit peak).
    pub psnr: f64,
    /// SSIM ([`ssim_rgb8`]); `None` below 11×11 pixels.
    pub ssim: Option<f64>,
    /// MS-SSIM ([`ms_ssim_rgb8`]); `None` below [`MS_SSIM_MIN_SIDE`] pixels a side.
    pub ms_ssim: Option<f64>,
}

impl crate::Component for Metrics {
    const NAME: &'static str = "Metrics";
}

impl Metrics {
    /// All three metrics of a decoded RGB8 image against its source.
    pub fn of_rgb8(source: &[u8], decoded: &[u8], width: u32, height: u32) -> Result<Self> {
        let psnr = psnr_u8(source, decoded).ok_or_else(|| {
            Error::InvalidInput(format!(
                "metrics: {} and {} bytes differ or are empty",
                source.len(),
                decoded.len()
            ))
        })?;
        let side = width.min(height) as usize;
        let ssim = if side >= SSIM_WINDOW {
            Some(ssim_rgb8(source, decoded, width, height)?)
        } else {
            None
        };
        let ms_ssim = if side >= MS_SSIM_MIN_SIDE {
            Some(ms_ssim_rgb8(source, decoded, width, height)?)
        } else {
            None
        };
        Ok(Self {
            psnr,
            ssim,
            ms_ssim,
        })
    }
}

/// The metrics system: `Rgb + ReconRgb → Metrics`, entities in parallel.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeasureQuality;

impl crate::System for MeasureQuality {
    fn name(&self) -> &'static str {
        "metrics"
    }

    fn direction(&self) -> crate::Direction {
        crate::Direction::Inverse
    }

    fn required(&self) -> Vec<crate::ComponentId> {
        use crate::components::{ReconRgb, Rgb};
        use crate::ComponentId;
        vec![ComponentId::of::<Rgb>(), ComponentId::of::<ReconRgb>()]
    }

    fn produced(&self) -> Vec<crate::ComponentId> {
        vec![crate::ComponentId::of::<Metrics>()]
    }

    fn run(&self, world: &mut crate::World, entities: &[crate::Entity]) -> Result<()> {
        use crate::components::{ReconRgb, Rgb};
        use rayon::prelude::*;
        let jobs: Vec<_> = entities
            .iter()
            .map(|&e| {
                let job = (|| {
                    let (a, b) = (
                        world.get::<Rgb>(e)?.tensor,
                        world.get::<ReconRgb>(e)?.tensor,
                    );
                    if a.shape() != b.shape() {
                        return Err(Error::InvalidInput(format!(
                            "source {:?} and decoded {:?} differ in size",
                            a.shape(),
                            b.shape()
                        )));
                    }
                    let [h, w, 3] = *a.shape() else {
                        return Err(Error::InvalidInput(format!(
                            "metrics need [H, W, 3] images, got {:?}",
                            a.shape()
                        )));
                    };
                    Ok((
                        world.arena().view::<u8>(&a)?,
                        world.arena().view::<u8>(&b)?,
                        w,
                        h,
                    ))
                })();
                (e, job)
            })
            .collect();
        let results: Vec<_> = jobs
            .into_par_iter()
            .map(|(e, job)| {
                (
                    e,
                    job.and_then(|(a, b, w, h)| Metrics::of_rgb8(a, b, w as u32, h as u32)),
                )
            })
            .collect();
        for (e, r) in results {
            match r {
                Ok(m) => world.insert(e, m)?,
                Err(err) => world.record_failure(e, err),
            }
        }
        Ok(())
    }
}

/// Least-squares cubic `c0 + c1·t + c2·t² + c3·t³` through `(t, y)` points (at least four).
fn fit_cubic(points: &[(f64, f64)]) -> Option<[f64; 4]> {
    // Normal equations A c = b, A[i][j] = Σ t^(i+j), b[i] = Σ y·t^i; solved by Gaussian
    // elimination with partial pivoting (4×4).
    let mut a = [[0.0f64; 5]; 4];
    for &(t, y) in points {
        let pw = [1.0, t, t * t, t * t * t];
        for i in 0..4 {
            for j in 0..4 {
                a[i][j] += pw[i] * pw[j];
            }
            a[i][4] += pw[i] * y;
        }
    }
    for col in 0..4 {
        let pivot = (col..4).max_by(|&r, &s| a[r][col].abs().total_cmp(&a[s][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (v, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    Some([0, 1, 2, 3].map(|i| a[i][4] / a[i][i]))
}

/// Bjøntegaard delta rate of `test` against `anchor`, in percent (negative: `test` needs fewer
/// bits for the same PSNR). Each curve is `(rate, psnr)` points (rate in any positive unit,
/// e.g. bpp; at least four points); log-rate is fitted as a cubic of PSNR by least squares and
/// the fits are compared over the PSNR range both curves cover (VCEG-M33, as the common numpy
/// implementation computes it).
pub fn bd_rate(anchor: &[(f64, f64)], test: &[(f64, f64)]) -> Result<f64> {
    let check = |c: &[(f64, f64)], what: &str| -> Result<(f64, f64)> {
        if c.len() < 4
            || c.iter()
                .any(|&(r, p)| !(r > 0.0 && r.is_finite() && p.is_finite()))
        {
            return Err(Error::InvalidInput(format!(
                "BD-rate needs at least four points with positive, finite rates and finite \
                 quality values (PSNR or MS-SSIM in dB) on the {what} curve"
            )));
        }
        let lo = c.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = c.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        Ok((lo, hi))
    };
    let (alo, ahi) = check(anchor, "anchor")?;
    let (tlo, thi) = check(test, "test")?;
    let (lo, hi) = (alo.max(tlo), ahi.min(thi));
    if hi <= lo {
        return Err(Error::InvalidInput(format!(
            "BD-rate: the curves' quality ranges [{alo:.2}, {ahi:.2}] and [{tlo:.2}, {thi:.2}] do \
             not overlap"
        )));
    }
    // Centre PSNR for a well-conditioned fit; the integral is the same.
    let area = |c: &[(f64, f64)]| -> Result<f64> {
        let m = c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64;
        let pts: Vec<(f64, f64)> = c.iter().map(|&(r, p)| (p - m, r.ln())).collect();
        let k = fit_cubic(&pts).ok_or_else(|| {
            Error::InvalidInput(
                "BD-rate: a curve's quality values are too few distinct values".into(),
            )
        })?;
        let antiderivative = |t: f64| {
            k[0] * t + k[1] * t * t / 2.0 + k[2] * t.powi(3) / 3.0 + k[3] * t.powi(4) / 4.0
        };
        Ok(antiderivative(hi - m) - antiderivative(lo - m))
    };
    let diff = (area(test)? - area(anchor)?) / (hi - lo);
    Ok((diff.exp() - 1.0) * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_pads_odd_sides_like_avg_pool2d() {
        // 3×3 of ones: padding 1 on each side, windows start at −1, zeros count.
        let p = Plane {
            w: 3,
            h: 3,
            v: vec![1.0; 9],
        };
        let q = p.halve();
        assert_eq!((q.w, q.h), (2, 2));
        assert_eq!(q.v, vec![0.25, 0.5, 0.5, 1.0]);
        // Even sides: plain 2×2 means.
        let p = Plane {
            w: 2,
            h: 2,
            v: vec![1.0, 2.0, 3.0, 6.0],
        };
        assert_eq!(p.halve().v, vec![3.0]);
    }

    #[test]
    fn the_window_is_normalised_and_symmetric() {
        let g = window();
        assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        for i in 0..SSIM_WINDOW {
            assert_eq!(g[i], g[SSIM_WINDOW - 1 - i]);
        }
    }
}

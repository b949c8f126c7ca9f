//! The wavelet stage's maths, the definition the GPU kernel (`shaders/wavelet.wgsl`) matches.
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
//! `[low | high]`; one 2D level transforms the rows, then the columns, of the current LL region
//! ([`crate::layout`]).

use crate::layout::{regions, Wavelet};

// 1D lifting. `lo` gets ceil(n/2) samples, `hi` floor(n/2).

/// Forward 1D lifting of `x` into `lo` (`ceil(n/2)`) and `hi` (`floor(n/2)`).
pub(crate) fn forward_1d(wavelet: Wavelet, x: &[f32], lo: &mut [f32], hi: &mut [f32]) {
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
pub(crate) fn inverse_1d(wavelet: Wavelet, lo: &[f32], hi: &[f32], x: &mut [f32]) {
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
pub(crate) fn forward_2d(
    wavelet: Wavelet,
    plane: &mut [f32],
    h: usize,
    w: usize,
    levels: u8,
) -> u8 {
    let regions = regions(h, w, levels);
    let mut tmp = vec![0.0f32; h * w];
    for &(rh, rw) in &regions[..regions.len() - 1] {
        forward_rows(wavelet, plane, w, rh, rw, &mut tmp);
        forward_cols(wavelet, plane, w, rh, rw, &mut tmp);
    }
    (regions.len() - 1) as u8
}

/// Inverse of [`forward_2d`] with the same `levels` (clamped the same way).
pub(crate) fn inverse_2d(wavelet: Wavelet, plane: &mut [f32], h: usize, w: usize, levels: u8) {
    let regions = regions(h, w, levels);
    let mut tmp = vec![0.0f32; h * w];
    for &(rh, rw) in regions[..regions.len() - 1].iter().rev() {
        inverse_cols(wavelet, plane, w, rh, rw, &mut tmp);
        inverse_rows(wavelet, plane, w, rh, rw, &mut tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::max_levels;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    const SIZES: [(usize, usize); 8] = [
        (1, 1),
        (1, 17),
        (17, 1),
        (2, 2),
        (97, 61),
        (96, 64),
        (512, 512),
        (3, 5),
    ];

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random_range(-4.0f32..4.0)).collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn wavelet_round_trip_within_1e4_for_every_size_and_level() {
        for wavelet in [Wavelet::Cdf53, Wavelet::Haar] {
            for (i, &(h, w)) in SIZES.iter().enumerate() {
                let x = random(h * w, i as u64);
                // Every L from 1 to the maximum, plus one past it (clamped).
                for levels in 1..=max_levels(h, w) + 1 {
                    let mut p = x.clone();
                    let applied = forward_2d(wavelet, &mut p, h, w, levels);
                    assert_eq!(applied, levels.min(max_levels(h, w)));
                    inverse_2d(wavelet, &mut p, h, w, levels);
                    let err = max_abs_diff(&x, &p);
                    assert!(
                        err <= 1e-4,
                        "{wavelet:?} {h}x{w} L{levels}: max error {err}"
                    );
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Naive reference: the lifting steps with an explicit symmetric-extension index function.

    /// Whole-sample symmetric extension of index `i` into `0..n`.
    fn mirror(i: isize, n: usize) -> usize {
        let n = n as isize;
        if n == 1 {
            return 0;
        }
        let period = 2 * (n - 1);
        let mut i = i.rem_euclid(period);
        if i >= n {
            i = period - i;
        }
        i as usize
    }

    /// Predict and update on the symmetrically extended signal, computed the long way: the detail
    /// at any (possibly out-of-range) index is evaluated from the extended `x`.
    fn naive_forward(wavelet: Wavelet, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let n = x.len();
        let xe = |i: isize| x[mirror(i, n)];
        let nh = n / 2;
        let nl = n - nh;
        if n == 1 {
            return (x.to_vec(), vec![]);
        }
        match wavelet {
            Wavelet::Cdf53 => {
                let d_at = |k: isize| xe(2 * k + 1) - 0.5 * (xe(2 * k) + xe(2 * k + 2));
                let d: Vec<f32> = (0..nh as isize).map(d_at).collect();
                let s: Vec<f32> = (0..nl as isize)
                    .map(|k| xe(2 * k) + 0.25 * (d_at(k - 1) + d_at(k)))
                    .collect();
                (s, d)
            }
            Wavelet::Haar => {
                let d: Vec<f32> = (0..nh).map(|k| x[2 * k + 1] - x[2 * k]).collect();
                let mut s: Vec<f32> = (0..nh).map(|k| x[2 * k] + 0.5 * d[k]).collect();
                if n % 2 == 1 {
                    s.push(x[n - 1]);
                }
                (s, d)
            }
        }
    }

    fn fast_forward(wavelet: Wavelet, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let nh = x.len() / 2;
        let mut lo = vec![0.0; x.len() - nh];
        let mut hi = vec![0.0; nh];
        forward_1d(wavelet, x, &mut lo, &mut hi);
        (lo, hi)
    }

    fn wavelets() -> impl Strategy<Value = Wavelet> {
        prop_oneof![Just(Wavelet::Cdf53), Just(Wavelet::Haar)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn lifting_matches_the_naive_reference(
            wavelet in wavelets(),
            x in prop::collection::vec(-1000.0f32..1000.0, 1..200),
        ) {
            let (s, d) = fast_forward(wavelet, &x);
            let (rs, rd) = naive_forward(wavelet, &x);
            prop_assert_eq!(s.len(), rs.len());
            prop_assert_eq!(d.len(), rd.len());
            // Same formulas, same order of operations at every interior sample; the borders of the
            // naive version evaluate the mirrored detail afresh, which is the same arithmetic.
            for (a, b) in s.iter().zip(&rs).chain(d.iter().zip(&rd)) {
                prop_assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "{} vs {}", a, b);
            }
            let mut back = vec![0.0; x.len()];
            inverse_1d(wavelet, &s, &d, &mut back);
            for (a, b) in back.iter().zip(&x) {
                prop_assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()));
            }
        }

        #[test]
        fn one_2d_level_is_rows_then_columns_of_the_1d_transform(
            wavelet in wavelets(),
            h in 2usize..20,
            w in 2usize..20,
            seed in any::<u64>(),
        ) {
            let x = random(h * w, seed);
            let mut fast = x.clone();
            forward_2d(wavelet, &mut fast, h, w, 1);
            // Reference: the naive 1D transform on every row, then on every column.
            let mut rows = vec![0.0; h * w];
            for r in 0..h {
                let (s, d) = naive_forward(wavelet, &x[r * w..(r + 1) * w]);
                rows[r * w..r * w + s.len()].copy_from_slice(&s);
                rows[r * w + s.len()..(r + 1) * w].copy_from_slice(&d);
            }
            let mut reference = vec![0.0; h * w];
            for c in 0..w {
                let col: Vec<f32> = (0..h).map(|r| rows[r * w + c]).collect();
                let (s, d) = naive_forward(wavelet, &col);
                for (r, v) in s.iter().chain(&d).enumerate() {
                    reference[r * w + c] = *v;
                }
            }
            for (a, b) in fast.iter().zip(&reference) {
                prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{} vs {}", a, b);
            }
        }
    }

    #[test]
    fn constant_planes_have_zero_detail() {
        for wavelet in [Wavelet::Cdf53, Wavelet::Haar] {
            let (h, w) = (13, 7);
            let mut p = vec![2.5f32; h * w];
            let levels = forward_2d(wavelet, &mut p, h, w, 8);
            let bands = crate::layout::bands(h, w, levels);
            for b in &bands[1..] {
                for y in b.y..b.y + b.h {
                    for x in b.x..b.x + b.w {
                        assert_eq!(p[y * w + x], 0.0, "{wavelet:?} {b:?}");
                    }
                }
            }
            let ll = bands[0];
            assert!((p[ll.y * w + ll.x] - 2.5).abs() < 1e-6);
        }
    }

    #[test]
    fn extreme_values_survive_the_round_trip_relatively() {
        let (h, w) = (9, 11);
        let x: Vec<f32> = (0..h * w)
            .map(|i| if i % 3 == 0 { 1e30 } else { -1e30 })
            .collect();
        let mut p = x.clone();
        forward_2d(Wavelet::Cdf53, &mut p, h, w, 3);
        inverse_2d(Wavelet::Cdf53, &mut p, h, w, 3);
        for (a, b) in x.iter().zip(&p) {
            assert!((a - b).abs() <= 1e-5 * a.abs(), "{a} vs {b}");
        }
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

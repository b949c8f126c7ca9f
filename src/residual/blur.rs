//! A separable Gaussian blur of an RGB8 image: the maths of [`GaussianBlur`](super::GaussianBlur).
//!
//! The encoder and the decoder both blur the base image with it, so it must give the same
//! bytes on both sides: the kernel is computed from the stream's σ code in the same order of
//! operations everywhere, sums run left to right in f32, and the result is rounded to u8.

use crate::error::{Error, Result};

/// Largest σ code: σ = code / 8, so at most 4 pixels (the layered format's bound).
pub const MAX_SIGMA_CODE: u8 = crate::bitstream::layers::MAX_BLUR_CODE;

/// σ of a stream's code: `code / 8` pixels (0: no blur).
pub fn sigma_of(code: u8) -> f32 {
    f32::from(code) / 8.0
}

/// Checks a σ code (from a stream or a caller).
pub fn check_sigma_code(code: u8) -> Result<u8> {
    if code <= MAX_SIGMA_CODE {
        Ok(code)
    } else {
        Err(Error::InvalidInput(format!(
            "blur σ code {code} is above {MAX_SIGMA_CODE} (σ = code/8 pixels, at most 4)"
        )))
    }
}

/// The normalised 1D kernel of σ (`2r + 1` taps, `r = ⌈3σ⌉`); `[1]` for σ = 0.
pub fn kernel(sigma: f32) -> Vec<f32> {
    if sigma <= 0.0 {
        return vec![1.0];
    }
    let r = (3.0 * sigma).ceil() as i32;
    let taps: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = taps.iter().sum();
    taps.into_iter().map(|t| t / sum).collect()
}

/// Blurs the `w × h` RGB8 image `src` into `out` (same size) with σ of `code`, clamping at
/// the borders. Code 0 copies.
pub fn blur_rgb(src: &[u8], w: usize, h: usize, code: u8, out: &mut [u8]) {
    debug_assert_eq!(src.len(), w * h * 3);
    debug_assert_eq!(out.len(), src.len());
    let k = kernel(sigma_of(code));
    if k.len() == 1 {
        out.copy_from_slice(src);
        return;
    }
    let r = (k.len() / 2) as isize;
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    // Rows into a float buffer, then columns into the output.
    let mut rows = vec![0f32; src.len()];
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0f32;
                for (j, &t) in k.iter().enumerate() {
                    let sx = clamp(x as isize + j as isize - r, w);
                    acc += t * f32::from(src[(y * w + sx) * 3 + c]);
                }
                rows[(y * w + x) * 3 + c] = acc;
            }
        }
    }
    for y in 0..h {
        for x in 0..w {
            for c in 0..3 {
                let mut acc = 0f32;
                for (j, &t) in k.iter().enumerate() {
                    let sy = clamp(y as isize + j as isize - r, h);
                    acc += t * rows[(sy * w + x) * 3 + c];
                }
                out[(y * w + x) * 3 + c] = acc.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_are_normalised_and_symmetric() {
        for code in 1..=MAX_SIGMA_CODE {
            let k = kernel(sigma_of(code));
            assert!((k.iter().sum::<f32>() - 1.0).abs() < 1e-5, "code {code}");
            assert!(k.iter().zip(k.iter().rev()).all(|(a, b)| a == b));
            assert!(k.len() % 2 == 1);
        }
        assert_eq!(kernel(0.0), vec![1.0]);
        assert!(check_sigma_code(MAX_SIGMA_CODE + 1).is_err());
    }

    /// Constant images stay constant (borders included), code 0 copies, a 1×1 image works, and
    /// an edge is smoothed symmetrically.
    #[test]
    fn blur_edges() {
        for (w, h) in [(1, 1), (5, 3), (2, 9)] {
            let src = vec![77u8; w * h * 3];
            let mut out = vec![0u8; src.len()];
            blur_rgb(&src, w, h, 12, &mut out);
            assert_eq!(out, src, "{w}×{h}");
        }
        let src: Vec<u8> = (0..8 * 3).map(|i| if i < 12 { 0 } else { 200 }).collect();
        let mut out = vec![0u8; src.len()];
        blur_rgb(&src, 8, 1, 0, &mut out);
        assert_eq!(out, src);
        blur_rgb(&src, 8, 1, 8, &mut out);
        let red: Vec<u8> = out.iter().step_by(3).copied().collect();
        assert!(red.windows(2).all(|p| p[0] <= p[1]), "{red:?}");
        assert_eq!(u32::from(red[3]) + u32::from(red[4]), 200, "{red:?}");
    }
}

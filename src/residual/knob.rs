//! The quality knob over both layers: quality 1 to 100 walks the (base quality, residual
//! quality) pairs on the rate–distortion hull measured for the embedded model on BSDS500
//! training images (`scripts/residual-hull.py` over a grid of `vaerans eval` runs; the
//! measurement and its numbers are in the README).
//!
//! Low qualities are the base alone, its quality rising with the knob; past the point where a
//! residual pays for itself the residual starts and, as it grows, the base falls to the
//! cheapest: at high rates the residual does the work and base bits are wasted. Between the
//! anchors both qualities are interpolated, so rate and PSNR rise smoothly with the knob.

use super::settings::ResidualSettings;
use crate::error::Result;
use crate::latent::quantize::check_quality;

/// `(knob, base quality, residual quality)` anchors, knob ascending; a residual quality of 0
/// is no residual layer. Measured (12 BSDS500 training images, embedded model): the base alone
/// is on the hull up to quality 50 (0.14 bpp there); from there a residual over a base at 50
/// is, up to residual quality ~40 (0.67 bpp); past it a base at 5 is as good for fewer bits,
/// and the residual does the work.
const ANCHORS: [(u8, u8, u8); 6] = [
    (1, 1, 0),
    (50, 50, 0),
    (51, 50, 2),
    (75, 50, 38),
    (85, 5, 55),
    (100, 5, 95),
];

/// The residual quality from which the knob predicts from the base blurred with σ = 1 pixel:
/// measured over a base at 50, σ = 1 gave +0.15 dB for +0.4% rate at residual quality 40 and
/// −0.02 dB for +1.8% at 20 (σ = 1.5 and 2 cost more rate for less).
const BLUR_FROM: u8 = 35;

/// The blur code (σ = code / 8) of the knob's residual layers from [`BLUR_FROM`] on.
const BLUR: u8 = 8;

/// The layers of knob `quality`: the base's quality and the residual's settings, if any.
///
/// ```
/// use vaerans::residual::knob::layers_for;
/// assert_eq!(layers_for(30).unwrap(), (30, None));
/// let (base, residual) = layers_for(90).unwrap();
/// assert!(base < 90 && residual.unwrap().quality() > 50);
/// ```
pub fn layers_for(quality: u8) -> Result<(u8, Option<ResidualSettings>)> {
    let (base, residual) = qualities(quality)?;
    let settings = match residual {
        Some(r) => {
            Some(ResidualSettings::new(r)?.with_blur(if r >= BLUR_FROM { BLUR } else { 0 })?)
        }
        None => None,
    };
    Ok((base, settings))
}

/// The base's and the residual's quality of knob `quality`.
fn qualities(quality: u8) -> Result<(u8, Option<u8>)> {
    let k = check_quality(quality)?;
    let at = ANCHORS.iter().rposition(|a| a.0 <= k).unwrap_or(0);
    let (k0, b0, r0) = ANCHORS[at];
    let (k1, b1, r1) = ANCHORS.get(at + 1).copied().unwrap_or(ANCHORS[at]);
    let lerp = |a: u8, b: u8| -> u8 {
        if k1 == k0 {
            return a;
        }
        let t = f32::from(k - k0) / f32::from(k1 - k0);
        (f32::from(a) + t * (f32::from(b) - f32::from(a))).round() as u8
    };
    let (base, residual) = (lerp(b0, b1), if r0 == 0 { 0 } else { lerp(r0, r1) });
    Ok((base.max(1), (residual > 0).then_some(residual)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every knob maps to valid qualities; the residual never shrinks as the knob rises, and
    /// the base alone rises until the residual starts.
    #[test]
    fn the_knob_walks_the_anchors_monotonically() {
        let mut last = (0u8, 0u8);
        for k in 1..=100u8 {
            let (base, residual) = qualities(k).unwrap();
            assert!(check_quality(base).is_ok());
            let r = residual.unwrap_or(0);
            assert!(r >= last.1, "knob {k}");
            if r == 0 {
                assert!(base > last.0, "knob {k}");
            }
            last = (base, r);
        }
        for (k, b, r) in ANCHORS {
            assert_eq!(qualities(k).unwrap(), (b, (r > 0).then_some(r)));
            let settings = layers_for(k).unwrap().1;
            let blur = if r >= BLUR_FROM { BLUR } else { 0 };
            assert_eq!(
                settings.map(|s| (s.quality(), s.blur())),
                (r > 0).then_some((r, blur))
            );
        }
        assert!(layers_for(0).is_err() && layers_for(101).is_err());
    }
}

//! The residual's colour space: YCoCg, which decorrelates an RGB residual's channels (their
//! errors are mostly common to R, G and B), and back.
//!
//! ```text
//! Y  = ( R + 2G + B) / 4        G = Y + Cg
//! Co = ( R      − B) / 2        R = Y − Cg + Co
//! Cg = (−R + 2G − B) / 4        B = Y − Cg − Co
//! ```
//!
//! The transform is not orthonormal: an error `e` in one plane costs the RGB image
//! `3e²` (Y, Cg) or `2e²` (Co) of squared error, which [`PLANE_WEIGHTS`] tells the quantiser.

/// The squared-error weight of each plane (Y, Co, Cg) in the RGB image: how many of R, G, B an
/// error in it reaches, each with gain 1.
pub const PLANE_WEIGHTS: [f32; 3] = [3.0, 2.0, 3.0];

/// RGB (any unit) to YCoCg.
#[inline]
pub fn forward([r, g, b]: [f32; 3]) -> [f32; 3] {
    [
        0.25 * (r + 2.0 * g + b),
        0.5 * (r - b),
        0.25 * (2.0 * g - r - b),
    ]
}

/// YCoCg back to RGB: the exact inverse of [`forward`] (up to f32 rounding).
#[inline]
pub fn inverse([y, co, cg]: [f32; 3]) -> [f32; 3] {
    let t = y - cg;
    [t + co, y + cg, t - co]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn inverse_undoes_forward(r in -255f32..255.0, g in -255f32..255.0, b in -255f32..255.0) {
            let back = inverse(forward([r, g, b]));
            for (x, y) in back.iter().zip([r, g, b]) {
                prop_assert!((x - y).abs() <= 1e-4, "{back:?} vs {:?}", [r, g, b]);
            }
        }
    }

    /// The weights are what an error in one plane does to R, G and B.
    #[test]
    fn plane_weights_are_the_inverse_transforms_energy() {
        for (plane, &w) in PLANE_WEIGHTS.iter().enumerate() {
            let mut e = [0.0; 3];
            e[plane] = 1.0;
            let rgb = inverse(e);
            assert_eq!(rgb.iter().map(|v| v * v).sum::<f32>(), w, "plane {plane}");
        }
        // A grey residual is all Y.
        assert_eq!(forward([7.0, 7.0, 7.0]), [7.0, 0.0, 0.0]);
    }
}

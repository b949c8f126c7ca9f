//! The Hadamard stage's maths, the definition the GPU kernel (`shaders/hadamard.wgsl`) matches.

/// Applies `H4 = ½·[[1,1,1,1],[1,1,−1,−1],[1,−1,−1,1],[1,−1,1,−1]]` per pixel to each group of 4
/// channels of a `[C, h·w]` plane set. `x` and `y` hold `channels * plane` values; `channels`
/// is a multiple of 4. `H4` is its own inverse.
pub(crate) fn hadamard4(x: &[f32], y: &mut [f32], channels: usize, plane: usize) {
    debug_assert_eq!(channels % 4, 0);
    debug_assert_eq!(x.len(), channels * plane);
    for g in 0..channels / 4 {
        let base = 4 * g * plane;
        let (x0, rest) = x[base..base + 4 * plane].split_at(plane);
        let (x1, rest) = rest.split_at(plane);
        let (x2, x3) = rest.split_at(plane);
        let (y0, rest) = y[base..base + 4 * plane].split_at_mut(plane);
        let (y1, rest) = rest.split_at_mut(plane);
        let (y2, y3) = rest.split_at_mut(plane);
        for p in 0..plane {
            let (a, b, c, d) = (x0[p], x1[p], x2[p], x3[p]);
            y0[p] = 0.5 * ((a + b) + (c + d));
            y1[p] = 0.5 * ((a + b) - (c + d));
            y2[p] = 0.5 * ((a - b) - (c - d));
            y3[p] = 0.5 * ((a - b) + (c - d));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    #[test]
    fn matches_the_matrix_and_is_its_own_inverse() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        hadamard4(&x, &mut y, 4, 1);
        assert_eq!(y, [5.0, -2.0, 0.0, -1.0]);
        let mut z = [0.0; 4];
        hadamard4(&y, &mut z, 4, 1);
        assert_eq!(z, x);
    }

    #[test]
    fn round_trip_within_1e6_and_energy_is_kept() {
        for (i, &(h, w)) in [(1usize, 1usize), (1, 17), (17, 1), (97, 61), (3, 5)]
            .iter()
            .enumerate()
        {
            for c in [4, 8] {
                let mut rng = StdRng::seed_from_u64(100 + i as u64);
                let x: Vec<f32> = (0..c * h * w)
                    .map(|_| rng.random_range(-4.0..4.0))
                    .collect();
                let mut y = vec![0.0; x.len()];
                let mut z = vec![0.0; x.len()];
                hadamard4(&x, &mut y, c, h * w);
                hadamard4(&y, &mut z, c, h * w);
                let err = x
                    .iter()
                    .zip(&z)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(err <= 1e-6, "{c}x{h}x{w}: {err}");
                let ex: f64 = x.iter().map(|v| f64::from(v * v)).sum();
                let ey: f64 = y.iter().map(|v| f64::from(v * v)).sum();
                assert!((ex - ey).abs() <= 1e-6 * ex.max(1.0));
            }
        }
    }
}

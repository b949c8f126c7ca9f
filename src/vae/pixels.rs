//! Images ⇄ model input: RGB8 pixels to planar f32 in the model's range (padded by edge
//! replication to a multiple of the downsample factor), and back (cropped, clamped, rounded).

/// Writes an RGB8 image (`[H, W, 3]`) into one `3 × ph × pw` planar f32 image in `range`,
/// replicating the last row and column into the padding.
pub fn rgb_to_planar(
    rgb: &[u8],
    width: usize,
    height: usize,
    pw: usize,
    ph: usize,
    range: [f32; 2],
    out: &mut [f32],
) {
    debug_assert!(pw >= width && ph >= height);
    rgb_window_to_planar(rgb, width, height, [0, 0], pw, ph, range, out);
}

/// Writes the `tw × th` window at `origin` (x, y) of an RGB8 image (`[H, W, 3]`), extended
/// past its last row and column by replication, into one `3 × th × tw` planar f32 image in
/// `range`: a tile of the padded image, for a tiled encode.
#[allow(clippy::too_many_arguments)]
pub fn rgb_window_to_planar(
    rgb: &[u8],
    width: usize,
    height: usize,
    origin: [usize; 2],
    tw: usize,
    th: usize,
    range: [f32; 2],
    out: &mut [f32],
) {
    debug_assert!(width > 0 && height > 0);
    debug_assert_eq!(rgb.len(), width * height * 3);
    debug_assert_eq!(out.len(), 3 * tw * th);
    let scale = (range[1] - range[0]) / 255.0;
    let (r, rest) = out.split_at_mut(tw * th);
    let (g, b) = rest.split_at_mut(tw * th);
    for y in 0..th {
        let src = &rgb[(origin[1] + y).min(height - 1) * width * 3..][..width * 3];
        let row = y * tw;
        for x in 0..tw {
            let p = &src[(origin[0] + x).min(width - 1) * 3..][..3];
            r[row + x] = f32::from(p[0]) * scale + range[0];
            g[row + x] = f32::from(p[1]) * scale + range[0];
            b[row + x] = f32::from(p[2]) * scale + range[0];
        }
    }
}

/// The map from a model's output in `range` to 0..=255: scaled, clamped and rounded.
pub fn to_rgb8(range: [f32; 2]) -> impl Fn(f32) -> u8 + Copy {
    let scale = 255.0 / (range[1] - range[0]);
    // A NaN stays NaN through clamp and round, and `as u8` turns it into 0.
    move |v: f32| ((v - range[0]) * scale).clamp(0.0, 255.0).round() as u8
}

/// The inverse of [`rgb_to_planar`]: crops a `3 × ph × pw` planar image in `range` to
/// `width × height`, maps back to 0..=255, clamps and rounds to RGB8.
pub fn planar_to_rgb(
    x: &[f32],
    pw: usize,
    ph: usize,
    width: usize,
    height: usize,
    range: [f32; 2],
    out: &mut [u8],
) {
    debug_assert_eq!(x.len(), 3 * pw * ph);
    debug_assert_eq!(out.len(), width * height * 3);
    let to_u8 = to_rgb8(range);
    for y in 0..height {
        for xx in 0..width {
            let i = y * pw + xx;
            let o = &mut out[(y * width + xx) * 3..][..3];
            o[0] = to_u8(x[i]);
            o[1] = to_u8(x[pw * ph + i]);
            o[2] = to_u8(x[2 * pw * ph + i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_round_trip_pads_by_replication_and_crops_back() {
        let (w, h, pw, ph) = (3usize, 2usize, 8usize, 8usize);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 13 % 256) as u8).collect();
        let mut planar = vec![0f32; 3 * pw * ph];
        rgb_to_planar(&rgb, w, h, pw, ph, [-1.0, 1.0], &mut planar);
        // Padding replicates the last column / row.
        assert_eq!(planar[7], planar[2]);
        assert_eq!(planar[7 * pw + 7], planar[pw + 2]);
        assert!(planar.iter().all(|v| (-1.0..=1.0).contains(v)));
        let mut back = vec![0u8; w * h * 3];
        planar_to_rgb(&planar, pw, ph, w, h, [-1.0, 1.0], &mut back);
        assert_eq!(back, rgb);
    }

    #[test]
    fn out_of_range_and_nan_clamp() {
        let x = [f32::NAN, 5.0, -5.0];
        let mut out = [9u8; 3];
        planar_to_rgb(&x, 1, 1, 1, 1, [0.0, 1.0], &mut out);
        assert_eq!(out, [0, 255, 0]);
    }
}

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

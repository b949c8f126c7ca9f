//! The `check_gpu` feature's comparisons: with it, every GPU stage also runs its CPU reference
//! on the same input and fails the batch with [`Error::Internal`] naming the stage when the two
//! disagree beyond the parity tests' bounds. A debugging aid for new kernels and drivers (it
//! reads every stage's tensors back, so it is slow); the comparisons themselves are always
//! built, and tested.

use crate::error::{Error, Result};

/// f32 outputs agree when `max |got − want| ≤ bound · max(1, max |want|)`.
pub(crate) fn f32s(stage: &str, got: &[f32], want: &[f32], bound: f32) -> Result<()> {
    if got.len() != want.len() {
        return Err(mismatch(
            stage,
            format!("{} values against {}", got.len(), want.len()),
        ));
    }
    // A NaN on one side only is an infinite difference (`f32::max` would drop it).
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| match (a - b).abs() {
            d if d.is_nan() && !(a.is_nan() && b.is_nan()) => f32::INFINITY,
            d if d.is_nan() => 0.0,
            d => d,
        })
        .fold(0.0f32, f32::max);
    let scale = want.iter().map(|v| v.abs()).fold(1.0f32, f32::max);
    if diff > bound * scale {
        return Err(mismatch(
            stage,
            format!(
                "max difference {diff:e} against a bound of {:e}",
                bound * scale
            ),
        ));
    }
    Ok(())
}

/// Quantised symbols agree when each differs by at most one (a coefficient on a rounding
/// boundary, where a driver fuses a multiply-add) and at most 1 in 10 000 (plus one) differ.
pub(crate) fn symbols(stage: &str, got: &[u8], want: &[u8]) -> Result<()> {
    if got.len() != want.len() {
        return Err(mismatch(
            stage,
            format!("{} symbols against {}", got.len(), want.len()),
        ));
    }
    let far = got
        .iter()
        .zip(want)
        .filter(|(a, b)| a.abs_diff(**b) > 1)
        .count();
    let differ = got.iter().zip(want).filter(|(a, b)| a != b).count();
    if far > 0 || differ > 1 + got.len() / 10_000 {
        return Err(mismatch(
            stage,
            format!(
                "{differ} of {} symbols differ, {far} by more than one",
                got.len()
            ),
        ));
    }
    Ok(())
}

/// Anything else that must be equal (quantiser parameters).
pub(crate) fn equal<T: PartialEq + std::fmt::Debug>(stage: &str, got: &T, want: &T) -> Result<()> {
    if got != want {
        return Err(mismatch(stage, format!("{got:?} against {want:?}")));
    }
    Ok(())
}

fn mismatch(stage: &str, what: String) -> Error {
    Error::Internal(format!(
        "check_gpu: the {stage} kernel differs from its CPU reference: {what}"
    ))
}

/// Each stage input with its output, read back in one readback: `(input bytes, output bytes)`.
#[cfg(feature = "check_gpu")]
pub(crate) fn read_pairs(
    gpu: &mut super::arena::GpuArena,
    inputs: &[crate::TensorRef],
    outputs: &[crate::TensorRef],
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let both: Vec<crate::TensorRef> = inputs
        .iter()
        .zip(outputs)
        .flat_map(|(i, o)| [*i, *o])
        .collect();
    let mut back = gpu.readback(&both)?.into_iter();
    Ok(std::iter::from_fn(|| Some((back.next()?, back.next()?))).collect())
}

/// The f32 values of bytes read back.
pub(crate) fn as_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_pass_within_their_bounds_and_fail_beyond() {
        assert!(f32s("s", &[1.0, 2.0], &[1.0, 2.0 + 1e-6], 1e-5).is_ok());
        assert!(matches!(
            f32s("s", &[1.0, 2.1], &[1.0, 2.0], 1e-5),
            Err(Error::Internal(_))
        ));
        assert!(f32s("s", &[f32::NAN], &[0.0], 1e-5).is_err());
        assert!(f32s("s", &[1.0], &[1.0, 2.0], 1e-5).is_err());
        let want = vec![7u8; 20_000];
        let mut got = want.clone();
        got[5] = 8;
        got[6] = 6;
        assert!(symbols("s", &got, &want).is_ok());
        got[7] = 9;
        let msg = symbols("s", &got, &want).unwrap_err().to_string();
        assert!(
            msg.contains("the s kernel") && msg.contains("3 of 20000"),
            "{msg}"
        );
        assert!(equal("s", &1, &1).is_ok() && equal("s", &1, &2).is_err());
        assert_eq!(as_f32(&1.5f32.to_le_bytes()), [1.5]);
    }
}

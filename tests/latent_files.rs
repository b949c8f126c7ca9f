//! Latent files: `.npy` and `.safetensors` in f32, f16 and bf16, one latent or a batch, back
//! with the same shape, type and values; and hostile files that are errors, never a panic or a
//! large allocation.

mod common;

use std::path::Path;

use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::prelude::*;

const DTYPES: [LatentDType; 3] = [LatentDType::F32, LatentDType::F16, LatentDType::Bf16];
const FORMATS: [LatentFormat; 2] = [LatentFormat::Npy, LatentFormat::Safetensors];

/// A latent-like array of `shape`, its values already representable in `dtype`.
fn array(shape: &[usize], dtype: LatentDType) -> LatentArray {
    let n: usize = shape.iter().product();
    let c = shape[shape.len() - 3];
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let per = common::smooth_latent(c, h, w, 7);
    let data = (0..n)
        .map(|i| dtype.round(per[i % per.len()] * 3.0))
        .collect();
    LatentArray::new(data, shape.to_vec(), dtype).unwrap()
}

/// A version 1.0 `.npy` file of header dictionary `dict` and `data`, padded as NumPy pads it.
fn npy_file(dict: &str, data: &[u8]) -> Vec<u8> {
    let len = (10 + dict.len() + 1).div_ceil(64) * 64 - 10;
    let header = format!("{dict:<width$}\n", width = len - 1);
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn latents_round_trip_with_their_shape_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let shapes: [&[usize]; 4] = [
        &[4, 128, 128],
        &[16, 64, 64],
        &[32, 32, 48],
        &[2, 4, 64, 64],
    ];
    for shape in shapes {
        for dtype in DTYPES {
            let a = array(shape, dtype);
            for format in FORMATS {
                let path = dir.path().join(format!("l.{}", format.extension()));
                if (format, dtype) == (LatentFormat::Npy, LatentDType::Bf16) {
                    let err = a.write(&path).unwrap_err().to_string();
                    assert!(err.contains("safetensors"), "{err}");
                    continue;
                }
                a.write(&path).unwrap();
                if format == LatentFormat::Npy {
                    // Byte for byte what NumPy's `np.save` writes.
                    let descr = if dtype == LatentDType::F32 {
                        "<f4"
                    } else {
                        "<f2"
                    };
                    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
                    let dict = format!(
                        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}), }}",
                        dims.join(", ")
                    );
                    let bytes = std::fs::read(&path).unwrap();
                    let data = &bytes[bytes.len() - a.data().len() * dtype.size()..];
                    assert_eq!(bytes, npy_file(&dict, data));
                }
                let back = LatentArray::read(&path, &Limits::default()).unwrap();
                assert_eq!(back, a, "{shape:?} {dtype:?} {format:?}");
                assert_eq!(back.count(), if shape.len() == 4 { shape[0] } else { 1 });
                let one: usize = back.latent_shape().iter().product();
                assert_eq!(back.latent(back.count() - 1).unwrap().len(), one);
                assert!(back.latent(back.count()).is_none());
            }
        }
    }
}

#[test]
fn shapes_and_values_the_codec_cannot_take_are_clear_errors() {
    let err = |r: Result<LatentArray>| r.unwrap_err().to_string();
    let msg = err(LatentArray::new(
        vec![0.0; 6 * 4],
        vec![6, 2, 2],
        LatentDType::F32,
    ));
    assert!(
        msg.contains("6 channels") && msg.contains("multiple of 4"),
        "{msg}"
    );
    let msg = err(LatentArray::new(
        vec![0.0; 32],
        vec![1, 2, 4, 2, 2],
        LatentDType::F32,
    ));
    assert!(msg.contains("5-D"), "{msg}");
    let msg = err(LatentArray::new(
        vec![0.0; 16],
        vec![4, 2, 2, 0],
        LatentDType::F32,
    ));
    assert!(msg.contains("empty"), "{msg}");
    let msg = err(LatentArray::new(
        vec![0.0; 15],
        vec![4, 2, 2],
        LatentDType::F32,
    ));
    assert!(msg.contains("15 values"), "{msg}");
    for bad in [f32::NAN, f32::INFINITY] {
        let mut data = vec![0.0; 16];
        data[5] = bad;
        let msg = err(LatentArray::new(data, vec![4, 2, 2], LatentDType::F32));
        assert!(msg.contains("not a finite"), "{msg}");
    }
    // Finite in f32, infinite in f16.
    let msg = err(LatentArray::new(
        vec![1e6; 16],
        vec![4, 2, 2],
        LatentDType::F16,
    ));
    assert!(msg.contains("f16"), "{msg}");
    assert!(LatentFormat::of_path(Path::new("x.npz")).is_err());
    assert_eq!(
        LatentFormat::of_path(Path::new("a/B.SAFETENSORS")).unwrap(),
        LatentFormat::Safetensors
    );
}

#[test]
fn hostile_files_are_errors_that_allocate_nothing_large() {
    let limits = Limits::default();
    for format in FORMATS {
        let bytes = array(&[4, 3, 5], LatentDType::F16)
            .to_bytes(format)
            .unwrap();
        // Every truncation.
        for n in 0..bytes.len() {
            assert!(
                LatentArray::from_bytes(&bytes[..n], format, &limits).is_err(),
                "{format:?} cut at {n}"
            );
        }
        // A NaN in the data.
        let mut nan = bytes.clone();
        let at = nan.len() - 2;
        nan[at..].copy_from_slice(&half::f16::NAN.to_le_bytes());
        let msg = LatentArray::from_bytes(&nan, format, &limits)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("finite"), "{msg}");
    }
    // A .npy header claiming 10^12 elements over a few bytes of data.
    let bytes = npy_file(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 500000, 500000), }",
        &[0u8; 64],
    );
    let msg = LatentArray::from_bytes(&bytes, LatentFormat::Npy, &limits)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("500000") && msg.contains("holds 64 bytes"),
        "{msg}"
    );
    // A header of nested brackets (which took the header parser seconds: found by fuzzing)
    // and one longer than NumPy reads.
    let nested = format!("{}'shape': (4, 1, 1)", "{".repeat(200));
    let msg = LatentArray::from_bytes(&npy_file(&nested, &[0u8; 16]), LatentFormat::Npy, &limits)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("plain array"), "{msg}");
    let long = format!(
        "{{'descr': '<f4', 'shape': (4, 1, 1), 'x': '{}'}}",
        "a".repeat(20_000)
    );
    let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
    v2.extend_from_slice(&(long.len() as u32).to_le_bytes());
    v2.extend_from_slice(long.as_bytes());
    let msg = LatentArray::from_bytes(&v2, LatentFormat::Npy, &limits)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("at most 10000"), "{msg}");
    let npy = array(&[4, 2, 2], LatentDType::F32)
        .to_bytes(LatentFormat::Npy)
        .unwrap();
    // A .safetensors header claiming 10^12 elements.
    let header = r#"{"latent":{"dtype":"F32","shape":[4,500000,500000],"data_offsets":[0,64]}}"#;
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header.as_bytes());
    st.extend_from_slice(&[0u8; 64]);
    assert!(LatentArray::from_bytes(&st, LatentFormat::Safetensors, &limits).is_err());
    // Other element types, Fortran order, several tensors.
    for (from, to) in [("<f4", ">f4"), ("<f4", "<i4"), ("False", "True ")] {
        let text = String::from_utf8_lossy(&npy).replacen(from, to, 1);
        let msg = LatentArray::from_bytes(text.as_bytes(), LatentFormat::Npy, &limits)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(".npy"), "{to}: {msg}");
    }
    let two = r#"{"a":{"dtype":"F32","shape":[4,1,1],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4,1,1],"data_offsets":[16,32]}}"#;
    let mut st = (two.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(two.as_bytes());
    st.extend_from_slice(&[0u8; 32]);
    let msg = LatentArray::from_bytes(&st, LatentFormat::Safetensors, &limits)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("2 tensors"), "{msg}");
    // The file's size is checked before it is read.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.npy");
    std::fs::write(&path, &npy).unwrap();
    let tight = Limits::default().with_max_alloc(16);
    assert!(matches!(
        LatentArray::read(&path, &tight),
        Err(Error::LimitExceeded(_))
    ));
}

/// Files written by NumPy (`np.save`) and by the `safetensors` Python package (from PyTorch
/// tensors), holding `i/8 − 1` for element `i`: read with their shape and type, and written back
/// byte for byte.
#[test]
fn files_from_numpy_and_pytorch_read_and_write_back_identically() {
    let cases: [(&str, &[usize], LatentDType); 4] = [
        ("numpy_f32_2x4x2x3.npy", &[2, 4, 2, 3], LatentDType::F32),
        ("numpy_f16_4x3x2.npy", &[4, 3, 2], LatentDType::F16),
        (
            "torch_bf16_4x2x2.safetensors",
            &[4, 2, 2],
            LatentDType::Bf16,
        ),
        ("torch_f16_8x1x2.safetensors", &[8, 1, 2], LatentDType::F16),
    ];
    for (file, shape, dtype) in cases {
        let path = Path::new("tests/data/latents").join(file);
        let a = LatentArray::read(&path, &Limits::default()).unwrap();
        assert_eq!((a.shape(), a.dtype()), (shape, dtype), "{file}");
        let want: Vec<f32> = (0..a.data().len()).map(|i| i as f32 / 8.0 - 1.0).collect();
        assert_eq!(a.data(), &want[..], "{file}");
        let format = LatentFormat::of_path(&path).unwrap();
        assert_eq!(
            a.to_bytes(format).unwrap(),
            std::fs::read(&path).unwrap(),
            "{file}"
        );
    }
}

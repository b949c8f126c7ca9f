//! The container: pinned golden bytes, and hostile input (every truncation, every single-bit
//! flip, newer versions) that must give an `Err`, never a panic.

mod common;

use common::*;
use vaerans::bitstream::VERSION_MAJOR;
use vaerans::latent::stream::decode_symbols;
use vaerans::prelude::*;

/// Everything a decoder checks of a stream's bytes, with `limits`: framing, checksum, header,
/// tables and payload.
fn decode_stream(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    decode_symbols(&AnsBitstream::parse(bytes.to_vec(), limits)?)
}

const GOLDEN: &[u8] = include_bytes!("data/golden_v1.vaer");

/// The same latent as made by earlier encoders (different model choices, same format): a
/// reader must keep decoding every stream ever blessed for its major version.
const EARLIER: &[&[u8]] = &[
    include_bytes!("data/golden_v1_earlier_encoder.vaer"),
    include_bytes!("data/golden_v1_earlier_encoder_2.vaer"),
];

/// The latent the golden stream was made from: deterministic integer arithmetic only.
fn golden_latent() -> Vec<f32> {
    (0..4 * 8 * 6)
        .map(|i: i32| ((i * 37 % 23) - 11) as f32 / 4.0 + (i / 48) as f32)
        .collect()
}

fn golden_encode() -> Vec<u8> {
    encode(&golden_latent(), [4, 8, 6], 60, Wavelet::Cdf53, 2)
}

#[test]
fn golden_stream_bytes_are_pinned() {
    let made = golden_encode();
    if std::env::var_os("VAERANS_BLESS").is_some() {
        std::fs::write("tests/data/golden_v1.vaer", &made).unwrap();
    }
    assert_eq!(
        made, GOLDEN,
        "the encoder's output changed. If only its choices changed (the format did not), keep the \
         old file in EARLIER and re-bless with VAERANS_BLESS=1 cargo test --test bitstream; if the \
         format changed, also bump the version"
    );
    let (back, shape) = decode(GOLDEN).unwrap();
    assert_eq!(shape, vec![4, 8, 6]);
    assert!(mse(&golden_latent(), &back) < 0.01);
}

#[test]
fn streams_from_earlier_encoders_still_decode() {
    let (now, _) = decode(GOLDEN).unwrap();
    for old in EARLIER {
        assert_ne!(*old, GOLDEN);
        let (back, shape) = decode(old).unwrap();
        assert_eq!(shape, vec![4, 8, 6]);
        // Same quantiser, so the same reconstruction; only the entropy models differ.
        assert_eq!(back, now);
    }
}

#[test]
fn every_truncation_is_an_error() {
    let s = golden_encode();
    for cut in 0..s.len() {
        let r = decode_stream(&s[..cut], &Limits::default());
        assert!(r.is_err(), "truncation to {cut} bytes decoded");
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    for s in [
        golden_encode(),
        encode(
            &noisy_latent(4, 20, 12, 9),
            [4, 20, 12],
            80,
            Wavelet::Haar,
            3,
        ),
    ] {
        for byte in 0..s.len() {
            for bit in 0..8 {
                let mut t = s.clone();
                t[byte] ^= 1 << bit;
                assert!(
                    decode_stream(&t, &Limits::default()).is_err(),
                    "flip of bit {bit} in byte {byte} decoded"
                );
            }
        }
    }
}

#[test]
fn trailing_garbage_is_an_error() {
    let mut s = golden_encode();
    s.push(0);
    assert!(matches!(
        decode_stream(&s, &Limits::default()),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn newer_major_version_is_rejected_naming_both_versions() {
    let mut s = golden_encode();
    s[4] = VERSION_MAJOR + 1;
    s[5] = 3;
    // Re-seal so only the version is wrong.
    let n = s.len() - 4;
    let crc = crc32c::crc32c(&s[..n]);
    s[n..].copy_from_slice(&crc.to_le_bytes());
    let err = decode_stream(&s, &Limits::default()).unwrap_err();
    assert!(matches!(err, Error::UnsupportedVersion { .. }));
    let msg = err.to_string();
    assert!(msg.contains(&format!("{}.3", VERSION_MAJOR + 1)), "{msg}");
    assert!(msg.contains(&format!("{VERSION_MAJOR}.x")), "{msg}");
}

#[test]
fn limits_are_enforced_before_allocating() {
    let s = golden_encode();
    let tight = Limits::default().with_max_image_dim(4);
    assert!(matches!(
        decode_stream(&s, &tight),
        Err(Error::LimitExceeded(_))
    ));
    let tiny = Limits::default().with_max_alloc(100);
    assert!(matches!(
        decode_stream(&s, &tiny),
        Err(Error::LimitExceeded(_))
    ));
}

#[test]
fn not_a_stream_is_bad_magic() {
    assert!(matches!(
        decode_stream(b"\x89PNG\r\n\x1a\n0000000000", &Limits::default()),
        Err(Error::BadMagic)
    ));
    assert!(decode_stream(&[], &Limits::default()).is_err());
}

#[test]
fn header_fields_round_trip() {
    let s = AnsBitstream::parse(golden_encode(), &Limits::default()).unwrap();
    let h = s.header();
    assert_eq!((h.channels, h.latent_h, h.latent_w), (4, 8, 6));
    assert_eq!((h.source.width, h.source.height), (6, 8));
    let q = &h.quant;
    assert_eq!((q.wavelet, q.levels, q.quality), (Wavelet::Cdf53, 2, 60));
    assert_eq!(q.bands.len(), 4 * 7);
    assert_eq!(h.source.model, ModelId::default());
}

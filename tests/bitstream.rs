//! The container: pinned golden bytes, and hostile input (every truncation, every single-bit
//! flip, newer versions) that must give an `Err`, never a panic.

mod common;

use common::*;
use vaerans::bitstream::{Enhancement, VERSION_MAJOR};
use vaerans::latent::stream::decode_symbols;
use vaerans::latent::StepAllocation;
use vaerans::prelude::*;

/// Everything a decoder checks of a stream's bytes, with `limits`: framing, checksum, header,
/// tables and payload.
fn decode_stream(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    decode_symbols(&AnsBitstream::parse(bytes.to_vec(), limits)?)
}

/// Format 2: entropy tables in the header.
const GOLDEN: &[u8] = include_bytes!("data/golden_v2.vaer");

/// Format 3, what the encoder chooses for this small latent: no tables, adaptive contexts.
const GOLDEN_V3: &[u8] = include_bytes!("data/golden_v3.vaer");

/// Format 3 with a step allocation, no channel transform and zero bands.
const GOLDEN_V3_ALLOCATED: &[u8] = include_bytes!("data/golden_v3_allocated.vaer");

/// A format 2 stream with what format 1 could not say: a calibrated step allocation, no
/// channel transform, zero bands.
const GOLDEN_ALLOCATED: &[u8] = include_bytes!("data/golden_v2_allocated.vaer");

/// Format 4: [`GOLDEN_V3`] as the base layer, with a residual layer after it.
const GOLDEN_V4: &[u8] = include_bytes!("data/golden_v4_layered.vaer");
/// A bare latent from an f16 cache, format 2.1 and 3.1 (the element type recorded).
const GOLDEN_V2_1: &[u8] = include_bytes!("data/golden_v2_1_latent_f16.vaer");
const GOLDEN_V3_1: &[u8] = include_bytes!("data/golden_v3_1_latent_f16.vaer");

/// The same latents as written by the encoder before its quantiser had a dead zone (every
/// coefficient rounded): format 2 and its format 3 twin, plain and allocated. They must keep
/// decoding to what they always did.
const ROUNDING: [(&[u8], &[u8]); 2] = [
    (
        include_bytes!("data/golden_v3_rounding.vaer"),
        include_bytes!("data/golden_v2_rounding.vaer"),
    ),
    (
        include_bytes!("data/golden_v3_allocated_rounding.vaer"),
        include_bytes!("data/golden_v2_allocated_rounding.vaer"),
    ),
];

/// The same latent as written by earlier versions, in format 1 (by three encoders that chose
/// different entropy models): a reader must keep decoding every stream ever blessed.
const FORMAT_1: &[&[u8]] = &[
    include_bytes!("data/golden_v1.vaer"),
    include_bytes!("data/golden_v1_earlier_encoder.vaer"),
    include_bytes!("data/golden_v1_earlier_encoder_2.vaer"),
];

/// The latent the golden stream was made from: deterministic integer arithmetic only.
fn golden_latent() -> Vec<f32> {
    (0..4 * 8 * 6)
        .map(|i: i32| ((i * 37 % 23) - 11) as f32 / 4.0 + (i / 48) as f32)
        .collect()
}

/// The golden latent in format 2 (with tables, as asked).
fn golden_encode() -> Vec<u8> {
    let codec = chain(60, Wavelet::Cdf53, 2).with_entropy(Some(EntropyCoding::Tables));
    encode_with(&golden_latent(), [4, 8, 6], &codec)
}

/// The golden latent as the encoder chooses to code it (format 3).
fn golden_v3_encode() -> Vec<u8> {
    encode(&golden_latent(), [4, 8, 6], 60, Wavelet::Cdf53, 2)
}

/// The allocation a calibration might give: channel 2 five octaves coarser (its bands quantise
/// to zero), channel 1 one octave, the LL band half an octave finer.
fn golden_allocated_codec() -> LatentCodec {
    chain(60, Wavelet::Cdf53, 2)
        .with_allocation(StepAllocation::new(vec![0, 8, 40, -3], vec![-4, 0, 1]).unwrap())
        .with_transform(ChannelTransform::None)
}

fn golden_allocated_encode() -> Vec<u8> {
    let codec = golden_allocated_codec().with_entropy(Some(EntropyCoding::Tables));
    encode_with(&golden_latent(), [4, 8, 6], &codec)
}

fn golden_v3_allocated_encode() -> Vec<u8> {
    let codec = golden_allocated_codec().with_entropy(Some(EntropyCoding::Adaptive));
    encode_with(&golden_latent(), [4, 8, 6], &codec)
}

/// Residual planes for the golden base's 6×8 image: integer arithmetic, the fourth plane 0.
fn golden_planes() -> Vec<f32> {
    (0..4 * 48)
        .map(|i| {
            if i >= 3 * 48 {
                0.0
            } else {
                ((i * 37 % 23) as f32 - 11.0) / 8.0
            }
        })
        .collect()
}

/// The golden layered stream: the format 3 golden with the golden planes as a residual
/// predicted from the base blurred with σ = 1.
fn golden_layered_encode() -> Vec<u8> {
    let limits = Limits::default();
    let base = AnsBitstream::parse(golden_v3_encode(), &limits).unwrap();
    let codec = ResidualSettings::new(60).unwrap().codec().unwrap();
    let planes = encode_with(&golden_planes(), [4, 8, 6], &codec);
    let layer = Enhancement::new(8, AnsBitstream::parse(planes, &limits).unwrap(), (6, 8)).unwrap();
    base.with_enhancement(layer).unwrap().into_bytes()
}

/// The golden latent as a bare latent from an f16 cache, named after its model, in both
/// entropy codings (formats 2.1 and 3.1: the type is a record after the tables).
fn golden_typed_encode(entropy: EntropyCoding) -> Vec<u8> {
    use vaerans::latent::bare::{Fidelity, LatentFileCodec};
    use vaerans::latent::file::LatentDType;
    let latent: Vec<f32> = golden_latent()
        .iter()
        .map(|&v| LatentDType::F16.round(v))
        .collect();
    let chain = LatentCodec::new(60)
        .unwrap()
        .with_wavelet(Wavelet::Cdf53, 2)
        .unwrap()
        .with_entropy(Some(entropy));
    let codec = LatentFileCodec::new(Fidelity::Quality(60))
        .with_chain(chain)
        .with_model(Some("sdxl-vae"))
        .unwrap();
    codec
        .encode(&latent, [4, 8, 6], LatentDType::F16)
        .unwrap()
        .stream
        .into_bytes()
}

fn check_pinned(made: &[u8], golden: &[u8], file: &str) {
    if std::env::var_os("VAERANS_BLESS").is_some() {
        std::fs::write(format!("tests/data/{file}"), made).unwrap();
    }
    assert_eq!(
        made, golden,
        "the encoder's output changed. If only its choices changed (the format did not), keep the \
         old file as a stream that must keep decoding and re-bless with VAERANS_BLESS=1 cargo \
         test --test bitstream; if the format changed, also bump the version"
    );
}

#[test]
fn golden_stream_bytes_are_pinned() {
    check_pinned(&golden_encode(), GOLDEN, "golden_v2.vaer");
    assert_eq!(GOLDEN[4], 2);
    let (back, shape) = decode(GOLDEN).unwrap();
    assert_eq!(shape, vec![4, 8, 6]);
    assert!(mse(&golden_latent(), &back) < 0.01);
}

#[test]
fn allocated_golden_stream_bytes_are_pinned_and_say_what_format_1_could_not() {
    check_pinned(
        &golden_allocated_encode(),
        GOLDEN_ALLOCATED,
        "golden_v2_allocated.vaer",
    );
    let s = AnsBitstream::parse(GOLDEN_ALLOCATED.to_vec(), &Limits::default()).unwrap();
    let h = s.header();
    assert_eq!(h.transform, ChannelTransform::None);
    assert_eq!(&h.quant.allocation, golden_allocated_codec().allocation());
    let per = h.bands_per_channel();
    let zero: Vec<usize> = (0..4 * per).filter(|&i| h.is_zero_band(i)).collect();
    assert!(!zero.is_empty(), "channel 2's bands quantise to zero");
    assert!(zero.iter().all(|&i| i / per == 2), "{zero:?}");
    // Coarser steps where the allocation says so, and the decoder reads them from the stream.
    let step = |c: usize| h.quant.bands[c * per + per - 1].step();
    assert!(
        step(1) > 1.9 * step(0) && step(3) < step(0),
        "{:?}",
        h.quant.bands
    );
    let (back, shape) = decode(GOLDEN_ALLOCATED).unwrap();
    assert_eq!(shape, vec![4, 8, 6]);
    let channel_mse = |c: usize| mse(&golden_latent()[c * 48..][..48], &back[c * 48..][..48]);
    assert!(channel_mse(0) < 0.01 && channel_mse(3) < 0.01);
    // Channel 2 lost its detail but keeps its mean (its LL band is not zero).
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (want, got) = (mean(&golden_latent()[96..144]), mean(&back[96..144]));
    assert!((want - got).abs() < 1.0, "{want} vs {got}");
}

#[test]
fn format_3_streams_are_pinned_smaller_and_decode_to_what_format_2_does() {
    check_pinned(&golden_v3_encode(), GOLDEN_V3, "golden_v3.vaer");
    check_pinned(
        &golden_v3_allocated_encode(),
        GOLDEN_V3_ALLOCATED,
        "golden_v3_allocated.vaer",
    );
    let now = [(GOLDEN_V3, GOLDEN), (GOLDEN_V3_ALLOCATED, GOLDEN_ALLOCATED)];
    for (v3, v2) in now.into_iter().chain(ROUNDING) {
        assert_eq!(v3[4], 3);
        let s = AnsBitstream::parse(v3.to_vec(), &Limits::default()).unwrap();
        let t = AnsBitstream::parse(v2.to_vec(), &Limits::default()).unwrap();
        assert_eq!(s.header().entropy, EntropyCoding::Adaptive);
        assert_eq!(s.sizes().tables, 0);
        // No tables and a compact header: smaller than format 2, for the same symbols.
        assert!(v3.len() < v2.len(), "{} vs {}", v3.len(), v2.len());
        assert_eq!(
            decode_stream(v3, &Limits::default()).unwrap(),
            decode_stream(v2, &Limits::default()).unwrap()
        );
        // The centres format 3 derives are the ones format 2 records.
        let (mut a, mut b) = (vec![0u8; 192], vec![0u8; 192]);
        let qa = vaerans::latent::stream::decode_symbols_into(&s, &mut a).unwrap();
        let qb = vaerans::latent::stream::decode_symbols_into(&t, &mut b).unwrap();
        assert_eq!(qa, qb);
        assert_eq!(decode(v3).unwrap(), decode(v2).unwrap());
        let (h, g) = (s.header(), t.header());
        assert_eq!(
            (
                h.transform,
                h.source.clone(),
                &h.zero_bands,
                &h.quant.allocation
            ),
            (
                g.transform,
                g.source.clone(),
                &g.zero_bands,
                &g.quant.allocation
            )
        );
    }
}

/// Minor version 1: a bare latent's element type in a record after the tables, pinned in both
/// entropy codings; the same stream without the record is byte for byte a minor 0 stream,
/// which is what readers before the record skipped to.
#[test]
fn typed_bare_latent_streams_are_pinned() {
    use vaerans::latent::file::LatentDType;
    let limits = Limits::default();
    for (entropy, golden, file) in [
        (
            EntropyCoding::Tables,
            GOLDEN_V2_1,
            "golden_v2_1_latent_f16.vaer",
        ),
        (
            EntropyCoding::Adaptive,
            GOLDEN_V3_1,
            "golden_v3_1_latent_f16.vaer",
        ),
    ] {
        check_pinned(&golden_typed_encode(entropy), golden, file);
        assert_eq!((golden[4], golden[5]), (entropy.format_major(), 1));
        let s = AnsBitstream::parse(golden.to_vec(), &limits).unwrap();
        let h = s.header();
        assert_eq!(h.latent_dtype, Some(LatentDType::F16));
        assert_eq!(h.source.model.name, "sdxl-vae");
        assert!(h.is_bare_latent());
        let plain = s.clone().with_latent_dtype(None).unwrap();
        assert_eq!(plain.as_bytes()[5], 0);
        assert_eq!(plain.len() + 3, golden.len());
        // Every truncation and bit flip is an error.
        for n in 0..golden.len() {
            assert!(AnsBitstream::parse(golden[..n].to_vec(), &limits).is_err());
        }
        for at in 0..golden.len() {
            for bit in 0..8 {
                let mut bad = golden.to_vec();
                bad[at] ^= 1 << bit;
                assert!(
                    AnsBitstream::parse(bad, &limits).is_err(),
                    "flip {at}.{bit}"
                );
            }
        }
    }
}

#[test]
fn layered_streams_are_pinned_and_their_base_is_a_stream_of_its_own() {
    check_pinned(
        &golden_layered_encode(),
        GOLDEN_V4,
        "golden_v4_layered.vaer",
    );
    assert_eq!((GOLDEN_V4[4], VERSION_MAJOR), (4, 4));
    let limits = Limits::default();
    let s = AnsBitstream::parse(GOLDEN_V4.to_vec(), &limits).unwrap();
    let base = AnsBitstream::parse(GOLDEN_V3.to_vec(), &limits).unwrap();
    assert_eq!(s.header(), base.header());
    assert_eq!(s.clone().without_enhancement(), base);
    assert_eq!(
        decode_stream(GOLDEN_V4, &limits).unwrap(),
        decode_stream(GOLDEN_V3, &limits).unwrap()
    );
    let layer = s.enhancement().unwrap();
    assert_eq!(layer.blur, 8);
    let (planes, shape) = decode(layer.stream.as_bytes()).unwrap();
    assert_eq!(shape, vec![4, 8, 6]);
    assert!(mse(&golden_planes(), &planes) < 0.01);
    let sizes = s.sizes();
    assert_eq!(
        sizes.total - sizes.enhancement,
        GOLDEN_V4.len() - sizes.enhancement
    );
    let base_end = GOLDEN_V4.len() - sizes.enhancement;
    // Every truncation is an error whole; from the end of the base on, the base parses.
    for n in 0..GOLDEN_V4.len() {
        let cut = GOLDEN_V4[..n].to_vec();
        assert!(
            AnsBitstream::parse(cut.clone(), &limits).is_err(),
            "cut at {n}"
        );
        let only = AnsBitstream::parse_base(cut, &limits);
        assert_eq!(only.is_ok(), n >= base_end, "cut at {n}");
    }
    // Every bit flip is an error whole (the framing included).
    for at in 0..GOLDEN_V4.len() {
        for bit in 0..8 {
            let mut bad = GOLDEN_V4.to_vec();
            bad[at] ^= 1 << bit;
            assert!(
                AnsBitstream::parse(bad, &limits).is_err(),
                "flip {at}.{bit}"
            );
        }
    }
}

#[test]
fn format_1_streams_still_decode_to_what_they_always_did() {
    // Format 1 was written by a quantiser that rounded every coefficient.
    let (now, _) = decode(ROUNDING[0].1).unwrap();
    for old in FORMAT_1 {
        assert_eq!(old[4], 1, "a format 1 stream");
        let (back, shape) = decode(old).unwrap();
        assert_eq!(shape, vec![4, 8, 6]);
        // The same quantiser (uniform steps), so the same reconstruction; only the entropy
        // models and the header's layout differ.
        assert_eq!(back, now);
        let s = AnsBitstream::parse(old.to_vec(), &Limits::default()).unwrap();
        let h = s.header();
        assert_eq!(
            (h.transform, h.source.input_range),
            (ChannelTransform::Hadamard4, None)
        );
        assert!(h.zero_bands.is_empty() && h.quant.allocation.is_uniform());
    }
}

#[test]
fn every_truncation_is_an_error() {
    for s in [
        golden_encode(),
        golden_allocated_encode(),
        golden_v3_encode(),
        golden_v3_allocated_encode(),
        FORMAT_1[0].to_vec(),
    ] {
        for cut in 0..s.len() {
            let r = decode_stream(&s[..cut], &Limits::default());
            assert!(r.is_err(), "truncation to {cut} bytes decoded");
        }
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    let adaptive = chain(30, Wavelet::Cdf53, 3).with_entropy(Some(EntropyCoding::Adaptive));
    for s in [
        golden_encode(),
        golden_allocated_encode(),
        golden_v3_encode(),
        golden_v3_allocated_encode(),
        encode_with(&noisy_latent(4, 20, 12, 9), [4, 20, 12], &adaptive),
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
    for bytes in [golden_encode(), golden_v3_encode()] {
        header_fields_round_trip_in(bytes);
    }
}

fn header_fields_round_trip_in(bytes: Vec<u8>) {
    let s = AnsBitstream::parse(bytes, &Limits::default()).unwrap();
    let h = s.header();
    assert_eq!((h.channels, h.latent_h, h.latent_w), (4, 8, 6));
    assert_eq!((h.source.width, h.source.height), (6, 8));
    let q = &h.quant;
    assert_eq!((q.wavelet, q.levels, q.quality), (Wavelet::Cdf53, 2, 60));
    assert_eq!(q.bands.len(), 4 * 7);
    assert_eq!(h.source.model, ModelId::default());
}

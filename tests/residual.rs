//! The residual layer through the embedded model on a real photo: quality past the model's
//! ceiling, a base that decodes alone, and a damaged enhancement layer that is an error for a
//! full decode and no matter for a base-only one.

use std::path::Path;

use image::RgbImage;
use vaerans::bitstream::layers::LAYERED_MAJOR;
use vaerans::metrics::psnr_u8;
use vaerans::prelude::*;
use vaerans::{Alpha, RateTarget, RATE_TOLERANCE};

/// A 96×72 crop of the sample photo (odd multiples of 8 are fine; 72 is not a power of two).
fn photo() -> RgbImage {
    let img = vaerans::open_image(Path::new("assets/coffee.png"), Alpha::Drop).unwrap();
    image::imageops::crop_imm(&img, 40, 30, 96, 72).to_image()
}

fn codec(residual: Option<u8>, base_only: bool) -> Codec {
    Codec::builder()
        .execution_provider(ExecutionProvider::Cpu)
        .device(Device::Cpu)
        .quality(50)
        .residual(residual.map(|q| ResidualSettings::new(q).unwrap()))
        .base_only(base_only)
        .build()
        .unwrap()
}

#[test]
fn the_residual_lifts_quality_and_the_base_decodes_alone() {
    let img = photo();
    let plain = codec(None, false);
    let base = plain.compress(&img).unwrap();
    let base_psnr = psnr_u8(img.as_raw(), plain.decompress(&base).unwrap().as_raw()).unwrap();
    let mut last = (base.len(), base_psnr);
    for q in [45, 70, 95] {
        let layered = codec(Some(q), false);
        let stream = layered.compress(&img).unwrap();
        assert_eq!(stream[4], LAYERED_MAJOR);
        // The base layer is the stream a codec without a residual writes, byte for byte.
        let parsed = AnsBitstream::parse(stream.clone(), &Limits::default()).unwrap();
        let enh = parsed.enhancement().expect("a residual layer");
        assert_eq!(enh.stream.header().latent_shape(), [4, 72, 96]);
        assert_eq!(parsed.clone().without_enhancement().as_bytes(), &base[..]);
        assert_eq!(parsed.sizes().total, stream.len());
        assert!(parsed.sizes().enhancement > 0);
        let back = layered.decompress(&stream).unwrap();
        let psnr = psnr_u8(img.as_raw(), back.as_raw()).unwrap();
        // More bits, more quality, and past what the model alone gives.
        assert!(
            stream.len() > last.0 && psnr > last.1 + 1.0,
            "q{q}: {psnr} dB, {last:?}"
        );
        last = (stream.len(), psnr);
        // Base only: the base's image exactly, from either decoder setting.
        let only = codec(None, true).decompress(&stream).unwrap();
        assert_eq!(only, plain.decompress(&base).unwrap());
        assert_eq!(plain.decompress(&stream).unwrap(), back);
    }
    assert!(last.1 > base_psnr + 8.0, "{last:?} vs {base_psnr}");
}

#[test]
fn a_damaged_enhancement_is_an_error_and_the_base_still_decodes() {
    let img = photo();
    let stream = codec(Some(55), false).compress(&img).unwrap();
    let parsed = AnsBitstream::parse(stream.clone(), &Limits::default()).unwrap();
    let base_len = parsed.clone().without_enhancement().len();
    let base_image = codec(None, true).decompress(&stream).unwrap();
    let base_end = stream.len() - parsed.sizes().enhancement;
    assert!(base_end > base_len, "framing before the base");
    let limits = Limits::default();
    // Every cut inside the enhancement layer (every byte of its framing, then a stride).
    let cuts = (base_end..stream.len()).filter(|&n| n < base_end + 16 || n % 97 == 0);
    for n in cuts {
        let cut = stream[..n].to_vec();
        assert!(
            AnsBitstream::parse(cut.clone(), &limits).is_err(),
            "cut at {n} of {}",
            stream.len()
        );
        assert!(codec(Some(55), false).decompress(&cut).is_err());
        let base = AnsBitstream::parse_base(cut.clone(), &limits).unwrap();
        assert_eq!(base.len(), base_len);
        if n % 5 == 0 {
            assert_eq!(codec(None, true).decompress(&cut).unwrap(), base_image);
        }
    }
    // Flipped bits in the enhancement: an error whole, nothing base only.
    for at in (base_end..stream.len()).step_by(41) {
        let mut bad = stream.clone();
        bad[at] ^= 0x10;
        assert!(
            AnsBitstream::parse(bad.clone(), &limits).is_err(),
            "flip at {at}"
        );
        assert_eq!(codec(None, true).decompress(&bad).unwrap(), base_image);
    }
    // Bytes after the last layer.
    let mut long = stream.clone();
    long.push(0);
    assert!(AnsBitstream::parse(long, &limits).is_err());
}

#[test]
fn rate_targets_are_reached_or_the_nearest_is_reported() {
    let img = photo();
    let knob = |q: u8| {
        Codec::builder()
            .execution_provider(ExecutionProvider::Cpu)
            .device(Device::Cpu)
            .quality(q)
            .build()
            .unwrap()
    };
    let codec = knob(75);
    // Sizes rise with the knob, across the point where the residual layer starts.
    let sizes: Vec<usize> = [20, 50, 62, 70, 85, 100]
        .iter()
        .map(|&q| knob(q).compress(&img).unwrap().len())
        .collect();
    assert!(sizes.windows(2).all(|p| p[0] < p[1]), "{sizes:?}");
    // A size some quality makes exactly is reached.
    for q in [40, 70, 90] {
        let exact = knob(q).compress(&img).unwrap();
        let r = codec
            .compress_to(&img, RateTarget::Bytes(exact.len() as u64))
            .unwrap();
        assert!(r.within, "q{q}: {} for {}", r.stream.len(), exact.len());
        assert!((r.stream.len() as f64 / exact.len() as f64 - 1.0).abs() <= RATE_TOLERANCE);
        let expect_bpp = r.stream.len() as f64 * 8.0 / (96.0 * 72.0);
        assert!((r.bpp - expect_bpp).abs() < 1e-9);
        // It decodes like any stream.
        assert_eq!(codec.decompress(&r.stream).unwrap().dimensions(), (96, 72));
    }
    // A target between two neighbouring knob settings is reached, by one of them or by the
    // refinement between them (reported as the lower).
    for q in [60, 66, 72, 80] {
        let (a, b) = (
            knob(q).compress(&img).unwrap().len() as f64,
            knob(q + 1).compress(&img).unwrap().len() as f64,
        );
        let between = (a * b).sqrt();
        let r = codec
            .compress_to(&img, RateTarget::Bytes(between as u64))
            .unwrap();
        let off = r.stream.len() as f64 / between - 1.0;
        assert!(r.quality == q || r.quality == q + 1, "q{q}: {}", r.quality);
        assert!(
            r.within,
            "q{q}: {a} and {b} bytes, {} for {between:.0} ({off:+.3})",
            r.stream.len()
        );
    }
    // Out of reach: the smallest stream, reported as not within.
    let r = codec.compress_to(&img, RateTarget::Bytes(10)).unwrap();
    assert_eq!((r.quality, r.within), (1, false));
    assert_eq!(r.stream, knob(1).compress(&img).unwrap());
    for bad in [
        RateTarget::Bpp(0.0),
        RateTarget::Bpp(f64::NAN),
        RateTarget::Bytes(0),
    ] {
        assert!(codec.compress_to(&img, bad).is_err(), "{bad:?}");
    }
}

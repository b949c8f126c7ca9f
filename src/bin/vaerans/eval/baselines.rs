//! Classical codecs `vaerans eval --baselines` compares against, each swept over its own
//! quality range.

use std::time::Instant;

use image::RgbImage;
use vaerans::{Error, Result};

/// A baseline codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Baseline {
    /// Baseline JPEG from the `image` crate (standard tables, 4:2:2 chroma).
    Jpeg,
    /// Lossy WebP from libwebp (the `webp` crate, default method and filters).
    Webp,
    /// AVIF: rav1e through ravif (10-bit 4:4:4 YCbCr, speed [`AVIF_SPEED`]) encodes, libaom
    /// through aom-decode decodes. Needs a build with the `avif` feature.
    Avif,
}

/// rav1e's speed preset for the AVIF baseline (1 slowest … 10 fastest; ravif's default is 4).
/// 6 keeps a Kodak sweep to minutes on two cores; the rate–distortion cost against 4 is a few
/// per cent of rate.
pub const AVIF_SPEED: u8 = 6;

/// One baseline encode and decode of an image.
pub struct RoundTrip {
    /// The compressed file's bytes.
    pub bytes: usize,
    /// What a decoder makes of it.
    pub decoded: RgbImage,
    /// Encode wall time.
    pub encode_seconds: f64,
    /// Decode wall time.
    pub decode_seconds: f64,
}

impl Baseline {
    /// The baselines `eval` runs when none are named: every one this build has.
    pub fn defaults() -> Vec<Baseline> {
        [Baseline::Jpeg, Baseline::Webp, Baseline::Avif]
            .into_iter()
            .filter(|b| b.check_available().is_ok())
            .collect()
    }

    /// Lower-case name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Jpeg => "jpeg",
            Baseline::Webp => "webp",
            Baseline::Avif => "avif",
        }
    }

    /// The encoder and decoder behind the name and their settings, for reports.
    pub fn describe(self) -> String {
        match self {
            Baseline::Jpeg => "baseline JPEG, image crate encoder (standard tables, 4:2:2) and \
                               decoder (zune-jpeg)"
                .into(),
            Baseline::Webp => "lossy WebP, libwebp (default method and filters)".into(),
            Baseline::Avif => format!(
                "AVIF, rav1e via ravif (speed {AVIF_SPEED}, 10-bit 4:4:4 YCbCr) and libaom via \
                 aom-decode"
            ),
        }
    }

    /// Whether this build can run the codec; the error says how to get one that can.
    pub fn check_available(self) -> Result<()> {
        if self == Baseline::Avif && !cfg!(feature = "avif") {
            return Err(Error::InvalidInput(
                "this vaerans was built without AVIF; rebuild with `--features avif` (needs \
                 cmake and nasm: apt-get install cmake nasm)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The qualities swept: the codec's own scale, from barely recognisable to near-lossless.
    pub fn qualities(self) -> &'static [u8] {
        match self {
            Baseline::Jpeg => &[5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
            Baseline::Webp => &[0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
            Baseline::Avif => &[1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
        }
    }

    /// Encodes `img` at `quality` and decodes it again.
    pub fn round_trip(self, img: &RgbImage, quality: u8) -> Result<RoundTrip> {
        match self {
            Baseline::Jpeg => {
                let t = Instant::now();
                let mut buf = Vec::new();
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality)
                    .encode_image(img)
                    .map_err(|e| Error::Image(format!("JPEG encoder: {e}")))?;
                let encode_seconds = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let decoded = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
                    .map_err(|e| Error::Image(format!("JPEG decoder: {e}")))?
                    .to_rgb8();
                Ok(RoundTrip {
                    bytes: buf.len(),
                    decoded,
                    encode_seconds,
                    decode_seconds: t.elapsed().as_secs_f64(),
                })
            }
            Baseline::Webp => {
                let (w, h) = img.dimensions();
                // libwebp's limit; the crate panics past it.
                if w > WEBP_MAX_SIDE || h > WEBP_MAX_SIDE {
                    return Err(Error::InvalidInput(format!(
                        "WebP codes images up to {WEBP_MAX_SIDE} pixels a side; this one is \
                         {w}×{h} (leave WebP out with --baselines)"
                    )));
                }
                let t = Instant::now();
                let buf = webp::Encoder::from_rgb(img.as_raw(), w, h).encode(f32::from(quality));
                let encode_seconds = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let out = webp::Decoder::new(&buf)
                    .decode()
                    .ok_or_else(|| Error::Image("WebP decoder: not a WebP stream".into()))?;
                let rgb: Vec<u8> = if out.is_alpha() {
                    out.chunks_exact(4)
                        .flat_map(|p| [p[0], p[1], p[2]])
                        .collect()
                } else {
                    out.to_vec()
                };
                let decoded = RgbImage::from_raw(out.width(), out.height(), rgb)
                    .ok_or_else(|| Error::Image("WebP decoder: wrong size".into()))?;
                Ok(RoundTrip {
                    bytes: buf.len(),
                    decoded,
                    encode_seconds,
                    decode_seconds: t.elapsed().as_secs_f64(),
                })
            }
            Baseline::Avif => avif_round_trip(img, quality),
        }
    }
}

#[cfg(not(feature = "avif"))]
fn avif_round_trip(_: &RgbImage, _: u8) -> Result<RoundTrip> {
    Baseline::Avif.check_available()?;
    unreachable!("check_available fails without the avif feature")
}

/// AVIF encode (ravif) and decode (aom-decode) of one image.
#[cfg(feature = "avif")]
fn avif_round_trip(img: &RgbImage, quality: u8) -> Result<RoundTrip> {
    use aom_decode::avif::{Avif, Image};

    let (w, h) = (img.width() as usize, img.height() as usize);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let t = Instant::now();
    let pixels: Vec<ravif::RGB8> = img
        .pixels()
        .map(|p| ravif::RGB8::new(p[0], p[1], p[2]))
        .collect();
    let encoded = ravif::Encoder::new()
        .with_quality(f32::from(quality.clamp(1, 100)))
        .with_speed(AVIF_SPEED)
        .with_num_threads(Some(threads))
        .encode_rgb(ravif::Img::new(&pixels[..], w, h))
        .map_err(|e| Error::Image(format!("AVIF encoder: {e}")))?;
    let encode_seconds = t.elapsed().as_secs_f64();
    let file = encoded.avif_file;

    let t = Instant::now();
    let fail = |e: aom_decode::Error| Error::Image(format!("AVIF decoder: {e}"));
    let config = aom_decode::Config { threads };
    let decoded = Avif::decode(&file, &config)
        .and_then(|mut d| d.convert())
        .map_err(fail)?;
    // 8-bit output straight; 16-bit output carries the full 16-bit range whatever the coded
    // depth, so the top byte (rounded) is the 8-bit value.
    let to8 = |v: u16| ((u32::from(v) + 128) / 257).min(255) as u8;
    let (dw, dh, rgb): (usize, usize, Vec<u8>) = match decoded {
        Image::RGB8(i) => (
            i.width(),
            i.height(),
            i.pixels().flat_map(|p| [p.r, p.g, p.b]).collect(),
        ),
        Image::RGB16(i) => (
            i.width(),
            i.height(),
            i.pixels()
                .flat_map(|p| [to8(p.r), to8(p.g), to8(p.b)])
                .collect(),
        ),
        _ => {
            return Err(Error::Image(
                "AVIF decoder: expected an RGB image without alpha".into(),
            ))
        }
    };
    let decoded = RgbImage::from_raw(dw as u32, dh as u32, rgb)
        .filter(|d| d.dimensions() == img.dimensions())
        .ok_or_else(|| Error::Image("AVIF decoder: wrong size".into()))?;
    Ok(RoundTrip {
        bytes: file.len(),
        decoded,
        encode_seconds,
        decode_seconds: t.elapsed().as_secs_f64(),
    })
}

/// The largest side libwebp encodes.
const WEBP_MAX_SIDE: u32 = 16383;

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let v = |a: f32| (128.0 + 100.0 * a.sin()) as u8;
            image::Rgb([
                v(x as f32 * 0.05),
                v(y as f32 * 0.07),
                v((x + y) as f32 * 0.03),
            ])
        })
    }

    /// Every baseline this build has decodes to the right size, and its best setting is close
    /// to the original while its worst is smaller.
    #[test]
    fn every_baseline_round_trips() {
        let img = photo(67, 45);
        for b in [Baseline::Jpeg, Baseline::Webp, Baseline::Avif] {
            if b.check_available().is_err() {
                assert!(b.round_trip(&img, 50).is_err());
                continue;
            }
            let qs = b.qualities();
            let best = b.round_trip(&img, qs[qs.len() - 1]).unwrap();
            let worst = b.round_trip(&img, qs[0]).unwrap();
            assert_eq!(best.decoded.dimensions(), img.dimensions(), "{}", b.name());
            let psnr = vaerans::metrics::psnr_u8(img.as_raw(), best.decoded.as_raw()).unwrap();
            assert!(psnr > 35.0, "{} at its best: {psnr:.2} dB", b.name());
            assert!(worst.bytes < best.bytes, "{}", b.name());
        }
    }
}

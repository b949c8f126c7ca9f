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
}

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
    /// Lower-case name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Jpeg => "jpeg",
            Baseline::Webp => "webp",
        }
    }

    /// The qualities swept: the codec's own scale, from barely recognisable to near-lossless.
    pub fn qualities(self) -> &'static [u8] {
        match self {
            Baseline::Jpeg => &[5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
            Baseline::Webp => &[0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95],
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
        }
    }
}

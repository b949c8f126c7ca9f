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
        }
    }

    /// The qualities swept: the codec's own scale, from barely recognisable to near-lossless.
    pub fn qualities(self) -> &'static [u8] {
        match self {
            Baseline::Jpeg => &[5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
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
        }
    }
}

//! Rate control: the quality knob searched, per image, for a size.

use image::RgbImage;

use super::images::{Codec, Layers, RawImage};
use crate::error::{Error, Result};
use crate::latent::quantize::{MAX_QUALITY, MIN_QUALITY};
use crate::residual::{knob, ResidualSettings};

/// How far from its target a stream may land and count as reached: ±5%.
pub const RATE_TOLERANCE: f64 = 0.05;

/// The size to compress an image to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateTarget {
    /// Bits per pixel of the image (the stream's bits over its width × height).
    Bpp(f64),
    /// Bytes of the whole stream.
    Bytes(u64),
}

impl RateTarget {
    /// The target in bytes for a `width × height` image, checked.
    fn bytes(self, width: u32, height: u32) -> Result<f64> {
        let bytes = match self {
            Self::Bpp(b) => b * f64::from(width) * f64::from(height) / 8.0,
            Self::Bytes(b) => b as f64,
        };
        if bytes.is_finite() && bytes > 0.0 {
            Ok(bytes)
        } else {
            Err(Error::InvalidInput(format!(
                "the rate target {self:?} is not a positive size"
            )))
        }
    }
}

/// The stream [`Codec::compress_to`] chose: the quality nearest its target, and what it came to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reached {
    /// The stream.
    pub stream: Vec<u8>,
    /// The quality knob that made it (or, when the residual's quality was refined between two
    /// knob settings, the lower one).
    pub quality: u8,
    /// The base layer's quality.
    pub base_quality: u8,
    /// The residual layer's quality, if it has one.
    pub residual_quality: Option<u8>,
    /// Its bits per pixel.
    pub bpp: f64,
    /// The target, in bytes.
    pub target_bytes: f64,
    /// Whether it is within [`RATE_TOLERANCE`] of the target. When it is not, no quality
    /// comes nearer: the target is below the smallest stream or above the largest, or
    /// between two neighbouring qualities further apart than the tolerance.
    pub within: bool,
}

impl Codec {
    /// Compresses `image` to `target`: searches the quality knob (bisection over 1..=100,
    /// about seven encodes, then the residual qualities between the two knob settings around
    /// the target, and if those are still too far apart the base's quality under the larger)
    /// for the stream nearest the target in ratio, and says whether it is within ±5%. The codec's own quality is not used; its model, settings and device are.
    ///
    /// ```no_run
    /// use vaerans::{Codec, RateTarget};
    /// # fn main() -> vaerans::Result<()> {
    /// let codec = Codec::new()?;
    /// let image = image::open("photo.png").map_err(|e| vaerans::Error::Image(e.to_string()))?;
    /// let r = codec.compress_to(&image.to_rgb8(), RateTarget::Bpp(0.5))?;
    /// println!("quality {}: {:.3} bpp", r.quality, r.bpp);
    /// # Ok(())
    /// # }
    /// ```
    pub fn compress_to(&self, image: &RgbImage, target: RateTarget) -> Result<Reached> {
        let (w, h) = image.dimensions();
        let raw = RawImage::from(image);
        raw.check(self.limits().max_image_dim)?;
        let want = target.bytes(w, h)?;
        let mut world = self.new_world()?;
        // Every stream tried: (knob, base quality, residual quality, stream).
        let mut tried: Vec<(u8, u8, Option<u8>, Vec<u8>)> = Vec::new();
        let mut code = |knob: u8, base: u8, residual: Option<ResidualSettings>| -> Result<usize> {
            let r = residual.map(|r| r.quality());
            if let Some(t) = tried.iter().find(|t| (t.1, t.2) == (base, r)) {
                return Ok(t.3.len());
            }
            let layers = Layers {
                latent: self.latent().clone().with_quality(base)?,
                residual,
            };
            let stream = self
                .compress_layers(&mut world, self.vae(), &[raw], &layers)
                .pop()
                .unwrap_or_else(|| Err(Error::Internal("no stream for the image".into())))?;
            let n = stream.len();
            tried.push((knob, base, r, stream));
            Ok(n)
        };
        let mut size = |knob: u8| -> Result<usize> {
            let (base, residual) = knob::layers_for(knob)?;
            code(knob, base, residual)
        };
        // The largest quality whose stream fits the target (rate rises with quality).
        let mut lo = MIN_QUALITY;
        let fits = size(lo)? as f64 <= want;
        if fits {
            lo = bracket(
                MIN_QUALITY,
                MAX_QUALITY + 1,
                |q| Ok(size(q)? as f64 <= want),
            )?
            .0;
        }
        // Neighbouring qualities can be more than the tolerance apart where the knob moves the
        // residual's quality by more than one: the residual qualities between them, over the
        // lower one's base, are searched too.
        if fits && lo < MAX_QUALITY {
            size(lo + 1)?;
            let (base, below) = knob::layers_for(lo)?;
            let above = knob::layers_for(lo + 1)?.1;
            if let (Some(b), Some(a)) = (below, above) {
                let (r0, r1) = bracket(b.quality(), a.quality(), |r| {
                    Ok(code(lo, base, Some(b.with_quality(r)?))? as f64 <= want)
                })?;
                // Still between two residual qualities: the one over the target, over a
                // cheaper base (the base's steps are finer-grained in rate there).
                let over = b.with_quality(r1)?;
                let near = |n: usize| (n as f64 / want - 1.0).abs() <= RATE_TOLERANCE;
                let under = code(lo, base, Some(b.with_quality(r0)?))?;
                let above = code(lo, base, Some(over))?;
                if !near(under) && !near(above) && code(lo, MIN_QUALITY, Some(over))? as f64 <= want
                {
                    bracket(MIN_QUALITY, base, |q| {
                        Ok(code(lo, q, Some(over))? as f64 <= want)
                    })?;
                }
            }
        }
        let off = |n: usize| (n as f64 / want).ln().abs();
        let (quality, base_quality, residual_quality, stream) = tried
            .into_iter()
            .min_by(|a, b| off(a.3.len()).total_cmp(&off(b.3.len())))
            .ok_or_else(|| Error::Internal("no quality tried".into()))?;
        let ratio = stream.len() as f64 / want;
        Ok(Reached {
            bpp: stream.len() as f64 * 8.0 / (f64::from(w) * f64::from(h)),
            quality,
            base_quality,
            residual_quality,
            target_bytes: want,
            within: (ratio - 1.0).abs() <= RATE_TOLERANCE,
            stream,
        })
    }
}

/// Bisects between a quality `fit` whose stream fits the target and a larger `unfit` whose
/// stream does not (rate rising with quality between them), trying each midpoint with
/// `fits`: the last that fits and the first that does not.
fn bracket(
    mut fit: u8,
    mut unfit: u8,
    mut fits: impl FnMut(u8) -> Result<bool>,
) -> Result<(u8, u8)> {
    while unfit > fit + 1 {
        let mid = fit + (unfit - fit) / 2;
        if fits(mid)? {
            fit = mid;
        } else {
            unfit = mid;
        }
    }
    Ok((fit, unfit))
}

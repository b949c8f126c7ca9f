//! [`ResidualSettings`]: how a residual layer is coded, and the constants of its planes.

use super::{blur, colour};
use crate::components::ChannelTransform;
use crate::error::Result;
use crate::latent::quantize::check_quality;
use crate::latent::{LatentCodec, StepAllocation};
use crate::layout::Wavelet;

/// Pixel levels per unit of a residual plane: the quantiser's steps, made for latents, are
/// 1.3 to 295 pixel levels over qualities 100 to 1 at this scale (before each band's gain).
/// Measured on BSDS500 training images with the embedded model: at 16 the lowest residual
/// quality already cost 0.2 bpp over its base, leaving a gap in the rate a quality knob could
/// reach; at 64 a residual starts at 0.01 bpp.
pub const UNIT: f32 = 64.0;

/// Wavelet levels of the residual planes (image resolution: one more than a latent's).
pub const LEVELS: u8 = 5;

/// Planes of a residual: Y, Co, Cg and a zero plane, so the latent chain's groups of 4 hold
/// (the layered format's count).
pub const PLANES: usize = crate::bitstream::layers::RESIDUAL_PLANES;

/// How the enhancement layer is made: the residual's quality and the blur of the base it is
/// predicted from. Recorded in the stream (the quality in the residual's own header, the blur
/// in the layer's entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResidualSettings {
    quality: u8,
    blur: u8,
}

impl ResidualSettings {
    /// A residual at `quality` (1..=100, as the latent's), predicted from the unblurred base.
    pub fn new(quality: u8) -> Result<Self> {
        Ok(Self {
            quality: check_quality(quality)?,
            blur: 0,
        })
    }

    /// These settings at another quality.
    pub fn with_quality(mut self, quality: u8) -> Result<Self> {
        self.quality = check_quality(quality)?;
        Ok(self)
    }

    /// These settings predicting from the base blurred with σ = `code / 8` pixels (0: none).
    pub fn with_blur(mut self, code: u8) -> Result<Self> {
        self.blur = blur::check_sigma_code(code)?;
        Ok(self)
    }

    /// The residual's quality.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// The blur's σ code (σ = code / 8 pixels; 0: none).
    pub fn blur(&self) -> u8 {
        self.blur
    }

    /// The latent chain that codes the residual's planes at this quality: no channel mixing
    /// (the planes are YCoCg already), [`LEVELS`] CDF 5/3 levels, and steps weighted by what
    /// an error in each plane costs in RGB ([`colour::PLANE_WEIGHTS`]).
    pub fn codec(&self) -> Result<LatentCodec> {
        Ok(LatentCodec::new(self.quality)?
            .with_wavelet(Wavelet::Cdf53, LEVELS)?
            .with_transform(ChannelTransform::None)
            .with_allocation(plane_allocation()))
    }
}

/// Step offsets per plane: equal slope of RGB error against rate gives plane `c` the step
/// `∝ 1/sqrt(weight)`, eight step codes an octave; Y is the reference. The zero plane
/// quantises to zero bands at any step.
pub fn plane_allocation() -> StepAllocation {
    let [y, co, cg] = colour::PLANE_WEIGHTS;
    let offset = |w: f32| (4.0 * (y / w).log2()).round() as i16;
    // Cannot fail: the offsets are a few codes, far inside ±MAX_OFFSET.
    StepAllocation::new(vec![0, offset(co), offset(cg), 0], vec![]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_and_weight_the_planes() {
        assert!(ResidualSettings::new(0).is_err());
        let s = ResidualSettings::new(40).unwrap().with_blur(8).unwrap();
        assert_eq!((s.quality(), s.blur()), (40, 8));
        assert!(s.with_blur(blur::MAX_SIGMA_CODE + 1).is_err());
        // Co's errors reach two of R, G, B: its step is sqrt(3/2) larger, two step codes.
        assert_eq!(plane_allocation().channel_offsets(), &[0, 2, 0, 0]);
        let codec = s.codec().unwrap();
        assert_eq!(
            (codec.levels(), codec.transform(), codec.quality()),
            (LEVELS, ChannelTransform::None, 40)
        );
    }
}

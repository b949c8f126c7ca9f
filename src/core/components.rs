//! The components the codec's systems read and write.
//!
//! Tensor components hold a [`TensorRef`] into the world's arena, never the data; they are
//! valid until the arena is reset (see [`World::clear`](crate::World::clear)). The stream
//! itself, [`AnsBitstream`](crate::bitstream::AnsBitstream), lives with the format.

use super::entity::Component;
use super::tensor::TensorRef;
use crate::layout::Wavelet;

/// Defines a component that is one tensor handle.
macro_rules! tensor_component {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            /// The tensor handle.
            pub tensor: TensorRef,
        }
        impl Component for $name {
            const NAME: &'static str = stringify!($name);
        }
    };
}

tensor_component!(
    /// An input image: u8 `[H, W, 3]`, RGB, row-major.
    Rgb
);
tensor_component!(
    /// A decoded image: u8 `[H, W, 3]`, RGB, cropped to the original size.
    ReconRgb
);
tensor_component!(
    /// The decoder's base image blurred ([`GaussianBlur`](crate::residual::GaussianBlur)): u8
    /// `[H, W, 3]`, what a residual may be predicted from.
    BlurRgb
);

tensor_component!(
    /// What the base image misses of the original: f32 `[4, H, W]` planes, Y, Co, Cg in units
    /// of [`residual::UNIT`](crate::residual::UNIT) pixel levels and a plane of zeros
    /// ([`ResidualCompute`](crate::residual::ResidualCompute)).
    Residual
);

tensor_component!(
    /// The VAE latent of an image: f32 `[C, h, w]`, `C` a multiple of 4.
    Latent
);
tensor_component!(
    /// The latent after the Hadamard transform across each group of 4 channels: f32 `[C, h, w]`.
    Yuvw
);
tensor_component!(
    /// Quantised wavelet coefficients, one `u8` symbol per coefficient: u8 `[C, h, w]` with the
    /// shape of the [`WaveletPyr`] they came from, in **coding order**: each channel's `h · w`
    /// symbols are its bands one after another, in [`bands`](crate::layout::bands) order, each
    /// band in raster order. This is the one layout symbols have, from the quantiser to the
    /// entropy coder and back; it needs [`QuantParams`] to mean anything.
    Symbols
);

/// How a latent's channels are mixed before the wavelet, recorded in the stream so the
/// decoder unmixes them the same way. The Hadamard stage makes it (forward) and reads it
/// (inverse; an entity without one is [`Hadamard4`](Self::Hadamard4), as every format 1.0
/// stream is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChannelTransform {
    /// Channels as the model made them: best when the decoder's sensitivity differs a lot
    /// between channels and they are already decorrelated (many-channel models).
    None,
    /// `H4` over each group of 4 channels (decorrelates SD-like latents).
    #[default]
    Hadamard4,
}

impl ChannelTransform {
    /// The stream's code.
    pub fn code(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Hadamard4 => 1,
        }
    }

    /// The transform of a stream code, if it is one.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::None),
            1 => Some(Self::Hadamard4),
            _ => None,
        }
    }

    /// Its name: `none` or `hadamard4`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Hadamard4 => "hadamard4",
        }
    }
}
impl Component for ChannelTransform {
    const NAME: &'static str = "ChannelTransform";
}

/// A wavelet decomposition of every channel, Mallat layout, in place (same shape as its input):
/// f32 `[C, h, w]`. Its band table is [`bands`](crate::layout::bands)`(h, w, levels)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaveletPyr {
    /// The coefficients.
    pub tensor: TensorRef,
    /// Which wavelet made them.
    pub wavelet: Wavelet,
    /// Decomposition levels actually applied (already clamped to the size).
    pub levels: u8,
}
impl Component for WaveletPyr {
    const NAME: &'static str = "WaveletPyr";
}

/// Quantiser parameters of one band of one channel: the exact step (as a code) and the
/// integer centre of the band's symbol range. The quantiser's maths for them (the step of a
/// code, and back) is in [`crate::latent::quantize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BandQuant {
    /// Step as a minifloat code, see [`step_from_code`](crate::latent::quantize::step_from_code).
    pub step_code: u8,
    /// Integer offset of the symbol range (symbol 128 ↔ `center · step`).
    pub center: i32,
}

/// How [`Symbols`] map back to coefficients: one [`BandQuant`] per channel and band, channels
/// outermost, bands in [`bands`](crate::layout::bands) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantParams {
    /// The quality knob the parameters were chosen for (1..=100).
    pub quality: u8,
    /// Wavelet of the coefficients.
    pub wavelet: Wavelet,
    /// Decomposition levels.
    pub levels: u8,
    /// Per channel and band parameters.
    pub bands: Vec<BandQuant>,
    /// The step allocation the encoder started each band's step from (from the model's
    /// calibration; uniform for an uncalibrated model and for format 1 streams). The steps
    /// above are the truth; the stream codes them as differences from what this predicts.
    pub allocation: crate::latent::StepAllocation,
}
impl Component for QuantParams {
    const NAME: &'static str = "QuantParams";
}

/// Symbol counts of every band, in coding order (channels outermost, bands in
/// [`bands`](crate::layout::bands) order), as the quantiser counted them while it wrote the
/// [`Symbols`]: the entropy coder builds its models from these instead of counting again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histograms(pub Vec<[u32; 256]>);
impl Component for Histograms {
    const NAME: &'static str = "Histograms";
}

/// The model that produced a latent, as recorded in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModelId {
    /// Model name (at most 255 bytes of UTF-8).
    pub name: String,
    /// SHA-256 of the decoder's file (all zeros for latents without a model).
    pub decoder_hash: [u8; 32],
}

/// What the stream records about the image a latent came from. Optional for latent-only
/// pipelines: the entropy coder then records the latent's own size and an empty model id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceInfo {
    /// Original image width in pixels.
    pub width: u32,
    /// Original image height in pixels.
    pub height: u32,
    /// Width after padding to a multiple of the model's downsample factor.
    pub padded_width: u32,
    /// Height after padding.
    pub padded_height: u32,
    /// The model.
    pub model: ModelId,
    /// The pixel range the model's encoder was fed (`None`: not recorded, as in format 1
    /// streams and bare latents). A decoder configured with another range would decode to
    /// wrong colours, so it is checked.
    pub input_range: Option<[f32; 2]>,
    /// The model's downsample factor (0: not recorded).
    pub downsample: u8,
}
impl Component for SourceInfo {
    const NAME: &'static str = "SourceInfo";
}

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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
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
}
impl Component for SourceInfo {
    const NAME: &'static str = "SourceInfo";
}

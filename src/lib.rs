//! # vaerans
//!
//! Image compression through a learned autoencoder's latent space. A latent (`[C, h, w]`, e.g.
//! the 4-channel, 1/8-resolution latent of the Stable Diffusion VAE) goes through a Hadamard
//! transform across channels, a multi-level CDF 5/3 lifting wavelet, per-band quantisation and
//! interleaved rANS into a self-describing, checksummed stream.
//!
//! The library is a small entity–component–system: a [`World`] holds entities whose components
//! are typed handles ([`TensorRef`]) into an [`Arena`]; [`System`]s declare what they need and
//! produce; a [`Pipe`] chains them and checks the chain before running it.
//!
//! ```
//! use vaerans::prelude::*;
//!
//! # fn main() -> vaerans::Result<()> {
//! let mut world = World::new();
//! // A synthetic 4×16×16 latent.
//! let data: Vec<f32> = (0..4 * 16 * 16).map(|i| ((i % 37) as f32 / 9.0).sin()).collect();
//! let tensor = world.arena_mut().alloc_from(&[4, 16, 16], &data)?;
//! let e = world.spawn_with(Latent { tensor });
//!
//! // The stages one by one; `LatentCodec::encoder()` is this chain, defined once.
//! let stream = world
//!     .pipe(e)
//!     .to(Hadamard::forward())
//!     .to(WaveletTransform::forward(Wavelet::Cdf53, 3))
//!     .to(Quantize::forward(75))
//!     .to(EntropyCoder::forward())
//!     .out::<AnsBitstream>()?;
//!
//! // Decode on a fresh entity that only has the stream.
//! let d = world.spawn_with(stream);
//! let latent = world.pipe(d).chain(LatentCodec::default().decoder()).out::<Latent>()?;
//! let back = world.arena().view::<f32>(&latent.tensor)?;
//! let mse: f32 = data.iter().zip(back).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / data.len() as f32;
//! assert!(mse < 1e-3);
//! # Ok(())
//! # }
//! ```
//!
//! The crate, bottom up: [`error`] and [`layout`] (the band table every stage shares); the
//! core model (`World`, components, systems, pipes, arenas); `gpu` (device, GPU arena,
//! kernel plumbing); [`entropy`] (rANS) and [`bitstream`] (the container); [`latent`] (the
//! latent codec: the stage chain and its stages); [`vae`] (the model) and [`codec`] (the
//! high-level API). ARCHITECTURE.md has the map.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The test helpers shared with the integration tests (`tests/common/`) name the crate
// `vaerans`, as those tests do.
#[cfg(test)]
extern crate self as vaerans;

pub mod bitstream;
pub mod codec;
mod core;
pub mod entropy;
pub mod error;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod latent;
pub mod layout;
pub mod metrics;
pub mod residual;
pub mod vae;

pub use self::core::components;
pub use self::core::{
    Arena, BatchViews, Component, ComponentId, DType, Device, Direction, Element, Entity,
    EntityShape, Footprint, Location, Pipe, PipeReport, StepReport, System, TensorRef, TraceRow,
    World, DEFAULT_ARENA_BYTES, MAX_RANK,
};
pub use bitstream::{AnsBitstream, EntropyCoding, Limits};
pub use codec::{
    decode_image, open_image, Alpha, Codec, CodecBuilder, Decoders, Pipeline, PipelineReport,
    RateTarget, RawImage, Reached, RATE_TOLERANCE,
};
pub use error::{Error, Remedy, Result};
pub use latent::LatentCodec;

/// The README's Rust examples, compiled (and run, where not `no_run`) as doctests, so the
/// README cannot drift from the API.
#[cfg(all(doctest, feature = "gpu"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The common imports: `use vaerans::prelude::*;`.
pub mod prelude {
    pub use crate::bitstream::{AnsBitstream, EntropyCoding, Limits};
    pub use crate::codec::{Codec, CodecBuilder, Decoders, Pipeline, RawImage};
    pub use crate::components::{
        BandQuant, BlurRgb, ChannelTransform, Histograms, Latent, ModelId, QuantParams, ReconRgb,
        Residual, Rgb, SourceInfo, Symbols, WaveletPyr, Yuvw,
    };
    pub use crate::error::{Error, Result};
    pub use crate::latent::{EntropyCoder, Hadamard, LatentCodec, Quantize, WaveletTransform};
    pub use crate::layout::Wavelet;
    pub use crate::residual::{GaussianBlur, ResidualAdd, ResidualCompute, ResidualSettings};
    pub use crate::vae::{Config, ExecutionProvider, ModelSpec, Vae, VaeDecode, VaeEncode};
    pub use crate::{
        Arena, Component, ComponentId, DType, Device, Direction, Entity, EntityShape, Footprint,
        Location, Pipe, PipeReport, System, TensorRef, World,
    };
}

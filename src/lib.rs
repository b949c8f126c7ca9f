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
//! let e = world.spawn();
//! // A synthetic 4×16×16 latent.
//! let data: Vec<f32> = (0..4 * 16 * 16).map(|i| ((i % 37) as f32 / 9.0).sin()).collect();
//! let tensor = world.arena_mut().alloc_from(&[4, 16, 16], &data)?;
//! world.insert(e, Latent { tensor })?;
//!
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
//! let latent = world
//!     .pipe(d)
//!     .to(EntropyCoder::inverse())
//!     .to(Quantize::inverse())
//!     .to(WaveletTransform::inverse())
//!     .to(Hadamard::inverse())
//!     .out::<Latent>()?;
//! let back = world.arena().view::<f32>(&latent.tensor)?;
//! let mse: f32 = data.iter().zip(back).map(|(a, b)| (a - b).powi(2)).sum::<f32>() / data.len() as f32;
//! assert!(mse < 1e-3);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod arena;
pub mod bitstream;
pub mod codec;
pub mod components;
pub mod device;
pub mod entropy;
pub mod error;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod hadamard;
pub mod metrics;
pub mod pipe;
pub mod quantize;
pub mod system;
pub mod tensor;
pub mod vae;
pub mod wavelet;
pub mod world;

pub use arena::Arena;
pub use codec::Codec;
pub use device::Device;
pub use error::{Error, Result};
pub use pipe::{Pipe, PipeReport};
pub use system::{Direction, System};
pub use tensor::{DType, Location, TensorRef};
pub use world::{Component, ComponentId, Entity, TraceRow, World};

/// The common imports: `use vaerans::prelude::*;`.
pub mod prelude {
    pub use crate::arena::Arena;
    pub use crate::bitstream::Limits;
    pub use crate::codec::{Codec, CodecBuilder, RawImage};
    pub use crate::components::{
        AnsBitstream, Histograms, Latent, ModelId, QuantParams, ReconRgb, Rgb, SourceInfo, Symbols,
        WaveletPyr, Yuvw,
    };
    pub use crate::device::Device;
    pub use crate::entropy::EntropyCoder;
    pub use crate::error::{Error, Result};
    pub use crate::hadamard::Hadamard;
    pub use crate::pipe::{Pipe, PipeReport};
    pub use crate::quantize::Quantize;
    pub use crate::system::{Direction, System};
    pub use crate::tensor::{DType, Location, TensorRef};
    pub use crate::vae::{Config, ExecutionProvider, ModelSpec, Vae, VaeDecode, VaeEncode};
    pub use crate::wavelet::{Wavelet, WaveletTransform};
    pub use crate::world::{Component, ComponentId, Entity, World};
}

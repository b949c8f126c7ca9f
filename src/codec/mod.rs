//! The high-level API: [`Codec`] compresses images to vaerans streams and back.
//!
//! A `Codec` is built once (it opens the model's ONNX Runtime sessions and owns a world with
//! its arena) and reused for every call; it is `Send + Sync`, calls on one codec run one at a
//! time. Its pipes are the VAE's systems around the one latent chain
//! ([`LatentCodec`](crate::LatentCodec)); [`Decoders`] decodes streams of several models.
//!
//! ```no_run
//! use vaerans::Codec;
//!
//! # fn main() -> vaerans::Result<()> {
//! let codec = Codec::builder().quality(60).build()?; // the embedded default model
//! let image = image::open("photo.png").map_err(|e| vaerans::Error::Image(e.to_string()))?;
//! let stream = codec.compress_dynamic(&image)?;
//! let back = codec.decompress(&stream)?;
//! assert_eq!(back.dimensions(), (image.width(), image.height()));
//! # Ok(())
//! # }
//! ```

mod asynchronous;
mod builder;
mod images;
mod input;
mod latents;
mod passes;
mod pipeline;
mod rate;
mod router;

pub use builder::CodecBuilder;
pub use images::{Codec, RawImage};
pub use input::{decode_image, open_image, Alpha};
pub use pipeline::{Pipeline, PipelineReport};
pub use rate::{RateTarget, Reached, RATE_TOLERANCE};
pub use router::Decoders;

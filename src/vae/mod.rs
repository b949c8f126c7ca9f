//! The VAE: ONNX Runtime sessions for a model's encoder and decoder ([`Vae`]), and the systems
//! that run them over batches of entities ([`VaeEncode`]: `Rgb → Latent`, [`VaeDecode`]:
//! `Latent → ReconRgb`).
//!
//! Images are padded to a multiple of the model's downsample factor by edge replication,
//! mapped from u8 to the model's input range, and run in batches of equal padded shape (at most
//! [`Vae::max_batch`] images per session call). Decoding crops back to the original size, clamps
//! and rounds. Images larger than the model's tile ([`ModelSpec::tile`]) are coded in
//! overlapping tiles blended across their seams, so that the VAE's working memory is bounded
//! by the tile, not the image.

mod calibrate;
pub mod config;
mod model;
mod pixels;
pub mod provider;
pub mod runtime;
mod systems;
mod tiles;

pub use calibrate::{cache_dir, Calibration, CalibrationOptions};
pub use config::{Config, ModelFile, ModelSpec, DEFAULT_MODEL_NAME};
pub use model::{file_hash, SessionStats, Vae, DEFAULT_MAX_BATCH};
pub use pixels::{planar_to_rgb, rgb_to_planar};
pub use provider::{ConvSearch, ExecutionProvider, Placement, ProviderOptions};
pub use systems::{check_model, VaeDecode, VaeEncode};

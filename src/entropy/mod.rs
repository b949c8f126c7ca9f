//! Entropy coding: per-band static models and an interleaved rANS coder, integer-only.
//!
//! | module | what it owns |
//! |---|---|
//! | `model` | [`BandModel`]: one band's model, what the table describes and both sides code with |
//! | `choice` | the encoder's choice of a model for a band's histogram |
//! | `freqs` | the integer-only normalisation to `2^precision` both sides share, geometric weights |
//! | `table` | how models are written into a stream's entropy tables and read back |
//! | `coder` | [`encode_with_models`] / [`decode_bands`]: the interleaved rANS coder |
//! | `adaptive` | format 3's context-adaptive binary rANS: no tables, contexts learnt on both sides |
//!
//! Bands go in coding order (see [`Symbols`](crate::components::Symbols)); the stage that turns
//! a latent's symbols into a stream and back is [`EntropyCoder`](crate::latent::EntropyCoder).

pub(crate) mod adaptive;
mod bits;
mod choice;
mod coder;
mod freqs;
mod model;
mod table;

pub(crate) use bits::{BitReader, BitWriter};
pub use choice::histogram;
pub use coder::{decode_bands, encode_bands, encode_with_models, Encoded, LANES};
pub use freqs::MAX_PRECISION;
pub use model::{BandModel, ModelShape};

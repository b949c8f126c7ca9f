//! The vaerans container, format version 1.0. All integers little-endian.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "VAER"
//! 4       1     major version (1): a reader rejects a newer major
//! 5       1     minor version (0): additions a 1.0 reader may ignore
//! 6       4     header length H
//! 10      4     payload length P
//! 14      H     header:
//!                 u32 width, u32 height              original image size
//!                 u32 padded_width, u32 padded_height size the model saw
//!                 u16 channels, u32 latent_h, u32 latent_w
//!                 u8 name length, name (UTF-8), 32-byte decoder SHA-256
//!                 u8 wavelet, u8 levels, u8 quality
//!                 per channel, per band: u8 step code, varint zigzag center
//!                 varint table length T, T bytes of entropy tables
//! 14+H    P     rANS payload (16-bit words)
//! 14+H+P  4     CRC32C of every byte before it
//! ```
//!
//! Parsing checks every length against the bytes that remain and every size against [`Limits`]
//! before allocating; bad input is an [`Error`](crate::Error), never a panic. A stream is parsed once, into
//! an [`AnsBitstream`]: everything after that (sizing a batch, choosing the model, decoding)
//! reads its checked [`Header`].
//!
//! The header is made of the components it records ([`SourceInfo`](crate::components::SourceInfo) and [`QuantParams`](crate::components::QuantParams)) plus
//! the latent's shape; the latent codec ([`crate::latent`]) maps components to it and back.

mod header;
mod stream;
mod wire;

pub use header::{Header, Limits, MAGIC, VERSION_MAJOR, VERSION_MINOR};
pub use stream::{AnsBitstream, StreamSizes};

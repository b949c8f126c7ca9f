//! The vaerans container, format version 2.0 (format 1.0 streams keep decoding). All integers
//! little-endian.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "VAER"
//! 4       1     major version (2; 1 is still read): a reader rejects a newer major
//! 5       1     minor version (0): additions a reader of the same major may ignore
//! 6       4     header length H
//! 10      4     payload length P
//! 14      H     header:
//!                 u32 width, u32 height              original image size
//!                 u32 padded_width, u32 padded_height size the model saw
//!                 u16 channels, u32 latent_h, u32 latent_w
//!                 u8 name length, name (UTF-8), 32-byte decoder SHA-256
//!                 u8 wavelet, u8 levels, u8 quality
//!               format 2:
//!                 u8 channel transform (0 none, 1 Hadamard over groups of 4)
//!                 f32 input range low, f32 high (equal: not recorded), u8 downsample (0: not)
//!                 varint S, S bytes of band parameters, bit-packed: the step allocation
//!                   (per-channel and per-level step-code offsets), then per channel and band
//!                   one bit "coded" (0: a zero band, every coefficient 0, no table entry and
//!                   no payload) and for a coded band its step code as the difference from
//!                   what the allocation predicts and its centre, each zigzag Exp-Golomb
//!               format 1:
//!                 per channel, per band: u8 step code, varint zigzag center
//!                 varint table length T, T bytes of entropy tables (one per coded band)
//! 14+H    P     rANS payload (16-bit words)
//! 14+H+P  4     CRC32C of every byte before it
//! ```
//!
//! Format 2 changed the band parameters' layout, which a format 1 reader cannot skip, so it is
//! a new major version: such a reader refuses it by its version instead of misreading it. Band
//! parameters went from two bytes a band to one bit for a zero band and a few for a coded one.
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

//! The vaerans container, format version 3.1 (formats 2.x and 1.0 keep decoding; this build
//! writes 2.x for streams coded with tables, and minor 0 for a stream with nothing to record
//! after its tables), and format 4.0, a base stream of format 2 or 3
//! with an enhancement layer after it ([`layers`]). All integers little-endian.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "VAER"
//! 4       1     major version (3; 1 and 2 are still read): a reader rejects a newer major
//! 5       1     minor version (0 or 1): additions a reader of the same major may ignore
//! 6       4     header length H
//! 10      4     payload length P
//! 14      H     header:
//!               formats 1 and 2:
//!                 u32 width, u32 height              original image size
//!                 u32 padded_width, u32 padded_height size the model saw
//!                 u16 channels, u32 latent_h, u32 latent_w
//!               format 3 (varints):
//!                 width, height, padded_width − width, padded_height − height,
//!                 channels, latent_h, latent_w
//!               all formats:
//!                 u8 name length, name (UTF-8), 32-byte decoder SHA-256
//!                 u8 wavelet, u8 levels, u8 quality
//!               formats 2 and 3:
//!                 u8 channel transform (0 none, 1 Hadamard over groups of 4)
//!                 input range: format 2: f32 low, f32 high (equal: not recorded);
//!                   format 3: u8 code (0 not recorded, 1 [-1, 1], 2 [0, 1], 3: f32 low, f32 high)
//!                 u8 downsample (0: not recorded)
//!                 varint S, S bytes of band parameters: the step allocation (per-channel and
//!                   per-level step-code offsets), then per channel and band a flag "coded" (0:
//!                   a zero band, every coefficient 0, no table entry and no payload) and for a
//!                   coded band its step code as the difference from what the allocation
//!                   predicts and (format 2) its centre. Format 2 bit-packs them, signed values
//!                   zigzag Exp-Golomb; format 3 codes them with context-adaptive binary rANS
//!               format 1:
//!                 per channel, per band: u8 step code, varint zigzag center
//!               formats 1 and 2:
//!                 varint table length T, T bytes of entropy tables (one per coded band)
//!               minor 1, to the end of the header: records, each a varint tag, a varint
//!                 length L and L bytes; tag 1: a bare latent's element type (u8: 0 f32,
//!                 1 f16, 2 bf16). A reader skips tags it does not know
//! 14+H    P     payload: formats 1 and 2 interleaved rANS (16-bit words) with the tables'
//!               static models; format 3 context-adaptive binary rANS over every coded band's
//!               coefficients (zero?, sign, magnitude), each band's centre derived from them
//! 14+H+P  4     CRC32C of every byte before it
//! ```
//!
//! Format 2 changed the band parameters' layout, which a format 1 reader cannot skip, so it is
//! a new major version: such a reader refuses it by its version instead of misreading it. Band
//! parameters went from two bytes a band to one bit for a zero band and a few for a coded one.
//! Format 3 ([`EntropyCoding::Adaptive`]) drops the tables: at low rates a many-channel latent
//! is hundreds of small bands, and their tables outweighed their payload. The encoder writes
//! whichever of formats 2 and 3 is smaller (see
//! [`encode_symbols`](crate::latent::stream::encode_symbols)).
//!
//! Format 4 ([`layers`]) frames streams instead of changing them: its base layer is a format 2
//! or 3 stream byte for byte, and its residual layer a format 2 or 3 stream of the residual's
//! planes. A format 3 reader refuses it by its version; a base-only decoder reads the base and
//! nothing after it.
//!
//! Parsing checks every length against the bytes that remain and every size against [`Limits`]
//! before allocating; bad input is an [`Error`](crate::Error), never a panic. A stream is parsed once, into
//! an [`AnsBitstream`]: everything after that (sizing a batch, choosing the model, decoding)
//! reads its checked [`Header`].
//!
//! The header is made of the components it records ([`SourceInfo`](crate::components::SourceInfo) and [`QuantParams`](crate::components::QuantParams)) plus
//! the latent's shape; the latent codec ([`crate::latent`]) maps components to it and back.

mod header;
pub mod layers;
mod params;
mod stream;
mod wire;

pub use header::{EntropyCoding, Header, Limits, MAGIC, VERSION_MAJOR, VERSION_MINOR};
pub use layers::Enhancement;
pub use stream::{AnsBitstream, StreamSizes};

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
//! before allocating; bad input is an [`Error`], never a panic. A stream is parsed once, into
//! an [`AnsBitstream`]: everything after that (sizing a batch, choosing the model, decoding)
//! reads its checked [`Header`].
//!
//! The header is made of the components it records ([`SourceInfo`] and [`QuantParams`]) plus
//! the latent's shape; the latent codec ([`crate::latent`]) maps components to it and back.

mod wire;

use std::ops::Range;

use crate::components::{QuantParams, SourceInfo};
use crate::core::entity::Component;
use crate::error::{Error, Result};
use crate::layout::bands;
use wire::{read, write, CRC_LEN};

/// The four magic bytes every stream starts with.
pub const MAGIC: [u8; 4] = *b"VAER";
/// Major format version written and read by this build.
pub const VERSION_MAJOR: u8 = 1;
/// Minor format version written by this build.
pub const VERSION_MINOR: u8 = 0;

/// Bounds a reader enforces before allocating for a stream. The defaults accept any image up to
/// 65535 pixels a side and refuse to allocate more than 512 MiB for one image (as the `image`
/// crate does). Change them with the `with_*` methods:
///
/// ```
/// let tight = vaerans::bitstream::Limits::default().with_max_alloc(64 << 20);
/// assert_eq!(tight.max_alloc, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted image width or height, in pixels.
    pub max_image_dim: u32,
    /// Largest accepted latent channel count.
    pub max_channels: u16,
    /// Largest allocation for one image (the decoded RGB or the f32 latent), in bytes.
    pub max_alloc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_image_dim: 65_535,
            max_channels: 256,
            max_alloc: 512 << 20,
        }
    }
}

impl Limits {
    /// These limits with another largest image side.
    pub fn with_max_image_dim(mut self, pixels: u32) -> Self {
        self.max_image_dim = pixels;
        self
    }

    /// These limits with another largest latent channel count.
    pub fn with_max_channels(mut self, channels: u16) -> Self {
        self.max_channels = channels;
        self
    }

    /// These limits with another largest allocation for one image.
    pub fn with_max_alloc(mut self, bytes: u64) -> Self {
        self.max_alloc = bytes;
        self
    }
}

/// Everything the header records: the components it was made from and the latent's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// Format major version of the stream.
    pub version_major: u8,
    /// Format minor version of the stream.
    pub version_minor: u8,
    /// The image the latent came from: original and padded size, and the model.
    pub source: SourceInfo,
    /// Latent channels.
    pub channels: u16,
    /// Latent height.
    pub latent_h: u32,
    /// Latent width.
    pub latent_w: u32,
    /// The quantiser's parameters: quality, wavelet, levels, and per channel and band the step
    /// and centre.
    pub quant: QuantParams,
}

impl Header {
    /// A header of this build's format version.
    pub(crate) fn new(source: SourceInfo, latent: [u32; 3], quant: QuantParams) -> Result<Self> {
        let channels = u16::try_from(latent[0]).map_err(|_| {
            Error::InvalidInput(format!("{} latent channels do not fit a stream", latent[0]))
        })?;
        Ok(Self {
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            source,
            channels,
            latent_h: latent[1],
            latent_w: latent[2],
            quant,
        })
    }

    /// The latent's `[C, h, w]`.
    pub fn latent_shape(&self) -> [usize; 3] {
        [
            usize::from(self.channels),
            self.latent_h as usize,
            self.latent_w as usize,
        ]
    }

    /// Number of bands per channel.
    pub fn bands_per_channel(&self) -> usize {
        bands(
            self.latent_h as usize,
            self.latent_w as usize,
            self.quant.levels,
        )
        .len()
    }

    /// Number of latent values.
    pub fn latent_len(&self) -> usize {
        self.latent_shape().iter().product()
    }
}

/// A complete, self-describing vaerans stream whose framing, checksum and header have been
/// checked: made by [`AnsBitstream::parse`] (bytes from elsewhere, checked once against
/// [`Limits`]) or by the entropy coder. The component the latent codec's last stage produces
/// and its first inverse stage reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnsBitstream {
    bytes: Vec<u8>,
    header: Header,
    tables: Range<usize>,
    payload: Range<usize>,
}

impl Component for AnsBitstream {
    const NAME: &'static str = "AnsBitstream";
}

impl AnsBitstream {
    /// Checks a stream's framing, version, checksum and header against `limits`, once.
    ///
    /// ```
    /// use vaerans::prelude::*;
    /// let err = AnsBitstream::parse(b"not a stream".to_vec(), &Limits::default()).unwrap_err();
    /// assert!(matches!(err, Error::BadMagic));
    /// ```
    pub fn parse(bytes: Vec<u8>, limits: &Limits) -> Result<Self> {
        let (header, tables, payload) = read(&bytes, limits)?;
        Ok(Self {
            bytes,
            header,
            tables,
            payload,
        })
    }

    /// Serialises a stream of `header` (which must hold `channels × bands` band parameters)
    /// with its entropy tables and payload.
    pub(crate) fn write(header: Header, tables: &[u8], payload: &[u8]) -> Result<Self> {
        let bytes = write(&header, tables, payload)?;
        // The sections lie at the end of the header, then the payload, then the checksum.
        let payload_end = bytes.len() - CRC_LEN;
        let payload_at = payload_end - payload.len();
        let tables_at = payload_at - tables.len();
        Ok(Self {
            bytes,
            header,
            tables: tables_at..payload_at,
            payload: payload_at..payload_end,
        })
    }

    /// The checked header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The stream's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The stream's bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a stream has at least its prefix, header and checksum.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The entropy tables.
    pub(crate) fn tables(&self) -> &[u8] {
        &self.bytes[self.tables.clone()]
    }

    /// The rANS payload.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[self.payload.clone()]
    }

    /// Sizes of the stream's parts, for reports.
    pub fn sizes(&self) -> StreamSizes {
        StreamSizes {
            total: self.len(),
            header: self.len() - self.tables.len() - self.payload.len(),
            tables: self.tables.len(),
            payload: self.payload.len(),
        }
    }
}

/// Sizes of the parts of a stream, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSizes {
    /// Everything.
    pub total: usize,
    /// Prefix, header without tables, CRC.
    pub header: usize,
    /// Entropy tables.
    pub tables: usize,
    /// rANS payload.
    pub payload: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{BandQuant, ModelId};
    use crate::layout::Wavelet;

    /// What the writer records about a stream it made is what a reader finds in it.
    #[test]
    fn written_streams_parse_to_the_same_header_and_sections() {
        let source = SourceInfo {
            width: 13,
            height: 9,
            padded_width: 16,
            padded_height: 16,
            model: ModelId {
                name: "m".into(),
                decoder_hash: [7; 32],
            },
        };
        let quant = QuantParams {
            quality: 50,
            wavelet: Wavelet::Haar,
            levels: 1,
            bands: (0..16)
                .map(|i| BandQuant {
                    step_code: i as u8,
                    center: i - 8,
                })
                .collect(),
        };
        let header = Header::new(source, [4, 2, 2], quant).unwrap();
        let written = AnsBitstream::write(header.clone(), b"tables", &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            (written.tables(), written.payload()),
            (&b"tables"[..], &[1u8, 2, 3, 4][..])
        );
        let read = AnsBitstream::parse(written.as_bytes().to_vec(), &Limits::default()).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.header(), &header);
        let sizes = read.sizes();
        assert_eq!(
            (sizes.tables, sizes.payload, sizes.total),
            (6, 4, read.len())
        );
    }
}

//! [`AnsBitstream`]: a stream parsed and checked once, and its parts.

use std::ops::Range;

use super::header::{Header, Limits, VERSION_MINOR};
use super::layers::{self, Enhancement, LAYERED_MAJOR};
use super::wire::{read, write, CRC_LEN};
use crate::core::entity::Component;
use crate::error::{Error, Result};
use crate::latent::file::LatentDType;

/// A complete, self-describing vaerans stream whose framing, checksum and header have been
/// checked: made by [`AnsBitstream::parse`] (bytes from elsewhere, checked once against
/// [`Limits`]) or by the entropy coder. The component the latent codec's last stage produces
/// and its first inverse stage reads.
///
/// A layered stream (format 4, see [`layers`](super::layers)) is its base layer's stream
/// (header, tables and payload are the base's) with an [`Enhancement`] after it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnsBitstream {
    bytes: Vec<u8>,
    header: Header,
    tables: Range<usize>,
    payload: Range<usize>,
    /// Where the base layer's own stream lies in `bytes` (all of them for a one-layer stream).
    base: Range<usize>,
    enhancement: Option<Box<Enhancement>>,
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
        if bytes.get(4) != Some(&LAYERED_MAJOR) || bytes.get(..4) != Some(&super::MAGIC[..]) {
            let (header, tables, payload) = read(&bytes, limits)?;
            return Ok(Self {
                base: 0..bytes.len(),
                bytes,
                header,
                tables,
                payload,
                enhancement: None,
            });
        }
        let base = layers::base_range(&bytes)?;
        let (header, tables, payload) = read(&bytes[base.clone()], limits)?;
        let image = (header.source.width, header.source.height);
        let enhancement = layers::read_enhancement(&bytes, base.end, image, limits)?;
        let shift = |r: Range<usize>| r.start + base.start..r.end + base.start;
        Ok(Self {
            tables: shift(tables),
            payload: shift(payload),
            header,
            enhancement: Some(Box::new(enhancement)),
            base,
            bytes,
        })
    }

    /// Parses only the base layer of a stream, as [`parse`](Self::parse) does, and reads
    /// nothing after it: a layered stream whose enhancement is truncated or damaged still
    /// gives its base (`vaerans decompress --base-only`). A one-layer stream parses whole.
    pub fn parse_base(bytes: Vec<u8>, limits: &Limits) -> Result<Self> {
        if bytes.get(4) != Some(&LAYERED_MAJOR) || bytes.get(..4) != Some(&super::MAGIC[..]) {
            return Self::parse(bytes, limits);
        }
        let base = layers::base_range(&bytes)?;
        Self::parse(bytes[base].to_vec(), limits)
    }

    /// This stream with `enhancement` after it (a layered stream, format 4), which replaces
    /// any it had.
    pub fn with_enhancement(self, enhancement: Enhancement) -> Result<Self> {
        let base = self.without_enhancement();
        let image = (base.header.source.width, base.header.source.height);
        let enhancement = Enhancement::new(enhancement.blur, enhancement.stream, image)?;
        let bytes = layers::write(base.as_bytes(), &enhancement)?;
        let at = layers::base_range(&bytes)?;
        let shift = |r: Range<usize>| r.start + at.start..r.end + at.start;
        Ok(Self {
            tables: shift(base.tables),
            payload: shift(base.payload),
            header: base.header,
            base: at,
            enhancement: Some(Box::new(enhancement)),
            bytes,
        })
    }

    /// The base layer alone: the stream itself when it has no enhancement.
    pub fn without_enhancement(self) -> Self {
        if self.enhancement.is_none() {
            return self;
        }
        let shift = |r: Range<usize>| r.start - self.base.start..r.end - self.base.start;
        Self {
            tables: shift(self.tables.clone()),
            payload: shift(self.payload.clone()),
            bytes: self.bytes[self.base.clone()].to_vec(),
            base: 0..self.base.len(),
            header: self.header,
            enhancement: None,
        }
    }

    /// The enhancement layer after the base, if the stream has one.
    pub fn enhancement(&self) -> Option<&Enhancement> {
        self.enhancement.as_deref()
    }

    /// Serialises a stream of `header` (which must hold `channels × bands` band parameters)
    /// with its entropy tables and payload.
    pub(crate) fn write(header: Header, tables: &[u8], payload: &[u8]) -> Result<Self> {
        let (bytes, tables) = write(&header, tables, payload)?;
        // The payload lies before the checksum.
        let payload_end = bytes.len() - CRC_LEN;
        Ok(Self {
            base: 0..bytes.len(),
            bytes,
            header,
            tables,
            payload: payload_end - payload.len()..payload_end,
            enhancement: None,
        })
    }

    /// This one-layer stream marked as a bare latent whose file held `dtype` (or unmarked,
    /// `None`): the header records the type (minor version 1) and decoding to a latent file
    /// restores it. Tables and payload are unchanged.
    pub fn with_latent_dtype(self, dtype: Option<LatentDType>) -> Result<Self> {
        if self.enhancement.is_some() {
            return Err(Error::InvalidInput(
                "a layered stream holds an image, not a bare latent".into(),
            ));
        }
        let mut header = self.header;
        header.latent_dtype = dtype;
        header.version_minor = if dtype.is_some() { VERSION_MINOR } else { 0 };
        Self::write(
            header,
            &self.bytes[self.tables.clone()],
            &self.bytes[self.payload.clone()],
        )
    }

    /// The checked header (the base layer's).
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
        let enhancement = self.len() - self.base.end;
        StreamSizes {
            total: self.len(),
            header: self.base.end - self.tables.len() - self.payload.len(),
            tables: self.tables.len(),
            payload: self.payload.len(),
            enhancement,
        }
    }
}

/// Sizes of the parts of a stream, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSizes {
    /// Everything.
    pub total: usize,
    /// The base's prefix, header without tables and CRC, and a layered stream's framing
    /// before its base.
    pub header: usize,
    /// Entropy tables.
    pub tables: usize,
    /// rANS payload.
    pub payload: usize,
    /// The enhancement layer after the base, with its framing (0 for one layer).
    pub enhancement: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{BandQuant, ChannelTransform, ModelId, QuantParams, SourceInfo};
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
            input_range: Some([-1.0, 1.0]),
            downsample: 8,
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
            allocation: crate::latent::StepAllocation::new(vec![1, -2, 0, 3], vec![-1, 2]).unwrap(),
        };
        let mut header = Header::new(source, [4, 2, 2], quant, ChannelTransform::None).unwrap();
        header.zero_bands = (0..16).map(|i| i % 5 == 3).collect();
        // A zero band is centre 0 at its predicted step: what the reader reconstructs.
        for i in (0..16).filter(|i| i % 5 == 3) {
            let band = &crate::layout::bands(2, 2, 1)[i % 4];
            let offset = header.quant.allocation.offset(i / 4, band);
            header.quant.bands[i] = BandQuant {
                step_code: crate::latent::quantize::initial_code(50, band, Wavelet::Haar, offset),
                center: 0,
            };
        }
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

//! [`AnsBitstream`]: a stream parsed and checked once, and its parts.

use std::ops::Range;

use super::header::{Header, Limits};
use super::wire::{read, write, CRC_LEN};
use crate::core::entity::Component;
use crate::error::Result;

/// A complete, self-describing vaerans stream whose framing, checksum and header have been
/// checked: made by [`AnsBitstream::parse`] (bytes from elsewhere, checked once against
/// [`Limits`]) or by the entropy coder. The component the latent codec's last stage produces
/// and its first inverse stage reads.
#[derive(Debug, Clone, PartialEq)]
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

//! Format 4: a base stream and enhancement layers after it.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "VAER"
//! 4       1     major version 4
//! 5       1     minor version 0
//! 6       1     number of enhancement layers after the base (1)
//! 7       var   varint B, then B bytes: the base layer, a complete stream of format 1 to 3
//!               (its own header, payload and CRC32C)
//! then each enhancement layer:
//!         1     kind (1: residual)
//!         1     residual: colour space of its planes (0: YCoCg)
//!         1     residual: σ code of the blur of the base it is predicted from (σ = code/8)
//!         var   varint L, then L bytes: the residual's planes `[4, H, W]` (H × W the image's
//!               size) as a complete stream of format 2 or 3, with no channel transform
//! end     4     CRC32C of every byte before it
//! ```
//!
//! Every layer carries its own checksum and the whole stream one more, which covers the
//! framing; every framing byte is checked besides (a kind or colour this reader does not know,
//! a length past the end, bytes after the last layer), so a damaged stream is an error. The base comes first and is framed
//! on its own: a decoder that stops at the base ([`AnsBitstream::parse_base`]) reads nothing
//! after it, so a truncated or damaged enhancement layer still gives the base. A reader older
//! than format 4 refuses such a stream by its version.

use std::ops::Range;

use super::header::{Limits, MAGIC};
use super::stream::AnsBitstream;
use super::wire::{check_crc, put_varint, Cursor, CRC_LEN};
use crate::components::ChannelTransform;
use crate::error::{Error, Result};

/// The major version of a layered stream.
pub const LAYERED_MAJOR: u8 = 4;
/// Magic, the two versions and the number of enhancement layers.
const PREFIX: usize = 7;
/// Layer kind: a residual.
const KIND_RESIDUAL: u8 = 1;
/// Residual colour space: YCoCg.
const COLOUR_YCOCG: u8 = 0;
/// Planes of a residual layer's latent: Y, Co, Cg and a plane of zeros.
pub const RESIDUAL_PLANES: usize = 4;
/// Largest blur code of a residual layer (σ = code / 8 pixels).
pub const MAX_BLUR_CODE: u8 = 32;

/// An enhancement layer: what the base image misses, coded as planes of a bare latent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Enhancement {
    /// σ code of the blur of the base the residual is predicted from (σ = code / 8 pixels).
    pub blur: u8,
    /// The residual's planes `[4, H, W]` as a stream, checked against the base's image size.
    pub stream: AnsBitstream,
}

impl crate::Component for Enhancement {
    const NAME: &'static str = "Enhancement";
}

impl Enhancement {
    /// A residual layer of `stream`, checked against a base image of `width × height`.
    pub fn new(blur: u8, stream: AnsBitstream, (width, height): (u32, u32)) -> Result<Self> {
        if blur > MAX_BLUR_CODE {
            return Err(Error::Corrupt(format!(
                "residual blur code {blur} is above {MAX_BLUR_CODE}"
            )));
        }
        let h = stream.header();
        let want = [RESIDUAL_PLANES, height as usize, width as usize];
        if h.latent_shape() != want || h.transform != ChannelTransform::None {
            return Err(Error::Corrupt(format!(
                "the residual layer holds a {:?} latent ({} channel mixing); a {width}×{height} \
                 image's residual is {want:?} with none",
                h.latent_shape(),
                h.transform.name()
            )));
        }
        if stream.enhancement().is_some() {
            return Err(Error::Corrupt(
                "a residual layer holds a layered stream".into(),
            ));
        }
        Ok(Self { blur, stream })
    }
}

/// Where the base layer of a format 4 stream lies (its framing checked, nothing after it).
pub(super) fn base_range(bytes: &[u8]) -> Result<Range<usize>> {
    if bytes.len() < PREFIX || bytes[..4] != MAGIC || bytes[4] != LAYERED_MAJOR {
        return Err(Error::Internal("not a layered stream".into()));
    }
    let mut c = Cursor {
        buf: bytes,
        pos: PREFIX,
    };
    let n = c.varint("base layer length")? as usize;
    let at = c.pos;
    c.take(n, "base layer")?;
    Ok(at..at + n)
}

/// Parses the layers after the base of a format 4 stream whose base (parsed) ends at
/// `base_end`: the residual layer, checked against the base's image size.
pub(super) fn read_enhancement(
    bytes: &[u8],
    base_end: usize,
    image: (u32, u32),
    limits: &Limits,
) -> Result<Enhancement> {
    if bytes.len() < base_end + CRC_LEN {
        return Err(Error::Truncated {
            what: "layered stream",
            needed: base_end + CRC_LEN,
            available: bytes.len(),
        });
    }
    let body = check_crc(bytes)?;
    if bytes[PREFIX - 1] != 1 {
        return Err(Error::Corrupt(format!(
            "{} enhancement layers; this reader knows streams with one",
            bytes[PREFIX - 1]
        )));
    }
    let mut c = Cursor {
        buf: &bytes[..body],
        pos: base_end,
    };
    let kind = c.u8("layer kind")?;
    if kind != KIND_RESIDUAL {
        return Err(Error::Corrupt(format!(
            "layer kind {kind} is unknown to this reader (1: residual); decode the base alone \
             or upgrade"
        )));
    }
    let colour = c.u8("residual colour space")?;
    if colour != COLOUR_YCOCG {
        return Err(Error::Corrupt(format!(
            "residual colour space {colour} is unknown (0: YCoCg)"
        )));
    }
    let blur = c.u8("residual blur")?;
    let n = c.varint("residual layer length")? as usize;
    let residual = c.take(n, "residual layer")?;
    if c.pos != body {
        return Err(Error::Corrupt(format!(
            "{} bytes after the last layer",
            body - c.pos
        )));
    }
    let stream = AnsBitstream::parse(residual.to_vec(), limits)?;
    Enhancement::new(blur, stream, image)
}

/// The bytes of a format 4 stream: `base` (a complete stream of format 1 to 3) and `layer`.
pub(super) fn write(base: &[u8], layer: &Enhancement) -> Result<Vec<u8>> {
    let residual = layer.stream.as_bytes();
    let len32 = |n: usize, what: &str| {
        u32::try_from(n).map_err(|_| {
            Error::InvalidInput(format!("a {what} of {n} bytes exceeds a layer's 4 GiB"))
        })
    };
    let mut out = Vec::with_capacity(PREFIX + 10 + base.len() + 3 + residual.len() + CRC_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(LAYERED_MAJOR);
    out.push(0);
    out.push(1);
    put_varint(&mut out, len32(base.len(), "base layer")?);
    out.extend_from_slice(base);
    out.extend_from_slice(&[KIND_RESIDUAL, COLOUR_YCOCG, layer.blur]);
    put_varint(&mut out, len32(residual.len(), "residual layer")?);
    out.extend_from_slice(residual);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

//! The bytes of formats 1 to 3: writing a stream, and reading one back with every length checked
//! against the bytes that remain and every size against the [`Limits`] before anything is
//! allocated. The layout is in the [module docs](super).

use std::ops::Range;

use super::params::{band_params_bytes, read_band_params};
use super::{EntropyCoding, Header, Limits, MAGIC, VERSION_MAJOR, VERSION_MINOR};
use crate::components::{BandQuant, ChannelTransform, ModelId, QuantParams, SourceInfo};
use crate::error::{Error, Result};
use crate::latent::file::LatentDType;
use crate::latent::StepAllocation;
use crate::layout::{bands, max_levels, Wavelet};

/// Magic, versions and the two section lengths.
const PREFIX_LEN: usize = 14;
/// The CRC32C at the end.
pub(super) const CRC_LEN: usize = 4;

/// Appends `v` as a LEB128 varint (at most 5 bytes).
pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(super) fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

pub(super) fn unzigzag(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// The record of minor version 1 that holds a bare latent's element type (one byte: 0 f32,
/// 1 f16, 2 bf16).
const RECORD_LATENT_DTYPE: u32 = 1;

fn dtype_code(d: LatentDType) -> u8 {
    match d {
        LatentDType::F32 => 0,
        LatentDType::F16 => 1,
        LatentDType::Bf16 => 2,
    }
}

/// The records after the tables (minor version 1): per record a varint tag, a varint length
/// and that many bytes. Empty when the header has nothing to record, so the stream is minor 0.
fn records(header: &Header) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(d) = header.latent_dtype {
        put_varint(&mut out, RECORD_LATENT_DTYPE);
        put_varint(&mut out, 1);
        out.push(dtype_code(d));
    }
    out
}

/// Reads the records of a minor version 1 header (the rest of `c`): records this build does
/// not know are skipped, as the format promises; a known one must be well formed and appear
/// once.
fn read_records(c: &mut Cursor<'_>) -> Result<Option<LatentDType>> {
    let mut dtype = None;
    while c.pos < c.buf.len() {
        let tag = c.varint("record tag")?;
        let len = c.varint("record length")? as usize;
        let body = c.take(len, "record")?;
        if tag != RECORD_LATENT_DTYPE {
            continue;
        }
        if dtype.is_some() {
            return Err(Error::Corrupt("the latent type is recorded twice".into()));
        }
        let d = match body {
            [0] => LatentDType::F32,
            [1] => LatentDType::F16,
            [2] => LatentDType::Bf16,
            _ => {
                return Err(Error::Corrupt(format!(
                    "unknown latent type record {body:?}"
                )))
            }
        };
        dtype = Some(d);
    }
    Ok(dtype)
}

/// Serialises a stream. `header.quant.bands` must hold `channels × bands` entries. Returns
/// the bytes and where the tables lie in them.
pub(super) fn write(
    header: &Header,
    tables: &[u8],
    payload: &[u8],
) -> Result<(Vec<u8>, Range<usize>)> {
    let (source, quant) = (&header.source, &header.quant);
    let name = source.model.name.as_bytes();
    if name.len() > 255 {
        return Err(Error::InvalidInput(format!(
            "model name is {} bytes; at most 255 fit in a stream",
            name.len()
        )));
    }
    let mut h = Vec::with_capacity(64 + name.len() + 3 * quant.bands.len() + tables.len());
    // Format 3 writes sizes as varints (the padding as what it adds) and common input ranges
    // as a code: at low rates its header is a tenth of a many-channel stream.
    let compact = header.entropy == EntropyCoding::Adaptive;
    if compact {
        let pad = |p: u32, v: u32, what: &str| {
            p.checked_sub(v).ok_or_else(|| {
                Error::InvalidInput(format!("padded {what} {p} is below the image's {v}"))
            })
        };
        put_varint(&mut h, source.width);
        put_varint(&mut h, source.height);
        put_varint(&mut h, pad(source.padded_width, source.width, "width")?);
        put_varint(&mut h, pad(source.padded_height, source.height, "height")?);
        put_varint(&mut h, u32::from(header.channels));
        put_varint(&mut h, header.latent_h);
        put_varint(&mut h, header.latent_w);
    } else {
        for v in [
            source.width,
            source.height,
            source.padded_width,
            source.padded_height,
        ] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&header.channels.to_le_bytes());
        h.extend_from_slice(&header.latent_h.to_le_bytes());
        h.extend_from_slice(&header.latent_w.to_le_bytes());
    }
    h.push(name.len() as u8);
    h.extend_from_slice(name);
    h.extend_from_slice(&source.model.decoder_hash);
    h.push(quant.wavelet.code());
    h.push(quant.levels);
    h.push(quant.quality);
    h.push(header.transform.code());
    let range = source.input_range.unwrap_or([0.0, 0.0]);
    // As the reader sees it: format 2 always writes the two f32s (code `RANGE_CODES.len()`).
    let known = RANGE_CODES.iter().position(|r| *r == range);
    let code = known.filter(|_| compact).unwrap_or(RANGE_CODES.len());
    if compact {
        h.push(code as u8);
    }
    if code == RANGE_CODES.len() {
        h.extend_from_slice(&range[0].to_le_bytes());
        h.extend_from_slice(&range[1].to_le_bytes());
    }
    h.push(source.downsample);
    let len32 = |n: usize, what: &str| {
        u32::try_from(n).map_err(|_| {
            Error::InvalidInput(format!("{what} of {n} bytes exceed a stream's 4 GiB"))
        })
    };
    let params = band_params_bytes(header)?;
    put_varint(&mut h, len32(params.len(), "band parameters")?);
    h.extend_from_slice(&params);
    if compact {
        if !tables.is_empty() {
            return Err(Error::InvalidInput(
                "a format 3 stream has no entropy tables".into(),
            ));
        }
    } else {
        put_varint(&mut h, len32(tables.len(), "entropy tables")?);
        h.extend_from_slice(tables);
    }
    let tables_at = PREFIX_LEN + h.len() - tables.len();
    let records = records(header);
    h.extend_from_slice(&records);
    let minor = if records.is_empty() { 0 } else { VERSION_MINOR };

    let mut out = Vec::with_capacity(PREFIX_LEN + h.len() + payload.len() + CRC_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(header.entropy.format_major());
    out.push(minor);
    out.extend_from_slice(&len32(h.len(), "a header")?.to_le_bytes());
    out.extend_from_slice(&len32(payload.len(), "a payload")?.to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok((out, tables_at..tables_at + tables.len()))
}

/// Checks the CRC32C in the last [`CRC_LEN`] bytes of `bytes` (at least that long) against
/// every byte before it; returns where it starts.
pub(super) fn check_crc(bytes: &[u8]) -> Result<usize> {
    let at = bytes.len() - CRC_LEN;
    let stored = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let computed = crc32c::crc32c(&bytes[..at]);
    if stored != computed {
        return Err(Error::ChecksumMismatch { stored, computed });
    }
    Ok(at)
}

/// Format 3's input range codes: `[0, 0]` is "not recorded"; code `RANGE_CODES.len()` is
/// followed by the two f32s.
const RANGE_CODES: [[f32; 2]; 3] = [[0.0, 0.0], [-1.0, 1.0], [0.0, 1.0]];

/// A bounds-checked little-endian reader.
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let available = self.buf.len() - self.pos;
        if n > available {
            return Err(Error::Truncated {
                what,
                needed: n,
                available,
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    pub(super) fn u8(&mut self, what: &'static str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(super) fn varint(&mut self, what: &'static str) -> Result<u32> {
        let mut v: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.u8(what)?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(v)
                    .map_err(|_| Error::Corrupt(format!("{what}: varint overflows u32")));
            }
        }
        Err(Error::Corrupt(format!(
            "{what}: varint longer than 5 bytes"
        )))
    }
}

/// Reads only the fixed prefix: magic and version. Rejects a newer major version.
fn read_prefix(bytes: &[u8]) -> Result<(u8, u8, usize, usize)> {
    let mut c = Cursor { buf: bytes, pos: 0 };
    if c.take(4, "magic")? != MAGIC {
        return Err(Error::BadMagic);
    }
    let major = c.u8("version")?;
    let minor = c.u8("version")?;
    if major > VERSION_MAJOR {
        return Err(Error::UnsupportedVersion {
            found_major: major,
            found_minor: minor,
            supported_major: VERSION_MAJOR,
        });
    }
    if major == 0 {
        return Err(Error::Corrupt(
            "format major version 0 does not exist".into(),
        ));
    }
    if major == super::layers::LAYERED_MAJOR {
        // Layered streams are framed by `layers`; one inside a layer is not a stream.
        return Err(Error::Corrupt("a layered stream inside a layer".into()));
    }
    let header_len = c.u32("header length")? as usize;
    let payload_len = c.u32("payload length")? as usize;
    Ok((major, minor, header_len, payload_len))
}

/// Parses and validates a stream: its header and where its tables and payload lie.
pub(super) fn read(bytes: &[u8], limits: &Limits) -> Result<(Header, Range<usize>, Range<usize>)> {
    let (major, minor, header_len, payload_len) = read_prefix(bytes)?;
    let body = header_len
        .checked_add(payload_len)
        .and_then(|n| n.checked_add(PREFIX_LEN + CRC_LEN))
        .ok_or_else(|| Error::Corrupt("section lengths overflow".into()))?;
    if bytes.len() < body {
        return Err(Error::Truncated {
            what: "stream",
            needed: body,
            available: bytes.len(),
        });
    }
    if bytes.len() > body {
        return Err(Error::Corrupt(format!(
            "{} bytes of trailing data after the checksum",
            bytes.len() - body
        )));
    }
    let crc_at = check_crc(bytes)?;
    let header_bytes = &bytes[PREFIX_LEN..PREFIX_LEN + header_len];
    let (header, tables) = parse_header(header_bytes, major, minor, limits)?;
    let tables = PREFIX_LEN + tables.start..PREFIX_LEN + tables.end;
    Ok((header, tables, PREFIX_LEN + header_len..crc_at))
}

/// The header, and where in `buf` its entropy tables lie.
fn parse_header(
    buf: &[u8],
    major: u8,
    minor: u8,
    limits: &Limits,
) -> Result<(Header, Range<usize>)> {
    let mut c = Cursor { buf, pos: 0 };
    let entropy = EntropyCoding::of_format(major);
    // Format 3 writes sizes as varints, the padded size as what the padding adds.
    let compact = entropy == EntropyCoding::Adaptive;
    let size = |c: &mut Cursor<'_>, what| if compact { c.varint(what) } else { c.u32(what) };
    let width = size(&mut c, "width")?;
    let height = size(&mut c, "height")?;
    let padded = |c: &mut Cursor<'_>, v: u32, what| -> Result<u32> {
        if compact {
            v.checked_add(c.varint(what)?)
                .ok_or_else(|| Error::Corrupt(format!("{what} overflows")))
        } else {
            c.u32(what)
        }
    };
    let padded_width = padded(&mut c, width, "padded width")?;
    let padded_height = padded(&mut c, height, "padded height")?;
    for (what, v) in [
        ("width", width),
        ("height", height),
        ("padded width", padded_width),
        ("padded height", padded_height),
    ] {
        if v == 0 || v > limits.max_image_dim {
            return Err(Error::LimitExceeded(format!(
                "{what} {v} is outside 1..={}",
                limits.max_image_dim
            )));
        }
    }
    if padded_width < width || padded_height < height {
        return Err(Error::Corrupt(format!(
            "padded size {padded_width}×{padded_height} is smaller than the image {width}×{height}"
        )));
    }
    let rgb_bytes = u64::from(padded_width) * u64::from(padded_height) * 3;
    if rgb_bytes > limits.max_alloc {
        return Err(Error::LimitExceeded(format!(
            "a {padded_width}×{padded_height} image needs {rgb_bytes} bytes, the limit is {}",
            limits.max_alloc
        )));
    }
    let channels = if compact {
        let n = c.varint("channels")?;
        u16::try_from(n).map_err(|_| Error::LimitExceeded(format!("{n} latent channels")))?
    } else {
        c.u16("channels")?
    };
    let latent_h = size(&mut c, "latent height")?;
    let latent_w = size(&mut c, "latent width")?;
    if channels == 0 || channels % 4 != 0 || channels > limits.max_channels {
        return Err(Error::LimitExceeded(format!(
            "{channels} latent channels (need a multiple of 4 in 4..={})",
            limits.max_channels
        )));
    }
    if latent_h == 0 || latent_w == 0 || latent_h > padded_height || latent_w > padded_width {
        return Err(Error::Corrupt(format!(
            "latent size {latent_h}×{latent_w} does not fit the padded image"
        )));
    }
    let latent_bytes = u64::from(channels) * u64::from(latent_h) * u64::from(latent_w) * 4;
    if latent_bytes > limits.max_alloc {
        return Err(Error::LimitExceeded(format!(
            "the latent needs {latent_bytes} bytes, the limit is {}",
            limits.max_alloc
        )));
    }
    let name_len = c.u8("model name length")? as usize;
    let name = std::str::from_utf8(c.take(name_len, "model name")?)
        .map_err(|_| Error::Corrupt("model name is not UTF-8".into()))?
        .to_owned();
    let mut decoder_hash = [0u8; 32];
    decoder_hash.copy_from_slice(c.take(32, "decoder hash")?);
    let wavelet_code = c.u8("wavelet")?;
    let wavelet = Wavelet::from_code(wavelet_code)
        .ok_or_else(|| Error::Corrupt(format!("unknown wavelet code {wavelet_code}")))?;
    let levels = c.u8("levels")?;
    let (lh, lw) = (latent_h as usize, latent_w as usize);
    if levels > max_levels(lh, lw) {
        return Err(Error::Corrupt(format!(
            "{levels} wavelet levels for a {lh}×{lw} latent (at most {})",
            max_levels(lh, lw)
        )));
    }
    let quality = c.u8("quality")?;
    let table = bands(lh, lw, levels);
    let n_bands = usize::from(channels) * table.len();
    let (mut transform, mut input_range, mut downsample) = (ChannelTransform::Hadamard4, None, 0);
    let (mut allocation, mut zero_bands) = (StepAllocation::uniform(), Vec::new());
    let band_params = if major == 1 {
        // Format 1: per band a step code byte and a varint centre (at least 2 bytes, so this
        // bound is checked before allocating).
        if n_bands * 2 > buf.len() - c.pos {
            return Err(Error::Truncated {
                what: "band parameters",
                needed: n_bands * 2,
                available: buf.len() - c.pos,
            });
        }
        let mut band_params = Vec::with_capacity(n_bands);
        for _ in 0..n_bands {
            let step_code = c.u8("step code")?;
            let center = unzigzag(c.varint("band center")?);
            band_params.push(BandQuant { step_code, center });
        }
        band_params
    } else {
        let code = c.u8("channel transform")?;
        transform = ChannelTransform::from_code(code)
            .ok_or_else(|| Error::Corrupt(format!("unknown channel transform code {code}")))?;
        let f32_of = |b: &[u8]| f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let code = if compact {
            usize::from(c.u8("input range")?)
        } else {
            RANGE_CODES.len()
        };
        let [lo, hi] = match code {
            n if n < RANGE_CODES.len() => RANGE_CODES[n],
            n if n == RANGE_CODES.len() => [
                f32_of(c.take(4, "input range")?),
                f32_of(c.take(4, "input range")?),
            ],
            n => return Err(Error::Corrupt(format!("unknown input range code {n}"))),
        };
        if !(lo.is_finite() && hi.is_finite()) {
            return Err(Error::Corrupt(format!(
                "input range [{lo}, {hi}] is not finite"
            )));
        }
        input_range = (lo != hi).then_some([lo, hi]);
        downsample = c.u8("downsample")?;
        let n = c.varint("band parameter length")? as usize;
        let section = c.take(n, "band parameters")?;
        let (a, params, zero) = read_band_params(
            section,
            entropy,
            (usize::from(channels), &table),
            (quality, wavelet),
        )?;
        allocation = a;
        zero_bands = zero;
        params
    };
    // Format 3 has no tables.
    let table_len = if compact {
        0
    } else {
        c.varint("table length")? as usize
    };
    let tables_at = c.pos;
    c.take(table_len, "entropy tables")?;
    // Minor 0 has nothing after the tables; minor 1 has records, which read to the end. A
    // newer minor may add what this build skips.
    let latent_dtype = if minor >= 1 {
        read_records(&mut c)?
    } else {
        None
    };
    if c.pos != buf.len() && minor <= VERSION_MINOR {
        return Err(Error::Corrupt(format!(
            "{} unexpected bytes at the end of the header",
            buf.len() - c.pos
        )));
    }
    Ok((
        Header {
            version_major: major,
            version_minor: minor,
            source: SourceInfo {
                width,
                height,
                padded_width,
                padded_height,
                model: ModelId { name, decoder_hash },
                input_range,
                downsample,
            },
            channels,
            latent_h,
            latent_w,
            quant: QuantParams {
                quality,
                wavelet,
                levels,
                bands: band_params,
                allocation,
            },
            transform,
            zero_bands,
            entropy,
            latent_dtype,
        },
        tables_at..tables_at + table_len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips() {
        for v in [0, 1, -1, 127, -128, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn varint_round_trips_and_rejects_overlong() {
        for v in [0u32, 1, 127, 128, 300, u32::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut c = Cursor { buf: &b, pos: 0 };
            assert_eq!(c.varint("v").unwrap(), v);
        }
        let bad = [0xffu8; 6];
        let mut c = Cursor { buf: &bad, pos: 0 };
        assert!(c.varint("v").is_err());
    }
}

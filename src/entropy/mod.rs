//! Entropy coding: quantised symbols ↔ a complete vaerans stream.
//!
//! Symbols are coded band by band (channels outermost, bands in [`crate::wavelet::bands`] order,
//! raster order inside a band), each band with its own static model, all in one interleaved rANS
//! stream ([`rans`]).

pub mod bits;
pub mod rans;

use rayon::prelude::*;

use crate::bitstream::{self, Header, Limits};
use crate::components::{AnsBitstream, Histograms, QuantParams, SourceInfo, Symbols};
use crate::error::{Error, Result};
use crate::quantize::band_rows;
use crate::system::{Direction, System};
use crate::tensor::DType;
use crate::wavelet::bands;
use crate::world::{ComponentId, Entity, World};

/// Gathers the symbols of a `[C, h, w]` Mallat tensor into bands in coding order.
fn gather_bands(symbols: &[u8], c: usize, h: usize, w: usize, levels: u8) -> Vec<Vec<u8>> {
    let table = bands(h, w, levels);
    let mut out = Vec::with_capacity(c * table.len());
    for plane in symbols.chunks_exact(h * w).take(c) {
        for b in &table {
            let mut v = Vec::with_capacity(b.len());
            for row in band_rows(plane, w, *b) {
                v.extend_from_slice(row);
            }
            out.push(v);
        }
    }
    out
}

/// Encodes one latent's symbols and parameters into a complete stream.
///
/// `symbols` is the `[C, h, w]` u8 tensor's data; `source` describes the image (its size and
/// model); `None` records the latent's own size and an empty model id.
pub fn encode_stream(
    symbols: &[u8],
    shape: [usize; 3],
    params: &QuantParams,
    source: Option<&SourceInfo>,
) -> Result<Vec<u8>> {
    encode_stream_with_histograms(symbols, shape, params, source, None)
}

/// [`encode_stream`] with the bands' histograms already counted (by the quantiser, in coding
/// order). The models are checked against the symbols while coding, so a wrong histogram is an
/// error, never a wrong stream.
pub fn encode_stream_with_histograms(
    symbols: &[u8],
    shape: [usize; 3],
    params: &QuantParams,
    source: Option<&SourceInfo>,
    histograms: Option<&[[u32; 256]]>,
) -> Result<Vec<u8>> {
    let [c, h, w] = shape;
    if symbols.len() != c * h * w {
        return Err(Error::InvalidInput(format!(
            "{} symbols for shape {shape:?}",
            symbols.len()
        )));
    }
    let table_len = bands(h, w, params.levels).len();
    if params.bands.len() != c * table_len {
        return Err(Error::InvalidInput(format!(
            "QuantParams has {} bands, a {shape:?} tensor with {} levels needs {}",
            params.bands.len(),
            params.levels,
            c * table_len
        )));
    }
    let to_u32 = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| Error::InvalidInput(format!("{what} {v} does not fit u32")))
    };
    let latent_only = SourceInfo {
        width: to_u32(w, "latent width")?,
        height: to_u32(h, "latent height")?,
        padded_width: to_u32(w, "latent width")?,
        padded_height: to_u32(h, "latent height")?,
        model: Default::default(),
    };
    let source = source.unwrap_or(&latent_only);
    let header = Header {
        version_major: bitstream::VERSION_MAJOR,
        version_minor: bitstream::VERSION_MINOR,
        width: source.width,
        height: source.height,
        padded_width: source.padded_width,
        padded_height: source.padded_height,
        channels: u16::try_from(c)
            .map_err(|_| Error::InvalidInput(format!("{c} channels do not fit u16")))?,
        latent_h: to_u32(h, "latent height")?,
        latent_w: to_u32(w, "latent width")?,
        model: source.model.clone(),
        wavelet: params.wavelet,
        levels: params.levels,
        quality: params.quality,
        bands: params.bands.clone(),
    };
    let banded = gather_bands(symbols, c, h, w, params.levels);
    let refs: Vec<&[u8]> = banded.iter().map(Vec::as_slice).collect();
    let enc = match histograms {
        Some(h) if h.len() == refs.len() => {
            let models: Vec<_> = h.iter().map(rans::BandModel::from_histogram).collect();
            rans::encode_with_models(&refs, &models)?
        }
        Some(h) => {
            return Err(Error::InvalidInput(format!(
                "{} histograms for {} bands",
                h.len(),
                refs.len()
            )))
        }
        None => rans::encode_bands(&refs)?,
    };
    bitstream::write(&header, &enc.tables, &enc.payload)
}

/// A decoded stream: its header and the `[C, h, w]` symbols.
#[derive(Debug, Clone)]
pub struct DecodedStream {
    /// Everything the header records.
    pub header: Header,
    /// Symbols in Mallat layout, `channels × latent_h × latent_w`.
    pub symbols: Vec<u8>,
}

impl DecodedStream {
    /// The quantiser parameters as a component.
    pub fn quant_params(&self) -> QuantParams {
        QuantParams {
            quality: self.header.quality,
            wavelet: self.header.wavelet,
            levels: self.header.levels,
            bands: self.header.bands.clone(),
        }
    }

    /// The image description as a component.
    pub fn source_info(&self) -> SourceInfo {
        SourceInfo {
            width: self.header.width,
            height: self.header.height,
            padded_width: self.header.padded_width,
            padded_height: self.header.padded_height,
            model: self.header.model.clone(),
        }
    }
}

/// Parses and entropy-decodes a stream.
pub fn decode_stream(bytes: &[u8], limits: &Limits) -> Result<DecodedStream> {
    let parsed = bitstream::read(bytes, limits)?;
    let hd = &parsed.header;
    let (c, h, w) = (
        usize::from(hd.channels),
        hd.latent_h as usize,
        hd.latent_w as usize,
    );
    let table = bands(h, w, hd.levels);
    let lens: Vec<usize> = (0..c).flat_map(|_| table.iter().map(|b| b.len())).collect();
    let mut flat = vec![0u8; c * h * w];
    rans::decode_bands(parsed.tables, parsed.payload, &lens, &mut flat)?;
    // Scatter from coding order back to the Mallat layout.
    let mut symbols = vec![0u8; c * h * w];
    let mut at = 0;
    for plane in symbols.chunks_exact_mut(h * w) {
        for b in &table {
            for y in b.y..b.y + b.h {
                plane[y * w + b.x..y * w + b.x + b.w].copy_from_slice(&flat[at..at + b.w]);
                at += b.w;
            }
        }
    }
    Ok(DecodedStream {
        header: parsed.header,
        symbols,
    })
}

/// The entropy-coding system: `Symbols + QuantParams (+ SourceInfo) → AnsBitstream` forward,
/// `AnsBitstream → Symbols + QuantParams + SourceInfo` inverse. Encoding and decoding run in
/// parallel across entities; a corrupt stream fails only its own entity.
#[derive(Debug, Clone, Copy)]
pub struct EntropyCoder {
    direction: Direction,
    limits: Limits,
}

impl EntropyCoder {
    /// Symbols → stream.
    pub fn forward() -> Self {
        Self {
            direction: Direction::Forward,
            limits: Limits::default(),
        }
    }

    /// Stream → symbols, enforcing default [`Limits`].
    pub fn inverse() -> Self {
        Self::inverse_with_limits(Limits::default())
    }

    /// Stream → symbols, enforcing `limits`.
    pub fn inverse_with_limits(limits: Limits) -> Self {
        Self {
            direction: Direction::Inverse,
            limits,
        }
    }
}

impl System for EntropyCoder {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "rans",
            Direction::Inverse => "rans⁻¹",
        }
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn required(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![
                ComponentId::of::<Symbols>(),
                ComponentId::of::<QuantParams>(),
            ],
            Direction::Inverse => vec![ComponentId::of::<AnsBitstream>()],
        }
    }

    fn produced(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<AnsBitstream>()],
            Direction::Inverse => vec![
                ComponentId::of::<Symbols>(),
                ComponentId::of::<QuantParams>(),
                ComponentId::of::<SourceInfo>(),
            ],
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        match self.direction {
            Direction::Forward => run_forward(world, entities),
            Direction::Inverse => run_inverse(world, entities, &self.limits),
        }
    }
}

/// What encoding one entity reads: its symbols, their shape, parameters and source info.
type EncodeJob<'a> = (
    &'a [u8],
    [usize; 3],
    &'a QuantParams,
    Option<&'a SourceInfo>,
    Option<&'a [[u32; 256]]>,
);

fn run_forward(world: &mut World, entities: &[Entity]) -> Result<()> {
    // Symbols left on a GPU by a custom pipeline come home in one readback.
    world.component_tensors_to_host::<Symbols>(
        entities,
        |s| s.tensor,
        |_, tensor| Symbols { tensor },
    )?;
    let results: Vec<(Entity, Result<Vec<u8>>)> = {
        let w = &*world;
        let jobs: Vec<(Entity, Result<EncodeJob<'_>>)> = entities
            .iter()
            .map(|&e| {
                let job = (|| {
                    let t = w.get::<Symbols>(e)?.tensor;
                    let [c, h, wd] = *t.shape() else {
                        return Err(Error::InvalidInput(format!(
                            "Symbols must be [C, h, w], got {:?}",
                            t.shape()
                        )));
                    };
                    if t.dtype != DType::U8 {
                        return Err(Error::InvalidInput("Symbols must be u8".into()));
                    }
                    let syms = w.arena().view::<u8>(&t)?;
                    let q = w.get::<QuantParams>(e)?;
                    let hist = w.get::<Histograms>(e).ok().map(|h| h.0.as_slice());
                    Ok((syms, [c, h, wd], q, w.get::<SourceInfo>(e).ok(), hist))
                })();
                (e, job)
            })
            .collect();
        jobs.into_par_iter()
            .map(|(e, job)| {
                (
                    e,
                    job.and_then(|(s, shape, q, src, hist)| {
                        encode_stream_with_histograms(s, shape, q, src, hist)
                    }),
                )
            })
            .collect()
    };
    for (e, r) in results {
        match r {
            Ok(bytes) => world.insert(e, AnsBitstream(bytes))?,
            Err(err) => world.record_failure(e, err),
        }
    }
    Ok(())
}

fn run_inverse(world: &mut World, entities: &[Entity], limits: &Limits) -> Result<()> {
    let decoded: Vec<(Entity, Result<DecodedStream>)> = {
        // The world is not `Sync`; collect the (shareable) byte slices first.
        let streams: Vec<(Entity, Result<&[u8]>)> = entities
            .iter()
            .map(|&e| (e, world.get::<AnsBitstream>(e).map(|b| b.0.as_slice())))
            .collect();
        streams
            .into_par_iter()
            .map(|(e, bytes)| (e, bytes.and_then(|b| decode_stream(b, limits))))
            .collect()
    };
    for (e, r) in decoded {
        let d = match r {
            Ok(d) => d,
            Err(err) => {
                world.record_failure(e, err);
                continue;
            }
        };
        let shape = [
            usize::from(d.header.channels),
            d.header.latent_h as usize,
            d.header.latent_w as usize,
        ];
        let tensor = world.arena_mut().alloc_from::<u8>(&shape, &d.symbols)?;
        world.insert(e, Symbols { tensor })?;
        world.insert(e, d.quant_params())?;
        world.insert(e, d.source_info())?;
    }
    Ok(())
}

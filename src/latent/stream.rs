//! The last stage of the chain: a latent's symbols and parameters ⇄ its stream, and the one
//! mapping between the stream [`Header`] and the components it records.
//!
//! Symbols are in coding order ([`Symbols`]), so a channel's bands are consecutive runs of its
//! plane: they go to the rANS coder ([`crate::entropy`]) as slices, with no copy in either
//! direction.

use rayon::prelude::*;

use crate::bitstream::{AnsBitstream, EntropyCoding, Header};
use crate::components::{ChannelTransform, Histograms, QuantParams, SourceInfo, Symbols};
use crate::core::system::two_way_system;
use crate::entropy::adaptive::{self, BandShape};
use crate::entropy::{self, BandModel};
use crate::error::{Error, Result};
use crate::layout::{bands, Orientation};
use crate::{DType, Device, Direction, Entity, EntityShape, Footprint, Location, System, World};

/// The header a latent's components make: its `source` (a bare latent records its own size
/// and no model), its `[C, h, w]` and its quantiser parameters, checked against each other.
pub fn header_of(
    source: Option<&SourceInfo>,
    shape: [usize; 3],
    quant: &QuantParams,
    transform: ChannelTransform,
) -> Result<Header> {
    let [c, h, w] = shape;
    let per = bands(h, w, quant.levels).len();
    if quant.bands.len() != c * per {
        return Err(Error::InvalidInput(format!(
            "QuantParams has {} bands, a {shape:?} latent with {} levels needs {}",
            quant.bands.len(),
            quant.levels,
            c * per
        )));
    }
    let to_u32 = |v: usize, what: &str| {
        u32::try_from(v)
            .map_err(|_| Error::InvalidInput(format!("{what} {v} does not fit a stream")))
    };
    let latent = [
        to_u32(c, "latent channels")?,
        to_u32(h, "latent height")?,
        to_u32(w, "latent width")?,
    ];
    let source = match source {
        Some(s) => s.clone(),
        None => SourceInfo {
            width: latent[2],
            height: latent[1],
            padded_width: latent[2],
            padded_height: latent[1],
            model: Default::default(),
            input_range: None,
            downsample: 0,
        },
    };
    Header::new(source, latent, quant.clone(), transform)
}

/// The shape of a stream's work (for sizing a batch before decoding it).
pub fn shape_of(header: &Header) -> EntityShape {
    EntityShape {
        image: [header.source.width, header.source.height],
        latent: header.latent_shape(),
        levels: header.quant.levels,
    }
}

/// The lengths of a latent's bands in coding order.
fn band_lens(shape: [usize; 3], levels: u8) -> Vec<usize> {
    let [c, h, w] = shape;
    let table = bands(h, w, levels);
    (0..c).flat_map(|_| table.iter().map(|b| b.len())).collect()
}

/// Splits coding-order symbols into their bands.
fn split_bands<'a>(symbols: &'a [u8], lens: &[usize]) -> Vec<&'a [u8]> {
    let mut rest = symbols;
    lens.iter()
        .map(|&n| {
            let (band, tail) = rest.split_at(n);
            rest = tail;
            band
        })
        .collect()
}

/// The shapes of a header's coded bands (zero bands left out), in coding order, with their
/// indices among all bands, for the adaptive coder.
fn coded_shapes(h: &Header) -> Vec<(usize, BandShape)> {
    let table = bands(h.latent_h as usize, h.latent_w as usize, h.quant.levels);
    (0..h.quant.bands.len())
        .filter(|&i| !h.is_zero_band(i))
        .map(|i| {
            let b = &table[i % table.len()];
            let class = match b.orientation {
                Orientation::LL => 0,
                _ => usize::from(b.level).min(adaptive::BAND_CLASSES - 1),
            };
            (
                i,
                BandShape {
                    w: b.w,
                    h: b.h,
                    class,
                },
            )
        })
        .collect()
}

/// Encodes one latent's coding-order symbols into a stream; `histograms`, when the quantiser
/// counted them, spare the coder a pass (they are checked against the symbols while coding, so
/// a wrong one is an error, never a wrong stream).
///
/// A *zero* band (centre 0, every symbol 128: every coefficient quantised to 0) is marked in
/// the header and has no table entry and no payload.
///
/// `coding` chooses the entropy coding; `None` codes both ways and keeps the stream without
/// tables (format 3; see [`EntropyCoding`]) when it is at least 2% smaller than the one with
/// (format 2), which decodes several times faster. Without tables is smaller by more than
/// that for nearly every image latent (on a Kodak image with the embedded model by 6% at
/// quality 95 to 36% at quality 5); on dense, noise-like latents the two are within 1%.
pub fn encode_symbols(
    symbols: &[u8],
    mut header: Header,
    histograms: Option<&[[u32; 256]]>,
    coding: Option<EntropyCoding>,
) -> Result<AnsBitstream> {
    let lens = band_lens(header.latent_shape(), header.quant.levels);
    if symbols.len() != lens.iter().sum::<usize>() {
        return Err(Error::InvalidInput(format!(
            "{} symbols for a {:?} latent",
            symbols.len(),
            header.latent_shape()
        )));
    }
    if let Some(h) = histograms.filter(|h| h.len() != lens.len()) {
        return Err(Error::InvalidInput(format!(
            "{} histograms for {} bands",
            h.len(),
            lens.len()
        )));
    }
    let mut banded = split_bands(symbols, &lens);
    header.zero_bands = banded
        .iter()
        .zip(&header.quant.bands)
        .enumerate()
        .map(|(i, (b, q))| {
            q.center == 0
                && match histograms {
                    Some(h) => h[i][128] as usize == b.len(),
                    None => b.iter().all(|&s| s == 128),
                }
        })
        .collect();
    for (b, &zero) in banded.iter_mut().zip(&header.zero_bands) {
        if zero {
            *b = &[];
        }
    }
    if coding == Some(EntropyCoding::Adaptive) {
        return encode_adaptive(&banded, header);
    }
    let enc = match histograms {
        Some(h) => {
            let models: Vec<_> = h
                .iter()
                .zip(&banded)
                .map(|(h, b)| {
                    if b.is_empty() {
                        None
                    } else {
                        BandModel::from_histogram(h)
                    }
                })
                .collect();
            entropy::encode_with_models(&banded, &models)?
        }
        None => entropy::encode_bands(&banded)?,
    };
    let with_tables = AnsBitstream::write(header.clone(), &enc.tables, &enc.payload)?;
    if coding.is_none() {
        // Parameters that only tables can carry (a centre off the middle, from a custom
        // quantiser) keep the tables; so does a gain under 2%, not worth decoding several
        // times slower.
        if let Ok(adaptive) = encode_adaptive(&banded, header) {
            if adaptive.len() * 50 < with_tables.len() * 49 {
                return Ok(adaptive);
            }
        }
    }
    Ok(with_tables)
}

/// A format 3 stream of the coded bands of `banded` (zero bands empty).
fn encode_adaptive(banded: &[&[u8]], header: Header) -> Result<AnsBitstream> {
    let header = header.with_entropy(EntropyCoding::Adaptive);
    let mut coder = adaptive::AdaptiveEncoder::new();
    let mut models = adaptive::CoefficientModels::default();
    let mut scratch = Vec::new();
    for (i, shape) in coded_shapes(&header) {
        let center = header.quant.bands[i].center;
        adaptive::encode_band(
            &mut coder,
            &mut models,
            banded[i],
            (shape, center),
            &mut scratch,
        )?;
    }
    AnsBitstream::write(header, &[], &coder.finish())
}

/// Decodes a format 3 stream's coded bands, packed one after another, into `out`, and sets
/// their centres in `quant` (they are derived from the coefficients, not recorded).
fn decode_adaptive(stream: &AnsBitstream, out: &mut [u8], quant: &mut QuantParams) -> Result<()> {
    let mut coder = adaptive::AdaptiveDecoder::new(stream.payload(), "payload")?;
    let mut models = adaptive::CoefficientModels::default();
    let mut scratch = Vec::new();
    let mut at = 0;
    for (i, shape) in coded_shapes(stream.header()) {
        let n = shape.w * shape.h;
        quant.bands[i].center = adaptive::decode_band(
            &mut coder,
            &mut models,
            &mut out[at..at + n],
            shape,
            &mut scratch,
        )?;
        at += n;
    }
    coder.finish()
}

/// Decodes a stream's symbols, in coding order, into `out` (`header().latent_len()` bytes),
/// and returns its quantiser parameters (the header's, with the centres a stream without
/// tables derives from its coefficients). The coded bands are decoded packed at the front,
/// then moved to their places from the last back (each only moves forward), and zero bands
/// filled with 128.
pub fn decode_symbols_into(stream: &AnsBitstream, out: &mut [u8]) -> Result<QuantParams> {
    let h = stream.header();
    let mut quant = h.quant.clone();
    let lens = band_lens(h.latent_shape(), h.quant.levels);
    let adaptive = h.entropy == EntropyCoding::Adaptive;
    if h.zero_bands.is_empty() && !adaptive {
        entropy::decode_bands(stream.tables(), stream.payload(), &lens, out)?;
        return Ok(quant);
    }
    let coded: Vec<usize> = lens
        .iter()
        .enumerate()
        .map(|(i, &n)| if h.is_zero_band(i) { 0 } else { n })
        .collect();
    let packed: usize = coded.iter().sum();
    if out.len() != lens.iter().sum::<usize>() {
        return Err(Error::InvalidInput(format!(
            "{} symbols of room for a {:?} latent",
            out.len(),
            h.latent_shape()
        )));
    }
    if adaptive {
        decode_adaptive(stream, &mut out[..packed], &mut quant)?;
    } else {
        entropy::decode_bands(
            stream.tables(),
            stream.payload(),
            &coded,
            &mut out[..packed],
        )?;
    }
    let (mut from, mut to) = (packed, out.len());
    for (&n, &c) in lens.iter().zip(&coded).rev() {
        to -= n;
        if c == 0 {
            out[to..to + n].fill(128);
        } else {
            from -= n;
            out.copy_within(from..from + n, to);
        }
    }
    Ok(quant)
}

/// Decodes a stream's symbols, in coding order.
pub fn decode_symbols(stream: &AnsBitstream) -> Result<Vec<u8>> {
    let mut out = vec![0u8; stream.header().latent_len()];
    decode_symbols_into(stream, &mut out)?;
    Ok(out)
}

/// The entropy-coding system: `Symbols + QuantParams (+ SourceInfo, Histograms) →
/// AnsBitstream` forward, `AnsBitstream → Symbols + QuantParams + SourceInfo` inverse. Both
/// run in parallel across entities; a corrupt stream fails only its own entity.
#[derive(Debug, Clone, Copy)]
pub struct EntropyCoder {
    direction: Direction,
    coding: Option<EntropyCoding>,
}

impl EntropyCoder {
    /// The system in `direction`; forward, it chooses the entropy coding per stream (see
    /// [`encode_symbols`]).
    pub fn new(direction: Direction) -> Self {
        Self {
            direction,
            coding: None,
        }
    }

    /// This system, coding forward with `coding` (`None`: the smaller per stream).
    pub fn with_coding(mut self, coding: Option<EntropyCoding>) -> Self {
        self.coding = coding;
        self
    }

    /// Symbols → stream.
    pub fn forward() -> Self {
        Self::new(Direction::Forward)
    }

    /// Stream → symbols. The stream's header was checked against its limits when it was
    /// parsed ([`AnsBitstream::parse`]).
    pub fn inverse() -> Self {
        Self::new(Direction::Inverse)
    }
}

impl System for EntropyCoder {
    two_way_system! {
        forward "rans": [Symbols, QuantParams] => [AnsBitstream];
        inverse "rans⁻¹": [AnsBitstream] => [Symbols, QuantParams, SourceInfo, ChannelTransform];
    }

    /// Forward: nothing (the stream is not in the arena) unless the symbols must come home
    /// from the GPU. Inverse: the u8 symbols.
    fn footprint(&self, shape: &EntityShape, _device: Device, input: Location) -> Footprint {
        let n = shape.latent_len();
        match (self.direction, input) {
            (Direction::Forward, Location::Gpu) => Footprint::host(&[n]),
            (Direction::Forward, Location::Cpu) => Footprint::none(Location::Cpu),
            (Direction::Inverse, _) => Footprint::host(&[n]),
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        match self.direction {
            Direction::Forward => encode(world, entities, self.coding),
            Direction::Inverse => decode(world, entities),
        }
    }
}

/// What encoding one entity reads: its coding-order symbols, its header and histograms.
type EncodeJob<'a> = (&'a [u8], Header, Option<&'a [[u32; 256]]>);

fn encode_job(w: &World, e: Entity) -> Result<EncodeJob<'_>> {
    let t = w.get::<Symbols>(e)?.tensor;
    let shape = t.chw(DType::U8, "Symbols")?;
    let transform = w.get::<ChannelTransform>(e).copied().unwrap_or_default();
    let header = header_of(
        w.get::<SourceInfo>(e).ok(),
        shape,
        w.get::<QuantParams>(e)?,
        transform,
    )?;
    let hist = w.get::<Histograms>(e).ok().map(|h| h.0.as_slice());
    Ok((w.arena().view::<u8>(&t)?, header, hist))
}

fn encode(world: &mut World, entities: &[Entity], coding: Option<EntropyCoding>) -> Result<()> {
    // Symbols left on a GPU by a custom pipeline come home in one readback.
    world.component_tensors_to_host::<Symbols>(
        entities,
        |s| s.tensor,
        |_, tensor| Symbols { tensor },
    )?;
    let results: Vec<(Entity, Result<AnsBitstream>)> = {
        let w = &*world;
        let jobs: Vec<(Entity, Result<EncodeJob<'_>>)> =
            entities.iter().map(|&e| (e, encode_job(w, e))).collect();
        jobs.into_par_iter()
            .map(|(e, job)| {
                (
                    e,
                    job.and_then(|(s, header, hist)| encode_symbols(s, header, hist, coding)),
                )
            })
            .collect()
    };
    for (e, r) in results {
        match r {
            Ok(stream) => world.insert(e, stream)?,
            Err(err) => world.record_failure(e, err),
        }
    }
    Ok(())
}

fn decode(world: &mut World, entities: &[Entity]) -> Result<()> {
    // The streams leave their entities while the symbols are decoded straight into the arena
    // (in parallel, one disjoint slice each), and go back after.
    let mut taken = Vec::with_capacity(entities.len());
    for &e in entities {
        match world.remove::<AnsBitstream>(e)? {
            Some(s) => taken.push((e, s)),
            None => world.record_failure(
                e,
                Error::MissingComponent {
                    entity: e,
                    component: "AnsBitstream",
                },
            ),
        }
    }
    let mut tensors = Vec::with_capacity(taken.len());
    for (_, s) in &taken {
        tensors.push(
            world
                .arena_mut()
                .alloc(DType::U8, &s.header().latent_shape())?,
        );
    }
    let results: Vec<Result<QuantParams>> = {
        let (_, mut views) = world.arena_mut().batch_views::<u8, u8>(&[], &tensors)?;
        views
            .par_iter_mut()
            .zip(taken.par_iter())
            .map(|(out, (_, s))| decode_symbols_into(s, out))
            .collect()
    };
    for (((e, stream), tensor), r) in taken.into_iter().zip(tensors).zip(results) {
        match r {
            Ok(quant) => {
                let h = stream.header();
                let source = h.source.clone();
                world.insert(e, Symbols { tensor })?;
                world.insert(e, quant)?;
                world.insert(e, source)?;
                world.insert(e, h.transform)?;
            }
            Err(err) => world.record_failure(e, err),
        }
        world.insert(e, stream)?;
    }
    Ok(())
}

//! Bare latents: latent arrays (from a `.npy` or `.safetensors` cache, or any `[C, h, w]` f32
//! slice) coded into streams and back through the latent chain alone, with no VAE.
//!
//! A bare latent's stream records the latent as its own "image", the name of the model that
//! made it when one is given (with no decoder hash: decoding needs no model), and the element
//! type its file held, which decoding restores ([`Header::latent_dtype`]).
//!
//! How faithful the stream is can be asked for three ways ([`Fidelity`]): a quality, as for
//! images; a largest absolute error per value; or a signal-to-noise ratio. The last two search
//! the quality by bisection, decoding each try, so the bound they promise is measured on what
//! a decoder will return (after rounding to the stored element type), never estimated.
//!
//! ```
//! use vaerans::latent::bare::{Fidelity, LatentFileCodec};
//! use vaerans::latent::file::{LatentArray, LatentDType};
//!
//! let values: Vec<f32> = (0..4 * 16 * 16).map(|i| ((i % 37) as f32 / 9.0).sin()).collect();
//! let latent = LatentArray::new(values, vec![4, 16, 16], LatentDType::F16)?;
//! let codec = LatentFileCodec::new(Fidelity::MaxError(0.05)).with_model(Some("sdxl-vae"))?;
//! let coded = codec.encode_array(&latent)?;
//! assert!(coded[0].max_error <= 0.05);
//! let back = codec.decode(&coded[0].stream)?;
//! assert_eq!((back.shape(), back.dtype()), (latent.shape(), LatentDType::F16));
//! // Streams of one shape decode into one [N, C, h, w] array.
//! let streams: Vec<_> = coded.into_iter().map(|c| c.stream).collect();
//! assert_eq!(codec.decode_all(&streams)?.shape(), &[1, 4, 16, 16]);
//! # Ok::<(), vaerans::Error>(())
//! ```

use std::sync::Mutex;

use super::file::{LatentArray, LatentDType};
use super::LatentCodec;
use crate::bitstream::{AnsBitstream, EntropyCoding, Header, Limits};
use crate::components::{Latent, ModelId, SourceInfo};
use crate::core::arena::DEFAULT_ARENA_BYTES;
use crate::error::{Error, Result};
use crate::{Device, Direction, World};

/// The latent chain for latents that `model` made: the embedded model's calibrated steps and
/// channel transform when it is the one named ([`DEFAULT_MODEL_NAME`]), else the default
/// chain's uniform steps. The entropy coding is the default chain's; set it with
/// [`LatentCodec::with_entropy`].
///
/// [`DEFAULT_MODEL_NAME`]: crate::vae::DEFAULT_MODEL_NAME
pub fn chain_for(model: Option<&str>) -> Result<LatentCodec> {
    let chain = LatentCodec::default();
    if model != Some(crate::vae::DEFAULT_MODEL_NAME) {
        return Ok(chain);
    }
    let c = crate::vae::Calibration::embedded()?;
    // The embedded model downsamples by 8.
    Ok(chain
        .with_allocation(c.allocation(8)?)
        .with_transform(c.transform()?))
}

/// How faithful a bare latent's stream must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fidelity {
    /// A quality `1..=100`, as for images.
    Quality(u8),
    /// The lowest quality whose largest absolute error over the latent's values is at most
    /// this (after rounding to the stored element type).
    MaxError(f32),
    /// The lowest quality whose signal-to-noise ratio, in dB, is at least this: the latent's
    /// variance over the error's mean square, `10·log10(Σ(x − x̄)² / Σ(x − x̂)²)`.
    SnrDb(f64),
}

/// One latent's stream and what decoding it gives back, measured.
#[derive(Debug, Clone)]
pub struct Coded {
    /// The stream.
    pub stream: AnsBitstream,
    /// The quality it was coded at.
    pub quality: u8,
    /// The largest absolute error of the decoded values (rounded to the stored type).
    pub max_error: f32,
    /// Signal-to-noise ratio of the decoded values, dB (infinite for an exact round trip).
    pub snr_db: f64,
}

/// Codes bare latents with a [`LatentCodec`] and a [`Fidelity`]. Reusable and shareable:
/// calls from several threads take turns on its one working arena (build one per thread to
/// code in parallel).
#[derive(Debug)]
pub struct LatentFileCodec {
    codec: LatentCodec,
    fidelity: Fidelity,
    model: Option<String>,
    limits: Limits,
    world: Mutex<World>,
}

impl Clone for LatentFileCodec {
    fn clone(&self) -> Self {
        Self {
            codec: self.codec.clone(),
            fidelity: self.fidelity,
            model: self.model.clone(),
            limits: self.limits,
            world: Mutex::new(World::with_arena_capacity(0)),
        }
    }
}

impl LatentFileCodec {
    /// The default latent chain with static tables ([`EntropyCoding::Tables`]: decoding is on
    /// a training loop's hot path, and tables decode about 4× faster than the adaptive coding
    /// for 5–7% more bytes), coding to `fidelity`.
    pub fn new(fidelity: Fidelity) -> Self {
        Self {
            codec: LatentCodec::default().with_entropy(Some(EntropyCoding::Tables)),
            fidelity,
            model: None,
            limits: Limits::default(),
            world: Mutex::new(World::with_arena_capacity(0)),
        }
    }

    /// This codec on another latent chain (wavelet, levels, entropy coding, step allocation);
    /// its quality is replaced by the fidelity's.
    pub fn with_chain(mut self, codec: LatentCodec) -> Self {
        self.codec = codec;
        self
    }

    /// This codec recording `model` (at most 255 bytes) as the name of the model that made
    /// the latents. Decoding never needs it; `vaerans info` shows it.
    pub fn with_model(mut self, model: Option<&str>) -> Result<Self> {
        if let Some(m) = model {
            if m.len() > 255 {
                return Err(Error::InvalidInput(format!(
                    "model name is {} bytes; at most 255 fit in a stream",
                    m.len()
                )));
            }
        }
        self.model = model.map(str::to_owned);
        Ok(self)
    }

    /// This codec holding streams it decodes to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The fidelity streams are made to.
    pub fn fidelity(&self) -> Fidelity {
        self.fidelity
    }

    /// The limits streams are decoded under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Codes every latent of `array` (one for `[C, h, w]`, `N` for `[N, C, h, w]`), in order.
    pub fn encode_array(&self, array: &LatentArray) -> Result<Vec<Coded>> {
        let shape = array.latent_shape();
        array
            .latents()
            .map(|values| self.encode(values, shape, array.dtype()))
            .collect()
    }

    /// Codes one latent `[C, h, w]` (row-major f32 values that `dtype` holds exactly, as a
    /// [`LatentArray`]'s are) to this codec's fidelity.
    pub fn encode(&self, values: &[f32], shape: [usize; 3], dtype: LatentDType) -> Result<Coded> {
        let array = LatentArray::new(values.to_vec(), shape.to_vec(), dtype)?;
        let values = array.data();
        let try_quality = |q: u8| self.encode_at(values, shape, dtype, q);
        match self.fidelity {
            Fidelity::Quality(q) => try_quality(q),
            Fidelity::MaxError(e) => {
                if !(e.is_finite() && e >= 0.0) {
                    return Err(Error::InvalidInput(format!(
                        "a largest error of {e} is not a finite number ≥ 0"
                    )));
                }
                lowest_quality(
                    try_quality,
                    |c| c.max_error <= e,
                    || format!("a largest error of {e}"),
                )
            }
            Fidelity::SnrDb(s) => {
                if !s.is_finite() {
                    return Err(Error::InvalidInput(format!(
                        "a signal-to-noise ratio of {s} dB is not finite"
                    )));
                }
                lowest_quality(
                    try_quality,
                    |c| c.snr_db >= s,
                    || format!("a signal-to-noise ratio of {s} dB"),
                )
            }
        }
    }

    /// Codes one latent at quality `q` and measures what decoding it gives back.
    fn encode_at(
        &self,
        values: &[f32],
        shape: [usize; 3],
        dtype: LatentDType,
        q: u8,
    ) -> Result<Coded> {
        let codec = self.codec.clone().with_quality(q)?;
        let stream = {
            let mut world = self.world_for(&codec, Direction::Forward, shape, 1)?;
            let tensor = world.arena_mut().alloc_from(&shape, values)?;
            let e = world.spawn_with(Latent { tensor });
            if let Some(name) = &self.model {
                world.insert(e, self.source(name, shape)?)?;
            }
            world.pipe(e).chain(codec.encoder()).out::<AnsBitstream>()?
        };
        let stream = stream.with_latent_dtype(Some(dtype))?;
        let back = self.decode_streams(std::slice::from_ref(&stream))?;
        let (max_error, snr_db) = measure(values, &back);
        Ok(Coded {
            stream,
            quality: q,
            max_error,
            snr_db,
        })
    }

    /// What the stream records of a latent from `model`: the latent as its own image.
    fn source(&self, model: &str, shape: [usize; 3]) -> Result<SourceInfo> {
        let dim = |v: usize| {
            u32::try_from(v)
                .map_err(|_| Error::InvalidInput(format!("latent side {v} does not fit a stream")))
        };
        let (w, h) = (dim(shape[2])?, dim(shape[1])?);
        Ok(SourceInfo {
            width: w,
            height: h,
            padded_width: w,
            padded_height: h,
            model: ModelId {
                name: model.to_owned(),
                decoder_hash: [0; 32],
            },
            input_range: None,
            downsample: 0,
        })
    }

    /// Parses `bytes` as a stream under this codec's limits.
    pub fn parse(&self, bytes: Vec<u8>) -> Result<AnsBitstream> {
        AnsBitstream::parse_base(bytes, &self.limits)
    }

    /// Decodes one stream to its latent `[C, h, w]`, in the element type the stream records
    /// (f32 when it records none: an image's latent, or a stream from before types were
    /// recorded). An image stream gives its base layer's latent; no model is needed.
    pub fn decode(&self, stream: &AnsBitstream) -> Result<LatentArray> {
        let (shape, dtype) = shape_and_type(stream.header());
        let values = self.decode_streams(std::slice::from_ref(stream))?;
        LatentArray::decoded(values, shape.to_vec(), dtype)
    }

    /// Decodes streams of one latent shape and element type into one `[N, C, h, w]` array.
    pub fn decode_all(&self, streams: &[AnsBitstream]) -> Result<LatentArray> {
        let Some(first) = streams.first() else {
            return Err(Error::InvalidInput("no streams to decode".into()));
        };
        let (shape, dtype) = shape_and_type(first.header());
        for s in streams {
            let (other, t) = shape_and_type(s.header());
            if (other, t) != (shape, dtype) {
                return Err(Error::InvalidInput(format!(
                    "streams of {shape:?} {} and {other:?} {} latents do not make one array; \
                     decode them one at a time",
                    dtype.name(),
                    t.name()
                )));
            }
        }
        let values = self.decode_streams(streams)?;
        let mut dims = vec![streams.len()];
        dims.extend_from_slice(&shape);
        LatentArray::decoded(values, dims, dtype)
    }

    /// Decodes `streams` (of the first one's shape and type; checked by the caller) into their
    /// values, concatenated and rounded to that type. Streams go through the chain in batches
    /// that fit the working arena.
    fn decode_streams(&self, streams: &[AnsBitstream]) -> Result<Vec<f32>> {
        let (shape, dtype) = shape_and_type(streams[0].header());
        let n = per_latent(shape)
            .checked_mul(streams.len())
            .ok_or_else(|| Error::LimitExceeded("the latents overflow".into()))?;
        self.limits.check_memory(
            "decoding the latents",
            &[("for their values", (n as u64).saturating_mul(4))],
        )?;
        let mut out = Vec::with_capacity(n);
        let one =
            self.codec
                .footprint(Direction::Inverse, &self.codec.shape_of(shape), Device::Cpu);
        let batch = (DEFAULT_ARENA_BYTES / one.host.max(1)).clamp(1, 64);
        for chunk in streams.chunks(batch) {
            let mut world = self.world_for(&self.codec, Direction::Inverse, shape, chunk.len())?;
            let es: Vec<_> = chunk.iter().map(|s| world.spawn_with(s.clone())).collect();
            world
                .pipe_batch(&es)
                .chain(self.codec.decoder())
                .execute()?;
            for &e in &es {
                if let Some(err) = world.failure(e) {
                    return Err(err.clone());
                }
                let latent = world.get::<Latent>(e)?;
                let at = out.len();
                out.extend_from_slice(world.arena().view::<f32>(&latent.tensor)?);
                dtype.round_slice(&mut out[at..]);
            }
        }
        Ok(out)
    }

    /// The working world, cleared, with a host arena that holds `n` latents of `shape` going
    /// through `codec` in `direction`.
    fn world_for(
        &self,
        codec: &LatentCodec,
        direction: Direction,
        shape: [usize; 3],
        n: usize,
    ) -> Result<std::sync::MutexGuard<'_, World>> {
        let one = codec.footprint(direction, &codec.shape_of(shape), Device::Cpu);
        let need = one
            .host
            .saturating_mul(n)
            .saturating_add(per_latent(shape) * n * 4);
        self.limits.check_memory(
            "coding the latents",
            &[("for the chain's tensors", need as u64)],
        )?;
        let mut world = self.world.lock().unwrap_or_else(|p| p.into_inner());
        if world.arena().capacity() < need {
            world.grow_arena(need.next_power_of_two());
        } else {
            world.clear();
        }
        Ok(world)
    }
}

fn per_latent(shape: [usize; 3]) -> usize {
    shape.iter().product()
}

/// A stream's latent shape and the element type decoding restores.
fn shape_and_type(h: &Header) -> ([usize; 3], LatentDType) {
    (h.latent_shape(), h.latent_dtype.unwrap_or(LatentDType::F32))
}

/// The largest absolute error and the signal-to-noise ratio (dB) of `decoded` against `x`.
pub fn measure(x: &[f32], decoded: &[f32]) -> (f32, f64) {
    let n = x.len().max(1) as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut signal, mut noise, mut max) = (0.0f64, 0.0f64, 0.0f32);
    for (&a, &b) in x.iter().zip(decoded) {
        signal += (f64::from(a) - mean).powi(2);
        noise += (f64::from(a) - f64::from(b)).powi(2);
        max = max.max((a - b).abs());
    }
    let snr = if noise == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (signal / noise).log10()
    };
    (max, snr)
}

/// The lowest quality in `1..=100` whose coding meets `ok`, by bisection (the error falls as
/// the quality rises); an error naming the target and the best reached when even 100 misses.
fn lowest_quality(
    code: impl Fn(u8) -> Result<Coded>,
    ok: impl Fn(&Coded) -> bool,
    target: impl Fn() -> String,
) -> Result<Coded> {
    let best = code(100)?;
    if !ok(&best) {
        return Err(Error::InvalidInput(format!(
            "{} is out of reach: quality 100 gives a largest error of {} and {:.2} dB; \
             ask for less",
            target(),
            best.max_error,
            best.snr_db
        )));
    }
    let (mut lo, mut hi, mut found) = (1u8, 100u8, best);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let c = code(mid)?;
        if ok(&c) {
            hi = mid;
            found = c;
        } else {
            lo = mid + 1;
        }
    }
    Ok(found)
}

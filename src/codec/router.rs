//! [`Decoders`]: decoding streams of several models, each with the model it names.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;

use super::builder::CodecBuilder;
use super::images::Codec;
use super::pipeline::{self, Pipeline, PipelineReport};
use crate::bitstream::AnsBitstream;
use crate::components::ModelId;
use crate::error::{Error, Result};

/// Decodes streams with the model each one names (or the builder's model, when it names one),
/// opening each model once and keeping it for later batches.
///
/// ```no_run
/// use vaerans::prelude::*;
/// # fn main() -> vaerans::Result<()> {
/// let mut decoders = Decoders::new(Codec::builder());
/// let bytes = std::fs::read("photo.vaer").map_err(|e| Error::io("photo.vaer", e))?;
/// let stream = decoders.parse(bytes);
/// let image = decoders.decompress_parsed(vec![stream]).pop().unwrap()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Decoders {
    builder: CodecBuilder,
    /// Each model asked for so far: its codec, or why it could not be opened.
    codecs: BTreeMap<String, Result<Arc<Codec>>>,
    opening: Duration,
    profiling: bool,
}

impl Decoders {
    /// Decoders built from `builder`'s settings; each model is opened with them.
    pub fn new(builder: CodecBuilder) -> Self {
        Self {
            builder,
            codecs: BTreeMap::new(),
            opening: Duration::ZERO,
            profiling: false,
        }
    }

    /// Profiles every codec, opened now or later (see [`Codec::set_profiling`]).
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on;
        for c in self.codecs() {
            c.set_profiling(on);
        }
    }

    /// Parses a stream against the limits these decoders' codecs check (see
    /// [`CodecBuilder::limits`]).
    pub fn parse(&self, bytes: Vec<u8>) -> Result<AnsBitstream> {
        if self.builder.decodes_base_only() {
            AnsBitstream::parse_base(bytes, &self.builder.limits)
        } else {
            AnsBitstream::parse(bytes, &self.builder.limits)
        }
    }

    /// Decompresses parsed streams (or their parse errors, passed through); one result per
    /// stream, in order. Streams of one model are decoded as one batch.
    pub fn decompress_parsed(
        &mut self,
        streams: Vec<Result<AnsBitstream>>,
    ) -> Vec<Result<RgbImage>> {
        let pinned = self.builder.model_name().map(str::to_string);
        route(
            streams,
            pinned.as_deref(),
            |name, id| self.codec(name, id),
            |codec, s| codec.decompress_parsed(s),
        )
    }

    /// Decompresses every item of `items` in a pipeline, each stream with the model it names
    /// (see [`Codec::decompress_each`]; `load` gives an item's stream bytes). The batch size
    /// and lanes are chosen for the model the builder opens when a stream names none.
    ///
    /// Errors: only when that model cannot be opened; everything else is per item.
    pub fn decompress_each<I, T, L, S>(
        &mut self,
        items: I,
        load: L,
        plan: Pipeline,
        sink: S,
    ) -> Result<PipelineReport>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send,
        T: Send + Sync,
        L: Fn(&T) -> Result<Vec<u8>> + Sync,
        S: FnMut(Vec<(T, Result<RgbImage>)>),
    {
        let items = items.into_iter();
        let first = self.codec(&self.builder.default_model_name()?, None)?;
        let (batch, n) = plan.plan(first.vae(), &items);
        let pinned = self.builder.model_name().map(str::to_string);
        let limits = self.builder.limits;
        let parse = |item: &T| AnsBitstream::parse(load(item)?, &limits);
        let me = Mutex::new(self);
        let work = |lane: usize, streams: Vec<Result<AnsBitstream>>| {
            let codec = |name: &str, id: Option<&ModelId>| {
                me.lock().unwrap_or_else(|p| p.into_inner()).codec(name, id)
            };
            route(streams, pinned.as_deref(), codec, |c, s| {
                c.decompress_lane(lane, n, s)
            })
        };
        Ok(pipeline::run(items, batch, n, parse, work, sink))
    }

    /// The codec filed under `name`, opened on first use: the model a stream names (`stream`,
    /// chosen among the configured models and the embedded one, never by path), or else the
    /// model the builder names.
    fn codec(&mut self, name: &str, stream: Option<&ModelId>) -> Result<Arc<Codec>> {
        if !self.codecs.contains_key(name) {
            let start = Instant::now();
            let builder = match stream {
                Some(id) => self
                    .builder
                    .stream_model(id)
                    .map(|s| self.builder.clone().model_spec(s)),
                None => Ok(self.builder.clone().model(name)),
            };
            let built = builder
                .and_then(CodecBuilder::build)
                .map(Arc::new)
                .map_err(|e| Error::Model(format!("cannot open the stream's model `{name}`: {e}")));
            self.opening += start.elapsed();
            if let Ok(c) = &built {
                c.set_profiling(self.profiling);
            }
            self.codecs.insert(name.to_string(), built);
        }
        self.codecs[name].clone()
    }

    /// The codecs opened so far.
    pub fn codecs(&self) -> impl Iterator<Item = &Codec> {
        self.codecs.values().filter_map(|c| c.as_deref().ok())
    }

    /// Time spent opening models so far (a one-off cost, not any stream's).
    pub fn time_opening(&self) -> Duration {
        self.opening
    }
}

/// What decoding a bare latent's stream to an image is.
pub(super) fn bare_latent() -> Error {
    Error::InvalidInput(
        "the stream holds a bare latent, not an image: decode it to a latent file \
         (`LatentFileCodec::decode`, `vaerans latents decode`)"
            .into(),
    )
}

/// Decodes each stream with its model's codec (`pinned`, when given, for all): streams of one
/// model as one batch through `decode`; one result per stream, in order.
fn route(
    streams: Vec<Result<AnsBitstream>>,
    pinned: Option<&str>,
    mut codec: impl FnMut(&str, Option<&ModelId>) -> Result<Arc<Codec>>,
    mut decode: impl FnMut(&Codec, Vec<Result<AnsBitstream>>) -> Vec<Result<RgbImage>>,
) -> Vec<Result<RgbImage>> {
    let mut results: Vec<Option<Result<RgbImage>>> = streams.iter().map(|_| None).collect();
    let mut by_model: BTreeMap<String, Vec<(usize, AnsBitstream)>> = BTreeMap::new();
    for (i, s) in streams.into_iter().enumerate() {
        match s {
            Ok(s) if s.header().is_bare_latent() => results[i] = Some(Err(bare_latent())),
            Ok(s) => {
                let name = match pinned {
                    Some(m) => m.to_string(),
                    None => s.header().source.model.name.clone(),
                };
                by_model.entry(name).or_default().push((i, s));
            }
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    for (name, members) in by_model {
        let (idx, streams): (Vec<usize>, Vec<AnsBitstream>) = members.into_iter().unzip();
        // A pinned model is the user's choice; otherwise the streams' own names choose.
        let id = pinned
            .is_none()
            .then(|| streams[0].header().source.model.clone());
        let decoded = match codec(&name, id.as_ref()) {
            Ok(c) => decode(&c, streams.into_iter().map(Ok).collect()),
            Err(e) => idx.iter().map(|_| Err(e.clone())).collect(),
        };
        for (i, r) in idx.into_iter().zip(decoded) {
            results[i] = Some(r);
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Internal("a stream was not decoded".into()))))
        .collect()
}

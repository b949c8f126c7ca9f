//! [`Decoders`]: decoding streams of several models, each with the model it names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::builder::CodecBuilder;
use super::images::Codec;
use crate::bitstream::AnsBitstream;
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
    codecs: BTreeMap<String, Result<Codec>>,
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
        AnsBitstream::parse(bytes, &self.builder.limits)
    }

    /// Decompresses parsed streams (or their parse errors, passed through); one result per
    /// stream, in order. Streams of one model are decoded as one batch.
    pub fn decompress_parsed(
        &mut self,
        streams: Vec<Result<AnsBitstream>>,
    ) -> Vec<Result<RgbImage>> {
        let mut results: Vec<Option<Result<RgbImage>>> = streams.iter().map(|_| None).collect();
        let mut by_model: BTreeMap<String, Vec<(usize, AnsBitstream)>> = BTreeMap::new();
        for (i, s) in streams.into_iter().enumerate() {
            match s {
                Ok(s) => {
                    let name = match self.builder.model_name() {
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
            let decoded = match self.codec(&name) {
                Ok(codec) => codec.decompress_parsed(streams.into_iter().map(Ok).collect()),
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

    /// The codec of model `name`, opened on first use.
    fn codec(&mut self, name: &str) -> Result<&Codec> {
        if !self.codecs.contains_key(name) {
            let start = Instant::now();
            let built =
                self.builder.clone().model(name).build().map_err(|e| {
                    Error::Model(format!("cannot open the stream's model `{name}`: {e}"))
                });
            self.opening += start.elapsed();
            if let Ok(c) = &built {
                c.set_profiling(self.profiling);
            }
            self.codecs.insert(name.to_string(), built);
        }
        match &self.codecs[name] {
            Ok(codec) => Ok(codec),
            Err(e) => Err(e.clone()),
        }
    }

    /// The codecs opened so far.
    pub fn codecs(&self) -> impl Iterator<Item = &Codec> {
        self.codecs.values().filter_map(|c| c.as_ref().ok())
    }

    /// Time spent opening models so far (a one-off cost, not any stream's).
    pub fn time_opening(&self) -> Duration {
        self.opening
    }
}

//! The VAE: ONNX Runtime sessions for a model's encoder and decoder, and the systems that run
//! them over batches of entities (`Rgb → Latent`, `Latent → ReconRgb`).
//!
//! Images are padded to a multiple of the model's downsample factor by edge replication,
//! mapped from u8 to the model's input range, and run in batches of equal padded shape (at most
//! [`Vae::max_batch`] images per session call). Decoding crops back to the original size, clamps
//! and rounds.

pub mod config;
pub mod runtime;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ort::session::Session;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::components::{Latent, ModelId, ReconRgb, Rgb, SourceInfo};
use crate::error::{Error, Result};
use crate::system::{Direction, System};
use crate::tensor::DType;
use crate::world::{ComponentId, Entity, World};
pub use config::{Config, ModelFile, ModelSpec, DEFAULT_MODEL_NAME};
pub use runtime::ExecutionProvider;

/// Default largest number of images per session call.
pub const DEFAULT_MAX_BATCH: usize = 16;

/// How often a [`Vae`]'s sessions ran, and on how many images: batching is observable without
/// timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Encoder session calls.
    pub encoder_calls: u64,
    /// Images through the encoder.
    pub encoder_images: u64,
    /// Decoder session calls.
    pub decoder_calls: u64,
    /// Latents through the decoder.
    pub decoder_images: u64,
}

/// An opened model: both sessions, the tensor names, and the model's identity.
///
/// Sessions are behind mutexes (ONNX Runtime's `run` takes `&mut`), so a `Vae` is `Sync` and
/// can be shared by several worlds through an `Arc`.
pub struct Vae {
    spec: ModelSpec,
    id: ModelId,
    provider: ExecutionProvider,
    latent_channels: usize,
    max_batch: usize,
    encoder: Mutex<Session>,
    decoder: Mutex<Session>,
    enc_names: (String, String),
    dec_names: (String, String),
    counters: [AtomicU64; 4],
}

impl std::fmt::Debug for Vae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vae")
            .field("name", &self.spec.name)
            .field("provider", &self.provider)
            .field("latent_channels", &self.latent_channels)
            .field("downsample", &self.spec.downsample)
            .finish()
    }
}

/// Picks the one tensor name, or the configured one, with an error naming the choices.
fn pick_name(
    outlets: &[ort::value::Outlet],
    configured: Option<&str>,
    what: &str,
    key: &str,
) -> Result<String> {
    let names: Vec<&str> = outlets.iter().map(|o| o.name()).collect();
    match (configured, names.as_slice()) {
        (Some(c), _) if names.contains(&c) => Ok(c.to_string()),
        (Some(c), _) => Err(Error::Model(format!(
            "the {what} has no tensor `{c}`; it has {names:?}"
        ))),
        (None, [one]) => Ok(one.to_string()),
        (None, _) => Err(Error::Model(format!(
            "the {what} has tensors {names:?}; set `{key}` in the model's config to pick one"
        ))),
    }
}

/// Dimension `axis` of a named outlet, when the graph fixes it.
fn static_dim(outlets: &[ort::value::Outlet], name: &str, axis: usize) -> Option<usize> {
    let o = outlets.iter().find(|o| o.name() == name)?;
    let d = *o.dtype().tensor_shape()?.get(axis)?;
    usize::try_from(d).ok().filter(|&d| d > 0)
}

/// The SHA-256 of a model file's bytes: the decoder's is the model identity in streams.
pub fn file_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Vae {
    /// Opens both graphs of `spec` on the requested execution provider.
    pub fn open(spec: &ModelSpec, ep: ExecutionProvider) -> Result<Self> {
        for (what, file) in [("encoder", &spec.encoder), ("decoder", &spec.decoder)] {
            if !file.exists() {
                return Err(Error::Model(format!(
                    "model `{}`: {what} file {file} not found",
                    spec.name
                )));
            }
        }
        let enc_bytes = spec.encoder.bytes()?;
        let dec_bytes = spec.decoder.bytes()?;
        let (encoder, provider) =
            runtime::open_session(&enc_bytes, ep, &format!("encoder {}", spec.encoder))?;
        // The decoder runs where the encoder does, so `Auto` resolves once.
        let (decoder, _) =
            runtime::open_session(&dec_bytes, provider, &format!("decoder {}", spec.decoder))?;
        tracing::info!(model = %spec.name, execution_provider = %provider, "opened VAE");

        let enc_names = (
            pick_name(
                encoder.inputs(),
                spec.encoder_input.as_deref(),
                "encoder",
                "encoder_input",
            )?,
            pick_name(
                encoder.outputs(),
                spec.encoder_output.as_deref(),
                "encoder",
                "encoder_output",
            )?,
        );
        let dec_names = (
            pick_name(
                decoder.inputs(),
                spec.decoder_input.as_deref(),
                "decoder",
                "decoder_input",
            )?,
            pick_name(
                decoder.outputs(),
                spec.decoder_output.as_deref(),
                "decoder",
                "decoder_output",
            )?,
        );
        let graph_c = static_dim(decoder.inputs(), &dec_names.0, 1);
        let latent_channels = match (spec.latent_channels, graph_c) {
            (Some(c), Some(g)) if c != g => {
                return Err(Error::Model(format!(
                    "model `{}`: latent_channels = {c} but the decoder takes {g} channels",
                    spec.name
                )))
            }
            (Some(c), _) | (None, Some(c)) => c,
            (None, None) => {
                return Err(Error::Model(format!(
                    "model `{}`: the decoder's channel count is dynamic; set latent_channels",
                    spec.name
                )))
            }
        };
        if static_dim(encoder.inputs(), &enc_names.0, 1).is_some_and(|c| c != 3) {
            return Err(Error::Model(format!(
                "model `{}`: the encoder does not take 3-channel images",
                spec.name
            )));
        }
        Ok(Self {
            id: ModelId {
                name: spec.name.clone(),
                decoder_hash: file_hash(&dec_bytes),
            },
            spec: spec.clone(),
            provider,
            latent_channels,
            max_batch: DEFAULT_MAX_BATCH,
            encoder: Mutex::new(encoder),
            decoder: Mutex::new(decoder),
            enc_names,
            dec_names,
            counters: Default::default(),
        })
    }

    /// Sets the largest number of images per session call (at least 1).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// The model's identity, as written into streams.
    pub fn id(&self) -> &ModelId {
        &self.id
    }

    /// The model's description.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The execution provider the sessions run on.
    pub fn provider(&self) -> ExecutionProvider {
        self.provider
    }

    /// Latent channels `C`.
    pub fn latent_channels(&self) -> usize {
        self.latent_channels
    }

    /// Downsample factor `f`.
    pub fn downsample(&self) -> usize {
        self.spec.downsample
    }

    /// Largest number of images per session call.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Session calls and images so far.
    pub fn stats(&self) -> SessionStats {
        let c = |i: usize| self.counters[i].load(Ordering::Relaxed);
        SessionStats {
            encoder_calls: c(0),
            encoder_images: c(1),
            decoder_calls: c(2),
            decoder_images: c(3),
        }
    }

    fn count(&self, decoder: bool, images: usize) {
        let base = if decoder { 2 } else { 0 };
        self.counters[base].fetch_add(1, Ordering::Relaxed);
        self.counters[base + 1].fetch_add(images as u64, Ordering::Relaxed);
    }

    /// Runs one graph on an f32 tensor of `shape` and returns its output's shape and values.
    /// Counts the call in [`Vae::stats`].
    fn run(&self, decoder: bool, shape: [usize; 4], data: &[f32]) -> Result<(Vec<i64>, Vec<f32>)> {
        let (what, session, (input_name, output_name)) = if decoder {
            ("decoder", &self.decoder, &self.dec_names)
        } else {
            ("encoder", &self.encoder, &self.enc_names)
        };
        let input = ort::value::TensorRef::from_array_view((shape, data))
            .map_err(|e| Error::Runtime(format!("{what} input: {e}")))?;
        let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
        self.count(decoder, shape[0]);
        let outputs = session
            .run(ort::inputs![input_name.as_str() => input])
            .map_err(|e| Error::Runtime(format!("{what} of `{}` failed: {e}", self.spec.name)))?;
        let (out_shape, values) = outputs[output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::Model(format!("{what} output is not an f32 tensor: {e}")))?;
        Ok((out_shape.to_vec(), values.to_vec()))
    }

    /// `(width, height)` padded up to multiples of the downsample factor.
    pub fn padded_size(&self, width: u32, height: u32) -> (u32, u32) {
        let f = self.spec.downsample as u32;
        (width.div_ceil(f) * f, height.div_ceil(f) * f)
    }

    /// Runs the encoder on `n` images, NCHW f32 in the model's range, `h`×`w` each (multiples of
    /// the downsample factor). Returns `n × C × h/f × w/f` latent values (the mean, for an
    /// encoder that outputs moments).
    pub fn encode_nchw(&self, x: &[f32], n: usize, h: usize, w: usize) -> Result<Vec<f32>> {
        let f = self.spec.downsample;
        let (lh, lw) = (h / f, w / f);
        let c = self.latent_channels;
        if x.len() != n * 3 * h * w || h % f != 0 || w % f != 0 || n == 0 {
            return Err(Error::InvalidInput(format!(
                "encoder input of {} values is not {n}×3×{h}×{w} with sides multiple of {f}",
                x.len()
            )));
        }
        let (dims, mut data) = self.run(false, [n, 3, h, w], x)?;
        let oc = match dims.as_slice() {
            [bn, oc, oh, ow] if *bn as usize == n && *oh as usize == lh && *ow as usize == lw => {
                *oc as usize
            }
            _ => {
                return Err(Error::Model(format!(
                    "encoder output shape {dims:?}; expected [{n}, {c} or {}, {lh}, {lw}] \
                     (is the downsample factor {f} right?)",
                    2 * c
                )))
            }
        };
        if oc == c {
            return Ok(data);
        }
        if oc == 2 * c {
            // Distribution moments [mean, logvar]: keep the mean, compacted in place.
            let plane = c * lh * lw;
            for b in 1..n {
                data.copy_within(2 * b * plane..(2 * b + 1) * plane, b * plane);
            }
            data.truncate(n * plane);
            return Ok(data);
        }
        Err(Error::Model(format!(
            "encoder outputs {oc} channels; model `{}` has {c} latent channels (or {} moments)",
            self.spec.name,
            2 * c
        )))
    }

    /// Runs the decoder on `n` latents `C × lh × lw`; returns `n × 3 × lh·f × lw·f` values in
    /// the model's range.
    pub fn decode_nchw(&self, z: &[f32], n: usize, lh: usize, lw: usize) -> Result<Vec<f32>> {
        let c = self.latent_channels;
        let f = self.spec.downsample;
        if z.len() != n * c * lh * lw || n == 0 {
            return Err(Error::InvalidInput(format!(
                "decoder input of {} values is not {n}×{c}×{lh}×{lw}",
                z.len()
            )));
        }
        let (shape, data) = self.run(true, [n, c, lh, lw], z)?;
        let want = [n as i64, 3, (lh * f) as i64, (lw * f) as i64];
        if shape != want {
            return Err(Error::Model(format!(
                "decoder output shape {shape:?}; expected {want:?}"
            )));
        }
        Ok(data)
    }
}

/// Writes an RGB8 image (`[H, W, 3]`) into one `3 × ph × pw` planar f32 image in `range`,
/// replicating the last row and column into the padding.
pub fn rgb_to_planar(
    rgb: &[u8],
    width: usize,
    height: usize,
    pw: usize,
    ph: usize,
    range: [f32; 2],
    out: &mut [f32],
) {
    debug_assert!(pw >= width && ph >= height && width > 0 && height > 0);
    debug_assert_eq!(rgb.len(), width * height * 3);
    debug_assert_eq!(out.len(), 3 * pw * ph);
    let scale = (range[1] - range[0]) / 255.0;
    let (r, rest) = out.split_at_mut(pw * ph);
    let (g, b) = rest.split_at_mut(pw * ph);
    for y in 0..ph {
        let src = &rgb[y.min(height - 1) * width * 3..][..width * 3];
        let row = y * pw;
        for x in 0..pw {
            let p = &src[x.min(width - 1) * 3..][..3];
            r[row + x] = f32::from(p[0]) * scale + range[0];
            g[row + x] = f32::from(p[1]) * scale + range[0];
            b[row + x] = f32::from(p[2]) * scale + range[0];
        }
    }
}

/// The inverse of [`rgb_to_planar`]: crops a `3 × ph × pw` planar image in `range` to
/// `width × height`, maps back to 0..=255, clamps and rounds to RGB8.
pub fn planar_to_rgb(
    x: &[f32],
    pw: usize,
    ph: usize,
    width: usize,
    height: usize,
    range: [f32; 2],
    out: &mut [u8],
) {
    debug_assert_eq!(x.len(), 3 * pw * ph);
    debug_assert_eq!(out.len(), width * height * 3);
    let scale = 255.0 / (range[1] - range[0]);
    let to_u8 = |v: f32| {
        let s = (v - range[0]) * scale;
        // A NaN stays NaN through clamp and round, and `as u8` turns it into 0.
        s.clamp(0.0, 255.0).round() as u8
    };
    for y in 0..height {
        for xx in 0..width {
            let i = y * pw + xx;
            let o = &mut out[(y * width + xx) * 3..][..3];
            o[0] = to_u8(x[i]);
            o[1] = to_u8(x[pw * ph + i]);
            o[2] = to_u8(x[2 * pw * ph + i]);
        }
    }
}

/// An entity of an encode group with its original width and height.
type Member = (Entity, u32, u32);

/// Encoding system: `Rgb → Latent + SourceInfo` (the model's identity goes into `SourceInfo`).
#[derive(Debug, Clone)]
pub struct VaeEncode {
    vae: Arc<Vae>,
}

/// Decoding system: `Latent + SourceInfo → ReconRgb`; a stream made by another model is that
/// entity's failure ([`Error::ModelMismatch`]).
#[derive(Debug, Clone)]
pub struct VaeDecode {
    vae: Arc<Vae>,
}

impl VaeEncode {
    /// The encoder of `vae`.
    pub fn new(vae: Arc<Vae>) -> Self {
        Self { vae }
    }
}

impl VaeDecode {
    /// The decoder of `vae`.
    pub fn new(vae: Arc<Vae>) -> Self {
        Self { vae }
    }
}

impl System for VaeEncode {
    fn name(&self) -> &'static str {
        "VaeEncode"
    }
    fn direction(&self) -> Direction {
        Direction::Forward
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Rgb>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Latent>(), ComponentId::of::<SourceInfo>()]
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let vae = &*self.vae;
        // Group by padded size; BTreeMap keeps the order deterministic.
        let mut groups: BTreeMap<(u32, u32), Vec<Member>> = BTreeMap::new();
        for &e in entities {
            let shape = match world.get::<Rgb>(e) {
                Ok(rgb) => rgb_shape(&rgb.tensor),
                Err(err) => Err(err),
            };
            match shape {
                Ok((w, h)) => groups
                    .entry(vae.padded_size(w, h))
                    .or_default()
                    .push((e, w, h)),
                Err(err) => world.record_failure(e, err),
            }
        }
        let f = vae.downsample();
        let c = vae.latent_channels();
        let range = vae.spec.input_range;
        for ((pw, ph), members) in groups {
            let (pw, ph) = (pw as usize, ph as usize);
            for chunk in members.chunks(vae.max_batch) {
                let n = chunk.len();
                let mut x = vec![0f32; n * 3 * pw * ph];
                {
                    let w = &*world;
                    let views: Vec<&[u8]> = chunk
                        .iter()
                        .map(|(e, _, _)| w.arena().view::<u8>(&w.get::<Rgb>(*e)?.tensor))
                        .collect::<Result<_>>()?;
                    x.par_chunks_mut(3 * pw * ph)
                        .zip(views.par_iter().zip(chunk.par_iter()))
                        .for_each(|(out, (rgb, (_, iw, ih)))| {
                            rgb_to_planar(rgb, *iw as usize, *ih as usize, pw, ph, range, out)
                        });
                }
                let z = match vae.encode_nchw(&x, n, ph, pw) {
                    Ok(z) => z,
                    Err(err) => {
                        // A failed session call fails the images it held, not the batch.
                        let msg = err.to_string();
                        for (e, _, _) in chunk {
                            world.record_failure(*e, Error::Runtime(msg.clone()));
                        }
                        continue;
                    }
                };
                let plane = c * (ph / f) * (pw / f);
                for ((e, iw, ih), lat) in chunk.iter().zip(z.chunks_exact(plane)) {
                    let tensor = world.arena_mut().alloc_from(&[c, ph / f, pw / f], lat)?;
                    world.insert(*e, Latent { tensor })?;
                    world.insert(
                        *e,
                        SourceInfo {
                            width: *iw,
                            height: *ih,
                            padded_width: pw as u32,
                            padded_height: ph as u32,
                            model: vae.id.clone(),
                        },
                    )?;
                }
            }
        }
        Ok(())
    }
}

fn rgb_shape(t: &crate::tensor::TensorRef) -> Result<(u32, u32)> {
    match *t.shape() {
        [h, w, 3] if h > 0 && w > 0 && t.dtype == DType::U8 => {
            let to = |v: usize| {
                u32::try_from(v)
                    .map_err(|_| Error::InvalidInput(format!("image side {v} is too large")))
            };
            Ok((to(w)?, to(h)?))
        }
        _ => Err(Error::InvalidInput(format!(
            "Rgb must be a non-empty u8 [H, W, 3] tensor, got {:?} {:?}",
            t.dtype,
            t.shape()
        ))),
    }
}

impl System for VaeDecode {
    fn name(&self) -> &'static str {
        "VaeDecode"
    }
    fn direction(&self) -> Direction {
        Direction::Inverse
    }
    fn required(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<Latent>(), ComponentId::of::<SourceInfo>()]
    }
    fn produced(&self) -> Vec<ComponentId> {
        vec![ComponentId::of::<ReconRgb>()]
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let vae = &*self.vae;
        let f = vae.downsample();
        let c = vae.latent_channels();
        let range = vae.spec.input_range;
        // Latents decoded on a GPU come home in one readback for the whole batch.
        world.component_tensors_to_host::<Latent>(
            entities,
            |l| l.tensor,
            |_, tensor| Latent { tensor },
        )?;
        let mut groups: BTreeMap<(usize, usize), Vec<(Entity, SourceInfo)>> = BTreeMap::new();
        for &e in entities {
            let job = (|| {
                let latent = world.get::<Latent>(e)?.tensor;
                let info = world.get::<SourceInfo>(e)?.clone();
                check_model(&info.model, &vae.id)?;
                let [lc, lh, lw] = *latent.shape() else {
                    return Err(Error::InvalidInput(format!(
                        "Latent must be [C, h, w], got {:?}",
                        latent.shape()
                    )));
                };
                let (pw, ph) = (info.padded_width as usize, info.padded_height as usize);
                if lc != c || lh * f != ph || lw * f != pw {
                    return Err(Error::Corrupt(format!(
                        "latent {lc}×{lh}×{lw} does not match a {pw}×{ph} image for a {c}-channel, \
                         /{f} model"
                    )));
                }
                if info.width == 0
                    || info.height == 0
                    || info.width as usize > pw
                    || info.height as usize > ph
                {
                    return Err(Error::Corrupt(format!(
                        "image size {}×{} does not fit its padded size {pw}×{ph}",
                        info.width, info.height
                    )));
                }
                Ok((lh, lw, info))
            })();
            match job {
                Ok((lh, lw, info)) => groups.entry((lh, lw)).or_default().push((e, info)),
                Err(err) => world.record_failure(e, err),
            }
        }
        for ((lh, lw), members) in groups {
            let (ph, pw) = (lh * f, lw * f);
            for chunk in members.chunks(vae.max_batch) {
                let n = chunk.len();
                let mut z = Vec::with_capacity(n * c * lh * lw);
                for (e, _) in chunk {
                    z.extend_from_slice(
                        world
                            .arena()
                            .view::<f32>(&world.get::<Latent>(*e)?.tensor)?,
                    );
                }
                let x = match vae.decode_nchw(&z, n, lh, lw) {
                    Ok(x) => x,
                    Err(err) => {
                        let msg = err.to_string();
                        for (e, _) in chunk {
                            world.record_failure(*e, Error::Runtime(msg.clone()));
                        }
                        continue;
                    }
                };
                let mut outs = Vec::with_capacity(n);
                for (_, info) in chunk {
                    let (w, h) = (info.width as usize, info.height as usize);
                    outs.push(world.arena_mut().alloc(DType::U8, &[h, w, 3])?);
                }
                {
                    let (_, mut views) = world.arena_mut().batch_views::<u8, u8>(&[], &outs)?;
                    views
                        .par_iter_mut()
                        .zip(x.par_chunks_exact(3 * ph * pw))
                        .zip(chunk.par_iter())
                        .for_each(|((out, img), (_, info))| {
                            planar_to_rgb(
                                img,
                                pw,
                                ph,
                                info.width as usize,
                                info.height as usize,
                                range,
                                out,
                            )
                        });
                }
                for ((e, _), tensor) in chunk.iter().zip(outs) {
                    world.insert(*e, ReconRgb { tensor })?;
                }
            }
        }
        Ok(())
    }
}

/// A stream's model must be the decoder's model: same name and same decoder file.
pub fn check_model(stream: &ModelId, ours: &ModelId) -> Result<()> {
    if stream == ours {
        return Ok(());
    }
    let describe = |m: &ModelId| {
        if m.name.is_empty() && m.decoder_hash == [0; 32] {
            "no model (a bare latent stream)".to_string()
        } else {
            format!("`{}` (decoder sha256 {})", m.name, hex8(&m.decoder_hash))
        }
    };
    Err(Error::ModelMismatch {
        stream: describe(stream),
        decoder: describe(ours),
    })
}

/// The first 8 bytes of a hash in hex, enough to tell files apart in messages.
pub(crate) fn hex8(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planar_round_trip_pads_by_replication_and_crops_back() {
        let (w, h, pw, ph) = (3usize, 2usize, 8usize, 8usize);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 13 % 256) as u8).collect();
        let mut planar = vec![0f32; 3 * pw * ph];
        rgb_to_planar(&rgb, w, h, pw, ph, [-1.0, 1.0], &mut planar);
        // Padding replicates the last column / row.
        assert_eq!(planar[7], planar[2]);
        assert_eq!(planar[7 * pw + 7], planar[pw + 2]);
        assert!(planar.iter().all(|v| (-1.0..=1.0).contains(v)));
        let mut back = vec![0u8; w * h * 3];
        planar_to_rgb(&planar, pw, ph, w, h, [-1.0, 1.0], &mut back);
        assert_eq!(back, rgb);
    }

    #[test]
    fn out_of_range_and_nan_clamp() {
        let x = [f32::NAN, 5.0, -5.0];
        let mut out = [9u8; 3];
        planar_to_rgb(&x, 1, 1, 1, 1, [0.0, 1.0], &mut out);
        assert_eq!(out, [0, 255, 0]);
    }

    #[test]
    fn mismatch_names_both_models() {
        let a = ModelId {
            name: "a".into(),
            decoder_hash: [1; 32],
        };
        let b = ModelId {
            name: "b".into(),
            decoder_hash: [2; 32],
        };
        let msg = check_model(&a, &b).unwrap_err().to_string();
        assert!(msg.contains("`a`") && msg.contains("`b`"), "{msg}");
        assert!(check_model(&a, &a).is_ok());
    }
}

//! [`Vae`]: an opened model, both its ONNX Runtime sessions, its tensor names and its identity.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::Session;
use sha2::{Digest, Sha256};

use super::calibrate::Calibration;
use super::config::ModelSpec;
use super::provider::{self, ExecutionProvider, Placement, ProviderOptions};
use super::tiles::Grid;
use crate::components::ModelId;
use crate::error::{Error, Result};

/// Default largest number of images per session call.
pub const DEFAULT_MAX_BATCH: usize = 16;

/// How often a [`Vae`]'s sessions ran, and on how many images: batching is observable without
/// timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    options: ProviderOptions,
    latent_channels: usize,
    max_batch: usize,
    /// The sessions; `None` until first used, for a model [reopened](Vae::reopen).
    encoder: Mutex<Option<Session>>,
    decoder: Mutex<Option<Session>>,
    enc_names: (String, String),
    dec_names: (String, String),
    counters: [AtomicU64; 4],
    /// Per graph (encoder, decoder): the most pixels one call has been found to take, for
    /// providers whose buffers are bounded (see [`Vae::run`]); `u64::MAX` until a call fails.
    pixel_caps: [AtomicU64; 2],
    /// The decoder's calibration, looked up on first use ([`Vae::calibration`]).
    calibration: OnceLock<Option<Arc<Calibration>>>,
    /// Whether a latent far from the calibration's statistics has been reported.
    told_latent: AtomicBool,
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
    /// Opens both graphs of `spec` on the requested execution provider, with its default
    /// options.
    pub fn open(spec: &ModelSpec, ep: ExecutionProvider) -> Result<Self> {
        Self::open_with(spec, ep, &ProviderOptions::default())
    }

    /// Opens both graphs of `spec` on the requested execution provider with `options`.
    pub fn open_with(
        spec: &ModelSpec,
        ep: ExecutionProvider,
        options: &ProviderOptions,
    ) -> Result<Self> {
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
        let (encoder, provider) = provider::open_session(
            &enc_bytes,
            ep,
            options,
            &format!("encoder {}", spec.encoder),
        )?;
        // The decoder runs where the encoder does, so `Auto` resolves once.
        let (decoder, _) = provider::open_session(
            &dec_bytes,
            provider,
            options,
            &format!("decoder {}", spec.decoder),
        )?;
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
            options: options.clone(),
            latent_channels,
            max_batch: DEFAULT_MAX_BATCH,
            encoder: Mutex::new(Some(encoder)),
            decoder: Mutex::new(Some(decoder)),
            enc_names,
            dec_names,
            counters: Default::default(),
            pixel_caps: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
            calibration: OnceLock::new(),
            told_latent: AtomicBool::new(false),
        })
    }

    /// Sets the largest number of images per session call (at least 1).
    pub fn with_max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch.max(1);
        self
    }

    /// Sets the most pixels (images × height × width, at the graph's input) one session call
    /// takes: larger batches are split into several calls, with the same results. Bounds the
    /// VAE's peak memory, which grows with the pixels of a call. Default: unbounded, except
    /// that on WebGPU a call that fails is retried in halves and its cap is lowered.
    pub fn with_max_pixels(self, pixels: u64) -> Self {
        let pixels = pixels.max(1);
        // The decoder's input is the latent: f² fewer pixels for the same images.
        let f = self.spec.downsample as u64;
        self.pixel_caps[0].store(pixels, Ordering::Relaxed);
        self.pixel_caps[1].store((pixels / (f * f)).max(1), Ordering::Relaxed);
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

    /// Where each graph's nodes run on this model's provider: both graphs run once more, on
    /// zeros (a 4f×4f image, and its latent), with ONNX Runtime's profiler on. A diagnostic for
    /// a provider that may leave nodes to the CPU (WebGPU, CUDA); costs two session builds.
    pub fn placement(&self) -> Result<(Placement, Placement)> {
        let side = 4 * self.spec.downsample;
        let encoder = provider::profile_placement(
            &self.spec.encoder.bytes()?,
            self.provider,
            &self.options,
            &self.enc_names.0,
            [1, 3, side, side],
        )?;
        let decoder = provider::profile_placement(
            &self.spec.decoder.bytes()?,
            self.provider,
            &self.options,
            &self.dec_names.0,
            [1, self.latent_channels, 4, 4],
        )?;
        Ok((encoder, decoder))
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

    /// The provider options the sessions were opened with.
    pub fn options(&self) -> &ProviderOptions {
        &self.options
    }

    /// The same model with sessions of its own, on the provider these sessions run on, with
    /// `options` (for example another thread count); batch and pixel caps carry over. Each
    /// graph's session is opened when it is first run, so a copy that only encodes never opens
    /// its decoder; a decoder file that changed since the model was opened is then an error.
    pub fn reopen(&self, options: &ProviderOptions) -> Self {
        let caps = |i: usize| AtomicU64::new(self.pixel_caps[i].load(Ordering::Relaxed));
        Self {
            spec: self.spec.clone(),
            id: self.id.clone(),
            provider: self.provider,
            options: options.clone(),
            latent_channels: self.latent_channels,
            max_batch: self.max_batch,
            encoder: Mutex::new(None),
            decoder: Mutex::new(None),
            enc_names: self.enc_names.clone(),
            dec_names: self.dec_names.clone(),
            counters: Default::default(),
            pixel_caps: [caps(0), caps(1)],
            calibration: self.calibration.clone(),
            told_latent: AtomicBool::new(false),
        }
    }

    /// Opens graph `decoder` (else the encoder) on this model's provider, for [`Vae::reopen`]'s
    /// lazy sessions.
    fn open_graph(&self, decoder: bool) -> Result<Session> {
        let (what, file) = if decoder {
            ("decoder", &self.spec.decoder)
        } else {
            ("encoder", &self.spec.encoder)
        };
        let bytes = file.bytes()?;
        if decoder && file_hash(&bytes) != self.id.decoder_hash {
            return Err(Error::Model(format!(
                "model `{}`: decoder file {file} changed since the model was opened; open it again",
                self.spec.name
            )));
        }
        let (session, _) = provider::open_session(
            &bytes,
            self.provider,
            &self.options,
            &format!("{what} {file}"),
        )?;
        Ok(session)
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

    /// Runs one graph on an f32 tensor of `shape` and returns its output's shape and values,
    /// in as many session calls as the provider needs.
    ///
    /// WebGPU bounds each buffer (Dawn's storage-buffer limit), so a batch whose largest
    /// activation does not fit fails inside ONNX Runtime with an opaque message. Then the batch
    /// is halved and retried, and the most pixels that one call took is remembered for the
    /// graph, so later batches are split up front. Other providers' failures are returned.
    fn run(&self, decoder: bool, shape: [usize; 4], data: &[f32]) -> Result<(Vec<i64>, Vec<f32>)> {
        let n = shape[0];
        let pixels = (shape[2] * shape[3]) as u64;
        let cap = &self.pixel_caps[usize::from(decoder)];
        let fits = usize::try_from(cap.load(Ordering::Relaxed) / pixels.max(1))
            .unwrap_or(usize::MAX)
            .max(1);
        if n <= fits {
            match self.run_once(decoder, shape, data) {
                Err(e) if n > 1 && self.provider == ExecutionProvider::WebGpu => {
                    let half = n.div_ceil(2);
                    cap.fetch_min(half as u64 * pixels, Ordering::Relaxed);
                    tracing::info!(
                        "{} batch of {n} failed on WebGPU ({e}); retrying {half} at a time",
                        if decoder { "decoder" } else { "encoder" }
                    );
                }
                done => return done,
            }
        }
        // Split along the batch; each part's output is appended in order.
        let part = if n <= fits { n.div_ceil(2) } else { fits };
        let per = data.len() / n;
        let mut dims = Vec::new();
        let mut out = Vec::new();
        for chunk in data.chunks(part * per) {
            let m = chunk.len() / per;
            let (d, v) = self.run(decoder, [m, shape[1], shape[2], shape[3]], chunk)?;
            if dims.is_empty() {
                dims = d;
            } else {
                dims[0] += d[0];
            }
            out.extend_from_slice(&v);
        }
        Ok((dims, out))
    }

    /// One session call of one graph. Counts the call in [`Vae::stats`].
    fn run_once(
        &self,
        decoder: bool,
        shape: [usize; 4],
        data: &[f32],
    ) -> Result<(Vec<i64>, Vec<f32>)> {
        let (what, session, (input_name, output_name)) = if decoder {
            ("decoder", &self.decoder, &self.dec_names)
        } else {
            ("encoder", &self.encoder, &self.enc_names)
        };
        let input = ort::value::TensorRef::from_array_view((shape, data))
            .map_err(|e| Error::Runtime(format!("{what} input: {e}")))?;
        let mut slot = session.lock().unwrap_or_else(|p| p.into_inner());
        // Opened before the provider's lock is taken: opening takes it too.
        let session = match &mut *slot {
            Some(s) => s,
            empty => empty.insert(self.open_graph(decoder)?),
        };
        let _one_at_a_time = provider::exclusive(self.provider);
        self.count(decoder, shape[0]);
        let outputs = session
            .run(ort::inputs![input_name.as_str() => input])
            .map_err(|e| Error::Runtime(format!("{what} of `{}` failed: {e}", self.spec.name)))?;
        let (out_shape, values) = outputs[output_name.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| Error::Model(format!("{what} output is not an f32 tensor: {e}")))?;
        Ok((out_shape.to_vec(), values.to_vec()))
    }

    /// The tile grid of a `pw × ph` padded image (see [`ModelSpec::tile`]), or `None` when
    /// the image is run whole.
    pub(crate) fn grid(&self, pw: usize, ph: usize) -> Option<Grid> {
        let f = self.spec.downsample;
        Grid::new(
            ph / f,
            pw / f,
            self.spec.tile / f,
            self.spec.tile_overlap / f,
        )
    }

    /// The bytes of working memory this model needs to encode (or decode) one `pw × ph`
    /// padded image: its session's for the pixels of one call (the whole image, or one tile
    /// when it is tiled) at [`ModelSpec::memory_per_pixel`], and for a tiled decode the rows
    /// of tiles being blended.
    pub fn working_memory(&self, decoder: bool, pw: usize, ph: usize) -> u64 {
        let per_pixel = self.spec.memory_per_pixel[usize::from(decoder)];
        let f = self.spec.downsample;
        match self.grid(pw, ph) {
            None => per_pixel.saturating_mul((pw * ph) as u64),
            Some(g) => {
                let (th, tw) = ((g.y.tile() * f) as u64, (g.x.tile() * f) as u64);
                let band = if decoder { 12 * th * pw as u64 } else { 0 };
                per_pixel.saturating_mul(th * tw).saturating_add(band)
            }
        }
    }

    /// `(width, height)` padded up to multiples of the downsample factor.
    pub fn padded_size(&self, width: u32, height: u32) -> (u32, u32) {
        let f = self.spec.downsample as u32;
        (width.div_ceil(f) * f, height.div_ceil(f) * f)
    }

    /// The decoder's calibration ([`Calibration::find`]), looked up once; `None` for a model
    /// that has none (a broken calibration file is reported and ignored).
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration
            .get_or_init(|| match Calibration::find(self) {
                Ok(c) => c.map(Arc::new),
                Err(e) => {
                    tracing::warn!("model `{}`: {e}; quantising without it", self.spec.name);
                    None
                }
            })
            .as_deref()
    }

    /// Compares one encoded `C × h × w` latent's per-channel statistics with the
    /// calibration's and warns (once per model) when they are far apart: the wrong input
    /// range or the wrong model make latents the decoder was not made for.
    pub(crate) fn check_latent(&self, latent: &[f32]) {
        let Some(cal) = self.calibration() else {
            return;
        };
        let c = self.latent_channels;
        if latent.is_empty() || latent.len() % c != 0 || self.told_latent.load(Ordering::Relaxed) {
            return;
        }
        let plane = latent.len() / c;
        let (mut mean, mut std) = (Vec::with_capacity(c), Vec::with_capacity(c));
        for p in latent.chunks_exact(plane) {
            let m = p.iter().map(|&v| f64::from(v)).sum::<f64>() / plane as f64;
            let v = p.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / plane as f64;
            mean.push(m);
            std.push(v.sqrt());
        }
        if let Some(why) = cal.check_latent(&mean, &std) {
            if !self.told_latent.swap(true, Ordering::Relaxed) {
                tracing::warn!("model `{}`: {why}", self.spec.name);
            }
        }
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

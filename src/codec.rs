//! The high-level API: [`Codec`] compresses images to vaerans streams and back.
//!
//! A `Codec` is built once (it opens the model's ONNX Runtime sessions and owns a world with
//! its arena) and reused for every call; it is `Send + Sync`, calls on one codec run one at a
//! time.
//!
//! ```no_run
//! use vaerans::codec::Codec;
//!
//! # fn main() -> vaerans::Result<()> {
//! let codec = Codec::builder().quality(60).build()?; // the embedded default model
//! let image = image::open("photo.png").map_err(|e| vaerans::Error::Image(e.to_string()))?;
//! let stream = codec.compress_dynamic(&image)?;
//! let back = codec.decompress(&stream)?;
//! assert_eq!(back.dimensions(), (image.width(), image.height()));
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex};

use image::{DynamicImage, RgbImage};

use crate::arena::DEFAULT_ARENA_BYTES;
use crate::bitstream::{self, Limits};
use crate::components::{AnsBitstream, ReconRgb, Rgb};
use crate::device::Device;
use crate::entropy::EntropyCoder;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{GpuContext, GpuStats};
use crate::hadamard::Hadamard;
use crate::quantize::{Quantize, DEFAULT_QUALITY};
use crate::vae::{
    Config, ExecutionProvider, ModelSpec, Vae, VaeDecode, VaeEncode, DEFAULT_MAX_BATCH,
};
use crate::wavelet::{Wavelet, WaveletTransform};
use crate::world::World;

/// Default wavelet decomposition levels (clamped to what each latent's size allows).
pub const DEFAULT_LEVELS: u8 = 4;

/// Most images per world pass in batch calls.
const CHUNK: usize = 32;

/// Arena bytes a world pass aims to stay under (a pass always takes at least one image): a
/// batch of large images, or of small streams that declare large images, is split instead of
/// reserving one huge arena.
const PASS_BYTES: usize = 1 << 30;

/// Splits `0..sizes.len()` into consecutive ranges of at most [`CHUNK`] items and, where
/// possible, at most `budget.0` host and `budget.1` GPU bytes (`sizes` gives both per item).
fn passes(
    sizes: impl Iterator<Item = (usize, usize)>,
    budget: (usize, usize),
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut host, mut gpu, mut i) = (0, 0usize, 0usize, 0);
    for (h, g) in sizes {
        let over = host.saturating_add(h) > budget.0 || gpu.saturating_add(g) > budget.1;
        if i > start && (i - start == CHUNK || over) {
            out.push(start..i);
            (start, host, gpu) = (i, 0, 0);
        }
        host = host.saturating_add(h);
        gpu = gpu.saturating_add(g);
        i += 1;
    }
    if i > start {
        out.push(start..i);
    }
    out
}

/// A borrowed RGB8 image: `width × height × 3` bytes, row-major.
#[derive(Debug, Clone, Copy)]
pub struct RawImage<'a> {
    /// Pixel bytes, RGB interleaved.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl<'a> From<&'a RgbImage> for RawImage<'a> {
    fn from(img: &'a RgbImage) -> Self {
        Self {
            data: img.as_raw(),
            width: img.width(),
            height: img.height(),
        }
    }
}

/// Settings for a [`Codec`].
#[derive(Debug, Clone)]
pub struct CodecBuilder {
    model: Option<String>,
    spec: Option<ModelSpec>,
    config: Option<Config>,
    ep: ExecutionProvider,
    quality: u8,
    wavelet: Wavelet,
    levels: u8,
    max_batch: usize,
    limits: Limits,
    device: Device,
    #[cfg(feature = "gpu")]
    gpu: Option<GpuContext>,
}

impl Default for CodecBuilder {
    fn default() -> Self {
        Self {
            model: None,
            spec: None,
            config: None,
            ep: ExecutionProvider::Auto,
            quality: DEFAULT_QUALITY,
            wavelet: Wavelet::Cdf53,
            levels: DEFAULT_LEVELS,
            max_batch: DEFAULT_MAX_BATCH,
            limits: Limits::default(),
            device: Device::Auto,
            #[cfg(feature = "gpu")]
            gpu: None,
        }
    }
}

impl CodecBuilder {
    /// A model by configured name or `.onnx` path (default: the config's default, else the
    /// embedded model).
    pub fn model(mut self, name_or_path: impl Into<String>) -> Self {
        self.model = Some(name_or_path.into());
        self
    }

    /// A model described in code (takes precedence over [`model`](Self::model)).
    pub fn model_spec(mut self, spec: ModelSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// The model configuration to resolve names in (default: [`Config::load`]).
    pub fn config(mut self, config: Config) -> Self {
        self.config = Some(config);
        self
    }

    /// ONNX Runtime execution provider (default [`ExecutionProvider::Auto`]).
    pub fn execution_provider(mut self, ep: ExecutionProvider) -> Self {
        self.ep = ep;
        self
    }

    /// Quality 1..=100 (default 75): higher is larger and closer to the VAE's own output.
    pub fn quality(mut self, quality: u8) -> Self {
        self.quality = quality;
        self
    }

    /// Wavelet (default CDF 5/3).
    pub fn wavelet(mut self, wavelet: Wavelet) -> Self {
        self.wavelet = wavelet;
        self
    }

    /// Wavelet levels (default 4; clamped per latent).
    pub fn levels(mut self, levels: u8) -> Self {
        self.levels = levels;
        self
    }

    /// Largest number of images per VAE session call (default 16).
    pub fn max_batch(mut self, max_batch: usize) -> Self {
        self.max_batch = max_batch;
        self
    }

    /// Limits applied to streams being decoded.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Where Hadamard, wavelet and quantisation run (default [`Device::Auto`]: a hardware GPU
    /// when there is one, else the CPU; the choice is logged).
    pub fn device(mut self, device: Device) -> Self {
        self.device = device;
        self
    }

    /// Runs the GPU stages on this context (a host application's device, see
    /// [`GpuContext::from_wgpu`]) instead of opening one. Used by [`Device::Gpu`] and
    /// [`Device::Auto`].
    #[cfg(feature = "gpu")]
    pub fn gpu_context(mut self, ctx: GpuContext) -> Self {
        self.gpu = Some(ctx);
        self
    }

    /// Opens the model and builds the codec.
    pub fn build(self) -> Result<Codec> {
        if !(1..=100).contains(&self.quality) {
            return Err(Error::InvalidInput(format!(
                "quality {} is outside 1..=100",
                self.quality
            )));
        }
        if self.levels == 0 {
            return Err(Error::InvalidInput(
                "wavelet levels must be at least 1".into(),
            ));
        }
        let spec = match self.spec {
            Some(s) => s,
            None => {
                let config = match self.config {
                    Some(c) => c,
                    None => Config::load()?,
                };
                config.resolve(self.model.as_deref())?
            }
        };
        #[cfg(feature = "gpu")]
        let gpu = resolve_device(self.device, self.gpu)?;
        #[cfg(not(feature = "gpu"))]
        resolve_device(self.device)?;
        let vae = Vae::open(&spec, self.ep)?.with_max_batch(self.max_batch);
        let codec = Codec::from_vae(Arc::new(vae), self.quality)
            .with_wavelet(self.wavelet, self.levels)
            .with_limits(self.limits);
        #[cfg(feature = "gpu")]
        let codec = match gpu {
            Some(ctx) => codec.with_gpu(ctx)?,
            None => codec,
        };
        Ok(codec)
    }
}

/// Picks where the latent stages run and says so in a log line.
#[cfg(feature = "gpu")]
fn resolve_device(device: Device, given: Option<GpuContext>) -> Result<Option<GpuContext>> {
    let on_gpu = |ctx: GpuContext| {
        tracing::info!("latent stages on the GPU: {}", ctx.adapter_description());
        Some(ctx)
    };
    match (device, given) {
        (Device::Cpu, _) => {
            tracing::info!("latent stages on the CPU (device cpu)");
            Ok(None)
        }
        (_, Some(ctx)) => Ok(on_gpu(ctx)),
        (Device::Gpu, None) => Ok(on_gpu(GpuContext::new()?)),
        (Device::Auto, None) => match GpuContext::new() {
            Ok(ctx) if !ctx.is_software() => Ok(on_gpu(ctx)),
            Ok(ctx) => {
                tracing::info!(
                    "latent stages on the CPU: the only GPU adapter is a software one ({}), \
                     slower than the CPU path; use device gpu to run on it anyway",
                    ctx.adapter_description()
                );
                Ok(None)
            }
            Err(e) => {
                tracing::info!("latent stages on the CPU: {e}");
                Ok(None)
            }
        },
    }
}

/// Without the `gpu` feature only the CPU path exists.
#[cfg(not(feature = "gpu"))]
fn resolve_device(device: Device) -> Result<()> {
    match device {
        Device::Gpu => Err(Error::NoGpu(
            "this build of vaerans has no GPU path; rebuild with the `gpu` feature".into(),
        )),
        _ => {
            tracing::info!("latent stages on the CPU (built without the gpu feature)");
            Ok(())
        }
    }
}

/// Compresses images into vaerans streams and back (see the module docs).
#[derive(Debug)]
pub struct Codec {
    vae: Arc<Vae>,
    quality: u8,
    wavelet: Wavelet,
    levels: u8,
    limits: Limits,
    world: Mutex<World>,
    #[cfg(feature = "gpu")]
    gpu: Option<GpuContext>,
}

impl Codec {
    /// The default codec: the configured default (else embedded) model, automatic execution
    /// provider, quality 75.
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Settings for a codec.
    pub fn builder() -> CodecBuilder {
        CodecBuilder::default()
    }

    /// A codec around an already opened model (several codecs may share one [`Vae`]).
    pub fn from_vae(vae: Arc<Vae>, quality: u8) -> Self {
        Self {
            vae,
            quality: quality.clamp(1, 100),
            wavelet: Wavelet::Cdf53,
            levels: DEFAULT_LEVELS,
            limits: Limits::default(),
            world: Mutex::new(World::new()),
            #[cfg(feature = "gpu")]
            gpu: None,
        }
    }

    /// Runs the latent stages of this codec on `ctx`'s GPU from now on.
    #[cfg(feature = "gpu")]
    pub fn with_gpu(mut self, ctx: GpuContext) -> Result<Self> {
        self.world = Mutex::new(World::with_gpu(&ctx)?);
        self.gpu = Some(ctx);
        Ok(self)
    }

    /// Where the latent stages run: [`Device::Gpu`] or [`Device::Cpu`] (never `Auto`).
    pub fn device(&self) -> Device {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return Device::Gpu;
        }
        Device::Cpu
    }

    /// Per-system times of every call since the last `take_trace` (system, device, runs,
    /// entities, milliseconds).
    pub fn take_trace(&self) -> Vec<crate::world::TraceRow> {
        self.world
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take_trace()
    }

    /// Waits for the GPU after every GPU stage so the trace times each stage on its own (one
    /// submission per stage instead of one per batch: slower; for measuring).
    pub fn set_profiling(&self, on: bool) {
        self.world
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_profiling(on);
    }

    /// The GPU context, when the latent stages run on a GPU.
    #[cfg(feature = "gpu")]
    pub fn gpu_context(&self) -> Option<&GpuContext> {
        self.gpu.as_ref()
    }

    /// The GPU helpers' counters (uploads, readbacks, buffers), when on a GPU.
    #[cfg(feature = "gpu")]
    pub fn gpu_stats(&self) -> Option<GpuStats> {
        self.gpu.as_ref().map(GpuContext::stats)
    }

    /// The per-pass byte budgets: host arena and GPU arena.
    fn budget(&self) -> (usize, usize) {
        #[cfg(feature = "gpu")]
        if let Some(ctx) = &self.gpu {
            let max = usize::try_from(ctx.max_arena_bytes()).unwrap_or(usize::MAX);
            return (PASS_BYTES, max.min(PASS_BYTES));
        }
        (PASS_BYTES, usize::MAX)
    }

    /// Clears the world for a new batch, growing its host arena when the batch needs more
    /// (the GPU arena grows itself on demand).
    fn prepare_world(world: &mut World, need: usize) {
        let need = need + need / 4;
        if world.arena().capacity() < need {
            world.grow_arena(need.max(DEFAULT_ARENA_BYTES));
        } else {
            world.clear();
        }
    }

    fn with_wavelet(mut self, wavelet: Wavelet, levels: u8) -> Self {
        self.wavelet = wavelet;
        self.levels = levels.max(1);
        self
    }

    fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The model.
    pub fn vae(&self) -> &Arc<Vae> {
        &self.vae
    }

    /// The quality streams are made at.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// Compresses one image.
    pub fn compress(&self, image: &RgbImage) -> Result<Vec<u8>> {
        self.compress_rgb8(image.as_raw(), image.width(), image.height())
    }

    /// Compresses any image the `image` crate decodes (converted to RGB8; alpha is dropped).
    pub fn compress_dynamic(&self, image: &DynamicImage) -> Result<Vec<u8>> {
        self.compress(&image.to_rgb8())
    }

    /// Compresses raw RGB8 pixels (`width × height × 3` bytes, row-major).
    pub fn compress_rgb8(&self, data: &[u8], width: u32, height: u32) -> Result<Vec<u8>> {
        let mut out = self.compress_raw(&[RawImage {
            data,
            width,
            height,
        }]);
        out.pop()
            .unwrap_or_else(|| Err(Error::InvalidInput("no image".into())))
    }

    /// Compresses several images; one result per image, in order. Images of equal padded size
    /// share VAE session calls.
    pub fn compress_batch(&self, images: &[RgbImage]) -> Vec<Result<Vec<u8>>> {
        let raws: Vec<RawImage<'_>> = images.iter().map(RawImage::from).collect();
        self.compress_raw(&raws)
    }

    /// [`compress_batch`](Self::compress_batch) on raw RGB8 buffers.
    pub fn compress_raw(&self, images: &[RawImage<'_>]) -> Vec<Result<Vec<u8>>> {
        let mut out = Vec::with_capacity(images.len());
        let mut world = self.world.lock().unwrap_or_else(|p| p.into_inner());
        let sizes = images
            .iter()
            .map(|img| self.bytes_per_image(img.width, img.height));
        for range in passes(sizes, self.budget()) {
            let chunk = &images[range];
            match self.compress_chunk(&mut world, chunk) {
                Ok(results) => out.extend(results),
                Err(e) => {
                    let msg = e.to_string();
                    out.extend(chunk.iter().map(|_| Err(Error::InvalidInput(msg.clone()))));
                }
            }
        }
        out
    }

    fn compress_chunk(
        &self,
        world: &mut World,
        images: &[RawImage<'_>],
    ) -> Result<Vec<Result<Vec<u8>>>> {
        let max_dim = self.limits.max_image_dim;
        let checked: Vec<Result<()>> = images
            .iter()
            .map(|img| {
                if img.width == 0 || img.height == 0 {
                    return Err(Error::InvalidInput(format!(
                        "image is {}×{}; both sides must be at least 1",
                        img.width, img.height
                    )));
                }
                if img.width > max_dim || img.height > max_dim {
                    return Err(Error::InvalidInput(format!(
                        "image is {}×{}; sides above {max_dim} are not supported",
                        img.width, img.height
                    )));
                }
                let want = img.width as usize * img.height as usize * 3;
                if img.data.len() != want {
                    return Err(Error::InvalidInput(format!(
                        "{} bytes for a {}×{} RGB8 image, which needs {want}",
                        img.data.len(),
                        img.width,
                        img.height
                    )));
                }
                Ok(())
            })
            .collect();
        let need: usize = images
            .iter()
            .zip(&checked)
            .filter(|(_, c)| c.is_ok())
            .map(|(img, _)| self.bytes_per_image(img.width, img.height).0)
            .sum();
        Self::prepare_world(world, need);
        let mut entities = Vec::new();
        for (img, ok) in images.iter().zip(&checked) {
            if ok.is_ok() {
                let e = world.spawn();
                let shape = [img.height as usize, img.width as usize, 3];
                let tensor = world.arena_mut().alloc_from::<u8>(&shape, img.data)?;
                world.insert(e, Rgb { tensor })?;
                entities.push(e);
            }
        }
        let mut results = if entities.is_empty() {
            Vec::new()
        } else {
            world
                .pipe_batch(&entities)
                .to(VaeEncode::new(self.vae.clone()))
                .to(Hadamard::forward())
                .to(WaveletTransform::forward(self.wavelet, self.levels))
                .to(Quantize::forward(self.quality))
                .to(EntropyCoder::forward())
                .outs::<AnsBitstream>()?
        }
        .into_iter();
        Ok(checked
            .into_iter()
            .map(|c| {
                c.and_then(|()| {
                    results.next().map_or_else(
                        || Err(Error::InvalidInput("lost result".into())),
                        |r| r.map(|b| b.0),
                    )
                })
            })
            .collect())
    }

    /// [`arena_bytes`] and [`gpu_arena_bytes`] of an image of this size under this model.
    fn bytes_per_image(&self, width: u32, height: u32) -> (usize, usize) {
        let (width, height) = (width.max(1), height.max(1));
        let (pw, ph) = self.vae.padded_size(width, height);
        let f = self.vae.downsample();
        let c = self.vae.latent_channels();
        let latent = c * (pw as usize / f) * (ph as usize / f);
        (
            arena_bytes(width, height, latent),
            gpu_arena_bytes(c, latent),
        )
    }

    /// The model's own reconstruction of an image, without quantisation: encode, decode, crop.
    /// The ceiling the codec approaches as quality rises.
    pub fn vae_round_trip(&self, image: &RgbImage) -> Result<RgbImage> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::InvalidInput("image has no pixels".into()));
        }
        let (pw, ph) = self.vae.padded_size(w, h);
        let (w, h, pw, ph) = (w as usize, h as usize, pw as usize, ph as usize);
        let range = self.vae.spec().input_range;
        let f = self.vae.downsample();
        let mut planar = vec![0f32; 3 * pw * ph];
        crate::vae::rgb_to_planar(image.as_raw(), w, h, pw, ph, range, &mut planar);
        let z = self.vae.encode_nchw(&planar, 1, ph, pw)?;
        let y = self.vae.decode_nchw(&z, 1, ph / f, pw / f)?;
        let mut out = vec![0u8; w * h * 3];
        crate::vae::planar_to_rgb(&y, pw, ph, w, h, range, &mut out);
        RgbImage::from_raw(w as u32, h as u32, out)
            .ok_or_else(|| Error::TensorType("reconstruction size mismatch".into()))
    }

    /// Decompresses one stream.
    pub fn decompress(&self, stream: &[u8]) -> Result<RgbImage> {
        let mut out = self.decompress_batch(&[stream]);
        out.pop()
            .unwrap_or_else(|| Err(Error::InvalidInput("no stream".into())))
    }

    /// Decompresses several streams; one result per stream, in order. A corrupt stream fails
    /// alone.
    pub fn decompress_batch<B: AsRef<[u8]>>(&self, streams: &[B]) -> Vec<Result<RgbImage>> {
        let mut out = Vec::with_capacity(streams.len());
        let mut world = self.world.lock().unwrap_or_else(|p| p.into_inner());
        // Parse every header once: bad streams fail here, good ones size the arena passes.
        let sizes: Vec<Result<(usize, usize)>> = streams
            .iter()
            .map(|s| {
                let h = bitstream::read(s.as_ref(), &self.limits)?.header;
                Ok((
                    arena_bytes(h.width, h.height, h.latent_len()),
                    gpu_arena_bytes(usize::from(h.channels), h.latent_len()),
                ))
            })
            .collect();
        // An unreadable header counts as small: it fails in its pass.
        let ranges = passes(
            sizes.iter().map(|r| *r.as_ref().unwrap_or(&(0, 0))),
            self.budget(),
        );
        let mut sizes = sizes.into_iter();
        for range in ranges {
            let part: Vec<Result<usize>> = sizes
                .by_ref()
                .take(range.len())
                .map(|r| r.map(|(host, _)| host))
                .collect();
            let chunk = &streams[range];
            match self.decompress_chunk(&mut world, chunk, part) {
                Ok(results) => out.extend(results),
                Err(e) => {
                    let msg = e.to_string();
                    out.extend(chunk.iter().map(|_| Err(Error::InvalidInput(msg.clone()))));
                }
            }
        }
        out
    }

    /// Decodes one pass; `sizes` holds each stream's arena bytes, or its header error.
    fn decompress_chunk<B: AsRef<[u8]>>(
        &self,
        world: &mut World,
        streams: &[B],
        sizes: Vec<Result<usize>>,
    ) -> Result<Vec<Result<RgbImage>>> {
        let need = sizes.iter().filter_map(|r| r.as_ref().ok()).sum();
        Self::prepare_world(world, need);
        let mut entities = Vec::new();
        for (s, p) in streams.iter().zip(&sizes) {
            if p.is_ok() {
                entities.push(world.spawn_with(AnsBitstream(s.as_ref().to_vec())));
            }
        }
        let recon = if entities.is_empty() {
            Vec::new()
        } else {
            world
                .pipe_batch(&entities)
                .to(EntropyCoder::inverse_with_limits(self.limits))
                .to(Quantize::inverse())
                .to(WaveletTransform::inverse())
                .to(Hadamard::inverse())
                .to(VaeDecode::new(self.vae.clone()))
                .outs::<ReconRgb>()?
        };
        let mut recon = recon.into_iter();
        let mut out = Vec::with_capacity(streams.len());
        for p in sizes {
            out.push(p.and_then(|_| {
                let r = recon
                    .next()
                    .ok_or_else(|| Error::InvalidInput("lost result".into()))??;
                let [h, w, _] = *r.tensor.shape() else {
                    return Err(Error::TensorType("ReconRgb is not [H, W, 3]".into()));
                };
                let data = world.arena().to_vec::<u8>(&r.tensor)?;
                RgbImage::from_raw(w as u32, h as u32, data)
                    .ok_or_else(|| Error::TensorType("ReconRgb size mismatch".into()))
            }));
        }
        Ok(out)
    }
}

/// Arena bytes one image needs along the pipe: its RGB in or out, the f32 latent stages and
/// the symbols (`latent` values each), and slack for alignment.
fn arena_bytes(width: u32, height: u32, latent: usize) -> usize {
    3 * width as usize * height as usize + 17 * latent + 16 * 64
}

/// GPU arena bytes one latent of `latent` values in `channels` channels needs: input, Hadamard
/// output, wavelet output and scratch (f32 each), the quantiser's block (packed symbols plus two
/// parameter words and 256 histogram bins per band, at most 40 bands per channel), and slack
/// for alignment.
fn gpu_arena_bytes(channels: usize, latent: usize) -> usize {
    16 * latent + latent + channels * 40 * 258 * 4 + 16 * 256
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_respect_count_and_bytes() {
        let host = |v: &[usize]| v.iter().map(|&h| (h, 0)).collect::<Vec<_>>().into_iter();
        let budget = (PASS_BYTES, usize::MAX);
        assert_eq!(
            passes(std::iter::empty(), budget),
            Vec::<std::ops::Range<usize>>::new()
        );
        assert_eq!(passes(host(&[10; 70]), budget), vec![0..32, 32..64, 64..70]);
        let big = PASS_BYTES / 2 + 1;
        assert_eq!(
            passes(host(&[big, big, big]), budget),
            vec![0..1, 1..2, 2..3]
        );
        // One image over the budget still gets a pass of its own.
        assert_eq!(
            passes(host(&[5, PASS_BYTES * 3, 5]), budget),
            vec![0..1, 1..2, 2..3]
        );
        assert_eq!(
            passes(host(&[5, 5, PASS_BYTES - 10, 1]), budget),
            vec![0..3, 3..4]
        );
        // The GPU budget splits too (a device that binds 100 bytes).
        let both = [(1, 40), (1, 40), (1, 40), (1, 10)];
        assert_eq!(
            passes(both.into_iter(), (PASS_BYTES, 100)),
            vec![0..2, 2..4]
        );
    }
}

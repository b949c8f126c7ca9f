//! [`Codec`]: images to streams and back, in passes sized by the stages' footprints.

use std::sync::{Arc, Mutex};

use image::{DynamicImage, RgbImage};

use super::passes::{passes, PASS_BYTES};
use crate::bitstream::{AnsBitstream, Limits};
use crate::components::{ReconRgb, Rgb};
use crate::core::arena::DEFAULT_ARENA_BYTES;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{GpuContext, GpuStats};
use crate::latent::{stream, LatentCodec};
use crate::residual::{chain as residual, JoinLayers, ResidualSettings};
use crate::vae::{Vae, VaeDecode, VaeEncode};
use crate::{Device, Direction, Entity, EntityShape, Footprint, Location, System, TraceRow, World};

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

impl RawImage<'_> {
    /// Checks the image against the codec's size limit and its buffer against its size.
    pub(super) fn check(&self, max_dim: u32) -> Result<()> {
        check_sides(self.width, self.height, max_dim)?;
        let want = self.width as usize * self.height as usize * 3;
        if self.data.len() != want {
            return Err(Error::InvalidInput(format!(
                "{} bytes for a {}×{} RGB8 image, which needs {want}",
                self.data.len(),
                self.width,
                self.height
            )));
        }
        Ok(())
    }
}

/// Checks an image's sides: at least 1, at most `max_dim` ([`Limits::max_image_dim`]).
pub(super) fn check_sides(width: u32, height: u32, max_dim: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::InvalidInput(format!(
            "image is {width}×{height}; both sides must be at least 1"
        )));
    }
    if width > max_dim || height > max_dim {
        return Err(Error::InvalidInput(format!(
            "image is {width}×{height}; sides above {max_dim} are not supported"
        )));
    }
    Ok(())
}

/// The host arena bytes a pass is given for `need` bytes of footprints: a margin over the
/// stages' estimates, so an estimate that falls short by a little costs a larger arena,
/// never a failed batch.
fn with_margin(need: usize) -> usize {
    need + need / 4
}

/// The layers a stream is coded with: the base's latent chain and the residual's settings.
#[derive(Debug, Clone)]
pub(super) struct Layers {
    pub(super) latent: LatentCodec,
    pub(super) residual: Option<ResidualSettings>,
}

/// Compresses images into vaerans streams and back (see the module docs).
#[derive(Debug)]
pub struct Codec {
    pub(super) vae: Arc<Vae>,
    pub(super) latent: LatentCodec,
    /// The quality knob the layers were chosen by (the base's quality when they were set).
    pub(super) quality: u8,
    /// The enhancement layer the encoder adds, if any.
    pub(super) residual: Option<ResidualSettings>,
    /// Whether decoding stops at the base layer.
    pub(super) base_only: bool,
    pub(super) limits: Limits,
    pub(super) world: Mutex<World>,
    /// The pipeline's lanes, opened on first use (see [`Codec::compress_each`]).
    pub(super) lanes: Mutex<Vec<Arc<super::pipeline::Lane>>>,
    /// Whether worlds profile (see [`Codec::set_profiling`]), for lanes made later.
    pub(super) profiling: std::sync::atomic::AtomicBool,
    #[cfg(feature = "gpu")]
    pub(super) gpu: Option<GpuContext>,
}

impl Codec {
    /// Where the latent stages run: [`Device::Gpu`] or [`Device::Cpu`] (never `Auto`).
    pub fn device(&self) -> Device {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return Device::Gpu;
        }
        Device::Cpu
    }

    /// Per-system times of every call since the last `take_trace` (system, device, runs,
    /// entities, milliseconds), pipeline lanes included: a system's time is summed over the
    /// lanes that ran it side by side.
    pub fn take_trace(&self) -> Vec<TraceRow> {
        let mut rows = self.world().take_trace();
        for lane in self.lanes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            rows.extend(lane.world().take_trace());
        }
        TraceRow::merged(rows)
    }

    /// Waits for the GPU after every GPU stage so the trace times each stage on its own (one
    /// submission per stage instead of one per batch: slower; for measuring).
    pub fn set_profiling(&self, on: bool) {
        self.profiling
            .store(on, std::sync::atomic::Ordering::Relaxed);
        self.world().set_profiling(on);
        for lane in self.lanes.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            lane.world().set_profiling(on);
        }
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

    /// The model.
    pub fn vae(&self) -> &Arc<Vae> {
        &self.vae
    }

    /// The latent chain's settings (quality, wavelet, levels).
    pub fn latent(&self) -> &LatentCodec {
        &self.latent
    }

    /// The quality streams are made at: the knob over both layers (or, when the layers were
    /// set with [`CodecBuilder::residual`](super::CodecBuilder::residual), the base's quality;
    /// [`latent`](Self::latent) has the base's in either case).
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// The residual layer this codec's streams get, if any.
    pub fn residual(&self) -> Option<&ResidualSettings> {
        self.residual.as_ref()
    }

    /// Whether this codec decodes only the base layer of layered streams.
    pub fn base_only(&self) -> bool {
        self.base_only
    }

    /// Parses a stream as this codec decodes it: whole, or only its base layer when the codec
    /// decodes base layers only (then nothing after the base is read).
    pub fn parse(&self, bytes: Vec<u8>) -> Result<AnsBitstream> {
        if self.base_only {
            AnsBitstream::parse_base(bytes, &self.limits)
        } else {
            AnsBitstream::parse(bytes, &self.limits)
        }
    }

    /// The limits streams are checked against when they are decoded.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A new world on this codec's device, profiling if the codec is.
    pub(super) fn new_world(&self) -> Result<World> {
        #[cfg(feature = "gpu")]
        let mut world = match &self.gpu {
            Some(ctx) => World::with_gpu(ctx)?,
            None => World::new(),
        };
        #[cfg(not(feature = "gpu"))]
        let mut world = World::new();
        world.set_profiling(self.profiling.load(std::sync::atomic::Ordering::Relaxed));
        Ok(world)
    }

    pub(super) fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
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

    /// The encoding pipe's systems: `vae`'s encoder, then `latent`'s chain.
    fn encoder(vae: &Arc<Vae>, latent: &LatentCodec) -> Vec<Box<dyn System>> {
        let mut chain: Vec<Box<dyn System>> = vec![Box::new(VaeEncode::new(vae.clone()))];
        chain.extend(latent.encoder());
        chain
    }

    /// The layers this codec writes.
    pub(super) fn layers(&self) -> Layers {
        Layers {
            latent: self.latent.clone(),
            residual: self.residual,
        }
    }

    /// The decoding pipe's systems: the latent chain, then `vae`'s decoder.
    fn decoder(&self, vae: &Arc<Vae>) -> Vec<Box<dyn System>> {
        let mut chain = self.latent.decoder();
        chain.push(Box::new(VaeDecode::new(vae.clone())));
        chain
    }

    /// The arena bytes (host, GPU) one entity of `shape` takes along `chain`, its input on the
    /// host holding `input` bytes (the RGB image, or nothing for a stream).
    pub(super) fn footprint(
        &self,
        chain: &[Box<dyn System>],
        shape: &EntityShape,
        input: usize,
    ) -> (usize, usize) {
        let f = Footprint::host(&[input]).then(Footprint::of_chain(
            chain,
            shape,
            self.device(),
            Location::Cpu,
        ));
        (f.host, f.gpu)
    }

    /// The arena bytes (host, GPU) a residual layer coded with `settings` adds to encoding one
    /// image of `shape`: `vae`'s decoder rebuilding the base, then [`residual::encoder`].
    fn residual_encode_footprint(
        &self,
        vae: &Arc<Vae>,
        shape: &EntityShape,
        settings: &ResidualSettings,
    ) -> Result<(usize, usize)> {
        let [w, h] = shape.image;
        let device = self.device();
        let f = Footprint::of_chain(&self.decoder(vae), shape, device, Location::Cpu).then(
            Footprint::of_chain(
                &residual::encoder(settings, None)?,
                &residual::shape_of(w, h)?,
                device,
                Location::Cpu,
            ),
        );
        Ok((f.host, f.gpu))
    }

    /// The arena bytes (host, GPU) decoding the residual layer of an image of `shape` adds, its
    /// prediction blurred with σ code `blur` ([`residual::decoder`]).
    fn residual_decode_footprint(&self, shape: &EntityShape, blur: u8) -> Result<(usize, usize)> {
        let [w, h] = shape.image;
        let f = Footprint::of_chain(
            &residual::decoder(blur)?,
            &residual::shape_of(w, h)?,
            self.device(),
            Location::Cpu,
        );
        Ok((f.host, f.gpu))
    }

    /// Refuses an image of `shape` whose coding would exceed the memory budget
    /// ([`Limits::max_memory`]): `read` bytes to read the image file (0 once it is read),
    /// `arena` bytes of tensors along its chain (with the margin the arena is grown by), and
    /// `vae`'s working memory for it.
    pub(super) fn check_memory(
        &self,
        vae: &Vae,
        shape: &EntityShape,
        (read, arena): (u64, usize),
        decoder: bool,
    ) -> Result<()> {
        let [w, h] = shape.image;
        let what = format!(
            "{} a {w}×{h} image",
            if decoder { "decoding" } else { "encoding" }
        );
        let f = vae.downsample();
        let (pw, ph) = (shape.latent[2] * f, shape.latent[1] * f);
        let per_pixel = vae.spec().memory_per_pixel[usize::from(decoder)];
        let vae_part = format!("for the VAE at {per_pixel} bytes a pixel of a call");
        let vae_bytes = vae.working_memory(decoder, pw, ph);
        let tensors = ("for its tensors", with_margin(arena) as u64);
        let parts = [("to read it", read), tensors, (&vae_part, vae_bytes)];
        let parts = if read == 0 { &parts[1..] } else { &parts[..] };
        self.limits.check_memory(&what, parts)
    }

    /// Checks, before an image is read, that this codec can compress an image of `width ×
    /// height`: within [`Limits::max_image_dim`] and the memory budget. A file's size can be
    /// read from its header without decoding it, so that a small file declaring a huge image
    /// is refused before its pixels are allocated.
    pub fn check_image_size(&self, width: u32, height: u32) -> Result<()> {
        check_sides(width, height, self.limits.max_image_dim)?;
        let shape = self.image_shape(width, height);
        let rgb = 3 * u64::from(width) * u64::from(height);
        let need = self.footprint(
            &Self::encoder(&self.vae, &self.latent),
            &shape,
            rgb as usize,
        );
        // The decoded file and its RGB8 copy, then the codec's tensors.
        self.check_memory(&self.vae, &shape, (2 * rgb, need.0), false)
    }

    /// Opens an image file as [`open_image`](crate::open_image) does, refusing it before
    /// its pixels are decoded when this codec could not compress it
    /// ([`Codec::check_image_size`]).
    pub fn open_image(&self, path: &std::path::Path, alpha: crate::Alpha) -> Result<RgbImage> {
        super::input::open_image_within(path, alpha, |w, h| self.check_image_size(w, h))
    }

    /// The work of compressing a `width × height` image under this model and chain.
    pub(super) fn image_shape(&self, width: u32, height: u32) -> EntityShape {
        let (pw, ph) = self.vae.padded_size(width.max(1), height.max(1));
        let f = self.vae.downsample();
        EntityShape {
            image: [width, height],
            latent: [self.vae.latent_channels(), ph as usize / f, pw as usize / f],
            levels: self.latent.levels(),
        }
    }

    /// Clears the world for a new pass, growing its host arena when the pass needs more than
    /// it has (the GPU arena grows itself on demand).
    pub(super) fn prepare_world(world: &mut World, need: usize) {
        let need = with_margin(need);
        if world.arena().capacity() < need {
            world.grow_arena(need.max(DEFAULT_ARENA_BYTES));
        } else {
            world.clear();
        }
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
        let image = RawImage {
            data,
            width,
            height,
        };
        self.compress_raw(&[image]).pop().unwrap_or_else(no_result)
    }

    /// Compresses several images; one result per image, in order. Images of equal padded size
    /// share VAE session calls.
    pub fn compress_batch(&self, images: &[RgbImage]) -> Vec<Result<Vec<u8>>> {
        let raws: Vec<RawImage<'_>> = images.iter().map(RawImage::from).collect();
        self.compress_raw(&raws)
    }

    /// [`compress_batch`](Self::compress_batch) on raw RGB8 buffers.
    pub fn compress_raw(&self, images: &[RawImage<'_>]) -> Vec<Result<Vec<u8>>> {
        self.compress_on(&mut self.world(), &self.vae, images)
    }

    /// Compresses `images` in `world` with `vae`'s sessions, in passes.
    pub(super) fn compress_on(
        &self,
        world: &mut World,
        vae: &Arc<Vae>,
        images: &[RawImage<'_>],
    ) -> Vec<Result<Vec<u8>>> {
        self.compress_layers(world, vae, images, &self.layers())
    }

    /// Compresses `images` into streams of `layers` (this codec's, or others of a rate search).
    pub(super) fn compress_layers(
        &self,
        world: &mut World,
        vae: &Arc<Vae>,
        images: &[RawImage<'_>],
        layers: &Layers,
    ) -> Vec<Result<Vec<u8>>> {
        let chain = Self::encoder(vae, &layers.latent);
        let max_dim = self.limits.max_image_dim;
        // Each image checked once; a bad one takes no room in a pass and fails alone.
        let jobs: Vec<Result<(usize, usize)>> = images
            .iter()
            .map(|img| {
                img.check(max_dim)?;
                let shape = self.image_shape(img.width, img.height);
                let mut need = self.footprint(&chain, &shape, img.data.len());
                if let Some(r) = &layers.residual {
                    let more = self.residual_encode_footprint(vae, &shape, r)?;
                    need = (need.0 + more.0, need.1 + more.1);
                }
                self.check_memory(vae, &shape, (0, need.0), false)?;
                Ok(need)
            })
            .collect();
        let mut out = Vec::with_capacity(images.len());
        let sizes = jobs.iter().map(|j| *j.as_ref().unwrap_or(&(0, 0)));
        for range in passes(sizes, self.budget()) {
            let (chunk, checked) = (&images[range.clone()], &jobs[range]);
            out.extend(fail_alone(
                checked,
                self.compress_pass(world, vae, chunk, checked, layers),
            ));
        }
        out
    }

    /// Compresses the checked images of one pass.
    fn compress_pass(
        &self,
        world: &mut World,
        vae: &Arc<Vae>,
        images: &[RawImage<'_>],
        checked: &[Result<(usize, usize)>],
        layers: &Layers,
    ) -> Result<Vec<Result<Vec<u8>>>> {
        let need = checked.iter().flatten().map(|(host, _)| host).sum();
        Self::prepare_world(world, need);
        let mut entities = Vec::new();
        for (img, ok) in images.iter().zip(checked) {
            if ok.is_ok() {
                let shape = [img.height as usize, img.width as usize, 3];
                let tensor = world.arena_mut().alloc_from::<u8>(&shape, img.data)?;
                entities.push(world.spawn_with(Rgb { tensor }));
            }
        }
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let pipe = world
            .pipe_batch(&entities)
            .chain(Self::encoder(vae, &layers.latent));
        let streams = match &layers.residual {
            None => pipe.outs::<AnsBitstream>()?,
            // The base stream is kept aside while the encoder decodes it as the decoder will,
            // codes what it misses, and joins the two.
            Some(r) => pipe
                .select::<AnsBitstream>()
                .chain(self.decoder(vae))
                .chain(residual::encoder(r, layers.latent.entropy())?)
                .use_::<AnsBitstream>()
                .to(JoinLayers::new(Direction::Forward))
                .outs::<AnsBitstream>()?,
        };
        Ok(streams
            .into_iter()
            .map(|r| r.map(AnsBitstream::into_bytes))
            .collect())
    }

    /// The model's own reconstruction of an image, without quantisation: encode, decode, crop.
    /// The ceiling the codec approaches as quality rises.
    pub fn vae_round_trip(&self, image: &RgbImage) -> Result<RgbImage> {
        RawImage::from(image).check(self.limits.max_image_dim)?;
        let mut world = self.world();
        let shape = self.image_shape(image.width(), image.height());
        let vae: [Box<dyn System>; 2] = [
            Box::new(VaeEncode::new(self.vae.clone())),
            Box::new(VaeDecode::new(self.vae.clone())),
        ];
        let (need, _) = self.footprint(&vae, &shape, image.as_raw().len());
        Self::prepare_world(&mut world, need);
        let dims = [image.height() as usize, image.width() as usize, 3];
        let tensor = world.arena_mut().alloc_from::<u8>(&dims, image.as_raw())?;
        let e = world.spawn_with(Rgb { tensor });
        let recon = world.pipe(e).chain(vae).out::<ReconRgb>()?;
        rgb_image(&world, &recon)
    }

    /// Decompresses one stream.
    pub fn decompress(&self, stream: &[u8]) -> Result<RgbImage> {
        self.decompress_batch(&[stream])
            .pop()
            .unwrap_or_else(no_result)
    }

    /// Decompresses several streams; one result per stream, in order. A corrupt stream fails
    /// alone. Each stream is parsed and checked once, against the codec's [`Limits`].
    pub fn decompress_batch<B: AsRef<[u8]>>(&self, streams: &[B]) -> Vec<Result<RgbImage>> {
        let parsed = streams
            .iter()
            .map(|s| self.parse(s.as_ref().to_vec()))
            .collect();
        self.decompress_parsed(parsed)
    }

    /// Decompresses streams already parsed (by [`AnsBitstream::parse`], or an error each that
    /// is passed through); one result per stream, in order.
    pub fn decompress_parsed(&self, streams: Vec<Result<AnsBitstream>>) -> Vec<Result<RgbImage>> {
        self.decompress_on(&mut self.world(), &self.vae, streams)
    }

    /// Decompresses parsed streams in `world` with `vae`'s sessions, in passes.
    pub(super) fn decompress_on(
        &self,
        world: &mut World,
        vae: &Arc<Vae>,
        streams: Vec<Result<AnsBitstream>>,
    ) -> Vec<Result<RgbImage>> {
        // A codec that decodes base layers drops every enhancement here, once.
        let streams: Vec<Result<AnsBitstream>> = if self.base_only {
            let base = |s: Result<AnsBitstream>| s.map(AnsBitstream::without_enhancement);
            streams.into_iter().map(base).collect()
        } else {
            streams
        };
        let chain = self.decoder(vae);
        // Each stream checked once, before anything is allocated for it.
        let checked: Vec<Result<(usize, usize)>> = streams
            .iter()
            .map(|s| {
                let s = s.as_ref().map_err(Clone::clone)?;
                if s.header().is_bare_latent() {
                    return Err(super::router::bare_latent());
                }
                let shape = stream::shape_of(s.header());
                let mut need = self.footprint(&chain, &shape, 0);
                if let Some(layer) = s.enhancement() {
                    let more = self.residual_decode_footprint(&shape, layer.blur)?;
                    need = (need.0 + more.0, need.1 + more.1);
                }
                self.check_memory(vae, &shape, (0, need.0), true)?;
                Ok(need)
            })
            .collect();
        let sizes: Vec<(usize, usize)> = checked
            .iter()
            .map(|c| *c.as_ref().unwrap_or(&(0, 0)))
            .collect();
        let mut streams: Vec<Option<AnsBitstream>> = streams
            .into_iter()
            .zip(&checked)
            .map(|(s, c)| s.ok().filter(|_| c.is_ok()))
            .collect();
        let mut out = Vec::with_capacity(streams.len());
        for range in passes(sizes.into_iter(), self.budget()) {
            let part: Vec<AnsBitstream> = streams[range.clone()]
                .iter_mut()
                .filter_map(Option::take)
                .collect();
            let need = checked[range.clone()]
                .iter()
                .flatten()
                .map(|(host, _)| host)
                .sum();
            out.extend(fail_alone(
                &checked[range],
                self.decompress_pass(world, vae, part, need),
            ));
        }
        out
    }

    /// Decodes the good streams of one pass, which need `need` host bytes.
    fn decompress_pass(
        &self,
        world: &mut World,
        vae: &Arc<Vae>,
        streams: Vec<AnsBitstream>,
        need: usize,
    ) -> Result<Vec<Result<RgbImage>>> {
        Self::prepare_world(world, need);
        // Layers are grouped by the blur of their prediction, so each group is one pipe.
        let mut layered: std::collections::BTreeMap<u8, Vec<(usize, Entity)>> = Default::default();
        let mut entities = Vec::with_capacity(streams.len());
        for (i, s) in streams.into_iter().enumerate() {
            let blur = s.enhancement().map(|l| l.blur);
            let e = world.spawn_with(s);
            if let Some(blur) = blur {
                layered.entry(blur).or_default().push((i, e));
            }
            entities.push(e);
        }
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let mut recon = world
            .pipe_batch(&entities)
            .chain(self.decoder(vae))
            .outs::<ReconRgb>()?;
        for (blur, members) in layered {
            let members: Vec<(usize, Entity)> = members
                .into_iter()
                .filter(|(i, _)| recon[*i].is_ok())
                .collect();
            let es: Vec<Entity> = members.iter().map(|&(_, e)| e).collect();
            if es.is_empty() {
                continue;
            }
            let added = world
                .pipe_batch(&es)
                .chain(residual::decoder(blur)?)
                .outs::<ReconRgb>()?;
            for ((i, _), r) in members.into_iter().zip(added) {
                recon[i] = r;
            }
        }
        Ok(recon
            .into_iter()
            .map(|r| r.and_then(|r| rgb_image(world, &r)))
            .collect())
    }
}

/// The image a `ReconRgb` holds.
pub(super) fn rgb_image(world: &World, r: &ReconRgb) -> Result<RgbImage> {
    let [h, w, _] = *r.tensor.shape() else {
        return Err(Error::Internal("ReconRgb is not [H, W, 3]".into()));
    };
    let data = world.arena().to_vec::<u8>(&r.tensor)?;
    RgbImage::from_raw(w as u32, h as u32, data)
        .ok_or_else(|| Error::Internal("ReconRgb's size does not match its shape".into()))
}

/// The results of one pass, in order, for the items `checked` says were sent to it (an item
/// that failed its check keeps its own error): `pass` holds one result per good item, or the
/// error that sank the whole pass, which every good item of it then carries, kind and all.
fn fail_alone<T, C>(checked: &[Result<C>], pass: Result<Vec<Result<T>>>) -> Vec<Result<T>> {
    let mut results = match pass {
        Ok(r) => Ok(r.into_iter()),
        Err(e) => Err(e),
    };
    checked
        .iter()
        .map(|c| match (c, &mut results) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Ok(it)) => it.next().unwrap_or_else(|| {
                Err(Error::Internal(
                    "a pass returned fewer results than it had items".into(),
                ))
            }),
            (Ok(_), Err(e)) => Err(e.clone()),
        })
        .collect()
}

/// The error of a one-item batch that returned nothing.
fn no_result<T>() -> Result<T> {
    Err(Error::Internal("a batch of one returned no result".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arena;

    #[test]
    fn a_failed_pass_gives_every_good_item_its_error_kind() {
        let checked: Vec<Result<()>> = vec![Ok(()), Err(Error::BadMagic), Ok(())];
        let sunk: Vec<Result<u8>> = fail_alone(&checked, Err(Error::NoGpu("gone".into())));
        assert!(matches!(sunk[0], Err(Error::NoGpu(_))));
        assert!(matches!(sunk[1], Err(Error::BadMagic)));
        assert!(matches!(sunk[2], Err(Error::NoGpu(_))));
        let ok = fail_alone(&checked, Ok(vec![Ok(1u8), Err(Error::Corrupt("x".into()))]));
        assert_eq!(ok[0].as_ref().unwrap(), &1);
        assert!(matches!(ok[2], Err(Error::Corrupt(_))));
        let short = fail_alone(&checked, Ok(vec![Ok(1u8)]));
        assert!(matches!(short[2], Err(Error::Internal(_))));
    }

    fn tiny() -> Codec {
        let spec = crate::vae::ModelSpec::from_path(std::path::Path::new(
            "tests/models/tiny_encoder.onnx",
        ))
        .unwrap();
        Codec::builder()
            .model_spec(spec)
            .execution_provider(crate::vae::ExecutionProvider::Cpu)
            .device(Device::Cpu)
            .build()
            .unwrap()
    }

    /// The stages' footprints are what a pass allocates: after a pass the host arena holds
    /// exactly the sum of the images' footprints (each allocation rounded to the alignment).
    #[test]
    fn footprints_are_what_a_pass_allocates() {
        let codec = tiny();
        let images: Vec<RgbImage> = [(37u32, 21u32), (64, 48), (8, 8)]
            .iter()
            .map(|&(w, h)| RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7])))
            .collect();
        let chain = Codec::encoder(&codec.vae, &codec.latent);
        // The default quality has a residual layer: its footprint adds up too.
        let residual = codec.residual.expect("quality 75 has a residual layer");
        let want: usize = images
            .iter()
            .map(|i| {
                let shape = codec.image_shape(i.width(), i.height());
                codec.footprint(&chain, &shape, i.as_raw().len()).0
                    + codec
                        .residual_encode_footprint(&codec.vae, &shape, &residual)
                        .unwrap()
                        .0
            })
            .sum();
        let streams: Vec<Vec<u8>> = codec
            .compress_batch(&images)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(codec.world().arena().used(), want);
        let chain = codec.decoder(&codec.vae);
        // Decoding, the inverse Hadamard stage is counted whatever the stream's transform; the
        // residual's has none, and its planes pass through.
        let (mut want, mut passed) = (0, 0);
        for s in &streams {
            let s = AnsBitstream::parse(s.clone(), &Limits::default()).unwrap();
            let shape = stream::shape_of(s.header());
            want += codec.footprint(&chain, &shape, 0).0;
            let blur = s.enhancement().unwrap().blur;
            want += codec.residual_decode_footprint(&shape, blur).unwrap().0;
            let [w, h] = shape.image;
            passed += (4 * crate::residual::PLANES * (w * h) as usize).div_ceil(Arena::ALIGN)
                * Arena::ALIGN;
        }
        for r in codec.decompress_batch(&streams) {
            r.unwrap();
        }
        assert_eq!(codec.world().arena().used(), want - passed);
    }
}

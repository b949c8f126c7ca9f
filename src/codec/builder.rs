//! [`CodecBuilder`]: every setting of a [`Codec`], checked once when it is built.

use std::sync::{Arc, Mutex};

use super::images::Codec;
use crate::bitstream::{EntropyCoding, Limits};
use crate::components::ChannelTransform;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::GpuContext;
use crate::latent::quantize::{check_quality, DEFAULT_QUALITY};
use crate::latent::{LatentCodec, StepAllocation, DEFAULT_LEVELS};
use crate::layout::Wavelet;
use crate::residual::{knob, ResidualSettings};
use crate::vae::config::check_input_range;
use crate::vae::{
    Calibration, Config, ExecutionProvider, ModelSpec, ProviderOptions, Vae, DEFAULT_MAX_BATCH,
};
use crate::{Device, World};

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
}

/// Settings for a [`Codec`].
#[derive(Debug, Clone)]
pub struct CodecBuilder {
    model: Option<String>,
    spec: Option<ModelSpec>,
    config: Option<Config>,
    vae: Option<Arc<Vae>>,
    ep: ExecutionProvider,
    provider_options: ProviderOptions,
    quality: u8,
    wavelet: Wavelet,
    levels: u8,
    max_batch: usize,
    pub(super) limits: Limits,
    device: Device,
    allocation: Option<(StepAllocation, ChannelTransform)>,
    calibration: Option<Calibration>,
    input_range: Option<[f32; 2]>,
    entropy: Option<EntropyCoding>,
    /// Layers set explicitly (`quality` is then the base's); `None`: the knob chooses.
    residual: Option<Option<ResidualSettings>>,
    base_only: bool,
    #[cfg(feature = "gpu")]
    gpu: Option<GpuContext>,
}

impl Default for CodecBuilder {
    fn default() -> Self {
        Self {
            model: None,
            spec: None,
            config: None,
            vae: None,
            ep: ExecutionProvider::Auto,
            provider_options: ProviderOptions::default(),
            quality: DEFAULT_QUALITY,
            wavelet: Wavelet::Cdf53,
            levels: DEFAULT_LEVELS,
            max_batch: DEFAULT_MAX_BATCH,
            limits: Limits::default(),
            device: Device::Auto,
            allocation: None,
            calibration: None,
            input_range: None,
            entropy: None,
            residual: None,
            base_only: false,
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

    /// The model named with [`model`](Self::model), if any.
    pub fn model_name(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The name [`Decoders`](super::Decoders) file the model under that this builder opens
    /// unless a stream names another: the named model, else the configured default.
    pub(super) fn default_model_name(&self) -> Result<String> {
        if let Some(m) = &self.model {
            return Ok(m.clone());
        }
        let config = match &self.config {
            Some(c) => c.clone(),
            None => Config::load()?,
        };
        Ok(config.resolve(None)?.name)
    }

    /// The model to decode a stream naming `id` with, among the configured models and the
    /// embedded one (see [`Config::resolve_stream`]).
    pub(super) fn stream_model(&self, id: &crate::components::ModelId) -> Result<ModelSpec> {
        let config = match &self.config {
            Some(c) => c.clone(),
            None => Config::load()?,
        };
        config.resolve_stream(id)
    }

    /// A model described in code (takes precedence over [`model`](Self::model)).
    pub fn model_spec(mut self, spec: ModelSpec) -> Self {
        self.spec = Some(spec);
        self
    }

    /// An already opened model, shared with other codecs (takes precedence over
    /// [`model_spec`](Self::model_spec) and [`model`](Self::model); the execution provider and
    /// batch size are the model's own).
    pub fn vae(mut self, vae: Arc<Vae>) -> Self {
        self.vae = Some(vae);
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

    /// Options of the GPU execution providers (CUDA device, cuDNN search, TF32).
    pub fn provider_options(mut self, options: ProviderOptions) -> Self {
        self.provider_options = options;
        self
    }

    /// Quality 1..=100 (default 75), one knob over both layers: higher is larger and closer
    /// to the original. Low qualities are the VAE's latent alone; past the model's ceiling a
    /// residual layer joins (see [`knob`](crate::residual::knob) for the mapping, and
    /// [`residual`](Self::residual) to set both layers yourself).
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
    /// [`GpuContext::from_wgpu`], or one shared with other codecs) instead of opening one.
    /// Used by [`Device::Gpu`] and [`Device::Auto`].
    #[cfg(feature = "gpu")]
    pub fn gpu_context(mut self, ctx: GpuContext) -> Self {
        self.gpu = Some(ctx);
        self
    }

    /// The quantiser's step allocation and the channel transform, instead of those the
    /// model's calibration gives ([`Vae::calibration`]); `(StepAllocation::uniform(),
    /// ChannelTransform::Hadamard4)` codes as an uncalibrated model does (for comparison).
    pub fn allocation(mut self, allocation: StepAllocation, transform: ChannelTransform) -> Self {
        self.allocation = Some((allocation, transform));
        self
    }

    /// Quantises with this calibration's allocation and channel transform instead of the one
    /// found for the model ([`Vae::calibration`]); it must be the model's (same decoder hash
    /// and channel count), checked when the codec is built.
    pub fn calibration(mut self, calibration: Calibration) -> Self {
        self.calibration = Some(calibration);
        self
    }

    /// The pixel range the model expects (u8 0 maps to `range[0]`, 255 to `range[1]`), over
    /// its config's `input_range` or the `[-1, 1]` default of a model given by path. Streams
    /// record it, and decoding them under another range is an error. Not for an already opened
    /// model ([`vae`](Self::vae)): its range is its own.
    pub fn input_range(mut self, range: [f32; 2]) -> Self {
        self.input_range = Some(range);
        self
    }

    /// The entropy coding of the streams this codec writes (default `None`: without tables
    /// when that is at least 2% smaller; see [`EntropyCoding`]). Tables decode several times
    /// faster; adaptive contexts are smaller at low rates and for many-channel models.
    /// Decoding reads either.
    pub fn entropy(mut self, entropy: Option<EntropyCoding>) -> Self {
        self.entropy = entropy;
        self
    }

    /// Sets both layers instead of the knob: [`quality`](Self::quality) becomes the base's
    /// quality, and every stream gets the residual `settings` as an enhancement layer (`None`:
    /// base only).
    pub fn residual(mut self, settings: Option<ResidualSettings>) -> Self {
        self.residual = Some(settings);
        self
    }

    /// Decodes only the base layer of layered streams, reading nothing after it (default:
    /// false, every layer).
    pub fn base_only(mut self, on: bool) -> Self {
        self.base_only = on;
        self
    }

    /// Whether the codec built decodes base layers only.
    pub(super) fn decodes_base_only(&self) -> bool {
        self.base_only
    }

    /// Checks the settings, opens the model (unless one was given) and builds the codec.
    pub fn build(self) -> Result<Codec> {
        let (base, residual) = match self.residual {
            Some(explicit) => (check_quality(self.quality)?, explicit),
            None => knob::layers_for(self.quality)?,
        };
        let latent = LatentCodec::new(base)?.with_wavelet(self.wavelet, self.levels)?;
        #[cfg(feature = "gpu")]
        let gpu = resolve_device(self.device, self.gpu)?;
        #[cfg(not(feature = "gpu"))]
        resolve_device(self.device)?;
        let vae = match self.vae {
            Some(vae) => {
                if let Some(r) = self.input_range.filter(|r| *r != vae.spec().input_range) {
                    return Err(Error::InvalidInput(format!(
                        "model `{}` is already open with input range [{}, {}]; an input range \
                         of [{}, {}] must be set on its spec before it is opened",
                        vae.spec().name,
                        vae.spec().input_range[0],
                        vae.spec().input_range[1],
                        r[0],
                        r[1]
                    )));
                }
                vae
            }
            None => {
                let mut spec = match self.spec {
                    Some(s) => s,
                    None => {
                        let config = match self.config {
                            Some(c) => c,
                            None => Config::load()?,
                        };
                        config.resolve(self.model.as_deref())?
                    }
                };
                if let Some(range) = self.input_range {
                    check_input_range(&spec.name, range)?;
                    spec.input_range = range;
                }
                Arc::new(
                    Vae::open_with(&spec, self.ep, &self.provider_options)?
                        .with_max_batch(self.max_batch),
                )
            }
        };
        let (allocation, transform) = match (self.allocation, self.calibration) {
            (Some(a), _) => a,
            (None, Some(c)) => {
                c.check_model(&vae)?;
                (c.allocation(vae.downsample())?, c.transform()?)
            }
            (None, None) => allocation_of(&vae)?,
        };
        let latent = latent
            .with_allocation(allocation)
            .with_transform(transform)
            .with_entropy(self.entropy);
        let mut codec = Codec {
            vae,
            latent,
            quality: self.quality,
            residual,
            base_only: self.base_only,
            limits: self.limits,
            world: Mutex::new(World::new()),
            lanes: Mutex::new(Vec::new()),
            profiling: Default::default(),
            #[cfg(feature = "gpu")]
            gpu,
        };
        codec.world = Mutex::new(codec.new_world()?);
        Ok(codec)
    }
}

/// The step allocation and channel transform of `vae`'s calibration, or uniform steps after a
/// Hadamard stage (said once per decoder) for a model that has none.
fn allocation_of(vae: &Vae) -> Result<(StepAllocation, ChannelTransform)> {
    if let Some(c) = vae.calibration() {
        return Ok((c.allocation(vae.downsample())?, c.transform()?));
    }
    static TOLD: Mutex<Vec<[u8; 32]>> = Mutex::new(Vec::new());
    let hash = vae.id().decoder_hash;
    let mut told = TOLD.lock().unwrap_or_else(|p| p.into_inner());
    if !told.contains(&hash) {
        told.push(hash);
        tracing::warn!(
            "model `{}` has no calibration, so its quantiser steps are the same for every \
             channel and level; `vaerans models --calibrate {} --images DIR` measures one \
             (on training images), which usually compresses much better",
            vae.spec().name,
            vae.spec().name
        );
    }
    Ok((StepAllocation::uniform(), ChannelTransform::Hadamard4))
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

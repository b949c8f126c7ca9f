//! The latent codec: the one definition of the stage chain between a latent `[C, h, w]` and its
//! stream, and of everything the chain shares.
//!
//! ```text
//! forward:  Latent ─Hadamard─▶ Yuvw ─WaveletTransform─▶ WaveletPyr ─Quantize─▶ Symbols + QuantParams
//!           ─EntropyCoder─▶ AnsBitstream
//! inverse:  the same stages in reverse order, each run inverse
//! ```
//!
//! [`LatentCodec`] owns the stage list ([`LatentCodec::stages`]), each stage's arena use
//! ([`LatentCodec::footprint`], summed from the stages' own [`System::footprint`]s), the
//! mapping between the stream header and the components ([`stream`]), and the one symbol
//! layout, coding order ([`Symbols`](crate::components::Symbols)). [`Codec`](crate::Codec), the
//! CLI, the tests, the benches and the examples all build their pipes from it:
//!
//! ```
//! use vaerans::prelude::*;
//!
//! # fn main() -> vaerans::Result<()> {
//! let codec = LatentCodec::new(75)?;
//! let mut world = World::new();
//! let data: Vec<f32> = (0..4 * 16 * 16).map(|i| ((i % 37) as f32 / 9.0).sin()).collect();
//! let tensor = world.arena_mut().alloc_from(&[4, 16, 16], &data)?;
//! let e = world.spawn_with(Latent { tensor });
//! let stream = world.pipe(e).chain(codec.encoder()).out::<AnsBitstream>()?;
//!
//! let d = world.spawn_with(stream);
//! let latent = world.pipe(d).chain(codec.decoder()).out::<Latent>()?;
//! assert_eq!(latent.tensor.shape(), &[4, 16, 16]);
//! # Ok(())
//! # }
//! ```
//!
//! Each stage is a folder with its maths (`reference.rs`), its system (`mod.rs`) and its GPU
//! kernel's dispatch and parity tests (`gpu.rs`, the kernel in `shaders/<stage>.wgsl`).

pub mod bare;
pub mod file;
pub mod hadamard;
pub mod quantize;
pub mod shard;
pub mod stream;
pub mod wavelet;

pub use hadamard::Hadamard;
pub use quantize::{Quantize, StepAllocation};
pub use stream::EntropyCoder;
pub use wavelet::WaveletTransform;

use std::sync::Arc;

use crate::bitstream::EntropyCoding;
use crate::components::ChannelTransform;
use crate::error::{Error, Result};
use crate::layout::Wavelet;
use crate::{Device, Direction, EntityShape, Footprint, Location, System};

/// Default wavelet decomposition levels (clamped to what each latent's size allows).
pub const DEFAULT_LEVELS: u8 = 4;

/// The settings of the latent chain: quality, wavelet, levels and the quantiser's step
/// allocation. Cheap to clone; every pipe that encodes or decodes a latent is built from one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatentCodec {
    quality: u8,
    wavelet: Wavelet,
    levels: u8,
    transform: ChannelTransform,
    allocation: Arc<StepAllocation>,
    entropy: Option<EntropyCoding>,
}

impl Default for LatentCodec {
    /// Quality [`DEFAULT_QUALITY`](quantize::DEFAULT_QUALITY), CDF 5/3, [`DEFAULT_LEVELS`].
    fn default() -> Self {
        Self {
            quality: quantize::DEFAULT_QUALITY,
            wavelet: Wavelet::Cdf53,
            levels: DEFAULT_LEVELS,
            transform: ChannelTransform::Hadamard4,
            allocation: Arc::default(),
            entropy: None,
        }
    }
}

impl LatentCodec {
    /// The default chain at `quality` (`1..=100`).
    pub fn new(quality: u8) -> Result<Self> {
        Self::default().with_quality(quality)
    }

    /// This chain at `quality` (`1..=100`).
    pub fn with_quality(mut self, quality: u8) -> Result<Self> {
        self.quality = quantize::check_quality(quality)?;
        Ok(self)
    }

    /// This chain with another wavelet and number of levels (at least 1; each latent clamps it
    /// to what its size allows).
    pub fn with_wavelet(mut self, wavelet: Wavelet, levels: u8) -> Result<Self> {
        if levels == 0 {
            return Err(Error::InvalidInput(
                "wavelet levels must be at least 1".into(),
            ));
        }
        self.wavelet = wavelet;
        self.levels = levels;
        Ok(self)
    }

    /// This chain with its quantiser steps spread over channels and levels by `allocation`
    /// (from a model's [`Calibration`](crate::vae::Calibration); uniform by default). It
    /// changes only which steps the encoder picks: decoding reads them from the stream.
    pub fn with_allocation(mut self, allocation: StepAllocation) -> Self {
        self.allocation = Arc::new(allocation);
        self
    }

    /// The quantiser's step allocation.
    pub fn allocation(&self) -> &StepAllocation {
        &self.allocation
    }

    /// This chain mixing channels with `transform` before the wavelet (default
    /// [`ChannelTransform::Hadamard4`]); the stream records it, so decoding needs nothing.
    pub fn with_transform(mut self, transform: ChannelTransform) -> Self {
        self.transform = transform;
        self
    }

    /// This codec with the entropy coding of its streams fixed (`None`, the default: the
    /// stream without tables when it is at least 2% smaller, see [`stream::encode_symbols`]).
    /// Decoding reads whichever a stream used.
    pub fn with_entropy(mut self, entropy: Option<EntropyCoding>) -> Self {
        self.entropy = entropy;
        self
    }

    /// The entropy coding streams are made with (`None`: chosen per stream).
    pub fn entropy(&self) -> Option<EntropyCoding> {
        self.entropy
    }

    /// The channel transform streams are made with.
    pub fn transform(&self) -> ChannelTransform {
        self.transform
    }

    /// The quality streams are made at.
    pub fn quality(&self) -> u8 {
        self.quality
    }

    /// The wavelet.
    pub fn wavelet(&self) -> Wavelet {
        self.wavelet
    }

    /// The wavelet levels asked for.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// **The stage list**: the chain's systems in `direction`, in the order they run. Forward
    /// is `Latent → AnsBitstream`; inverse is the same stages, reversed, each inverse.
    /// A new stage is one line here.
    pub fn stages(&self, direction: Direction) -> Vec<Box<dyn System>> {
        let mut stages: Vec<Box<dyn System>> = vec![
            Box::new(Hadamard::new(direction).with_transform(self.transform)),
            Box::new(WaveletTransform::new(direction, self.wavelet, self.levels)),
            Box::new(
                Quantize::new(direction, self.quality).with_allocation(self.allocation.clone()),
            ),
            Box::new(EntropyCoder::new(direction).with_coding(self.entropy)),
        ];
        if direction == Direction::Inverse {
            stages.reverse();
        }
        stages
    }

    /// The encoding chain, `Latent (+ SourceInfo) → AnsBitstream`.
    pub fn encoder(&self) -> Vec<Box<dyn System>> {
        self.stages(Direction::Forward)
    }

    /// The decoding chain, `AnsBitstream → Latent + SourceInfo`.
    pub fn decoder(&self) -> Vec<Box<dyn System>> {
        self.stages(Direction::Inverse)
    }

    /// The arena bytes the chain in `direction` takes for one entity of `shape` on `device`,
    /// its input on the host: the sum of its stages' footprints.
    pub fn footprint(
        &self,
        direction: Direction,
        shape: &EntityShape,
        device: Device,
    ) -> Footprint {
        Footprint::of_chain(&self.stages(direction), shape, device, Location::Cpu)
    }

    /// The shape of a latent's work under this chain: its own size as the image.
    pub fn shape_of(&self, latent: [usize; 3]) -> EntityShape {
        EntityShape {
            image: [
                u32::try_from(latent[2]).unwrap_or(u32::MAX),
                u32::try_from(latent[1]).unwrap_or(u32::MAX),
            ],
            latent,
            levels: self.levels,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inverse_chain_is_the_forward_chain_reversed() {
        let codec = LatentCodec::default();
        let fwd: Vec<&str> = codec.encoder().iter().map(|s| s.name()).collect();
        let inv: Vec<&str> = codec.decoder().iter().map(|s| s.name()).collect();
        assert_eq!(fwd, ["hadamard", "wavelet", "quantize", "rans"]);
        assert_eq!(inv, ["rans⁻¹", "dequantize", "wavelet⁻¹", "hadamard⁻¹"]);
        // Each stage's inverse reads what its forward writes (the chain fits together).
        for (f, i) in codec.encoder().iter().zip(codec.decoder().iter().rev()) {
            for needed in i.required() {
                assert!(
                    f.produced().contains(&needed),
                    "{} needs {}",
                    i.name(),
                    needed.name()
                );
            }
        }
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(LatentCodec::new(0).is_err());
        assert!(LatentCodec::new(101).is_err());
        assert!(LatentCodec::default()
            .with_wavelet(Wavelet::Haar, 0)
            .is_err());
        let c = LatentCodec::new(30)
            .unwrap()
            .with_wavelet(Wavelet::Haar, 2)
            .unwrap();
        assert_eq!(
            (c.quality(), c.wavelet(), c.levels()),
            (30, Wavelet::Haar, 2)
        );
    }

    /// The footprint is what the stages allocate: a CPU encode of a `[4, 8, 8]` latent takes
    /// the Hadamard and wavelet outputs (f32) and the symbols (u8), each rounded to the arena's
    /// alignment; a GPU encode keeps only the symbols on the host.
    #[test]
    fn footprints_add_up_the_stages() {
        let codec = LatentCodec::default();
        let shape = codec.shape_of([4, 8, 8]);
        let n = 256;
        let cpu = codec.footprint(Direction::Forward, &shape, Device::Cpu);
        assert_eq!(
            (cpu.host, cpu.gpu, cpu.output),
            (4 * n + 4 * n + n, 0, Location::Cpu)
        );
        let cpu = codec.footprint(Direction::Inverse, &shape, Device::Cpu);
        assert_eq!((cpu.host, cpu.gpu), (n + 3 * 4 * n, 0));
        let gpu = codec.footprint(Direction::Forward, &shape, Device::Gpu);
        assert_eq!(gpu.host, n);
        assert!(gpu.gpu >= 4 * n * 4, "{gpu:?}");
        let gpu = codec.footprint(Direction::Inverse, &shape, Device::Gpu);
        assert_eq!((gpu.host, gpu.output), (n, Location::Gpu));
    }
}

//! Per-band uniform quantisation of wavelet coefficients to a `u8` alphabet, with the
//! histograms the entropy coder builds its models from, counted on the way.
//!
//! The maths is `reference.rs`'s (see there for the step codes and the symbol mapping); the
//! kernels are `shaders/quantize.wgsl` and `shaders/dequantize.wgsl` (`gpu.rs`), checked against
//! it in `gpu`'s tests. Symbols come out in coding order
//! ([`Symbols`]).

mod allocation;
#[cfg(feature = "gpu")]
mod gpu;
mod reference;

use std::sync::Arc;

use crate::components::{Histograms, QuantParams, Symbols, WaveletPyr};
use crate::core::system::{map_tensors, two_way_system};
use crate::error::{Error, Result};
use crate::layout::bands;
use crate::{DType, Device, Direction, Entity, EntityShape, Footprint, Location, System, World};
pub use allocation::{StepAllocation, MAX_OFFSET};
pub use reference::{check_quality, step_from_code, DEFAULT_QUALITY, MAX_QUALITY, MIN_QUALITY};
pub(crate) use reference::{dequantize_plane, initial_code, quantize_plane, MAX_CENTER};

/// The quantisation system: `WaveletPyr → Symbols + QuantParams + Histograms` forward,
/// `Symbols + QuantParams → WaveletPyr` inverse.
#[derive(Debug, Clone)]
pub struct Quantize {
    direction: Direction,
    quality: u8,
    allocation: Arc<StepAllocation>,
}

impl Quantize {
    /// The system in `direction`; `quality` is the forward direction's (the inverse uses the
    /// parameters each [`QuantParams`] records). A quality outside `1..=100` fails the batch
    /// with [`check_quality`]'s error when the system runs. Steps are uniform across channels
    /// and levels; see [`with_allocation`](Self::with_allocation).
    pub fn new(direction: Direction, quality: u8) -> Self {
        Self {
            direction,
            quality,
            allocation: Arc::default(),
        }
    }

    /// This system with its forward steps spread by `allocation` (a model's calibration).
    pub fn with_allocation(mut self, allocation: Arc<StepAllocation>) -> Self {
        self.allocation = allocation;
        self
    }

    /// Forward at `quality` (`1..=100`).
    pub fn forward(quality: u8) -> Self {
        Self::new(Direction::Forward, quality)
    }

    /// Inverse (dequantisation), with the parameters recorded in `QuantParams`.
    pub fn inverse() -> Self {
        Self::new(Direction::Inverse, DEFAULT_QUALITY)
    }
}

/// What quantising one entity reads, checked (both devices): its f32 coefficients and their
/// shape.
fn forward_input(world: &World, e: Entity) -> Result<(WaveletPyr, [usize; 3])> {
    let p = *world.get::<WaveletPyr>(e)?;
    Ok((p, p.tensor.chw(DType::F32, "WaveletPyr")?))
}

/// What dequantising one entity reads, checked against each other (both devices): its u8
/// symbols, their parameters (one per channel and band) and shape.
fn inverse_input(world: &World, e: Entity) -> Result<(crate::TensorRef, QuantParams, [usize; 3])> {
    let s = world.get::<Symbols>(e)?.tensor;
    let q = world.get::<QuantParams>(e)?.clone();
    let [c, h, w] = s.chw(DType::U8, "Symbols")?;
    let nb = bands(h, w, q.levels).len();
    if q.bands.len() != c * nb {
        return Err(Error::InvalidInput(format!(
            "QuantParams has {} bands, Symbols of shape {:?} need {}",
            q.bands.len(),
            s.shape(),
            c * nb
        )));
    }
    Ok((s, q, [c, h, w]))
}

impl System for Quantize {
    two_way_system! {
        forward "quantize": [WaveletPyr] => [Symbols, QuantParams, Histograms];
        inverse "dequantize": [Symbols, QuantParams] => [WaveletPyr];
    }

    fn uses_gpu(&self) -> bool {
        true
    }

    /// Forward: the u8 symbols on the host (on the GPU also the kernel's output block: the
    /// packed symbols, two parameter words and 256 histogram bins per band). Inverse: the f32
    /// coefficients where the stage runs.
    fn footprint(&self, shape: &EntityShape, device: Device, input: Location) -> Footprint {
        let n = shape.latent_len();
        match (self.direction, device) {
            (Direction::Forward, Device::Gpu) => {
                let [c, h, w] = shape.latent;
                let table = bands(h, w, shape.levels);
                let sym_words: usize = table.iter().map(|b| b.len().div_ceil(4)).sum();
                let block = 4 * c * (258 * table.len() + sym_words);
                Footprint::gpu_stage(input, 4 * n, &[block]).then(Footprint::host(&[n]))
            }
            (Direction::Forward, _) => Footprint::host(&[n]),
            (Direction::Inverse, Device::Gpu) => Footprint::gpu_stage(input, n, &[4 * n]),
            (Direction::Inverse, _) => Footprint::host(&[4 * n]),
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        match self.direction {
            Direction::Forward => quantize(
                world,
                entities,
                check_quality(self.quality)?,
                &self.allocation,
            ),
            Direction::Inverse => dequantize(world, entities),
        }
    }
}

fn quantize(
    world: &mut World,
    entities: &[Entity],
    quality: u8,
    allocation: &StepAllocation,
) -> Result<()> {
    #[cfg(feature = "gpu")]
    if world.device() == Device::Gpu {
        return gpu::quantize(world, entities, quality, allocation);
    }
    let done = map_tensors::<f32, u8, WaveletPyr, (Vec<_>, Vec<[u32; 256]>), _, _>(
        world,
        entities,
        |w, e| {
            let (p, shape) = forward_input(w, e)?;
            allocation.check(shape[0])?;
            Ok((p.tensor, shape.to_vec(), p))
        },
        |x, y, t, p| {
            let (h, w) = (t.shape()[1], t.shape()[2]);
            let table = bands(h, w, p.levels);
            let mut all = Vec::with_capacity(table.len() * t.shape()[0]);
            let mut hists = Vec::with_capacity(table.len() * t.shape()[0]);
            for (ch, (plane, syms)) in x
                .chunks_exact(h * w)
                .zip(y.chunks_exact_mut(h * w))
                .enumerate()
            {
                all.extend(quantize_plane(
                    plane,
                    w,
                    &table,
                    p.wavelet,
                    quality,
                    (allocation, ch),
                    syms,
                    &mut hists,
                )?);
            }
            Ok((all, hists))
        },
    )?;
    for (e, tensor, p, (params, hists)) in done {
        insert_forward(world, e, tensor, &p, (quality, allocation), params, hists)?;
    }
    Ok(())
}

/// Attaches the forward direction's three outputs (both devices).
fn insert_forward(
    world: &mut World,
    e: Entity,
    tensor: crate::TensorRef,
    p: &WaveletPyr,
    (quality, allocation): (u8, &StepAllocation),
    bands: Vec<crate::components::BandQuant>,
    hists: Vec<[u32; 256]>,
) -> Result<()> {
    world.insert(e, Symbols { tensor })?;
    world.insert(e, Histograms(hists))?;
    world.insert(
        e,
        QuantParams {
            quality,
            wavelet: p.wavelet,
            levels: p.levels,
            bands,
            allocation: allocation.clone(),
        },
    )
}

/// Attaches the inverse direction's output (both devices).
fn insert_inverse(
    world: &mut World,
    e: Entity,
    tensor: crate::TensorRef,
    q: &QuantParams,
) -> Result<()> {
    world.insert(
        e,
        WaveletPyr {
            tensor,
            wavelet: q.wavelet,
            levels: q.levels,
        },
    )
}

fn dequantize(world: &mut World, entities: &[Entity]) -> Result<()> {
    #[cfg(feature = "gpu")]
    if world.device() == Device::Gpu {
        return gpu::dequantize(world, entities);
    }
    let done = map_tensors::<u8, f32, QuantParams, (), _, _>(
        world,
        entities,
        |w, e| {
            let (s, q, shape) = inverse_input(w, e)?;
            Ok((s, shape.to_vec(), q))
        },
        |x, y, t, q| {
            let (h, w) = (t.shape()[1], t.shape()[2]);
            let table = bands(h, w, q.levels);
            let per = table.len();
            for (i, (syms, plane)) in x
                .chunks_exact(h * w)
                .zip(y.chunks_exact_mut(h * w))
                .enumerate()
            {
                dequantize_plane(syms, w, &table, &q.bands[i * per..(i + 1) * per], plane);
            }
            Ok(())
        },
    )?;
    for (e, tensor, q, ()) in done {
        insert_inverse(world, e, tensor, &q)?;
    }
    Ok(())
}

//! Hadamard transform across channels: decorrelates each group of 4 latent channels.
//!
//! `H4` is orthonormal and symmetric, so it is its own inverse and preserves energy
//! (quantisation error in `Yuvw` is error in `Latent`). The maths is `reference.rs`'s, the
//! kernel is `shaders/hadamard.wgsl` (`gpu.rs`), checked against each other in `gpu.rs`'s tests.

#[cfg(feature = "gpu")]
mod gpu;
mod reference;

use crate::components::{ChannelTransform, Latent, Yuvw};
use crate::core::system::{map_tensors, two_way_system};
use crate::error::{Error, Result};
use crate::{DType, Device, Direction, Entity, EntityShape, Footprint, Location, System, World};
pub(crate) use reference::hadamard4;

/// The Hadamard system: `Latent → Yuvw + ChannelTransform` forward, `Yuvw → Latent` inverse.
///
/// Forward mixes channels with its [`ChannelTransform`] and records it; with
/// [`ChannelTransform::None`] `Yuvw` is the latent itself (the same tensor, no copy). Inverse
/// undoes what each entity's `ChannelTransform` says (none recorded: `Hadamard4`).
#[derive(Debug, Clone, Copy)]
pub struct Hadamard {
    direction: Direction,
    transform: ChannelTransform,
}

impl Hadamard {
    /// The system in `direction`, mixing with `H4` forward.
    pub fn new(direction: Direction) -> Self {
        Self {
            direction,
            transform: ChannelTransform::Hadamard4,
        }
    }

    /// This system with another forward transform (the inverse reads each entity's own).
    pub fn with_transform(mut self, transform: ChannelTransform) -> Self {
        self.transform = transform;
        self
    }

    /// `Latent → Yuvw`.
    pub fn forward() -> Self {
        Self::new(Direction::Forward)
    }

    /// `Yuvw → Latent`.
    pub fn inverse() -> Self {
        Self::new(Direction::Inverse)
    }
}

/// What the stage reads from one entity, checked (both devices): the f32 `Latent` (forward) or
/// `Yuvw` (inverse) and its `[C, h, w]`, `C` a positive multiple of 4.
fn input(world: &World, e: Entity, dir: Direction) -> Result<(crate::TensorRef, [usize; 3])> {
    let t = match dir {
        Direction::Forward => world.get::<Latent>(e)?.tensor,
        Direction::Inverse => world.get::<Yuvw>(e)?.tensor,
    };
    let shape = t.chw(DType::F32, "the Hadamard stage's input")?;
    if shape[0] % 4 != 0 {
        return Err(Error::InvalidInput(format!(
            "the latent has {} channels; the Hadamard stage needs a multiple of 4",
            shape[0]
        )));
    }
    Ok((t, shape))
}

/// Attaches the stage's output to `e`: `Yuvw` forward, `Latent` inverse.
fn output(world: &mut World, e: Entity, dir: Direction, tensor: crate::TensorRef) -> Result<()> {
    match dir {
        Direction::Forward => world.insert(e, Yuvw { tensor }),
        Direction::Inverse => world.insert(e, Latent { tensor }),
    }
}

impl System for Hadamard {
    two_way_system! {
        forward "hadamard": [Latent] => [Yuvw, ChannelTransform];
        inverse "hadamard⁻¹": [Yuvw] => [Latent];
    }

    fn uses_gpu(&self) -> bool {
        true
    }

    /// One f32 tensor of the latent's shape, where the stage runs.
    /// Forward without mixing, none (the latent passes through); else a tensor the latent's
    /// size (inverse: whatever the entity's transform, which is only known when it runs).
    fn footprint(&self, shape: &EntityShape, device: Device, input: Location) -> Footprint {
        if self.direction == Direction::Forward && self.transform == ChannelTransform::None {
            return Footprint::none(input);
        }
        let bytes = 4 * shape.latent_len();
        match device {
            Device::Gpu => Footprint::gpu_stage(input, bytes, &[bytes]),
            _ => Footprint::host(&[bytes]),
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let dir = self.direction;
        // Which entities this run mixes; the others pass their tensor through.
        let mut mixed = Vec::with_capacity(entities.len());
        for &e in entities {
            let transform = match dir {
                Direction::Forward => {
                    world.insert(e, self.transform)?;
                    self.transform
                }
                Direction::Inverse => world
                    .get::<ChannelTransform>(e)
                    .copied()
                    .unwrap_or_default(),
            };
            if transform == ChannelTransform::Hadamard4 {
                mixed.push(e);
                continue;
            }
            match input(world, e, dir) {
                Ok((tensor, _)) => output(world, e, dir, tensor)?,
                Err(err) => world.record_failure(e, err),
            }
        }
        let entities = &mixed[..];
        #[cfg(feature = "gpu")]
        if world.device() == Device::Gpu {
            return gpu::run(world, entities, dir);
        }
        let done = map_tensors::<f32, f32, (), (), _, _>(
            world,
            entities,
            |w, e| {
                let (t, shape) = input(w, e, dir)?;
                Ok((t, shape.to_vec(), ()))
            },
            |x, y, t, _| {
                let [c, h, w] = [t.shape()[0], t.shape()[1], t.shape()[2]];
                hadamard4(x, y, c, h * w);
                Ok(())
            },
        )?;
        for (e, tensor, (), ()) in done {
            output(world, e, dir, tensor)?;
        }
        Ok(())
    }
}

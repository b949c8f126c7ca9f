//! Hadamard transform across channels: decorrelates each group of 4 latent channels.
//!
//! `H4 = ½·[[1,1,1,1],[1,1,−1,−1],[1,−1,−1,1],[1,−1,1,−1]]` is orthonormal and symmetric, so it
//! is its own inverse and preserves energy (quantisation error in `Yuvw` is error in `Latent`).

use crate::components::{Latent, Yuvw};
use crate::error::{Error, Result};
use crate::system::{map_tensors, Direction, System};
use crate::tensor::TensorRef;
use crate::world::{ComponentId, Entity, World};

/// CPU reference: applies `H4` per pixel to each group of 4 channels of a `[C, h·w]` plane set.
/// `x` and `y` hold `channels * plane` values; `channels` must be a multiple of 4.
pub fn hadamard4(x: &[f32], y: &mut [f32], channels: usize, plane: usize) {
    debug_assert_eq!(channels % 4, 0);
    debug_assert_eq!(x.len(), channels * plane);
    for g in 0..channels / 4 {
        let base = 4 * g * plane;
        let (x0, rest) = x[base..base + 4 * plane].split_at(plane);
        let (x1, rest) = rest.split_at(plane);
        let (x2, x3) = rest.split_at(plane);
        let (y0, rest) = y[base..base + 4 * plane].split_at_mut(plane);
        let (y1, rest) = rest.split_at_mut(plane);
        let (y2, y3) = rest.split_at_mut(plane);
        for p in 0..plane {
            let (a, b, c, d) = (x0[p], x1[p], x2[p], x3[p]);
            y0[p] = 0.5 * ((a + b) + (c + d));
            y1[p] = 0.5 * ((a + b) - (c + d));
            y2[p] = 0.5 * ((a - b) - (c - d));
            y3[p] = 0.5 * ((a - b) + (c - d));
        }
    }
}

/// Validates a `[C, h, w]` f32 latent-like tensor for the Hadamard stage.
pub(crate) fn check_chw(t: &TensorRef, what: &str) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [c, h, w] if c > 0 && c % 4 == 0 && h > 0 && w > 0 => Ok((c, h, w)),
        [c, _, _] if c % 4 != 0 || c == 0 => Err(Error::InvalidInput(format!(
            "{what} has {c} channels; the Hadamard stage needs a positive multiple of 4"
        ))),
        _ => Err(Error::InvalidInput(format!(
            "{what} must be a non-empty [C, h, w] tensor, got shape {:?}",
            t.shape()
        ))),
    }
}

/// What the stage reads from one entity, checked (both devices): the f32 `Latent` (forward) or
/// `Yuvw` (inverse) and its `(C, h, w)`.
fn input(world: &World, e: Entity, dir: Direction) -> Result<(TensorRef, (usize, usize, usize))> {
    let t = match dir {
        Direction::Forward => world.get::<Latent>(e)?.tensor,
        Direction::Inverse => world.get::<Yuvw>(e)?.tensor,
    };
    if t.dtype != crate::tensor::DType::F32 {
        return Err(Error::InvalidInput("the Hadamard stage needs f32".into()));
    }
    Ok((t, check_chw(&t, "latent")?))
}

/// Attaches the stage's output to `e`: `Yuvw` forward, `Latent` inverse.
fn output(world: &mut World, e: Entity, dir: Direction, tensor: TensorRef) -> Result<()> {
    match dir {
        Direction::Forward => world.insert(e, Yuvw { tensor }),
        Direction::Inverse => world.insert(e, Latent { tensor }),
    }
}

/// The Hadamard system: `Latent → Yuvw` forward, `Yuvw → Latent` inverse.
#[derive(Debug, Clone, Copy)]
pub struct Hadamard {
    direction: Direction,
}

impl Hadamard {
    /// `Latent → Yuvw`.
    pub fn forward() -> Self {
        Self {
            direction: Direction::Forward,
        }
    }

    /// `Yuvw → Latent`.
    pub fn inverse() -> Self {
        Self {
            direction: Direction::Inverse,
        }
    }
}

impl System for Hadamard {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "hadamard",
            Direction::Inverse => "hadamard⁻¹",
        }
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn uses_gpu(&self) -> bool {
        true
    }

    fn required(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<Latent>()],
            Direction::Inverse => vec![ComponentId::of::<Yuvw>()],
        }
    }

    fn produced(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<Yuvw>()],
            Direction::Inverse => vec![ComponentId::of::<Latent>()],
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let dir = self.direction;
        #[cfg(feature = "gpu")]
        if world.device() == crate::device::Device::Gpu {
            return gpu::run(world, entities, dir);
        }
        let done = map_tensors::<f32, f32, (), (), _, _>(
            world,
            entities,
            |w, e| {
                let (t, _) = input(w, e, dir)?;
                Ok((t, t.shape().to_vec(), ()))
            },
            |x, y, t, _| {
                hadamard4(x, y, t.shape()[0], t.shape()[1] * t.shape()[2]);
                Ok(())
            },
        )?;
        for (e, tensor, (), ()) in done {
            output(world, e, dir, tensor)?;
        }
        Ok(())
    }
}

/// The GPU path: `shaders/hadamard.wgsl`, the kernel of [`hadamard4`].
#[cfg(feature = "gpu")]
pub(crate) mod gpu {
    use super::*;
    use crate::gpu::{groups_for, job_grid, u32_of, Kernel};
    use crate::tensor::DType;

    /// One entry per (entity, group of 4 channels); `HadamardDesc` in `shaders/hadamard.wgsl`.
    #[repr(C)]
    #[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    pub(crate) struct HadamardDesc {
        /// Word index of the group's first input plane.
        pub src: u32,
        /// Word index of the group's first output plane.
        pub dst: u32,
        /// Plane length (`h · w`).
        pub plane: u32,
    }

    const KERNEL: Kernel = Kernel {
        name: "hadamard",
        source: include_str!("shaders/hadamard.wgsl"),
        entry: "main",
    };

    /// The whole batch in one dispatch; inputs still on the host are uploaded first (one upload).
    pub(crate) fn run(world: &mut World, entities: &[Entity], dir: Direction) -> Result<()> {
        let mut jobs = Vec::new();
        for &e in entities {
            match input(world, e, dir) {
                Ok(j) => jobs.push((e, j)),
                Err(err) => world.record_failure(e, err),
            }
        }
        if jobs.is_empty() {
            return Ok(());
        }
        let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (t, _))| *t).collect();
        let inputs = world.to_gpu(&inputs)?;
        let gpu = world.gpu_or_err()?;
        let (mut descs, mut outs, mut longest) = (Vec::new(), Vec::new(), 0);
        for ((_, (_, (c, h, w))), input) in jobs.iter().zip(&inputs) {
            let out = gpu.alloc(DType::F32, input.shape())?;
            let (src, dst, plane) = (gpu.word(input)? as usize, gpu.word(&out)? as usize, h * w);
            for g in 0..c / 4 {
                descs.push(HadamardDesc {
                    src: u32_of(src + 4 * g * plane, "latent offset")?,
                    dst: u32_of(dst + 4 * g * plane, "latent offset")?,
                    plane: u32_of(plane, "plane size")?,
                });
            }
            longest = longest.max(plane);
            outs.push(out);
        }
        let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
        gpu.dispatch(&KERNEL, &descs, grid)?;
        for ((e, _), tensor) in jobs.into_iter().zip(outs) {
            output(world, e, dir, tensor)?;
        }
        Ok(())
    }

    #[cfg(test)]
    #[test]
    fn descriptor_matches_the_shader() {
        let d = HadamardDesc {
            src: 0,
            dst: 1,
            plane: 2,
        };
        crate::gpu::layout::assert_same(d, KERNEL.source, "HadamardDesc", &["src", "dst", "plane"]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_matrix_and_is_its_own_inverse() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        hadamard4(&x, &mut y, 4, 1);
        assert_eq!(y, [5.0, -2.0, 0.0, -1.0]);
        let mut z = [0.0; 4];
        hadamard4(&y, &mut z, 4, 1);
        assert_eq!(z, x);
    }
}

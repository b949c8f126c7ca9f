//! The lifting wavelet stage (CDF 5/3 and Haar), multi-level, Mallat layout, any size.
//!
//! The maths is `reference.rs`'s, the kernel is `shaders/wavelet.wgsl` (`gpu.rs`), checked
//! against each other in `gpu.rs`'s tests; the band layout is [`crate::layout`].

#[cfg(feature = "gpu")]
mod gpu;
mod reference;

use crate::components::{WaveletPyr, Yuvw};
use crate::core::system::{map_tensors, two_way_system};
use crate::error::Result;
use crate::layout::{max_levels, Wavelet};
use crate::{
    DType, Device, Direction, Entity, EntityShape, Footprint, Location, System, TensorRef, World,
};
pub(crate) use reference::{forward_2d, inverse_2d};

/// The wavelet system: `Yuvw → WaveletPyr` forward, `WaveletPyr → Yuvw` inverse.
#[derive(Debug, Clone, Copy)]
pub struct WaveletTransform {
    direction: Direction,
    wavelet: Wavelet,
    levels: u8,
}

impl WaveletTransform {
    /// The system in `direction`; `wavelet` and `levels` are the forward transform's (the
    /// inverse uses what each [`WaveletPyr`] records).
    pub fn new(direction: Direction, wavelet: Wavelet, levels: u8) -> Self {
        Self {
            direction,
            wavelet,
            levels,
        }
    }

    /// `Yuvw → WaveletPyr` with `levels` levels (clamped per entity so no band is empty).
    pub fn forward(wavelet: Wavelet, levels: u8) -> Self {
        Self::new(Direction::Forward, wavelet, levels)
    }

    /// `WaveletPyr → Yuvw`, using the wavelet and levels recorded in each `WaveletPyr`.
    pub fn inverse() -> Self {
        Self::new(Direction::Inverse, Wavelet::Cdf53, 0)
    }

    /// The system's name, for messages from code that holds it as itself.
    #[cfg(feature = "check_gpu")]
    fn name_of(&self) -> &'static str {
        System::name(self)
    }
}

/// One entity's run, checked (both devices): the f32 input (`Yuvw` forward, `WaveletPyr`
/// inverse), the wavelet and levels to use (forward: the system's, clamped to the size;
/// inverse: the pyramid's own) and the `[C, h, w]`.
#[derive(Debug, Clone, Copy)]
struct Job {
    input: TensorRef,
    wavelet: Wavelet,
    levels: u8,
    shape: [usize; 3],
}

fn input(world: &World, e: Entity, sys: &WaveletTransform) -> Result<Job> {
    let (input, wavelet, levels) = match sys.direction {
        Direction::Forward => (world.get::<Yuvw>(e)?.tensor, sys.wavelet, sys.levels),
        Direction::Inverse => {
            let p = world.get::<WaveletPyr>(e)?;
            (p.tensor, p.wavelet, p.levels)
        }
    };
    let shape = input.chw(DType::F32, "the wavelet stage's input")?;
    Ok(Job {
        input,
        wavelet,
        levels: levels.min(max_levels(shape[1], shape[2])),
        shape,
    })
}

/// Attaches a run's output to `e`: `WaveletPyr` forward, `Yuvw` inverse.
fn output(
    world: &mut World,
    e: Entity,
    dir: Direction,
    job: &Job,
    tensor: TensorRef,
) -> Result<()> {
    match dir {
        Direction::Forward => world.insert(
            e,
            WaveletPyr {
                tensor,
                wavelet: job.wavelet,
                levels: job.levels,
            },
        ),
        Direction::Inverse => world.insert(e, Yuvw { tensor }),
    }
}

impl System for WaveletTransform {
    two_way_system! {
        forward "wavelet": [Yuvw] => [WaveletPyr];
        inverse "wavelet⁻¹": [WaveletPyr] => [Yuvw];
    }

    fn uses_gpu(&self) -> bool {
        true
    }

    /// The output; on the GPU also a scratch tensor, both f32 of the latent's shape.
    fn footprint(&self, shape: &EntityShape, device: Device, input: Location) -> Footprint {
        let bytes = 4 * shape.latent_len();
        match device {
            Device::Gpu => Footprint::gpu_stage(input, bytes, &[bytes, bytes]),
            _ => Footprint::host(&[bytes]),
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let dir = self.direction;
        #[cfg(feature = "gpu")]
        if world.device() == Device::Gpu {
            return gpu::run(world, entities, self);
        }
        let done = map_tensors::<f32, f32, Job, (), _, _>(
            world,
            entities,
            |w, e| {
                let job = input(w, e, self)?;
                Ok((job.input, job.shape.to_vec(), job))
            },
            |x, y, _, job| {
                let [_, h, w] = job.shape;
                y.copy_from_slice(x);
                for plane in y.chunks_exact_mut(h * w) {
                    match dir {
                        Direction::Forward => {
                            forward_2d(job.wavelet, plane, h, w, job.levels);
                        }
                        Direction::Inverse => inverse_2d(job.wavelet, plane, h, w, job.levels),
                    }
                }
                Ok(())
            },
        )?;
        for (e, tensor, job, ()) in done {
            output(world, e, dir, &job, tensor)?;
        }
        Ok(())
    }
}

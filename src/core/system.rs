//! Systems: the stages of the codec, each declaring what it needs, what it produces and how
//! much arena memory it takes per entity.

use super::arena::Arena;
use super::device::Device;
use super::entity::{ComponentId, Entity};
use super::tensor::{Element, Location, TensorRef};
use super::world::World;
use crate::error::Result;

/// Which way a system runs: encoding (`Forward`) or decoding (`Inverse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The encoding direction (image → stream).
    Forward,
    /// The decoding direction (stream → image).
    Inverse,
}

/// A stage that transforms components of a batch of entities.
///
/// `run` processes every entity of the batch, as few passes as possible (the CPU systems run
/// entities in parallel with rayon; GPU systems record one dispatch per kernel per level). A
/// problem with one entity (a corrupt stream in a batch) is recorded with
/// [`World::record_failure`] and does not fail the call; `Err` is for failures of the whole batch.
pub trait System {
    /// Short name for reports and errors.
    fn name(&self) -> &'static str;

    /// The direction this instance runs in.
    fn direction(&self) -> Direction;

    /// Components every entity must have (or an earlier system must produce) before `run`.
    fn required(&self) -> Vec<ComponentId>;

    /// Components `run` attaches to every entity it succeeds on.
    fn produced(&self) -> Vec<ComponentId>;

    /// Processes the batch.
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()>;

    /// Whether this system runs on the world's GPU when it has one (Hadamard, wavelet,
    /// quantisation); the others always run on the CPU. Used for reports and traces.
    fn uses_gpu(&self) -> bool {
        false
    }

    /// The arena bytes `run` allocates for one entity of `shape` in a world whose GPU-capable
    /// systems run on `device`, when the entity's input lies in `input`; and where its output
    /// lies. Callers size arenas and split batches with it (see [`Footprint::of_chain`]).
    /// The default is a system that allocates nothing and leaves its input where it is.
    fn footprint(&self, shape: &EntityShape, device: Device, input: Location) -> Footprint {
        let _ = (shape, device);
        Footprint::none(input)
    }
}

/// What one entity's work looks like, for sizing: the image it comes from or becomes, and its
/// latent. Made by the code that knows the work ([`LatentCodec::shape_of`](crate::LatentCodec::shape_of),
/// [`latent::stream::shape_of`](crate::latent::stream::shape_of)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntityShape {
    /// Width and height of the image (a bare latent: its own width and height).
    pub image: [u32; 2],
    /// The latent `[C, h, w]`.
    pub latent: [usize; 3],
    /// Wavelet levels asked for (clamped to the latent's size, as the wavelet clamps them).
    pub levels: u8,
}

impl EntityShape {
    /// Number of latent values.
    pub fn latent_len(&self) -> usize {
        self.latent.iter().product()
    }

    /// Number of image pixels.
    pub fn pixels(&self) -> usize {
        self.image[0] as usize * self.image[1] as usize
    }
}

/// Arena bytes one system (or chain of systems) takes for one entity, in the host arena and in
/// the GPU arena, and where its output lies. Made with [`Footprint::none`], [`Footprint::host`],
/// [`Footprint::gpu`], [`Footprint::gpu_stage`] and [`Footprint::then`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Bytes in the host arena.
    pub host: usize,
    /// Bytes in the GPU arena.
    pub gpu: usize,
    /// Where the output tensors lie.
    pub output: Location,
}

/// The largest allocation alignment a GPU arena uses (WebGPU's bound on
/// `min_storage_buffer_offset_alignment`).
const GPU_ALIGN_MAX: usize = 256;

impl Footprint {
    /// No allocation; the output lies where the input did.
    pub fn none(at: Location) -> Self {
        Self {
            host: 0,
            gpu: 0,
            output: at,
        }
    }

    /// Host tensors of these byte sizes (each rounded up to the arena's alignment), output on
    /// the host.
    pub fn host(tensors: &[usize]) -> Self {
        Self {
            host: tensors
                .iter()
                .map(|b| b.div_ceil(Arena::ALIGN) * Arena::ALIGN)
                .sum(),
            gpu: 0,
            output: Location::Cpu,
        }
    }

    /// GPU tensors of these byte sizes (each rounded up to the largest GPU alignment), output
    /// on the GPU.
    pub fn gpu(tensors: &[usize]) -> Self {
        Self {
            host: 0,
            gpu: tensors
                .iter()
                .map(|&b| b.max(1).div_ceil(GPU_ALIGN_MAX) * GPU_ALIGN_MAX)
                .sum(),
            output: Location::Gpu,
        }
    }

    /// A GPU stage's footprint: its own GPU tensors `tensors`, plus the upload of its input
    /// (`input_bytes`) when that input is still on the host.
    pub fn gpu_stage(input: Location, input_bytes: usize, tensors: &[usize]) -> Self {
        let mut f = Self::gpu(tensors);
        if input == Location::Cpu {
            f.gpu += Self::gpu(&[input_bytes]).gpu;
        }
        f
    }

    /// This footprint followed by `next`: bytes add up, the output is `next`'s.
    pub fn then(self, next: Footprint) -> Self {
        Self {
            host: self.host + next.host,
            gpu: self.gpu + next.gpu,
            output: next.output,
        }
    }

    /// The footprint of running `systems` in order on one entity of `shape` whose input lies
    /// in `input`: each system is told where the previous one left its output.
    pub fn of_chain(
        systems: &[Box<dyn System + '_>],
        shape: &EntityShape,
        device: Device,
        input: Location,
    ) -> Self {
        systems.iter().fold(Self::none(input), |acc, s| {
            acc.then(s.footprint(shape, device, acc.output))
        })
    }
}

impl<S: System + ?Sized> System for Box<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn direction(&self) -> Direction {
        (**self).direction()
    }
    fn required(&self) -> Vec<ComponentId> {
        (**self).required()
    }
    fn produced(&self) -> Vec<ComponentId> {
        (**self).produced()
    }
    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        (**self).run(world, entities)
    }
    fn uses_gpu(&self) -> bool {
        (**self).uses_gpu()
    }
    fn footprint(&self, shape: &EntityShape, device: Device, input: Location) -> Footprint {
        (**self).footprint(shape, device, input)
    }
}

/// The name, direction, requirements and products of a system that runs both ways, written as
/// the data flow it is: `forward "name": [reads] => [writes]; inverse "name": [reads] => [writes]`.
/// The system has a `direction: Direction` field.
macro_rules! two_way_system {
    (
        forward $fname:literal: [$($fr:ty),*] => [$($fw:ty),*];
        inverse $iname:literal: [$($ir:ty),*] => [$($iw:ty),*];
    ) => {
        fn name(&self) -> &'static str {
            match self.direction {
                $crate::Direction::Forward => $fname,
                $crate::Direction::Inverse => $iname,
            }
        }

        fn direction(&self) -> $crate::Direction {
            self.direction
        }

        fn required(&self) -> Vec<$crate::ComponentId> {
            match self.direction {
                $crate::Direction::Forward => vec![$($crate::ComponentId::of::<$fr>()),*],
                $crate::Direction::Inverse => vec![$($crate::ComponentId::of::<$ir>()),*],
            }
        }

        fn produced(&self) -> Vec<$crate::ComponentId> {
            match self.direction {
                $crate::Direction::Forward => vec![$($crate::ComponentId::of::<$fw>()),*],
                $crate::Direction::Inverse => vec![$($crate::ComponentId::of::<$iw>()),*],
            }
        }
    };
}
pub(crate) use two_way_system;

/// `prepare(world, e)` for every entity: the ones that succeed with their job, in order; each
/// failure is recorded as that entity's, and the batch goes on.
pub(crate) fn prepare_each<J>(
    world: &mut World,
    entities: &[Entity],
    prepare: impl Fn(&World, Entity) -> Result<J>,
) -> Vec<(Entity, J)> {
    let mut jobs = Vec::with_capacity(entities.len());
    for &e in entities {
        match prepare(world, e) {
            Ok(job) => jobs.push((e, job)),
            Err(err) => world.record_failure(e, err),
        }
    }
    jobs
}

/// The common shape of a tensor-to-tensor stage: for every entity, read one input tensor, allocate
/// an output tensor, and run `kernel(input, output, input_ref, extra)` on all entities in parallel
/// (rayon).
///
/// `prepare` reads the entity's input and returns `(input, output shape, extra)`. An `Err` from
/// `prepare` or from `kernel` is that entity's failure, recorded in the world. Returns every
/// successful entity with its output tensor, extra data and kernel result.
pub(crate) fn map_tensors<I, O, X, R, P, K>(
    world: &mut World,
    entities: &[Entity],
    prepare: P,
    kernel: K,
) -> Result<Vec<(Entity, TensorRef, X, R)>>
where
    I: Element,
    O: Element,
    X: Send + Sync,
    R: Send,
    P: Fn(&World, Entity) -> Result<(TensorRef, Vec<usize>, X)>,
    K: Fn(&[I], &mut [O], &TensorRef, &X) -> Result<R> + Sync,
{
    use rayon::prelude::*;
    let jobs = prepare_each(world, entities, prepare);
    let mut outputs = Vec::with_capacity(jobs.len());
    for (_, (_, shape, _)) in &jobs {
        outputs.push(world.arena_mut().alloc(O::DTYPE, shape)?);
    }
    let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (t, _, _))| *t).collect();
    let results: Vec<Result<R>> = {
        let (ins, mut outs) = world.arena_mut().batch_views::<I, O>(&inputs, &outputs)?;
        ins.par_iter()
            .zip(outs.par_iter_mut())
            .zip(jobs.par_iter())
            .map(|((i, o), (_, (t, _, x)))| kernel(i, o, t, x))
            .collect()
    };
    let mut done = Vec::with_capacity(jobs.len());
    for (((e, (_, _, x)), o), r) in jobs.into_iter().zip(outputs).zip(results) {
        match r {
            Ok(r) => done.push((e, o, x, r)),
            Err(err) => world.record_failure(e, err),
        }
    }
    Ok(done)
}

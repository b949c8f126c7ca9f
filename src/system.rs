//! Systems: the stages of the codec, each declaring what it needs and what it produces.

use crate::error::Result;
use crate::tensor::{Element, TensorRef};
use crate::world::{ComponentId, Entity, World};

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
    let mut jobs = Vec::with_capacity(entities.len());
    for &e in entities {
        match prepare(world, e) {
            Ok(job) => jobs.push((e, job)),
            Err(err) => world.record_failure(e, err),
        }
    }
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

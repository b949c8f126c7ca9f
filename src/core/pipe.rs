//! The fluent pipe: `world.pipe(e).to(a).to(b).out::<T>()`.
//!
//! A pipe is built first and checked as a whole before anything runs: every system's
//! requirements must be met by the entities or by an earlier step, otherwise
//! [`Error::UnmetRequirements`] names the system and the missing components.
//!
//! Branches: `.select::<T>()` marks a branch point (it keeps each entity's `T` as it is at that
//! point); `.use_::<T>()` later puts that `T` back, so the steps after it run from the branch
//! point again. Components hold handles, so a branch costs no tensor copies.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::device::Device;
use super::entity::{Component, ComponentId, Entity};
use super::system::{Direction, System};
use super::trace::TraceRow;
use super::world::World;
use crate::error::{Error, Result};

type Snapshot = Box<dyn Any>;
type TakeSnapshot = fn(&World, &[Entity]) -> Snapshot;
type Restore = fn(&mut World, &Snapshot) -> Result<()>;

enum Step<'w> {
    Run(Box<dyn System + 'w>),
    Select(ComponentId, TakeSnapshot),
    Use(ComponentId, Restore),
}

/// What one step of a pipe did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StepReport {
    /// System name, or `select<T>`/`use<T>` for branch steps.
    pub step: String,
    /// The system's direction (none for branch steps).
    pub direction: Option<Direction>,
    /// Entities the step ran on (failed entities are skipped).
    pub entities: usize,
    /// Component names the step produced.
    pub produced: Vec<&'static str>,
    /// Where the step ran.
    pub device: Device,
    /// Wall time of the step. A GPU step only records its work unless the world is profiling
    /// ([`World::set_profiling`]); otherwise its GPU time lands in the step that reads back.
    pub elapsed: Duration,
}

/// What a whole pipe run did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct PipeReport {
    /// One entry per step, in order.
    pub steps: Vec<StepReport>,
    /// Entities that failed, with the first error each hit. They were skipped by later steps.
    pub failures: Vec<(Entity, Error)>,
}

impl World {
    /// A pipe over one entity: `world.pipe(e).to(system)...out::<T>()`.
    pub fn pipe(&mut self, e: Entity) -> Pipe<'_> {
        Pipe::new(self, vec![e])
    }

    /// A pipe over a batch of entities; systems process the whole batch per step.
    pub fn pipe_batch(&mut self, entities: &[Entity]) -> Pipe<'_> {
        Pipe::new(self, entities.to_vec())
    }
}

/// A sequence of systems over a set of entities. Built by [`World::pipe`] and
/// [`World::pipe_batch`].
pub struct Pipe<'w> {
    world: &'w mut World,
    entities: Vec<Entity>,
    steps: Vec<Step<'w>>,
}

impl<'w> Pipe<'w> {
    pub(crate) fn new(world: &'w mut World, entities: Vec<Entity>) -> Self {
        Self {
            world,
            entities,
            steps: Vec::new(),
        }
    }

    /// Appends a system.
    pub fn to<S: System + 'w>(mut self, system: S) -> Self {
        self.steps.push(Step::Run(Box::new(system)));
        self
    }

    /// Appends every system of `chain`, in order: a whole stage chain at once, such as
    /// [`LatentCodec::encoder`](crate::LatentCodec::encoder).
    pub fn chain(mut self, chain: impl IntoIterator<Item = Box<dyn System + 'w>>) -> Self {
        self.steps.extend(chain.into_iter().map(Step::Run));
        self
    }

    /// Marks a branch point: keeps every entity's `T` as it is here, for a later
    /// [`use_`](Self::use_).
    pub fn select<T: Component>(mut self) -> Self {
        fn take<T: Component>(world: &World, entities: &[Entity]) -> Snapshot {
            let kept: Vec<(Entity, T)> = entities
                .iter()
                .filter_map(|&e| world.get::<T>(e).ok().map(|v| (e, v.clone())))
                .collect();
            Box::new(kept)
        }
        self.steps.push(Step::Select(
            ComponentId::of::<T>(),
            take::<T> as TakeSnapshot,
        ));
        self
    }

    /// Returns to the branch point of the last `select::<T>()`: puts the kept `T` back on every
    /// entity, so the following systems start from it.
    pub fn use_<T: Component>(mut self) -> Self {
        fn restore<T: Component>(world: &mut World, snap: &Snapshot) -> Result<()> {
            let kept = snap.downcast_ref::<Vec<(Entity, T)>>().ok_or_else(|| {
                Error::Internal(format!(
                    "use_::<{}>(): the snapshot has another type",
                    T::NAME
                ))
            })?;
            for (e, v) in kept {
                if world.contains(*e) {
                    world.insert(*e, v.clone())?;
                }
            }
            Ok(())
        }
        self.steps
            .push(Step::Use(ComponentId::of::<T>(), restore::<T> as Restore));
        self
    }

    /// Checks every step's requirements against the entities and earlier steps.
    /// Returns the components available after the last step.
    fn check(&self) -> Result<HashSet<ComponentId>> {
        for &e in &self.entities {
            if !self.world.contains(e) {
                return Err(Error::NoSuchEntity(e));
            }
        }
        let mut produced: HashSet<ComponentId> = HashSet::new();
        let mut selected: HashSet<ComponentId> = HashSet::new();
        let world = &*self.world;
        let unmet = |needed: &[ComponentId], produced: &HashSet<ComponentId>| {
            self.entities.iter().find_map(|&e| {
                let missing: Vec<&'static str> = needed
                    .iter()
                    .filter(|id| !produced.contains(id) && !world.has_id(e, **id))
                    .map(ComponentId::name)
                    .collect();
                (!missing.is_empty()).then_some((e, missing))
            })
        };
        for step in &self.steps {
            match step {
                Step::Run(sys) => {
                    if let Some((entity, missing)) = unmet(&sys.required(), &produced) {
                        return Err(Error::UnmetRequirements {
                            system: sys.name(),
                            entity,
                            missing,
                        });
                    }
                    produced.extend(sys.produced());
                }
                Step::Select(id, _) => {
                    if let Some((entity, missing)) = unmet(&[*id], &produced) {
                        return Err(Error::UnmetRequirements {
                            system: "select",
                            entity,
                            missing,
                        });
                    }
                    selected.insert(*id);
                }
                Step::Use(id, _) => {
                    if !selected.contains(id) {
                        return Err(Error::InvalidInput(format!(
                            "use_::<{0}>() needs an earlier select::<{0}>() in the same pipe",
                            id.name()
                        )));
                    }
                }
            }
        }
        Ok(produced)
    }

    /// Checks, then runs every step over the batch. Entities that fail are skipped by later
    /// steps and listed in the report; an `Err` means the whole batch could not run.
    pub fn execute(mut self) -> Result<PipeReport> {
        self.check()?;
        self.run_steps()
    }

    fn run_steps(&mut self) -> Result<PipeReport> {
        let world = &mut *self.world;
        let mut report = PipeReport::default();
        let mut snapshots: HashMap<ComponentId, Snapshot> = HashMap::new();
        for step in std::mem::take(&mut self.steps) {
            let live: Vec<Entity> = self
                .entities
                .iter()
                .copied()
                .filter(|e| world.failure(*e).is_none())
                .collect();
            let start = Instant::now();
            let mut device = Device::Cpu;
            let (name, direction, produced) = match &step {
                Step::Run(sys) => {
                    if sys.uses_gpu() {
                        device = world.device();
                    }
                    let span = tracing::debug_span!(
                        "system",
                        name = sys.name(),
                        entities = live.len(),
                        device = %device
                    );
                    let _guard = span.enter();
                    if !live.is_empty() {
                        sys.run(world, &live)?;
                        if device == Device::Gpu && world.profiling() {
                            world.finish_gpu()?;
                        }
                    }
                    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1e3, "done");
                    let produced = sys.produced().iter().map(ComponentId::name).collect();
                    (sys.name().to_string(), Some(sys.direction()), produced)
                }
                Step::Select(id, take) => {
                    snapshots.insert(*id, take(world, &live));
                    (format!("select<{}>", id.name()), None, Vec::new())
                }
                Step::Use(id, restore) => {
                    if let Some(snap) = snapshots.get(id) {
                        restore(world, snap)?;
                    }
                    (format!("use<{}>", id.name()), None, vec![id.name()])
                }
            };
            let step = StepReport {
                step: name,
                direction,
                entities: live.len(),
                produced,
                device,
                elapsed: start.elapsed(),
            };
            if direction.is_some() {
                world.record_run(TraceRow::new(
                    step.step.clone(),
                    step.device.to_string(),
                    step.entities,
                    step.elapsed.as_secs_f64() * 1e3,
                ));
            }
            report.steps.push(step);
        }
        for &e in &self.entities {
            if let Some(err) = world.take_failure(e) {
                report.failures.push((e, err));
            }
        }
        Ok(report)
    }

    /// Runs the pipe over its single entity and returns that entity's `T`.
    ///
    /// With several entities use [`outs`](Self::outs). If the entity failed, its error is
    /// returned.
    pub fn out<T: Component>(self) -> Result<T> {
        if self.entities.len() != 1 {
            return Err(Error::InvalidInput(format!(
                "out::<{}>() needs a pipe over one entity, this one has {}; use outs()",
                T::NAME,
                self.entities.len()
            )));
        }
        let mut outs = self.outs::<T>()?;
        outs.pop().unwrap_or_else(|| {
            Err(Error::Internal(
                "a pipe over one entity gave no result".into(),
            ))
        })
    }

    /// Runs the pipe over the batch and returns every entity's `T`, or the error that entity hit.
    pub fn outs<T: Component>(mut self) -> Result<Vec<Result<T>>> {
        let produced = self.check()?;
        let id = ComponentId::of::<T>();
        if !produced.contains(&id) {
            if let Some(&e) = self.entities.iter().find(|e| !self.world.has_id(**e, id)) {
                return Err(Error::UnmetRequirements {
                    system: "out",
                    entity: e,
                    missing: vec![T::NAME],
                });
            }
        }
        let report = self.run_steps()?;
        let mut failures: HashMap<Entity, Error> = report.failures.into_iter().collect();
        Ok(self
            .entities
            .iter()
            .map(|e| match failures.remove(e) {
                Some(err) => Err(err),
                None => self.world.get::<T>(*e).cloned(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct A(i32);
    impl Component for A {
        const NAME: &'static str = "A";
    }
    #[derive(Clone, Debug, PartialEq)]
    struct B(i32);
    impl Component for B {
        const NAME: &'static str = "B";
    }

    /// A → B, doubling; fails on negative values (per entity).
    struct Double;
    impl System for Double {
        fn name(&self) -> &'static str {
            "double"
        }
        fn direction(&self) -> Direction {
            Direction::Forward
        }
        fn required(&self) -> Vec<ComponentId> {
            vec![ComponentId::of::<A>()]
        }
        fn produced(&self) -> Vec<ComponentId> {
            vec![ComponentId::of::<B>()]
        }
        fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
            for &e in entities {
                let a = world.get::<A>(e)?.0;
                if a < 0 {
                    world.record_failure(e, Error::InvalidInput(format!("negative {a}")));
                } else {
                    world.insert(e, B(a * 2))?;
                }
            }
            Ok(())
        }
    }

    /// B → A, adding one.
    struct Inc;
    impl System for Inc {
        fn name(&self) -> &'static str {
            "inc"
        }
        fn direction(&self) -> Direction {
            Direction::Forward
        }
        fn required(&self) -> Vec<ComponentId> {
            vec![ComponentId::of::<B>()]
        }
        fn produced(&self) -> Vec<ComponentId> {
            vec![ComponentId::of::<A>()]
        }
        fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
            for &e in entities {
                let b = world.get::<B>(e)?.0;
                world.insert(e, A(b + 1))?;
            }
            Ok(())
        }
    }

    #[test]
    fn requirements_are_checked_before_anything_runs() {
        let mut w = World::with_arena_capacity(1024);
        let e = w.spawn();
        let err = w.pipe(e).to(Inc).to(Double).execute().unwrap_err();
        match err {
            Error::UnmetRequirements {
                system, missing, ..
            } => {
                assert_eq!(system, "inc");
                assert_eq!(missing, vec!["B"]);
            }
            other => panic!("unexpected {other}"),
        }
        assert!(!w.has::<A>(e), "nothing ran");
    }

    #[test]
    fn earlier_steps_satisfy_later_requirements() {
        let mut w = World::with_arena_capacity(1024);
        let e = w.spawn();
        w.insert(e, A(3)).unwrap();
        let a = w.pipe(e).to(Double).to(Inc).out::<A>().unwrap();
        assert_eq!(a, A(7));
    }

    #[test]
    fn a_failing_entity_does_not_sink_the_batch() {
        let mut w = World::with_arena_capacity(1024);
        let es: Vec<Entity> = [1, -1, 2].iter().map(|_| w.spawn()).collect();
        for (e, v) in es.iter().zip([1, -1, 2]) {
            w.insert(*e, A(v)).unwrap();
        }
        let outs = w.pipe_batch(&es).to(Double).to(Inc).outs::<A>().unwrap();
        assert_eq!(outs[0].as_ref().unwrap(), &A(3));
        assert!(matches!(outs[1], Err(Error::InvalidInput(_))));
        assert_eq!(outs[2].as_ref().unwrap(), &A(5));
    }

    #[test]
    fn select_and_use_branch_from_a_kept_component() {
        let mut w = World::with_arena_capacity(1024);
        let e = w.spawn();
        w.insert(e, A(1)).unwrap();
        // A=1 → B=2 (branch point) → A=3 → B=6 ; back to B=2 → A=3.
        let report = w
            .pipe(e)
            .to(Double)
            .select::<B>()
            .to(Inc)
            .to(Double)
            .use_::<B>()
            .to(Inc)
            .execute()
            .unwrap();
        assert_eq!(w.get::<B>(e).unwrap(), &B(2));
        assert_eq!(w.get::<A>(e).unwrap(), &A(3));
        assert_eq!(report.steps.len(), 6);
        let err = w.pipe(e).use_::<B>().execute().unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
    }
}

//! The `World`: entities, their typed components, and the arena their tensors live in.
//!
//! A small typed store of our own rather than a general ECS crate: a codec world holds batches of
//! a few to a few thousand entities and a dozen component types, systems iterate over explicit
//! entity lists (never archetype queries), and lookups must fail with the component's *name*
//! (`Error::MissingComponent`). A `HashMap<TypeId, column>` of dense `Vec<Option<T>>` columns does
//! exactly that in ~200 lines; see ARCHITECTURE.md for the longer reasoning.
//!
//! Where tensors live (host or GPU arena, and moving them) is in [`super::residency`]; the time
//! table in [`super::trace`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;

use super::arena::{Arena, DEFAULT_ARENA_BYTES};
use super::entity::{Component, ComponentId, Entity};
use super::trace::TraceRow;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::GpuArena;

/// Type-erased column, so the world can clear a despawned entity's slot in every column.
trait Column: Send {
    fn clear(&mut self, index: usize);
    fn has(&self, index: usize) -> bool;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

struct Dense<T>(Vec<Option<T>>);

impl<T: Component> Column for Dense<T> {
    fn clear(&mut self, index: usize) {
        if let Some(slot) = self.0.get_mut(index) {
            *slot = None;
        }
    }
    fn has(&self, index: usize) -> bool {
        matches!(self.0.get(index), Some(Some(_)))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Entities, components and the arena. One World per thread (`Send`, not `Sync`); parallelism
/// comes from batching entities inside a World and from running several Worlds.
pub struct World {
    generations: Vec<u32>,
    alive: Vec<bool>,
    free: Vec<u32>,
    columns: HashMap<TypeId, Box<dyn Column>>,
    failures: HashMap<Entity, Error>,
    pub(super) arena: Arena,
    #[cfg(feature = "gpu")]
    pub(super) gpu: Option<GpuArena>,
    trace: Vec<TraceRow>,
    pub(super) profiling: bool,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("entities", &self.len())
            .field("component_types", &self.columns.len())
            .field("arena", &self.arena)
            .finish()
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A world with a [`DEFAULT_ARENA_BYTES`] CPU arena.
    pub fn new() -> Self {
        Self::with_arena_capacity(DEFAULT_ARENA_BYTES)
    }

    /// A world whose CPU arena holds `bytes`.
    pub fn with_arena_capacity(bytes: usize) -> Self {
        Self {
            generations: Vec::new(),
            alive: Vec::new(),
            free: Vec::new(),
            columns: HashMap::new(),
            failures: HashMap::new(),
            arena: Arena::with_capacity(bytes),
            #[cfg(feature = "gpu")]
            gpu: None,
            trace: Vec::new(),
            profiling: false,
        }
    }

    /// Clears the world and replaces its host arena with one of `bytes` (the GPU arena, the
    /// trace and the profiling flag stay).
    pub fn grow_arena(&mut self, bytes: usize) {
        self.clear();
        self.arena = Arena::with_capacity(bytes);
    }

    /// Adds one run of a system to the trace (see [`take_trace`](Self::take_trace)).
    pub(crate) fn record_run(&mut self, row: TraceRow) {
        TraceRow::add_to(&mut self.trace, row);
    }

    /// The per-system time table of every pipe run since the last call, in first-run order;
    /// clears it. Survives [`clear`](Self::clear).
    pub fn take_trace(&mut self) -> Vec<TraceRow> {
        std::mem::take(&mut self.trace)
    }

    /// With profiling on, a pipe waits for the GPU after every GPU step, so each step's time
    /// is its own (at the cost of one submission per step instead of one per batch).
    pub fn set_profiling(&mut self, on: bool) {
        self.profiling = on;
    }

    /// Whether the world is profiling (see [`set_profiling`](Self::set_profiling)).
    pub fn profiling(&self) -> bool {
        self.profiling
    }

    /// The CPU arena.
    pub fn arena(&self) -> &Arena {
        &self.arena
    }

    /// The CPU arena, mutably (to allocate or write tensors).
    pub fn arena_mut(&mut self) -> &mut Arena {
        &mut self.arena
    }

    /// Number of live entities.
    pub fn len(&self) -> usize {
        self.alive.iter().filter(|a| **a).count()
    }

    /// True when no entity is alive.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates an entity with no components.
    pub fn spawn(&mut self) -> Entity {
        if let Some(index) = self.free.pop() {
            self.alive[index as usize] = true;
            Entity {
                index,
                generation: self.generations[index as usize],
            }
        } else {
            let index = self.generations.len() as u32;
            self.generations.push(0);
            self.alive.push(true);
            Entity {
                index,
                generation: 0,
            }
        }
    }

    /// Removes an entity and all its components. Its tensors stay in the arena until `reset`.
    pub fn despawn(&mut self, e: Entity) -> Result<()> {
        self.check(e)?;
        let i = e.index as usize;
        for col in self.columns.values_mut() {
            col.clear(i);
        }
        self.failures.remove(&e);
        self.alive[i] = false;
        self.generations[i] = self.generations[i].wrapping_add(1);
        self.free.push(e.index);
        Ok(())
    }

    /// Despawns every entity and resets the arena: the start of a new batch. Every `TensorRef`
    /// handed out before becomes stale.
    pub fn clear(&mut self) {
        for (i, alive) in self.alive.iter_mut().enumerate() {
            if *alive {
                *alive = false;
                self.generations[i] = self.generations[i].wrapping_add(1);
                self.free.push(i as u32);
            }
        }
        for col in self.columns.values_mut() {
            let n = self.generations.len();
            for i in 0..n {
                col.clear(i);
            }
        }
        self.failures.clear();
        self.arena.reset();
        #[cfg(feature = "gpu")]
        if let Some(g) = &mut self.gpu {
            g.reset();
        }
    }

    /// True when `e` is a live entity of this world.
    pub fn contains(&self, e: Entity) -> bool {
        let i = e.index as usize;
        i < self.alive.len() && self.alive[i] && self.generations[i] == e.generation
    }

    fn check(&self, e: Entity) -> Result<()> {
        if self.contains(e) {
            Ok(())
        } else {
            Err(Error::NoSuchEntity(e))
        }
    }

    fn column<T: Component>(&self) -> Option<&Vec<Option<T>>> {
        self.columns
            .get(&TypeId::of::<T>())
            .and_then(|c| c.as_any().downcast_ref::<Dense<T>>())
            .map(|d| &d.0)
    }

    fn column_mut<T: Component>(&mut self) -> &mut Vec<Option<T>> {
        let col = self
            .columns
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Box::new(Dense::<T>(Vec::new())));
        &mut col
            .as_any_mut()
            .downcast_mut::<Dense<T>>()
            .expect("column type is keyed by its TypeId")
            .0
    }

    /// Creates an entity holding `value`: `spawn` then `insert`, which cannot fail on an entity
    /// just made.
    ///
    /// ```
    /// use vaerans::prelude::*;
    /// let mut world = World::with_arena_capacity(1 << 16);
    /// let e = world.spawn_with(Histograms(vec![[0; 256]]));
    /// assert_eq!(world.get::<Histograms>(e)?.0.len(), 1);
    /// # Ok::<(), vaerans::Error>(())
    /// ```
    pub fn spawn_with<T: Component>(&mut self, value: T) -> Entity {
        let e = self.spawn();
        self.put(e, value);
        e
    }

    /// Attaches (or replaces) component `T` on `e`.
    pub fn insert<T: Component>(&mut self, e: Entity, value: T) -> Result<()> {
        self.check(e)?;
        self.put(e, value);
        Ok(())
    }

    /// [`World::insert`] on an entity known to be alive.
    fn put<T: Component>(&mut self, e: Entity, value: T) {
        let col = self.column_mut::<T>();
        let i = e.index as usize;
        if col.len() <= i {
            col.resize_with(i + 1, || None);
        }
        col[i] = Some(value);
    }

    /// Component `T` of `e`, or `Error::MissingComponent` naming it.
    pub fn get<T: Component>(&self, e: Entity) -> Result<&T> {
        self.check(e)?;
        self.column::<T>()
            .and_then(|c| c.get(e.index as usize))
            .and_then(Option::as_ref)
            .ok_or(Error::MissingComponent {
                entity: e,
                component: T::NAME,
            })
    }

    /// Component `T` of `e`, mutably.
    pub fn get_mut<T: Component>(&mut self, e: Entity) -> Result<&mut T> {
        self.check(e)?;
        self.column_mut::<T>()
            .get_mut(e.index as usize)
            .and_then(Option::as_mut)
            .ok_or(Error::MissingComponent {
                entity: e,
                component: T::NAME,
            })
    }

    /// Removes and returns component `T` of `e`, if present.
    pub fn remove<T: Component>(&mut self, e: Entity) -> Result<Option<T>> {
        self.check(e)?;
        Ok(self
            .column_mut::<T>()
            .get_mut(e.index as usize)
            .and_then(Option::take))
    }

    /// True when `e` has the component `id`.
    pub fn has_id(&self, e: Entity, id: ComponentId) -> bool {
        self.contains(e)
            && self
                .columns
                .get(&id.type_id)
                .is_some_and(|c| c.has(e.index as usize))
    }

    /// True when `e` has component `T`.
    pub fn has<T: Component>(&self, e: Entity) -> bool {
        self.has_id(e, ComponentId::of::<T>())
    }

    /// Records that processing `e` failed; later systems of a pipe skip it, the rest of the batch
    /// goes on. The first failure of an entity is kept.
    pub fn record_failure(&mut self, e: Entity, error: Error) {
        self.failures.entry(e).or_insert(error);
    }

    /// The recorded failure of `e`, if any.
    pub fn failure(&self, e: Entity) -> Option<&Error> {
        self.failures.get(&e)
    }

    /// Takes the recorded failure of `e`, clearing it.
    pub fn take_failure(&mut self, e: Entity) -> Option<Error> {
        self.failures.remove(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Name(String);
    impl Component for Name {
        const NAME: &'static str = "Name";
    }

    #[test]
    fn typed_lookup_and_missing_component() {
        let mut w = World::with_arena_capacity(1024);
        let e = w.spawn();
        assert!(matches!(
            w.get::<Name>(e),
            Err(Error::MissingComponent {
                component: "Name",
                ..
            })
        ));
        w.insert(e, Name("a".into())).unwrap();
        assert_eq!(w.get::<Name>(e).unwrap().0, "a");
        assert!(w.has::<Name>(e));
        assert_eq!(w.remove::<Name>(e).unwrap(), Some(Name("a".into())));
        assert!(!w.has::<Name>(e));
    }

    #[test]
    fn despawned_ids_are_not_confused_with_reused_slots() {
        let mut w = World::with_arena_capacity(1024);
        let a = w.spawn();
        w.insert(a, Name("a".into())).unwrap();
        w.despawn(a).unwrap();
        let b = w.spawn();
        assert_eq!(a.index(), b.index());
        assert!(matches!(w.get::<Name>(a), Err(Error::NoSuchEntity(_))));
        assert!(matches!(
            w.get::<Name>(b),
            Err(Error::MissingComponent { .. })
        ));
    }

    #[test]
    fn world_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<World>();
    }
}

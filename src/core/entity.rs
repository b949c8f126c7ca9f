//! Entity ids and the component trait: what every other part of the world refers to.

use std::any::TypeId;
use std::fmt;

/// An entity id: an index plus a generation, so ids of despawned entities are never confused with
/// the entity that later reuses the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Entity {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl Entity {
    /// Index of the entity's slot (dense, small).
    pub fn index(self) -> u32 {
        self.index
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}v{}", self.index, self.generation)
    }
}

/// A plain Rust type attached to entities. Tensor components hold `TensorRef`s, not data.
pub trait Component: Clone + Send + 'static {
    /// Human-readable name used in errors (`"Latent"`).
    const NAME: &'static str;
}

/// The identity of a component type, with its name for messages.
#[derive(Debug, Clone, Copy)]
pub struct ComponentId {
    pub(crate) type_id: TypeId,
    name: &'static str,
}

impl ComponentId {
    /// The id of component type `T`.
    pub fn of<T: Component>() -> Self {
        Self {
            type_id: TypeId::of::<T>(),
            name: T::NAME,
        }
    }

    /// The component's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl PartialEq for ComponentId {
    fn eq(&self, other: &Self) -> bool {
        self.type_id == other.type_id
    }
}
impl Eq for ComponentId {}
impl std::hash::Hash for ComponentId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.type_id.hash(state)
    }
}

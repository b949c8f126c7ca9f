//! The core model: a [`World`] of entities with typed components, tensors in arenas, systems
//! and the pipes that chain them. Nothing here knows about images, latents or streams.
//!
//! | module | what it owns |
//! |---|---|
//! | `entity` | [`Entity`], [`Component`], [`ComponentId`] |
//! | `world` | the typed component store, per-entity failures |
//! | `residency` | the host and GPU arenas of a world and the transfers between them |
//! | `trace` | the per-system time table |
//! | `arena`, `tensor` | the host arena and the [`TensorRef`] handles into any arena |
//! | `system`, `pipe` | [`System`], [`Footprint`], and the fluent [`Pipe`] |
//! | `components` | the codec's components (plain data) |
//! | `device` | [`Device`] |

pub(crate) mod arena;
pub mod components;
pub(crate) mod device;
pub(crate) mod entity;
pub(crate) mod pipe;
mod residency;
pub(crate) mod system;
pub(crate) mod tensor;
pub(crate) mod trace;
pub(crate) mod world;

pub use arena::{Arena, BatchViews, DEFAULT_ARENA_BYTES};
pub use device::Device;
pub use entity::{Component, ComponentId, Entity};
pub use pipe::{Pipe, PipeReport, StepReport};
pub use system::{Direction, EntityShape, Footprint, System};
pub use tensor::{DType, Element, Location, TensorRef, MAX_RANK};
pub use trace::TraceRow;
pub use world::World;

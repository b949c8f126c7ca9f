//! Where a world's tensors live: its host arena always, a GPU arena when one is attached, and
//! the two transfers between them (one upload and one readback for a whole batch).

use super::device::Device;
use super::entity::{Component, Entity};
use super::tensor::{Element, Location, TensorRef};
use super::world::World;
#[cfg(feature = "gpu")]
use crate::error::Error;
use crate::error::Result;
#[cfg(feature = "gpu")]
use crate::gpu::{arena::DEFAULT_GPU_ARENA_BYTES, GpuArena, GpuContext};

/// The error for GPU work asked of a world without a GPU arena.
#[cfg(feature = "gpu")]
fn no_gpu_arena() -> Error {
    Error::InvalidInput("this world has no GPU arena; build it with World::with_gpu".into())
}

impl World {
    /// Submits recorded GPU work and waits for it (nothing to do without a GPU arena).
    pub fn finish_gpu(&mut self) -> Result<()> {
        #[cfg(feature = "gpu")]
        if let Some(g) = &mut self.gpu {
            g.finish()?;
        }
        Ok(())
    }

    /// A world whose latent stages run on the GPU of `ctx` (a [`DEFAULT_ARENA_BYTES`](crate::DEFAULT_ARENA_BYTES) CPU arena
    /// plus a GPU arena that grows on demand).
    #[cfg(feature = "gpu")]
    pub fn with_gpu(ctx: &GpuContext) -> Result<Self> {
        let mut w = Self::new();
        w.attach_gpu(ctx)?;
        Ok(w)
    }

    /// Gives the world a GPU arena on `ctx`: from now on the GPU-capable systems (Hadamard,
    /// wavelet, quantisation) run there. Existing GPU tensors become stale.
    #[cfg(feature = "gpu")]
    pub fn attach_gpu(&mut self, ctx: &GpuContext) -> Result<()> {
        self.gpu = Some(GpuArena::new(ctx, DEFAULT_GPU_ARENA_BYTES)?);
        Ok(())
    }

    /// Where this world's GPU-capable systems run: [`Device::Gpu`] with a GPU arena attached,
    /// else [`Device::Cpu`].
    pub fn device(&self) -> Device {
        #[cfg(feature = "gpu")]
        if self.gpu.is_some() {
            return Device::Gpu;
        }
        Device::Cpu
    }

    /// The GPU arena, when the world has one.
    #[cfg(feature = "gpu")]
    pub fn gpu_arena(&self) -> Option<&GpuArena> {
        self.gpu.as_ref()
    }

    /// The GPU arena, or an error saying the world has none.
    #[cfg(feature = "gpu")]
    pub(crate) fn gpu_or_err(&mut self) -> Result<&mut GpuArena> {
        self.gpu.as_mut().ok_or_else(no_gpu_arena)
    }

    /// Makes every tensor of `tensors` GPU-resident: host tensors are copied into the GPU arena
    /// with one upload for all of them; GPU tensors are returned as they are.
    #[cfg(feature = "gpu")]
    pub fn to_gpu(&mut self, tensors: &[TensorRef]) -> Result<Vec<TensorRef>> {
        let arena = &self.arena;
        // Both arenas at once: read the host one, write the GPU one.
        let gpu = self.gpu.as_mut().ok_or_else(no_gpu_arena)?;
        let mut out = Vec::with_capacity(tensors.len());
        let mut items = Vec::new();
        for t in tensors {
            match t.location() {
                Location::Gpu => {
                    gpu.check(t)?;
                    out.push(*t);
                }
                Location::Cpu => {
                    let g = gpu.alloc(t.dtype(), t.shape())?;
                    items.push((g, arena.raw(t)?));
                    out.push(g);
                }
            }
        }
        gpu.upload(&items)?;
        Ok(out)
    }

    /// Makes every tensor of `tensors` host-resident: GPU tensors are copied into the CPU arena
    /// with one readback for all of them (which submits the batch's pending GPU work); host
    /// tensors are returned as they are.
    pub fn to_host(&mut self, tensors: &[TensorRef]) -> Result<Vec<TensorRef>> {
        #[cfg(feature = "gpu")]
        {
            let on_gpu: Vec<TensorRef> = tensors
                .iter()
                .filter(|t| t.location() == Location::Gpu)
                .copied()
                .collect();
            if !on_gpu.is_empty() {
                // Both arenas at once: each tensor goes from the mapped staging memory straight
                // into its host slot.
                let arena = &mut self.arena;
                let gpu = self.gpu.as_mut().ok_or_else(no_gpu_arena)?;
                let mut out = Vec::with_capacity(tensors.len());
                let mut homes = Vec::with_capacity(on_gpu.len());
                for t in tensors {
                    if t.location() == Location::Gpu {
                        let h = arena.alloc(t.dtype(), t.shape())?;
                        homes.push(h);
                        out.push(h);
                    } else {
                        out.push(*t);
                    }
                }
                gpu.readback_into(&on_gpu, &mut arena.raw_views_mut(&homes)?)?;
                return Ok(out);
            }
        }
        Ok(tensors.to_vec())
    }

    /// Brings the tensor of component `T` home for every entity of `entities` whose tensor is on
    /// the GPU, all in one readback; `tensor` reads the handle, `with` rebuilds the component.
    pub(crate) fn component_tensors_to_host<T: Component>(
        &mut self,
        entities: &[Entity],
        tensor: fn(&T) -> TensorRef,
        with: fn(&T, TensorRef) -> T,
    ) -> Result<()> {
        let on_gpu: Vec<(Entity, T)> = entities
            .iter()
            .filter_map(|&e| self.get::<T>(e).ok().map(|c| (e, c.clone())))
            .filter(|(_, c)| tensor(c).location() == Location::Gpu)
            .collect();
        if on_gpu.is_empty() {
            return Ok(());
        }
        let ts: Vec<TensorRef> = on_gpu.iter().map(|(_, c)| tensor(c)).collect();
        let host = self.to_host(&ts)?;
        for ((e, c), t) in on_gpu.into_iter().zip(host) {
            self.insert(e, with(&c, t))?;
        }
        Ok(())
    }

    /// A tensor's elements, wherever it lives (a GPU tensor costs one readback).
    pub fn read<T: Element>(&mut self, t: &TensorRef) -> Result<Vec<T>> {
        let h = self.to_host(std::slice::from_ref(t))?;
        self.arena.to_vec::<T>(&h[0])
    }
}

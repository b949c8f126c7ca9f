//! The CPU arena: one fixed block of host memory, bump-allocated, reset between batches.
//!
//! Tensor components hold [`TensorRef`]s into an arena, never the data itself. The arena is
//! allocated once, at its full capacity (the pages are only touched when used), so a steady stream
//! of same-shaped batches allocates nothing new after the first.

use super::tensor::{next_arena_id, DType, Element, Location, TensorRef};
use crate::error::{Error, Result};

/// Default arena capacity: 256 MiB, enough for a batch of 64 latents of a 2048×2048 image with
/// every intermediate stage. Pages are committed lazily by the OS as they are first written.
pub const DEFAULT_ARENA_BYTES: usize = 256 << 20;

/// The storage unit: 16 bytes, aligned to 16, which every [`DType`] is satisfied with.
///
/// Not larger: the system allocator zeroes an allocation aligned above 16 bytes by writing
/// it, which commits every page of the arena up front (256 MiB resident per world for the
/// default arena); at 16 it asks the OS for zeroed pages, committed only when written.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(16))]
struct Block([u8; 16]);

/// Read views of a batch's inputs and write views of its outputs, see [`Arena::batch_views`].
pub type BatchViews<'a, I, O> = (Vec<&'a [I]>, Vec<&'a mut [O]>);

/// A bump allocator over host memory.
///
/// Invariants: `top <= capacity`; every live allocation lies in `0..top`; every allocation's
/// offset is a multiple of [`Arena::ALIGN`], which satisfies the alignment of every [`DType`].
pub struct Arena {
    id: u32,
    generation: u32,
    storage: Vec<Block>,
    top: usize,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("used", &self.top)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_ARENA_BYTES)
    }
}

impl Arena {
    /// Alignment of every allocation's offset, in bytes (a cache line; a multiple of every
    /// dtype's size).
    pub const ALIGN: usize = 64;

    /// An arena of `bytes` capacity (rounded up to [`Arena::ALIGN`]).
    pub fn with_capacity(bytes: usize) -> Self {
        let blocks = bytes.div_ceil(Self::ALIGN) * (Self::ALIGN / size_of::<Block>());
        Self {
            id: next_arena_id(),
            generation: 0,
            storage: bytemuck::zeroed_vec(blocks),
            top: 0,
        }
    }

    /// Total capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.storage.len() * size_of::<Block>()
    }

    /// Bytes handed out since the last reset.
    pub fn used(&self) -> usize {
        self.top
    }

    /// Bytes still available.
    pub fn available(&self) -> usize {
        self.capacity() - self.top
    }

    /// The generation counter; bumped by every [`reset`](Self::reset).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Frees every allocation at once. Every `TensorRef` handed out before becomes stale.
    pub fn reset(&mut self) {
        self.top = 0;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Allocates an uninitialised (in practice: old contents) row-major tensor.
    pub fn alloc(&mut self, dtype: DType, shape: &[usize]) -> Result<TensorRef> {
        let elems = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = elems
            .and_then(|e| e.checked_mul(dtype.size()))
            .ok_or_else(|| {
                Error::InvalidInput(format!("tensor shape {shape:?} overflows usize"))
            })?;
        let requested = bytes.div_ceil(Self::ALIGN) * Self::ALIGN;
        if requested > self.available() {
            return Err(Error::ArenaOutOfMemory {
                requested,
                available: self.available(),
            });
        }
        let t = TensorRef::new(
            Location::Cpu,
            self.top,
            dtype,
            shape,
            self.id,
            self.generation,
        )?;
        self.top += requested;
        Ok(t)
    }

    /// Allocates a tensor and fills it from `data` (whose length must match the shape).
    pub fn alloc_from<T: Element>(&mut self, shape: &[usize], data: &[T]) -> Result<TensorRef> {
        let t = self.alloc(T::DTYPE, shape)?;
        if t.len() != data.len() {
            // Give the space back: nothing else was allocated in between.
            self.top = t.offset();
            return Err(Error::InvalidInput(format!(
                "shape {shape:?} holds {} elements but {} were given",
                t.len(),
                data.len()
            )));
        }
        self.view_mut::<T>(&t)?.copy_from_slice(data);
        Ok(t)
    }

    fn check(&self, t: &TensorRef) -> Result<()> {
        if t.arena != self.id || t.generation != self.generation {
            return Err(Error::StaleTensorRef {
                ref_arena: t.arena,
                ref_generation: t.generation,
                arena: self.id,
                generation: self.generation,
            });
        }
        if t.location() != Location::Cpu {
            return Err(Error::TensorType(
                "a GPU tensor was read through the CPU arena".into(),
            ));
        }
        // Handles are only made by `alloc`, below `top`; checked anyway, so no handle can ever
        // index past the arena.
        if t.byte_range().end > self.top {
            return Err(Error::Internal(format!(
                "tensor bytes {:?} lie beyond the arena's {} allocated bytes",
                t.byte_range(),
                self.top
            )));
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.storage)
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.storage)
    }

    /// A read-only view of a tensor's elements (row-major).
    pub fn view<T: Element>(&self, t: &TensorRef) -> Result<&[T]> {
        self.check(t)?;
        t.expect::<T>()?;
        Ok(bytemuck::cast_slice(&self.bytes()[t.byte_range()]))
    }

    /// A mutable view of a tensor's elements (row-major).
    pub fn view_mut<T: Element>(&mut self, t: &TensorRef) -> Result<&mut [T]> {
        self.check(t)?;
        t.expect::<T>()?;
        Ok(bytemuck::cast_slice_mut(
            &mut self.bytes_mut()[t.byte_range()],
        ))
    }

    /// A tensor's raw bytes, whatever its element type (for transfers).
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn raw(&self, t: &TensorRef) -> Result<&[u8]> {
        self.check(t)?;
        Ok(&self.bytes()[t.byte_range()])
    }

    /// Copies a tensor out into a `Vec`.
    pub fn to_vec<T: Element>(&self, t: &TensorRef) -> Result<Vec<T>> {
        Ok(self.view::<T>(t)?.to_vec())
    }

    /// Read views of `inputs` and disjoint write views of `outputs` at the same time, so a system
    /// can process a whole batch in parallel without copies.
    ///
    /// `outputs` must be in allocation order and lie above every input, which is always the case
    /// for outputs allocated after their inputs (the arena only grows between resets).
    pub fn batch_views<I: Element, O: Element>(
        &mut self,
        inputs: &[TensorRef],
        outputs: &[TensorRef],
    ) -> Result<BatchViews<'_, I, O>> {
        for t in inputs {
            self.check(t)?;
            t.expect::<I>()?;
        }
        for t in outputs {
            self.check(t)?;
            t.expect::<O>()?;
        }
        let split = outputs.first().map_or(self.top, TensorRef::offset);
        if inputs.iter().any(|t| t.byte_range().end > split) {
            return Err(Error::InvalidInput(
                "batch_views: outputs must be allocated after every input".into(),
            ));
        }
        let (lower, upper) = self.bytes_mut().split_at_mut(split);
        let lower: &[u8] = lower;
        let ins = inputs
            .iter()
            .map(|t| bytemuck::cast_slice::<u8, I>(&lower[t.byte_range()]))
            .collect();
        let outs = disjoint_mut(upper, split, outputs)?
            .into_iter()
            .map(bytemuck::cast_slice_mut::<u8, O>)
            .collect();
        Ok((ins, outs))
    }

    /// Disjoint raw byte views of `outputs` at the same time, whatever their element types (for
    /// transfers). `outputs` must be in allocation order.
    #[cfg_attr(not(feature = "gpu"), allow(dead_code))]
    pub(crate) fn raw_views_mut(&mut self, outputs: &[TensorRef]) -> Result<Vec<&mut [u8]>> {
        for t in outputs {
            self.check(t)?;
        }
        disjoint_mut(self.bytes_mut(), 0, outputs)
    }
}

/// Splits `bytes`, which start at arena offset `base`, into the byte ranges of `outputs`
/// (checked tensors, in allocation order, at or above `base`).
fn disjoint_mut<'a>(
    mut bytes: &'a mut [u8],
    mut base: usize,
    outputs: &[TensorRef],
) -> Result<Vec<&'a mut [u8]>> {
    let mut outs = Vec::with_capacity(outputs.len());
    for t in outputs {
        if t.offset() < base {
            return Err(Error::InvalidInput(
                "tensor views: outputs must be disjoint and in allocation order".into(),
            ));
        }
        let rest = std::mem::take(&mut bytes);
        let (_, rest) = rest.split_at_mut(t.offset() - base);
        let (mine, rest) = rest.split_at_mut(t.byte_len());
        outs.push(mine);
        bytes = rest;
        base = t.offset() + t.byte_len();
    }
    Ok(outs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_new_arena_commits_no_memory_until_written() {
        let resident = || {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        let before = resident();
        let mut a = Arena::with_capacity(1 << 30);
        let grown = resident().saturating_sub(before);
        // Other tests run beside this one, so allow them some room.
        assert!(
            grown < 128 << 20,
            "a 1 GiB arena made {grown} bytes resident"
        );
        let t = a.alloc(DType::U8, &[1000]).unwrap();
        a.view_mut::<u8>(&t).unwrap().fill(7);
        assert_eq!(a.view::<u8>(&t).unwrap()[999], 7);
    }

    #[test]
    fn alloc_aligns_and_reports_oom() {
        let mut a = Arena::with_capacity(256);
        let t = a.alloc(DType::U8, &[3]).unwrap();
        assert_eq!(t.offset(), 0);
        let u = a.alloc(DType::F32, &[2, 2]).unwrap();
        assert_eq!(u.offset(), 64);
        match a.alloc(DType::F32, &[64]) {
            Err(Error::ArenaOutOfMemory {
                requested,
                available,
            }) => {
                assert_eq!(requested, 256);
                assert_eq!(available, 128);
            }
            other => panic!("expected OOM, got {other:?}"),
        }
    }

    #[test]
    fn stale_refs_are_errors_after_reset() {
        let mut a = Arena::with_capacity(1024);
        let t = a.alloc_from::<f32>(&[2], &[1.0, 2.0]).unwrap();
        assert_eq!(a.view::<f32>(&t).unwrap(), &[1.0, 2.0]);
        a.reset();
        assert!(matches!(
            a.view::<f32>(&t),
            Err(Error::StaleTensorRef { .. })
        ));
        let other = Arena::with_capacity(1024);
        let mut a2 = Arena::with_capacity(1024);
        let t2 = a2.alloc(DType::F32, &[1]).unwrap();
        assert!(matches!(
            other.view::<f32>(&t2),
            Err(Error::StaleTensorRef { .. })
        ));
    }

    #[test]
    fn a_handle_beyond_the_allocated_bytes_is_an_error_not_a_panic() {
        let mut a = Arena::with_capacity(1024);
        let t = a.alloc(DType::F32, &[4]).unwrap();
        // What a hand-edited handle would be: the arena's own id and generation, a range past
        // everything allocated.
        let forged =
            TensorRef::new(Location::Cpu, 512, DType::F32, &[4], t.arena, t.generation).unwrap();
        assert!(matches!(a.view::<f32>(&forged), Err(Error::Internal(_))));
        assert!(matches!(
            a.batch_views::<f32, f32>(&[t], &[forged]),
            Err(Error::Internal(_))
        ));
    }

    #[test]
    fn wrong_dtype_is_an_error() {
        let mut a = Arena::with_capacity(1024);
        let t = a.alloc(DType::U8, &[4]).unwrap();
        assert!(matches!(a.view::<f32>(&t), Err(Error::TensorType(_))));
    }

    #[test]
    fn sub_ref_axis0_slices_the_batch() {
        let mut a = Arena::with_capacity(1024);
        let data: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let t = a.alloc_from(&[2, 3, 4], &data).unwrap();
        let s = t.sub_ref_axis0(1).unwrap();
        assert_eq!(s.shape(), &[3, 4]);
        assert_eq!(a.view::<f32>(&s).unwrap(), &data[12..]);
        assert!(t.sub_ref_axis0(2).is_err());
    }

    #[test]
    fn batch_views_are_disjoint() {
        let mut a = Arena::with_capacity(4096);
        let i0 = a.alloc_from::<f32>(&[2], &[1.0, 2.0]).unwrap();
        let i1 = a.alloc_from::<f32>(&[2], &[3.0, 4.0]).unwrap();
        let o0 = a.alloc(DType::F32, &[2]).unwrap();
        let o1 = a.alloc(DType::F32, &[2]).unwrap();
        {
            let (ins, mut outs) = a.batch_views::<f32, f32>(&[i0, i1], &[o0, o1]).unwrap();
            for (i, o) in ins.iter().zip(outs.iter_mut()) {
                for (x, y) in i.iter().zip(o.iter_mut()) {
                    *y = x * 10.0;
                }
            }
        }
        assert_eq!(a.view::<f32>(&o1).unwrap(), &[30.0, 40.0]);
        assert!(a.batch_views::<f32, f32>(&[o0], &[i0]).is_err());
    }

    #[test]
    fn raw_views_cover_tensors_of_any_type_in_order() {
        let mut a = Arena::with_capacity(4096);
        let b = a.alloc(DType::U8, &[3]).unwrap();
        let f = a.alloc(DType::F32, &[2]).unwrap();
        {
            let mut views = a.raw_views_mut(&[b, f]).unwrap();
            assert_eq!((views[0].len(), views[1].len()), (3, 8));
            views[0].copy_from_slice(&[1, 2, 3]);
            views[1].copy_from_slice(bytemuck::cast_slice(&[0.5f32, -2.0]));
        }
        assert_eq!(a.view::<u8>(&b).unwrap(), &[1, 2, 3]);
        assert_eq!(a.view::<f32>(&f).unwrap(), &[0.5, -2.0]);
        assert!(a.raw_views_mut(&[f, b]).is_err());
        assert!(a.raw_views_mut(&[b, b]).is_err());
    }

    #[test]
    fn same_shaped_batches_reuse_the_same_memory() {
        let mut a = Arena::with_capacity(1 << 16);
        let first: Vec<usize> = (0..4)
            .map(|_| a.alloc(DType::F32, &[4, 8, 8]).unwrap().offset())
            .collect();
        let high = a.used();
        a.reset();
        let second: Vec<usize> = (0..4)
            .map(|_| a.alloc(DType::F32, &[4, 8, 8]).unwrap().offset())
            .collect();
        assert_eq!(first, second);
        assert_eq!(a.used(), high);
    }
}

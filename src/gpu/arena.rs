//! The GPU arena: one storage buffer, bump-allocated, reset between batches, plus the one upload
//! helper, the one readback helper and the dispatch recorder every kernel goes through.
//!
//! Work is recorded, not submitted: kernels append dispatches to one pending command encoder
//! and their descriptor tables to one host-side blob. Everything is submitted together when the
//! batch is read back (or [`flush`](GpuArena::flush)ed), so a batch costs one upload, one
//! descriptor write, one submission and one readback however many stages and entities it has.

use std::num::NonZeroU64;
use std::sync::mpsc;

use rayon::prelude::*;

use super::context::{Counters, GpuContext, Kernel, KernelBindings};
use crate::core::tensor::next_arena_id;
use crate::error::{Error, Result};
use crate::{DType, Location, TensorRef};

/// Default initial capacity: 16 MiB (a batch of 64 latents of 4×64×64 with every intermediate
/// stage). The arena grows on demand, up to what the device can bind.
pub const DEFAULT_GPU_ARENA_BYTES: u64 = 16 << 20;

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Bytes one thread copies at a time out of the readback staging buffer.
const COPY_CHUNK: usize = 1 << 20;

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// A bump allocator over one GPU storage buffer.
///
/// Invariants: `top <= capacity`; every allocation's offset is a multiple of `align` (the
/// device's `min_storage_buffer_offset_alignment`); `desc_flushed <= desc.len()`, and the bytes
/// of `desc` before `desc_flushed` are already in `desc_buffer`.
pub struct GpuArena {
    ctx: GpuContext,
    id: u32,
    generation: u32,
    buffer: wgpu::Buffer,
    capacity: u64,
    top: u64,
    align: u64,
    desc: Vec<u8>,
    desc_flushed: usize,
    desc_buffer: wgpu::Buffer,
    desc_capacity: u64,
    staging: Option<(wgpu::Buffer, u64)>,
    encoder: Option<wgpu::CommandEncoder>,
}

impl std::fmt::Debug for GpuArena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuArena")
            .field("id", &self.id)
            .field("generation", &self.generation)
            .field("used", &self.top)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl GpuArena {
    /// An arena of at least `bytes` (rounded up to the alignment, at most
    /// [`GpuContext::max_arena_bytes`]).
    pub(crate) fn new(ctx: &GpuContext, bytes: u64) -> Result<Self> {
        let align = ctx.alignment();
        let max = ctx.max_arena_bytes();
        let capacity = align_up(bytes.max(align), align).min(max);
        let buffer = ctx.create_buffer("vaerans arena", capacity, STORAGE)?;
        let desc_capacity = 64 << 10;
        let desc_buffer = ctx.create_buffer(
            "vaerans descriptors",
            desc_capacity,
            wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        )?;
        Ok(Self {
            ctx: ctx.clone(),
            id: next_arena_id(),
            generation: 0,
            buffer,
            capacity,
            top: 0,
            align,
            desc: Vec::new(),
            desc_flushed: 0,
            desc_buffer,
            desc_capacity,
            staging: None,
            encoder: None,
        })
    }

    /// The device this arena lives on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// Capacity in bytes (grows on demand).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes handed out since the last reset.
    pub fn used(&self) -> u64 {
        self.top
    }

    /// Alignment of every allocation in bytes.
    pub fn alignment(&self) -> u64 {
        self.align
    }

    /// The generation counter; bumped by every reset (when its world is cleared).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Frees every allocation at once; every `TensorRef` handed out before becomes stale.
    /// Recorded work that was never submitted is dropped (nothing read it back).
    pub(crate) fn reset(&mut self) {
        self.encoder = None;
        self.top = 0;
        self.desc.clear();
        self.desc_flushed = 0;
        self.generation = self.generation.wrapping_add(1);
    }

    fn grow_to(&mut self, need: u64) -> Result<()> {
        if need <= self.capacity {
            return Ok(());
        }
        let max = self.ctx.max_arena_bytes();
        if need > max {
            return Err(Error::ArenaOutOfMemory {
                requested: usize::try_from(need - self.top).unwrap_or(usize::MAX),
                available: usize::try_from(max - self.top).unwrap_or(usize::MAX),
            });
        }
        let capacity = align_up(need.max(self.capacity.saturating_mul(2)), self.align).min(max);
        let buffer = self.ctx.create_buffer("vaerans arena", capacity, STORAGE)?;
        if self.top > 0 {
            // Live tensors move with the arena: the copy runs before any later recorded work.
            let (top, old) = (self.top, self.buffer.clone());
            self.encoder_mut()
                .copy_buffer_to_buffer(&old, 0, &buffer, 0, top);
        }
        self.buffer = buffer;
        self.capacity = capacity;
        Ok(())
    }

    fn encoder_mut(&mut self) -> &mut wgpu::CommandEncoder {
        let device = self.ctx.device();
        self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("vaerans batch"),
            })
        })
    }

    /// Allocates a row-major tensor (contents undefined until written).
    pub(crate) fn alloc(&mut self, dtype: DType, shape: &[usize]) -> Result<TensorRef> {
        let elems = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes = elems
            .and_then(|e| e.checked_mul(dtype.size()))
            .ok_or_else(|| Error::InvalidInput(format!("tensor shape {shape:?} overflows usize")))?
            as u64;
        let size = align_up(bytes.max(1), self.align);
        self.grow_to(self.top + size)?;
        let t = TensorRef::new(
            Location::Gpu,
            self.top as usize,
            dtype,
            shape,
            self.id,
            self.generation,
        )?;
        self.top += size;
        Ok(t)
    }

    /// Checks that `t` is a live tensor of this arena, inside what it has allocated.
    pub(crate) fn check(&self, t: &TensorRef) -> Result<()> {
        if t.location() != Location::Gpu {
            return Err(Error::TensorType(
                "a host tensor was used as a GPU tensor".into(),
            ));
        }
        if t.arena != self.id || t.generation != self.generation {
            return Err(Error::StaleTensorRef {
                ref_arena: t.arena,
                ref_generation: t.generation,
                arena: self.id,
                generation: self.generation,
            });
        }
        if t.offset() as u64 + t.byte_len() as u64 > self.top {
            return Err(Error::Internal(format!(
                "GPU tensor bytes {}..{} lie beyond the arena's {} allocated bytes",
                t.offset(),
                t.offset() + t.byte_len(),
                self.top
            )));
        }
        Ok(())
    }

    /// Word (4-byte) index of a tensor's first element, as kernels address the arena.
    pub(crate) fn word(&self, t: &TensorRef) -> Result<u32> {
        self.check(t)?;
        u32::try_from(t.offset() / 4).map_err(|_| Error::Gpu("arena offset beyond 16 GiB".into()))
    }

    /// The one upload helper: writes `items` (tensors allocated one after another, each with its
    /// bytes) with a single `write_buffer_with` covering them all, each tensor copied once,
    /// straight into the queue's staging memory. (Assembling the batch in a host blob first
    /// made an upload of 64 latents of 4×256×256 take 47 ms on an H100 instead of 7.)
    pub(crate) fn upload(&mut self, items: &[(TensorRef, &[u8])]) -> Result<()> {
        let Some((first, _)) = items.first() else {
            return Ok(());
        };
        let start = first.offset() as u64;
        let mut end = start;
        for (t, bytes) in items {
            self.check(t)?;
            if t.offset() as u64 != end {
                return Err(Error::InvalidInput(
                    "upload: tensors must be allocated one after another".into(),
                ));
            }
            if bytes.len() != t.byte_len() {
                return Err(Error::InvalidInput(format!(
                    "upload: {} bytes for a tensor of {}",
                    bytes.len(),
                    t.byte_len()
                )));
            }
            end = t.offset() as u64 + align_up(t.byte_len().max(1) as u64, self.align);
        }
        let Some(size) = NonZeroU64::new(end - start) else {
            return Ok(());
        };
        let (queue, buffer) = (self.ctx.queue(), &self.buffer);
        self.ctx.scoped("uploading a batch", || {
            let Some(mut view) = queue.write_buffer_with(buffer, start, size) else {
                return;
            };
            let mut at = 0usize;
            for (t, bytes) in items {
                let from = t.offset() - start as usize;
                // The alignment padding between tensors is zeroed, as the host blob's was.
                view.slice(at..from).fill(0);
                view.slice(from..from + bytes.len()).copy_from_slice(bytes);
                at = from + bytes.len();
            }
            view.slice(at..).fill(0);
        })?;
        Counters::bump(&self.ctx.counters().uploads);
        Ok(())
    }

    /// Records one dispatch of `kernel` over `grid` workgroups, driven by the descriptor table
    /// `descs` (one entry per job; `arrayLength` of the table is the job count).
    pub(crate) fn dispatch<D: bytemuck::Pod>(
        &mut self,
        kernel: &Kernel,
        descs: &[D],
        grid: [u32; 3],
    ) -> Result<()> {
        if descs.is_empty() {
            return Ok(());
        }
        let bytes: &[u8] = bytemuck::cast_slice(descs);
        let offset = align_up(self.desc.len() as u64, self.align);
        let need = offset + bytes.len() as u64;
        if need > self.desc_capacity {
            // Earlier dispatches read the current descriptor buffer: submit them first.
            self.flush()?;
            let capacity = align_up(need.max(self.desc_capacity * 2), self.align);
            self.desc_buffer = self.ctx.create_buffer(
                "vaerans descriptors",
                capacity,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            )?;
            self.desc_capacity = capacity;
        }
        self.desc.resize(offset as usize, 0);
        self.desc.extend_from_slice(bytes);
        let pipeline = self.ctx.pipeline(kernel)?;
        let bind_group = {
            let bindings = KernelBindings {
                arena: &self.buffer,
                desc: wgpu::BufferBinding {
                    buffer: &self.desc_buffer,
                    offset,
                    size: NonZeroU64::new(bytes.len() as u64),
                },
            };
            let ctx = &self.ctx;
            ctx.scoped(
                &format!("binding {}::{}", kernel.name, kernel.entry),
                || bindings.bind_group(ctx),
            )?
        };
        let encoder = self.encoder_mut();
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.entry),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        Counters::bump(&self.ctx.counters().dispatches);
        Ok(())
    }

    /// Submits everything recorded so far (with the descriptor tables it needs). Returns the
    /// submission, or `None` when nothing was pending.
    pub(crate) fn flush(&mut self) -> Result<Option<wgpu::SubmissionIndex>> {
        let Some(encoder) = self.encoder.take() else {
            return Ok(None);
        };
        let ctx = self.ctx.clone();
        if self.desc_flushed < self.desc.len() {
            let (from, blob) = (self.desc_flushed, &self.desc[self.desc_flushed..]);
            let buffer = &self.desc_buffer;
            ctx.scoped("writing descriptor tables", || {
                ctx.queue().write_buffer(buffer, from as u64, blob)
            })?;
            self.desc_flushed = self.desc.len();
            Counters::bump(&ctx.counters().descriptor_writes);
        }
        let index = ctx.scoped("submitting GPU work", || {
            ctx.queue().submit(Some(encoder.finish()))
        })?;
        Counters::bump(&ctx.counters().submits);
        Ok(Some(index))
    }

    /// Submits pending work and waits for it (for per-stage timing).
    pub(crate) fn finish(&mut self) -> Result<()> {
        if let Some(index) = self.flush()? {
            self.wait(index)?;
        }
        Ok(())
    }

    fn wait(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        let timeout = self.ctx.timeout();
        if self.ctx.host_polls() {
            // The host's poll runs the callback; this thread only waits for it.
            let (tx, rx) = mpsc::channel();
            self.ctx.queue().on_submitted_work_done(move || {
                let _ = tx.send(());
            });
            return rx.recv_timeout(timeout).map_err(|_| not_polled(timeout));
        }
        self.ctx
            .device()
            .poll(wgpu::PollType::Wait {
                submission_index: Some(index),
                timeout: Some(timeout),
            })
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU (limit {timeout:?}): {e}")))
    }

    /// Reads `tensors` back into fresh vectors, one per tensor (see
    /// [`readback_into`](Self::readback_into)). Each is copied by one thread into freshly
    /// allocated memory, which the allocator reuses from batch to batch.
    pub(crate) fn readback(&mut self, tensors: &[TensorRef]) -> Result<Vec<Vec<u8>>> {
        self.read_mapped(tensors, |srcs| srcs.iter().map(|s| s.to_vec()).collect())
    }

    /// Reads `tensors` back into `dsts`, one slice of its tensor's size per tensor, copying each
    /// once, in parallel, from the mapped staging memory. (A vector per tensor, copied again into
    /// the host arena by one thread, made reading back 64 latents of 4×256×256 take 34 ms on an
    /// H100 instead of 3 to 5.)
    pub(crate) fn readback_into(
        &mut self,
        tensors: &[TensorRef],
        dsts: &mut [&mut [u8]],
    ) -> Result<()> {
        if dsts.len() != tensors.len()
            || tensors
                .iter()
                .zip(dsts.iter())
                .any(|(t, d)| d.len() != t.byte_len())
        {
            return Err(Error::InvalidInput(
                "readback: one destination of its tensor's size per tensor".into(),
            ));
        }
        self.read_mapped(tensors, |srcs| {
            // One thread copies a few GB/s out of mapped memory: split the copy.
            dsts.par_iter_mut().zip(srcs).for_each(|(dst, src)| {
                dst.par_chunks_mut(COPY_CHUNK)
                    .zip(src.par_chunks(COPY_CHUNK))
                    .for_each(|(d, s)| d.copy_from_slice(s));
            });
        })
    }

    /// The one readback helper: copies `tensors` into one staging buffer, submits all pending
    /// work, maps the staging buffer (the `map_async` result is checked, the wait is bounded)
    /// and hands `f` each tensor's bytes in the mapped memory; the staging buffer is unmapped
    /// whatever happens.
    fn read_mapped<R>(
        &mut self,
        tensors: &[TensorRef],
        f: impl FnOnce(&[&[u8]]) -> R,
    ) -> Result<R> {
        for t in tensors {
            self.check(t)?;
        }
        let sizes: Vec<u64> = tensors
            .iter()
            .map(|t| align_up(t.byte_len() as u64, 4))
            .collect();
        let total: u64 = sizes.iter().sum();
        if total == 0 {
            return Ok(f(&vec![&[][..]; tensors.len()]));
        }
        let staging_fits = self.staging.as_ref().is_some_and(|(_, cap)| *cap >= total);
        if !staging_fits {
            let cap = total.next_power_of_two().max(1 << 16);
            let buf = self.ctx.create_buffer(
                "vaerans staging",
                cap,
                wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            )?;
            self.staging = Some((buf, cap));
        }
        let staging = match &self.staging {
            Some((b, _)) => b.clone(),
            None => return Err(Error::Gpu("no staging buffer".into())),
        };
        let arena = self.buffer.clone();
        let encoder = self.encoder_mut();
        let mut at = 0;
        for (t, &size) in tensors.iter().zip(&sizes) {
            encoder.copy_buffer_to_buffer(&arena, t.offset() as u64, &staging, at, size);
            at += size;
        }
        let index = self
            .flush()?
            .ok_or_else(|| Error::Gpu("readback recorded nothing".into()))?;
        let slice = staging.slice(0..total);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let timeout = self.ctx.timeout();
        let mapped = if self.ctx.host_polls() {
            // The host's poll runs the callback; this thread only waits for it.
            rx.recv_timeout(timeout).map_err(|_| not_polled(timeout))?
        } else {
            self.wait(index)?;
            rx.try_recv().map_err(|_| {
                Error::Gpu("the staging buffer was not mapped after the GPU finished".into())
            })?
        };
        if let Err(e) = mapped {
            return Err(Error::Gpu(format!("mapping the staging buffer: {e}")));
        }
        let handed = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("reading the staging buffer: {e}")))
            .map(|view| {
                let mut srcs = Vec::with_capacity(tensors.len());
                let mut at = 0usize;
                for (t, &size) in tensors.iter().zip(&sizes) {
                    srcs.push(&view[at..at + t.byte_len()]);
                    at += size as usize;
                }
                f(&srcs)
            });
        staging.unmap();
        Counters::bump(&self.ctx.counters().readbacks);
        handed
    }
}

/// The error of a wait the host's polling did not end in time.
fn not_polled(timeout: std::time::Duration) -> Error {
    Error::Gpu(format!(
        "the GPU work was not done within {timeout:?}; with host polling on, the host must \
         keep calling Device::poll while a readback waits"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::context;

    /// Uploads `sizes` byte tensors of distinct contents (`tag` picks them) in one upload and
    /// returns them with their contents.
    fn upload_bytes(gpu: &mut GpuArena, sizes: &[usize], tag: u8) -> Vec<(TensorRef, Vec<u8>)> {
        let tensors: Vec<(TensorRef, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let t = gpu.alloc(DType::U8, &[n]).unwrap();
                let bytes = (0..n)
                    .map(|k| (k as u8).wrapping_mul(31) ^ tag ^ (i as u8))
                    .collect();
                (t, bytes)
            })
            .collect();
        let items: Vec<(TensorRef, &[u8])> =
            tensors.iter().map(|(t, b)| (*t, b.as_slice())).collect();
        gpu.upload(&items).unwrap();
        tensors
    }

    fn assert_resident(gpu: &mut GpuArena, tensors: &[(TensorRef, Vec<u8>)]) {
        let refs: Vec<TensorRef> = tensors.iter().map(|(t, _)| *t).collect();
        let back = gpu.readback(&refs).unwrap();
        for ((_, want), got) in tensors.iter().zip(&back) {
            assert_eq!(got, want);
        }
    }

    /// Uploads land intact: odd sizes with alignment padding between them, two uploads in one
    /// batch, and an upload after one that a reset dropped before it was submitted.
    #[test]
    fn uploads_land_intact() {
        let ctx = context();
        let mut gpu = GpuArena::new(&ctx, 1 << 20).unwrap();
        let odd = [1, 3, 4, 5, 1000, 17];
        let a = upload_bytes(&mut gpu, &odd, 1);
        let b = upload_bytes(&mut gpu, &odd, 2);
        assert_resident(&mut gpu, &a);
        assert_resident(&mut gpu, &b);
        gpu.reset();
        let _dropped = upload_bytes(&mut gpu, &odd, 3);
        gpu.reset();
        let c = upload_bytes(&mut gpu, &[300_000, 7], 4);
        assert_resident(&mut gpu, &c);
        let before = ctx.stats();
        gpu.reset();
        let d = upload_bytes(&mut gpu, &odd, 5);
        assert_resident(&mut gpu, &d);
        let s = ctx.stats().since(&before);
        assert_eq!((s.uploads, s.readbacks), (1, 1));
        // Destinations of the wrong size are an error before anything is read, and the next
        // readback works.
        let refs: Vec<TensorRef> = d.iter().map(|(t, _)| *t).collect();
        let mut short: Vec<Vec<u8>> = d.iter().map(|(_, b)| vec![0; b.len()]).collect();
        short[1].pop();
        let mut dsts: Vec<&mut [u8]> = short.iter_mut().map(Vec::as_mut_slice).collect();
        assert!(matches!(
            gpu.readback_into(&refs, &mut dsts),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            gpu.readback_into(&refs, &mut dsts[..2]),
            Err(Error::InvalidInput(_))
        ));
        assert_resident(&mut gpu, &d);
    }

    /// A handle past what the arena allocated is an error, never a read of other memory.
    #[test]
    fn a_handle_beyond_the_allocated_bytes_is_an_error() {
        let mut gpu = GpuArena::new(&context(), 1 << 16).unwrap();
        let t = gpu.alloc(DType::F32, &[4]).unwrap();
        let forged =
            TensorRef::new(Location::Gpu, 4096, DType::F32, &[4], t.arena, t.generation).unwrap();
        assert!(matches!(gpu.check(&forged), Err(Error::Internal(_))));
        assert!(matches!(gpu.readback(&[forged]), Err(Error::Internal(_))));
    }
}

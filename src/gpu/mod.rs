//! The GPU path's plumbing: a wgpu device ([`GpuContext`]), the GPU-resident arena
//! ([`GpuArena`]) and what every kernel shares (one bind-group layout, pipeline cache, counters).
//!
//! The kernels themselves live with their stage: `shaders/<stage>.wgsl` beside the stage's
//! folder `src/latent/<stage>/`, whose `gpu.rs` owns the kernel's descriptor type, its dispatch
//! and its parity tests against the stage's `reference.rs`.
//!
//! ```no_run
//! # fn main() -> vaerans::Result<()> {
//! use vaerans::gpu::GpuContext;
//! let ctx = GpuContext::new()?; // honours WGPU_BACKEND, WGPU_ADAPTER_NAME, WGPU_POWER_PREF
//! println!("running on {}", ctx.adapter_description());
//! # Ok(())
//! # }
//! ```

pub(crate) mod arena;
#[cfg_attr(not(feature = "check_gpu"), allow(dead_code))]
pub(crate) mod check;
mod context;
#[cfg(test)]
#[path = "../../tests/common/gpu.rs"]
pub(crate) mod testing;

pub use arena::{GpuArena, DEFAULT_GPU_ARENA_BYTES};
pub use context::{GpuContext, GpuStats, DEFAULT_POLL_TIMEOUT};
pub(crate) use context::{Kernel, WORKGROUP};

use crate::error::{Error, Result};

/// The workgroup grid for `jobs` descriptor entries with `chunks` workgroups each along x:
/// jobs over y, spilling into z past the per-dimension limit (`job_index` in `common.wgsl`);
/// the x count is capped, and kernels stride over the rest.
pub(crate) fn job_grid(ctx: &GpuContext, chunks: usize, jobs: usize) -> [u32; 3] {
    let max = ctx.max_groups() as usize;
    let x = chunks.clamp(1, max.min(1024));
    let y = jobs.clamp(1, max);
    let z = jobs.div_ceil(y).max(1);
    [x as u32, y as u32, z.min(max) as u32]
}

/// Workgroups needed to cover `n` items, one per invocation.
pub(crate) fn groups_for(n: usize) -> usize {
    n.div_ceil(WORKGROUP as usize)
}

/// A size or offset as the `u32` kernels address with, or an error for batches too large.
pub(crate) fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::Gpu(format!(
            "{what} {v} does not fit the kernels' 32-bit addressing; use smaller batches"
        ))
    })
}

/// Checks that a kernel's descriptor struct in WGSL and in Rust agree, field by field.
#[cfg(test)]
pub(crate) mod layout {
    /// Asserts that `desc`, a `#[repr(C)]` struct of `u32`s built with field `i` set to `i`,
    /// lists its fields in the order `fields` names them, and that the WGSL struct `name` in
    /// `source` has exactly those fields, each a `u32` at offset `4·i`, and the same size.
    pub(crate) fn assert_same<D: bytemuck::Pod>(
        desc: D,
        source: &str,
        name: &str,
        fields: &[&str],
    ) {
        let words: &[u32] = bytemuck::cast_slice(std::slice::from_ref(&desc));
        let order: Vec<u32> = (0..fields.len() as u32).collect();
        assert_eq!(words, order.as_slice(), "Rust {name}: fields out of order");
        let full = format!("{source}\n{}", super::context::COMMON_WGSL);
        let module = naga::front::wgsl::parse_str(&full).expect("the build script validated it");
        let ty = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .map(|(_, t)| t)
            .unwrap_or_else(|| panic!("no struct {name} in the shader"));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{name} is not a struct");
        };
        assert_eq!(*span as usize, std::mem::size_of::<D>(), "{name}: size");
        let got: Vec<(String, u32)> = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
            .collect();
        let want: Vec<(String, u32)> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.to_string(), 4 * i as u32))
            .collect();
        assert_eq!(got, want, "WGSL {name}: fields");
        for m in members {
            assert!(
                matches!(
                    module.types[m.ty].inner,
                    naga::TypeInner::Scalar(naga::Scalar::U32)
                ),
                "{name}.{:?} is not u32",
                m.name
            );
        }
    }
}

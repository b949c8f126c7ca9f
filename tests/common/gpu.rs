//! What every GPU test shares, the stages' parity tests (`src/latent/<stage>/gpu.rs`, which
//! include this file as `crate::gpu::testing`) and `tests/gpu.rs` alike: a device per test, the
//! sizes every kernel is checked on, latent-like data and the error measure. Written against
//! the public API (`vaerans::`), so both can use it.
//!
//! Nothing here is skipped: without an adapter the tests fail with the message that says how
//! to install one (the README's test command installs Mesa's Vulkan driver when none is found).
//! Sizes stay small because lavapipe runs the kernels on the CPU.

use rand::{Rng, SeedableRng};
use vaerans::gpu::GpuContext;
use vaerans::{Component, Entity, TensorRef, World};

/// The sizes every parity test covers `(h, w)`, in one batch: 1×1, odd, a power of two, a
/// latent's, and one past a workgroup on both sides.
pub const SIZES: [(usize, usize); 6] = [(1, 1), (3, 5), (17, 9), (64, 64), (96, 64), (127, 255)];

/// A device of its own for one test, so the counters it asserts on ([`GpuContext::stats`])
/// count only its own work while other tests run in parallel.
pub fn context() -> GpuContext {
    GpuContext::new().unwrap_or_else(|e| panic!("{e}"))
}

/// A latent-like tensor: smooth structure plus noise, roughly unit range, with a per-channel
/// offset so the Hadamard stage has something to decorrelate.
pub fn latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let smooth = ((x as f32 * 0.21 + ch as f32).sin() + (y as f32 * 0.13).cos()) * 0.8;
                v.push(smooth + rng.random_range(-0.5f32..0.5) + ch as f32 * 0.3);
            }
        }
    }
    v
}

/// Spawns one entity per shape with component `make(tensor)` holding `data(i)`.
pub fn spawn_all<T: Component>(
    w: &mut World,
    shapes: &[[usize; 3]],
    data: impl Fn(usize) -> Vec<f32>,
    make: impl Fn(TensorRef) -> T,
) -> Vec<Entity> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let t = w.arena_mut().alloc_from(s, &data(i)).unwrap();
            w.spawn_with(make(t))
        })
        .collect()
}

/// max |a − b| / max |b| (or the absolute error when `b` is all zeros).
pub fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f32::max);
    if scale > 0.0 {
        diff / scale
    } else {
        diff
    }
}

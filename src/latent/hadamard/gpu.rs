//! The Hadamard stage on the GPU: `shaders/hadamard.wgsl`, the kernel of
//! [`hadamard4`](super::hadamard4), one dispatch for the whole batch.

use super::{input, output};
use crate::core::system::prepare_each;
use crate::error::Result;
use crate::gpu::{groups_for, job_grid, u32_of, Kernel};
use crate::{DType, Direction, Entity, TensorRef, World};

/// One entry per (entity, group of 4 channels); `HadamardDesc` in `shaders/hadamard.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct HadamardDesc {
    /// Word index of the group's first input plane.
    src: u32,
    /// Word index of the group's first output plane.
    dst: u32,
    /// Plane length (`h · w`).
    plane: u32,
}

const KERNEL: Kernel = Kernel {
    name: "hadamard",
    source: include_str!("../../../shaders/hadamard.wgsl"),
    entry: "main",
};

/// The whole batch in one dispatch; inputs still on the host are uploaded first (one upload).
pub(super) fn run(world: &mut World, entities: &[Entity], dir: Direction) -> Result<()> {
    let jobs = prepare_each(world, entities, |w, e| input(w, e, dir));
    if jobs.is_empty() {
        return Ok(());
    }
    let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (t, _))| *t).collect();
    let inputs = world.to_gpu(&inputs)?;
    let gpu = world.gpu_or_err()?;
    let (mut descs, mut outs, mut longest) = (Vec::new(), Vec::new(), 0);
    for ((_, (_, [c, h, w])), input) in jobs.iter().zip(&inputs) {
        let out = gpu.alloc(DType::F32, input.shape())?;
        let (src, dst, plane) = (gpu.word(input)? as usize, gpu.word(&out)? as usize, h * w);
        for g in 0..c / 4 {
            descs.push(HadamardDesc {
                src: u32_of(src + 4 * g * plane, "latent offset")?,
                dst: u32_of(dst + 4 * g * plane, "latent offset")?,
                plane: u32_of(plane, "plane size")?,
            });
        }
        longest = longest.max(plane);
        outs.push(out);
    }
    let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
    gpu.dispatch(&KERNEL, &descs, grid)?;
    #[cfg(feature = "check_gpu")]
    {
        use crate::gpu::check;
        let pairs = check::read_pairs(gpu, &inputs, &outs)?;
        for ((_, (_, [c, h, w])), (x, y)) in jobs.iter().zip(pairs) {
            let (x, y) = (check::as_f32(&x), check::as_f32(&y));
            let mut want = vec![0.0; x.len()];
            super::hadamard4(&x, &mut want, *c, h * w);
            check::f32s("hadamard", &y, &want, 1e-5)?;
        }
    }
    for ((e, _), tensor) in jobs.into_iter().zip(outs) {
        output(world, e, dir, tensor)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{Latent, Yuvw};
    use crate::gpu::testing::{context, latent, rel_err, spawn_all, SIZES};
    use crate::latent::Hadamard;

    #[test]
    fn descriptor_matches_the_shader() {
        let d = HadamardDesc {
            src: 0,
            dst: 1,
            plane: 2,
        };
        crate::gpu::layout::assert_same(d, KERNEL.source, "HadamardDesc", &["src", "dst", "plane"]);
    }

    /// The kernel against [`hadamard4`](super::super::hadamard4) on every size, both ways, the
    /// whole batch in one dispatch.
    #[test]
    fn matches_the_reference_on_every_size() {
        let ctx = context();
        let mut w = World::with_gpu(&ctx).unwrap();
        let mut sh: Vec<[usize; 3]> = SIZES.iter().map(|&(h, w)| [4, h, w]).collect();
        sh.push([8, 17, 9]);
        let inputs: Vec<Vec<f32>> = sh
            .iter()
            .enumerate()
            .map(|(i, s)| latent(s[0], s[1], s[2], i as u64))
            .collect();
        let es = spawn_all(
            &mut w,
            &sh,
            |i| inputs[i].clone(),
            |tensor| Latent { tensor },
        );
        let before = ctx.stats().dispatches;
        let report = w.pipe_batch(&es).to(Hadamard::forward()).execute().unwrap();
        assert!(report.failures.is_empty());
        assert_eq!(
            ctx.stats().dispatches - before,
            1,
            "one dispatch for the batch"
        );
        for (i, &e) in es.iter().enumerate() {
            let t = w.get::<Yuvw>(e).unwrap().tensor;
            assert_eq!(t.location(), crate::Location::Gpu);
            let got: Vec<f32> = w.read(&t).unwrap();
            let [c, h, wd] = sh[i];
            let mut want = vec![0.0; got.len()];
            super::super::hadamard4(&inputs[i], &mut want, c, h * wd);
            assert!(rel_err(&got, &want) <= 1e-5, "{:?}", sh[i]);
        }
        w.pipe_batch(&es).to(Hadamard::inverse()).execute().unwrap();
        for (i, &e) in es.iter().enumerate() {
            let t = w.get::<Latent>(e).unwrap().tensor;
            let got: Vec<f32> = w.read(&t).unwrap();
            assert!(rel_err(&got, &inputs[i]) <= 1e-5, "inverse {:?}", sh[i]);
        }
    }
}

//! The wavelet stage on the GPU: `shaders/wavelet.wgsl`, the kernel of the 1D lifting steps
//! applied to rows and columns as [`forward_2d`](super::forward_2d) and
//! [`inverse_2d`](super::inverse_2d) do, two dispatches per level for the whole batch.

use super::{input, output, Job, WaveletTransform};
use crate::core::system::prepare_each;
use crate::error::Result;
use crate::gpu::{groups_for, job_grid, u32_of, GpuArena, Kernel};
use crate::layout::regions;
use crate::{DType, Direction, Entity, TensorRef, World};

/// One entry per plane; `WaveletDesc` in `shaders/wavelet.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WaveletDesc {
    /// Word index of the plane in the pass's input.
    src: u32,
    /// Word index of the plane in the pass's output.
    dst: u32,
    /// Row stride (the plane's full width).
    stride: u32,
    /// Rows of the region transformed.
    rh: u32,
    /// Columns of the region transformed.
    rw: u32,
    /// The wavelet's stream code (0 CDF 5/3, 1 Haar).
    wavelet: u32,
}

const fn kernel(entry: &'static str) -> Kernel {
    Kernel {
        name: "wavelet",
        source: include_str!("../../../shaders/wavelet.wgsl"),
        entry,
    }
}

/// One entity's part of a batch: its job, and its input, output and scratch tensors on the GPU.
#[derive(Clone)]
struct Planes {
    entity: Entity,
    job: Job,
    /// `regions[l]`: the region level `l + 1` transforms.
    regions: Vec<(usize, usize)>,
    input: TensorRef,
    out: TensorRef,
    tmp: TensorRef,
}

/// One pass over every plane of the entities that have `level` (None: whole planes), from
/// `src` to `dst` of each.
fn pass(
    gpu: &mut GpuArena,
    all: &[Planes],
    entry: &'static str,
    level: Option<usize>,
    src: impl Fn(&Planes) -> TensorRef,
    dst: impl Fn(&Planes) -> TensorRef,
) -> Result<()> {
    let (mut descs, mut longest) = (Vec::new(), 0);
    for p in all {
        let [c, h, w] = p.job.shape;
        let (rh, rw) = match level {
            None => (h, w),
            Some(l) if l < usize::from(p.job.levels) => p.regions[l],
            Some(_) => continue,
        };
        let (s, d) = (gpu.word(&src(p))? as usize, gpu.word(&dst(p))? as usize);
        for ch in 0..c {
            descs.push(WaveletDesc {
                src: u32_of(s + ch * h * w, "plane offset")?,
                dst: u32_of(d + ch * h * w, "plane offset")?,
                stride: u32_of(w, "width")?,
                rh: u32_of(rh, "height")?,
                rw: u32_of(rw, "width")?,
                wavelet: u32::from(p.job.wavelet.code()),
            });
        }
        longest = longest.max(rh * rw);
    }
    let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
    gpu.dispatch(&kernel(entry), &descs, grid)
}

/// The whole batch: two dispatches (rows, then columns) per level, plus one copy; inputs
/// still on the host are uploaded first (one upload).
pub(super) fn run(world: &mut World, entities: &[Entity], sys: &WaveletTransform) -> Result<()> {
    let found = prepare_each(world, entities, |w, e| input(w, e, sys));
    if found.is_empty() {
        return Ok(());
    }
    let inputs: Vec<TensorRef> = found.iter().map(|(_, j)| j.input).collect();
    let inputs = world.to_gpu(&inputs)?;
    let gpu = world.gpu_or_err()?;
    let mut all = Vec::with_capacity(found.len());
    for ((entity, job), input) in found.into_iter().zip(inputs) {
        let [_, h, w] = job.shape;
        all.push(Planes {
            entity,
            regions: regions(h, w, job.levels),
            input,
            out: gpu.alloc(DType::F32, &job.shape)?,
            tmp: gpu.alloc(DType::F32, &job.shape)?,
            job,
        });
    }
    let most = all
        .iter()
        .map(|p| usize::from(p.job.levels))
        .max()
        .unwrap_or(0);
    match sys.direction {
        Direction::Forward => {
            // Level 1 reads the input; planes too small for any level are copied.
            let flat: Vec<Planes> = all.iter().filter(|p| p.job.levels == 0).cloned().collect();
            if !flat.is_empty() {
                pass(gpu, &flat, "copy", None, |p| p.input, |p| p.out)?;
            }
            for l in 0..most {
                if l == 0 {
                    pass(gpu, &all, "forward_rows", Some(l), |p| p.input, |p| p.tmp)?;
                } else {
                    pass(gpu, &all, "forward_rows", Some(l), |p| p.out, |p| p.tmp)?;
                }
                pass(gpu, &all, "forward_cols", Some(l), |p| p.tmp, |p| p.out)?;
            }
        }
        Direction::Inverse => {
            pass(gpu, &all, "copy", None, |p| p.input, |p| p.out)?;
            for l in (0..most).rev() {
                pass(gpu, &all, "inverse_cols", Some(l), |p| p.out, |p| p.tmp)?;
                pass(gpu, &all, "inverse_rows", Some(l), |p| p.tmp, |p| p.out)?;
            }
        }
    }
    #[cfg(feature = "check_gpu")]
    {
        use crate::gpu::check;
        let (ins, outs): (Vec<TensorRef>, Vec<TensorRef>) =
            all.iter().map(|p| (p.input, p.out)).unzip();
        for (p, (x, y)) in all.iter().zip(check::read_pairs(gpu, &ins, &outs)?) {
            let [_, h, w] = p.job.shape;
            let mut want = check::as_f32(&x);
            for plane in want.chunks_exact_mut(h * w) {
                match sys.direction {
                    Direction::Forward => {
                        super::forward_2d(p.job.wavelet, plane, h, w, p.job.levels);
                    }
                    Direction::Inverse => {
                        super::inverse_2d(p.job.wavelet, plane, h, w, p.job.levels)
                    }
                }
            }
            check::f32s(sys.name_of(), &check::as_f32(&y), &want, 1e-5)?;
        }
    }
    for p in all {
        output(world, p.entity, sys.direction, &p.job, p.out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::components::{WaveletPyr, Yuvw};
    use crate::gpu::testing::{context, latent, rel_err, spawn_all, SIZES};
    use crate::layout::{max_levels, Wavelet};

    #[test]
    fn descriptor_matches_the_shader() {
        let d = WaveletDesc {
            src: 0,
            dst: 1,
            stride: 2,
            rh: 3,
            rw: 4,
            wavelet: 5,
        };
        crate::gpu::layout::assert_same(
            d,
            kernel("copy").source,
            "WaveletDesc",
            &["src", "dst", "stride", "rh", "rw", "wavelet"],
        );
        assert_eq!(
            u32::from(Wavelet::Cdf53.code()),
            0,
            "the shader's wavelet codes"
        );
        assert_eq!(u32::from(Wavelet::Haar.code()), 1);
    }

    /// The kernels against [`forward_2d`](super::super::forward_2d) and
    /// [`inverse_2d`](super::super::inverse_2d) on every size, both wavelets, one, some and
    /// more levels than fit; two dispatches per level for the batch.
    #[test]
    fn matches_the_reference_on_every_size_and_level() {
        let ctx = context();
        let mut w = World::with_gpu(&ctx).unwrap();
        let sh: Vec<[usize; 3]> = SIZES.iter().map(|&(h, w)| [4, h, w]).collect();
        let inputs: Vec<Vec<f32>> = sh
            .iter()
            .enumerate()
            .map(|(i, s)| latent(s[0], s[1], s[2], 10 + i as u64))
            .collect();
        for wavelet in [Wavelet::Cdf53, Wavelet::Haar] {
            for levels in [1u8, 4, 9] {
                w.clear();
                let es = spawn_all(&mut w, &sh, |i| inputs[i].clone(), |tensor| Yuvw { tensor });
                let before = ctx.stats().dispatches;
                w.pipe_batch(&es)
                    .to(WaveletTransform::forward(wavelet, levels))
                    .execute()
                    .unwrap();
                let most = SIZES
                    .iter()
                    .map(|&(h, wd)| max_levels(h, wd).min(levels))
                    .max()
                    .unwrap();
                // rows + columns per level, plus the copy of planes too small for any level
                assert_eq!(
                    ctx.stats().dispatches - before,
                    2 * u64::from(most) + 1,
                    "{wavelet:?} {levels}"
                );
                let mut coeffs = Vec::new();
                for (i, &e) in es.iter().enumerate() {
                    let p = *w.get::<WaveletPyr>(e).unwrap();
                    let got: Vec<f32> = w.read(&p.tensor).unwrap();
                    let [_, h, wd] = sh[i];
                    let mut want = inputs[i].clone();
                    for plane in want.chunks_exact_mut(h * wd) {
                        super::super::forward_2d(wavelet, plane, h, wd, levels);
                    }
                    assert_eq!(p.levels, levels.min(max_levels(h, wd)));
                    let err = rel_err(&got, &want);
                    assert!(
                        err <= 1e-5,
                        "forward {wavelet:?} L{levels} {:?}: {err}",
                        sh[i]
                    );
                    coeffs.push(want);
                }
                // Inverse from the reference's coefficients; WaveletPyr records the levels
                // actually applied.
                w.clear();
                let es = spawn_all(
                    &mut w,
                    &sh,
                    |i| coeffs[i].clone(),
                    |tensor| WaveletPyr {
                        tensor,
                        wavelet,
                        levels,
                    },
                );
                for (i, &e) in es.iter().enumerate() {
                    w.get_mut::<WaveletPyr>(e).unwrap().levels =
                        levels.min(max_levels(sh[i][1], sh[i][2]));
                }
                w.pipe_batch(&es)
                    .to(WaveletTransform::inverse())
                    .execute()
                    .unwrap();
                for (i, &e) in es.iter().enumerate() {
                    let t = w.get::<Yuvw>(e).unwrap().tensor;
                    let got: Vec<f32> = w.read(&t).unwrap();
                    let [_, h, wd] = sh[i];
                    let mut want = coeffs[i].clone();
                    for plane in want.chunks_exact_mut(h * wd) {
                        super::super::inverse_2d(wavelet, plane, h, wd, levels);
                    }
                    assert!(
                        rel_err(&got, &want) <= 1e-5,
                        "inverse {wavelet:?} L{levels} {:?}",
                        sh[i]
                    );
                    assert!(rel_err(&got, &inputs[i]) <= 1e-5, "round trip {:?}", sh[i]);
                }
            }
        }
    }
}

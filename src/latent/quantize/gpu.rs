//! The quantiser on the GPU: `shaders/quantize.wgsl` (statistics, step choice, quantisation and
//! histograms in one pass) and `shaders/dequantize.wgsl`, the kernels of
//! [`quantize_plane`](super::quantize_plane) and [`dequantize_plane`](super::dequantize_plane).

use super::reference::{initial_code, non_finite_error, range_error, zero_zone};
use super::{forward_input, insert_forward, insert_inverse, inverse_input};
use crate::components::{BandQuant, WaveletPyr};
use crate::core::system::prepare_each;
use crate::error::{Error, Result};
use crate::gpu::{groups_for, job_grid, u32_of, Kernel};
use crate::layout::{bands, Band};
use crate::{DType, Entity, TensorRef, World};

/// Flag in a band's parameter word: the range does not fit even the largest step.
const FLAG_RANGE: u32 = 1;
/// Flag in a band's parameter word: the band holds a NaN or an infinity.
const FLAG_NON_FINITE: u32 = 2;

/// One entry per (entity, channel, band); `QuantDesc` in `shaders/quantize.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct QuantDesc {
    /// Word index of the channel's coefficient plane.
    src: u32,
    /// Row stride of the plane (its width).
    stride: u32,
    /// Band rectangle.
    bx: u32,
    /// Band rectangle.
    by: u32,
    /// Band rectangle.
    bw: u32,
    /// Band rectangle.
    bh: u32,
    /// Step code to start from ([`initial_code`]).
    code0: u32,
    /// The bits of the band's zero-bin half-width ([`zero_zone`]).
    zero: u32,
    /// Word index of the band's packed symbols.
    out_sym: u32,
    /// Word index of the band's two parameter words.
    out_params: u32,
    /// Word index of the band's 256 histogram bins.
    out_hist: u32,
}

/// One entry per (entity, channel, band); `DequantDesc` in `shaders/dequantize.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct DequantDesc {
    /// Byte index of the band's first symbol (coding order: the band's symbols are contiguous).
    sym: u32,
    /// Word index of the channel's output plane.
    dst: u32,
    /// Row stride of the output plane.
    stride: u32,
    /// Band rectangle.
    bx: u32,
    /// Band rectangle.
    by: u32,
    /// Band rectangle.
    bw: u32,
    /// Band rectangle.
    bh: u32,
    /// The exact step's bits.
    step: u32,
    /// `center − 128` as f32 bits.
    offset: u32,
}

const QUANTIZE: Kernel = Kernel {
    name: "quantize",
    source: include_str!("../../../shaders/quantize.wgsl"),
    entry: "main",
};

const DEQUANTIZE: Kernel = Kernel {
    name: "dequantize",
    source: include_str!("../../../shaders/dequantize.wgsl"),
    entry: "main",
};

/// Where one entity's bands sit in the batch's output block.
struct Layout {
    entity: Entity,
    pyr: WaveletPyr,
    shape: [usize; 3],
    table: Vec<Band>,
    /// First band job of the entity.
    first_job: usize,
    /// Word offset (in the symbol section) of each of the entity's band jobs.
    sym_words: Vec<usize>,
}

/// `WaveletPyr → Symbols + QuantParams + Histograms` for a whole batch: one dispatch, one
/// readback (parameters, histograms and packed symbols in one block).
pub(super) fn quantize(
    world: &mut World,
    entities: &[Entity],
    quality: u8,
    allocation: &super::StepAllocation,
) -> Result<()> {
    let jobs = prepare_each(world, entities, |w, e| {
        let (p, shape) = forward_input(w, e)?;
        allocation.check(shape[0])?;
        Ok((p, shape))
    });
    if jobs.is_empty() {
        return Ok(());
    }
    let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (p, _))| p.tensor).collect();
    let inputs = world.to_gpu(&inputs)?;

    // Output block: [2 parameter words per job | 256 bins per job | packed symbols], each
    // band's symbols starting at a word.
    let mut layouts = Vec::with_capacity(jobs.len());
    let (mut n_jobs, mut sym_total) = (0usize, 0usize);
    for (e, (p, shape)) in &jobs {
        let [c, h, w] = *shape;
        let table = bands(h, w, p.levels);
        let mut sym_words = Vec::with_capacity(c * table.len());
        for _ in 0..c {
            for b in &table {
                sym_words.push(sym_total);
                sym_total += b.len().div_ceil(4);
            }
        }
        n_jobs += sym_words.len();
        layouts.push(Layout {
            entity: *e,
            pyr: *p,
            shape: *shape,
            first_job: n_jobs - sym_words.len(),
            table,
            sym_words,
        });
    }
    let hist_at = 2 * n_jobs;
    let sym_at = hist_at + 256 * n_jobs;
    let total = sym_at + sym_total;

    let gpu = world.gpu_or_err()?;
    let out = gpu.alloc(DType::U32, &[total])?;
    let base = gpu.word(&out)? as usize;
    let mut descs = Vec::with_capacity(n_jobs);
    for (l, input) in layouts.iter().zip(&inputs) {
        let [c, h, w] = l.shape;
        let src = gpu.word(input)? as usize;
        let mut j = 0;
        for ch in 0..c {
            for b in &l.table {
                let job = l.first_job + j;
                descs.push(QuantDesc {
                    src: u32_of(src + ch * h * w, "coefficient offset")?,
                    stride: u32_of(w, "width")?,
                    bx: b.x as u32,
                    by: b.y as u32,
                    bw: b.w as u32,
                    bh: b.h as u32,
                    code0: u32::from(initial_code(
                        quality,
                        b,
                        l.pyr.wavelet,
                        allocation.offset(ch, b),
                    )),
                    zero: zero_zone(b).to_bits(),
                    out_sym: u32_of(base + sym_at + l.sym_words[j], "symbol offset")?,
                    out_params: u32_of(base + 2 * job, "parameter offset")?,
                    out_hist: u32_of(base + hist_at + 256 * job, "histogram offset")?,
                });
                j += 1;
            }
        }
    }
    let grid = job_grid(gpu.context(), 1, descs.len());
    gpu.dispatch(&QUANTIZE, &descs, grid)?;
    let block = gpu
        .readback(&[out])?
        .pop()
        .ok_or_else(|| Error::Internal("the quantiser's readback returned nothing".into()))?;
    let words: &[u32] = bytemuck::try_cast_slice(&block)
        .map_err(|e| Error::Internal(format!("the quantiser's readback block: {e}")))?;
    if words.len() != total {
        return Err(Error::Internal(format!(
            "the quantiser's readback returned {} words, expected {total}",
            words.len()
        )));
    }
    let sym_bytes: &[u8] = bytemuck::cast_slice(&words[sym_at..]);
    #[cfg(feature = "check_gpu")]
    let coefficients = gpu.readback(&inputs)?;

    for l in layouts {
        let [c, h, w] = l.shape;
        let per = c * l.table.len();
        let mut params = Vec::with_capacity(per);
        let mut hists = Vec::with_capacity(per);
        let mut failure = None;
        for j in 0..per {
            let job = l.first_job + j;
            let word = words[2 * job];
            let flags = word >> 8;
            if flags & FLAG_NON_FINITE != 0 {
                failure = Some(non_finite_error());
                break;
            }
            if flags & FLAG_RANGE != 0 {
                failure = Some(range_error(None));
                break;
            }
            params.push(BandQuant {
                step_code: (word & 0xff) as u8,
                center: words[2 * job + 1] as i32,
            });
            let mut hist = [0u32; 256];
            hist.copy_from_slice(&words[hist_at + 256 * job..hist_at + 256 * (job + 1)]);
            hists.push(hist);
        }
        if let Some(err) = failure {
            world.record_failure(l.entity, err);
            continue;
        }
        // Coding order: the bands one after another, so each band is one copy.
        let tensor = world.arena_mut().alloc(DType::U8, &[c, h, w])?;
        let symbols = world.arena_mut().view_mut::<u8>(&tensor)?;
        let mut at = 0;
        for (j, b) in (0..c).flat_map(|_| &l.table).enumerate() {
            let from = 4 * l.sym_words[j];
            symbols[at..at + b.len()].copy_from_slice(&sym_bytes[from..from + b.len()]);
            at += b.len();
        }
        #[cfg(feature = "check_gpu")]
        {
            use crate::gpu::check;
            let k = layouts_index(&l, &jobs);
            let x = check::as_f32(&coefficients[k]);
            let (mut want_syms, mut want_hists) = (vec![0u8; c * h * w], Vec::new());
            let mut want = Vec::with_capacity(per);
            for (ch, (plane, syms)) in x
                .chunks_exact(h * w)
                .zip(want_syms.chunks_exact_mut(h * w))
                .enumerate()
            {
                want.extend(super::quantize_plane(
                    plane,
                    w,
                    &l.table,
                    l.pyr.wavelet,
                    quality,
                    (allocation, ch),
                    syms,
                    &mut want_hists,
                )?);
            }
            check::equal("quantize", &params, &want)?;
            check::symbols("quantize", symbols, &want_syms)?;
        }
        insert_forward(
            world,
            l.entity,
            tensor,
            &l.pyr,
            (quality, allocation),
            params,
            hists,
        )?;
    }
    Ok(())
}

/// The index of `l`'s entity among the batch's jobs (the order of `inputs`).
#[cfg(feature = "check_gpu")]
fn layouts_index(l: &Layout, jobs: &[(Entity, (WaveletPyr, [usize; 3]))]) -> usize {
    jobs.iter().position(|(e, _)| *e == l.entity).unwrap_or(0)
}

/// `Symbols + QuantParams → WaveletPyr` for a whole batch: one upload of every entity's
/// symbols, one dispatch; the coefficients stay on the GPU.
pub(super) fn dequantize(world: &mut World, entities: &[Entity]) -> Result<()> {
    let jobs = prepare_each(world, entities, |w, e| {
        inverse_input(w, e).map(|(s, q, [c, h, wd])| (s, [c, h, wd], bands(h, wd, q.levels), q))
    });
    if jobs.is_empty() {
        return Ok(());
    }
    let inputs: Vec<TensorRef> = jobs.iter().map(|(_, (s, ..))| *s).collect();
    let inputs = world.to_gpu(&inputs)?;
    let gpu = world.gpu_or_err()?;
    let mut descs = Vec::new();
    let mut outs = Vec::with_capacity(jobs.len());
    let mut longest = 0;
    for ((_, (_, [c, h, w], table, q)), input) in jobs.iter().zip(&inputs) {
        let out = gpu.alloc(DType::F32, &[*c, *h, *w])?;
        gpu.check(input)?;
        let (mut sym, dst) = (input.offset(), gpu.word(&out)? as usize);
        let per = table.len();
        for ch in 0..*c {
            for (b, p) in table.iter().zip(&q.bands[ch * per..(ch + 1) * per]) {
                longest = longest.max(b.len());
                descs.push(DequantDesc {
                    sym: u32_of(sym, "symbol offset")?,
                    dst: u32_of(dst + ch * h * w, "coefficient offset")?,
                    stride: u32_of(*w, "width")?,
                    bx: b.x as u32,
                    by: b.y as u32,
                    bw: b.w as u32,
                    bh: b.h as u32,
                    step: p.step().to_bits(),
                    offset: (p.center as f32 - 128.0).to_bits(),
                });
                sym += b.len();
            }
        }
        outs.push(out);
    }
    let grid = job_grid(gpu.context(), groups_for(longest), descs.len());
    gpu.dispatch(&DEQUANTIZE, &descs, grid)?;
    #[cfg(feature = "check_gpu")]
    {
        use crate::gpu::check;
        let pairs = check::read_pairs(gpu, &inputs, &outs)?;
        for ((_, (_, [c, h, w], table, q)), (syms, coeffs)) in jobs.iter().zip(pairs) {
            let per = table.len();
            let mut want = vec![0.0f32; c * h * w];
            for (ch, (syms, plane)) in syms
                .chunks_exact(h * w)
                .zip(want.chunks_exact_mut(h * w))
                .enumerate()
            {
                super::dequantize_plane(syms, *w, table, &q.bands[ch * per..(ch + 1) * per], plane);
            }
            check::f32s("dequantize", &check::as_f32(&coeffs), &want, 1e-6)?;
        }
    }
    for ((e, (.., q)), tensor) in jobs.into_iter().zip(outs) {
        insert_inverse(world, e, tensor, &q)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::reference::MAX_CENTER;
    use super::*;
    use crate::components::{Histograms, Latent, QuantParams, Symbols};
    use crate::entropy::histogram;
    use crate::gpu::testing::{context, latent, rel_err, spawn_all, SIZES};
    use crate::latent::{Hadamard, Quantize, WaveletTransform};
    use crate::layout::Wavelet;

    #[test]
    fn descriptors_match_the_shaders() {
        let q = QuantDesc {
            src: 0,
            stride: 1,
            bx: 2,
            by: 3,
            bw: 4,
            bh: 5,
            code0: 6,
            zero: 7,
            out_sym: 8,
            out_params: 9,
            out_hist: 10,
        };
        crate::gpu::layout::assert_same(
            q,
            QUANTIZE.source,
            "QuantDesc",
            &[
                "src",
                "stride",
                "bx",
                "by",
                "bw",
                "bh",
                "code0",
                "zero",
                "out_sym",
                "out_params",
                "out_hist",
            ],
        );
        let d = DequantDesc {
            sym: 0,
            dst: 1,
            stride: 2,
            bx: 3,
            by: 4,
            bw: 5,
            bh: 6,
            step: 7,
            offset: 8,
        };
        crate::gpu::layout::assert_same(
            d,
            DEQUANTIZE.source,
            "DequantDesc",
            &[
                "sym", "dst", "stride", "bx", "by", "bw", "bh", "step", "offset",
            ],
        );
        for (flag, name) in [
            (FLAG_RANGE, "FLAG_RANGE"),
            (FLAG_NON_FINITE, "FLAG_NON_FINITE"),
        ] {
            let decl = format!("const {name}: u32 = {flag}u;");
            assert!(
                QUANTIZE.source.contains(&decl),
                "quantize.wgsl lacks `{decl}`"
            );
        }
        assert!(QUANTIZE
            .source
            .contains(&format!("const MAX_CENTER: i32 = {MAX_CENTER};")));
    }

    /// Runs Hadamard → wavelet → quantise on `w` for latents of `sh` and returns, per entity,
    /// the symbols, the parameters and the histograms.
    fn quantize_all(
        w: &mut World,
        sh: &[[usize; 3]],
        inputs: &[Vec<f32>],
        (quality, allocation): (u8, &std::sync::Arc<super::super::StepAllocation>),
    ) -> Vec<(Vec<u8>, QuantParams, Vec<[u32; 256]>)> {
        w.clear();
        let es = spawn_all(w, sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
        let report = w
            .pipe_batch(&es)
            .to(Hadamard::forward())
            .to(WaveletTransform::forward(Wavelet::Cdf53, 4))
            .to(Quantize::forward(quality).with_allocation(allocation.clone()))
            .execute()
            .unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        es.iter()
            .map(|&e| {
                let s = w.get::<Symbols>(e).unwrap().tensor;
                assert_eq!(
                    s.location(),
                    crate::Location::Cpu,
                    "symbols come home for rANS"
                );
                (
                    w.read::<u8>(&s).unwrap(),
                    w.get::<QuantParams>(e).unwrap().clone(),
                    w.get::<Histograms>(e).unwrap().0.clone(),
                )
            })
            .collect()
    }

    /// The kernel against [`quantize_plane`](super::super::quantize_plane): the same parameters,
    /// symbols that differ at most by one and only at rounding boundaries, and histograms that
    /// are exactly those of the symbols read back.
    #[test]
    fn quantisation_matches_the_reference_and_counts_its_symbols() {
        let ctx = context();
        let sh: Vec<[usize; 3]> = SIZES.iter().map(|&(h, w)| [4, h, w]).collect();
        let inputs: Vec<Vec<f32>> = sh
            .iter()
            .enumerate()
            .map(|(i, s)| latent(s[0], s[1], s[2], 20 + i as u64))
            .collect();
        let mut cpu = World::new();
        let mut gpu = World::with_gpu(&ctx).unwrap();
        // A calibrated model's allocation moves every band's starting step: the kernel starts
        // where the host says, on both paths.
        let uniform = std::sync::Arc::default();
        let spread = std::sync::Arc::new(
            super::super::StepAllocation::new(vec![0, -9, 12, 30], vec![-3, 5, 0]).unwrap(),
        );
        for (quality, allocation) in [
            (10u8, &uniform),
            (75, &uniform),
            (75, &spread),
            (100, &spread),
        ] {
            let want = quantize_all(&mut cpu, &sh, &inputs, (quality, allocation));
            let got = quantize_all(&mut gpu, &sh, &inputs, (quality, allocation));
            let (mut differ, mut total) = (0usize, 0usize);
            for (i, ((gs, gp, gh), (cs, cp, ch))) in got.iter().zip(&want).enumerate() {
                assert_eq!(gp, cp, "parameters of {:?} at q{quality}", sh[i]);
                for (a, b) in gs.iter().zip(cs) {
                    assert!(a.abs_diff(*b) <= 1, "{:?} q{quality}: {a} vs {b}", sh[i]);
                    differ += usize::from(a != b);
                }
                total += gs.len();
                // Coding order: each band's symbols follow the previous band's.
                let [c, h, wd] = sh[i];
                let table = bands(h, wd, gp.levels);
                let mut at = 0;
                for (k, b) in (0..c).flat_map(|_| &table).enumerate() {
                    assert_eq!(
                        gh[k],
                        histogram(&gs[at..at + b.len()]),
                        "{:?} band {k}",
                        sh[i]
                    );
                    at += b.len();
                }
                assert_eq!(at, gs.len());
                assert_eq!(ch.len(), gh.len());
            }
            assert!(
                differ * 10_000 <= total,
                "q{quality}: {differ} of {total} symbols differ"
            );
        }
    }

    /// The dequantisation kernel against [`dequantize_plane`](super::super::dequantize_plane) on
    /// the same symbols and parameters.
    #[test]
    fn dequantisation_matches_the_reference() {
        let ctx = context();
        let sh: Vec<[usize; 3]> = SIZES.iter().map(|&(h, w)| [4, h, w]).collect();
        let inputs: Vec<Vec<f32>> = sh
            .iter()
            .enumerate()
            .map(|(i, s)| latent(s[0], s[1], s[2], 30 + i as u64))
            .collect();
        let quantised = quantize_all(&mut World::new(), &sh, &inputs, (75, &Default::default()));
        let run = |w: &mut World| -> Vec<Vec<f32>> {
            w.clear();
            let es: Vec<Entity> = quantised
                .iter()
                .zip(&sh)
                .map(|((s, q, _), shape)| {
                    let tensor = w.arena_mut().alloc_from(shape, s).unwrap();
                    let e = w.spawn_with(Symbols { tensor });
                    w.insert(e, q.clone()).unwrap();
                    e
                })
                .collect();
            w.pipe_batch(&es).to(Quantize::inverse()).execute().unwrap();
            es.iter()
                .map(|&e| {
                    let t = w.get::<WaveletPyr>(e).unwrap().tensor;
                    w.read::<f32>(&t).unwrap()
                })
                .collect()
        };
        let want = run(&mut World::new());
        let got = run(&mut World::with_gpu(&ctx).unwrap());
        for (i, (g, c)) in got.iter().zip(&want).enumerate() {
            assert!(rel_err(g, c) <= 1e-6, "{:?}: {}", sh[i], rel_err(g, c));
        }
    }
}

//! The GPU path against the CPU reference, on a real adapter (lavapipe in CI).
//!
//! Nothing here is skipped: without an adapter these tests fail with the message that says how
//! to install one (the README's test command installs Mesa's Vulkan driver when none is found).
//! Sizes stay small because lavapipe runs the kernels on the CPU.
#![cfg(feature = "gpu")]

use rand::{Rng, SeedableRng};
use vaerans::entropy::rans::histogram;
use vaerans::gpu::{GpuContext, GpuStats};
use vaerans::hadamard::hadamard4;
use vaerans::prelude::*;
use vaerans::wavelet::{bands, forward_2d, inverse_2d, max_levels};

/// The sizes every parity test covers (h, w), in one batch.
const SIZES: [(usize, usize); 6] = [(1, 1), (3, 5), (17, 9), (64, 64), (96, 64), (127, 255)];

fn ctx() -> GpuContext {
    GpuContext::new().unwrap_or_else(|e| panic!("{e}"))
}

/// A latent-like tensor: smooth structure plus noise, roughly unit range, with a per-channel
/// offset so the Hadamard stage has something to decorrelate.
fn latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
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
fn spawn_all<T: Component>(
    w: &mut World,
    shapes: &[[usize; 3]],
    data: impl Fn(usize) -> Vec<f32>,
    make: impl Fn(TensorRef) -> T,
) -> Vec<Entity> {
    shapes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let e = w.spawn();
            let t = w.arena_mut().alloc_from(s, &data(i)).unwrap();
            w.insert(e, make(t)).unwrap();
            e
        })
        .collect()
}

fn shapes(c: usize) -> Vec<[usize; 3]> {
    SIZES.iter().map(|&(h, w)| [c, h, w]).collect()
}

/// max |a − b| / max |b| (or the absolute error when `b` is all zeros).
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
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

/// Hadamard → CDF 5/3 (4 levels) → quantisation at `quality` → rANS, over the batch `es`.
fn encode(w: &mut World, es: &[Entity], quality: u8) -> PipeReport {
    w.pipe_batch(es)
        .to(Hadamard::forward())
        .to(WaveletTransform::forward(Wavelet::Cdf53, 4))
        .to(Quantize::forward(quality))
        .to(EntropyCoder::forward())
        .execute()
        .unwrap()
}

/// rANS⁻¹ → dequantisation → wavelet⁻¹ → Hadamard⁻¹, over the batch `es`.
fn decode(w: &mut World, es: &[Entity]) {
    w.pipe_batch(es)
        .to(EntropyCoder::inverse())
        .to(Quantize::inverse())
        .to(WaveletTransform::inverse())
        .to(Hadamard::inverse())
        .execute()
        .unwrap();
}

fn streams_of(w: &World, es: &[Entity]) -> Vec<AnsBitstream> {
    es.iter()
        .map(|&e| w.get::<AnsBitstream>(e).unwrap().clone())
        .collect()
}

fn spawn_streams(w: &mut World, streams: &[AnsBitstream]) -> Vec<Entity> {
    streams.iter().map(|s| w.spawn_with(s.clone())).collect()
}

/// The `Latent`s of `es`, brought to the host in one transfer.
fn latents_of(w: &mut World, es: &[Entity]) -> Vec<Vec<f32>> {
    let ts: Vec<TensorRef> = es
        .iter()
        .map(|&e| w.get::<Latent>(e).unwrap().tensor)
        .collect();
    let host = w.to_host(&ts).unwrap();
    assert!(host.iter().all(|t| t.location == Location::Cpu));
    host.iter()
        .map(|t| w.arena().to_vec::<f32>(t).unwrap())
        .collect()
}

#[test]
fn hadamard_matches_the_reference_on_every_size() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let mut sh = shapes(4);
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
        assert_eq!(t.location, Location::Gpu);
        let got: Vec<f32> = w.read(&t).unwrap();
        let [c, h, wd] = sh[i];
        let mut want = vec![0.0; got.len()];
        hadamard4(&inputs[i], &mut want, c, h * wd);
        assert!(rel_err(&got, &want) <= 1e-5, "{:?}", sh[i]);
        // and back
        let mut back = vec![0.0; got.len()];
        hadamard4(&want, &mut back, c, h * wd);
        assert!(rel_err(&back, &inputs[i]) <= 1e-5);
    }
    w.pipe_batch(&es).to(Hadamard::inverse()).execute().unwrap();
    for (i, &e) in es.iter().enumerate() {
        let t = w.get::<Latent>(e).unwrap().tensor;
        let got: Vec<f32> = w.read(&t).unwrap();
        assert!(rel_err(&got, &inputs[i]) <= 1e-5, "inverse {:?}", sh[i]);
    }
}

#[test]
fn wavelets_match_the_reference_on_every_size_and_level() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let sh = shapes(4);
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
                    forward_2d(wavelet, plane, h, wd, levels);
                }
                assert_eq!(p.levels, levels.min(max_levels(h, wd)));
                assert!(
                    rel_err(&got, &want) <= 1e-5,
                    "forward {wavelet:?} L{levels} {:?}: {}",
                    sh[i],
                    rel_err(&got, &want)
                );
                coeffs.push(want);
            }
            // Inverse from the reference's coefficients.
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
            // WaveletPyr records the levels actually applied.
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
                    inverse_2d(wavelet, plane, h, wd, levels);
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

/// Runs Hadamard → wavelet → quantise on `w` for latents of `sh` and returns, per entity, the
/// symbols, the parameters and the histograms.
fn quantize_all(
    w: &mut World,
    sh: &[[usize; 3]],
    inputs: &[Vec<f32>],
    quality: u8,
) -> Vec<(Vec<u8>, QuantParams, Vec<[u32; 256]>)> {
    w.clear();
    let es = spawn_all(w, sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
    let report = w
        .pipe_batch(&es)
        .to(Hadamard::forward())
        .to(WaveletTransform::forward(Wavelet::Cdf53, 4))
        .to(Quantize::forward(quality))
        .execute()
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    es.iter()
        .map(|&e| {
            let s = w.get::<Symbols>(e).unwrap().tensor;
            assert_eq!(
                s.location,
                Location::Cpu,
                "symbols come home for entropy coding"
            );
            (
                w.read::<u8>(&s).unwrap(),
                w.get::<QuantParams>(e).unwrap().clone(),
                w.get::<Histograms>(e).unwrap().0.clone(),
            )
        })
        .collect()
}

#[test]
fn quantisation_matches_the_reference_and_counts_its_symbols() {
    let ctx = ctx();
    let sh = shapes(4);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], 20 + i as u64))
        .collect();
    let mut cpu = World::new();
    let mut gpu = World::with_gpu(&ctx).unwrap();
    for quality in [10u8, 75, 100] {
        let want = quantize_all(&mut cpu, &sh, &inputs, quality);
        let got = quantize_all(&mut gpu, &sh, &inputs, quality);
        let (mut differ, mut total) = (0usize, 0usize);
        for (i, ((gs, gp, gh), (cs, cp, ch))) in got.iter().zip(&want).enumerate() {
            assert_eq!(gp, cp, "parameters of {:?} at q{quality}", sh[i]);
            for (a, b) in gs.iter().zip(cs) {
                assert!(a.abs_diff(*b) <= 1, "{:?} q{quality}: {a} vs {b}", sh[i]);
                differ += usize::from(a != b);
            }
            total += gs.len();
            // The GPU's histograms are exactly the histograms of the symbols read back.
            let [c, h, wd] = sh[i];
            let table = bands(h, wd, gp.levels);
            let mut k = 0;
            for plane in gs.chunks_exact(h * wd).take(c) {
                for b in &table {
                    let band: Vec<u8> = (b.y..b.y + b.h)
                        .flat_map(|y| plane[y * wd + b.x..y * wd + b.x + b.w].to_vec())
                        .collect();
                    assert_eq!(gh[k], histogram(&band), "{:?} band {k}", sh[i]);
                    k += 1;
                }
            }
            assert_eq!(k, gh.len());
            assert_eq!(ch.len(), gh.len());
        }
        assert!(
            differ * 10_000 <= total,
            "q{quality}: {differ} of {total} symbols differ"
        );
    }
}

#[test]
fn dequantisation_and_the_inverse_path_match_the_reference() {
    let ctx = ctx();
    let sh = shapes(4);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], 30 + i as u64))
        .collect();
    // Streams from the CPU path, decoded on both.
    let mut cpu = World::new();
    let es = spawn_all(
        &mut cpu,
        &sh,
        |i| inputs[i].clone(),
        |tensor| Latent { tensor },
    );
    encode(&mut cpu, &es, 75);
    let streams = streams_of(&cpu, &es);
    let decode_all = |w: &mut World| -> Vec<Vec<f32>> {
        w.clear();
        let es = spawn_streams(w, &streams);
        decode(w, &es);
        latents_of(w, &es)
    };
    let want = decode_all(&mut cpu);
    let mut gpu = World::with_gpu(&ctx).unwrap();
    let got = decode_all(&mut gpu);
    for (i, (g, c)) in got.iter().zip(&want).enumerate() {
        assert!(rel_err(g, c) <= 1e-5, "{:?}: {}", sh[i], rel_err(g, c));
    }
}

/// The same test body on both devices: a batch round trip through every stage.
fn round_trip_on(w: &mut World) {
    let sh = shapes(4);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], 40 + i as u64))
        .collect();
    let es = spawn_all(w, &sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
    encode(w, &es, 90);
    let streams = streams_of(w, &es);
    let decoded = spawn_streams(w, &streams);
    decode(w, &decoded);
    for (i, back) in latents_of(w, &decoded).iter().enumerate() {
        let mse: f32 = back
            .iter()
            .zip(&inputs[i])
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f32>()
            / back.len() as f32;
        assert!(mse < 2e-3, "{:?} on {}: mse {mse}", sh[i], w.device());
    }
}

#[test]
fn round_trip_on_the_cpu() {
    round_trip_on(&mut World::new());
}

#[test]
fn round_trip_on_the_gpu() {
    round_trip_on(&mut World::with_gpu(&ctx()).unwrap());
}

#[test]
fn streams_cross_devices_both_ways() {
    let ctx = ctx();
    let sh = shapes(4);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], 50 + i as u64))
        .collect();
    let encode_all = |w: &mut World| -> Vec<AnsBitstream> {
        w.clear();
        let es = spawn_all(w, &sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
        encode(w, &es, 75);
        streams_of(w, &es)
    };
    let decode_all = |w: &mut World, streams: &[AnsBitstream]| -> Vec<Vec<f32>> {
        w.clear();
        let es = spawn_streams(w, streams);
        decode(w, &es);
        latents_of(w, &es)
    };
    let mut cpu = World::new();
    let mut gpu = World::with_gpu(&ctx).unwrap();
    let from_cpu = encode_all(&mut cpu);
    let from_gpu = encode_all(&mut gpu);
    for (i, (a, b)) in from_cpu.iter().zip(&from_gpu).enumerate() {
        let (a, b) = (a.0.len() as f64, b.0.len() as f64);
        assert!((a - b).abs() / a <= 0.005, "{:?}: {a} vs {b} bytes", sh[i]);
    }
    let pairs = [
        (
            decode_all(&mut gpu, &from_cpu),
            decode_all(&mut cpu, &from_cpu),
        ),
        (
            decode_all(&mut cpu, &from_gpu),
            decode_all(&mut gpu, &from_gpu),
        ),
    ];
    for (cross, same) in &pairs {
        for (i, (x, y)) in cross.iter().zip(same).enumerate() {
            assert!(rel_err(x, y) <= 1e-5, "{:?}", sh[i]);
        }
    }
}

fn delta(a: GpuStats, b: GpuStats) -> GpuStats {
    GpuStats {
        uploads: b.uploads - a.uploads,
        readbacks: b.readbacks - a.readbacks,
        descriptor_writes: b.descriptor_writes - a.descriptor_writes,
        buffers_created: b.buffers_created - a.buffers_created,
        dispatches: b.dispatches - a.dispatches,
        submits: b.submits - a.submits,
    }
}

/// One encode batch and one decode batch of 8 latents of 4×64×64 plus one of 4×96×64.
fn encode_decode_batch(w: &mut World, seed: u64) -> (GpuStats, GpuStats, GpuStats) {
    let ctx = w.gpu_arena().unwrap().context().clone();
    let mut sh = vec![[4, 64, 64]; 8];
    sh.push([4, 96, 64]);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], seed + i as u64))
        .collect();
    w.clear();
    let start = ctx.stats();
    let es = spawn_all(w, &sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
    encode(w, &es, 75);
    let encoded = ctx.stats();
    let streams = streams_of(w, &es);
    w.clear();
    let ds = spawn_streams(w, &streams);
    decode(w, &ds);
    latents_of(w, &ds);
    let decoded = ctx.stats();
    (
        delta(start, encoded),
        delta(encoded, decoded),
        delta(start, decoded),
    )
}

#[test]
fn one_upload_and_one_readback_per_batch() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let (enc, dec, _) = encode_decode_batch(&mut w, 60);
    assert_eq!(
        (enc.uploads, enc.readbacks, enc.submits),
        (1, 1, 1),
        "encode: {enc:?}"
    );
    assert_eq!(
        (dec.uploads, dec.readbacks, dec.submits),
        (1, 1, 1),
        "decode: {dec:?}"
    );
}

#[test]
fn a_second_batch_of_the_same_shapes_creates_no_buffer() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let (_, _, first) = encode_decode_batch(&mut w, 70);
    let (_, _, second) = encode_decode_batch(&mut w, 80);
    assert!(
        first.buffers_created > 0,
        "warm-up creates the staging buffer"
    );
    assert_eq!(second.buffers_created, 0, "{second:?}");
    assert_eq!(second.dispatches, first.dispatches);
}

#[test]
fn a_bad_latent_fails_alone_on_the_gpu() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let sh = [[4, 8, 8], [4, 8, 8], [3, 8, 8]];
    let mut bad = latent(4, 8, 8, 1);
    bad[17] = f32::NAN;
    let inputs = [latent(4, 8, 8, 0), bad, latent(3, 8, 8, 2)];
    let es = spawn_all(
        &mut w,
        &sh,
        |i| inputs[i].clone(),
        |tensor| Latent { tensor },
    );
    let report = encode(&mut w, &es, 75);
    assert!(w.has::<AnsBitstream>(es[0]));
    let msgs: Vec<String> = report.failures.iter().map(|(_, e)| e.to_string()).collect();
    assert_eq!(report.failures.len(), 2, "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("NaN")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("multiple of 4")), "{msgs:?}");
}

#[test]
fn a_host_device_is_used_as_given() {
    // What a graphics tool does: it owns the device and hands it in.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let ctx = GpuContext::from_wgpu(device.clone(), queue);
    let mut w = World::with_gpu(&ctx).unwrap();
    let data = latent(4, 9, 7, 3);
    let e = w.spawn();
    let t = w.arena_mut().alloc_from(&[4, 9, 7], &data).unwrap();
    w.insert(e, Latent { tensor: t }).unwrap();
    let y = w.pipe(e).to(Hadamard::forward()).out::<Yuvw>().unwrap();
    let got: Vec<f32> = w.read(&y.tensor).unwrap();
    let mut want = vec![0.0; data.len()];
    hadamard4(&data, &mut want, 4, 63);
    assert!(rel_err(&got, &want) <= 1e-5);
    // Default limits: the arena stays within what the host's device can bind.
    assert!(w.gpu_arena().unwrap().capacity() <= ctx.max_arena_bytes());
    assert!(ctx.max_arena_bytes() >= 1 << 20);
    drop(w);
    device.destroy();
}

#[test]
fn stale_and_foreign_gpu_tensors_are_errors() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let t = w.gpu_arena_mut().unwrap().alloc(DType::F32, &[4]).unwrap();
    w.clear();
    assert!(matches!(
        w.read::<f32>(&t),
        Err(Error::StaleTensorRef { .. })
    ));
    let mut other = World::with_gpu(&ctx).unwrap();
    let u = other
        .gpu_arena_mut()
        .unwrap()
        .alloc(DType::F32, &[4])
        .unwrap();
    assert!(matches!(
        w.read::<f32>(&u),
        Err(Error::StaleTensorRef { .. })
    ));
}

/// Uploads `sizes` byte tensors of distinct contents (`tag` picks them) in one upload and
/// returns them with their contents.
fn upload_bytes(
    gpu: &mut vaerans::gpu::GpuArena,
    sizes: &[usize],
    tag: u8,
) -> Vec<(TensorRef, Vec<u8>)> {
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
    let items: Vec<(TensorRef, &[u8])> = tensors.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    gpu.upload(&items).unwrap();
    tensors
}

fn assert_resident(gpu: &mut vaerans::gpu::GpuArena, tensors: &[(TensorRef, Vec<u8>)]) {
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
    let ctx = ctx();
    let mut gpu = vaerans::gpu::GpuArena::new(&ctx, 1 << 20).unwrap();
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
    assert_eq!(ctx.stats().uploads - before.uploads, 1);
    assert_eq!(ctx.stats().readbacks - before.readbacks, 1);
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

fn photo(w: u32, h: u32, seed: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 7 + seed) % 256) as u8,
            ((y * 5 + 3 * seed) % 256) as u8,
            ((x + y + seed) % 256) as u8,
        ])
    })
}

#[test]
fn the_codec_on_the_gpu_makes_one_upload_and_one_readback_per_batch() {
    let ctx = ctx();
    let spec =
        ModelSpec::from_path(std::path::Path::new("tests/models/tiny_encoder.onnx")).unwrap();
    let build = |device| {
        Codec::builder()
            .model_spec(spec.clone())
            .execution_provider(ExecutionProvider::Cpu)
            .device(device)
            .gpu_context(ctx.clone())
            .build()
            .unwrap()
    };
    let (gpu, cpu) = (build(Device::Gpu), build(Device::Cpu));
    assert_eq!((gpu.device(), cpu.device()), (Device::Gpu, Device::Cpu));
    // Two sizes: two VAE groups, one latent batch.
    let images: Vec<image::RgbImage> = (0..6).map(|i| photo(64 + 8 * (i % 2), 48, i)).collect();
    let s0 = ctx.stats();
    let streams: Vec<Vec<u8>> = gpu
        .compress_batch(&images)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let s1 = ctx.stats();
    let back: Vec<image::RgbImage> = gpu
        .decompress_batch(&streams)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let s2 = ctx.stats();
    let (enc, dec) = (delta(s0, s1), delta(s1, s2));
    assert_eq!((enc.uploads, enc.readbacks), (1, 1), "{enc:?}");
    assert_eq!((dec.uploads, dec.readbacks), (1, 1), "{dec:?}");
    // The streams cross devices with the same rate and quality.
    for (i, img) in images.iter().enumerate() {
        let on_cpu = cpu.compress(img).unwrap();
        let rate = (on_cpu.len() as f64 - streams[i].len() as f64).abs() / on_cpu.len() as f64;
        assert!(
            rate <= 0.005,
            "image {i}: {} vs {} bytes",
            on_cpu.len(),
            streams[i].len()
        );
        let psnr =
            |b: &image::RgbImage| vaerans::metrics::psnr_u8(img.as_raw(), b.as_raw()).unwrap();
        let gpu_on_cpu = cpu.decompress(&streams[i]).unwrap();
        let cpu_on_gpu = gpu.decompress(&on_cpu).unwrap();
        assert!((psnr(&gpu_on_cpu) - psnr(&back[i])).abs() <= 0.05);
        assert!((psnr(&cpu_on_gpu) - psnr(&cpu.decompress(&on_cpu).unwrap())).abs() <= 0.05);
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    fn shared() -> &'static GpuContext {
        static CTX: OnceLock<GpuContext> = OnceLock::new();
        CTX.get_or_init(ctx)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any size, any level count, either wavelet, extreme or constant values: the GPU
        /// pipeline's coefficients match the reference and its symbols differ at most by one
        /// at rounding boundaries.
        #[test]
        fn gpu_stages_match_the_reference(
            h in 1usize..40,
            w in 1usize..40,
            groups in 1usize..3,
            levels in 1u8..7,
            haar in any::<bool>(),
            scale in prop_oneof![Just(0.0f32), Just(1e-3f32), Just(1.0f32), Just(300.0f32)],
            seed in any::<u64>(),
        ) {
            let c = 4 * groups;
            let wavelet = if haar { Wavelet::Haar } else { Wavelet::Cdf53 };
            let data: Vec<f32> = latent(c, h, w, seed).iter().map(|v| v * scale + 0.25).collect();
            let run = |world: &mut World| {
                let e = world.spawn();
                let t = world.arena_mut().alloc_from(&[c, h, w], &data).unwrap();
                world.insert(e, Latent { tensor: t }).unwrap();
                world
                    .pipe(e)
                    .to(Hadamard::forward())
                    .to(WaveletTransform::forward(wavelet, levels))
                    .to(Quantize::forward(80))
                    .execute()
                    .unwrap();
                let p = world.get::<WaveletPyr>(e).unwrap().tensor;
                let s = world.get::<Symbols>(e).unwrap().tensor;
                let q = world.get::<QuantParams>(e).unwrap().clone();
                (world.read::<f32>(&p).unwrap(), world.read::<u8>(&s).unwrap(), q)
            };
            let (cp, cs, cq) = run(&mut World::new());
            let (gp, gs, gq) = run(&mut World::with_gpu(shared()).unwrap());
            prop_assert!(rel_err(&gp, &cp) <= 1e-5, "coefficients: {}", rel_err(&gp, &cp));
            prop_assert_eq!(gq, cq);
            let differ = gs.iter().zip(&cs).filter(|(a, b)| a != b).count();
            prop_assert!(gs.iter().zip(&cs).all(|(a, b)| a.abs_diff(*b) <= 1));
            prop_assert!(differ <= 1 + gs.len() / 10_000, "{differ} symbols differ");
        }
    }
}

#[test]
fn the_trace_names_each_stage_and_its_device() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let sh = [[4, 16, 16], [4, 16, 16]];
    let inputs = [latent(4, 16, 16, 1), latent(4, 16, 16, 2)];
    let run = |w: &mut World| {
        w.clear();
        let es = spawn_all(w, &sh, |i| inputs[i].clone(), |tensor| Latent { tensor });
        encode(w, &es, 75);
    };
    let s0 = ctx.stats();
    run(&mut w);
    let s1 = ctx.stats();
    w.set_profiling(true);
    run(&mut w);
    let s2 = ctx.stats();
    // Profiling waits after each GPU stage: more submissions, same single readback.
    assert_eq!(delta(s0, s1).submits, 1);
    assert!(delta(s1, s2).submits >= 3);
    assert_eq!(delta(s1, s2).readbacks, 1);
    let trace = w.take_trace();
    let row = |name: &str| trace.iter().find(|r| r.system == name).unwrap();
    for name in ["hadamard", "wavelet", "quantize"] {
        assert_eq!(row(name).device, "gpu");
        assert_eq!((row(name).runs, row(name).entities), (2, 4));
    }
    assert_eq!(row("rans").device, "cpu");
    assert!(w.take_trace().is_empty());
}

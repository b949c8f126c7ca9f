//! The GPU path as a whole, on a real adapter (lavapipe in CI): the latent chain on both
//! devices, streams crossing between them, one upload and one readback per batch, and the
//! codec on a host's device. Each kernel's parity with its CPU reference is tested beside it,
//! in `src/latent/<stage>/gpu.rs`.
//!
//! Nothing here is skipped: without an adapter these tests fail with the message that says how
//! to install one (the README's test command installs Mesa's Vulkan driver when none is found).
//! Sizes stay small because lavapipe runs the kernels on the CPU.
#![cfg(feature = "gpu")]

mod common;

use common::gpu::{context as ctx, latent, rel_err, spawn_all, SIZES};
use vaerans::gpu::{GpuContext, GpuStats};
use vaerans::prelude::*;

/// The chain every test here encodes and decodes with: CDF 5/3, 4 levels, at `quality`.
fn codec(quality: u8) -> LatentCodec {
    LatentCodec::new(quality).unwrap()
}

fn shapes(c: usize) -> Vec<[usize; 3]> {
    SIZES.iter().map(|&(h, w)| [c, h, w]).collect()
}

/// The latent chain's encoder at `quality`, over the batch `es`.
fn encode(w: &mut World, es: &[Entity], quality: u8) -> PipeReport {
    w.pipe_batch(es)
        .chain(codec(quality).encoder())
        .execute()
        .unwrap()
}

/// The latent chain's decoder, over the batch `es`.
fn decode(w: &mut World, es: &[Entity]) {
    w.pipe_batch(es)
        .chain(codec(75).decoder())
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
    assert!(host.iter().all(|t| t.location() == Location::Cpu));
    host.iter()
        .map(|t| w.arena().to_vec::<f32>(t).unwrap())
        .collect()
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
        let (a, b) = (a.len() as f64, b.len() as f64);
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
    b.since(&a)
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
#[cfg_attr(feature = "check_gpu", ignore = "check_gpu reads every stage back")]
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
#[cfg_attr(feature = "check_gpu", ignore = "check_gpu reads every stage back")]
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

/// A device and queue the way a host application makes its own, outside vaerans.
fn host_device() -> (wgpu::Device, wgpu::Queue) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    pollster::block_on(adapter.request_device(&Default::default())).unwrap()
}

#[test]
fn a_host_device_is_used_as_given() {
    // What a graphics tool does: it owns the device and hands it in.
    let (device, queue) = host_device();
    let ctx = GpuContext::from_wgpu(device.clone(), queue);
    let mut w = World::with_gpu(&ctx).unwrap();
    let data = latent(4, 9, 7, 3);
    let hadamard = |w: &mut World| {
        let t = w.arena_mut().alloc_from(&[4, 9, 7], &data).unwrap();
        let e = w.spawn_with(Latent { tensor: t });
        let y = w.pipe(e).to(Hadamard::forward()).out::<Yuvw>().unwrap();
        w.read::<f32>(&y.tensor).unwrap()
    };
    let got = hadamard(&mut w);
    assert_eq!(w.device(), Device::Gpu);
    assert!(rel_err(&got, &hadamard(&mut World::new())) <= 1e-5);
    // Default limits: the arena stays within what the host's device can bind.
    assert!(w.gpu_arena().unwrap().capacity() <= ctx.max_arena_bytes());
    assert!(ctx.max_arena_bytes() >= 1 << 20);
    drop(w);
    device.destroy();
}

/// What a graphics tool's event loop does: it owns the device, polls it once per frame, and
/// drives `compress_async`/`decompress_async` from a single-threaded executor that must never
/// block. The futures resolve while the host polls, to the blocking calls' bytes and pixels.
#[test]
fn async_calls_on_a_host_polled_device_leave_the_host_free() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use futures::executor::LocalPool;
    use futures::task::LocalSpawnExt;

    let (device, queue) = host_device();
    let spec =
        ModelSpec::from_path(std::path::Path::new("tests/models/tiny_encoder.onnx")).unwrap();
    let build = |ctx: GpuContext| {
        Codec::builder()
            .model_spec(spec.clone())
            .execution_provider(ExecutionProvider::Cpu)
            .device(Device::Gpu)
            .gpu_context(ctx)
            .build()
            .unwrap()
    };
    let image = image::RgbImage::from_fn(40, 24, |x, y| image::Rgb([x as u8 * 6, y as u8 * 9, 77]));
    // The blocking calls, on the same device, polled by vaerans itself.
    let blocking = build(GpuContext::from_wgpu(device.clone(), queue.clone()));
    let want_stream = blocking.compress(&image).unwrap();
    let want_image = blocking.decompress(&want_stream).unwrap();

    let hosted = GpuContext::from_wgpu(device.clone(), queue.clone()).with_host_polling(true);
    let codec = Arc::new(build(hosted));
    let mut pool = LocalPool::new();
    type Done = Option<(Vec<u8>, image::RgbImage)>;
    let got: Rc<RefCell<Done>> = Rc::default();
    let (slot, c) = (got.clone(), codec.clone());
    let img = image.clone();
    pool.spawner()
        .spawn_local(async move {
            let stream = c.compress_async(img).await.unwrap();
            let back = c.decompress_async(stream.clone()).await.unwrap();
            *slot.borrow_mut() = Some((stream, back));
        })
        .unwrap();
    // The host's frames: run what is ready, poll the device, never wait on the codec.
    let (mut frames, start) = (0u32, Instant::now());
    let mut longest = Duration::ZERO;
    while got.borrow().is_none() {
        let frame = Instant::now();
        pool.run_until_stalled();
        device.poll(wgpu::PollType::Poll).unwrap();
        longest = longest.max(frame.elapsed());
        frames += 1;
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no result after {frames} frames"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (stream, back) = got.borrow_mut().take().unwrap();
    assert_eq!(stream, want_stream);
    assert_eq!(back, want_image);
    // The work took many frames, and no frame waited for it.
    assert!(frames > 5, "{frames} frames");
    assert!(
        longest < Duration::from_millis(500),
        "a frame took {longest:?}"
    );

    // A host that stops polling: the readback gives up with the reason, not a hang.
    let stalled = GpuContext::from_wgpu(device.clone(), queue.clone())
        .with_host_polling(true)
        .with_poll_timeout(Duration::from_millis(300));
    let stalled = Arc::new(build(stalled));
    let err = futures::executor::block_on(stalled.compress_async(image)).unwrap_err();
    assert!(err.to_string().contains("Device::poll"), "{err}");
}

#[test]
fn stale_and_foreign_gpu_tensors_are_errors() {
    let ctx = ctx();
    // A GPU tensor of `w`: a host tensor uploaded.
    let on_gpu = |w: &mut World| {
        let t = w.arena_mut().alloc_from::<f32>(&[4], &[1.0; 4]).unwrap();
        w.to_gpu(&[t]).unwrap()[0]
    };
    let mut w = World::with_gpu(&ctx).unwrap();
    let t = on_gpu(&mut w);
    assert_eq!(w.read::<f32>(&t).unwrap(), [1.0; 4]);
    w.clear();
    assert!(matches!(
        w.read::<f32>(&t),
        Err(Error::StaleTensorRef { .. })
    ));
    let mut other = World::with_gpu(&ctx).unwrap();
    let u = on_gpu(&mut other);
    assert!(matches!(
        w.read::<f32>(&u),
        Err(Error::StaleTensorRef { .. })
    ));
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

/// A codec builder on the tiny test model (VAE on the CPU provider), its latent stages on
/// `device` with `ctx`.
fn tiny_codec(ctx: &GpuContext, device: Device) -> CodecBuilder {
    let spec =
        ModelSpec::from_path(std::path::Path::new("tests/models/tiny_encoder.onnx")).unwrap();
    Codec::builder()
        .model_spec(spec)
        .execution_provider(ExecutionProvider::Cpu)
        .device(device)
        .gpu_context(ctx.clone())
}

#[test]
#[cfg_attr(feature = "check_gpu", ignore = "check_gpu reads every stage back")]
fn the_codec_on_the_gpu_makes_one_upload_and_one_readback_per_batch() {
    let ctx = ctx();
    // The latent alone (the residual layer's chain is a second latent chain, measured below).
    let build = |device| tiny_codec(&ctx, device).residual(None).build().unwrap();
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

/// A layered stream on the GPU: the residual's planes take the latent chain too, so a batch
/// costs a fixed number of transfers whatever its size, and the streams cross devices with the
/// same rate and quality.
#[test]
#[cfg_attr(feature = "check_gpu", ignore = "check_gpu reads every stage back")]
fn the_residual_layer_on_the_gpu_crosses_devices_and_batches_its_transfers() {
    let ctx = ctx();
    let build = |device| tiny_codec(&ctx, device).quality(90).build().unwrap();
    let (gpu, cpu) = (build(Device::Gpu), build(Device::Cpu));
    assert!(gpu.residual().is_some());
    let images: Vec<image::RgbImage> = (0..6).map(|i| photo(64, 48, i)).collect();
    let transfers = |n: usize| {
        let s0 = ctx.stats();
        let streams: Vec<Vec<u8>> = gpu
            .compress_batch(&images[..n])
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let s1 = ctx.stats();
        for r in gpu.decompress_batch(&streams) {
            r.unwrap();
        }
        let s2 = ctx.stats();
        (delta(s0, s1), delta(s1, s2), streams)
    };
    let (enc1, dec1, _) = transfers(1);
    let (enc, dec, streams) = transfers(6);
    assert_eq!(
        (enc.uploads, enc.readbacks),
        (enc1.uploads, enc1.readbacks),
        "{enc:?}"
    );
    assert_eq!(
        (dec.uploads, dec.readbacks),
        (dec1.uploads, dec1.readbacks),
        "{dec:?}"
    );
    for (i, img) in images.iter().enumerate() {
        let on_cpu = cpu.compress(img).unwrap();
        let rate = (on_cpu.len() as f64 - streams[i].len() as f64).abs() / on_cpu.len() as f64;
        assert!(
            rate <= 0.005,
            "image {i}: {} vs {}",
            on_cpu.len(),
            streams[i].len()
        );
        let psnr =
            |b: &image::RgbImage| vaerans::metrics::psnr_u8(img.as_raw(), b.as_raw()).unwrap();
        let cpu_cpu = psnr(&cpu.decompress(&on_cpu).unwrap());
        for p in [
            psnr(&cpu.decompress(&streams[i]).unwrap()),
            psnr(&gpu.decompress(&on_cpu).unwrap()),
            psnr(&gpu.decompress(&streams[i]).unwrap()),
        ] {
            assert!((p - cpu_cpu).abs() <= 0.05, "image {i}: {p} vs {cpu_cpu}");
        }
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
                let t = world.arena_mut().alloc_from(&[c, h, w], &data).unwrap();
                let e = world.spawn_with(Latent { tensor: t });
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
#[cfg_attr(feature = "check_gpu", ignore = "check_gpu reads every stage back")]
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

/// The chain's footprint bounds what it allocates in each arena on the GPU path: the host
/// arena holds exactly the symbols (encode) or the decoded symbols (decode); the GPU arena at
/// most the stages' tensors.
#[test]
fn the_chain_allocates_within_its_footprint_on_the_gpu() {
    let ctx = ctx();
    let mut w = World::with_gpu(&ctx).unwrap();
    let sh = shapes(4);
    let inputs: Vec<Vec<f32>> = sh
        .iter()
        .enumerate()
        .map(|(i, s)| latent(s[0], s[1], s[2], 90 + i as u64))
        .collect();
    let chain = codec(75);
    let sum = |dir: Direction| -> Footprint {
        sh.iter()
            .map(|&s| chain.footprint(dir, &chain.shape_of(s), Device::Gpu))
            .fold(Footprint::none(Location::Cpu), Footprint::then)
    };
    w.clear();
    let before = w.arena().used();
    let es = spawn_all(
        &mut w,
        &sh,
        |i| inputs[i].clone(),
        |tensor| Latent { tensor },
    );
    let latents = w.arena().used() - before;
    encode(&mut w, &es, 75);
    let want = sum(Direction::Forward);
    assert_eq!(w.arena().used() - latents, want.host);
    let used = w.gpu_arena().unwrap().used() as usize;
    assert!(
        used <= want.gpu && used >= want.gpu / 2,
        "{used} of {}",
        want.gpu
    );
    let streams = streams_of(&w, &es);
    w.clear();
    let ds = spawn_streams(&mut w, &streams);
    decode(&mut w, &ds);
    let want = sum(Direction::Inverse);
    assert_eq!(w.arena().used(), want.host);
    let used = w.gpu_arena().unwrap().used() as usize;
    assert!(
        used <= want.gpu && used >= want.gpu / 2,
        "{used} of {}",
        want.gpu
    );
}

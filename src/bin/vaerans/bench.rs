//! `vaerans bench`: throughput on one device, with a per-stage breakdown from the trace.
//!
//! Two workloads:
//! - **images** (the default): the whole codec, RGB → stream → RGB, through
//!   [`Codec::compress_batch`] and [`Codec::decompress_batch`], on real images or synthetic
//!   photo-like ones;
//! - **latents** (`--latent CxHxW`): the latent pipeline alone (everything but the VAE) on
//!   synthetic latents, which isolates the stages the GPU path accelerates.
//!
//! Two measurements per batch size: the pipeline as the codec runs it (one upload, one
//! submission and one readback per batch on a GPU) gives images/s; a second pass waits for the
//! device after every stage, so each stage's time is its own (this costs extra submissions, so
//! the stage times add up to more than the pipelined time on a GPU).

use std::time::{Duration, Instant};

use image::RgbImage;
use serde::Serialize;
use vaerans::prelude::*;
use vaerans::TraceRow;

use crate::cli::{codec_builder, or_default, BenchArgs, ModelArgs};
use crate::io::image_files;

/// `vaerans bench`: the latent pipeline alone (`--latent`) or the whole codec on images.
pub(crate) fn run(args: BenchArgs) -> Result<usize> {
    if let Some(shape) = args.latent {
        return run_latents(
            args.device,
            shape,
            &or_default(args.batch, &[1, 8, 64]),
            args.iters.unwrap_or(10),
            (args.quality, args.entropy.0),
            args.json,
        );
    }
    let batches = or_default(args.batch.clone(), &[1, 8]);
    let iters = args.iters.unwrap_or(3);
    check_counts(&batches, iters)?;
    // check_counts: not empty.
    let most = batches.iter().copied().max().unwrap_or(1);
    let (w, h) = args.size;
    let max_side = vaerans::Limits::default().max_image_dim;
    let pixels = u64::from(w) * u64::from(h) * most as u64;
    if w > max_side || h > max_side || pixels > MAX_BENCH_PIXELS {
        return Err(Error::InvalidInput(format!(
            "--size {w}x{h} at batch {most}: the benchmark takes sides up to {max_side} and at \
             most {MAX_BENCH_PIXELS} pixels per batch (the VAE needs a few hundred bytes per \
             pixel); use a smaller size or batch"
        )));
    }
    let (images, source) = if args.inputs.is_empty() {
        let (w, h) = args.size;
        let images = (0..4).map(|i| synthetic_image(w, h, i + 1)).collect();
        (images, format!("synthetic {w}×{h} images"))
    } else {
        let files = image_files(&args.inputs)?;
        let images = files
            .iter()
            .map(|p| {
                // Speed does not depend on alpha; its colours are measured as they are.
                vaerans::open_image(p, vaerans::Alpha::Drop)
            })
            .collect::<Result<Vec<_>>>()?;
        let source = format!("{} image(s) from {}", files.len(), args.inputs[0].display());
        (images, source)
    };
    let configs = if args.compare {
        let gpu_ep = match args.provider.ep {
            ExecutionProvider::Cpu => ExecutionProvider::Auto,
            ep => ep,
        };
        vec![
            ("cpu", ExecutionProvider::Cpu, Device::Cpu),
            ("latent-gpu", ExecutionProvider::Cpu, Device::Gpu),
            ("gpu", gpu_ep, Device::Gpu),
        ]
    } else {
        vec![("", args.provider.ep, args.device)]
    };
    let mut rows: Vec<BenchRow> = Vec::new();
    for (name, ep, device) in configs {
        let mut provider = args.provider.clone();
        provider.ep = ep;
        let model = ModelArgs {
            model: args.model.clone(),
            input_range: None,
            entropy: args.entropy,
            provider,
            // Session calls as large as the largest batch measured.
            batch: Some(most),
            lanes: None,
            one_batch_at_a_time: true,
            alpha: vaerans::Alpha::Drop,
            // The sizes measured are checked above; the budget would only refuse big ones.
            max_memory: u64::MAX >> 20,
            device,
            uncalibrated: false,
            calibration: None,
            residual_quality: None,
            no_residual: false,
            residual_blur: 0.0,
            base_only: false,
            trace: false,
            json: args.json,
        };
        let codec = codec_builder(&model, Config::load()?)?
            .quality(args.quality)
            .build();
        match codec {
            // The third configuration is the VAE on a GPU provider; auto settling on the CPU
            // would measure the second one again.
            Ok(c) if name == "gpu" && c.vae().provider() == ExecutionProvider::Cpu => {
                eprintln!(
                    "configuration gpu: skipped: no GPU execution provider started under auto \
                     (the log line above says why); name one with --ep"
                );
            }
            Ok(codec) => {
                let mut got =
                    run_images(&codec, &images, &source, name, &batches, iters, args.json)?;
                rows.append(&mut got);
            }
            Err(e) if args.compare => {
                eprintln!("configuration {name}: cannot run: {}", crate::describe(&e));
            }
            Err(e) => return Err(e),
        }
    }
    if args.compare && !args.json {
        print_ratios(&rows);
    }
    Ok(0)
}

/// Each configuration's images/s against the `cpu` configuration's at the same batch size.
fn print_ratios(rows: &[BenchRow]) {
    let base = |batch: usize| {
        rows.iter()
            .find(|r| r.config.as_deref() == Some("cpu") && r.batch == batch)
    };
    println!();
    println!(
        "{:<11} {:>6} {:>11} {:>11}   (against cpu at the same batch)",
        "config", "batch", "encode ×", "decode ×"
    );
    for r in rows {
        if let Some(b) = base(r.batch) {
            println!(
                "{:<11} {:>6} {:>11.2} {:>11.2}",
                r.config.as_deref().unwrap_or(""),
                r.batch,
                r.encode_images_per_s / b.encode_images_per_s,
                r.decode_images_per_s / b.decode_images_per_s
            );
        }
    }
}

/// Most latent values per batch `bench --latent` takes, so an absurd shape is an error rather
/// than an aborted allocation.
const MAX_BENCH_VALUES: usize = 1 << 27;

/// Most pixels per batch `bench` takes on images.
const MAX_BENCH_PIXELS: u64 = 1 << 26;

/// Uniform noise in [-0.5, 0.5), deterministic in `seed`. (A tiny xorshift generator:
/// benchmark data needs no statistical quality.)
fn noise(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// A latent-like tensor: smooth structure plus noise in about unit range, deterministic in
/// `seed`.
pub(crate) fn synthetic_latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut noise = noise(seed);
    let mut v = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let smooth = ((x as f32 * 0.21 + ch as f32).sin() + (y as f32 * 0.13).cos()) * 0.8;
                v.push(smooth + noise() + ch as f32 * 0.3);
            }
        }
    }
    v
}

/// The latent chain's stage names in the order they run (encode, then decode), and the
/// decoder's final readback of the latents.
fn stage_names(codec: &LatentCodec) -> Vec<String> {
    codec
        .encoder()
        .iter()
        .chain(&codec.decoder())
        .map(|s| s.name().to_string())
        .chain(std::iter::once("readback".to_string()))
        .collect()
}

/// One batch size's figures.
#[derive(Serialize)]
struct BenchRow {
    /// `images` (the whole codec) or `latents` (the latent pipeline alone).
    workload: &'static str,
    /// The configuration's name under `--compare` (`cpu`, `latent-gpu`, `gpu`).
    config: Option<String>,
    /// Where the latent stages ran (`cpu` or `gpu`).
    device: String,
    /// The adapter or CPU the latent stages ran on.
    adapter: String,
    /// The model and the ONNX Runtime provider that ran it (`images` only).
    model: Option<String>,
    vae_provider: Option<String>,
    /// Latent shape (`latents`), or the first image's height, width and 3 (`images`).
    shape: [usize; 3],
    batch: usize,
    /// Images per second through the pipelined encode (latent → stream).
    encode_images_per_s: f64,
    /// Images per second through the pipelined decode (stream → latent on the host).
    decode_images_per_s: f64,
    /// Mean bytes per stream.
    bytes_per_image: f64,
    /// Milliseconds per batch of each stage, each waited for on its own (from the world's
    /// trace; `readback` is the decoder's final copy of the latents to the host).
    stage_ms: Vec<(String, f64)>,
    /// The VAE's share of the stages' time, both ways (`images` only).
    vae_share: Option<f64>,
}

fn spawn_latents(
    world: &mut World,
    latents: &[Vec<f32>],
    shape: [usize; 3],
) -> Result<Vec<Entity>> {
    latents
        .iter()
        .map(|l| {
            let e = world.spawn();
            let tensor = world.arena_mut().alloc_from(&shape, l)?;
            world.insert(e, Latent { tensor })?;
            Ok(e)
        })
        .collect()
}

fn spawn_streams(world: &mut World, streams: &[AnsBitstream]) -> Vec<Entity> {
    streams
        .iter()
        .map(|s| world.spawn_with(s.clone()))
        .collect()
}

fn streams_of(world: &World, es: &[Entity]) -> Result<Vec<AnsBitstream>> {
    es.iter()
        .map(|&e| world.get::<AnsBitstream>(e).cloned())
        .collect()
}

/// Fails with the first failed entity's error, if any.
fn check(world: &World, es: &[Entity]) -> Result<()> {
    match es.iter().find_map(|&e| world.failure(e)) {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// Runs the benchmark for one batch size.
fn bench_batch(
    world: &mut World,
    codec: &LatentCodec,
    shape: [usize; 3],
    batch: usize,
    iters: usize,
) -> Result<BenchRow> {
    let latents: Vec<Vec<f32>> = (0..batch)
        .map(|i| synthetic_latent(shape[0], shape[1], shape[2], i as u64 + 1))
        .collect();
    let encoder = |world: &mut World, es: &[Entity]| -> Result<()> {
        world.pipe_batch(es).chain(codec.encoder()).execute()?;
        check(world, es)
    };
    let decode_pipe = |world: &mut World, es: &[Entity]| -> Result<()> {
        world.pipe_batch(es).chain(codec.decoder()).execute()?;
        check(world, es)
    };
    // The latents' copy to the host: the decoder's one readback on a GPU.
    let to_host = |world: &mut World, es: &[Entity]| -> Result<()> {
        let ts = es
            .iter()
            .map(|&e| world.get::<Latent>(e).map(|l| l.tensor))
            .collect::<Result<Vec<_>>>()?;
        world.to_host(&ts)?;
        Ok(())
    };
    let decoder = |world: &mut World, es: &[Entity]| -> Result<()> {
        decode_pipe(world, es)?;
        to_host(world, es)
    };

    // Warm-up: pipelines compile, arenas and staging buffers reach their size.
    world.clear();
    let es = spawn_latents(world, &latents, shape)?;
    encoder(world, &es)?;
    let streams = streams_of(world, &es)?;
    world.clear();
    let ds = spawn_streams(world, &streams);
    decoder(world, &ds)?;

    // Pipelined throughput.
    let (mut enc, mut dec) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iters {
        world.clear();
        let es = spawn_latents(world, &latents, shape)?;
        let t = Instant::now();
        encoder(world, &es)?;
        enc += t.elapsed();
        world.clear();
        let ds = spawn_streams(world, &streams);
        let t = Instant::now();
        decoder(world, &ds)?;
        dec += t.elapsed();
    }

    // Stage by stage from the world's trace, each GPU stage waited for on its own.
    world.take_trace();
    world.set_profiling(true);
    let mut readback = Duration::ZERO;
    let staged = (|| -> Result<()> {
        for _ in 0..iters {
            world.clear();
            let es = spawn_latents(world, &latents, shape)?;
            encoder(world, &es)?;
            world.clear();
            let ds = spawn_streams(world, &streams);
            decode_pipe(world, &ds)?;
            let t = Instant::now();
            to_host(world, &ds)?;
            readback += t.elapsed();
        }
        Ok(())
    })();
    world.set_profiling(false);
    staged?;
    let names = stage_names(codec);
    let mut stage = vec![Duration::ZERO; names.len()];
    for r in world.take_trace() {
        if let Some(k) = names.iter().position(|s| *s == r.system) {
            stage[k] += Duration::from_secs_f64(r.ms / 1e3);
        }
    }
    if let Some(last) = stage.last_mut() {
        *last = readback;
    }
    let n = (iters * batch) as f64;
    let per_batch_ms = |d: Duration| d.as_secs_f64() * 1e3 / iters as f64;
    Ok(BenchRow {
        workload: "latents",
        config: None,
        device: world.device().to_string(),
        adapter: String::new(),
        model: None,
        vae_provider: None,
        shape,
        batch,
        encode_images_per_s: n / enc.as_secs_f64(),
        decode_images_per_s: n / dec.as_secs_f64(),
        bytes_per_image: streams.iter().map(AnsBitstream::len).sum::<usize>() as f64 / batch as f64,
        stage_ms: names
            .into_iter()
            .zip(stage)
            .map(|(s, d)| (s, per_batch_ms(d)))
            .collect(),
        vae_share: None,
    })
}

/// The world for a device: a GPU arena on the chosen adapter, or none.
fn world_for(device: Device) -> Result<(World, String)> {
    #[cfg(feature = "gpu")]
    {
        use vaerans::gpu::GpuContext;
        let ctx = match device {
            Device::Cpu => None,
            Device::Gpu => Some(GpuContext::new()?),
            Device::Auto => GpuContext::new().ok(),
        };
        if let Some(ctx) = ctx {
            let name = ctx.adapter_description().to_string();
            return Ok((World::with_gpu(&ctx)?, name));
        }
    }
    if device == Device::Gpu {
        return Err(Error::NoGpu(
            "this build of vaerans has no GPU path; rebuild with the `gpu` feature".into(),
        ));
    }
    Ok((
        World::new(),
        format!("{} CPU threads", rayon::current_num_threads()),
    ))
}

fn check_counts(batches: &[usize], iters: usize) -> Result<()> {
    if batches.is_empty() || batches.contains(&0) || iters == 0 {
        return Err(Error::InvalidInput(
            "batch sizes and iterations must all be at least 1".into(),
        ));
    }
    Ok(())
}

fn print_header(stages: &[String]) {
    print!(
        "{:>6} {:>11} {:>11} {:>8}",
        "batch", "enc img/s", "dec img/s", "bytes"
    );
    for s in stages {
        print!(" {s:>11}");
    }
    if stages.iter().any(|s| s.starts_with("Vae")) {
        print!(" {:>6}", "vae %");
    }
    println!("   (stage columns: ms per batch)");
}

fn print_row(row: &BenchRow, json: bool) {
    if json {
        println!("{}", serde_json::to_string(row).unwrap_or_default());
        return;
    }
    print!(
        "{:>6} {:>11.1} {:>11.1} {:>8.0}",
        row.batch, row.encode_images_per_s, row.decode_images_per_s, row.bytes_per_image
    );
    for (_, ms) in &row.stage_ms {
        print!(" {ms:>11.3}");
    }
    if let Some(share) = row.vae_share {
        print!(" {:>6.1}", share * 100.0);
    }
    println!();
}

/// `vaerans bench --latent CxHxW`: the latent pipeline alone; prints a table (or JSON lines).
fn run_latents(
    device: Device,
    shape: [usize; 3],
    batches: &[usize],
    iters: usize,
    (quality, entropy): (u8, Option<vaerans::EntropyCoding>),
    json: bool,
) -> Result<usize> {
    check_counts(batches, iters)?;
    if shape.contains(&0) {
        return Err(Error::InvalidInput(
            "every side of the latent shape must be at least 1".into(),
        ));
    }
    if shape[0] % 4 != 0 {
        return Err(Error::InvalidInput(format!(
            "a latent of {} channels: the Hadamard stage takes channels in groups of four; \
             use a multiple of 4",
            shape[0]
        )));
    }
    let most = batches.iter().max().copied().unwrap_or(1);
    let values = shape.iter().product::<usize>().saturating_mul(most);
    if values > MAX_BENCH_VALUES {
        return Err(Error::InvalidInput(format!(
            "batch {most} of {}×{}×{} latents is {values} values; the benchmark takes at most \
             {MAX_BENCH_VALUES} per batch (its arenas hold about 20 bytes per value): use a \
             smaller shape or batch",
            shape[0], shape[1], shape[2]
        )));
    }
    let codec = LatentCodec::new(quality)?.with_entropy(entropy);
    let (mut world, adapter) = world_for(device)?;
    if !json {
        println!(
            "latent pipeline on {} ({adapter}): {}×{}×{} latents, quality {quality}, entropy \
             coding {}, {iters} iterations",
            world.device(),
            shape[0],
            shape[1],
            shape[2],
            entropy.map_or("auto (adaptive when 2% smaller)", |e| e.name())
        );
        print_header(&stage_names(&codec));
    }
    for &batch in batches {
        let mut row = bench_batch(&mut world, &codec, shape, batch, iters)?;
        row.adapter = adapter.clone();
        print_row(&row, json);
    }
    Ok(0)
}

/// A photo-like test image, deterministic in `seed`: soft gradients, a few hard-edged shapes,
/// fine texture and sensor-like noise, so every subband carries something.
fn synthetic_image(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut noise = noise(seed);
    let phase = seed as f32 * 0.7;
    RgbImage::from_fn(width, height, |x, y| {
        let (u, v) = (x as f32 / width as f32, y as f32 / height as f32);
        let disc = ((u - 0.35).powi(2) + (v - 0.45).powi(2)).sqrt() < 0.2;
        let band = ((u * 3.0 + v + phase).floor() as i32).rem_euclid(2) == 0;
        let texture = ((x as f32 * 0.9).sin() * (y as f32 * 0.7 + phase).cos()) * 12.0;
        let base = [
            60.0 + 140.0 * u + if disc { 50.0 } else { 0.0 },
            40.0 + 150.0 * v + if band { 25.0 } else { 0.0 },
            180.0 - 120.0 * u * v + texture,
        ];
        image::Rgb(base.map(|c| (c + texture * 0.5 + noise() * 10.0).clamp(0.0, 255.0) as u8))
    })
}

/// Trace rows merged per system (in first-seen order), as milliseconds per batch.
fn stage_times(trace: Vec<TraceRow>, iters: usize) -> Vec<(String, f64)> {
    TraceRow::merged(trace)
        .into_iter()
        .map(|r| (r.system.to_string(), r.ms / iters as f64))
        .collect()
}

/// Fails with the first failed image of a batch, if any.
fn all_ok<T>(results: Vec<Result<T>>) -> Result<Vec<T>> {
    results.into_iter().collect::<Result<Vec<T>>>()
}

/// One batch size of the whole codec.
fn bench_images(codec: &Codec, images: &[RgbImage], iters: usize) -> Result<BenchRow> {
    let batch = images.len();
    // Warm-up: sessions, pipelines, arenas and staging buffers reach their size.
    let streams = all_ok(codec.compress_batch(images))?;
    all_ok(codec.decompress_batch(&streams))?;

    let (mut enc, mut dec) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..iters {
        let t = Instant::now();
        all_ok(codec.compress_batch(images))?;
        enc += t.elapsed();
        let t = Instant::now();
        all_ok(codec.decompress_batch(&streams))?;
        dec += t.elapsed();
    }

    codec.take_trace();
    codec.set_profiling(true);
    let staged = (|| -> Result<()> {
        for _ in 0..iters {
            all_ok(codec.compress_batch(images))?;
            all_ok(codec.decompress_batch(&streams))?;
        }
        Ok(())
    })();
    codec.set_profiling(false);
    staged?;
    let n = (iters * batch) as f64;
    let first = &images[0];
    let bytes: usize = streams.iter().map(Vec::len).sum();
    let stage_ms = stage_times(codec.take_trace(), iters);
    let total: f64 = stage_ms.iter().map(|(_, ms)| ms).sum();
    let vae: f64 = stage_ms
        .iter()
        .filter(|(s, _)| s.starts_with("Vae"))
        .map(|(_, ms)| ms)
        .sum();
    Ok(BenchRow {
        workload: "images",
        config: None,
        device: codec.device().to_string(),
        adapter: String::new(),
        model: Some(codec.vae().id().name.clone()),
        vae_provider: Some(codec.vae().provider().to_string()),
        shape: [first.height() as usize, first.width() as usize, 3],
        batch,
        encode_images_per_s: n / enc.as_secs_f64(),
        decode_images_per_s: n / dec.as_secs_f64(),
        bytes_per_image: bytes as f64 / batch as f64,
        stage_ms,
        vae_share: (total > 0.0).then(|| vae / total),
    })
}

/// `vaerans bench`: the whole codec on `images` (cycled to fill each batch); prints a table
/// (or JSON lines).
fn run_images(
    codec: &Codec,
    images: &[RgbImage],
    source: &str,
    config: &str,
    batches: &[usize],
    iters: usize,
    json: bool,
) -> Result<Vec<BenchRow>> {
    check_counts(batches, iters)?;
    if images.is_empty() {
        return Err(Error::InvalidInput("no images to benchmark".into()));
    }
    #[cfg(feature = "gpu")]
    let adapter = codec.gpu_context().map_or_else(
        || format!("{} CPU threads", rayon::current_num_threads()),
        |c| c.adapter_description().to_string(),
    );
    #[cfg(not(feature = "gpu"))]
    let adapter = format!("{} CPU threads", rayon::current_num_threads());
    let vae = codec.vae();
    if !json {
        if !config.is_empty() {
            println!("\nconfiguration {config}:");
        }
        println!(
            "whole codec: model {} (VAE on {}), latent stages on {} ({adapter}); {source}; \
             quality {}, {iters} iterations",
            vae.id().name,
            vae.provider(),
            codec.device(),
            codec.quality()
        );
    }
    let mut rows = Vec::new();
    for (k, &batch) in batches.iter().enumerate() {
        let set: Vec<RgbImage> = images.iter().cycle().take(batch).cloned().collect();
        let mut row = bench_images(codec, &set, iters)?;
        row.adapter = adapter.clone();
        row.config = (!config.is_empty()).then(|| config.to_string());
        if k == 0 && !json {
            print_header(
                &row.stage_ms
                    .iter()
                    .map(|(s, _)| s.clone())
                    .collect::<Vec<_>>(),
            );
        }
        print_row(&row, json);
        rows.push(row);
    }
    Ok(rows)
}

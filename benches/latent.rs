//! The latent stages on the CPU and on the GPU, stage by stage and as whole pipelines, for
//! batches of 1, 8 and 64 latents of 4×64×64 and 4×96×64.
//!
//! `cargo bench --bench latent` (the GPU half needs an adapter; without one it is left out
//! with a message). Group `stage/<name>` times one stage on data already where that stage
//! reads it (on the GPU: resident in the arena), waiting for the device at the end; the
//! quantiser's readback and the dequantiser's upload belong to those stages by design.
//! Group `pipeline/encode` times latent (host) → streams, `pipeline/decode` streams → latent
//! (host): every transfer included.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vaerans::prelude::*;

const SHAPES: [[usize; 3]; 2] = [[4, 64, 64], [4, 96, 64]];
const BATCHES: [usize; 3] = [1, 8, 64];
const LEVELS: u8 = 4;
const QUALITY: u8 = 75;

fn latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..c * h * w)
        .map(|i| {
            let (x, y, ch) = (i % w, (i / w) % h, i / (h * w));
            ((x as f32 * 0.21 + ch as f32).sin() + (y as f32 * 0.13).cos()) * 0.8
                + rng.random_range(-0.5f32..0.5)
        })
        .collect()
}

struct Fixture {
    shape: [usize; 3],
    latents: Vec<Vec<f32>>,
    streams: Vec<AnsBitstream>,
}

impl Fixture {
    fn new(shape: [usize; 3], batch: usize) -> Self {
        let latents: Vec<Vec<f32>> = (0..batch)
            .map(|i| latent(shape[0], shape[1], shape[2], i as u64))
            .collect();
        let mut w = World::new();
        let es = spawn_latents(&mut w, &latents, shape);
        encode(&mut w, &es);
        let streams = es
            .iter()
            .map(|&e| w.get::<AnsBitstream>(e).unwrap().clone())
            .collect();
        Self {
            shape,
            latents,
            streams,
        }
    }
}

fn spawn_latents(w: &mut World, latents: &[Vec<f32>], shape: [usize; 3]) -> Vec<Entity> {
    latents
        .iter()
        .map(|l| {
            let tensor = w.arena_mut().alloc_from(&shape, l).unwrap();
            w.spawn_with(Latent { tensor })
        })
        .collect()
}

fn spawn_streams(w: &mut World, streams: &[AnsBitstream]) -> Vec<Entity> {
    streams.iter().map(|s| w.spawn_with(s.clone())).collect()
}

fn run(w: &mut World, es: &[Entity], systems: Vec<Box<dyn System>>) {
    for s in systems {
        s.run(w, es).unwrap();
    }
    assert!(es.iter().all(|&e| w.failure(e).is_none()));
}

/// The latent chain benchmarked.
fn codec() -> LatentCodec {
    LatentCodec::new(QUALITY)
        .and_then(|c| c.with_wavelet(Wavelet::Cdf53, LEVELS))
        .unwrap()
}

/// The encoder's systems, in order.
fn encoder() -> Vec<Box<dyn System>> {
    codec().encoder()
}

/// The decoder's systems, in order.
fn decoder() -> Vec<Box<dyn System>> {
    codec().decoder()
}

fn encode(w: &mut World, es: &[Entity]) {
    run(w, es, encoder());
}

/// Where a measurement's untimed set-up starts.
#[derive(Clone, Copy)]
enum Start {
    /// Latents already where the world's stages run (on the GPU: in its arena).
    ResidentLatents,
    /// Latents in host memory.
    HostLatents,
    /// The fixture's streams.
    Streams,
}

/// A measurement: systems `from..to` of a pipe, after running `..from` untimed.
struct Stage {
    name: &'static str,
    start: Start,
    pipe: fn() -> Vec<Box<dyn System>>,
    from: usize,
    to: usize,
    /// Whether the timed part ends with the latents brought to the host.
    to_host: bool,
}

impl Stage {
    fn one(
        name: &'static str,
        start: Start,
        pipe: fn() -> Vec<Box<dyn System>>,
        at: usize,
    ) -> Self {
        Self {
            name,
            start,
            pipe,
            from: at,
            to: at + 1,
            to_host: false,
        }
    }

    /// Puts the stage's input in place (untimed) and returns the entities.
    fn setup(&self, w: &mut World, f: &Fixture) -> Vec<Entity> {
        let es = match self.start {
            Start::Streams => spawn_streams(w, &f.streams),
            Start::HostLatents => spawn_latents(w, &f.latents, f.shape),
            Start::ResidentLatents => {
                let es = spawn_latents(w, &f.latents, f.shape);
                if w.gpu_arena().is_some() {
                    let ts: Vec<TensorRef> = es
                        .iter()
                        .map(|&e| w.get::<Latent>(e).unwrap().tensor)
                        .collect();
                    let on = w.to_gpu(&ts).unwrap();
                    for (&e, tensor) in es.iter().zip(on) {
                        w.insert(e, Latent { tensor }).unwrap();
                    }
                }
                es
            }
        };
        run(w, &es, (self.pipe)().into_iter().take(self.from).collect());
        es
    }

    fn timed(&self) -> Vec<Box<dyn System>> {
        (self.pipe)()
            .into_iter()
            .take(self.to)
            .skip(self.from)
            .collect()
    }
}

fn stages() -> Vec<Stage> {
    use Start::*;
    vec![
        Stage::one("hadamard", ResidentLatents, encoder, 0),
        Stage::one("wavelet", ResidentLatents, encoder, 1),
        Stage::one("quantize", ResidentLatents, encoder, 2),
        Stage::one("dequantize", Streams, decoder, 1),
        Stage::one("wavelet_inverse", Streams, decoder, 2),
        Stage::one("hadamard_inverse", Streams, decoder, 3),
    ]
}

fn pipelines() -> Vec<Stage> {
    vec![
        Stage {
            name: "encode",
            start: Start::HostLatents,
            pipe: encoder,
            from: 0,
            to: 4,
            to_host: false,
        },
        Stage {
            name: "decode",
            start: Start::Streams,
            pipe: decoder,
            from: 0,
            to: 4,
            to_host: true,
        },
    ]
}

/// Times `stage` on `world`: per iteration, clear, set up (untimed, waited for), then run and
/// wait.
fn time_stage(world: &mut World, f: &Fixture, stage: &Stage, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        world.clear();
        let es = stage.setup(world, f);
        world.finish_gpu().unwrap();
        let systems = stage.timed();
        let t = Instant::now();
        run(world, &es, systems);
        if stage.to_host {
            let ts: Vec<TensorRef> = es
                .iter()
                .map(|&e| world.get::<Latent>(e).unwrap().tensor)
                .collect();
            black_box(world.to_host(&ts).unwrap());
        }
        world.finish_gpu().unwrap();
        total += t.elapsed();
    }
    total
}

fn bench(c: &mut Criterion) {
    let gpu = match vaerans::gpu::GpuContext::new() {
        Ok(ctx) => {
            eprintln!("GPU: {}", ctx.adapter_description());
            Some(ctx)
        }
        Err(e) => {
            eprintln!("GPU benchmarks left out: {e}");
            None
        }
    };
    let mut worlds: Vec<(&str, World)> = vec![("cpu", World::new())];
    if let Some(ctx) = &gpu {
        worlds.push(("gpu", World::with_gpu(ctx).unwrap()));
    }
    let fixtures: Vec<(usize, Fixture)> = SHAPES
        .iter()
        .flat_map(|&s| BATCHES.iter().map(move |&b| (b, Fixture::new(s, b))))
        .collect();
    for (group, list) in [("stage", stages()), ("pipeline", pipelines())] {
        for stage in &list {
            let mut g = c.benchmark_group(format!("{group}/{}", stage.name));
            g.sample_size(10)
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(2));
            for (batch, f) in &fixtures {
                g.throughput(Throughput::Elements(*batch as u64));
                let [ch, h, w] = f.shape;
                for (device, world) in worlds.iter_mut() {
                    let id = BenchmarkId::new(*device, format!("{ch}x{h}x{w}/b{batch}"));
                    g.bench_function(id, |b| {
                        b.iter_custom(|iters| time_stage(world, f, stage, iters))
                    });
                }
            }
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

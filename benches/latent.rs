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
            let e = w.spawn();
            let tensor = w.arena_mut().alloc_from(&shape, l).unwrap();
            w.insert(e, Latent { tensor }).unwrap();
            e
        })
        .collect()
}

fn spawn_streams(w: &mut World, streams: &[AnsBitstream]) -> Vec<Entity> {
    streams
        .iter()
        .map(|s| {
            let e = w.spawn();
            w.insert(e, s.clone()).unwrap();
            e
        })
        .collect()
}

fn run(w: &mut World, es: &[Entity], systems: Vec<Box<dyn System>>) {
    for s in systems {
        s.run(w, es).unwrap();
    }
    assert!(es.iter().all(|&e| w.failure(e).is_none()));
}

fn encode(w: &mut World, es: &[Entity]) {
    run(
        w,
        es,
        vec![
            Box::new(Hadamard::forward()),
            Box::new(WaveletTransform::forward(Wavelet::Cdf53, LEVELS)),
            Box::new(Quantize::forward(QUALITY)),
            Box::new(EntropyCoder::forward()),
        ],
    );
}

/// Waits for the device (nothing to wait for on the CPU).
fn sync(w: &mut World) {
    if let Some(g) = w.gpu_arena_mut() {
        g.finish().unwrap();
    }
}

/// A stage: what runs untimed to put its input in place, and the stage itself.
struct Stage {
    name: &'static str,
    setup: fn(&mut World, &Fixture) -> Vec<Entity>,
    timed: fn() -> Vec<Box<dyn System>>,
    /// Whether the timed part ends with the latents brought to the host.
    to_host: bool,
}

/// Latents resident where the world's stages run.
fn resident_latents(w: &mut World, f: &Fixture) -> Vec<Entity> {
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

fn stages() -> Vec<Stage> {
    vec![
        Stage {
            name: "hadamard",
            setup: resident_latents,
            timed: || vec![Box::new(Hadamard::forward())],
            to_host: false,
        },
        Stage {
            name: "wavelet",
            setup: |w, f| {
                let es = resident_latents(w, f);
                run(w, &es, vec![Box::new(Hadamard::forward())]);
                es
            },
            timed: || vec![Box::new(WaveletTransform::forward(Wavelet::Cdf53, LEVELS))],
            to_host: false,
        },
        Stage {
            name: "quantize",
            setup: |w, f| {
                let es = resident_latents(w, f);
                run(
                    w,
                    &es,
                    vec![
                        Box::new(Hadamard::forward()),
                        Box::new(WaveletTransform::forward(Wavelet::Cdf53, LEVELS)),
                    ],
                );
                es
            },
            timed: || vec![Box::new(Quantize::forward(QUALITY))],
            to_host: false,
        },
        Stage {
            name: "dequantize",
            setup: |w, f| {
                let es = spawn_streams(w, &f.streams);
                run(w, &es, vec![Box::new(EntropyCoder::inverse())]);
                es
            },
            timed: || vec![Box::new(Quantize::inverse())],
            to_host: false,
        },
        Stage {
            name: "wavelet_inverse",
            setup: |w, f| {
                let es = spawn_streams(w, &f.streams);
                run(
                    w,
                    &es,
                    vec![
                        Box::new(EntropyCoder::inverse()),
                        Box::new(Quantize::inverse()),
                    ],
                );
                es
            },
            timed: || vec![Box::new(WaveletTransform::inverse())],
            to_host: false,
        },
        Stage {
            name: "hadamard_inverse",
            setup: |w, f| {
                let es = spawn_streams(w, &f.streams);
                run(
                    w,
                    &es,
                    vec![
                        Box::new(EntropyCoder::inverse()),
                        Box::new(Quantize::inverse()),
                        Box::new(WaveletTransform::inverse()),
                    ],
                );
                es
            },
            timed: || vec![Box::new(Hadamard::inverse())],
            to_host: false,
        },
    ]
}

fn pipelines() -> Vec<Stage> {
    vec![
        Stage {
            name: "encode",
            setup: |w, f| spawn_latents(w, &f.latents, f.shape),
            timed: || {
                vec![
                    Box::new(Hadamard::forward()),
                    Box::new(WaveletTransform::forward(Wavelet::Cdf53, LEVELS)),
                    Box::new(Quantize::forward(QUALITY)),
                    Box::new(EntropyCoder::forward()),
                ]
            },
            to_host: false,
        },
        Stage {
            name: "decode",
            setup: |w, f| spawn_streams(w, &f.streams),
            timed: || {
                vec![
                    Box::new(EntropyCoder::inverse()),
                    Box::new(Quantize::inverse()),
                    Box::new(WaveletTransform::inverse()),
                    Box::new(Hadamard::inverse()),
                ]
            },
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
        let es = (stage.setup)(world, f);
        sync(world);
        let systems = (stage.timed)();
        let t = Instant::now();
        run(world, &es, systems);
        if stage.to_host {
            let ts: Vec<TensorRef> = es
                .iter()
                .map(|&e| world.get::<Latent>(e).unwrap().tensor)
                .collect();
            black_box(world.to_host(&ts).unwrap());
        }
        sync(world);
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

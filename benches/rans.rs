//! rANS throughput (MB/s of symbols) beside `constriction`'s `DefaultAnsCoder` on the same
//! symbols, with the same per-band models built from histograms on both sides.
//!
//! Two comparisons: `encode`/`decode` include building each band's model from its histogram
//! on both sides (our encoder also searches model shapes and precisions against their table
//! cost); `code` encodes with models built beforehand, which isolates the coders.
//!
//! Data sets:
//! - `latents`: the quantised symbols of 16 latents shaped like a 768×512 image's (4×64×96),
//!   each its own stream of 52 bands, as the codec codes them;
//! - `laplacian-1M`: one band of 2^20 two-sided geometric symbols.
//!
//! Run: `cargo bench --bench rans`.

use constriction::stream::model::DefaultContiguousCategoricalEntropyModel;
use constriction::stream::stack::DefaultAnsCoder;
use constriction::stream::Decode;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::hint::black_box;
use vaerans::entropy::{decode_bands, encode_bands, encode_with_models, histogram, BandModel};
use vaerans::latent::stream::decode_symbols;
use vaerans::layout::bands;
use vaerans::prelude::*;

/// Streams, each a list of bands.
type Streams = Vec<Vec<Vec<u8>>>;

fn latent_streams(count: usize) -> Streams {
    let (c, h, w) = (4, 64, 96);
    let mut rng = StdRng::seed_from_u64(7);
    (0..count)
        .map(|k| {
            let data: Vec<f32> = (0..c * h * w)
                .map(|i| {
                    let (ch, y, x) = (i / (h * w), (i / w) % h, i % w);
                    let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
                    (7.0 * fx + k as f32).sin() * (1.0 - 0.2 * ch as f32)
                        + 0.6 * (5.0 * fy + 0.3 * ch as f32).cos()
                        + rng.random_range(-0.4f32..0.4)
                })
                .collect();
            // The symbols of a real stream, in coding order: each channel's bands one after
            // another.
            let mut world = World::with_arena_capacity(8 << 20);
            let tensor = world.arena_mut().alloc_from(&[c, h, w], &data).unwrap();
            let e = world.spawn_with(Latent { tensor });
            let stream = world
                .pipe(e)
                .chain(LatentCodec::new(75).unwrap().encoder())
                .out::<AnsBitstream>()
                .unwrap();
            let mut all = decode_symbols(&stream).unwrap().into_iter();
            let table = bands(h, w, stream.header().quant.levels);
            (0..c)
                .flat_map(|_| table.iter())
                .map(|b| all.by_ref().take(b.len()).collect())
                .collect()
        })
        .collect()
}

fn laplacian_stream(n: usize) -> Streams {
    let mut rng = StdRng::seed_from_u64(3);
    let band = (0..n)
        .map(|_| {
            let mut k = 0i32;
            while k < 127 && rng.random_bool(0.6) {
                k += 1;
            }
            (if rng.random_bool(0.5) {
                128 + k
            } else {
                128 - k
            }) as u8
        })
        .collect();
    vec![vec![band]]
}

// --- constriction, with the same per-band histograms -----------------------------------------

struct CBand {
    lo: usize,
    model: Option<DefaultContiguousCategoricalEntropyModel>,
    len: usize,
}

fn constriction_models(bands: &[Vec<u8>]) -> Vec<CBand> {
    bands
        .iter()
        .map(|b| {
            let hist = histogram(b);
            let lo = hist.iter().position(|&c| c > 0).unwrap_or(0);
            let hi = hist.iter().rposition(|&c| c > 0).unwrap_or(0);
            let model = (hi > lo).then(|| {
                let probs: Vec<f64> = hist[lo..=hi].iter().map(|&c| f64::from(c)).collect();
                DefaultContiguousCategoricalEntropyModel::from_floating_point_probabilities_fast(
                    &probs, None,
                )
                .unwrap()
            });
            CBand {
                lo,
                model,
                len: b.len(),
            }
        })
        .collect()
}

fn constriction_encode(bands: &[Vec<u8>]) -> (Vec<CBand>, Vec<u32>) {
    let models = constriction_models(bands);
    let words = constriction_code(bands, &models);
    (models, words)
}

fn constriction_code(bands: &[Vec<u8>], models: &[CBand]) -> Vec<u32> {
    let mut coder = DefaultAnsCoder::new();
    for (b, m) in bands.iter().zip(models).rev() {
        if let Some(model) = &m.model {
            coder
                .encode_iid_symbols_reverse(b.iter().map(|&s| s as usize - m.lo), model)
                .unwrap();
        }
    }
    coder.into_compressed().unwrap()
}

fn constriction_decode(models: &[CBand], words: Vec<u32>, out: &mut [u8]) {
    let mut coder = DefaultAnsCoder::from_compressed(words).unwrap();
    let mut at = 0;
    for m in models {
        let dst = &mut out[at..at + m.len];
        at += m.len;
        match &m.model {
            Some(model) => {
                for (o, s) in dst.iter_mut().zip(coder.decode_iid_symbols(m.len, model)) {
                    *o = (s.unwrap() + m.lo) as u8;
                }
            }
            None => dst.fill(m.lo as u8),
        }
    }
}

fn bench(c: &mut Criterion) {
    for (name, streams) in [
        ("latents", latent_streams(16)),
        ("laplacian-1M", laplacian_stream(1 << 20)),
    ] {
        let symbols: usize = streams.iter().flatten().map(Vec::len).sum();
        let mut g = c.benchmark_group(format!("rans/{name}"));
        g.throughput(Throughput::Bytes(symbols as u64));
        g.sample_size(20);

        let refs: Vec<Vec<&[u8]>> = streams
            .iter()
            .map(|s| s.iter().map(Vec::as_slice).collect())
            .collect();
        let lens: Vec<Vec<usize>> = streams
            .iter()
            .map(|s| s.iter().map(Vec::len).collect())
            .collect();
        let ours: Vec<_> = refs.iter().map(|r| encode_bands(r).unwrap()).collect();
        let theirs: Vec<_> = streams.iter().map(|s| constriction_encode(s)).collect();
        let our_bytes: usize = ours.iter().map(|e| e.tables.len() + e.payload.len()).sum();
        let their_bytes: usize = theirs.iter().map(|(_, w)| 4 * w.len()).sum();
        eprintln!(
            "{name}: {symbols} symbols; vaerans {our_bytes} B (tables included), \
             constriction {their_bytes} B (tables not included)"
        );

        g.bench_function(BenchmarkId::new("encode", "vaerans"), |b| {
            b.iter(|| {
                for r in &refs {
                    black_box(encode_bands(r).unwrap());
                }
            })
        });
        g.bench_function(BenchmarkId::new("encode", "constriction"), |b| {
            b.iter(|| {
                for s in &streams {
                    black_box(constriction_encode(s));
                }
            })
        });
        let our_models: Vec<Vec<Option<BandModel>>> = refs
            .iter()
            .map(|r| {
                r.iter()
                    .map(|b| BandModel::from_histogram(&histogram(b)))
                    .collect()
            })
            .collect();
        g.bench_function(BenchmarkId::new("code", "vaerans"), |b| {
            b.iter(|| {
                for (r, m) in refs.iter().zip(&our_models) {
                    black_box(encode_with_models(r, m).unwrap());
                }
            })
        });
        g.bench_function(BenchmarkId::new("code", "constriction"), |b| {
            b.iter(|| {
                for (s, (m, _)) in streams.iter().zip(&theirs) {
                    black_box(constriction_code(s, m));
                }
            })
        });
        let mut out = vec![0u8; symbols];
        g.bench_function(BenchmarkId::new("decode", "vaerans"), |b| {
            b.iter(|| {
                for (e, l) in ours.iter().zip(&lens) {
                    let n: usize = l.iter().sum();
                    decode_bands(&e.tables, &e.payload, l, &mut out[..n]).unwrap();
                }
                black_box(&out);
            })
        });
        g.bench_function(BenchmarkId::new("decode", "constriction"), |b| {
            b.iter(|| {
                for (m, w) in &theirs {
                    let n: usize = m.iter().map(|b| b.len).sum();
                    constriction_decode(m, w.clone(), &mut out[..n]);
                }
                black_box(&out);
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

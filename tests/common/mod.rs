//! Helpers shared by the integration tests: synthetic latents and whole-pipe round trips.
#![allow(dead_code)]

#[cfg(feature = "gpu")]
pub mod gpu;

use rand::{rngs::StdRng, Rng, SeedableRng};
use vaerans::prelude::*;

/// The largest absolute difference between two equally long slices.
pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A smooth 4-channel latent: low-frequency sinusoids with correlated channels, like a VAE
/// latent of a natural image (std around 1).
pub fn smooth_latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let phases: Vec<f32> = (0..8)
        .map(|_| rng.random_range(0.0..std::f32::consts::TAU))
        .collect();
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (fy, fx) = (y as f32 / h as f32, x as f32 / w as f32);
                let base = (6.0 * fx + phases[0]).sin() + 0.7 * (4.0 * fy + phases[1]).cos();
                let own = 0.5 * (9.0 * (fx + fy) + phases[2 + ch % 6]).sin();
                out.push(base * (1.0 - 0.2 * ch as f32) + own);
            }
        }
    }
    out
}

/// A noisy latent: uniform noise in [-2, 2] plus a smooth part.
pub fn noisy_latent(c: usize, h: usize, w: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    smooth_latent(c, h, w, seed)
        .into_iter()
        .map(|v| v + rng.random_range(-2.0f32..2.0))
        .collect()
}

/// The latent chain at `quality` with `wavelet` and `levels`.
pub fn chain(quality: u8, wavelet: Wavelet, levels: u8) -> LatentCodec {
    LatentCodec::new(quality)
        .and_then(|c| c.with_wavelet(wavelet, levels))
        .unwrap()
}

/// Encodes one latent with the CPU systems at `quality`; returns the stream's bytes.
pub fn encode(
    data: &[f32],
    shape: [usize; 3],
    quality: u8,
    wavelet: Wavelet,
    levels: u8,
) -> Vec<u8> {
    encode_with(data, shape, &chain(quality, wavelet, levels))
}

/// Encodes one latent with the CPU systems of `codec`; returns the stream's bytes.
pub fn encode_with(data: &[f32], shape: [usize; 3], codec: &LatentCodec) -> Vec<u8> {
    let mut world = World::with_arena_capacity(64 << 20);
    let tensor = world.arena_mut().alloc_from(&shape, data).unwrap();
    let e = world.spawn_with(Latent { tensor });
    world
        .pipe(e)
        .chain(codec.encoder())
        .out::<AnsBitstream>()
        .unwrap()
        .into_bytes()
}

/// Parses a stream with default limits and decodes its symbols: every check a decoder makes of
/// its bytes.
pub fn decode_symbols(stream: &[u8]) -> Result<Vec<u8>> {
    let s = AnsBitstream::parse(stream.to_vec(), &Limits::default())?;
    vaerans::latent::stream::decode_symbols(&s)
}

/// Decodes a stream with the CPU systems; returns the latent's values and shape.
pub fn decode(stream: &[u8]) -> Result<(Vec<f32>, Vec<usize>)> {
    let mut world = World::with_arena_capacity(64 << 20);
    let e = world.spawn_with(AnsBitstream::parse(stream.to_vec(), &Limits::default())?);
    let latent = world
        .pipe(e)
        .chain(LatentCodec::default().decoder())
        .out::<Latent>()?;
    Ok((
        world.arena().to_vec::<f32>(&latent.tensor)?,
        latent.tensor.shape().to_vec(),
    ))
}

/// Mean squared error.
pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

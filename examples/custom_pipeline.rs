//! A branching pipe on synthetic latents (no VAE needed): encode a batch at one quality, then go
//! back to the wavelet pyramid and quantise again at another, printing what every system
//! produced and the rate and latent error of both branches.
//!
//! Run: `cargo run --release --example custom_pipeline`

use vaerans::prelude::*;

fn main() -> Result<()> {
    let (c, h, w) = (4, 64, 96); // the latent of a 768×512 image
    let mut world = World::new();
    let mut entities = Vec::new();
    let mut originals = Vec::new();
    for k in 0..4 {
        let data: Vec<f32> = (0..c * h * w)
            .map(|i| {
                let (ch, y, x) = (i / (h * w), (i / w) % h, i % w);
                ((x as f32 / 9.0 + k as f32).sin() + (y as f32 / 13.0).cos())
                    * (1.0 - 0.2 * ch as f32)
            })
            .collect();
        let tensor = world.arena_mut().alloc_from(&[c, h, w], &data)?;
        entities.push(world.spawn_with(Latent { tensor }));
        originals.push(data);
    }

    // One pipe, two branches from the same wavelet pyramid:
    //   A: quantise at 30 and reconstruct in memory (dequantising overwrites WaveletPyr, and the
    //      inverse transforms overwrite Latent with the reconstruction);
    //   B: back at the branch point, quantise at 90 and entropy-code to a stream.
    let report = world
        .pipe_batch(&entities)
        .to(Hadamard::forward())
        .to(WaveletTransform::forward(Wavelet::Cdf53, 4))
        .select::<WaveletPyr>()
        .to(Quantize::forward(30))
        .to(Quantize::inverse())
        .to(WaveletTransform::inverse())
        .to(Hadamard::inverse())
        .use_::<WaveletPyr>()
        .to(Quantize::forward(90))
        .to(EntropyCoder::forward())
        .execute()?;
    print_report("branching pipe", &report);

    for (i, &e) in entities.iter().enumerate() {
        let recon = world.arena().view::<f32>(&world.get::<Latent>(e)?.tensor)?;
        println!(
            "branch A, latent {i}: quality 30 reconstruction, latent MSE {:.2e}",
            mse(&originals[i], recon)
        );
    }

    // Decode branch B's streams as a receiver would: fresh entities holding only the bytes.
    let streams: Vec<AnsBitstream> = entities
        .iter()
        .map(|&e| world.get::<AnsBitstream>(e).cloned())
        .collect::<Result<_>>()?;
    let mut decoders = Vec::new();
    for s in &streams {
        decoders.push(world.spawn_with(s.clone()));
    }
    let report = world
        .pipe_batch(&decoders)
        .chain(LatentCodec::default().decoder())
        .execute()?;
    print_report("decoding branch B", &report);
    for (i, (&d, s)) in decoders.iter().zip(&streams).enumerate() {
        let back = world.arena().view::<f32>(&world.get::<Latent>(d)?.tensor)?;
        println!(
            "branch B, latent {i}: {:>6} bytes, {:.3} bits/value, latent MSE {:.2e}",
            s.len(),
            8.0 * s.len() as f64 / back.len() as f64,
            mse(&originals[i], back)
        );
    }
    Ok(())
}

fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len() as f64
}

fn print_report(title: &str, report: &PipeReport) {
    println!("{title}");
    for s in &report.steps {
        println!(
            "  {:<18} {:>2} entities  {:>8.3} ms  produced {:?}",
            s.step,
            s.entities,
            s.elapsed.as_secs_f64() * 1e3,
            s.produced
        );
    }
    for (e, err) in &report.failures {
        println!("  entity {e} failed: {err}");
    }
}

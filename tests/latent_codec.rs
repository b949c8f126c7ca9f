//! The whole latent codec through the pipe: rate and distortion against quality, batches, and
//! per-entity failures.

mod common;

use common::*;
use vaerans::prelude::*;

const SHAPE: [usize; 3] = [4, 96, 64];
const QUALITIES: [u8; 5] = [5, 25, 50, 75, 95];

#[test]
fn rate_rises_and_distortion_falls_with_quality() {
    for (name, data) in [
        ("smooth", smooth_latent(4, 96, 64, 1)),
        ("noisy", noisy_latent(4, 96, 64, 2)),
    ] {
        let mut last: Option<(f64, f64)> = None;
        for q in QUALITIES {
            let stream = encode(&data, SHAPE, q, Wavelet::Cdf53, 4);
            let (back, shape) = decode(&stream).unwrap();
            assert_eq!(shape, SHAPE);
            let bits = 8.0 * stream.len() as f64 / data.len() as f64;
            let err = mse(&data, &back);
            println!(
                "{name:>6} q={q:>2}: {bits:.3} bits/value, latent MSE {err:.3e}, {} bytes",
                stream.len()
            );
            if let Some((b0, e0)) = last {
                assert!(
                    bits > b0,
                    "{name}: rate did not rise at q={q} ({b0} -> {bits})"
                );
                assert!(
                    err < e0,
                    "{name}: MSE did not fall at q={q} ({e0} -> {err})"
                );
            }
            last = Some((bits, err));
        }
    }
}

#[test]
fn haar_and_every_level_count_round_trip() {
    let data = smooth_latent(4, 17, 9, 3);
    for wavelet in [Wavelet::Cdf53, Wavelet::Haar] {
        for levels in 1..=5 {
            let stream = encode(&data, [4, 17, 9], 90, wavelet, levels);
            let (back, _) = decode(&stream).unwrap();
            assert!(mse(&data, &back) < 1e-3, "{wavelet:?} L{levels}");
        }
        // No level at all: the stages themselves allow it (the chain asks for at least one).
        let mut world = World::new();
        let tensor = world.arena_mut().alloc_from(&[4, 17, 9], &data).unwrap();
        let e = world.spawn_with(Latent { tensor });
        let stream = world
            .pipe(e)
            .to(Hadamard::forward())
            .to(WaveletTransform::forward(wavelet, 0))
            .to(Quantize::forward(90))
            .to(EntropyCoder::forward())
            .out::<AnsBitstream>()
            .unwrap();
        assert_eq!(stream.header().quant.levels, 0);
        let (back, _) = decode(stream.as_bytes()).unwrap();
        assert!(mse(&data, &back) < 1e-3, "{wavelet:?} L0");
    }
}

#[test]
fn one_by_one_and_constant_latents_round_trip() {
    for (shape, data) in [
        ([4, 1, 1], vec![0.5f32, -3.0, 7.25, 0.0]),
        ([8, 5, 3], vec![1.25f32; 8 * 15]),
        (
            [4, 2, 2],
            vec![
                1e5f32, -1e5, 3.0, 0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 1.0,
                1.0,
            ],
        ),
    ] {
        let stream = encode(&data, shape, 75, Wavelet::Cdf53, 3);
        let (back, s) = decode(&stream).unwrap();
        assert_eq!(s, shape);
        let peak = data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (a, b) in data.iter().zip(&back) {
            assert!(
                (a - b).abs() <= 0.02 * peak.max(1.0),
                "{shape:?}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn a_corrupt_stream_fails_only_its_own_entity() {
    let data = smooth_latent(4, 24, 16, 4);
    let good = encode(&data, [4, 24, 16], 60, Wavelet::Cdf53, 3);
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x10;
    // A bad checksum is caught when the stream is parsed, before any work.
    assert!(matches!(
        AnsBitstream::parse(bad, &Limits::default()),
        Err(Error::ChecksumMismatch { .. })
    ));
    // A stream whose checksum holds but whose payload does not decode fails alone in a batch.
    let mut forged = good.clone();
    let n = forged.len() - 4;
    let payload = AnsBitstream::parse(good.clone(), &Limits::default())
        .unwrap()
        .sizes()
        .payload;
    // The first payload word is half of a coder's initial state: every symbol decodes wrong.
    forged[n - payload] ^= 0x5a;
    let crc = crc32c::crc32c(&forged[..n]);
    forged[n..].copy_from_slice(&crc.to_le_bytes());
    let mut world = World::with_arena_capacity(16 << 20);
    let parse = |b: &[u8]| AnsBitstream::parse(b.to_vec(), &Limits::default()).unwrap();
    let es: Vec<Entity> = [&good, &forged, &good]
        .iter()
        .map(|b| world.spawn_with(parse(b)))
        .collect();
    let outs = world
        .pipe_batch(&es)
        .chain(LatentCodec::default().decoder())
        .outs::<Latent>()
        .unwrap();
    assert!(outs[0].is_ok() && outs[2].is_ok());
    assert!(matches!(outs[1], Err(Error::Corrupt(_))), "{:?}", outs[1]);
}

#[test]
fn a_batch_encodes_like_single_entities() {
    let datas: Vec<Vec<f32>> = (0..5).map(|i| noisy_latent(4, 16, 24, 10 + i)).collect();
    let mut world = World::with_arena_capacity(16 << 20);
    let mut es = Vec::new();
    for d in &datas {
        let tensor = world.arena_mut().alloc_from(&[4, 16, 24], d).unwrap();
        es.push(world.spawn_with(Latent { tensor }));
    }
    let streams = world
        .pipe_batch(&es)
        .chain(chain(50, Wavelet::Cdf53, 3).encoder())
        .outs::<AnsBitstream>()
        .unwrap();
    for (d, s) in datas.iter().zip(streams) {
        assert_eq!(
            s.unwrap().into_bytes(),
            encode(d, [4, 16, 24], 50, Wavelet::Cdf53, 3)
        );
    }
}

#[test]
fn channels_not_a_multiple_of_four_are_a_clear_error() {
    let mut world = World::with_arena_capacity(1 << 20);
    let tensor = world
        .arena_mut()
        .alloc_from(&[3, 4, 4], &[0.0f32; 48])
        .unwrap();
    let e = world.spawn_with(Latent { tensor });
    let err = world
        .pipe(e)
        .to(Hadamard::forward())
        .out::<Yuvw>()
        .unwrap_err();
    assert!(err.to_string().contains("multiple of 4"), "{err}");
}

#[test]
fn table_share_report() {
    for (name, data) in [
        ("smooth", smooth_latent(4, 96, 64, 1)),
        ("noisy", noisy_latent(4, 96, 64, 2)),
    ] {
        for q in QUALITIES {
            let stream = encode(&data, SHAPE, q, Wavelet::Cdf53, 4);
            let s = AnsBitstream::parse(stream, &Limits::default())
                .unwrap()
                .sizes();
            println!(
                "{name:>6} q={q:>2}: total {:>6} header {:>4} tables {:>6} payload {:>6}",
                s.total, s.header, s.tables, s.payload
            );
        }
    }
}

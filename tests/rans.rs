//! rANS: exact round trips on property-generated streams, and rate close to the empirical
//! order-0 entropy of each band.

use proptest::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use vaerans::entropy::{
    decode_bands, encode_bands, encode_with_models, histogram, BandModel, Encoded, LANES,
};

fn round_trip(bands: &[Vec<u8>]) -> Encoded {
    let refs: Vec<&[u8]> = bands.iter().map(Vec::as_slice).collect();
    let enc = encode_bands(&refs).unwrap();
    let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
    let mut out = vec![0u8; lens.iter().sum()];
    decode_bands(&enc.tables, &enc.payload, &lens, &mut out).expect("decodes");
    assert_eq!(out, bands.concat(), "round trip");
    enc
}

/// Empirical order-0 entropy of a band in bits.
fn entropy_bits(band: &[u8]) -> f64 {
    let n = band.len() as f64;
    histogram(band)
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -f64::from(c) * p.log2()
        })
        .sum()
}

/// Symbols with a two-sided geometric distribution around 128 (`decay` in (0, 1)), the shape of
/// quantised wavelet coefficients.
fn laplacian(n: usize, decay: f64, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut k = 0i32;
            while k < 127 && rng.random_bool(decay) {
                k += 1;
            }
            let v = if rng.random_bool(0.5) {
                128 + k
            } else {
                128 - k
            };
            v.clamp(0, 255) as u8
        })
        .collect()
}

/// A band of `n` symbols drawn from one of the stream kinds the coder must handle.
fn band(kind: u8, n: usize, seed: u64) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    match kind % 6 {
        0 => vec![],                                               // empty
        1 => vec![rng.random()],                                   // one symbol
        2 => vec![rng.random(); n],                                // one distinct value
        3 => (0..n.max(256)).map(|i| (i % 256) as u8).collect(),   // all 256 values
        4 => laplacian(n, 0.05 + 0.9 * rng.random::<f64>(), seed), // skewed, any degree
        _ => (0..n).map(|_| rng.random()).collect(),               // uniform
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_mix_of_bands_round_trips_exactly(
        kinds in prop::collection::vec((0u8..6, 0usize..3000, any::<u64>()), 0..12),
    ) {
        let bands: Vec<Vec<u8>> = kinds.iter().map(|&(k, n, s)| band(k, n, s)).collect();
        round_trip(&bands);
    }

    #[test]
    fn arbitrary_bytes_round_trip_exactly(
        bands in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..500), 0..6),
    ) {
        round_trip(&bands);
    }
}

/// Encodes with explicit-table models only and checks the round trip.
fn round_trip_explicit(bands: &[Vec<u8>]) -> Encoded {
    let refs: Vec<&[u8]> = bands.iter().map(Vec::as_slice).collect();
    let models: Vec<Option<BandModel>> = bands
        .iter()
        .map(|b| BandModel::explicit_from_histogram(&histogram(b)))
        .collect();
    let enc = encode_with_models(&refs, &models).unwrap();
    let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
    let mut out = vec![0u8; lens.iter().sum()];
    decode_bands(&enc.tables, &enc.payload, &lens, &mut out).expect("decodes");
    assert_eq!(out, bands.concat());
    enc
}

/// For streams of at least 10k symbols:
/// - with explicit per-band tables the payload is within 1% of the empirical order-0 entropy of
///   each band, plus the fixed cost of flushing the `LANES` 32-bit states once per stream; table
///   bytes are reported separately;
/// - the default model choice (explicit or geometric per band, whichever is cheaper in total)
///   never makes payload + tables larger than explicit tables do.
#[test]
fn payload_is_within_one_percent_of_band_entropy() {
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("uniform 256", vec![band(5, 50_000, 1)]),
        ("all 256 values", vec![band(3, 20_000, 2)]),
        ("laplacian mild", vec![laplacian(30_000, 0.8, 3)]),
        ("laplacian steep", vec![laplacian(30_000, 0.2, 4)]),
        ("heavily skewed", vec![laplacian(100_000, 0.02, 5)]),
        (
            "40 latent-like bands",
            (0..40)
                .map(|i| laplacian(250 << (i % 4), 0.1 + 0.02 * i as f64, 6 + i as u64))
                .collect(),
        ),
        (
            "mixed bands",
            vec![band(5, 12_000, 7), laplacian(8_000, 0.5, 8), vec![9; 5_000]],
        ),
    ];
    println!(
        "{:<22} {:>8} {:>10} | {:>9} {:>7} {:>7} | {:>9} {:>7} {:>7}",
        "stream",
        "symbols",
        "entropy B",
        "explicit",
        "over %",
        "table",
        "default",
        "over %",
        "table"
    );
    for (name, bands) in cases {
        let n: usize = bands.iter().map(Vec::len).sum();
        assert!(n >= 10_000);
        let h_bytes: f64 = bands.iter().map(|b| entropy_bits(b)).sum::<f64>() / 8.0;
        let flush = (LANES * 4) as f64;
        let over = |payload: usize| {
            if h_bytes > 0.0 {
                100.0 * (payload as f64 - flush - h_bytes) / h_bytes
            } else {
                0.0
            }
        };
        let explicit = round_trip_explicit(&bands);
        let default = round_trip(&bands);
        println!(
            "{name:<22} {n:>8} {h_bytes:>10.1} | {:>9} {:>7.3} {:>7} | {:>9} {:>7.3} {:>7}",
            explicit.payload.len(),
            over(explicit.payload.len()),
            explicit.tables.len(),
            default.payload.len(),
            over(default.payload.len()),
            default.tables.len(),
        );
        assert!(
            explicit.payload.len() as f64 <= 1.01 * h_bytes + flush,
            "{name}: payload {} B vs entropy {h_bytes:.1} B",
            explicit.payload.len()
        );
        assert!(
            default.payload.len() + default.tables.len()
                <= explicit.payload.len() + explicit.tables.len(),
            "{name}: the default model choice is larger than explicit tables"
        );
    }
}

#[test]
fn corrupt_payloads_are_errors_not_panics() {
    let bands = vec![laplacian(5_000, 0.6, 11), band(5, 3_000, 12)];
    let enc = round_trip(&bands);
    let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
    let mut out = vec![0u8; lens.iter().sum()];
    let mut rng = StdRng::seed_from_u64(13);
    for _ in 0..500 {
        let mut p = enc.payload.clone();
        let i = rng.random_range(0..p.len());
        p[i] ^= 1 << rng.random_range(0..8);
        // Must return, Ok or Err, never panic or read out of bounds. rANS resynchronises after a
        // flipped word, so most flips decode to wrong symbols without an error: integrity is the
        // container's CRC32C (tests/bitstream.rs), not the coder's.
        let _ = decode_bands(&enc.tables, &p, &lens, &mut out);
    }
    for cut in 0..enc.payload.len() {
        assert!(decode_bands(&enc.tables, &enc.payload[..cut], &lens, &mut out).is_err());
    }
    for cut in 0..enc.tables.len() {
        assert!(decode_bands(&enc.tables[..cut], &enc.payload, &lens, &mut out).is_err());
    }
}

/// Models that do not describe their bands are errors naming the band and symbol, whatever the
/// kind of model and wherever the band sits (bands are coded last to first, so a symbol that an
/// earlier-coded band's model covers must not slip through a later one's).
#[test]
fn models_that_miss_symbols_are_errors() {
    let wide: Vec<u8> = (0..400).map(|i| (i % 9) as u8 + 10).collect();
    let narrow: Vec<u8> = (0..300).map(|i| (i % 3) as u8 + 10).collect();
    let model = |b: &[u8]| BandModel::from_histogram(&histogram(b));
    let err = |bands: &[&[u8]], models: &[Option<BandModel>]| {
        encode_with_models(bands, models)
            .expect_err("models that miss symbols must not encode")
            .to_string()
    };
    // Band 0 holds 13..=18, which its model (from `narrow`) lacks; band 1's model has them.
    let e = err(&[&wide, &wide], &[model(&narrow), model(&wide)]);
    assert!(e.contains("band 0") && e.contains("symbol 13"), "{e}");
    // A symbol outside the model's range, in the last band.
    let mut high = narrow.clone();
    high[123] = 200;
    let e = err(&[&narrow, &high], &[model(&narrow), model(&narrow)]);
    assert!(e.contains("band 1") && e.contains("symbol 200"), "{e}");
    // A constant model for a band that is not constant, and no model for a band with symbols.
    let e = err(
        &[&wide, &narrow],
        &[model(&wide), Some(BandModel::constant(10))],
    );
    assert!(e.contains("band 1") && e.contains("symbol 11"), "{e}");
    let e = err(&[&narrow], &[None]);
    assert!(e.contains("band 0"), "{e}");
    // As many models as bands.
    assert!(encode_with_models(&[&narrow], &[]).is_err());
    // And the same models on the bands they describe encode.
    assert!(encode_with_models(&[&wide, &narrow], &[model(&wide), model(&narrow)]).is_ok());
}

/// Every model the encoder makes is a valid table for its band: frequencies summing to
/// `2^precision`, every symbol of the band with a nonzero one; a constant band gets a constant
/// model.
#[test]
fn models_are_tables_for_their_bands() {
    for kind in 1..6 {
        for (n, seed) in [(1, 1), (24, 2), (384, 3), (5000, 4)] {
            let b = band(kind, n, seed);
            let hist = histogram(&b);
            for model in [
                BandModel::from_histogram(&hist).unwrap(),
                BandModel::explicit_from_histogram(&hist).unwrap(),
            ] {
                assert!(b.iter().all(|&s| model.frequency(s) > 0), "{kind} {n}");
                let sum: u32 = (0..=255).map(|s| model.frequency(s)).sum();
                match model.precision() {
                    Some(p) => {
                        assert_eq!(sum, 1 << p, "{kind} {n}");
                        assert!(model.shape().is_some());
                    }
                    None => {
                        assert!(b.iter().all(|&s| s == b[0]));
                        assert_eq!(model, BandModel::constant(b[0]));
                    }
                }
            }
        }
    }
}

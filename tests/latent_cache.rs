//! Latent caches: latent arrays coded as bare-latent streams and back (shape, type, error
//! within what was asked), the stream's record of the element type, and tar shards of streams
//! (round trip, random access, appending, a damaged member named without hiding the others).

mod common;

use vaerans::bitstream::EntropyCoding;
use vaerans::latent::bare::{measure, Fidelity, LatentFileCodec};
use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
use vaerans::latent::shard::{ShardReader, ShardWriter};
use vaerans::prelude::*;

const DTYPES: [LatentDType; 3] = [LatentDType::F32, LatentDType::F16, LatentDType::Bf16];

/// A latent-like array of `shape`, its values representable in `dtype`.
fn array(shape: &[usize], dtype: LatentDType, seed: u64) -> LatentArray {
    let n: usize = shape.iter().product();
    let c = shape[shape.len() - 3];
    let (h, w) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    let per = common::smooth_latent(c, h, w, seed);
    let data = (0..n)
        .map(|i| dtype.round(per[i % per.len()] * 3.0 + (i / per.len()) as f32 * 0.25))
        .collect();
    LatentArray::new(data, shape.to_vec(), dtype).unwrap()
}

/// The shapes and types of the caches diffusion trainers keep (SD/SDXL 4 channels, SD3/FLUX.1
/// 16, FLUX.2 32, and a batch), through `.npy` and `.safetensors` files and streams: back with
/// their shape and type, and within the largest error asked for.
#[test]
fn latent_files_round_trip_through_streams_within_the_bound_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let shapes: [&[usize]; 4] = [
        &[4, 128, 128],
        &[16, 64, 64],
        &[32, 32, 48],
        &[2, 4, 64, 64],
    ];
    for shape in shapes {
        for dtype in DTYPES {
            let original = array(shape, dtype, 3);
            // A largest error of 1/200 of the values' spread (a stream's finest steps are
            // relative to its bands' ranges: symbols are 8-bit); bf16 keeps 8 bits of mantissa,
            // so rounding to it alone moves a value of 8 by 1/32.
            let (lo, hi) = original
                .data()
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
            let bound = (hi - lo) / 200.0 * if dtype == LatentDType::Bf16 { 2.0 } else { 1.0 };
            let codec = LatentFileCodec::new(Fidelity::MaxError(bound))
                .with_model(Some("sdxl-vae"))
                .unwrap();
            let format = if dtype == LatentDType::Bf16 {
                LatentFormat::Safetensors
            } else {
                LatentFormat::Npy
            };
            let path = dir.path().join(format!("in.{}", format.extension()));
            original.write(&path).unwrap();
            let read = LatentArray::read(&path, &Limits::default()).unwrap();
            let coded = codec
                .encode_array(&read)
                .unwrap_or_else(|e| panic!("{shape:?} {dtype:?}: {e}"));
            assert_eq!(coded.len(), read.count());
            let streams: Vec<AnsBitstream> = coded
                .iter()
                .map(|c| codec.parse(c.stream.as_bytes().to_vec()).unwrap())
                .collect();
            for (c, s) in coded.iter().zip(&streams) {
                let h = s.header();
                assert_eq!(h.latent_dtype, Some(dtype));
                assert_eq!(h.source.model.name, "sdxl-vae");
                assert!(h.is_bare_latent());
                assert!(c.max_error <= bound, "{shape:?} {dtype:?}: {}", c.max_error);
            }
            // The lowest quality that meets the bound: the one below does not.
            let q = coded[0].quality;
            if q > 1 {
                let lower = LatentFileCodec::new(Fidelity::Quality(q - 1));
                let one = read.latent(0).unwrap();
                let l = lower.encode(one, read.latent_shape(), dtype).unwrap();
                assert!(l.max_error > bound, "{shape:?} {dtype:?} q{q}");
            }
            let back = if read.is_batch() {
                codec.decode_all(&streams).unwrap()
            } else {
                codec.decode(&streams[0]).unwrap()
            };
            assert_eq!(back.shape(), read.shape(), "{dtype:?}");
            assert_eq!(back.dtype(), dtype);
            // Measured on what a decoder returns, rounded to the type: the promise holds.
            let (max, snr) = measure(read.data(), back.data());
            assert!(max <= bound, "{shape:?} {dtype:?}: {max}");
            assert!(snr > 20.0, "{shape:?} {dtype:?}: {snr} dB");
            assert!(back.data().iter().all(|&v| dtype.round(v) == v));
            // And the decoded array writes as a file of the same type and shape.
            let out = dir.path().join(format!("out.{}", format.extension()));
            back.write(&out).unwrap();
            let again = LatentArray::read(&out, &Limits::default()).unwrap();
            assert_eq!(again, back);
        }
    }
}

/// Quality and SNR targets, and what cannot be met: a clear error.
#[test]
fn fidelity_targets_are_met_or_refused_clearly() {
    let latent = array(&[4, 32, 32], LatentDType::F32, 5);
    let one = latent.latent(0).unwrap();
    let shape = latent.latent_shape();
    let mut last = (0usize, f64::NEG_INFINITY);
    for q in [20, 50, 80, 100] {
        let c = LatentFileCodec::new(Fidelity::Quality(q))
            .encode(one, shape, LatentDType::F32)
            .unwrap();
        assert_eq!(c.quality, q);
        // Higher quality: more bytes, higher SNR.
        assert!(c.stream.len() > last.0 && c.snr_db > last.1, "q{q}");
        last = (c.stream.len(), c.snr_db);
    }
    let c = LatentFileCodec::new(Fidelity::SnrDb(30.0))
        .encode(one, shape, LatentDType::F32)
        .unwrap();
    assert!(c.snr_db >= 30.0, "{}", c.snr_db);
    let err = LatentFileCodec::new(Fidelity::MaxError(1e-9))
        .encode(one, shape, LatentDType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("out of reach"), "{err}");
    for bad in [Fidelity::MaxError(f32::NAN), Fidelity::MaxError(-1.0)] {
        assert!(LatentFileCodec::new(bad)
            .encode(one, shape, LatentDType::F32)
            .is_err());
    }
    // Not a multiple of 4 channels, and a non-finite value: errors that say so.
    let msg = LatentFileCodec::new(Fidelity::Quality(50))
        .encode(&vec![0.0; 6 * 4 * 4], [6, 4, 4], LatentDType::F32)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("multiple of 4"), "{msg}");
    let mut nan = one.to_vec();
    nan[7] = f32::NAN;
    assert!(LatentFileCodec::new(Fidelity::Quality(50))
        .encode(&nan, shape, LatentDType::F32)
        .is_err());
}

/// The element type is a record of minor version 1: a stream without one is byte for byte
/// what earlier versions wrote (minor 0), and the record changes nothing else.
#[test]
fn the_element_type_is_recorded_after_the_tables() {
    let latent = array(&[4, 16, 16], LatentDType::F16, 2);
    for entropy in [EntropyCoding::Tables, EntropyCoding::Adaptive] {
        let chain = LatentCodec::new(70).unwrap().with_entropy(Some(entropy));
        let codec = LatentFileCodec::new(Fidelity::Quality(70)).with_chain(chain);
        let typed = codec.encode_array(&latent).unwrap().remove(0).stream;
        assert_eq!(typed.as_bytes()[5], 1, "minor version");
        let plain = typed.clone().with_latent_dtype(None).unwrap();
        assert_eq!(plain.as_bytes()[5], 0);
        assert_eq!(plain.header().latent_dtype, None);
        // Three bytes of record (tag, length, type) and nothing else differ.
        assert_eq!(typed.len(), plain.len() + 3);
        let limits = Limits::default();
        let reparsed = AnsBitstream::parse(typed.as_bytes().to_vec(), &limits).unwrap();
        assert_eq!(reparsed.header().latent_dtype, Some(LatentDType::F16));
        assert_eq!(reparsed.header().version_minor, 1);
        assert_eq!(reparsed.as_bytes(), typed.as_bytes());
        let typed_values = codec.decode(&reparsed).unwrap();
        let plain_values = codec.decode(&plain).unwrap();
        assert_eq!(typed_values.dtype(), LatentDType::F16);
        let rounded: Vec<f32> = plain_values
            .data()
            .iter()
            .map(|&v| LatentDType::F16.round(v))
            .collect();
        assert_eq!(typed_values.data(), &rounded[..]);
        // An untyped stream decodes to f32.
        assert_eq!(codec.decode(&plain).unwrap().dtype(), LatentDType::F32);
    }
}

/// A stream of `key`'s latent, small and quick.
fn small_stream(codec: &LatentFileCodec, seed: u64) -> Vec<u8> {
    let a = array(&[4, 8, 8], LatentDType::F16, seed);
    codec
        .encode_array(&a)
        .unwrap()
        .remove(0)
        .stream
        .into_bytes()
}

/// A shard of 1000 latents round-trips; with one member damaged, the other 999 still decode
/// and the damaged one is named by its key.
#[test]
fn a_shard_of_1000_latents_round_trips_and_names_a_damaged_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latents-000000.tar");
    let codec = LatentFileCodec::new(Fidelity::Quality(80));
    let streams: Vec<Vec<u8>> = (0..1000).map(|i| small_stream(&codec, i)).collect();
    let mut w = ShardWriter::create(&path).unwrap();
    for (i, s) in streams.iter().enumerate() {
        w.append(&format!("sample_{i:04}"), s).unwrap();
    }
    assert_eq!(w.members(), 1000);
    w.finish().unwrap();

    let limits = Limits::default();
    let mut r = ShardReader::open(&path, &limits).unwrap();
    assert_eq!(r.members().len(), 1000);
    // Random access by key, in any order.
    for i in [999, 0, 512] {
        assert_eq!(r.read(&format!("sample_{i:04}")).unwrap(), streams[i]);
    }
    assert!(r.read("sample_1000").is_err());
    assert!(r.verify().iter().all(|(_, r)| r.is_ok()));
    let originals: Vec<LatentArray> = (0..1000)
        .map(|i| {
            codec
                .decode(&r.stream(&format!("sample_{i:04}")).unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(originals[3].dtype(), LatentDType::F16);

    // Damage one byte of member 417's stream.
    let bad = &r.members()[417];
    let at = (bad.offset + bad.len / 2) as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let mut r = ShardReader::open(&path, &limits).unwrap();
    let results = r.verify();
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(k, _)| k)
        .collect();
    assert_eq!(failed, ["sample_0417"]);
    let msg = r.stream("sample_0417").unwrap_err().to_string();
    assert!(
        msg.contains("sample_0417") && msg.contains("latents-000000.tar"),
        "{msg}"
    );
    let mut good = 0;
    for i in (0..1000).filter(|&i| i != 417) {
        let s = r.stream(&format!("sample_{i:04}")).unwrap();
        assert_eq!(codec.decode(&s).unwrap(), originals[i]);
        good += 1;
    }
    assert_eq!(good, 999);
}

/// Shards are plain tar: members `KEY.vaer` in order, readable by `tar`-reading tools (here
/// the `tar` crate's reader); the same streams make the same bytes; appending adds members.
#[test]
fn shards_are_plain_deterministic_tar_and_take_appends() {
    let dir = tempfile::tempdir().unwrap();
    let codec = LatentFileCodec::new(Fidelity::Quality(60));
    let streams: Vec<Vec<u8>> = (0..5).map(|i| small_stream(&codec, i)).collect();
    let write = |name: &str, range: std::ops::Range<usize>| {
        let path = dir.path().join(name);
        let mut w = ShardWriter::create(&path).unwrap();
        for i in range {
            w.append(&format!("k{i}"), &streams[i]).unwrap();
        }
        w.finish().unwrap();
        path
    };
    let a = write("a.tar", 0..5);
    let b = write("b.tar", 0..5);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

    let mut archive = tar::Archive::new(std::fs::File::open(&a).unwrap());
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["k0.vaer", "k1.vaer", "k2.vaer", "k3.vaer", "k4.vaer"]
    );

    // Two members, then three appended: the same shard as five written at once.
    let c = write("c.tar", 0..2);
    let mut w = ShardWriter::append_to(&c, &Limits::default()).unwrap();
    assert_eq!(w.members(), 2);
    for (i, s) in streams.iter().enumerate().skip(2) {
        w.append(&format!("k{i}"), s).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(std::fs::read(&c).unwrap(), std::fs::read(&a).unwrap());

    // Keys a WebDataset sample name cannot be, and a key written twice.
    let mut w = ShardWriter::create(&dir.path().join("d.tar")).unwrap();
    for key in ["", "a.b", "/abs", "x//y", &"k".repeat(96)] {
        assert!(w.append(key, &streams[0]).is_err(), "{key:?}");
    }
    w.append("same", &streams[0]).unwrap();
    let msg = w.append("same", &streams[1]).unwrap_err().to_string();
    assert!(msg.contains("already"), "{msg}");
    w.finish().unwrap();
    // A shard another tool wrote with a key twice is refused when read.
    let twice = dir.path().join("twice.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&twice).unwrap());
    for s in &streams[..2] {
        let mut h = tar::Header::new_ustar();
        h.set_size(s.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, "same.vaer", &s[..]).unwrap();
    }
    b.finish().unwrap();
    drop(b);
    let msg = ShardReader::open(&twice, &Limits::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("twice"), "{msg}");
    // A truncated shard and a member over the limits: errors, not panics.
    let bytes = std::fs::read(&a).unwrap();
    let cut = dir.path().join("cut.tar");
    for n in [100, 512, 700, bytes.len() / 2] {
        std::fs::write(&cut, &bytes[..n]).unwrap();
        if let Ok(mut r) = ShardReader::open(&cut, &Limits::default()) {
            let keys: Vec<String> = r.keys().map(str::to_owned).collect();
            for k in keys {
                let _ = r.stream(&k);
            }
        }
    }
    let tight = Limits::default().with_max_alloc(16);
    assert!(matches!(
        ShardReader::open(&a, &tight),
        Err(Error::LimitExceeded(_))
    ));
}

/// A shard another tool wrote (Python's `tarfile`, ustar, with a `KEY.json` member beside the
/// streams, as WebDataset samples have), read from memory: its streams by key, the other
/// member skipped.
#[test]
fn shards_from_other_tools_read_from_memory() {
    let bytes = include_bytes!("data/shard_python_tarfile.tar");
    let mut r = ShardReader::from_reader(
        std::io::Cursor::new(&bytes[..]),
        std::path::Path::new("python.tar"),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(r.keys().collect::<Vec<_>>(), ["a", "b"]);
    // The format 3 golden stream as it was when the fixture was written.
    let a = AnsBitstream::parse(r.read("a").unwrap(), &Limits::default()).unwrap();
    assert_eq!(a.header().latent_shape(), [4, 8, 6]);
    let b = r.stream("b").unwrap();
    assert_eq!(b.header().latent_dtype, Some(LatentDType::F16));
    assert!(r.verify().iter().all(|(_, r)| r.is_ok()));
}

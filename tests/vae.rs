//! The VAE through real ONNX Runtime sessions, on the tiny linear test model
//! (`tests/models`, made by `scripts/make_test_model.py`) whose outputs are known exactly:
//! decode(encode(x)) projects every 8×8 block onto four fixed, orthonormal patterns.

mod common;

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use rand::{rngs::StdRng, Rng, SeedableRng};
use vaerans::prelude::*;
use vaerans::vae::{self, ModelFile};
use vaerans::{Alpha, Remedy};

use common::max_abs;

fn tiny_spec() -> ModelSpec {
    ModelSpec::from_path(Path::new("tests/models/tiny_encoder.onnx")).unwrap()
}

/// A CPU codec around an opened model, coding the latent alone at `quality` (no residual
/// layer: these tests are about the VAE and the latent).
fn codec_of(vae: Arc<Vae>, quality: u8) -> Codec {
    Codec::builder()
        .vae(vae)
        .quality(quality)
        .residual(None)
        .device(Device::Cpu)
        .build()
        .unwrap()
}

fn tiny() -> Arc<Vae> {
    Arc::new(
        Vae::open(&tiny_spec(), ExecutionProvider::Cpu)
            .expect("ONNX Runtime and the test model load"),
    )
}

/// The projection matrix of the test model, rows over an 8×8×3 block in SpaceToDepth order
/// (channel index = (by·8 + bx)·3 + c); the same definition as the script's.
fn projection() -> Vec<[f64; 192]> {
    let mut p = vec![[0f64; 192]; 4];
    for by in 0..8 {
        for bx in 0..8 {
            let base = (by * 8 + bx) * 3;
            let side = if bx < 4 { 1.0 } else { -1.0 };
            for (k, v) in [
                [1.0, 1.0, 1.0],
                [1.0, -1.0, 0.0],
                [1.0, 1.0, -2.0],
                [side; 3],
            ]
            .iter()
            .enumerate()
            {
                p[k][base..base + 3].copy_from_slice(v);
            }
        }
    }
    for row in &mut p {
        let n = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= n);
    }
    p
}

/// Expected latent `[4, H/8, W/8]` of a planar `[3, H, W]` image.
fn expected_latent(x: &[f32], h: usize, w: usize) -> Vec<f32> {
    let p = projection();
    let (lh, lw) = (h / 8, w / 8);
    let mut z = vec![0f32; 4 * lh * lw];
    for ly in 0..lh {
        for lx in 0..lw {
            for (k, row) in p.iter().enumerate() {
                let mut acc = 0f64;
                for by in 0..8 {
                    for bx in 0..8 {
                        for c in 0..3 {
                            let v = x[c * h * w + (ly * 8 + by) * w + lx * 8 + bx];
                            acc += row[(by * 8 + bx) * 3 + c] * f64::from(v);
                        }
                    }
                }
                z[k * lh * lw + ly * lw + lx] = acc as f32;
            }
        }
    }
    z
}

/// Expected decoder output `[3, 8h, 8w]` of a latent `[4, h, w]`.
fn expected_image(z: &[f32], lh: usize, lw: usize) -> Vec<f32> {
    let p = projection();
    let (h, w) = (lh * 8, lw * 8);
    let mut x = vec![0f32; 3 * h * w];
    for ly in 0..lh {
        for lx in 0..lw {
            for by in 0..8 {
                for bx in 0..8 {
                    for c in 0..3 {
                        let v: f64 = (0..4)
                            .map(|k| {
                                p[k][(by * 8 + bx) * 3 + c]
                                    * f64::from(z[k * lh * lw + ly * lw + lx])
                            })
                            .sum();
                        x[c * h * w + (ly * 8 + by) * w + lx * 8 + bx] = v as f32;
                    }
                }
            }
        }
    }
    x
}

fn random_image(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut rng = StdRng::seed_from_u64(seed);
    RgbImage::from_fn(w, h, |x, y| {
        // Smooth structure plus noise, like a photo.
        let base = 128.0 + 80.0 * ((x as f32 / 9.0).sin() * (y as f32 / 7.0).cos());
        image::Rgb([0, 1, 2].map(|c| {
            (base + rng.random_range(-20.0..20.0) + 10.0 * c as f32).clamp(0.0, 255.0) as u8
        }))
    })
}

#[test]
fn sessions_compute_the_known_linear_model() {
    let vae = tiny();
    assert_eq!(vae.latent_channels(), 4);
    assert_eq!(vae.downsample(), 8);
    assert_eq!(vae.provider(), ExecutionProvider::Cpu);
    let (n, h, w) = (3, 24, 40);
    let mut rng = StdRng::seed_from_u64(1);
    let x: Vec<f32> = (0..n * 3 * h * w)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let z = vae.encode_nchw(&x, n, h, w).unwrap();
    assert_eq!(z.len(), n * 4 * (h / 8) * (w / 8));
    for i in 0..n {
        let want = expected_latent(&x[i * 3 * h * w..][..3 * h * w], h, w);
        let got = &z[i * want.len()..][..want.len()];
        assert!(
            max_abs(got, &want) < 1e-5,
            "image {i}: {}",
            max_abs(got, &want)
        );
    }
    let y = vae.decode_nchw(&z, n, h / 8, w / 8).unwrap();
    for i in 0..n {
        let zi = &z[i * 4 * (h / 8) * (w / 8)..][..4 * (h / 8) * (w / 8)];
        let want = expected_image(zi, h / 8, w / 8);
        assert!(max_abs(&y[i * 3 * h * w..][..3 * h * w], &want) < 1e-5);
    }
    // The projection is idempotent: encoding the decoded image gives the latent back.
    let z2 = vae.encode_nchw(&y, n, h, w).unwrap();
    assert!(max_abs(&z, &z2) < 1e-5);
}

#[test]
fn moments_encoders_use_the_mean() {
    let mut spec = tiny_spec();
    spec.encoder = ModelFile::Path("tests/models/tiny_moments_encoder.onnx".into());
    let moments = Vae::open(&spec, ExecutionProvider::Cpu).unwrap();
    let plain = tiny();
    let mut rng = StdRng::seed_from_u64(2);
    let x: Vec<f32> = (0..2 * 3 * 16 * 16)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let a = moments.encode_nchw(&x, 2, 16, 16).unwrap();
    let b = plain.encode_nchw(&x, 2, 16, 16).unwrap();
    assert_eq!(a.len(), b.len());
    assert!(max_abs(&a, &b) < 1e-6);
}

#[test]
fn systems_pad_batch_by_shape_and_crop_back() {
    let vae = tiny();
    let mut world = World::new();
    // Three shapes; two share a padded size (13×7 and 16×8 → 16×8), one 1×1.
    let images = [
        random_image(13, 7, 3),
        random_image(16, 8, 4),
        random_image(1, 1, 5),
        random_image(33, 17, 6),
    ];
    let es = encode_decode_in(&mut world, &vae, &images);
    for (e, img) in es.iter().zip(&images) {
        let info = world.get::<SourceInfo>(*e).unwrap().clone();
        assert_eq!((info.width, info.height), img.dimensions());
        assert_eq!(info.padded_width % 8, 0);
        assert_eq!(info.model, *vae.id());
        let (w, h) = (img.width() as usize, img.height() as usize);
        let (pw, ph) = (info.padded_width as usize, info.padded_height as usize);
        // Expected: pad by replication, project, crop, round.
        let mut planar = vec![0f32; 3 * pw * ph];
        vae::rgb_to_planar(img.as_raw(), w, h, pw, ph, [-1.0, 1.0], &mut planar);
        let z = expected_latent(&planar, ph, pw);
        let lat = world
            .arena()
            .to_vec::<f32>(&world.get::<Latent>(*e).unwrap().tensor)
            .unwrap();
        assert!(max_abs(&lat, &z) < 1e-5);
        let mut want = vec![0u8; w * h * 3];
        vae::planar_to_rgb(
            &expected_image(&z, ph / 8, pw / 8),
            pw,
            ph,
            w,
            h,
            [-1.0, 1.0],
            &mut want,
        );
        let recon = world.get::<ReconRgb>(*e).unwrap().tensor;
        assert_eq!(recon.shape(), &[h, w, 3]);
        let got = world.arena().view::<u8>(&recon).unwrap();
        // Float rounding may move a value across .5 only.
        let off = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert!(got.iter().zip(&want).all(|(a, b)| a.abs_diff(*b) <= 1));
        assert!(off * 1000 <= want.len(), "{off} of {} differ", want.len());
    }
}

#[test]
fn codec_round_trips_and_reports_per_image_failures() {
    let codec = codec_of(tiny(), 90);
    let good = random_image(37, 21, 7);
    let stream = codec.compress(&good).unwrap();
    let back = codec.decompress(&stream).unwrap();
    assert_eq!(back.dimensions(), good.dimensions());

    // The codec's output is the VAE's own output up to quantisation: compare with the
    // unquantised projection.
    let vae = codec.vae();
    let (w, h) = (37usize, 21usize);
    let (pw, ph) = (40usize, 24usize);
    let mut planar = vec![0f32; 3 * pw * ph];
    vae::rgb_to_planar(good.as_raw(), w, h, pw, ph, [-1.0, 1.0], &mut planar);
    let z = vae.encode_nchw(&planar, 1, ph, pw).unwrap();
    let mut vae_only = vec![0u8; w * h * 3];
    vae::planar_to_rgb(
        &vae.decode_nchw(&z, 1, ph / 8, pw / 8).unwrap(),
        pw,
        ph,
        w,
        h,
        [-1.0, 1.0],
        &mut vae_only,
    );
    let mse: f64 = back
        .as_raw()
        .iter()
        .zip(&vae_only)
        .map(|(a, b)| (f64::from(*a) - f64::from(*b)).powi(2))
        .sum::<f64>()
        / vae_only.len() as f64;
    let psnr = 10.0 * (255f64 * 255.0 / mse.max(1e-12)).log10();
    assert!(
        psnr > 40.0,
        "codec vs VAE-only PSNR {psnr:.2} dB at quality 90"
    );

    // Batches: a bad raw image and a corrupt stream fail alone.
    let raw = good.as_raw();
    let results = codec.compress_raw(&[
        RawImage {
            data: raw,
            width: 37,
            height: 21,
        },
        RawImage {
            data: &raw[1..],
            width: 37,
            height: 21,
        },
        RawImage {
            data: &[],
            width: 0,
            height: 0,
        },
    ]);
    assert!(results[0].is_ok());
    assert!(results[1]
        .as_ref()
        .unwrap_err()
        .to_string()
        .contains("bytes"));
    assert!(results[2].is_err());
    let mut corrupt = stream.clone();
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x40;
    let out = codec.decompress_batch(&[stream.as_slice(), corrupt.as_slice(), b"nope".as_slice()]);
    assert_eq!(out[0].as_ref().unwrap().as_raw(), back.as_raw());
    assert!(out[1].is_err());
    assert!(matches!(
        out[2],
        Err(Error::Truncated { .. }) | Err(Error::BadMagic)
    ));
}

#[test]
fn batch_results_equal_single_results() {
    let codec = codec_of(tiny(), 60);
    let imgs: Vec<RgbImage> = (0..5)
        .map(|i| random_image(24 + i * 3, 16 + i, 10 + u64::from(i)))
        .collect();
    let batch = codec.compress_batch(&imgs);
    for (img, b) in imgs.iter().zip(&batch) {
        assert_eq!(b.as_ref().unwrap(), &codec.compress(img).unwrap());
    }
    let streams: Vec<Vec<u8>> = batch.into_iter().map(Result::unwrap).collect();
    let back = codec.decompress_batch(&streams);
    for (img, b) in imgs.iter().zip(back) {
        assert_eq!(b.unwrap().dimensions(), img.dimensions());
    }
}

/// The pipelined calls give the batch calls' bytes and images, one result per item in order,
/// whatever the lanes and batch sizes, and a failed load fails alone.
#[test]
fn pipelined_runs_equal_batch_calls_in_order() {
    let codec = codec_of(tiny(), 60);
    let images: Vec<RgbImage> = (0..11)
        .map(|i| random_image(20 + i * 5, 12 + i * 3, 40 + u64::from(i)))
        .collect();
    let want: Vec<Vec<u8>> = codec
        .compress_batch(&images)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let load = |&i: &usize| -> Result<RgbImage> {
        match i {
            4 => Err(Error::Image("item 4 is unreadable".into())),
            _ => Ok(images[i].clone()),
        }
    };
    for plan in [
        Pipeline::default(),
        Pipeline::default().with_lanes(3).with_batch(2),
        Pipeline::default().with_lanes(1).with_batch(16),
    ] {
        let mut got = Vec::new();
        let report = codec
            .compress_each(0..images.len(), load, plan, |batch| got.extend(batch))
            .unwrap();
        assert_eq!(report.items, images.len());
        assert_eq!(got.len(), images.len());
        for (k, (i, r)) in got.iter().enumerate() {
            assert_eq!(k, *i, "{plan:?}: out of order");
            match r {
                Ok(bytes) => assert_eq!(bytes, &want[*i], "{plan:?}: image {i}"),
                Err(e) => assert!(*i == 4 && e.to_string().contains("unreadable"), "{e}"),
            }
        }
        let mut streams: Vec<Vec<u8>> = want.clone();
        streams[7] = b"not a stream".to_vec();
        let load = |&i: &usize| -> Result<Vec<u8>> { Ok(streams[i].clone()) };
        let mut back = Vec::new();
        codec
            .decompress_each(0..streams.len(), load, plan, |batch| back.extend(batch))
            .unwrap();
        let direct = codec.decompress_batch(&streams);
        for ((k, (i, r)), d) in back.into_iter().enumerate().zip(direct) {
            assert_eq!(k, i);
            match (r, d) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{plan:?}: image {i}"),
                (Err(a), Err(b)) => {
                    assert_eq!(i, 7);
                    assert_eq!(a.to_string(), b.to_string());
                }
                (a, b) => panic!("image {i}: {:?} against {:?}", a.err(), b.err()),
            }
        }
    }
}

/// A reopened model (a pipeline lane's) has the same identity and results, opens each graph at
/// its first run, and refuses a decoder file that changed since the model was opened.
#[test]
fn a_reopened_model_opens_each_graph_when_first_run() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["tiny_encoder.onnx", "tiny_decoder.onnx"] {
        std::fs::copy(Path::new("tests/models").join(f), dir.path().join(f)).unwrap();
    }
    let spec = ModelSpec::from_path(&dir.path().join("tiny_encoder.onnx")).unwrap();
    let vae = Vae::open(&spec, ExecutionProvider::Cpu).unwrap();
    let copy = vae.reopen(&vae.options().clone().with_threads(1));
    assert_eq!(copy.id(), vae.id());
    assert_eq!(copy.latent_channels(), vae.latent_channels());
    let x: Vec<f32> = (0..3 * 16 * 24)
        .map(|i| (i % 17) as f32 / 17.0 - 0.5)
        .collect();
    let z = vae.encode_nchw(&x, 1, 16, 24).unwrap();
    assert_eq!(copy.encode_nchw(&x, 1, 16, 24).unwrap(), z);
    // The decoder file changes on disk: the copy's first decode refuses it.
    std::fs::write(dir.path().join("tiny_decoder.onnx"), b"not the same graph").unwrap();
    let err = copy.decode_nchw(&z, 1, 2, 3).unwrap_err().to_string();
    assert!(err.contains("changed since the model was opened"), "{err}");
    assert!(vae.decode_nchw(&z, 1, 2, 3).is_ok());
}

/// `Decoders::decompress_each` decodes each stream with the model it names, in order, like
/// `Decoders::decompress_parsed`; a stream naming a model no config knows is decoded by the
/// configured model with its decoder's hash.
#[test]
fn pipelined_decoders_route_each_stream_to_its_model() {
    let models = std::fs::canonicalize("tests/models").unwrap();
    let text = format!(
        "default = \"plain\"\n\
         [models.plain]\nencoder = \"{m}/tiny_encoder.onnx\"\ndecoder = \"{m}/tiny_decoder.onnx\"\n\
         [models.moments]\nencoder = \"{m}/tiny_moments_encoder.onnx\"\ndecoder = \"{m}/tiny_decoder.onnx\"\n",
        m = models.display()
    );
    let config = Config::parse(&text, &models).unwrap();
    let codec = |name: &str| {
        Codec::builder()
            .config(config.clone())
            .model(name)
            .execution_provider(ExecutionProvider::Cpu)
            .device(Device::Cpu)
            .build()
            .unwrap()
    };
    let (plain, moments) = (codec("plain"), codec("moments"));
    let mut streams: Vec<Vec<u8>> = (0..7)
        .map(|i| {
            let c = if i % 3 == 1 { &moments } else { &plain };
            c.compress(&random_image(16 + 8 * i, 24, 70 + u64::from(i)))
                .unwrap()
        })
        .collect();
    // The same graphs filed under a name no config knows.
    let mut spec = tiny_spec();
    spec.name = "nowhere".into();
    streams.push(
        codec_of(
            Arc::new(Vae::open(&spec, ExecutionProvider::Cpu).unwrap()),
            75,
        )
        .compress(&random_image(16, 16, 1))
        .unwrap(),
    );
    let builder = Codec::builder()
        .config(config.clone())
        .execution_provider(ExecutionProvider::Cpu)
        .device(Device::Cpu);
    let want = Decoders::new(builder.clone()).decompress_parsed(
        streams
            .iter()
            .map(|s| AnsBitstream::parse(s.clone(), &Limits::default()))
            .collect(),
    );
    let mut decoders = Decoders::new(builder);
    let mut got = Vec::new();
    let plan = Pipeline::default().with_lanes(2).with_batch(3);
    let load = |&i: &usize| -> Result<Vec<u8>> { Ok(streams[i].clone()) };
    decoders
        .decompress_each(0..streams.len(), load, plan, |b| got.extend(b))
        .unwrap();
    assert_eq!(got.len(), streams.len());
    for ((k, (i, r)), w) in got.into_iter().enumerate().zip(want) {
        assert_eq!(k, i);
        assert_eq!(r.unwrap(), w.unwrap(), "stream {i}");
    }
    // plain, moments, and `nowhere` (plain's files, found by hash).
    assert_eq!(decoders.codecs().count(), 3);
}

#[test]
fn decoding_with_another_model_names_both() {
    let tiny_codec = codec_of(tiny(), 75);
    let stream = tiny_codec.compress(&random_image(16, 16, 9)).unwrap();
    // The decoder file is the identity: the same graphs under another name decode the same.
    let mut spec = tiny_spec();
    spec.name = "renamed".into();
    let renamed = codec_of(
        Arc::new(Vae::open(&spec, ExecutionProvider::Cpu).unwrap()),
        75,
    );
    assert_eq!(
        renamed.decompress(&stream).unwrap(),
        tiny_codec.decompress(&stream).unwrap()
    );
    // Another decoder is another model.
    let other = codec_of(
        Arc::new(Vae::open(&ModelSpec::embedded_default(), ExecutionProvider::Cpu).unwrap()),
        75,
    );
    let err = other.decompress(&stream).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::ModelMismatch { .. }), "{msg}");
    assert!(
        msg.contains("`tiny_encoder`") && msg.contains("`vaerans-small-v1`"),
        "{msg}"
    );
}

/// A stream records the input range its encoder was fed; a decoder configured with another
/// range refuses it instead of decoding wrong colours.
#[test]
fn decoding_under_another_input_range_is_an_error_naming_both() {
    let stream = codec_of(tiny(), 75)
        .compress(&random_image(16, 16, 3))
        .unwrap();
    let mut spec = tiny_spec();
    spec.input_range = [0.0, 1.0];
    let other = codec_of(
        Arc::new(Vae::open(&spec, ExecutionProvider::Cpu).unwrap()),
        75,
    );
    let msg = other.decompress(&stream).unwrap_err().to_string();
    assert!(msg.contains("[-1, 1]") && msg.contains("[0, 1]"), "{msg}");
}

/// Calibration on the embedded model: the shipped calibration is what the default codec
/// allocates from, a fresh measurement (another image) agrees with it within a factor of two,
/// and a calibrated stream decodes on a codec that has no calibration (steps are in the stream).
#[test]
fn the_embedded_model_is_calibrated_and_its_streams_need_no_calibration_to_decode() {
    let vae = Arc::new(Vae::open(&ModelSpec::embedded_default(), ExecutionProvider::Cpu).unwrap());
    let shipped = vae::Calibration::embedded().unwrap();
    let codec = codec_of(vae.clone(), 40);
    assert_eq!(
        codec.latent().allocation(),
        &shipped.allocation(vae.downsample()).unwrap()
    );
    assert_eq!(codec.latent().transform(), shipped.transform().unwrap());
    let img = vaerans::open_image(Path::new("assets/coffee.png"), Alpha::Drop).unwrap();
    let options = vae::CalibrationOptions {
        images: 1,
        crop: 128,
        ..Default::default()
    };
    let fresh =
        vae::Calibration::measure(&vae, std::slice::from_ref(&img), &options, |_, _| {}).unwrap();
    assert_eq!(fresh.decoder_sha256, shipped.decoder_sha256);
    for (a, b) in fresh.channel_weights.iter().zip(&shipped.channel_weights) {
        assert!(a / b > 0.5 && a / b < 2.0, "{a} vs {b}");
    }
    assert_eq!(
        fresh.level_factors.len(),
        5,
        "a 16×16 latent: LL and 4 levels"
    );
    let uniform = Codec::builder()
        .vae(vae.clone())
        .quality(40)
        .device(Device::Cpu)
        .allocation(
            vaerans::latent::StepAllocation::uniform(),
            ChannelTransform::Hadamard4,
        )
        .build()
        .unwrap();
    let stream = codec.compress(&img).unwrap();
    assert_eq!(
        uniform.decompress(&stream).unwrap(),
        codec.decompress(&stream).unwrap()
    );
    // A calibration of another decoder is refused by name.
    let mut wrong = shipped.clone();
    wrong.decoder_sha256 = "00".repeat(32);
    let err = Codec::builder()
        .vae(vae)
        .calibration(wrong)
        .device(Device::Cpu)
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("another decoder"), "{err}");
}

#[test]
fn config_files_resolve_relative_paths_and_direct_paths_work() {
    let dir = tempfile::tempdir().unwrap();
    let models = std::fs::canonicalize("tests/models").unwrap();
    std::fs::write(
        dir.path().join("vaerans.toml"),
        "default = \"tiny\"\n[models.tiny]\nencoder = \"m/tiny_encoder.onnx\"\ndecoder = \"m/tiny_decoder.onnx\"\nlatent_channels = 4\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&models, dir.path().join("m")).unwrap();
    let cfg = Config::from_file(&dir.path().join("vaerans.toml")).unwrap();
    let spec = cfg.resolve(None).unwrap();
    assert_eq!(spec.name, "tiny");
    assert_eq!(
        spec.encoder,
        ModelFile::Path(dir.path().join("m/tiny_encoder.onnx"))
    );
    let vae = Vae::open(&spec, ExecutionProvider::Cpu).unwrap();
    // Same decoder file, so the same hash as opening it by path; the name differs.
    assert_eq!(vae.id().decoder_hash, tiny().id().decoder_hash);

    // A decoder path finds its encoder too.
    let by_decoder = cfg.resolve(Some("tests/models/tiny_decoder.onnx")).unwrap();
    assert_eq!(
        by_decoder.encoder,
        ModelFile::Path("tests/models/tiny_encoder.onnx".into())
    );
    let missing = cfg
        .resolve(Some("tests/models/none_encoder.onnx"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("not found"), "{missing}");
}

#[test]
fn wrong_latent_channels_is_a_clear_error() {
    let mut spec = tiny_spec();
    spec.latent_channels = Some(8);
    let err = Vae::open(&spec, ExecutionProvider::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("latent_channels = 8") && err.contains("4 channels"),
        "{err}"
    );
}

#[test]
fn cuda_request_without_cuda_is_an_error_with_a_reason() {
    let err = Vae::open(&tiny_spec(), ExecutionProvider::Cuda).unwrap_err();
    assert!(matches!(err, Error::ExecutionProvider(_)), "{err}");
    assert!(err.to_string().contains("CUDA"), "{err}");
}

#[test]
fn a_pixel_cap_splits_session_calls_and_keeps_the_results() {
    let whole = tiny();
    let split = Vae::open(&tiny_spec(), ExecutionProvider::Cpu)
        .unwrap()
        .with_max_pixels(3 * 16 * 16);
    let (n, h, w) = (8, 16, 16);
    let mut rng = StdRng::seed_from_u64(11);
    let x: Vec<f32> = (0..n * 3 * h * w)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let z = whole.encode_nchw(&x, n, h, w).unwrap();
    let z_split = split.encode_nchw(&x, n, h, w).unwrap();
    assert!(max_abs(&z, &z_split) <= 1e-6);
    let y = whole.decode_nchw(&z, n, h / 8, w / 8).unwrap();
    let y_split = split.decode_nchw(&z, n, h / 8, w / 8).unwrap();
    assert!(max_abs(&y, &y_split) <= 1e-6);
    // 8 images, at most 3 a call: 3 + 3 + 2, both ways.
    let stats = split.stats();
    assert_eq!((stats.encoder_calls, stats.encoder_images), (3, 8));
    assert_eq!((stats.decoder_calls, stats.decoder_images), (3, 8));
    assert_eq!(whole.stats().encoder_calls, 1);
}

#[test]
fn round_trips_keep_every_size_and_batches_mix_sizes() {
    let codec = codec_of(tiny(), 75);
    let sizes = [(8, 8), (17, 9), (451, 300), (768, 512), (512, 768)];
    let images: Vec<RgbImage> = sizes
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| random_image(w, h, 20 + i as u64))
        .collect();
    for img in &images {
        let back = codec.decompress(&codec.compress(img).unwrap()).unwrap();
        assert_eq!(back.dimensions(), img.dimensions());
    }
    // All sizes in one batch call each way: every image comes back at its own size.
    let streams: Vec<Vec<u8>> = codec
        .compress_batch(&images)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let back = codec.decompress_batch(&streams);
    for (img, b) in images.iter().zip(back) {
        assert_eq!(b.unwrap().dimensions(), img.dimensions());
    }
}

#[test]
fn sixteen_same_size_images_are_one_session_call() {
    let vae = tiny();
    assert_eq!(vae.max_batch(), 16);
    let codec = codec_of(vae.clone(), 75);
    let images: Vec<RgbImage> = (0..16).map(|i| random_image(64, 48, 100 + i)).collect();
    let before = vae.stats();
    let streams: Vec<Vec<u8>> = codec
        .compress_batch(&images)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mid = vae.stats();
    assert_eq!(mid.encoder_calls - before.encoder_calls, 1);
    assert_eq!(mid.encoder_images - before.encoder_images, 16);
    codec
        .decompress_batch(&streams)
        .into_iter()
        .for_each(|r| drop(r.unwrap()));
    let after = vae.stats();
    assert_eq!(after.decoder_calls - mid.decoder_calls, 1);
    assert_eq!(after.decoder_images - mid.decoder_images, 16);

    // A smaller bound splits the batch.
    let small = Arc::new(
        Vae::open(&tiny_spec(), ExecutionProvider::Cpu)
            .unwrap()
            .with_max_batch(5),
    );
    let codec = codec_of(small.clone(), 75);
    codec
        .compress_batch(&images)
        .into_iter()
        .for_each(|r| drop(r.unwrap()));
    assert_eq!(small.stats().encoder_calls, 4);
}

#[test]
fn missing_files_unknown_models_and_non_onnx_files_are_distinct_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("vaerans.toml");
    std::fs::write(
        &cfg_path,
        "[models.gone]\nencoder = \"gone_encoder.onnx\"\ndecoder = \"gone_decoder.onnx\"\n\
         [models.junk]\nencoder = \"junk_encoder.onnx\"\ndecoder = \"junk_decoder.onnx\"\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("junk_encoder.onnx"), b"this is not a model").unwrap();
    std::fs::write(dir.path().join("junk_decoder.onnx"), b"neither is this").unwrap();
    let cfg = Config::from_file(&cfg_path).unwrap();
    let open = |name: &str| {
        Codec::builder()
            .config(cfg.clone())
            .model(name)
            .execution_provider(ExecutionProvider::Cpu)
            .build()
    };

    let missing = open("gone").unwrap_err().to_string();
    assert!(
        missing.contains("`gone`")
            && missing.contains("not found")
            && missing.contains("gone_encoder.onnx"),
        "{missing}"
    );
    let unknown = open("absent").unwrap_err().to_string();
    assert!(
        unknown.contains("no model named `absent`") && unknown.contains("known:"),
        "{unknown}"
    );
    let junk = open("junk").unwrap_err().to_string();
    assert!(
        junk.contains("cannot load the encoder") && junk.contains("junk_encoder.onnx"),
        "{junk}"
    );
    assert_ne!(missing, unknown);
    assert_ne!(unknown, junk);
}

#[test]
fn codec_and_vae_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Codec>();
    assert_send_sync::<Vae>();
    // Two threads compress through one codec; results equal the single-threaded ones.
    let codec = codec_of(tiny(), 70);
    let imgs: Vec<RgbImage> = (0..2).map(|i| random_image(32, 16, 200 + i)).collect();
    let single: Vec<Vec<u8>> = imgs.iter().map(|i| codec.compress(i).unwrap()).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = imgs
            .iter()
            .map(|img| s.spawn(|| codec.compress(img).unwrap()))
            .collect();
        for (h, want) in handles.into_iter().zip(&single) {
            assert_eq!(&h.join().unwrap(), want);
        }
    });
}

/// The tiny model with tiles of `tile` pixels overlapping by `overlap`.
fn tiny_tiled(tile: usize, overlap: usize) -> Arc<Vae> {
    let mut spec = tiny_spec();
    spec.tile = tile;
    spec.tile_overlap = overlap;
    Arc::new(Vae::open(&spec, ExecutionProvider::Cpu).unwrap())
}

/// Spawns `images` in `world` and runs `vae`'s encoder, then its decoder, over them in one
/// batch; every entity must succeed. Returns the entities, in order.
fn encode_decode_in(world: &mut World, vae: &Arc<Vae>, images: &[RgbImage]) -> Vec<Entity> {
    let es: Vec<Entity> = images
        .iter()
        .map(|img| {
            let dims = [img.height() as usize, img.width() as usize, 3];
            let t = world
                .arena_mut()
                .alloc_from::<u8>(&dims, img.as_raw())
                .unwrap();
            world.spawn_with(Rgb { tensor: t })
        })
        .collect();
    let report = world
        .pipe_batch(&es)
        .to(VaeEncode::new(vae.clone()))
        .to(VaeDecode::new(vae.clone()))
        .execute()
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    es
}

/// Encodes then decodes `images` in one batch through `vae`'s systems; the latents and images.
fn vae_round_trip(vae: &Arc<Vae>, images: &[RgbImage]) -> Vec<(Vec<f32>, Vec<u8>)> {
    let mut world = World::new();
    let es = encode_decode_in(&mut world, vae, images);
    es.iter()
        .map(|e| {
            let lat = world.get::<Latent>(*e).unwrap().tensor;
            let rec = world.get::<ReconRgb>(*e).unwrap().tensor;
            (
                world.arena().to_vec::<f32>(&lat).unwrap(),
                world.arena().to_vec::<u8>(&rec).unwrap(),
            )
        })
        .collect()
}

#[test]
fn tiles_blend_to_the_whole_image_on_a_block_local_model() {
    // The test model maps each 8×8 block to one latent pixel and back, so every tile agrees
    // with the whole image wherever tiles overlap: blended tiles must equal the untiled run
    // exactly, which checks the tile offsets, the blend weights and the rows written out.
    let images = [
        random_image(203, 150, 40), // tiled both ways, ragged edges
        random_image(40, 300, 41),  // cut along the height only
        random_image(64, 64, 42),   // exactly one tile: not tiled
        random_image(17, 9, 43),    // small: not tiled
    ];
    let whole = vae_round_trip(&tiny(), &images);
    let vae = tiny_tiled(64, 16);
    let before = vae.stats();
    let tiled = vae_round_trip(&vae, &images);
    for (i, ((wl, wi), (tl, ti))) in whole.iter().zip(&tiled).enumerate() {
        assert!(
            max_abs(wl, tl) < 1e-4,
            "image {i}: latent differs by {}",
            max_abs(wl, tl)
        );
        let off = wi
            .iter()
            .zip(ti)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(off <= 1, "image {i}: pixels differ by {off}");
    }
    // 203×150 pads to 208×152, a 26×19 latent: tiles of 8 overlapping by at least 2 → 4×3;
    // 40×300 → 5×38 → 1×6; the two small images share one call each way.
    let stats = vae.stats();
    assert_eq!(stats.encoder_calls - before.encoder_calls, 12 + 6 + 2);
    assert_eq!(stats.decoder_calls - before.decoder_calls, 12 + 6 + 2);
}

#[test]
fn tiling_a_real_model_costs_little_quality() {
    // The embedded model sees across tile seams, so tiles differ where they overlap; the
    // blend must keep the loss small.
    let img = image::open("assets/coffee.png").unwrap().to_rgb8();
    let run = |spec: &ModelSpec| {
        let codec = Codec::builder()
            .model_spec(spec.clone())
            .device(Device::Cpu)
            .build()
            .unwrap();
        let back = codec.vae_round_trip(&img).unwrap();
        let m = vaerans::metrics::Metrics::of_rgb8(
            img.as_raw(),
            back.as_raw(),
            img.width(),
            img.height(),
        );
        (m.unwrap().psnr, back, codec.vae().stats().encoder_calls)
    };
    let whole = ModelSpec::embedded_default();
    let mut tiled = whole.clone();
    (tiled.tile, tiled.tile_overlap) = (256, 64);
    let ((a, whole_img, whole_calls), (b, tiled_img, tiled_calls)) = (run(&whole), run(&tiled));
    // 600×400 is a 75×50 latent: tiles of 32 overlapping by 8 or more, 3 × 2.
    assert_eq!((whole_calls, tiled_calls), (1, 6));
    let changed = whole_img
        .as_raw()
        .iter()
        .zip(tiled_img.as_raw())
        .filter(|(x, y)| x != y);
    eprintln!(
        "untiled {a:.4} dB, tiles of 256: {b:.4} dB, {} of {} values differ",
        changed.count(),
        img.as_raw().len()
    );
    assert!((a - b).abs() <= 0.1, "untiled {a:.3} dB, tiled {b:.3} dB");
}

/// `stream` re-sealed with its image declared as `w × h` (the padded size and the latent to
/// match, for a /8 model): a few bytes that claim a huge image.
fn declare_size(stream: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut s = stream.to_vec();
    let (pw, ph) = (w.div_ceil(8) * 8, h.div_ceil(8) * 8);
    // After the 14-byte prefix: width, height, padded width, padded height (u32 each),
    // channels (u16), latent height, latent width (u32 each).
    for (at, v) in [
        (14, w),
        (18, h),
        (22, pw),
        (26, ph),
        (32, ph / 8),
        (36, pw / 8),
    ] {
        s[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    let n = s.len() - 4;
    let crc = crc32c::crc32c(&s[..n]);
    s[n..].copy_from_slice(&crc.to_le_bytes());
    s
}

#[test]
fn a_small_stream_declaring_a_huge_image_is_refused_before_allocating() {
    // Format 2, whose fixed-width sizes `declare_size` rewrites in place; the budget is checked
    // on the parsed header, the same for every format.
    let codec = Codec::builder()
        .device(Device::Cpu)
        .entropy(Some(EntropyCoding::Tables))
        .residual(None)
        .build()
        .unwrap();
    let flat = RgbImage::from_pixel(64, 64, image::Rgb([120, 90, 200]));
    let stream = codec.compress(&flat).unwrap();
    let bomb = declare_size(&stream, 13376, 13376);
    assert!(bomb.len() < 400, "{} bytes", bomb.len());
    // Well-formed: only the budget refuses it.
    AnsBitstream::parse(bomb.clone(), &Limits::default()).unwrap();
    let err = codec.decompress(&bomb).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MemoryBudget { .. }), "{msg}");
    assert!(
        msg.contains("13376×13376") && msg.contains("budget of 1024 MiB"),
        "{msg}"
    );
    assert_eq!(err.remedy(), Some(Remedy::MemoryBudget));
    // In a batch it fails alone.
    let both = codec.decompress_batch(&[bomb.as_slice(), stream.as_slice()]);
    assert!(matches!(both[0], Err(Error::MemoryBudget { .. })));
    assert_eq!(both[1].as_ref().unwrap().dimensions(), (64, 64));
    // A budget below even the small image's needs refuses it too, both ways.
    let tight = Codec::builder()
        .device(Device::Cpu)
        .limits(Limits::default().with_max_memory(64 << 10))
        .build()
        .unwrap();
    assert!(matches!(
        tight.decompress(&stream),
        Err(Error::MemoryBudget { .. })
    ));
    assert!(matches!(
        tight.compress(&flat),
        Err(Error::MemoryBudget { .. })
    ));
}

#[test]
fn image_sizes_are_checked_against_the_budget_before_reading() {
    let codec = Codec::builder().device(Device::Cpu).build().unwrap();
    codec.check_image_size(8000, 6000).unwrap();
    let err = codec.check_image_size(12000, 12000).unwrap_err();
    assert!(matches!(err, Error::MemoryBudget { .. }), "{err}");
    assert!(matches!(
        codec.check_image_size(0, 5),
        Err(Error::InvalidInput(_))
    ));
    // A 4000×4000 grayscale PNG is a few kilobytes; a 32 MiB budget refuses it from its header.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gray.png");
    image::GrayImage::from_pixel(4000, 4000, image::Luma([7]))
        .save(&path)
        .unwrap();
    let tight = Codec::builder()
        .device(Device::Cpu)
        .limits(Limits::default().with_max_memory(32 << 20))
        .build()
        .unwrap();
    let err = tight.open_image(&path, Alpha::Error).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::MemoryBudget { .. }), "{msg}");
    assert!(
        msg.contains("gray.png") && msg.contains("4000×4000"),
        "{msg}"
    );
    assert_eq!(
        codec.open_image(&path, Alpha::Error).unwrap().dimensions(),
        (4000, 4000)
    );
}

#[test]
fn one_codec_shared_by_eight_threads_gives_the_serial_results() {
    // A server's use: many threads on one codec. Every stream and image must equal the
    // serial run's, whatever the interleaving.
    let codec = codec_of(tiny(), 75);
    let images: Vec<RgbImage> = (0..12)
        .map(|i| random_image(40 + 7 * i, 24 + 5 * (i % 4), 300 + u64::from(i)))
        .collect();
    let serial: Vec<(Vec<u8>, RgbImage)> = images
        .iter()
        .map(|img| {
            let s = codec.compress(img).unwrap();
            let back = codec.decompress(&s).unwrap();
            (s, back)
        })
        .collect();
    std::thread::scope(|scope| {
        for t in 0..8 {
            let (codec, images, serial) = (&codec, &images, &serial);
            scope.spawn(move || {
                for round in 0..3 {
                    for i in (0..images.len()).map(|i| (i + t + round) % images.len()) {
                        let s = codec.compress(&images[i]).unwrap();
                        assert_eq!(s, serial[i].0, "thread {t}: image {i}'s stream differs");
                        let back = codec.decompress(&s).unwrap();
                        assert_eq!(
                            back, serial[i].1,
                            "thread {t}: image {i} decodes differently"
                        );
                    }
                }
            });
        }
    });
}

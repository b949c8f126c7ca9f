//! The metrics against independent reference implementations: values computed once by
//! `scripts/metric_reference.py` (scikit-image 0.26 for PSNR and SSIM, pytorch-msssim 1.0 for
//! MS-SSIM) on the image pairs in `tests/data/metrics/`, pinned here.

use vaerans::metrics::{bd_rate, ms_ssim_rgb8, psnr_u8, ssim_rgb8, MeasureQuality, Metrics};
use vaerans::prelude::*;

// name, PSNR, SSIM, MS-SSIM: scripts/metric_reference.py
const PINNED: [(&str, f64, f64, f64); 3] = [
    ("noise", 30.45563983, 0.69655359, 0.95849594),
    ("blur", 30.02134381, 0.90498055, 0.98351505),
    ("posterise", 29.10454793, 0.78893505, 0.95151433),
];

fn load(name: &str) -> image::RgbImage {
    image::open(format!("tests/data/metrics/{name}.png"))
        .unwrap()
        .to_rgb8()
}

#[test]
fn metrics_match_the_reference_implementations() {
    let r = load("reference");
    let (w, h) = r.dimensions();
    for (name, psnr, ssim, ms) in PINNED {
        let d = load(name);
        let p = psnr_u8(r.as_raw(), d.as_raw()).unwrap();
        let s = ssim_rgb8(r.as_raw(), d.as_raw(), w, h).unwrap();
        let m = ms_ssim_rgb8(r.as_raw(), d.as_raw(), w, h).unwrap();
        eprintln!("{name}: PSNR {p:.8} SSIM {s:.8} MS-SSIM {m:.8}");
        assert!((p - psnr).abs() <= 1e-4, "{name} PSNR {p} vs {psnr}");
        assert!((s - ssim).abs() <= 1e-4, "{name} SSIM {s} vs {ssim}");
        assert!((m - ms).abs() <= 1e-3, "{name} MS-SSIM {m} vs {ms}");
    }
}

#[test]
fn identical_images_score_perfectly_and_bad_input_is_an_error() {
    let r = load("reference");
    let (w, h) = r.dimensions();
    assert!((ssim_rgb8(r.as_raw(), r.as_raw(), w, h).unwrap() - 1.0).abs() < 1e-12);
    assert!((ms_ssim_rgb8(r.as_raw(), r.as_raw(), w, h).unwrap() - 1.0).abs() < 1e-12);
    // A constant image against itself: no variance anywhere, still 1.
    let flat = vec![77u8; 12 * 12 * 3];
    assert!((ssim_rgb8(&flat, &flat, 12, 12).unwrap() - 1.0).abs() < 1e-12);
    assert!(ssim_rgb8(&flat, &flat[3..], 12, 12).is_err());
    assert!(ssim_rgb8(&flat[..300], &flat[..300], 10, 10).is_err());
    assert!(ms_ssim_rgb8(&flat, &flat, 12, 12).is_err());
    // Metrics leaves out what a size does not allow.
    let m = Metrics::of_rgb8(&flat, &flat, 12, 12).unwrap();
    assert_eq!((m.ssim.is_some(), m.ms_ssim.is_none()), (true, true));
}

#[test]
fn the_metrics_system_measures_a_batch() {
    let mut world = World::new();
    let r = load("reference");
    let (w, h) = r.dimensions();
    let mut es = Vec::new();
    for (name, psnr, ..) in PINNED {
        let d = load(name);
        let e = world.spawn();
        let shape = [h as usize, w as usize, 3];
        let a = world
            .arena_mut()
            .alloc_from::<u8>(&shape, r.as_raw())
            .unwrap();
        let b = world
            .arena_mut()
            .alloc_from::<u8>(&shape, d.as_raw())
            .unwrap();
        world.insert(e, Rgb { tensor: a }).unwrap();
        world.insert(e, ReconRgb { tensor: b }).unwrap();
        es.push((e, psnr));
    }
    let ents: Vec<Entity> = es.iter().map(|(e, _)| *e).collect();
    let out = world
        .pipe_batch(&ents)
        .to(MeasureQuality)
        .outs::<Metrics>()
        .unwrap();
    for (m, (_, psnr)) in out.into_iter().zip(&es) {
        let m = m.unwrap();
        assert!((m.psnr - psnr).abs() <= 1e-4);
        assert!(m.ms_ssim.is_some());
    }
}

#[test]
fn bd_rate_matches_the_reference_fit() {
    let pts = |r: &[f64], p: &[f64]| r.iter().copied().zip(p.iter().copied()).collect::<Vec<_>>();
    let a = pts(&[0.25, 0.5, 1.0, 2.0], &[26.0, 29.5, 33.0, 37.2]);
    let b = pts(&[0.2, 0.42, 0.85, 1.6], &[26.4, 29.9, 33.6, 37.5]);
    let c = pts(&[0.1, 0.2, 0.3, 0.45, 0.7], &[24.0, 26.5, 28.1, 29.8, 31.5]);
    // scripts/metric_reference.py (numpy polyfit/polyint)
    for (got, want) in [
        (bd_rate(&a, &b).unwrap(), -23.6181611837),
        (bd_rate(&a, &c).unwrap(), -18.7074135490),
        (bd_rate(&b, &a).unwrap(), 30.9211738676),
    ] {
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert!(bd_rate(&a, &a).unwrap().abs() < 1e-9);
    assert!(bd_rate(&a[..3], &b).is_err());
    let far = pts(&[1.0, 2.0, 3.0, 4.0], &[50.0, 51.0, 52.0, 53.0]);
    assert!(bd_rate(&a, &far).is_err());
}

#!/usr/bin/env python3
"""Reference values for vaerans' image metrics, from independent implementations.

Writes a few image pairs into tests/data/metrics/ (a crop of assets/coffee.png and three
distortions of it) and prints PSNR (scikit-image), SSIM (scikit-image, Gaussian window
sigma 1.5, population covariance: Wang et al. 2004) and MS-SSIM (pytorch-msssim: five
scales, weights 0.0448, 0.2856, 0.3001, 0.2363, 0.1333) for each pair, as the Rust table
pinned in tests/metrics.rs, and the Bjontegaard delta rate (numpy's cubic fit, as in VCEG-M33)
of three rate-PSNR curves.

    python3 -m venv /var/tmp/vaerans/metrics-venv
    /var/tmp/vaerans/metrics-venv/bin/pip install -r scripts/metric-reference-requirements.txt
    /var/tmp/vaerans/metrics-venv/bin/python scripts/metric_reference.py
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from pytorch_msssim import ms_ssim
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.filters import gaussian

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "metrics"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    src = np.asarray(Image.open(ROOT / "assets" / "coffee.png").convert("RGB"))
    # 192 x 176: above MS-SSIM's 161-pixel minimum, odd halvings included (176 -> 88 -> 44 -> 22 -> 11).
    ref = src[100:276, 150:342].copy()
    rng = np.random.default_rng(2026)
    noisy = np.clip(ref.astype(np.float64) + rng.normal(0.0, 8.0, ref.shape), 0, 255).round()
    blurred = gaussian(ref.astype(np.float64), sigma=1.2, channel_axis=2, preserve_range=True).round()
    posterised = (ref // 32) * 32 + 16
    pairs = {
        "noise": noisy.astype(np.uint8),
        "blur": blurred.astype(np.uint8),
        "posterise": posterised.astype(np.uint8),
    }
    Image.fromarray(ref).save(OUT / "reference.png")
    print("// name, PSNR, SSIM, MS-SSIM: scripts/metric_reference.py")
    print("const PINNED: [(&str, f64, f64, f64); 3] = [")
    for name, img in pairs.items():
        Image.fromarray(img).save(OUT / f"{name}.png")
        psnr = peak_signal_noise_ratio(ref, img, data_range=255)
        ssim = structural_similarity(
            ref, img, channel_axis=2, data_range=255,
            gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        )
        x = torch.from_numpy(ref.astype(np.float32)).permute(2, 0, 1)[None]
        y = torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]
        msssim = ms_ssim(x.double(), y.double(), data_range=255, size_average=True).item()
        print(f'    ("{name}", {psnr:.8f}, {ssim:.8f}, {msssim:.8f}),')
    print("];")


def bd_rate(rates_a, psnr_a, rates_b, psnr_b):
    """Bjontegaard delta rate of b against a, percent (VCEG-M33: cubic fit of log rate over
    PSNR, integrated over the overlapping PSNR interval)."""
    fit_a = np.polyint(np.polyfit(psnr_a, np.log(rates_a), 3))
    fit_b = np.polyint(np.polyfit(psnr_b, np.log(rates_b), 3))
    lo, hi = max(min(psnr_a), min(psnr_b)), min(max(psnr_a), max(psnr_b))
    area_a = np.polyval(fit_a, hi) - np.polyval(fit_a, lo)
    area_b = np.polyval(fit_b, hi) - np.polyval(fit_b, lo)
    return (np.exp((area_b - area_a) / (hi - lo)) - 1) * 100


def bd_rate_reference() -> None:
    a = ([0.25, 0.5, 1.0, 2.0], [26.0, 29.5, 33.0, 37.2])
    b = ([0.2, 0.42, 0.85, 1.6], [26.4, 29.9, 33.6, 37.5])
    c = ([0.1, 0.2, 0.3, 0.45, 0.7], [24.0, 26.5, 28.1, 29.8, 31.5])
    print("// BD-rate (%): b vs a, c vs a, a vs b")
    print(f"{bd_rate(*a, *b):.10f}, {bd_rate(*a, *c):.10f}, {bd_rate(*b, *a):.10f}")


if __name__ == "__main__":
    main()
    bd_rate_reference()

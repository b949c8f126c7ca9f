#!/usr/bin/env python3
"""Compare the vaerans curves of `vaerans eval` runs (their results.json), e.g. before and
after a change, or two models on the same images.

    scripts/compare-evals.py ANCHOR/results.json TEST/results.json [MORE/results.json …] \
        [--at 0.1,0.25,0.5,1.0] [--images kodim01.png,kodim02.png]

A run given as `PATH:CODEC` is that codec's curve in the run (a baseline such as `jpeg`,
`webp` or `avif`, or `vaerans-base`, the base layers alone) instead of vaerans'.

For each run after the first: its BD-rate against the first on PSNR (negative: fewer bits for
the same quality; the method of `vaerans::metrics::bd_rate`, cubic fit of log-rate over PSNR),
and every run's mean PSNR read at the `--at` rates (linear in log rate between its two
neighbouring qualities, as `vaerans eval` reads baselines), its ceiling (the model alone) and
the lowest rate within 0.3 dB of it. Only the standard library.
"""

import argparse
import json
import math
import sys


def curve(path, images):
    """(name, [(bpp, psnr)] sorted by rate, ceiling PSNR) of a run's vaerans rows (or, for
    `PATH:CODEC`, that codec's)."""
    codec = "vaerans"
    if ":" in path and not path.endswith(".json"):
        path, codec = path.rsplit(":", 1)
    with open(path) as f:
        run = json.load(f)
    rows = [r for r in run["rows"] if r["codec"] == codec]
    if images:
        rows = [r for r in rows if r["image"] in images]
    settings = {}
    for r in rows:
        settings.setdefault(r["setting"], []).append(r)
    if not settings:
        sys.exit(f"{path}: no vaerans rows (for these images)")
    counts = {len(v) for v in settings.values()}
    if len(counts) != 1:
        sys.exit(f"{path}: settings cover different numbers of images: {sorted(counts)}")
    mean = lambda v, k: sum(r[k] for r in v) / len(v)
    vae = settings.pop("vae", None)
    points = sorted((mean(v, "bpp"), mean(v, "psnr")) for v in settings.values())
    name = run.get("model", "?") if codec == "vaerans" else codec
    return name, points, mean(vae, "psnr") if vae else None


def fit_cubic(points):
    """Least-squares c0 + c1 t + c2 t² + c3 t³ through (t, y) points."""
    a = [[0.0] * 5 for _ in range(4)]
    for t, y in points:
        pw = [1.0, t, t * t, t ** 3]
        for i in range(4):
            for j in range(4):
                a[i][j] += pw[i] * pw[j]
            a[i][4] += pw[i] * y
    for col in range(4):
        piv = max(range(col, 4), key=lambda r: abs(a[r][col]))
        a[col], a[piv] = a[piv], a[col]
        for r in range(4):
            if r != col:
                f = a[r][col] / a[col][col]
                a[r] = [v - f * p for v, p in zip(a[r], a[col])]
    return [a[i][4] / a[i][i] for i in range(4)]


def bd_rate(anchor, test):
    lo = max(min(p for _, p in anchor), min(p for _, p in test))
    hi = min(max(p for _, p in anchor), max(p for _, p in test))
    if hi <= lo or len(anchor) < 4 or len(test) < 4:
        return None

    def area(c):
        m = sum(p for _, p in c) / len(c)
        k = fit_cubic([(p - m, math.log(r)) for r, p in c])
        anti = lambda t: sum(k[i] * t ** (i + 1) / (i + 1) for i in range(4))
        return anti(hi - m) - anti(lo - m)

    return (math.exp((area(test) - area(anchor)) / (hi - lo)) - 1) * 100


def at(points, bpp):
    for (r0, v0), (r1, v1) in zip(points, points[1:]):
        if r0 <= bpp <= r1:
            t = 0 if r1 == r0 else (math.log(bpp) - math.log(r0)) / (math.log(r1) - math.log(r0))
            return v0 + t * (v1 - v0)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--at", default="0.1,0.25,0.35,0.5,1.0,1.5")
    ap.add_argument("--images", default="", help="only these images (comma-separated names)")
    args = ap.parse_args()
    images = set(filter(None, args.images.split(",")))
    rates = [float(x) for x in args.at.split(",")]
    runs = [(path, *curve(path, images)) for path in args.runs]
    print("run | model | ceiling dB | " + " | ".join(f"PSNR @ {r} bpp" for r in rates)
          + " | lowest bpp within 0.3 dB of the ceiling | BD-rate vs first (PSNR)")
    anchor = runs[0][2]
    for i, (path, model, points, ceiling) in enumerate(runs):
        cells = [f"{v:.2f}" if v is not None else "–" for v in (at(points, r) for r in rates)]
        near = "–"
        if ceiling is not None:
            # The first rate on the curve (interpolated) where PSNR reaches ceiling − 0.3 dB.
            goal = ceiling - 0.3
            for (r0, v0), (r1, v1) in zip(points, points[1:]):
                if v0 < goal <= v1:
                    t = (goal - v0) / (v1 - v0)
                    near = f"{math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0))):.3f}"
                    break
            else:
                if points and points[0][1] >= goal:
                    near = f"≤ {points[0][0]:.3f}"
        bd = "–" if i == 0 else (lambda b: "–" if b is None else f"{b:+.1f}%")(bd_rate(anchor, points))
        ceil = f"{ceiling:.2f}" if ceiling is not None else "–"
        print(f"{path} | {model} | {ceil} | " + " | ".join(cells) + f" | {near} | {bd}")


if __name__ == "__main__":
    main()

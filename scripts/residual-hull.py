#!/usr/bin/env python3
"""The rate-distortion hull of (base quality, residual quality, blur) pairs.

Reads the results.json of `vaerans eval` runs over the same images, one run per residual
setting, named after it: `none` (base only), `r<Q>` (`--residual-quality Q`) or `r<Q>-b<S>`
(`--residual-blur S` too); each run's `-q` list is the base qualities. Prints every pair's mean
bits per pixel and PSNR, and the pairs on the upper convex hull of PSNR against rate: the
pairs a quality knob should walk. Standard library only.

    scripts/residual-hull.py RUN_DIR...
"""
import json
import re
import sys
from pathlib import Path


def points(run: Path):
    name = run.name
    m = re.fullmatch(r"(none|r(\d+)(?:-b([\d.]+))?)", name)
    if not m:
        sys.exit(f"{run}: name the run none, r<Q> or r<Q>-b<SIGMA>")
    residual = int(m.group(2)) if m.group(2) else None
    blur = float(m.group(3)) if m.group(3) else 0.0
    rows = json.loads((run / "results.json").read_text())["rows"]
    by: dict[str, list] = {}
    for r in rows:
        if r["codec"] == "vaerans" and r["setting"] != "vae":
            by.setdefault(r["setting"], []).append(r)
    for setting, rs in by.items():
        n = len(rs)
        yield {
            "base": int(setting[1:]),
            "residual": residual,
            "blur": blur,
            "bpp": sum(r["bpp"] for r in rs) / n,
            "psnr": sum(r["psnr"] for r in rs) / n,
            "images": n,
        }


def upper_hull(pts):
    """The upper-left convex hull of (bpp, psnr): each point above the chord of its neighbours."""
    pts = sorted(pts, key=lambda p: (p["bpp"], -p["psnr"]))
    hull = []
    for p in pts:
        if hull and p["psnr"] <= hull[-1]["psnr"]:
            continue
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            cross = (b["bpp"] - a["bpp"]) * (p["psnr"] - a["psnr"]) - (b["psnr"] - a["psnr"]) * (
                p["bpp"] - a["bpp"]
            )
            if cross >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def label(p):
    r = "-" if p["residual"] is None else str(p["residual"])
    return f"base q{p['base']:<3} residual {r:>3} blur {p['blur']:<4}"


def main():
    pts = [p for run in sys.argv[1:] for p in points(Path(run))]
    if not pts:
        sys.exit(__doc__)
    print("every pair (mean over images):")
    for p in sorted(pts, key=lambda p: p["bpp"]):
        print(f"  {label(p)}  {p['bpp']:.4f} bpp  {p['psnr']:.2f} dB")
    print("upper convex hull:")
    for p in upper_hull(pts):
        print(f"  {label(p)}  {p['bpp']:.4f} bpp  {p['psnr']:.2f} dB")


if __name__ == "__main__":
    main()

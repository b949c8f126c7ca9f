// Lifting wavelets (CDF 5/3 and Haar), one level, rows or columns, forward or inverse, over the
// top-left `rh × rw` region of every plane of a batch. CPU reference and dispatch:
// src/latent/wavelet/ (`forward_1d`, `inverse_1d` in reference.rs, `run` in gpu.rs).
//
// Each invocation computes one output sample straight from the input, recomputing the
// neighbouring lifting terms it needs with the CPU's formulas, so there is no in-place hazard:
// a pass reads one tensor and writes another.

// One entry per plane. Word offsets of the plane in the input and output tensors, the plane's
// row stride (its full width), the region transformed, and the wavelet (0 CDF 5/3, 1 Haar).
// Matches `WaveletDesc` in src/latent/wavelet/gpu.rs.
struct WaveletDesc {
    src: u32,
    dst: u32,
    stride: u32,
    rh: u32,
    rw: u32,
    wavelet: u32,
}

@group(0) @binding(1) var<storage, read> desc: array<WaveletDesc>;

// A 1D signal of `n` samples starting at word `base`, `step` words apart.
struct Line {
    base: u32,
    step: u32,
    n: u32,
}

fn at(l: Line, k: u32) -> f32 {
    return load_f32(l.base + k * l.step);
}

// CDF 5/3 predict: d[i] = x[2i+1] − ½(x[2i] + x[2i+2]), mirrored at the right border.
fn cdf_d(l: Line, i: u32) -> f32 {
    let a = at(l, 2u * i);
    var c = a;
    if 2u * i + 2u < l.n {
        c = at(l, 2u * i + 2u);
    }
    return at(l, 2u * i + 1u) - 0.5 * (a + c);
}

// Sample k of the forward transform [low | high] of the line.
fn forward_1d(l: Line, k: u32, wavelet: u32) -> f32 {
    if l.n == 1u {
        return at(l, 0u);
    }
    let nh = l.n / 2u;
    let nl = l.n - nh;
    if wavelet == 0u {
        if k >= nl {
            return cdf_d(l, k - nl);
        }
        // update: s[i] = x[2i] + ¼(d[i−1] + d[i]), d[−1] = d[0], d[nh] = d[nh−1]
        let dl = cdf_d(l, select(k - 1u, 0u, k == 0u));
        let dr = cdf_d(l, min(k, nh - 1u));
        return at(l, 2u * k) + 0.25 * (dl + dr);
    }
    if k >= nl {
        let i = k - nl;
        return at(l, 2u * i + 1u) - at(l, 2u * i);
    }
    if k < nh {
        let d = at(l, 2u * k + 1u) - at(l, 2u * k);
        return at(l, 2u * k) + 0.5 * d;
    }
    return at(l, l.n - 1u);
}

// x[2i] of the inverse CDF 5/3: s[i] − ¼(d[i−1] + d[i]).
fn cdf_even(l: Line, i: u32, nl: u32, nh: u32) -> f32 {
    let dl = at(l, nl + select(i - 1u, 0u, i == 0u));
    let dr = at(l, nl + min(i, nh - 1u));
    return at(l, i) - 0.25 * (dl + dr);
}

// Sample k of the inverse transform of a line holding [low | high].
fn inverse_1d(l: Line, k: u32, wavelet: u32) -> f32 {
    if l.n == 1u {
        return at(l, 0u);
    }
    let nh = l.n / 2u;
    let nl = l.n - nh;
    let i = k / 2u;
    if wavelet == 0u {
        let e = cdf_even(l, i, nl, nh);
        if (k & 1u) == 0u {
            return e;
        }
        var r = e;
        if 2u * i + 2u < l.n {
            r = cdf_even(l, i + 1u, nl, nh);
        }
        return at(l, nl + i) + 0.5 * (e + r);
    }
    if i == nh {
        // odd length: the last low sample passes through
        return at(l, nh);
    }
    let x0 = at(l, i) - 0.5 * at(l, nl + i);
    if (k & 1u) == 0u {
        return x0;
    }
    return at(l, nl + i) + x0;
}

// op: 0 forward rows, 1 forward columns, 2 inverse rows, 3 inverse columns, 4 copy.
fn run_pass(wid: vec3<u32>, lid: vec3<u32>, nwg: vec3<u32>, op: u32) {
    let job = job_index(wid, nwg);
    if job >= arrayLength(&desc) {
        return;
    }
    let d = desc[job];
    let count = d.rh * d.rw;
    let start = wid.x * WG + lid.x;
    let stride = nwg.x * WG;
    var pos = walk_start(start, stride, d.rw);
    for (var idx = start; idx < count; idx += stride) {
        let y = pos.y;
        let x = pos.x;
        walk_next(&pos);
        let row = Line(d.src + y * d.stride, 1u, d.rw);
        let col = Line(d.src + x, d.stride, d.rh);
        var v: f32;
        switch op {
            case 0u: { v = forward_1d(row, x, d.wavelet); }
            case 1u: { v = forward_1d(col, y, d.wavelet); }
            case 2u: { v = inverse_1d(row, x, d.wavelet); }
            case 3u: { v = inverse_1d(col, y, d.wavelet); }
            default: { v = at(row, x); }
        }
        store_f32(d.dst + y * d.stride + x, v);
    }
}

@compute @workgroup_size(256)
fn forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run_pass(wid, lid, nwg, 0u);
}

@compute @workgroup_size(256)
fn forward_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run_pass(wid, lid, nwg, 1u);
}

@compute @workgroup_size(256)
fn inverse_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run_pass(wid, lid, nwg, 2u);
}

@compute @workgroup_size(256)
fn inverse_cols(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run_pass(wid, lid, nwg, 3u);
}

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run_pass(wid, lid, nwg, 4u);
}

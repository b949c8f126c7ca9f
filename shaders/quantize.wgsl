// Per-band statistics, quantisation and histograms in one pass: one workgroup per band of one
// channel of one entity. CPU reference and dispatch: src/latent/quantize/ (`quantize_plane`
// in reference.rs, `quantize` in gpu.rs).
//
// 1. min, max and a non-finite flag over the band (workgroup reduction);
// 2. invocation 0 widens the step from the quality's step code until the band's range fits 255
//    symbols, exactly as `fit` does on the CPU (same bits, same order of operations);
// 3. every invocation quantises four consecutive coefficients into one word of the band's
//    packed output and counts them in a workgroup histogram, written out at the end.

// One entry per (entity, channel, band). Word offsets of the channel's plane, its row stride,
// the band's rectangle, the step code to start from, the bits of its zero-bin half-width
// (`zero_zone`), and where the band's packed symbols, its
// two parameter words (code | flags << 8, center) and its 256 histogram bins go.
// Matches `QuantDesc` in src/latent/quantize/gpu.rs.
struct QuantDesc {
    src: u32,
    stride: u32,
    bx: u32,
    by: u32,
    bw: u32,
    bh: u32,
    code0: u32,
    zero: u32,
    out_sym: u32,
    out_params: u32,
    out_hist: u32,
}

@group(0) @binding(1) var<storage, read> desc: array<QuantDesc>;

// Largest |center|, as `MAX_CENTER` on the CPU.
const MAX_CENTER: i32 = 4194304;
// Flags in the parameter word: the range does not fit even the largest step; a value is not
// finite. Matches `FLAG_RANGE` and `FLAG_NON_FINITE` in src/latent/quantize/gpu.rs.
const FLAG_RANGE: u32 = 1u;
const FLAG_NON_FINITE: u32 = 2u;
const BIG: f32 = 3.40282347e+38;

var<workgroup> red_min: array<f32, 256>;
var<workgroup> red_max: array<f32, 256>;
var<workgroup> red_bad: array<u32, 256>;
var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> chosen: array<u32, 2>;

// 1 / step of a step code, exactly as `inv_step_from_code` builds it: the bits of 2^(16 − e)
// times the f32 reciprocal of the mantissa 1 + m/8 (a product by a power of two: exact).
fn inv_step_from_code(code: u32) -> f32 {
    var inv_mantissa = array<u32, 8>(
        0x3f800000u, 0x3f638e39u, 0x3f4ccccdu, 0x3f3a2e8cu,
        0x3f2aaaabu, 0x3f1d89d9u, 0x3f124925u, 0x3f088889u,
    );
    return bitcast<f32>((143u - (code >> 3u)) << 23u) * bitcast<f32>(inv_mantissa[code & 7u]);
}

// 0 within `zero` steps of 0, else the nearest step (ties up): `quantize_value` on the CPU.
fn quantize_value(v: f32, inv: f32, zero: f32) -> f32 {
    let x = v * inv;
    if abs(x) < zero {
        return 0.0;
    }
    return floor(x + 0.5);
}

// The bits of the band's coefficient at band column x, row y.
fn coefficient(d: QuantDesc, x: u32, y: u32) -> u32 {
    return arena[d.src + (d.by + y) * d.stride + d.bx + x];
}

@compute @workgroup_size(256)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let job = job_index(wid, nwg);
    if job >= arrayLength(&desc) {
        return;
    }
    let d = desc[job];
    let n = d.bw * d.bh;
    let zero = bitcast<f32>(d.zero);
    let t = lid.x;
    atomicStore(&hist[t], 0u);

    var lo = BIG;
    var hi = -BIG;
    var bad = 0u;
    var p = walk_start(t, WG, d.bw);
    for (var i = t; i < n; i += WG) {
        let bits = coefficient(d, p.x, p.y);
        walk_next(&p);
        if (bits & 0x7f800000u) == 0x7f800000u {
            bad = 1u;
        } else {
            let v = bitcast<f32>(bits);
            lo = min(lo, v);
            hi = max(hi, v);
        }
    }
    red_min[t] = lo;
    red_max[t] = hi;
    red_bad[t] = bad;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if t < s {
            red_min[t] = min(red_min[t], red_min[t + s]);
            red_max[t] = max(red_max[t], red_max[t + s]);
            red_bad[t] = red_bad[t] | red_bad[t + s];
        }
        workgroupBarrier();
    }

    if t == 0u {
        var code = d.code0;
        var flags = 0u;
        var center = 0i;
        if red_bad[0] != 0u {
            flags = FLAG_NON_FINITE;
        } else {
            loop {
                let inv = inv_step_from_code(code);
                let qmin = quantize_value(red_min[0], inv, zero);
                let qmax = quantize_value(red_max[0], inv, zero);
                if abs(qmin) < 8388608.0 && abs(qmax) < 8388608.0 {
                    let a = i32(qmin);
                    let b = i32(qmax);
                    let c = (a + b) >> 1u;
                    if b - a <= 254 && abs(c) <= MAX_CENTER {
                        center = c;
                        break;
                    }
                }
                if code == 255u {
                    flags = FLAG_RANGE;
                    break;
                }
                code += 1u;
            }
        }
        chosen[0] = code | (flags << 8u);
        chosen[1] = bitcast<u32>(center);
        arena[d.out_params] = chosen[0];
        arena[d.out_params + 1u] = chosen[1];
    }
    let word = workgroupUniformLoad(&chosen[0]);
    let center = bitcast<i32>(workgroupUniformLoad(&chosen[1]));

    if (word >> 8u) == 0u {
        let inv = inv_step_from_code(word & 0xffu);
        let offset = center - 128;
        let words = (n + 3u) / 4u;
        var p = walk_start(4u * t, 4u * WG, d.bw);
        for (var w = t; w < words; w += WG) {
            var packed = 0u;
            var x = p.x;
            var y = p.y;
            walk_next(&p);
            for (var k = 0u; k < 4u; k++) {
                let i = 4u * w + k;
                if i < n {
                    let q = i32(quantize_value(bitcast<f32>(coefficient(d, x, y)), inv, zero));
                    x += 1u;
                    if x == d.bw {
                        x = 0u;
                        y += 1u;
                    }
                    let s = u32(clamp(q - offset, 0, 255));
                    packed |= s << (8u * k);
                    atomicAdd(&hist[s], 1u);
                }
            }
            arena[d.out_sym + w] = packed;
        }
    }
    workgroupBarrier();
    arena[d.out_hist + t] = atomicLoad(&hist[t]);
}

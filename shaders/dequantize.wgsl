// Dequantisation: symbols (u8, coding order, four to a word) back to coefficients in Mallat
// layout, one job per band of one channel of one entity. CPU reference and dispatch:
// src/latent/quantize/ (`dequantize_plane` in reference.rs, `dequantize` in gpu.rs).

// Byte index of the band's first symbol (a band's symbols are contiguous, in raster order), word
// index of the channel's output plane, its row stride, the band's rectangle, and the band's exact
// step and `center − 128` as f32 bits. Matches `DequantDesc` in src/latent/quantize/gpu.rs.
struct DequantDesc {
    sym: u32,
    dst: u32,
    stride: u32,
    bx: u32,
    by: u32,
    bw: u32,
    bh: u32,
    step: u32,
    offset: u32,
}

@group(0) @binding(1) var<storage, read> desc: array<DequantDesc>;

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
    let step = bitcast<f32>(d.step);
    let offset = bitcast<f32>(d.offset);
    let n = d.bw * d.bh;
    let start = wid.x * WG + lid.x;
    let stride = nwg.x * WG;
    var p = walk_start(start, stride, d.bw);
    for (var i = start; i < n; i += stride) {
        let at = (d.by + p.y) * d.stride + d.bx + p.x;
        walk_next(&p);
        let s = f32(load_u8(d.sym + i));
        store_f32(d.dst + at, (s + offset) * step);
    }
}

// Hadamard across each group of 4 channels, forward and inverse (H4 is its own inverse).
// CPU reference and dispatch: src/latent/hadamard/ (`hadamard4` in reference.rs, `run` in gpu.rs).

// One entry per (entity, group of 4 channels): word offsets of the group's first input and
// output plane, and the plane's length. Matches `HadamardDesc` in src/latent/hadamard/gpu.rs.
struct HadamardDesc {
    src: u32,
    dst: u32,
    plane: u32,
}

@group(0) @binding(1) var<storage, read> desc: array<HadamardDesc>;

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
    for (var p = wid.x * WG + lid.x; p < d.plane; p += nwg.x * WG) {
        let a = load_f32(d.src + p);
        let b = load_f32(d.src + d.plane + p);
        let c = load_f32(d.src + 2u * d.plane + p);
        let e = load_f32(d.src + 3u * d.plane + p);
        store_f32(d.dst + p, 0.5 * ((a + b) + (c + e)));
        store_f32(d.dst + d.plane + p, 0.5 * ((a + b) - (c + e)));
        store_f32(d.dst + 2u * d.plane + p, 0.5 * ((a - b) - (c - e)));
        store_f32(d.dst + 3u * d.plane + p, 0.5 * ((a - b) + (c - e)));
    }
}

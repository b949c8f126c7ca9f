// The binding every vaerans kernel shares, appended to each kernel's own source (see
// src/gpu/mod.rs, `KernelBindings`). Binding 1 is the kernel's descriptor table, declared by
// the kernel itself because its element type is the kernel's own.
//
// The arena is one storage buffer of 32-bit words; tensors are addressed by word index. f32
// tensors are stored as their bits, u8 tensors four to a word, little end first.

@group(0) @binding(0) var<storage, read_write> arena: array<u32>;

const WG: u32 = 256u;

fn load_f32(i: u32) -> f32 {
    return bitcast<f32>(arena[i]);
}

fn store_f32(i: u32, v: f32) {
    arena[i] = bitcast<u32>(v);
}

// The byte at byte index `b` of the arena.
fn load_u8(b: u32) -> u32 {
    return (arena[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu;
}

// The job a workgroup works on: descriptor tables longer than 65535 entries are spread over the
// y and z grid dimensions.
fn job_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y + wid.z * nwg.y;
}

// Walks a `w`-wide rectangle in raster order from element `start`, `stride` elements per step,
// dividing only once: kernels index 2D regions without an integer division per element (slow
// on GPUs, very slow on CPU-emulated ones).
struct Walk {
    x: u32,
    y: u32,
    dx: u32,
    dy: u32,
    w: u32,
}

fn walk_start(start: u32, stride: u32, w: u32) -> Walk {
    return Walk(start % w, start / w, stride % w, stride / w, w);
}

fn walk_next(p: ptr<function, Walk>) {
    (*p).x += (*p).dx;
    (*p).y += (*p).dy;
    if (*p).x >= (*p).w {
        (*p).x -= (*p).w;
        (*p).y += 1u;
    }
}

//! The whole latent decode of a stream: parsing, rANS, dequantisation, inverse wavelet and
//! inverse Hadamard, in a world whose arena bounds what one input can allocate.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaerans::components::Latent;
use vaerans::{AnsBitstream, LatentCodec, World};

#[path = "seal.rs"]
mod seal;

fuzz_target!(|data: &[u8]| {
    let Ok(stream) = AnsBitstream::parse(seal::sealed(data), &seal::limits()) else {
        return;
    };
    let shape = stream.header().latent_shape();
    let mut world = World::with_arena_capacity(64 << 20);
    let e = world.spawn_with(stream);
    if let Ok(latent) = world
        .pipe(e)
        .chain(LatentCodec::default().decoder())
        .out::<Latent>()
    {
        assert_eq!(latent.tensor.shape(), &shape[..]);
    }
});

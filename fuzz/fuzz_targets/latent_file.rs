//! Latent files as a cache holds them: `.npy` and `.safetensors` headers and data (the first
//! byte picks the format). A file that parses writes back to bytes that parse to the same
//! array.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaerans::latent::file::{LatentArray, LatentFormat};

#[path = "seal.rs"]
mod seal;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let format = if first % 2 == 0 {
        LatentFormat::Npy
    } else {
        LatentFormat::Safetensors
    };
    let limits = seal::limits();
    if let Ok(array) = LatentArray::from_bytes(rest, format, &limits) {
        let c = array.latent_shape()[0];
        assert!(c % 4 == 0 && array.data().iter().all(|v| v.is_finite()));
        if let Ok(bytes) = array.to_bytes(format) {
            assert_eq!(LatentArray::from_bytes(&bytes, format, &limits).ok(), Some(array));
        }
    }
});

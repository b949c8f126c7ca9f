//! Stream parsing: framing, versions, checksum, header, band parameters and tables.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "seal.rs"]
mod seal;

fuzz_target!(|data: &[u8]| {
    if let Ok(stream) = vaerans::AnsBitstream::parse(seal::sealed(data), &seal::limits()) {
        // What parsing promises about a header it accepts.
        let h = stream.header();
        let s = &h.source;
        assert!(s.width >= 1 && s.width <= s.padded_width && s.height <= s.padded_height);
        assert!(h.channels % 4 == 0 && h.latent_h >= 1 && h.latent_w >= 1);
    }
});

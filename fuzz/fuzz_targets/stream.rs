//! Stream parsing: framing, versions, checksum, header, band parameters and tables, and the
//! layers of a layered stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "seal.rs"]
mod seal;

fuzz_target!(|data: &[u8]| {
    let bytes = seal::sealed(data);
    // The base of a layered stream parses on its own, whatever follows it.
    let base = vaerans::AnsBitstream::parse_base(bytes.clone(), &seal::limits());
    if let Ok(stream) = vaerans::AnsBitstream::parse(bytes, &seal::limits()) {
        assert_eq!(base.ok().as_ref().map(|b| b.header()), Some(stream.header()));
        // What parsing promises about a header it accepts.
        let h = stream.header();
        let s = &h.source;
        assert!(s.width >= 1 && s.width <= s.padded_width && s.height <= s.padded_height);
        assert!(h.channels % 4 == 0 && h.latent_h >= 1 && h.latent_w >= 1);
    }
});

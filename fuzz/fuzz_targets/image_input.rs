//! Image files as the CLI reads them: format from content, EXIF orientation, alpha policy,
//! and the size checked from the header before decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaerans::{Alpha, Limits};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the alpha policy, so that all three are fuzzed.
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let alpha = match pick % 3 {
        0 => Alpha::Error,
        1 => Alpha::Drop,
        _ => Alpha::Over([pick, 255 - pick, 7]),
    };
    // A budget of a few megapixels: a small file may declare a huge image, and decoding one
    // within the default budget takes seconds, which is no finding.
    let limits = Limits::default().with_max_memory(32 << 20);
    if let Ok(img) = vaerans::decode_image(file, "fuzz input", alpha, &limits) {
        assert!(img.width() > 0 && img.height() > 0);
    }
});

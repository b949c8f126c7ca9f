//! Model configuration files (`vaerans.toml`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(config) = vaerans::vae::Config::parse(text, std::path::Path::new("/nonexistent"))
        {
            for spec in config.all() {
                assert!(spec.downsample > 0);
            }
        }
    }
});

//! Shards: tar headers and the members they point at, read from memory. Whatever the bytes,
//! indexing is an error or an index of members inside them, and every member reads.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vaerans::latent::shard::ShardReader;

#[path = "seal.rs"]
mod seal;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    let source = Cursor::new(data);
    if let Ok(mut shard) = ShardReader::from_reader(source, Path::new("fuzz.tar"), &seal::limits()) {
        let members = shard.members().to_vec();
        for m in &members {
            assert!(m.offset + m.len <= len);
            let bytes = shard.read(&m.key).expect("an indexed member reads");
            assert_eq!(bytes.len() as u64, m.len);
            let _ = shard.stream(&m.key);
        }
    }
});

//! What every stream target shares: inputs reach past the checksum.

/// The fuzz input as a stream to parse. An input whose first byte is even is re-sealed: its
/// last four bytes become the CRC32C of the rest, as an encoder writes it, so that mutations
/// reach the header, the tables and the payload instead of stopping at the checksum. Odd
/// inputs are taken as they are, which keeps the checksum's own check fuzzed.
pub fn sealed(data: &[u8]) -> Vec<u8> {
    let Some((&first, rest)) = data.split_first() else {
        return Vec::new();
    };
    let mut s = rest.to_vec();
    if first % 2 == 0 && s.len() >= 4 {
        let n = s.len() - 4;
        let crc = crc32c::crc32c(&s[..n]);
        s[n..].copy_from_slice(&crc.to_le_bytes());
    }
    s
}

/// Limits small enough that no input can make one run allocate much: a run that hits them
/// is an error, never an out-of-memory.
pub fn limits() -> vaerans::Limits {
    vaerans::Limits::default()
        .with_max_alloc(16 << 20)
        .with_max_memory(64 << 20)
}

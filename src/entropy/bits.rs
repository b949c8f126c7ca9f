//! LSB-first bit packing for the entropy tables. Reads are bounds-checked and fail with
//! [`Error::Corrupt`] instead of running past the end.

use crate::error::{Error, Result};

/// Somewhere bit fields go: written out ([`BitWriter`]) or only counted ([`BitCount`]), so the
/// encoder can price a table without building it.
pub trait BitSink {
    /// Takes the low `n` bits of `value` (`n <= 32`).
    fn put(&mut self, value: u32, n: u32);
}

/// Counts bits instead of storing them.
#[derive(Debug, Default, Clone, Copy)]
pub struct BitCount(pub usize);

impl BitSink for BitCount {
    #[inline]
    fn put(&mut self, _value: u32, n: u32) {
        self.0 += n as usize;
    }
}

impl BitSink for BitWriter {
    #[inline]
    fn put(&mut self, value: u32, n: u32) {
        BitWriter::put(self, value, n);
    }
}

/// Appends bit fields to a byte vector, least significant bit first.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    filled: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits of `value` (`n <= 32`).
    pub fn put(&mut self, value: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || value >> n == 0));
        self.acc |= u64::from(value) << self.filled;
        self.filled += n;
        while self.filled >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.filled -= 8;
        }
    }

    /// Pads to a whole byte with zeros and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// Reads bit fields written by [`BitWriter`].
#[derive(Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    acc: u64,
    filled: u32,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            acc: 0,
            filled: 0,
        }
    }

    /// Reads `n` bits (`n <= 32`).
    pub fn get(&mut self, n: u32) -> Result<u32> {
        debug_assert!(n <= 32);
        while self.filled < n {
            let b = *self.bytes.get(self.pos).ok_or_else(|| {
                Error::Corrupt(
                    "bit-packed header data (entropy tables or band parameters) ends early".into(),
                )
            })?;
            self.acc |= u64::from(b) << self.filled;
            self.pos += 1;
            self.filled += 8;
        }
        let v = (self.acc & ((1u64 << n) - 1)) as u32;
        self.acc >>= n;
        self.filled -= n;
        Ok(v)
    }

    /// True when every byte was consumed and the padding bits are zero.
    pub fn is_cleanly_finished(&self) -> bool {
        self.pos == self.bytes.len() && self.acc == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_fields() {
        let mut w = BitWriter::new();
        let fields = [
            (1u32, 1u32),
            (0, 1),
            (200, 8),
            (0x7fff, 15),
            (5, 3),
            (u32::MAX, 32),
            (0, 0),
        ];
        for (v, n) in fields {
            w.put(v, n);
        }
        let bits: u32 = fields.iter().map(|&(_, n)| n).sum();
        let bytes = w.finish();
        assert_eq!(bytes.len(), bits.div_ceil(8) as usize);
        let mut r = BitReader::new(&bytes);
        for (v, n) in fields {
            assert_eq!(r.get(n).unwrap(), v);
        }
        assert!(r.is_cleanly_finished());
        assert!(r.get(8).is_err());
    }
}

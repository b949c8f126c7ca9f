//! Table coding: how each band's model is written into the stream's entropy tables, compactly
//! (a constant band costs 9 bits, a geometric one 37 whatever its alphabet), and read back with
//! every field checked.

use super::bits::{BitCount, BitReader, BitSink, BitWriter};
use super::freqs::geometric_freqs;
use super::model::{nonzero_range, BandModel, Model, ModelShape};
use crate::error::{Error, Result};

/// Bits of the frequency-length field in the table code (frequencies are `< 2^15`).
const FREQ_LEN_BITS: u32 = 4;

impl BandModel {
    /// Size of this model's table entry in bits.
    pub fn table_bits(&self) -> usize {
        let mut count = BitCount::default();
        self.write(&mut count);
        count.0
    }

    /// Table entry. Constant: `0`, 8-bit symbol. Coded: `1`, 4-bit precision, 8-bit first symbol
    /// `lo`, 8-bit span to the last symbol `hi`, then a shape bit:
    /// - `0` explicit: each frequency of `lo..hi` (the last is implied by the total) as its
    ///   bit-length — the first in 4 bits, then deltas: `0` same, `10`+sign ±1, `11`+4 bits
    ///   otherwise — followed by the bits below its leading one;
    /// - `1` geometric: 8-bit `mode − lo`, 6-bit decay index.
    pub(super) fn write<W: BitSink>(&self, w: &mut W) {
        match &self.0 {
            Model::Constant(s) => {
                w.put(0, 1);
                w.put(u32::from(*s), 8);
            }
            Model::Coded {
                precision,
                freqs,
                shape,
            } => {
                let (lo, hi) = nonzero_range(freqs).unwrap_or((0, 0));
                w.put(1, 1);
                w.put(*precision, 4);
                w.put(lo as u32, 8);
                w.put((hi - lo) as u32, 8);
                match shape {
                    ModelShape::Explicit => {
                        w.put(0, 1);
                        let mut prev: Option<u32> = None;
                        for &f in &freqs[lo..hi] {
                            let len = 32 - f.leading_zeros();
                            match prev {
                                None => w.put(len, FREQ_LEN_BITS),
                                Some(p) if p == len => w.put(0, 1),
                                Some(p) if p + 1 == len => w.put(0b001, 3),
                                Some(p) if p == len + 1 => w.put(0b101, 3),
                                Some(_) => {
                                    w.put(0b11, 2);
                                    w.put(len, FREQ_LEN_BITS);
                                }
                            }
                            prev = Some(len);
                            if len > 1 {
                                w.put(f & ((1 << (len - 1)) - 1), len - 1);
                            }
                        }
                    }
                    ModelShape::Geometric { mode, decay } => {
                        w.put(1, 1);
                        w.put(u32::from(*mode) - lo as u32, 8);
                        w.put(u32::from(*decay), 6);
                    }
                }
            }
        }
    }

    pub(super) fn read(r: &mut BitReader<'_>) -> Result<BandModel> {
        if r.get(1)? == 0 {
            return Ok(BandModel(Model::Constant(r.get(8)? as u8)));
        }
        let precision = r.get(4)?;
        if precision == 0 {
            return Err(Error::Corrupt("band model with precision 0".into()));
        }
        let lo = r.get(8)? as usize;
        let span = r.get(8)? as usize;
        if span == 0 || lo + span > 255 {
            return Err(Error::Corrupt(format!(
                "band model symbol range {lo}+{span} is invalid"
            )));
        }
        let hi = lo + span;
        let total = 1u32 << precision;
        if r.get(1)? == 1 {
            let mode = lo + r.get(8)? as usize;
            let decay = r.get(6)? as usize;
            if mode > hi || (span as u64 + 1) > u64::from(total) {
                return Err(Error::Corrupt(
                    "geometric band model is inconsistent".into(),
                ));
            }
            return Ok(BandModel(Model::Coded {
                precision,
                freqs: geometric_freqs(precision, lo, hi, mode, decay),
                shape: ModelShape::Geometric {
                    mode: mode as u8,
                    decay: decay as u8,
                },
            }));
        }
        let mut freqs = Box::new([0u32; 256]);
        let mut sum = 0u32;
        let mut prev: Option<u32> = None;
        for f in &mut freqs[lo..hi] {
            let len = match prev {
                None => r.get(FREQ_LEN_BITS)?,
                Some(p) => {
                    if r.get(1)? == 0 {
                        p
                    } else if r.get(1)? == 0 {
                        if r.get(1)? == 0 {
                            p + 1
                        } else {
                            p.checked_sub(1)
                                .ok_or_else(|| Error::Corrupt("negative frequency length".into()))?
                        }
                    } else {
                        r.get(FREQ_LEN_BITS)?
                    }
                }
            };
            if len > precision {
                return Err(Error::Corrupt(
                    "band model frequency exceeds its total".into(),
                ));
            }
            prev = Some(len);
            *f = match len {
                0 => 0,
                1 => 1,
                _ => (1 << (len - 1)) | r.get(len - 1)?,
            };
            sum += *f;
        }
        if freqs[lo] == 0 || sum >= total {
            return Err(Error::Corrupt(
                "band model frequencies do not add up".into(),
            ));
        }
        freqs[hi] = total - sum;
        Ok(BandModel(Model::Coded {
            precision,
            freqs,
            shape: ModelShape::Explicit,
        }))
    }
}

/// Bits of a coded band's table entry (see [`BandModel::write`]), counted without writing.
pub(super) fn table_bits_of(freqs: &[u32; 256], lo: usize, hi: usize, shape: ModelShape) -> usize {
    let header = 1 + 4 + 8 + 8 + 1;
    match shape {
        ModelShape::Geometric { .. } => header + 8 + 6,
        ModelShape::Explicit => {
            // Length-code bits by |len − previous len|: `0`, `10`+sign, `11`+4 bits. A lookup,
            // not a match: the lengths vary unpredictably and the branches cost more than
            // the rest of the pricing.
            const DELTA_BITS: [u32; 3] = [1, 3, 2 + FREQ_LEN_BITS];
            if lo == hi {
                return header;
            }
            let len_of = |f: u32| 32 - f.leading_zeros();
            let mut prev = len_of(freqs[lo]);
            let mut bits = (header as u32) + FREQ_LEN_BITS + prev.saturating_sub(1);
            for &f in &freqs[lo + 1..hi] {
                let len = len_of(f);
                bits += DELTA_BITS[len.abs_diff(prev).min(2) as usize] + len.saturating_sub(1);
                prev = len;
            }
            bits as usize
        }
    }
}

/// The tables of `models`, one entry per model (`None`: an empty band, which has none).
pub(super) fn write_tables(models: &[Option<BandModel>]) -> Vec<u8> {
    let mut w = BitWriter::new();
    for m in models.iter().flatten() {
        m.write(&mut w);
    }
    w.finish()
}

/// Reads one model per band of `band_lens` (none for an empty band); the tables must end
/// exactly after the last.
pub(super) fn read_tables(tables: &[u8], band_lens: &[usize]) -> Result<Vec<Option<BandModel>>> {
    let mut r = BitReader::new(tables);
    let mut models = Vec::with_capacity(band_lens.len());
    for &n in band_lens {
        models.push(if n == 0 {
            None
        } else {
            Some(BandModel::read(&mut r)?)
        });
    }
    if !r.is_cleanly_finished() {
        return Err(Error::Corrupt("entropy tables have trailing data".into()));
    }
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::super::model::xorshift;
    use super::*;

    #[test]
    fn counted_table_bits_match_the_written_table() {
        let mut next = xorshift(0x9e37_79b9);
        for _ in 0..300 {
            let mut hist = [0u32; 256];
            let lo = (next() % 200) as usize;
            let span = 1 + (next() % 55) as usize;
            for c in &mut hist[lo..=lo + span] {
                *c = match next() % 4 {
                    0 => 0,
                    1 => next() % 3,
                    _ => next() % 5000,
                };
            }
            hist[lo] += 1;
            hist[lo + span] += 1;
            for model in [
                BandModel::from_histogram(&hist),
                BandModel::explicit_from_histogram(&hist),
            ]
            .into_iter()
            .flatten()
            {
                if let Model::Coded { freqs, shape, .. } = &model.0 {
                    let lo = freqs.iter().position(|&f| f > 0).unwrap();
                    let hi = freqs.iter().rposition(|&f| f > 0).unwrap();
                    assert_eq!(table_bits_of(freqs, lo, hi, *shape), model.table_bits());
                }
            }
        }
    }
}

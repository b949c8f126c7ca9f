//! Interleaved rANS with static per-band models, integer-only.
//!
//! Written here rather than taken from a crate because the format needs three things no
//! general-purpose coder gives together: per-band model switching inside one interleaved stream
//! (one flush per image, not per band: a 768×512 image has ~40 bands of a few hundred symbols),
//! an adaptive probability precision per band chosen against the cost of its table, and O(1)
//! table-driven decoding. `benches/rans.rs` compares it with `constriction`'s `DefaultAnsCoder`.
//!
//! Coder: 32-bit states, 16-bit renormalisation, `LANES` states interleaved round-robin over the
//! coded symbols. Probabilities are integer frequencies summing to `2^precision`,
//! `precision <= MAX_PRECISION`; nothing on either side uses floating point to code a symbol
//! (the encoder uses floats only to *choose* a precision, which is then written down exactly).
//!
//! Stream: `tables` (bit-packed models, one per band) and `payload` (16-bit little-endian words:
//! the `LANES` final states, then the renormalisation words in decoding order). A band whose
//! symbols are all equal costs one table entry and no payload.

use crate::entropy::bits::{BitReader, BitWriter};
use crate::error::{Error, Result};

/// Highest probability precision in bits. With 32-bit states and 16-bit words any precision up
/// to 16 keeps renormalisation to one word per symbol; 15 keeps frequencies in `u16` with room.
pub const MAX_PRECISION: u32 = 15;

/// Number of interleaved rANS states.
pub const LANES: usize = 4;

/// Lower bound of the normalised state interval `[RANS_L, 2^32)`.
const RANS_L: u32 = 1 << 16;

/// Bits of the frequency-length field in the table code (frequencies are `< 2^15`).
const FREQ_LEN_BITS: u32 = 4;

/// The static model of one band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BandModel {
    /// Every symbol of the band has this value; nothing is coded.
    Constant(u8),
    /// Frequencies summing to `2^precision`; a symbol with frequency 0 cannot occur.
    Coded {
        /// `log2` of the frequency total, `1..=MAX_PRECISION`.
        precision: u32,
        /// Frequency of each symbol value.
        freqs: Box<[u32; 256]>,
    },
}

impl BandModel {
    /// The model the encoder chooses for a band with this histogram: the precision that
    /// minimises (table bits + estimated payload bits). `None` for an empty band.
    pub fn from_histogram(hist: &[u32; 256]) -> Option<BandModel> {
        let n: u64 = hist.iter().map(|&c| u64::from(c)).sum();
        let distinct = hist.iter().filter(|&&c| c > 0).count();
        if n == 0 {
            return None;
        }
        if distinct == 1 {
            let s = hist.iter().position(|&c| c > 0).unwrap_or(0) as u8;
            return Some(BandModel::Constant(s));
        }
        let p_lo = ceil_log2(distinct as u64).max(1);
        let p_hi = (ceil_log2(n) + 1).clamp(p_lo, MAX_PRECISION);
        let mut best: Option<(f64, BandModel)> = None;
        for precision in p_lo..=p_hi {
            let freqs = normalize(hist, n, precision);
            let model = BandModel::Coded { precision, freqs };
            let payload_bits: f64 = hist
                .iter()
                .zip(model.freqs().iter())
                .filter(|(&c, _)| c > 0)
                .map(|(&c, &f)| f64::from(c) * (f64::from(precision) - f64::from(f).log2()))
                .sum();
            let cost = payload_bits + model.table_bits() as f64;
            if best.as_ref().is_none_or(|(b, _)| cost < *b) {
                best = Some((cost, model));
            }
        }
        best.map(|(_, m)| m)
    }

    fn freqs(&self) -> &[u32; 256] {
        match self {
            BandModel::Coded { freqs, .. } => freqs,
            BandModel::Constant(_) => &[0; 256],
        }
    }

    /// Size of this model's table entry in bits.
    pub fn table_bits(&self) -> usize {
        let mut w = BitWriter::new();
        self.write(&mut w);
        w.bit_len()
    }

    /// Table entry: `1` bit coded flag; constant: 8-bit symbol; coded: 4-bit precision, 8-bit
    /// first symbol, 8-bit span to the last symbol, then each frequency but the last (implied by
    /// the total) as a 4-bit bit-length and the bits below the leading one.
    fn write(&self, w: &mut BitWriter) {
        match self {
            BandModel::Constant(s) => {
                w.put(0, 1);
                w.put(u32::from(*s), 8);
            }
            BandModel::Coded { precision, freqs } => {
                let lo = freqs.iter().position(|&f| f > 0).unwrap_or(0);
                let hi = freqs.iter().rposition(|&f| f > 0).unwrap_or(0);
                w.put(1, 1);
                w.put(*precision, 4);
                w.put(lo as u32, 8);
                w.put((hi - lo) as u32, 8);
                for &f in &freqs[lo..hi] {
                    let len = 32 - f.leading_zeros();
                    w.put(len, FREQ_LEN_BITS);
                    if len > 1 {
                        w.put(f & ((1 << (len - 1)) - 1), len - 1);
                    }
                }
            }
        }
    }

    fn read(r: &mut BitReader<'_>) -> Result<BandModel> {
        if r.get(1)? == 0 {
            return Ok(BandModel::Constant(r.get(8)? as u8));
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
        let total = 1u32 << precision;
        let mut freqs = Box::new([0u32; 256]);
        let mut sum = 0u32;
        for f in &mut freqs[lo..lo + span] {
            let len = r.get(FREQ_LEN_BITS)?;
            *f = match len {
                0 => 0,
                1 => 1,
                _ => (1 << (len - 1)) | r.get(len - 1)?,
            };
            sum += *f;
        }
        if freqs[lo] == 0 || sum >= total {
            return Err(Error::Corrupt("band model frequencies do not add up".into()));
        }
        freqs[lo + span] = total - sum;
        Ok(BandModel::Coded { precision, freqs })
    }
}

fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// Scales a histogram to frequencies summing to `2^precision`, every present symbol at least 1.
/// Requires `2^precision >= distinct symbols`.
fn normalize(hist: &[u32; 256], n: u64, precision: u32) -> Box<[u32; 256]> {
    let total = 1u64 << precision;
    let mut freqs = Box::new([0u32; 256]);
    let mut sum = 0u64;
    for (f, &c) in freqs.iter_mut().zip(hist) {
        if c > 0 {
            *f = ((u64::from(c) * total + n / 2) / n).max(1) as u32;
            sum += u64::from(*f);
        }
    }
    if sum < total {
        let top = (0..256).max_by_key(|&s| (hist[s], s)).unwrap_or(0);
        freqs[top] += (total - sum) as u32;
    } else if sum > total {
        let mut excess = sum - total;
        let mut order: Vec<usize> = (0..256).filter(|&s| freqs[s] > 1).collect();
        order.sort_by_key(|&s| std::cmp::Reverse((freqs[s], s)));
        while excess > 0 {
            let mut progressed = false;
            for &s in &order {
                if excess == 0 {
                    break;
                }
                if freqs[s] > 1 {
                    freqs[s] -= 1;
                    excess -= 1;
                    progressed = true;
                }
            }
            debug_assert!(progressed, "precision too low for the alphabet");
            if !progressed {
                break;
            }
        }
    }
    freqs
}

/// Histogram of a slice of symbols.
pub fn histogram(symbols: &[u8]) -> [u32; 256] {
    // Four sub-histograms break the store-to-load dependency on runs of equal symbols.
    let mut h = [[0u32; 256]; 4];
    let mut chunks = symbols.chunks_exact(4);
    for c in &mut chunks {
        h[0][c[0] as usize] += 1;
        h[1][c[1] as usize] += 1;
        h[2][c[2] as usize] += 1;
        h[3][c[3] as usize] += 1;
    }
    for &s in chunks.remainder() {
        h[0][s as usize] += 1;
    }
    let mut out = [0u32; 256];
    for (i, o) in out.iter_mut().enumerate() {
        *o = h[0][i] + h[1][i] + h[2][i] + h[3][i];
    }
    out
}

/// An encoded set of bands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Bit-packed band models.
    pub tables: Vec<u8>,
    /// rANS words.
    pub payload: Vec<u8>,
}

/// Encoder-side symbol lookup: frequency, cumulative start and renormalisation bound.
#[derive(Clone, Copy, Default)]
struct EncSym {
    freq: u32,
    start: u32,
    x_max: u32,
}

fn enc_table(precision: u32, freqs: &[u32; 256]) -> [EncSym; 256] {
    let mut t = [EncSym::default(); 256];
    let mut start = 0;
    for (e, &f) in t.iter_mut().zip(freqs.iter()) {
        // f < 2^precision (coded bands have >= 2 symbols), so x_max < 2^32.
        *e = EncSym {
            freq: f,
            start,
            x_max: f << (32 - precision),
        };
        start += f;
    }
    t
}

/// Encodes `bands` (each a slice of symbols) with one model per band computed from its histogram.
pub fn encode_bands(bands: &[&[u8]]) -> Encoded {
    let models: Vec<Option<BandModel>> = bands
        .iter()
        .map(|b| BandModel::from_histogram(&histogram(b)))
        .collect();
    encode_with_models(bands, &models)
}

/// Encodes `bands` with the given models (`None` only for empty bands). The histograms may come
/// from elsewhere (the GPU quantiser computes them), but every symbol must have a nonzero
/// frequency in its band's model.
pub fn encode_with_models(bands: &[&[u8]], models: &[Option<BandModel>]) -> Encoded {
    assert_eq!(bands.len(), models.len(), "one model per band");
    let mut w = BitWriter::new();
    for m in models.iter().flatten() {
        m.write(&mut w);
    }
    let tables = w.finish();

    let total: usize = bands
        .iter()
        .zip(models)
        .filter(|(_, m)| matches!(m, Some(BandModel::Coded { .. })))
        .map(|(b, _)| b.len())
        .sum();
    if total == 0 {
        return Encoded {
            tables,
            payload: Vec::new(),
        };
    }
    let mut words: Vec<u16> = Vec::with_capacity(total / 2 + 2 * LANES);
    let mut x = [RANS_L; LANES];
    let mut i = total;
    for (band, model) in bands.iter().zip(models).rev() {
        let Some(BandModel::Coded { precision, freqs }) = model else {
            continue;
        };
        let t = enc_table(*precision, freqs);
        for &s in band.iter().rev() {
            i -= 1;
            let e = t[s as usize];
            assert!(e.freq > 0, "symbol {s} has no frequency in its band model");
            let lane = &mut x[i % LANES];
            let mut xs = *lane;
            if xs >= e.x_max {
                words.push(xs as u16);
                xs >>= 16;
            }
            *lane = ((xs / e.freq) << precision) + (xs % e.freq) + e.start;
        }
    }
    for &s in x.iter().rev() {
        words.push(s as u16);
        words.push((s >> 16) as u16);
    }
    words.reverse();
    let payload = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    Encoded { tables, payload }
}

/// Decoder-side slot entry: `x' = freq * (x >> precision) + bias`, `bias = slot - start`.
#[derive(Clone, Copy, Default)]
struct DecSlot {
    freq: u16,
    bias: u16,
    sym: u8,
}

/// Decodes bands of the given lengths into `out` (their concatenation, in order).
///
/// Validates everything: the tables must describe exactly `band_lens.len()` models (empty bands
/// have none), the payload must be consumed exactly and every state must return to its initial
/// value; anything else is [`Error::Corrupt`].
pub fn decode_bands(
    tables: &[u8],
    payload: &[u8],
    band_lens: &[usize],
    out: &mut [u8],
) -> Result<()> {
    let total_len: usize = band_lens.iter().sum();
    if out.len() != total_len {
        return Err(Error::InvalidInput(format!(
            "decode_bands: output holds {} symbols, bands need {total_len}",
            out.len()
        )));
    }
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
    if payload.len() % 2 != 0 {
        return Err(Error::Corrupt("rANS payload has an odd byte count".into()));
    }
    let words: Vec<u16> = payload
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let coded: usize = band_lens
        .iter()
        .zip(&models)
        .filter(|(_, m)| matches!(m, Some(BandModel::Coded { .. })))
        .map(|(n, _)| *n)
        .sum();
    if coded == 0 {
        if !words.is_empty() {
            return Err(Error::Corrupt("payload present but nothing is coded".into()));
        }
    } else if words.len() < 2 * LANES {
        return Err(Error::Corrupt("rANS payload shorter than its states".into()));
    }

    let mut x = [0u32; LANES];
    let mut pos = 0;
    if coded > 0 {
        for s in &mut x {
            *s = (u32::from(words[pos]) << 16) | u32::from(words[pos + 1]);
            pos += 2;
            if *s < RANS_L {
                return Err(Error::Corrupt("rANS state out of range".into()));
            }
        }
    }
    let mut slots: Vec<DecSlot> = Vec::new();
    let mut i = 0usize; // index in the coded sequence
    let mut at = 0usize; // index in `out`
    for (&n, model) in band_lens.iter().zip(&models) {
        let dst = &mut out[at..at + n];
        at += n;
        match model {
            None => {}
            Some(BandModel::Constant(s)) => dst.fill(*s),
            Some(BandModel::Coded { precision, freqs }) => {
                fill_slots(&mut slots, *precision, freqs);
                decode_run(&slots, *precision, &mut x, i, &words, &mut pos, dst)?;
                i += n;
            }
        }
    }
    if pos != words.len() || x.iter().any(|&s| s != RANS_L) && coded > 0 {
        return Err(Error::Corrupt(
            "rANS payload does not end where its symbols do".into(),
        ));
    }
    Ok(())
}

fn fill_slots(slots: &mut Vec<DecSlot>, precision: u32, freqs: &[u32; 256]) {
    slots.clear();
    slots.reserve(1 << precision);
    for (sym, &f) in freqs.iter().enumerate() {
        for bias in 0..f {
            slots.push(DecSlot {
                freq: f as u16,
                bias: bias as u16,
                sym: sym as u8,
            });
        }
    }
    debug_assert_eq!(slots.len(), 1 << precision);
}

/// Decodes one band. `first` is the band's index in the coded sequence (fixes the lane rotation).
#[inline]
fn decode_run(
    slots: &[DecSlot],
    precision: u32,
    x: &mut [u32; LANES],
    first: usize,
    words: &[u16],
    pos: &mut usize,
    dst: &mut [u8],
) -> Result<()> {
    let mask = (1u32 << precision) - 1;
    let mut p = *pos;
    // One symbol on one lane. The renormalisation read is bounds-checked: a corrupt stream ends
    // in an error, never a panic or a read past the end.
    macro_rules! step {
        ($xs:expr, $out:expr) => {{
            let xs = $xs;
            let slot = xs & mask;
            let e = slots[slot as usize];
            $out = e.sym;
            let mut nx = u32::from(e.freq) * (xs >> precision) + u32::from(e.bias);
            if nx < RANS_L {
                let Some(&w) = words.get(p) else {
                    return Err(Error::Corrupt("rANS payload ends early".into()));
                };
                nx = (nx << 16) | u32::from(w);
                p += 1;
            }
            $xs = nx;
        }};
    }
    // Head: until the coded index is a multiple of LANES.
    let head = ((LANES - first % LANES) % LANES).min(dst.len());
    let (head_dst, rest) = dst.split_at_mut(head);
    for (k, o) in head_dst.iter_mut().enumerate() {
        step!(x[(first + k) % LANES], *o);
    }
    // Body: four lanes in registers.
    let [mut x0, mut x1, mut x2, mut x3] = *x;
    let mut chunks = rest.chunks_exact_mut(LANES);
    for c in &mut chunks {
        step!(x0, c[0]);
        step!(x1, c[1]);
        step!(x2, c[2]);
        step!(x3, c[3]);
    }
    *x = [x0, x1, x2, x3];
    for (k, o) in chunks.into_remainder().iter_mut().enumerate() {
        step!(x[k], *o);
    }
    *pos = p;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(bands: &[Vec<u8>]) -> Encoded {
        let refs: Vec<&[u8]> = bands.iter().map(Vec::as_slice).collect();
        let enc = encode_bands(&refs);
        let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
        let mut out = vec![0u8; lens.iter().sum()];
        decode_bands(&enc.tables, &enc.payload, &lens, &mut out).unwrap();
        assert_eq!(out, bands.concat());
        enc
    }

    #[test]
    fn edge_streams_round_trip() {
        round_trip(&[]);
        round_trip(&[vec![]]);
        round_trip(&[vec![7]]);
        round_trip(&[vec![3; 1000]]);
        round_trip(&[vec![0, 255]]);
        round_trip(&[(0..=255).collect()]);
        round_trip(&[vec![1, 2, 3], vec![], vec![9; 5], (0..100).map(|i| (i % 7) as u8).collect()]);
    }

    #[test]
    fn constant_bands_cost_no_payload() {
        let enc = round_trip(&[vec![42; 5000], vec![0; 17]]);
        assert!(enc.payload.is_empty());
        assert_eq!(enc.tables.len(), 3); // 2 × 9 bits
    }

    #[test]
    fn normalization_sums_to_total_and_keeps_every_symbol() {
        let mut hist = [0u32; 256];
        hist[0] = 1_000_000;
        for h in hist.iter_mut().skip(1) {
            *h = 1;
        }
        for p in 8..=MAX_PRECISION {
            let f = normalize(&hist, hist.iter().map(|&c| u64::from(c)).sum(), p);
            assert_eq!(f.iter().sum::<u32>(), 1 << p);
            assert!(f.iter().all(|&x| x >= 1));
        }
    }
}

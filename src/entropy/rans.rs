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

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::LazyLock;

use crate::entropy::bits::{BitCount, BitReader, BitSink, BitWriter};
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

/// Decay ratios of the geometric model in Q16 (`round(65536 · 2^(−1/h))`, half-lives
/// `h = 2^((k − 16)/4)` symbols). Fixed integers, so the decoder builds the same frequencies on
/// every machine without floating point.
const DECAYS_Q16: [u32; 64] = [
    1, 6, 26, 90, 256, 619, 1299, 2424, 4096, 6367, 9227, 12604, 16384, 20427, 24590, 28740, 32768,
    36589, 40144, 43400, 46341, 48968, 51292, 53331, 55109, 56650, 57978, 59120, 60097, 60931,
    61641, 62245, 62757, 63192, 63559, 63869, 64132, 64353, 64540, 64697, 64830, 64942, 65036,
    65115, 65182, 65238, 65286, 65325, 65359, 65387, 65411, 65431, 65447, 65461, 65473, 65483,
    65492, 65499, 65505, 65510, 65514, 65517, 65520, 65523,
];

/// How a coded band's frequencies are described in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelShape {
    /// Every frequency written out (bit-length deltas plus mantissas).
    Explicit,
    /// A two-sided geometric distribution over `[lo, hi]` peaking at `mode`, with decay
    /// `DECAYS_Q16[decay]`: 37 bits whatever the alphabet. Fits quantised wavelet detail bands.
    Geometric {
        /// The most probable symbol.
        mode: u8,
        /// Index into the decay table (`0..64`).
        decay: u8,
    },
}

/// The static model of one band. Made only by [`BandModel::from_histogram`],
/// [`BandModel::explicit_from_histogram`], [`BandModel::constant`] or read from a stream, so its
/// frequencies always form a table the coder and the decoder agree on (a model built by hand
/// could make the encoder panic or write a stream that decodes to other symbols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandModel(Model);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Model {
    /// Every symbol of the band has this value; nothing is coded.
    Constant(u8),
    /// Frequencies summing to `2^precision` (at least two nonzero in the encoder's models); a
    /// symbol with frequency 0 cannot occur. A geometric shape's frequencies are exactly what
    /// [`geometric_freqs`] builds from it.
    Coded {
        /// `log2` of the frequency total, `1..=MAX_PRECISION`.
        precision: u32,
        /// Frequency of each symbol value.
        freqs: Box<[u32; 256]>,
        /// How the table describes the frequencies.
        shape: ModelShape,
    },
}

/// Mantissa bits of the [`log2_q16`] table.
const LOG2_MANT_BITS: u32 = 10;

/// `log2(1 + i / 2^LOG2_MANT_BITS)` for every `i`, in units of 2^-16.
static LOG2_MANT_Q16: LazyLock<[u32; 1 << LOG2_MANT_BITS]> = LazyLock::new(|| {
    std::array::from_fn(|i| {
        let l = (1.0 + i as f64 / f64::from(1u32 << LOG2_MANT_BITS)).log2();
        (l * 65536.0).round() as u32
    })
});

/// `log2(f)` for `f >= 1` in units of 2^-16, to within 0.0015: the exponent from the leading one
/// plus a lookup in `table` ([`LOG2_MANT_Q16`], passed in so loops load it once) on the next
/// bits. Branch-free. Used only to *price* candidate models (an encoder choice, written down
/// exactly), so it need not be exact; in fixed point the pricing sums are exact integer sums,
/// the same in any order and on any machine.
#[inline]
fn log2_q16(f: u32, table: &[u32; 1 << LOG2_MANT_BITS]) -> u32 {
    debug_assert!(f > 0 && f < 1 << 24);
    // f32 holds every f < 2^24 exactly and has done the normalising: the exponent field is
    // log2's integer part, the top mantissa bits index the table. (One conversion, where
    // `leading_zeros` without `lzcnt` is a slow `bsr` on x86-64.)
    let bits = (f as f32).to_bits();
    let mant = (bits >> (23 - LOG2_MANT_BITS)) & ((1 << LOG2_MANT_BITS) - 1);
    (((bits >> 23) - 127) << 16) + table[mant as usize]
}

/// Estimated payload bits of coding `hist` with `freqs` at `precision`: `Σ c·(precision −
/// log2 f)`. Only `range` holds nonzero counts; every nonzero count has a nonzero frequency.
fn payload_bits(
    hist: &[u32; 256],
    freqs: &[u32; 256],
    precision: u32,
    range: std::ops::RangeInclusive<usize>,
) -> f64 {
    let table = &*LOG2_MANT_Q16;
    let mut bits = 0u64;
    for (&c, &f) in hist[range.clone()].iter().zip(&freqs[range]) {
        // A zero count prices nothing; `max(1)` only keeps its log defined.
        let l = log2_q16(f.max(1), table);
        bits += u64::from(c) * u64::from((precision << 16).saturating_sub(l));
    }
    bits as f64 / 65536.0
}

/// The decay index whose two-sided geometric distribution has mean absolute deviation `m`
/// around its mode: `E|d| = 2r / (1 − r²)`, so `r = (√(1 + m²) − 1) / m`. A starting point for
/// the encoder's search; never used by the decoder.
fn decay_for_mad(m: f64) -> usize {
    if m <= 1e-9 {
        return 0;
    }
    let r = (((1.0 + m * m).sqrt() - 1.0) / m).clamp(1e-9, 1.0 - 1e-9);
    let half_life = -1.0 / r.log2();
    (16.0 + 4.0 * half_life.log2())
        .round()
        .clamp(0.0, (DECAYS_Q16.len() - 1) as f64) as usize
}

/// Integer weights `2^30 · r^|s − mode|` (each at least 1) over `[lo, hi]` for the geometric
/// model with decay `DECAYS_Q16[decay]`, written to `weights[lo..=hi]` (the rest is not
/// touched); returns their sum.
fn geometric_weights(
    lo: usize,
    hi: usize,
    mode: usize,
    decay: usize,
    weights: &mut [u32; 256],
) -> u64 {
    let r = u64::from(DECAYS_Q16[decay]);
    let mut total = 0u64;
    let mut w = 1u64 << 30;
    for d in 0..=(hi - lo) {
        if mode >= d && mode - d >= lo {
            weights[mode - d] = w as u32;
            total += w;
        }
        if d > 0 && mode + d <= hi {
            weights[mode + d] = w as u32;
            total += w;
        }
        w = ((w * r) >> 16).max(1);
    }
    total
}

/// Frequencies of the geometric model: [`geometric_weights`] normalised to `2^precision`.
/// Integer-only, shared by encoder and decoder.
fn geometric_freqs(
    precision: u32,
    lo: usize,
    hi: usize,
    mode: usize,
    decay: usize,
) -> Box<[u32; 256]> {
    let mut weights = [0u32; 256];
    let total = geometric_weights(lo, hi, mode, decay, &mut weights);
    let mut freqs = Box::new([0u32; 256]);
    normalize_into(&weights, lo, hi, total, precision, &mut freqs);
    freqs
}

/// The smallest and largest index with a nonzero entry, `None` if all are zero. Scans 16
/// entries at a time (the model choice calls it per band, and most bands are short).
fn nonzero_range(v: &[u32; 256]) -> Option<(usize, usize)> {
    let any = |c: &[u32]| c.iter().fold(0, |a, &b| a | b) != 0;
    let first = v.chunks_exact(16).position(any)?;
    let last = v.chunks_exact(16).rposition(any).unwrap_or(first);
    let lo = 16 * first + v[16 * first..].iter().position(|&c| c > 0).unwrap_or(0);
    let hi = 16 * last
        + v[16 * last..16 * last + 16]
            .iter()
            .rposition(|&c| c > 0)
            .unwrap_or(0);
    Some((lo, hi))
}

/// The geometric model's decay for a band: the one that minimises the band's estimated bits
/// under the continuous model `p(s) ∝ r^|s − mode|` on `[lo, hi]`. Its integer weights go to
/// `weights[lo..=hi]`; returns the decay and the weights' sum. The bits are
/// `Σc·|s − mode|·(−log2 r) + n·log2 Z`, `Z` a pair of geometric sums, so each decay costs
/// O(1); the search starts at the decay that matches the band's mean absolute deviation and
/// walks downhill (the cost is unimodal in the decay).
fn geometric_fit(
    hist: &[u32; 256],
    lo: usize,
    hi: usize,
    n: u64,
    mode: usize,
    weights: &mut [u32; 256],
) -> (usize, u64) {
    let dsum: f64 = hist[lo..=hi]
        .iter()
        .enumerate()
        .map(|(i, &c)| f64::from(c) * (lo + i).abs_diff(mode) as f64)
        .sum();
    let (left, right) = ((mode - lo) as i32, (hi - mode) as i32);
    let neg_log2 = &*NEG_LOG2_DECAYS;
    let cost_of = |decay: usize| {
        let r = f64::from(DECAYS_Q16[decay]) / 65536.0;
        let tail = |k: i32| r * (1.0 - r.powi(k)) / (1.0 - r);
        let z = 1.0 + tail(left) + tail(right);
        dsum * neg_log2[decay] + n as f64 * z.log2()
    };
    let mut best_decay = decay_for_mad(dsum / n as f64);
    let mut best_cost = cost_of(best_decay);
    for step in [-1isize, 1] {
        loop {
            let next = best_decay as isize + step;
            if !(0..DECAYS_Q16.len() as isize).contains(&next) {
                break;
            }
            let c = cost_of(next as usize);
            if c >= best_cost {
                break;
            }
            (best_decay, best_cost) = (next as usize, c);
        }
    }
    (
        best_decay,
        geometric_weights(lo, hi, mode, best_decay, weights),
    )
}

/// `−log2 r` for every decay `r` of [`DECAYS_Q16`], for the geometric fit's pricing.
static NEG_LOG2_DECAYS: LazyLock<[f64; 64]> =
    LazyLock::new(|| std::array::from_fn(|d| -(f64::from(DECAYS_Q16[d]) / 65536.0).log2()));

/// Estimated bits of coding `hist` with `freqs` (nonzero only on `[lo, hi]`) at `precision`:
/// payload plus table. What the encoder minimises over candidate models.
fn price(
    hist: &[u32; 256],
    freqs: &[u32; 256],
    precision: u32,
    lo: usize,
    hi: usize,
    shape: ModelShape,
) -> f64 {
    payload_bits(hist, freqs, precision, lo..=hi) + table_bits_of(freqs, lo, hi, shape) as f64
}

impl BandModel {
    /// The model of a band whose symbols all equal `symbol`: it codes nothing.
    pub fn constant(symbol: u8) -> BandModel {
        BandModel(Model::Constant(symbol))
    }

    /// `log2` of the frequency total, `None` for a constant model.
    pub fn precision(&self) -> Option<u32> {
        match &self.0 {
            Model::Constant(_) => None,
            Model::Coded { precision, .. } => Some(*precision),
        }
    }

    /// The frequency of `symbol` out of `2^precision`; a constant model gives its symbol 1 and
    /// every other 0.
    pub fn frequency(&self, symbol: u8) -> u32 {
        match &self.0 {
            Model::Constant(s) => u32::from(*s == symbol),
            Model::Coded { freqs, .. } => freqs[usize::from(symbol)],
        }
    }

    /// How the table describes the frequencies, `None` for a constant model.
    pub fn shape(&self) -> Option<ModelShape> {
        match &self.0 {
            Model::Constant(_) => None,
            Model::Coded { shape, .. } => Some(*shape),
        }
    }

    /// The model the encoder chooses for a band with this histogram: among explicit tables at
    /// every useful precision and geometric models, the one that minimises table bits plus
    /// estimated payload bits. `None` for an empty band.
    pub fn from_histogram(hist: &[u32; 256]) -> Option<BandModel> {
        Self::choose(hist, true)
    }

    /// The best model with an explicit table (no parametric shapes): the coder's rate is then
    /// within rounding of the band's empirical entropy, whatever the table costs.
    pub fn explicit_from_histogram(hist: &[u32; 256]) -> Option<BandModel> {
        Self::choose(hist, false)
    }

    /// Every step works on the band's symbol range `[lo, hi]` only and allocates nothing but
    /// the chosen table: a latent has ~50 bands, most of a few dozen to a few hundred symbols,
    /// so per-band work over all 256 values, not the coding itself, dominated the encoder.
    fn choose(hist: &[u32; 256], allow_geometric: bool) -> Option<BandModel> {
        let (lo, hi) = nonzero_range(hist)?;
        // Total count, distinct values, and the mode (the most frequent; ties: the smallest).
        let (mut n, mut distinct, mut mode) = (0u64, 0u32, lo);
        for (s, &c) in hist.iter().enumerate().take(hi + 1).skip(lo) {
            n += u64::from(c);
            distinct += u32::from(c > 0);
            if c > hist[mode] {
                mode = s;
            }
        }
        if distinct == 1 {
            return Some(BandModel(Model::Constant(lo as u8)));
        }
        let p_lo = ceil_log2(u64::from(distinct)).max(1);
        let p_hi = (ceil_log2(n) + 1).clamp(p_lo, MAX_PRECISION);
        // Candidates are normalised into one scratch table and only priced; the winner is
        // built again at the end, so the search allocates and copies nothing.
        let mut scratch = [0u32; 256];
        // Explicit tables: payload bits grow and table bits shrink as the precision drops, and
        // the total is lowest a few bits below the highest useful precision. Start there and
        // walk downhill (down first, then up).
        let mut explicit = |precision: u32| {
            normalize_explicit(hist, lo, hi, n, precision, &mut scratch);
            price(hist, &scratch, precision, lo, hi, ModelShape::Explicit)
        };
        let start = p_hi.saturating_sub(3).max(p_lo);
        let (mut best, mut best_cost) = (start, explicit(start));
        for precision in (p_lo..start).rev() {
            let cost = explicit(precision);
            if cost >= best_cost {
                break;
            }
            (best, best_cost) = (precision, cost);
        }
        if best == start {
            for precision in start + 1..=p_hi {
                let cost = explicit(precision);
                if cost >= best_cost {
                    break;
                }
                (best, best_cost) = (precision, cost);
            }
        }
        let mut freqs = Box::new([0u32; 256]);
        // Geometric: every symbol of [lo, hi] gets a slot, so the precision must cover the span.
        let g_lo = ceil_log2((hi - lo + 1) as u64).max(1);
        if allow_geometric && g_lo <= MAX_PRECISION {
            // The explicit search is done with `scratch`: it holds the weights now.
            let (decay, total) = geometric_fit(hist, lo, hi, n, mode, &mut scratch);
            let shape = ModelShape::Geometric {
                mode: mode as u8,
                decay: decay as u8,
            };
            // Its table does not grow with the precision, so the highest the decoder's slot
            // table allows fits the shape best. (A lower one wins only by a lucky rounding:
            // pricing two more precisions per band took 25% of the model choice for 0.02% of
            // the rate on latents.)
            let precision = p_hi.max(g_lo);
            normalize_into(&scratch, lo, hi, total, precision, &mut freqs);
            // Ties go to the explicit table.
            if price(hist, &freqs, precision, lo, hi, shape) < best_cost {
                return Some(BandModel(Model::Coded {
                    precision,
                    freqs,
                    shape,
                }));
            }
        }
        normalize_explicit(hist, lo, hi, n, best, &mut freqs);
        Some(BandModel(Model::Coded {
            precision: best,
            freqs,
            shape: ModelShape::Explicit,
        }))
    }

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
    fn write<W: BitSink>(&self, w: &mut W) {
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

    fn read(r: &mut BitReader<'_>) -> Result<BandModel> {
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
fn table_bits_of(freqs: &[u32; 256], lo: usize, hi: usize, shape: ModelShape) -> usize {
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

/// [`normalize_into`] for explicit tables, which are written out and so may be normalised any
/// valid way: an excess from rounding rare symbols up to 1 comes off the largest frequency in
/// one step (the general path sorts). Falls back to [`normalize_into`] when that frequency is
/// too small to pay for it. Writes `freqs[lo..=hi]`; `hist` is zero outside that range.
fn normalize_explicit(
    hist: &[u32; 256],
    lo: usize,
    hi: usize,
    n: u64,
    precision: u32,
    freqs: &mut [u32; 256],
) {
    let total = 1u64 << precision;
    let (sum, top) = rounded_shares(hist, lo, hi, n, total, freqs);
    if sum <= total {
        freqs[top] += (total - sum) as u32;
        return;
    }
    let excess = (sum - total) as u32;
    if freqs[top] > excess {
        freqs[top] -= excess;
        return;
    }
    normalize_into(hist, lo, hi, n, precision, freqs);
}

/// The first step of both normalisations: `freqs[s]` = the rounded share of `weights[s]` at
/// `total`, at least 1 for a nonzero weight, over `[lo, hi]`. Returns their sum and the symbol
/// with the largest weight (ties: the later one).
fn rounded_shares(
    weights: &[u32; 256],
    lo: usize,
    hi: usize,
    n: u64,
    total: u64,
    freqs: &mut [u32; 256],
) -> (u64, usize) {
    let mut sum = 0u64;
    let mut top = lo;
    for s in lo..=hi {
        let c = weights[s];
        // share(0) is 0; a nonzero weight gets at least 1. (No branch: zero counts are
        // scattered through the tails.)
        freqs[s] = share(c, total, n).max(u32::from(c > 0));
        sum += u64::from(freqs[s]);
        if c >= weights[top] {
            top = s;
        }
    }
    (sum, top)
}

/// `⌊(c·total + n/2) / n⌋`, the rounded share of `c` in `n` at `total = 2^precision`. For
/// `n < 2^36` (every band; not every geometric weight sum) it goes through an f64 division: the
/// numerator (< 2^53) is exact in f64, and the quotient (≤ 2^15) lies either on an integer or at
/// least `1/n` below the next one, which is more than the division's rounding error while
/// `n·(2^15 + 1) < 2^53`, so the floor is exact. (A 64-bit integer division per symbol and
/// candidate precision was most of the model choice's time.)
#[inline]
fn share(c: u32, total: u64, n: u64) -> u32 {
    debug_assert!(total <= 1 << MAX_PRECISION && u64::from(c) <= n);
    let num = u64::from(c) * total + n / 2;
    if n < 1 << 36 {
        // Through i64 (both fit): the signed conversions are one instruction each on x86-64.
        ((num as i64) as f64 / (n as i64) as f64) as i32 as u32
    } else {
        (num / n) as u32
    }
}

fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}

/// Scales `weights` (zero outside `[lo, hi]`, summing to `n`) to frequencies summing to
/// `2^precision`, every nonzero weight at least 1, written to `freqs[lo..=hi]`. Integer-only and
/// deterministic: the decoder rebuilds geometric models with it, so its output is part of the
/// format. Requires `2^precision >=` the number of nonzero weights.
///
/// Rounded shares first; a shortfall goes to the largest weight (ties: the later symbol); an
/// excess is taken one unit at a time, round-robin, from the frequencies above 1 in order of
/// decreasing frequency (ties: the later symbol first).
fn normalize_into(
    weights: &[u32; 256],
    lo: usize,
    hi: usize,
    n: u64,
    precision: u32,
    freqs: &mut [u32; 256],
) {
    let total = 1u64 << precision;
    let (sum, top) = rounded_shares(weights, lo, hi, n, total, freqs);
    if sum < total {
        freqs[top] += (total - sum) as u32;
    } else if sum > total {
        let mut excess = sum - total;
        // Symbols with room to give, as bytes on the stack (no allocation per candidate).
        let mut order = [0u8; 256];
        let mut len = 0;
        for (s, &f) in freqs.iter().enumerate().take(hi + 1).skip(lo) {
            if f > 1 {
                order[len] = s as u8;
                len += 1;
            }
        }
        // Keys are distinct (the symbol breaks ties), so an unstable sort is deterministic.
        order[..len].sort_unstable_by_key(|&s| std::cmp::Reverse((freqs[usize::from(s)], s)));
        while excess > 0 {
            let mut progressed = false;
            for &s in &order[..len] {
                if excess == 0 {
                    break;
                }
                let f = &mut freqs[usize::from(s)];
                if *f > 1 {
                    *f -= 1;
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
}

/// Histogram of a slice of symbols.
pub fn histogram(symbols: &[u8]) -> [u32; 256] {
    let mut out = [0u32; 256];
    // Short bands (most of a latent's) are counted directly: merging sub-histograms costs
    // more than the counting.
    if symbols.len() < 1024 {
        for &s in symbols {
            out[usize::from(s)] += 1;
        }
        return out;
    }
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

/// Encoder-side symbol lookup: renormalisation bound, frequency and cumulative start, in 8
/// bytes so that a symbol indexes it with one scaled address. The frequency is nonzero by type,
/// so the division needs no zero check. (Replacing the division by a multiply with a 64-bit
/// reciprocal, exact for 32-bit states, measured no faster on x86-64 with a fast hardware
/// divider, in four different forms; the plain division stays.)
#[derive(Clone, Copy)]
struct EncSym {
    /// Renormalise (emit 16 bits) when the state reaches this: `freq << (32 − precision)`.
    x_max: u32,
    /// The symbol's frequency (`< 2^MAX_PRECISION`).
    freq: NonZeroU16,
    /// Cumulative frequency of the symbols before this one.
    start: u16,
}

impl EncSym {
    /// Placeholder for symbols the model does not code. Its zero bound is how a coding step
    /// notices a symbol without a frequency; coding with it still cannot overflow or panic.
    const NONE: EncSym = EncSym {
        x_max: 0,
        freq: NonZeroU16::MIN,
        start: 0,
    };
}

/// Writes `w` just before `pos` and moves `pos` back over it.
#[inline(always)]
fn put_word(words: &mut [u16], pos: &mut usize, w: u16) {
    words[*pos - 1] = w;
    *pos -= 1;
}

/// One encoder step on a lane's state: renormalise (emit the low 16 bits) if the state is at
/// the symbol's bound, then `x' = ((x / f) << p) + (x % f) + start`, below 2^32 because the
/// renormalised state is below the bound. With `CHECK`, sets `missing` when `e` is the
/// placeholder.
///
/// The word is stored unconditionally at `words[pos − 1]` and `pos` moves back over it only
/// when the step renormalises, so the step has no data-dependent branch. `words[..pos]` must
/// have room for one more word.
#[inline(always)]
fn enc_step<const CHECK: bool>(
    x: &mut u32,
    e: &EncSym,
    precision: u32,
    words: &mut [u16],
    pos: &mut usize,
    missing: &mut bool,
) {
    let xs = *x;
    if CHECK {
        // Only the placeholder has a zero bound: the symbol has no frequency.
        *missing |= e.x_max == 0;
    }
    let emit = xs >= e.x_max;
    words[*pos - 1] = xs as u16;
    *pos -= usize::from(emit);
    let xs = if emit { xs >> 16 } else { xs };
    let f = NonZeroU32::from(e.freq);
    // ⌊x/f⌋·M + x mod f = x + ⌊x/f⌋·(M − f): the quotient alone, no shift by a variable.
    *x = xs + (xs / f) * ((1 << precision) - f.get()) + u32::from(e.start);
}

/// Fills `t[lo..=hi]` for a model whose frequencies are zero outside `[lo, hi]`; a symbol
/// without a frequency gets the placeholder.
fn fill_enc_table(t: &mut [EncSym; 256], precision: u32, freqs: &[u32; 256], lo: usize, hi: usize) {
    let mut start = 0u32;
    for (e, &f) in t[lo..=hi].iter_mut().zip(&freqs[lo..=hi]) {
        // f < 2^precision <= 2^15 (coded bands have >= 2 symbols), so x_max < 2^32 and
        // frequency and start fit u16.
        *e = match NonZeroU16::new(f as u16) {
            Some(freq) => EncSym {
                x_max: f << (32 - precision),
                freq,
                start: start as u16,
            },
            None => EncSym::NONE,
        };
        start += f;
    }
}

/// Encodes `bands` (each a slice of symbols) with one model per band computed from its histogram.
pub fn encode_bands(bands: &[&[u8]]) -> Result<Encoded> {
    let models: Vec<Option<BandModel>> = bands
        .iter()
        .map(|b| BandModel::from_histogram(&histogram(b)))
        .collect();
    // The models come from the bands' own histograms, so they describe them.
    code_bands::<false>(bands, &models).ok_or_else(|| mismatch(bands, &models))
}

/// Encodes `bands` with the given models (`None` only for empty bands). The histograms the
/// models come from may be computed elsewhere (the quantiser counts them as it goes), so the
/// models are checked against the symbols: a symbol without a frequency, or a constant band
/// that is not constant, is an error, never a stream that decodes wrongly. A histogram that is
/// merely inaccurate costs rate, not correctness.
pub fn encode_with_models(bands: &[&[u8]], models: &[Option<BandModel>]) -> Result<Encoded> {
    if bands.len() != models.len() {
        return Err(Error::InvalidInput(format!(
            "{} bands but {} models",
            bands.len(),
            models.len()
        )));
    }
    // Uncoded bands are checked here; coded symbols as they are coded (a separate pass over
    // every symbol cost an eighth of the coding time).
    let uncoded_ok = bands
        .iter()
        .zip(models)
        .all(|(band, model)| first_miss(band, model, false).is_none());
    match code_bands::<true>(bands, models) {
        Some(encoded) if uncoded_ok => Ok(encoded),
        _ => Err(mismatch(bands, models)),
    }
}

/// The error for models that do not describe their bands, naming the first band and symbol
/// that break them.
fn mismatch(bands: &[&[u8]], models: &[Option<BandModel>]) -> Error {
    for (i, (band, model)) in bands.iter().zip(models).enumerate() {
        if let Some(s) = first_miss(band, model, true) {
            return Error::InvalidInput(format!(
                "band {i}: its model gives symbol {s} no probability (histogram mismatch)"
            ));
        }
    }
    Error::InvalidInput("the models do not describe their bands".into())
}

/// The first symbol of `band` that `model` does not describe: any symbol without a model, one
/// unlike a constant model's, or (with `coded`) one a coded model gives no frequency.
fn first_miss<'a>(band: &'a [u8], model: &Option<BandModel>, coded: bool) -> Option<&'a u8> {
    match model {
        None => band.first(),
        Some(BandModel(Model::Constant(v))) => band.iter().find(|&s| s != v),
        Some(BandModel(Model::Coded { freqs, .. })) if coded => {
            band.iter().find(|&&s| freqs[usize::from(s)] == 0)
        }
        Some(BandModel(Model::Coded { .. })) => None,
    }
}

/// Codes `bands` with `models`. With `CHECK`, `None` if a coded band has a symbol its model
/// gives no frequency (without, such a band codes to a stream that does not decode; the check
/// costs 4% where the models come from the bands themselves). Uncoded bands are not looked
/// at: `None` models must be for empty bands and constant models for constant bands, or the
/// stream does not decode (never a panic).
fn code_bands<const CHECK: bool>(bands: &[&[u8]], models: &[Option<BandModel>]) -> Option<Encoded> {
    debug_assert_eq!(bands.len(), models.len());
    let mut w = BitWriter::new();
    for m in models.iter().flatten() {
        m.write(&mut w);
    }
    let tables = w.finish();

    let total: usize = bands
        .iter()
        .zip(models)
        .filter(|(_, m)| matches!(m, Some(BandModel(Model::Coded { .. }))))
        .map(|(b, _)| b.len())
        .sum();
    if total == 0 {
        return Some(Encoded {
            tables,
            payload: Vec::new(),
        });
    }
    // The payload is written back to front (rANS emits in the reverse of decoding order), 16
    // bits at a time, into a buffer that holds the worst case: one word per symbol plus the
    // final states.
    let payload = with_word_buffer(total + 2 * LANES + 1, |words| {
        code_words::<CHECK>(bands, models, total, words)
    })?;
    Some(Encoded { tables, payload })
}

/// Most words [`with_word_buffer`] keeps between calls (8 MiB, a few hundred megapixels'
/// latents); a larger stream gets a buffer of its own.
const KEEP_WORDS: usize = 1 << 22;

/// Runs `f` on `len` words of scratch space (their contents unspecified). The space is kept per
/// thread between calls, up to [`KEEP_WORDS`]: a fresh zeroed buffer for each stream cost more
/// than the coding of a latent's smaller bands, and its time varied with the allocator's state.
fn with_word_buffer<R>(len: usize, f: impl FnOnce(&mut [u16]) -> R) -> R {
    thread_local! {
        static WORDS: std::cell::RefCell<Vec<u16>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    if len > KEEP_WORDS {
        return f(&mut vec![0; len]);
    }
    WORDS.with_borrow_mut(|buf| {
        if buf.len() < len {
            buf.resize(len, 0);
        }
        f(&mut buf[..len])
    })
}

/// The coding loop of [`code_bands`]: `total` coded symbols into `words` (room for one word
/// per symbol and the final states; contents unspecified), returning the payload bytes. Every
/// step stores its low word and moves the cursor only when it renormalises, so the loop has no
/// data-dependent branch, and every word from the final cursor on has been written.
fn code_words<const CHECK: bool>(
    bands: &[&[u8]],
    models: &[Option<BandModel>],
    total: usize,
    words: &mut [u16],
) -> Option<Vec<u8>> {
    let mut pos = words.len();
    let mut x = [RANS_L; LANES];
    let mut i = total;
    // Every entry outside the current band's model is the placeholder, whose zero bound
    // `enc_step` reports as a missing symbol.
    let mut table = [EncSym::NONE; 256];
    let mut missing = false;
    for (band, model) in bands.iter().zip(models).rev() {
        let Some(BandModel(Model::Coded {
            precision, freqs, ..
        })) = model
        else {
            continue;
        };
        let p = *precision;
        let (lo, hi) = nonzero_range(freqs).unwrap_or((0, 255));
        fill_enc_table(&mut table, p, freqs, lo, hi);
        let t = &table;
        let mut step = |x: &mut u32, s: u8| {
            enc_step::<CHECK>(x, &t[usize::from(s)], p, words, &mut pos, &mut missing);
        };
        // Symbol i goes to lane i % LANES. Single steps until i is a multiple of LANES, then
        // LANES at a time with the states in registers, then single steps for the rest.
        let mut k = band.len();
        while k > 0 && i % LANES != 0 {
            k -= 1;
            i -= 1;
            step(&mut x[i % LANES], band[k]);
        }
        let body = k - k % LANES;
        let [mut a, mut b, mut c, mut d] = x;
        // `chunks_exact(..).rev()`, not an index loop or `rchunks_exact`: it keeps the loop's
        // cursor and pointers in registers (measured ~25% faster).
        for s in band[k - body..k].chunks_exact(LANES).rev() {
            let &[s0, s1, s2, s3] = <&[u8; LANES]>::try_from(s).expect("LANES symbols");
            step(&mut d, s3);
            step(&mut c, s2);
            step(&mut b, s1);
            step(&mut a, s0);
        }
        x = [a, b, c, d];
        k -= body;
        i -= body;
        while k > 0 {
            k -= 1;
            i -= 1;
            step(&mut x[i % LANES], band[k]);
        }
        table[lo..=hi].fill(EncSym::NONE);
    }
    if missing {
        return None;
    }
    for &s in x.iter().rev() {
        put_word(words, &mut pos, s as u16);
        put_word(words, &mut pos, (s >> 16) as u16);
    }
    let words = &words[pos..];
    Some(if cfg!(target_endian = "little") {
        // The words' memory is already the little-endian byte stream: one copy.
        bytemuck::cast_slice::<u16, u8>(words).to_vec()
    } else {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    })
}

/// Decoder-side slot entry, the same for all of a symbol's slots (so a table fills by runs):
/// `x' = freq · (x >> precision) + (slot − start)`.
#[derive(Clone, Copy, Default)]
struct DecSlot {
    freq: u16,
    /// The symbol's first slot.
    start: u16,
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
        .filter(|(_, m)| matches!(m, Some(BandModel(Model::Coded { .. }))))
        .map(|(n, _)| *n)
        .sum();
    if coded == 0 {
        if !words.is_empty() {
            return Err(Error::Corrupt(
                "payload present but nothing is coded".into(),
            ));
        }
    } else if words.len() < 2 * LANES {
        return Err(Error::Corrupt(
            "rANS payload shorter than its states".into(),
        ));
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
            Some(BandModel(Model::Constant(s))) => dst.fill(*s),
            Some(BandModel(Model::Coded {
                precision, freqs, ..
            })) => {
                fill_slots(&mut slots, *precision, freqs);
                decode_run(&slots, *precision, &mut x, i, &words, &mut pos, dst);
                i += n;
            }
        }
    }
    let states_back_home = coded == 0 || x.iter().all(|&s| s == RANS_L);
    if pos != words.len() || !states_back_home {
        return Err(Error::Corrupt(
            "rANS payload does not end where its symbols do".into(),
        ));
    }
    Ok(())
}

/// Fills the decoder's slot table for a model: `2^precision` slots, each symbol's `freq` of them
/// in symbol order. A read model's frequencies sum to exactly `2^precision` (the table code
/// implies the last one; geometric models are normalised to it); were they not, slots past the
/// sum would keep what an earlier band left, and decoding would give wrong symbols or a
/// `Corrupt` error, never a panic.
fn fill_slots(slots: &mut Vec<DecSlot>, precision: u32, freqs: &[u32; 256]) {
    // Every slot is written below, so only the length changes here (no clearing).
    slots.resize(1 << precision, DecSlot::default());
    let Some((lo, hi)) = nonzero_range(freqs) else {
        return;
    };
    // Slice writes over the symbols' runs, not a push per slot: the fill is a large part of
    // decoding a latent, whose ~50 bands each get a table of up to 2^12 slots.
    let mut start = 0;
    for (sym, &f) in freqs.iter().enumerate().take(hi + 1).skip(lo) {
        let f = f as usize;
        let Some(run) = slots.get_mut(start..start + f) else {
            debug_assert!(false, "frequencies exceed 2^precision");
            return;
        };
        run.fill(DecSlot {
            freq: f as u16,
            start: start as u16,
            sym: sym as u8,
        });
        start += f;
    }
    debug_assert_eq!(start, slots.len());
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
) {
    let mask = (1u32 << precision) - 1;
    let mut p = *pos;
    // One symbol on one lane. Branch-free: the next word is read whether or not the state
    // takes it (whether it does is as unpredictable as the data), and the cursor moves only
    // when it does. Past the payload's end the read gives 0 and the cursor runs past the end,
    // which `decode_bands` reports as corrupt: never a panic or a read out of bounds.
    macro_rules! step {
        ($xs:expr, $out:expr) => {{
            let xs = $xs;
            let slot = xs & mask;
            let e = slots[slot as usize];
            $out = e.sym;
            let nx = u32::from(e.freq) * (xs >> precision) + (slot - u32::from(e.start));
            let renorm = nx < RANS_L;
            let w = u32::from(words.get(p).copied().unwrap_or(0));
            $xs = if renorm { (nx << 16) | w } else { nx };
            p += usize::from(renorm);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift32) for the table-driven tests.
    fn xorshift(mut seed: u32) -> impl FnMut() -> u32 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        }
    }

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

    fn round_trip(bands: &[Vec<u8>]) -> Encoded {
        let refs: Vec<&[u8]> = bands.iter().map(Vec::as_slice).collect();
        let enc = encode_bands(&refs).unwrap();
        let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
        let mut out = vec![0u8; lens.iter().sum()];
        decode_bands(&enc.tables, &enc.payload, &lens, &mut out).unwrap();
        assert_eq!(out, bands.concat());
        enc
    }

    #[test]
    fn shares_match_integer_division() {
        let total = 1u64 << MAX_PRECISION;
        for n in [
            2u64,
            3,
            7,
            1000,
            24_576,
            65_535,
            1 << 20,
            (1 << 32) - 1,
            (1 << 36) - 1,
        ] {
            for c in [1u64, 2, n / 3, n / 2, n - 1, n] {
                let c = c.min(u64::from(u32::MAX)) as u32;
                for p in [1, 8, MAX_PRECISION] {
                    let t = total >> (MAX_PRECISION - p);
                    let want = ((u64::from(c) * t + n / 2) / n) as u32;
                    assert_eq!(share(c, t, n), want, "{c}·{t} / {n}");
                }
            }
        }
    }

    /// The word buffer is reused between streams on a thread: what a longer stream left in it
    /// must not reach a shorter one's payload.
    #[test]
    fn reused_word_buffer_leaves_no_trace() {
        let mut next = xorshift(0xb0f_fe12);
        let small: Vec<Vec<u8>> = (0..3)
            .map(|k| (0..37 + k).map(|_| (next() % 5) as u8).collect())
            .collect();
        let fresh = std::thread::spawn({
            let small = small.clone();
            move || round_trip(&small)
        })
        .join()
        .unwrap();
        let big: Vec<Vec<u8>> = vec![(0..5000).map(|_| next() as u8).collect()];
        round_trip(&big);
        assert_eq!(round_trip(&small), fresh);
    }

    #[test]
    fn edge_streams_round_trip() {
        round_trip(&[]);
        round_trip(&[vec![]]);
        round_trip(&[vec![7]]);
        round_trip(&[vec![3; 1000]]);
        round_trip(&[vec![0, 255]]);
        round_trip(&[(0..=255).collect()]);
        round_trip(&[
            vec![1, 2, 3],
            vec![],
            vec![9; 5],
            (0..100).map(|i| (i % 7) as u8).collect(),
        ]);
    }

    #[test]
    fn constant_bands_cost_no_payload() {
        let enc = round_trip(&[vec![42; 5000], vec![0; 17]]);
        assert!(enc.payload.is_empty());
        assert_eq!(enc.tables.len(), 3); // 2 × 9 bits
    }

    /// The normalisation written the plain way (every value, a sorted `Vec`), which the
    /// range-limited, allocation-free [`normalize_into`] must match exactly: the decoder
    /// rebuilds geometric models with it.
    fn normalize_reference(weights: &[u32; 256], n: u64, precision: u32) -> [u32; 256] {
        let total = 1u64 << precision;
        let mut freqs = [0u32; 256];
        for (f, &c) in freqs.iter_mut().zip(weights) {
            if c > 0 {
                *f = (((u64::from(c) * total + n / 2) / n) as u32).max(1);
            }
        }
        let sum: u64 = freqs.iter().map(|&f| u64::from(f)).sum();
        if sum < total {
            let top = (0..256).max_by_key(|&s| (weights[s], s)).unwrap();
            freqs[top] += (total - sum) as u32;
        } else {
            let mut excess = sum - total;
            let mut order: Vec<usize> = (0..256).filter(|&s| freqs[s] > 1).collect();
            order.sort_by_key(|&s| std::cmp::Reverse((freqs[s], s)));
            while excess > 0 {
                for &s in &order {
                    if excess > 0 && freqs[s] > 1 {
                        freqs[s] -= 1;
                        excess -= 1;
                    }
                }
            }
        }
        freqs
    }

    #[test]
    fn normalization_matches_the_plain_reference() {
        let mut next = xorshift(0x51ed_2701);
        for _ in 0..20_000 {
            let lo = (next() % 256) as usize;
            let hi = (lo + (next() % 80) as usize).min(255);
            let mode = lo + next() as usize % (hi - lo + 1);
            let g_lo = ceil_log2((hi - lo + 1) as u64).max(1);
            let precision = g_lo + next() % (MAX_PRECISION - g_lo + 1);
            // Geometric weights as the decoder builds them, and arbitrary ones.
            let (weights, n) = if next() % 2 == 0 {
                let mut w = [0u32; 256];
                let n = geometric_weights(lo, hi, mode, (next() % 64) as usize, &mut w);
                (w, n)
            } else {
                let mut w = [0u32; 256];
                for c in &mut w[lo..=hi] {
                    *c = 1 + next() % [2, 50, 100_000][(next() % 3) as usize];
                }
                (w, w.iter().map(|&c| u64::from(c)).sum())
            };
            let mut fast = [0u32; 256];
            normalize_into(&weights, lo, hi, n, precision, &mut fast);
            assert_eq!(fast, normalize_reference(&weights, n, precision));
        }
    }

    #[test]
    fn normalization_sums_to_total_and_keeps_every_symbol() {
        let mut hist = [0u32; 256];
        hist[0] = 1_000_000;
        for h in hist.iter_mut().skip(1) {
            *h = 1;
        }
        for p in 8..=MAX_PRECISION {
            let mut f = [0u32; 256];
            normalize_into(
                &hist,
                0,
                255,
                hist.iter().map(|&c| u64::from(c)).sum(),
                p,
                &mut f,
            );
            assert_eq!(f.iter().sum::<u32>(), 1 << p);
            assert!(f.iter().all(|&x| x >= 1));
        }
    }
}

//! The encoder's choice of a model for a band's histogram: explicit tables at several
//! precisions, or a two-sided geometric shape, each priced as estimated payload bits plus its
//! table bits, the cheapest kept. An encoder choice only: the decoder reads what was chosen.

use std::sync::LazyLock;

use super::freqs::{
    ceil_log2, geometric_weights, normalize_explicit, normalize_into, DECAYS_Q16, MAX_PRECISION,
};
use super::model::{nonzero_range, BandModel, Model, ModelShape};
use super::table::table_bits_of;

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

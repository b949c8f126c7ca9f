//! Frequencies from weights, integer-only: the normalisation to `2^precision` both the
//! encoder and the decoder run (the decoder rebuilds geometric models with it, so its output is
//! part of the format), and the geometric model's fixed decays and weights.

/// Highest probability precision in bits. With 32-bit states and 16-bit words any precision up
/// to 16 keeps renormalisation to one word per symbol; 15 keeps frequencies in `u16` with room.
pub const MAX_PRECISION: u32 = 15;

/// Decay ratios of the geometric model in Q16 (`round(65536 · 2^(−1/h))`, half-lives
/// `h = 2^((k − 16)/4)` symbols). Fixed integers, so the decoder builds the same frequencies on
/// every machine without floating point.
pub(super) const DECAYS_Q16: [u32; 64] = [
    1, 6, 26, 90, 256, 619, 1299, 2424, 4096, 6367, 9227, 12604, 16384, 20427, 24590, 28740, 32768,
    36589, 40144, 43400, 46341, 48968, 51292, 53331, 55109, 56650, 57978, 59120, 60097, 60931,
    61641, 62245, 62757, 63192, 63559, 63869, 64132, 64353, 64540, 64697, 64830, 64942, 65036,
    65115, 65182, 65238, 65286, 65325, 65359, 65387, 65411, 65431, 65447, 65461, 65473, 65483,
    65492, 65499, 65505, 65510, 65514, 65517, 65520, 65523,
];

/// Integer weights `2^30 · r^|s − mode|` (each at least 1) over `[lo, hi]` for the geometric
/// model with decay `DECAYS_Q16[decay]`, written to `weights[lo..=hi]` (the rest is not
/// touched); returns their sum.
pub(super) fn geometric_weights(
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
pub(super) fn geometric_freqs(
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

/// [`normalize_into`] for explicit tables, which are written out and so may be normalised any
/// valid way: an excess from rounding rare symbols up to 1 comes off the largest frequency in
/// one step (the general path sorts). Falls back to [`normalize_into`] when that frequency is
/// too small to pay for it. Writes `freqs[lo..=hi]`; `hist` is zero outside that range.
pub(super) fn normalize_explicit(
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

pub(super) fn ceil_log2(n: u64) -> u32 {
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
pub(super) fn normalize_into(
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

#[cfg(test)]
mod tests {
    use super::super::model::xorshift;
    use super::*;

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

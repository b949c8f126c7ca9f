//! Context-adaptive binary rANS: the entropy coding of format 3 streams, which carry no tables.
//!
//! Static per-band tables (the rest of this module's siblings) code large bands within a
//! fraction of a percent of their entropy, but each coded band pays for its table: at low rates
//! a many-channel latent is hundreds of small bands, and their tables outweighed their payload
//! (a 32-channel latent of a 768×512 image: 994 bytes of tables for 1756 of payload). Here
//! every decision is a bit coded with an adaptive probability that both sides learn as they
//! go, in contexts shared by every band of a kind, so nothing is described up front:
//!
//! - [`BitModel`]: one context's probability, two estimates (a fast one and a slow one, in
//!   integer shifts) averaged, as CABAC-style coders do to learn quickly and settle well;
//! - [`AdaptiveEncoder`] / [`AdaptiveDecoder`]: a byte-wise rANS coder over binary decisions.
//!   rANS decodes in the reverse order of encoding, so the encoder records each decision's
//!   interval while its models adapt forward, then codes the intervals backwards;
//! - [`encode_band`] / [`decode_band`]: a band's quantised coefficients as binary decisions
//!   (zero?, sign, greater than one?, greater than two?, the rest as adaptive Exp-Golomb),
//!   the first two in contexts of the band's level and of its already coded neighbours (left,
//!   up, and the two diagonals above), as JPEG 2000's context modelling does.
//!
//! Integer-only, like the static coder: a stream decodes the same on every machine.

use crate::error::{Error, Result};

/// Probabilities are of a `0` bit, in units of `2^-PROB_BITS`.
const PROB_BITS: u32 = 15;
const ONE: u32 = 1 << PROB_BITS;
const HALF: u32 = ONE / 2;
/// The fast and slow estimates' adaptation shifts.
const FAST: u32 = 4;
const SLOW: u32 = 7;
/// The rANS state's lower bound; the state lives in `[RANS_L, RANS_L << 8)`.
const RANS_L: u32 = 1 << 23;

/// One context's adaptive probability of a `0` bit. Both estimates stay within
/// `[2^FAST − 1, ONE − 2^FAST + 1]`, so neither symbol's interval is ever empty.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BitModel {
    fast: u16,
    slow: u16,
}

impl Default for BitModel {
    fn default() -> Self {
        Self {
            fast: HALF as u16,
            slow: HALF as u16,
        }
    }
}

impl BitModel {
    #[inline]
    fn p0(self) -> u32 {
        (u32::from(self.fast) + u32::from(self.slow)) / 2
    }

    #[inline]
    fn update(&mut self, bit: bool) {
        let step = |p: u16, shift: u32| -> u16 {
            let p = u32::from(p);
            (if bit {
                p - (p >> shift)
            } else {
                p + ((ONE - p) >> shift)
            }) as u16
        };
        self.fast = step(self.fast, FAST);
        self.slow = step(self.slow, SLOW);
    }
}

/// The interval `(start, freq)` of `bit` under probability `p0` of a `0`.
#[inline]
fn interval(bit: bool, p0: u32) -> (u32, u32) {
    if bit {
        (p0, ONE - p0)
    } else {
        (0, p0)
    }
}

/// Records binary decisions, then codes them ([`finish`](Self::finish)).
#[derive(Debug, Default)]
pub(crate) struct AdaptiveEncoder {
    /// Each decision's interval, `start << 16 | freq` (both below `2^16`).
    ops: Vec<u32>,
}

impl AdaptiveEncoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Codes `bit` in context `m`, which then learns it.
    #[inline]
    pub(crate) fn bit(&mut self, m: &mut BitModel, bit: bool) {
        let (start, freq) = interval(bit, m.p0());
        self.ops.push(start << 16 | freq);
        m.update(bit);
    }

    /// Codes the low `n` bits of `value`, most significant first, each at probability ½.
    pub(crate) fn bypass(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            let (start, freq) = interval((value >> i) & 1 == 1, HALF);
            self.ops.push(start << 16 | freq);
        }
    }

    /// Estimated size in bytes so far (from the decisions recorded; the coded size is within a
    /// few bytes of it).
    #[cfg(test)]
    pub(crate) fn estimated_bytes(&self) -> f64 {
        self.ops
            .iter()
            .map(|&op| f64::from(PROB_BITS) - f64::from(op & 0xffff).log2())
            .sum::<f64>()
            / 8.0
    }

    /// The coded bytes: the decisions coded last to first, so that the decoder reads them
    /// first to last.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.ops.len() / 6 + 8);
        let mut x = RANS_L;
        for &op in self.ops.iter().rev() {
            let (start, freq) = (op >> 16, op & 0xffff);
            // Renormalise so that the coded state stays below RANS_L << 8.
            let x_max = ((RANS_L >> PROB_BITS) << 8) * freq;
            while x >= x_max {
                out.push(x as u8);
                x >>= 8;
            }
            x = ((x / freq) << PROB_BITS) + (x % freq) + start;
        }
        out.extend_from_slice(&x.to_le_bytes());
        out.reverse();
        out
    }
}

/// Reads what [`AdaptiveEncoder`] wrote; `what` names the section in errors.
#[derive(Debug)]
pub(crate) struct AdaptiveDecoder<'a> {
    bytes: &'a [u8],
    pos: usize,
    x: u32,
    what: &'static str,
}

impl<'a> AdaptiveDecoder<'a> {
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Result<Self> {
        let head: [u8; 4] =
            bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(Error::Truncated {
                    what,
                    needed: 4,
                    available: bytes.len(),
                })?;
        let x = u32::from_be_bytes(head);
        if !(RANS_L..RANS_L << 8).contains(&x) {
            return Err(Error::Corrupt(format!(
                "{what}: invalid initial coder state"
            )));
        }
        Ok(Self {
            bytes,
            pos: 4,
            x,
            what,
        })
    }

    #[inline]
    fn decode(&mut self, p0: u32) -> Result<bool> {
        let slot = self.x & (ONE - 1);
        let bit = slot >= p0;
        let (start, freq) = interval(bit, p0);
        self.x = freq * (self.x >> PROB_BITS) + slot - start;
        while self.x < RANS_L {
            let b = *self.bytes.get(self.pos).ok_or_else(|| {
                Error::Corrupt(format!("{}: the coded data ends early", self.what))
            })?;
            self.x = (self.x << 8) | u32::from(b);
            self.pos += 1;
        }
        Ok(bit)
    }

    /// The next bit, in context `m`, which then learns it.
    #[inline]
    pub(crate) fn bit(&mut self, m: &mut BitModel) -> Result<bool> {
        let bit = self.decode(m.p0())?;
        m.update(bit);
        Ok(bit)
    }

    /// `n` bits at probability ½, most significant first.
    pub(crate) fn bypass(&mut self, n: u32) -> Result<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.decode(HALF)?);
        }
        Ok(v)
    }

    /// Checks that every byte was read and the coder is back in its initial state, which a
    /// stream that decoded other decisions than were coded almost never is.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.pos != self.bytes.len() || self.x != RANS_L {
            return Err(Error::Corrupt(format!(
                "{}: the coded data does not end where its decisions do",
                self.what
            )));
        }
        Ok(())
    }
}

/// Longest Exp-Golomb prefix: values below `2^24 − 1`, past any coefficient (a band's
/// centre is at most `2^22`, its symbols 128 either side) and any band parameter.
const MAX_PREFIX: usize = 24;

/// Contexts of an adaptive Exp-Golomb code for non-negative values: one per prefix bit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GolombModel([BitModel; MAX_PREFIX]);

impl GolombModel {
    /// Codes `v` (below `2^MAX_PREFIX − 1`): the length of `v + 1` in unary with adaptive
    /// bits, then the bits below its leading one at probability ½.
    pub(crate) fn encode(&mut self, e: &mut AdaptiveEncoder, v: u32) {
        let u = v + 1;
        let k = 31 - u.leading_zeros();
        debug_assert!((k as usize) < MAX_PREFIX);
        for i in 0..k as usize {
            e.bit(&mut self.0[i], true);
        }
        if (k as usize) < MAX_PREFIX {
            e.bit(&mut self.0[k as usize], false);
        }
        e.bypass(u, k);
    }

    /// Reads [`encode`](Self::encode)'s code.
    pub(crate) fn decode(&mut self, d: &mut AdaptiveDecoder<'_>) -> Result<u32> {
        let mut k = 0;
        while d.bit(&mut self.0[k])? {
            k += 1;
            if k == MAX_PREFIX {
                return Err(Error::Corrupt(format!("{}: an over-long code", d.what)));
            }
        }
        Ok(((1 << k) | d.bypass(k as u32)?) - 1)
    }
}

/// Contexts of a signed value: zero or not, the sign, and the magnitude less one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SignedModel {
    zero: BitModel,
    negative: BitModel,
    magnitude: GolombModel,
}

impl SignedModel {
    pub(crate) fn encode(&mut self, e: &mut AdaptiveEncoder, v: i32) {
        e.bit(&mut self.zero, v != 0);
        if v != 0 {
            e.bit(&mut self.negative, v < 0);
            self.magnitude.encode(e, v.unsigned_abs() - 1);
        }
    }

    pub(crate) fn decode(&mut self, d: &mut AdaptiveDecoder<'_>) -> Result<i32> {
        if !d.bit(&mut self.zero)? {
            return Ok(0);
        }
        let negative = d.bit(&mut self.negative)?;
        let m = self.magnitude.decode(d)? as i32 + 1;
        Ok(if negative { -m } else { m })
    }
}

/// Kinds of band whose coefficients share contexts: the LL band, then wavelet levels 1
/// (finest) to 4 and coarser.
pub(crate) const BAND_CLASSES: usize = 5;
/// Neighbourhoods of a coefficient: how many of left and up are nonzero (0–2), times whether
/// either diagonal above is.
const NEIGHBOURHOODS: usize = 6;

/// The coefficient contexts, shared by every band of a stream.
#[derive(Debug, Clone)]
pub(crate) struct CoefficientModels {
    zero: [[BitModel; NEIGHBOURHOODS]; BAND_CLASSES],
    sign: [[BitModel; 3]; BAND_CLASSES],
    above_one: [[BitModel; 3]; BAND_CLASSES],
    above_two: [BitModel; BAND_CLASSES],
    rest: [GolombModel; BAND_CLASSES],
}

impl Default for CoefficientModels {
    fn default() -> Self {
        Self {
            zero: [[BitModel::default(); NEIGHBOURHOODS]; BAND_CLASSES],
            sign: [[BitModel::default(); 3]; BAND_CLASSES],
            above_one: [[BitModel::default(); 3]; BAND_CLASSES],
            above_two: [BitModel::default(); BAND_CLASSES],
            rest: [GolombModel::default(); BAND_CLASSES],
        }
    }
}

/// A coded band's geometry and parameters, as both sides know them from the header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BandShape {
    pub(crate) w: usize,
    pub(crate) h: usize,
    /// `0` for LL, else the wavelet level capped at `BAND_CLASSES − 1`.
    pub(crate) class: usize,
}

/// The centre of a band whose coefficients span `[qmin, qmax]`, as the quantiser chooses it
/// (the middle, rounded down), so that symbols `q − center + 128` fit a byte: a decoder
/// derives it from the coefficients instead of reading it. `None` when no centre fits them.
pub(crate) fn center_of(qmin: i32, qmax: i32) -> Option<i32> {
    let center = (i64::from(qmin) + i64::from(qmax)).div_euclid(2);
    (i64::from(qmax) - i64::from(qmin) <= 254
        && center.abs() <= crate::latent::quantize::MAX_CENTER)
        .then_some(center as i32)
}

/// What the context of coefficient `i` of a raster band sees: its left, up, up-left and
/// up-right neighbours' values (0 outside the band).
#[inline]
fn neighbours(q: &[i32], i: usize, x: usize, y: usize, w: usize) -> (usize, usize, usize) {
    let left = if x > 0 { q[i - 1] } else { 0 };
    let (up, diag) = if y > 0 {
        let up = q[i - w];
        let ul = if x > 0 { q[i - w - 1] } else { 0 };
        let ur = if x + 1 < w { q[i - w + 1] } else { 0 };
        (up, ul != 0 || ur != 0)
    } else {
        (0, false)
    };
    let nonzero = usize::from(left != 0) + usize::from(up != 0);
    let magnitude = (left.unsigned_abs() + up.unsigned_abs()).min(4) as usize / 2;
    // The sign context: the sign of left + up, when there is one.
    let sign = match (left + up).signum() {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    (nonzero * 2 + usize::from(diag), magnitude, sign)
}

/// Codes one band's coding-order `symbols` (raster, `shape.w × shape.h`), whose centre is
/// `center`: it must be the one [`center_of`] derives from them, which the quantiser's is.
pub(crate) fn encode_band(
    e: &mut AdaptiveEncoder,
    m: &mut CoefficientModels,
    symbols: &[u8],
    (shape, center): (BandShape, i32),
    scratch: &mut Vec<i32>,
) -> Result<()> {
    let c = shape.class;
    scratch.clear();
    scratch.extend(symbols.iter().map(|&s| i32::from(s) - 128 + center));
    let q = &scratch[..];
    let (qmin, qmax) = q
        .iter()
        .fold((i32::MAX, i32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if center_of(qmin, qmax) != Some(center) {
        return Err(Error::InvalidInput(format!(
            "a band's centre {center} is not the middle of its coefficients [{qmin}, {qmax}], \
             which streams without tables derive it as"
        )));
    }
    for (i, &v) in q.iter().enumerate() {
        let (x, y) = (i % shape.w, i / shape.w);
        let (n, mag, sign) = neighbours(q, i, x, y, shape.w);
        e.bit(&mut m.zero[c][n], v != 0);
        if v == 0 {
            continue;
        }
        e.bit(&mut m.sign[c][sign], v < 0);
        let a = v.unsigned_abs();
        e.bit(&mut m.above_one[c][mag], a > 1);
        if a > 1 {
            e.bit(&mut m.above_two[c], a > 2);
            if a > 2 {
                m.rest[c].encode(e, a - 3);
            }
        }
    }
    Ok(())
}

/// Decodes one band into `out` (`shape.w × shape.h` symbols) and returns its centre, derived
/// from the coefficients ([`center_of`]); coefficients no centre fits are an error.
pub(crate) fn decode_band(
    d: &mut AdaptiveDecoder<'_>,
    m: &mut CoefficientModels,
    out: &mut [u8],
    shape: BandShape,
    scratch: &mut Vec<i32>,
) -> Result<i32> {
    let c = shape.class;
    scratch.clear();
    scratch.resize(out.len(), 0);
    let (mut qmin, mut qmax) = (i32::MAX, i32::MIN);
    for i in 0..out.len() {
        let (x, y) = (i % shape.w, i / shape.w);
        let (n, mag, sign) = neighbours(scratch, i, x, y, shape.w);
        let mut v = 0i32;
        if d.bit(&mut m.zero[c][n])? {
            let negative = d.bit(&mut m.sign[c][sign])?;
            let mut a = 1;
            if d.bit(&mut m.above_one[c][mag])? {
                a = 2;
                if d.bit(&mut m.above_two[c])? {
                    a = 3 + m.rest[c].decode(d)? as i32;
                }
            }
            v = if negative { -a } else { a };
        }
        scratch[i] = v;
        qmin = qmin.min(v);
        qmax = qmax.max(v);
    }
    let center = center_of(qmin, qmax).ok_or_else(|| {
        Error::Corrupt(format!(
            "{}: a band's coefficients span [{qmin}, {qmax}], more than its symbols can",
            d.what
        ))
    })?;
    for (o, &v) in out.iter_mut().zip(scratch.iter()) {
        *o = (v - center + 128) as u8;
    }
    Ok(center)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_in_any_mix_of_contexts_and_bypass() {
        let mut e = AdaptiveEncoder::new();
        let mut models = [BitModel::default(); 3];
        let mut state = 12345u32;
        let mut log = Vec::new();
        for i in 0..20_000u32 {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Context 0 is almost always 0, context 1 fair, context 2 almost always 1.
            let ctx = (i % 3) as usize;
            let r = state >> 16;
            let bit = match ctx {
                0 => r % 50 == 0,
                1 => r % 2 == 0,
                _ => r % 40 != 0,
            };
            e.bit(&mut models[ctx], bit);
            log.push((ctx, bit));
            if i % 1000 == 0 {
                e.bypass(i, 16);
            }
        }
        let estimate = e.estimated_bytes();
        let bytes = e.finish();
        // The coded size is the decisions' information plus the final state.
        assert!(
            (bytes.len() as f64) < estimate + 8.0,
            "{} {estimate}",
            bytes.len()
        );
        let mut d = AdaptiveDecoder::new(&bytes, "test").unwrap();
        let mut models = [BitModel::default(); 3];
        for (i, &(ctx, bit)) in log.iter().enumerate() {
            assert_eq!(d.bit(&mut models[ctx]).unwrap(), bit, "decision {i}");
            if i % 1000 == 0 {
                assert_eq!(d.bypass(16).unwrap(), i as u32);
            }
        }
        d.finish().unwrap();
    }

    #[test]
    fn skewed_bits_cost_little_and_nothing_codes_to_the_state_alone() {
        let mut e = AdaptiveEncoder::new();
        let mut m = BitModel::default();
        for _ in 0..10_000 {
            e.bit(&mut m, false);
        }
        let bytes = e.finish();
        // 10 000 certain decisions: well under a bit each once learnt.
        assert!(bytes.len() < 40, "{}", bytes.len());
        let empty = AdaptiveEncoder::new().finish();
        assert_eq!(empty.len(), 4);
        AdaptiveDecoder::new(&empty, "t").unwrap().finish().unwrap();
    }

    #[test]
    fn signed_and_golomb_values_round_trip() {
        let values = [0, 1, -1, 2, -2, 3, 17, -300, 1 << 23, -(1 << 23)];
        let mut e = AdaptiveEncoder::new();
        let mut m = SignedModel::default();
        for v in values {
            m.encode(&mut e, v);
        }
        let bytes = e.finish();
        let mut d = AdaptiveDecoder::new(&bytes, "t").unwrap();
        let mut m = SignedModel::default();
        for v in values {
            assert_eq!(m.decode(&mut d).unwrap(), v);
        }
        d.finish().unwrap();
    }

    #[test]
    fn bands_round_trip_with_their_centres_and_odd_shapes() {
        let mut e = AdaptiveEncoder::new();
        let mut m = CoefficientModels::default();
        let mut scratch = Vec::new();
        let mut state = 7u32;
        let mut bands = Vec::new();
        for (w, h, spread) in [(1, 1, 0), (7, 3, 3), (1, 9, 254), (16, 16, 40), (5, 5, 200)] {
            let mut q: Vec<i32> = (0..w * h)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let r = (state >> 16) % 100;
                    // Mostly the zero coefficient, sometimes small, rarely far out.
                    match r {
                        0..=59 => 0,
                        60..=89 => (r as i32 % 7) - 3,
                        _ => (r as i32 - 95) * spread / 5,
                    }
                })
                .collect();
            // The band spans [lo, lo + spread], both ends taken (a 1×1 band: one value).
            let lo = -spread / 2 - 1;
            for v in &mut q {
                *v = (*v).clamp(lo, lo + spread);
            }
            q[0] = lo;
            let last = q.len() - 1;
            q[last] = lo + spread;
            let (lo, hi) = (*q.iter().min().unwrap(), *q.iter().max().unwrap());
            let center = center_of(lo, hi).unwrap();
            let symbols: Vec<u8> = q.iter().map(|&v| (v - center + 128) as u8).collect();
            let shape = BandShape {
                w,
                h,
                class: w % BAND_CLASSES,
            };
            encode_band(&mut e, &mut m, &symbols, (shape, center), &mut scratch).unwrap();
            bands.push((symbols, shape, center));
        }
        let bytes = e.finish();
        let mut d = AdaptiveDecoder::new(&bytes, "t").unwrap();
        let mut m = CoefficientModels::default();
        for (symbols, shape, center) in &bands {
            let mut out = vec![0u8; symbols.len()];
            let got = decode_band(&mut d, &mut m, &mut out, *shape, &mut scratch).unwrap();
            assert_eq!((&out, got), (symbols, *center));
        }
        d.finish().unwrap();
    }

    #[test]
    fn truncated_or_altered_data_is_an_error_not_a_panic() {
        let mut e = AdaptiveEncoder::new();
        let mut m = CoefficientModels::default();
        let symbols: Vec<u8> = (0..256i32).map(|i| (128 + i % 9 - 4) as u8).collect();
        let shape = BandShape {
            w: 16,
            h: 16,
            class: 1,
        };
        encode_band(&mut e, &mut m, &symbols, (shape, 0), &mut Vec::new()).unwrap();
        // Symbols whose middle is not 128 (a centre other than the coefficients' middle, which
        // only a custom quantiser makes) cannot be coded without tables.
        let off_centre: Vec<u8> = symbols.iter().map(|s| s + 20).collect();
        let mut other = AdaptiveEncoder::new();
        let r = encode_band(&mut other, &mut m, &off_centre, (shape, 0), &mut Vec::new());
        assert!(r.is_err());
        let bytes = e.finish();
        let decode = |b: &[u8]| -> Result<Vec<u8>> {
            let mut d = AdaptiveDecoder::new(b, "t")?;
            let mut out = vec![0u8; 256];
            decode_band(
                &mut d,
                &mut CoefficientModels::default(),
                &mut out,
                shape,
                &mut Vec::new(),
            )?;
            d.finish()?;
            Ok(out)
        };
        assert_eq!(decode(&bytes).unwrap(), symbols);
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "truncated to {n}");
        }
        let mut caught = 0;
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            if decode(&b).map_or(true, |s| s != symbols) {
                caught += 1;
            }
        }
        // Streams are CRC-checked; this only shows that a flip never goes unnoticed here
        // either, or panics.
        assert_eq!(caught, bytes.len() * 8);
    }
}

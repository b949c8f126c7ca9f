//! The band parameters of formats 2 and 3: one layout ([`write_band_params`] and its reader),
//! bit-packed in format 2 and coded with adaptive contexts in format 3. The layout is in the
//! [module docs](super).

use super::wire::{unzigzag, zigzag};
use super::{EntropyCoding, Header};
use crate::components::BandQuant;
use crate::entropy::adaptive::{AdaptiveDecoder, AdaptiveEncoder, BitModel, SignedModel};
use crate::entropy::{BitReader, BitWriter};
use crate::error::{Error, Result};
use crate::latent::quantize::{initial_code, MAX_CENTER, MAX_OFFSET};
use crate::latent::StepAllocation;
use crate::layout::{bands, Wavelet};

/// Writes a signed value as zigzag Exp-Golomb (order 0): `0` costs 1 bit, `±1` 3, `±2..3` 5.
fn put_signed(w: &mut BitWriter, v: i32) {
    let u = u64::from(zigzag(v)) + 1;
    let n = 64 - u.leading_zeros();
    for _ in 1..n {
        w.put(0, 1);
    }
    for i in (0..n).rev() {
        w.put(((u >> i) & 1) as u32, 1);
    }
}

/// Reads [`put_signed`]'s code (at most 32 bits of magnitude).
fn get_signed(r: &mut BitReader<'_>, what: &str) -> Result<i32> {
    let mut zeros = 0;
    while r.get(1)? == 0 {
        zeros += 1;
        if zeros > 32 {
            return Err(Error::Corrupt(format!("{what}: an over-long code")));
        }
    }
    let mut u: u64 = 1;
    for _ in 0..zeros {
        u = (u << 1) | u64::from(r.get(1)?);
    }
    u32::try_from(u - 1)
        .map(unzigzag)
        .map_err(|_| Error::Corrupt(format!("{what}: a code out of range")))
}

/// Where band parameters are written: bit-packed (format 2, [`BitWriter`]) or coded with
/// adaptive contexts (format 3, [`AdaptiveParams`]). One layout, [`write_band_params`], for
/// both.
trait ParamSink {
    /// The low `n` bits of `value`, as they are.
    fn bits(&mut self, value: u32, n: u32);
    /// One flag, in context `ctx` of [`FLAG_CONTEXTS`].
    fn flag(&mut self, ctx: usize, bit: bool);
    /// One signed value of kind `kind` ([`Signed`]).
    fn signed(&mut self, kind: Signed, v: i32);
}

/// The reading side of [`ParamSink`].
trait ParamSource {
    fn bits(&mut self, n: u32) -> Result<u32>;
    fn flag(&mut self, ctx: usize) -> Result<bool>;
    fn signed(&mut self, kind: Signed, what: &str) -> Result<i32>;
    /// Checks that the section ends where its last field does.
    fn finish(&self) -> Result<()>;
}

/// The kinds of signed value in band parameters, each with its own adaptive contexts.
#[derive(Debug, Clone, Copy)]
enum Signed {
    ChannelOffset,
    LevelOffset,
    StepCode,
    Center,
}

/// Contexts of a band's "coded" flag: its wavelet level (LL first, capped at 15), whether
/// the band before it in its channel was coded, and whether the same band of the channel
/// before was: coarse bands are coded, and a channel's fine bands stop where its steps grow.
const FLAG_CONTEXTS: usize = 64;

/// The context of band `b`'s flag; `coded(i)` says whether band `i` (coding order) was coded.
fn flag_context(i: usize, per_channel: usize, coded: impl Fn(usize) -> bool) -> usize {
    let b = i % per_channel;
    let level = b.div_ceil(3).min(15);
    let before = b > 0 && coded(i - 1);
    let above = i >= per_channel && coded(i - per_channel);
    level * 4 + usize::from(before) * 2 + usize::from(above)
}

impl ParamSink for BitWriter {
    fn bits(&mut self, value: u32, n: u32) {
        self.put(value, n);
    }
    fn flag(&mut self, _: usize, bit: bool) {
        self.put(u32::from(bit), 1);
    }
    fn signed(&mut self, _: Signed, v: i32) {
        put_signed(self, v);
    }
}

impl ParamSource for BitReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u32> {
        self.get(n)
    }
    fn flag(&mut self, _: usize) -> Result<bool> {
        Ok(self.get(1)? == 1)
    }
    fn signed(&mut self, _: Signed, what: &str) -> Result<i32> {
        get_signed(self, what)
    }
    fn finish(&self) -> Result<()> {
        if self.is_cleanly_finished() {
            Ok(())
        } else {
            Err(Error::Corrupt("band parameters have trailing data".into()))
        }
    }
}

/// Format 3's band parameter contexts.
#[derive(Debug)]
struct ParamModels {
    flags: Vec<BitModel>,
    signed: [SignedModel; 4],
}

impl ParamModels {
    fn new() -> Self {
        Self {
            flags: vec![BitModel::default(); FLAG_CONTEXTS],
            signed: Default::default(),
        }
    }
}

/// Band parameters coded with adaptive contexts (format 3).
struct AdaptiveParams {
    coder: AdaptiveEncoder,
    models: ParamModels,
}

impl ParamSink for AdaptiveParams {
    fn bits(&mut self, value: u32, n: u32) {
        self.coder.bypass(value, n);
    }
    fn flag(&mut self, ctx: usize, bit: bool) {
        self.coder.bit(&mut self.models.flags[ctx], bit);
    }
    fn signed(&mut self, kind: Signed, v: i32) {
        self.models.signed[kind as usize].encode(&mut self.coder, v);
    }
}

/// Reads [`AdaptiveParams`]' section.
struct AdaptiveParamsReader<'a> {
    coder: AdaptiveDecoder<'a>,
    models: ParamModels,
}

impl ParamSource for AdaptiveParamsReader<'_> {
    fn bits(&mut self, n: u32) -> Result<u32> {
        self.coder.bypass(n)
    }
    fn flag(&mut self, ctx: usize) -> Result<bool> {
        self.coder.bit(&mut self.models.flags[ctx])
    }
    fn signed(&mut self, kind: Signed, _: &str) -> Result<i32> {
        self.models.signed[kind as usize].decode(&mut self.coder)
    }
    fn finish(&self) -> Result<()> {
        self.coder.finish()
    }
}

/// The band parameters of `header`, in its format: bit-packed (2) or adaptive-coded (3).
pub(super) fn band_params_bytes(header: &Header) -> Result<Vec<u8>> {
    match header.entropy {
        EntropyCoding::Tables => {
            let mut w = BitWriter::new();
            write_band_params(header, &mut w)?;
            Ok(w.finish())
        }
        EntropyCoding::Adaptive => {
            let mut w = AdaptiveParams {
                coder: AdaptiveEncoder::new(),
                models: ParamModels::new(),
            };
            write_band_params(header, &mut w)?;
            Ok(w.coder.finish())
        }
    }
}

/// The band parameters of formats 2 and 3: each band's step code is coded as its difference
/// from the code its allocation predicts ([`initial_code`]), which is zero unless the band was
/// widened to fit its range; a zero band is one flag.
///
/// ```text
/// u1 channel offsets present; then one signed code per channel
/// u4 level offsets K; then K signed codes
/// per channel, per band: flag coded; if set: signed (step code − predicted), signed center
///   (format 2 only: format 3 derives it from the band's coefficients)
/// ```
/// Format 2 bit-packs them, signed values as zigzag Exp-Golomb ([`put_signed`]); format 3
/// codes the flags and signed values with adaptive contexts ([`ParamModels`]).
fn write_band_params(header: &Header, w: &mut impl ParamSink) -> Result<()> {
    let quant = &header.quant;
    let a = &quant.allocation;
    let channel_offsets = a.channel_offsets();
    w.bits(u32::from(!channel_offsets.is_empty()), 1);
    for &o in channel_offsets {
        w.signed(Signed::ChannelOffset, i32::from(o));
    }
    let levels = a.level_offsets();
    if levels.len() > 15 {
        return Err(Error::InvalidInput(format!(
            "{} level offsets; a stream holds at most 15",
            levels.len()
        )));
    }
    w.bits(levels.len() as u32, 4);
    for &o in levels {
        w.signed(Signed::LevelOffset, i32::from(o));
    }
    let table = bands(
        header.latent_h as usize,
        header.latent_w as usize,
        quant.levels,
    );
    for (i, q) in quant.bands.iter().enumerate() {
        let (channel, b) = (i / table.len(), i % table.len());
        let coded = !header.is_zero_band(i);
        w.flag(
            flag_context(i, table.len(), |j| !header.is_zero_band(j)),
            coded,
        );
        if !coded {
            continue;
        }
        let predicted = initial_code(
            quant.quality,
            &table[b],
            quant.wavelet,
            a.offset(channel, &table[b]),
        );
        w.signed(
            Signed::StepCode,
            i32::from(q.step_code) - i32::from(predicted),
        );
        // Format 3 derives a band's centre from its coefficients.
        if header.entropy == EntropyCoding::Tables {
            w.signed(Signed::Center, q.center);
        }
    }
    Ok(())
}

/// Reads [`write_band_params`]'s section in `entropy`'s format: the allocation, each band's
/// parameters and which bands are zero. Every value is checked.
pub(super) fn read_band_params(
    bytes: &[u8],
    entropy: EntropyCoding,
    (channels, table): (usize, &[crate::layout::Band]),
    (quality, wavelet): (u8, Wavelet),
) -> Result<(StepAllocation, Vec<BandQuant>, Vec<bool>)> {
    let n_bands = channels * table.len();
    match entropy {
        EntropyCoding::Tables => {
            // Every band takes at least a bit: checked before allocating.
            if n_bands > 8 * bytes.len() {
                return Err(Error::Truncated {
                    what: "band parameters",
                    needed: n_bands.div_ceil(8),
                    available: bytes.len(),
                });
            }
            read_params_from(
                BitReader::new(bytes),
                entropy,
                (channels, table),
                (quality, wavelet),
            )
        }
        EntropyCoding::Adaptive => {
            // Adaptive flags can cost far less than a bit, so the band count is bounded by the
            // header's limits (checked before this), not by the section's length.
            let r = AdaptiveParamsReader {
                coder: AdaptiveDecoder::new(bytes, "band parameters")?,
                models: ParamModels::new(),
            };
            read_params_from(r, entropy, (channels, table), (quality, wavelet))
        }
    }
}

fn read_params_from(
    mut r: impl ParamSource,
    entropy: EntropyCoding,
    (channels, table): (usize, &[crate::layout::Band]),
    (quality, wavelet): (u8, Wavelet),
) -> Result<(StepAllocation, Vec<BandQuant>, Vec<bool>)> {
    let n_bands = channels * table.len();
    let offset = |r: &mut dyn FnMut() -> Result<i32>, what: &str| -> Result<i16> {
        let o = r()?;
        if o.unsigned_abs() > MAX_OFFSET as u32 {
            return Err(Error::Corrupt(format!(
                "{what} {o} is outside ±{MAX_OFFSET}"
            )));
        }
        Ok(o as i16)
    };
    let mut channel_offsets = Vec::new();
    if r.bits(1)? == 1 {
        channel_offsets.reserve(channels);
        for _ in 0..channels {
            let what = "channel step offset";
            channel_offsets.push(offset(&mut || r.signed(Signed::ChannelOffset, what), what)?);
        }
    }
    let k = r.bits(4)?;
    let mut level_offsets = Vec::with_capacity(k as usize);
    for _ in 0..k {
        let what = "level step offset";
        level_offsets.push(offset(&mut || r.signed(Signed::LevelOffset, what), what)?);
    }
    let allocation = StepAllocation::new(channel_offsets, level_offsets)?;
    let mut params = Vec::with_capacity(n_bands);
    let mut zero: Vec<bool> = Vec::with_capacity(n_bands);
    for i in 0..n_bands {
        let (channel, b) = (i / table.len(), i % table.len());
        let band = &table[b];
        let predicted = initial_code(quality, band, wavelet, allocation.offset(channel, band));
        if !r.flag(flag_context(i, table.len(), |j| !zero[j]))? {
            params.push(BandQuant {
                step_code: predicted,
                center: 0,
            });
            zero.push(true);
            continue;
        }
        let delta = r.signed(Signed::StepCode, "step code")?;
        let step_code = i32::from(predicted)
            .checked_add(delta)
            .and_then(|code| u8::try_from(code).ok())
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "step code {predicted} + {delta} is outside 0..=255"
                ))
            })?;
        // Format 3 derives the centre from the band's coefficients, when they are decoded.
        let center = match entropy {
            EntropyCoding::Tables => r.signed(Signed::Center, "band center")?,
            EntropyCoding::Adaptive => 0,
        };
        if i64::from(center).abs() > MAX_CENTER {
            return Err(Error::Corrupt(format!(
                "band center {center} is out of range"
            )));
        }
        params.push(BandQuant { step_code, center });
        zero.push(false);
    }
    r.finish()?;
    Ok((allocation, params, zero))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_codes_round_trip_and_small_ones_are_short() {
        let values = [0, 1, -1, 2, -3, 127, -128, 1 << 20, i32::MAX, i32::MIN];
        let mut w = BitWriter::new();
        for v in values {
            put_signed(&mut w, v);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for v in values {
            assert_eq!(get_signed(&mut r, "v").unwrap(), v);
        }
        let mut w = BitWriter::new();
        put_signed(&mut w, 0);
        put_signed(&mut w, -1);
        put_signed(&mut w, 1);
        // 1 + 3 + 3 bits.
        // `1`, `010` and `011` (zigzag: −1 is 1, +1 is 2), the first bit lowest.
        assert_eq!(w.finish(), vec![0b0110_0101]);
        // 40 zeros never end: an error, not a loop.
        let mut r = BitReader::new(&[0u8; 6]);
        assert!(get_signed(&mut r, "v").is_err());
    }

    #[test]
    fn a_step_code_delta_past_i32_is_corrupt_not_an_overflow() {
        let table = bands(4, 4, 1);
        let mut w = BitWriter::new();
        w.put(0, 1); // no channel offsets
        w.put(0, 4); // no level offsets
        w.put(1, 1); // band 0 coded,
        put_signed(&mut w, i32::MAX); // its step code far past any
        put_signed(&mut w, 0);
        let bytes = w.finish();
        let r = read_band_params(
            &bytes,
            EntropyCoding::Tables,
            (4, &table),
            (50, Wavelet::Cdf53),
        );
        assert!(matches!(r, Err(Error::Corrupt(_))), "{r:?}");
    }
}

//! The coder: interleaved rANS over bands, each with its own static model, integer-only.
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

use super::choice::histogram;
use super::model::{nonzero_range, BandModel, Model};
use super::table::{read_tables, write_tables};
use crate::error::{Error, Result};

/// Number of interleaved rANS states.
pub const LANES: usize = 4;

/// Lower bound of the normalised state interval `[RANS_L, 2^32)`.
const RANS_L: u32 = 1 << 16;

/// An encoded set of bands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    let tables = write_tables(models);

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
    let models = read_tables(tables, band_lens)?;
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
    use super::super::model::xorshift;
    use super::*;

    fn round_trip(bands: &[Vec<u8>]) -> Encoded {
        let refs: Vec<&[u8]> = bands.iter().map(Vec::as_slice).collect();
        let enc = encode_bands(&refs).unwrap();
        let lens: Vec<usize> = bands.iter().map(Vec::len).collect();
        let mut out = vec![0u8; lens.iter().sum()];
        decode_bands(&enc.tables, &enc.payload, &lens, &mut out).unwrap();
        assert_eq!(out, bands.concat());
        enc
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
}

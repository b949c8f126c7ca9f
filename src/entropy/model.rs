//! The model of one band: what the table describes and both sides code with. The encoder's
//! choice of a model is `choice.rs`, its table code `table.rs`.

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
pub struct BandModel(pub(super) Model);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Model {
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

/// The smallest and largest index with a nonzero entry, `None` if all are zero. Scans 16
/// entries at a time (the model choice calls it per band, and most bands are short).
pub(super) fn nonzero_range(v: &[u32; 256]) -> Option<(usize, usize)> {
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
}

/// A small deterministic generator (xorshift32) for the table-driven tests.
#[cfg(test)]
pub(super) fn xorshift(mut seed: u32) -> impl FnMut() -> u32 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    }
}

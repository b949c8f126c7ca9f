//! How the quantiser spreads its steps over a latent's channels and wavelet levels: integer
//! offsets added to each band's starting step code, from a model's calibration
//! ([`crate::vae::Calibration`]).
//!
//! A band's step is `base_step(quality) / sqrt(gain)` with no allocation: every coefficient is
//! worth the same to the latent's squared error. A decoder is not equally sensitive to every
//! channel and every frequency, so a calibrated model weighs each coefficient by `W`, the image
//! error one unit of its error causes; rate–distortion theory (equal slope, the high-rate form
//! of reverse water-filling) then gives each band the step `∝ 1 / sqrt(gain · W)`. Offsets are
//! in step-code units (eight per octave of step), so `W` four times larger is a step code 8
//! lower. Channels a decoder ignores get steps so coarse that their bands are constant and cost
//! a few bits.
//!
//! The offsets only choose the step codes the encoder writes: streams carry every band's step,
//! so decoding needs no allocation.

use crate::error::{Error, Result};
use crate::layout::{Band, Orientation};

/// Largest offset magnitude, in step codes (16 octaves of step).
pub const MAX_OFFSET: i32 = 128;

/// Step-code offsets per channel and per wavelet level. The default is uniform (no offsets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepAllocation {
    /// One offset per latent channel (the channels the quantiser sees, after the Hadamard
    /// stage); empty: none.
    channels: Vec<i16>,
    /// `levels[0]` for the LL band, `levels[l]` for the detail bands of level `l` (1 finest);
    /// levels past the end take the last entry; empty: none.
    levels: Vec<i16>,
}

impl StepAllocation {
    /// No offsets: every band at its quality's step (the allocation of an uncalibrated model).
    pub fn uniform() -> Self {
        Self::default()
    }

    /// Offsets per channel and per level (`levels[0]`: LL; `levels[l]`: detail level `l`),
    /// each within `±MAX_OFFSET`.
    pub fn new(channels: Vec<i16>, levels: Vec<i16>) -> Result<Self> {
        if let Some(o) = channels
            .iter()
            .chain(&levels)
            .find(|o| i32::from(o.unsigned_abs()) > MAX_OFFSET)
        {
            return Err(Error::InvalidInput(format!(
                "step offset {o} is outside ±{MAX_OFFSET}"
            )));
        }
        Ok(Self { channels, levels })
    }

    /// Whether it changes nothing.
    pub fn is_uniform(&self) -> bool {
        self.channels.iter().chain(&self.levels).all(|&o| o == 0)
    }

    /// The per-channel offsets (empty when uniform across channels).
    pub fn channel_offsets(&self) -> &[i16] {
        &self.channels
    }

    /// The per-level offsets (`[0]`: LL; empty when uniform across levels).
    pub fn level_offsets(&self) -> &[i16] {
        &self.levels
    }

    /// Checks that it fits a latent of `channels` channels: an allocation made for another
    /// channel count is a wrong model, not a detail.
    pub fn check(&self, channels: usize) -> Result<()> {
        if self.channels.is_empty() || self.channels.len() == channels {
            return Ok(());
        }
        Err(Error::InvalidInput(format!(
            "the step allocation is for a {}-channel latent, this latent has {channels}: \
             calibrate the model the latent comes from",
            self.channels.len()
        )))
    }

    /// The offset of `band` of `channel`, in step codes.
    pub fn offset(&self, channel: usize, band: &Band) -> i32 {
        let c = self.channels.get(channel).copied().unwrap_or(0);
        let level = match band.orientation {
            Orientation::LL => 0,
            _ => usize::from(band.level),
        };
        let l = match self.levels.get(level) {
            Some(&o) => o,
            None => self.levels.last().copied().unwrap_or(0),
        };
        i32::from(c) + i32::from(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::bands;

    #[test]
    fn offsets_add_channel_and_level_and_extend_the_last_level() {
        let a = StepAllocation::new(vec![0, -8, 16], vec![-2, 0, 3]).unwrap();
        let table = bands(32, 32, 4);
        let ll = &table[0];
        assert_eq!(ll.orientation, Orientation::LL);
        assert_eq!(a.offset(1, ll), -8 - 2);
        let fine = table.iter().find(|b| b.level == 1).unwrap();
        assert_eq!(a.offset(2, fine), 16);
        let coarse = table.iter().rfind(|b| b.level == 4).unwrap();
        assert_eq!(a.offset(0, coarse), 3, "level 4 takes the last entry");
        assert!(a.check(3).is_ok() && a.check(4).is_err());
        assert!(
            StepAllocation::uniform().is_uniform() && StepAllocation::uniform().check(7).is_ok()
        );
        assert!(StepAllocation::new(vec![200], vec![]).is_err());
    }
}

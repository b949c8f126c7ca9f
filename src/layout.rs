//! The band layout every stage, component and the bitstream share: which wavelet, how many
//! levels fit a plane, and the table of bands a plane splits into.
//!
//! A plane of `h × w` coefficients after `L` levels is in Mallat layout (in place: the output
//! has the input's shape). Level `l` transforms the LL region left by level `l − 1`: a side of
//! `n` splits into `ceil(n/2)` low and `floor(n/2)` high samples, written `[low | high]`. Levels
//! are clamped so that no band is empty: a level needs both sides of its region ≥ 2.
//!
//! The band table lists LL first, then from the coarsest level to the finest `HL, LH, HH`.
//! That order is also the **coding order** of symbols: a channel's symbols are its bands one
//! after another, each in raster order (see [`Symbols`](crate::components::Symbols)).

/// Which lifting wavelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Wavelet {
    /// CDF 5/3 (LeGall), the default.
    #[default]
    Cdf53,
    /// Haar.
    Haar,
}

impl Wavelet {
    /// The code written to the stream (and read by the wavelet kernel).
    pub fn code(self) -> u8 {
        match self {
            Wavelet::Cdf53 => 0,
            Wavelet::Haar => 1,
        }
    }

    /// The wavelet of a stream code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Wavelet::Cdf53),
            1 => Some(Wavelet::Haar),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Wavelet::Cdf53 => "cdf53",
            Wavelet::Haar => "haar",
        }
    }

    /// Energy of the 1D synthesis filters `(low, high)`: how much a unit error in a low or high
    /// coefficient costs in the reconstruction. Used to weight quantiser steps per band.
    pub fn synthesis_gains(self) -> (f32, f32) {
        match self {
            // low synthesis [½, 1, ½]; high synthesis [−⅛, −¼, ¾, −¼, −⅛]
            Wavelet::Cdf53 => (1.5, 0.71875),
            // low synthesis [1, 1]; high synthesis [−½, ½]
            Wavelet::Haar => (2.0, 0.5),
        }
    }
}

/// Band orientation. `HL` is high-pass along x (right of LL), `LH` high-pass along y (below).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orientation {
    /// Low-pass both ways (only at the coarsest level).
    LL,
    /// High along x, low along y.
    HL,
    /// Low along x, high along y.
    LH,
    /// High both ways.
    HH,
}

/// One band of a Mallat layout: a rectangle of its plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Band {
    /// 1 is the finest level; the LL band carries the coarsest level (0 for a plane with no
    /// level at all).
    pub level: u8,
    /// Orientation.
    pub orientation: Orientation,
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width (≥ 1).
    pub w: usize,
    /// Height (≥ 1).
    pub h: usize,
}

impl Band {
    /// Number of coefficients.
    pub fn len(&self) -> usize {
        self.w * self.h
    }

    /// Always false: bands are never empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Synthesis energy gain of the band: the squared-error weight of its coefficients.
    pub fn gain(&self, wavelet: Wavelet) -> f32 {
        let (lo, hi) = wavelet.synthesis_gains();
        let coarser = lo.powi(2 * (i32::from(self.level) - 1));
        coarser
            * match self.orientation {
                Orientation::LL => lo * lo,
                Orientation::HL | Orientation::LH => lo * hi,
                Orientation::HH => hi * hi,
            }
    }

    /// The band's rows in a plane of row stride `w` (Mallat layout), top to bottom: its values
    /// in raster order, the order they are coded in.
    pub(crate) fn rows<T>(self, plane: &[T], w: usize) -> impl Iterator<Item = &[T]> {
        (self.y..self.y + self.h).map(move |y| &plane[y * w + self.x..y * w + self.x + self.w])
    }

    /// [`rows`](Self::rows), mutably.
    pub(crate) fn rows_mut<T>(self, plane: &mut [T], w: usize) -> impl Iterator<Item = &mut [T]> {
        plane
            .chunks_exact_mut(w)
            .skip(self.y)
            .take(self.h)
            .map(move |row| &mut row[self.x..self.x + self.w])
    }
}

/// Most levels an `h × w` plane can take with no empty band.
pub fn max_levels(h: usize, w: usize) -> u8 {
    let (mut h, mut w, mut l) = (h, w, 0u8);
    while h >= 2 && w >= 2 {
        h = h.div_ceil(2);
        w = w.div_ceil(2);
        l += 1;
    }
    l
}

/// The regions of an `h × w` plane with `levels` levels (clamped to [`max_levels`]):
/// `regions[l]` is the LL region `(height, width)` that level `l + 1` transforms, and the last
/// entry is the final LL band (so there are `levels + 1` entries, the first the whole plane).
pub fn regions(h: usize, w: usize, levels: u8) -> Vec<(usize, usize)> {
    let levels = levels.min(max_levels(h, w));
    let mut out = Vec::with_capacity(usize::from(levels) + 1);
    out.push((h, w));
    for _ in 0..levels {
        let (a, b) = out[out.len() - 1];
        out.push((a.div_ceil(2), b.div_ceil(2)));
    }
    out
}

/// The band table of an `h × w` plane after `levels` levels (clamped to [`max_levels`]):
/// LL first, then from the coarsest level to the finest `HL, LH, HH`. This is also the order in
/// which bands are quantised and entropy coded.
pub fn bands(h: usize, w: usize, levels: u8) -> Vec<Band> {
    let sizes = regions(h, w, levels);
    let levels = sizes.len() - 1;
    let (lh, lw) = sizes[levels];
    let mut out = Vec::with_capacity(1 + 3 * levels);
    out.push(Band {
        level: levels as u8,
        orientation: Orientation::LL,
        x: 0,
        y: 0,
        w: lw,
        h: lh,
    });
    for level in (1..=levels).rev() {
        let (rh, rw) = sizes[level - 1];
        let (lh, lw) = sizes[level];
        let at = |orientation, x, y, w, h| Band {
            level: level as u8,
            orientation,
            x,
            y,
            w,
            h,
        };
        out.push(at(Orientation::HL, lw, 0, rw - lw, lh));
        out.push(at(Orientation::LH, 0, lh, lw, rh - lh));
        out.push(at(Orientation::HH, lw, lh, rw - lw, rh - lh));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_table_tiles_the_plane() {
        for (h, w) in [(1, 1), (2, 2), (17, 9), (96, 64), (61, 97)] {
            for levels in 0..=max_levels(h, w) + 1 {
                let bs = bands(h, w, levels);
                let mut cover = vec![0u8; h * w];
                for b in &bs {
                    assert!(!b.is_empty(), "{h}x{w} L{levels}: empty band {b:?}");
                    for y in b.y..b.y + b.h {
                        for x in b.x..b.x + b.w {
                            cover[y * w + x] += 1;
                        }
                    }
                }
                assert!(cover.iter().all(|&c| c == 1), "{h}x{w} L{levels}");
                assert_eq!(bs.len(), 1 + 3 * levels.min(max_levels(h, w)) as usize);
            }
        }
    }

    #[test]
    fn max_levels_examples() {
        assert_eq!(max_levels(1, 1), 0);
        assert_eq!(max_levels(1, 17), 0);
        assert_eq!(max_levels(2, 2), 1);
        assert_eq!(max_levels(96, 64), 6);
        assert_eq!(max_levels(3, 5), 2);
    }

    #[test]
    fn regions_halve_rounding_up() {
        assert_eq!(regions(17, 9, 3), vec![(17, 9), (9, 5), (5, 3), (3, 2)]);
        assert_eq!(regions(17, 9, 9).len(), usize::from(max_levels(17, 9)) + 1);
        assert_eq!(regions(1, 5, 2), vec![(1, 5)]);
    }

    #[test]
    fn band_rows_read_and_write_the_rectangle() {
        let (h, w) = (5usize, 7usize);
        let mut plane: Vec<usize> = (0..h * w).collect();
        let b = bands(h, w, 1)[3]; // HH: x 4.., y 3..
        let read: Vec<usize> = b.rows(&plane, w).flatten().copied().collect();
        assert_eq!(read, [25, 26, 27, 32, 33, 34]);
        for row in b.rows_mut(&mut plane, w) {
            row.fill(0);
        }
        assert_eq!(plane.iter().filter(|&&v| v == 0).count(), 1 + b.len());
    }
}

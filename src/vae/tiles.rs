//! Tiled VAE calls: an image larger than the model's tile is coded as overlapping tiles, and
//! each tile's result is blended into the whole with linear ramps across its overlaps (the
//! technique diffusers offers as VAE tiling). A session call then holds one tile, not the
//! image, so the VAE's working memory is bounded by the tile.
//!
//! The grid is laid out in latent units, so that encoder and decoder tiles line up: an
//! encoder tile is `f` times its latent tile in pixels, a decoder tile decodes one latent
//! tile. Tiling never changes the stream: it only changes how the VAE is called.

/// Where tiles lie along one axis of the latent: equal tiles covering `0..len`, each
/// overlapping the next by at least the asked overlap, the first at 0 and the last ending
/// at `len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Axis {
    starts: Vec<usize>,
    tile: usize,
    len: usize,
}

impl Axis {
    /// Tiles of `tile` latent units overlapping by at least `overlap` (`overlap < tile`), or
    /// one tile of `len` when `len <= tile`.
    pub fn new(len: usize, tile: usize, overlap: usize) -> Self {
        debug_assert!(len > 0 && tile > overlap);
        if len <= tile {
            return Self {
                starts: vec![0],
                tile: len,
                len,
            };
        }
        let stride = tile - overlap;
        // The fewest tiles whose strides cover the length, then spread evenly so that every
        // overlap is at least `overlap`.
        let n = (len - overlap).div_ceil(stride);
        let span = len - tile;
        let starts = (0..n).map(|i| i * span / (n - 1)).collect();
        Self { starts, tile, len }
    }

    /// The tiles' first positions, in order.
    pub fn starts(&self) -> &[usize] {
        &self.starts
    }

    /// The axis's length.
    pub fn extent(&self) -> usize {
        self.len
    }

    /// Every tile's length.
    pub fn tile(&self) -> usize {
        self.tile
    }

    /// The blend weights of tile `k` at `scale` samples per latent unit (1 in the latent,
    /// the downsample factor in the image): 1 inside, rising linearly across the overlap
    /// with the previous tile and falling across the overlap with the next, so that two
    /// neighbours' weights sum to 1 over their overlap. Always positive.
    pub fn weights(&self, k: usize, scale: usize) -> Vec<f32> {
        let n = self.tile * scale;
        let overlap = |a: usize, b: usize| (self.starts[a] + self.tile - self.starts[b]) * scale;
        let before = (k > 0).then(|| overlap(k - 1, k));
        let after = (k + 1 < self.starts.len()).then(|| overlap(k, k + 1));
        (0..n)
            .map(|p| {
                let mut w = 1f32;
                if let Some(o) = before.filter(|&o| p < o) {
                    w = w.min((p as f32 + 0.5) / o as f32);
                }
                if let Some(o) = after.filter(|&o| p >= n - o) {
                    w = w.min(((n - p) as f32 - 0.5) / o as f32);
                }
                w
            })
            .collect()
    }

    /// The sum of every tile's weight at each of the `len × scale` samples: what blended
    /// values are divided by (1 wherever at most two tiles meet; more where three do).
    pub fn totals(&self, scale: usize) -> Vec<f32> {
        let mut sum = vec![0f32; self.len * scale];
        for (k, &s) in self.starts.iter().enumerate() {
            for (t, w) in sum[s * scale..].iter_mut().zip(self.weights(k, scale)) {
                *t += w;
            }
        }
        sum
    }
}

/// A 2-D grid of tiles over a `lh × lw` latent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Rows of tiles.
    pub y: Axis,
    /// Columns of tiles.
    pub x: Axis,
}

impl Grid {
    /// The grid for a `lh × lw` latent, or `None` when the latent fits one tile (`tile` and
    /// `overlap` in latent units; a `tile` of 0 never tiles).
    pub fn new(lh: usize, lw: usize, tile: usize, overlap: usize) -> Option<Self> {
        if tile == 0 || (lh <= tile && lw <= tile) {
            return None;
        }
        let overlap = overlap.min(tile / 2);
        Some(Self {
            y: Axis::new(lh, tile, overlap),
            x: Axis::new(lw, tile, overlap),
        })
    }

    /// Every tile as (row, column, y start, x start), row by row.
    pub fn tiles(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        self.y.starts().iter().enumerate().flat_map(move |(r, &y)| {
            self.x
                .starts()
                .iter()
                .enumerate()
                .map(move |(c, &x)| (r, c, y, x))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_short_axis_is_one_tile() {
        let a = Axis::new(40, 64, 8);
        assert_eq!((a.starts(), a.tile()), (&[0][..], 40));
        assert!(a.weights(0, 8).iter().all(|&w| w == 1.0));
        assert!(Grid::new(64, 64, 64, 8).is_none());
        assert!(Grid::new(65, 10, 0, 8).is_none());
    }

    proptest! {
        #[test]
        fn tiles_cover_the_axis_and_weights_blend_to_one(
            len in 1usize..600, tile in 2usize..130, overlap in 0usize..64, scale in 1usize..9
        ) {
            let overlap = overlap.min(tile / 2);
            let a = Axis::new(len, tile, overlap);
            let s = a.starts();
            prop_assert_eq!(s[0], 0);
            prop_assert_eq!(s[s.len() - 1] + a.tile(), len);
            for w in s.windows(2) {
                prop_assert!(w[0] < w[1], "{:?}", s);
                prop_assert!(w[0] + a.tile() >= w[1] + overlap, "overlap below {}: {:?}", overlap, s);
            }
            let totals = a.totals(scale);
            prop_assert_eq!(totals.len(), len * scale);
            for k in 0..s.len() {
                prop_assert!(a.weights(k, scale).iter().all(|&w| w > 0.0 && w <= 1.0));
            }
            // Where at most two tiles meet, neighbours' ramps sum to exactly one.
            let triple = s.windows(3).any(|w| w[0] + a.tile() > w[2]);
            if !triple {
                prop_assert!(totals.iter().all(|&t| (t - 1.0).abs() < 1e-5), "{:?}", totals);
            }
            prop_assert!(totals.iter().all(|&t| t >= 0.5));
        }
    }
}

//! Hadamard transform across channels: decorrelates each group of 4 latent channels.
//!
//! `H4 = ½·[[1,1,1,1],[1,1,−1,−1],[1,−1,−1,1],[1,−1,1,−1]]` is orthonormal and symmetric, so it
//! is its own inverse and preserves energy (quantisation error in `Yuvw` is error in `Latent`).

use crate::components::{Latent, Yuvw};
use crate::error::{Error, Result};
use crate::system::{map_tensors, Direction, System};
use crate::tensor::TensorRef;
use crate::world::{ComponentId, Entity, World};

/// CPU reference: applies `H4` per pixel to each group of 4 channels of a `[C, h·w]` plane set.
/// `x` and `y` hold `channels * plane` values; `channels` must be a multiple of 4.
pub fn hadamard4(x: &[f32], y: &mut [f32], channels: usize, plane: usize) {
    debug_assert_eq!(channels % 4, 0);
    debug_assert_eq!(x.len(), channels * plane);
    for g in 0..channels / 4 {
        let base = 4 * g * plane;
        let (x0, rest) = x[base..base + 4 * plane].split_at(plane);
        let (x1, rest) = rest.split_at(plane);
        let (x2, x3) = rest.split_at(plane);
        let (y0, rest) = y[base..base + 4 * plane].split_at_mut(plane);
        let (y1, rest) = rest.split_at_mut(plane);
        let (y2, y3) = rest.split_at_mut(plane);
        for p in 0..plane {
            let (a, b, c, d) = (x0[p], x1[p], x2[p], x3[p]);
            y0[p] = 0.5 * ((a + b) + (c + d));
            y1[p] = 0.5 * ((a + b) - (c + d));
            y2[p] = 0.5 * ((a - b) - (c - d));
            y3[p] = 0.5 * ((a - b) + (c - d));
        }
    }
}

/// Validates a `[C, h, w]` f32 latent-like tensor for the Hadamard stage.
pub(crate) fn check_chw(t: &TensorRef, what: &str) -> Result<(usize, usize, usize)> {
    match *t.shape() {
        [c, h, w] if c > 0 && c % 4 == 0 && h > 0 && w > 0 => Ok((c, h, w)),
        [c, _, _] if c % 4 != 0 || c == 0 => Err(Error::InvalidInput(format!(
            "{what} has {c} channels; the Hadamard stage needs a positive multiple of 4"
        ))),
        _ => Err(Error::InvalidInput(format!(
            "{what} must be a non-empty [C, h, w] tensor, got shape {:?}",
            t.shape()
        ))),
    }
}

/// The Hadamard system: `Latent → Yuvw` forward, `Yuvw → Latent` inverse.
#[derive(Debug, Clone, Copy)]
pub struct Hadamard {
    direction: Direction,
}

impl Hadamard {
    /// `Latent → Yuvw`.
    pub fn forward() -> Self {
        Self {
            direction: Direction::Forward,
        }
    }

    /// `Yuvw → Latent`.
    pub fn inverse() -> Self {
        Self {
            direction: Direction::Inverse,
        }
    }
}

impl System for Hadamard {
    fn name(&self) -> &'static str {
        match self.direction {
            Direction::Forward => "hadamard",
            Direction::Inverse => "hadamard⁻¹",
        }
    }

    fn direction(&self) -> Direction {
        self.direction
    }

    fn required(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<Latent>()],
            Direction::Inverse => vec![ComponentId::of::<Yuvw>()],
        }
    }

    fn produced(&self) -> Vec<ComponentId> {
        match self.direction {
            Direction::Forward => vec![ComponentId::of::<Yuvw>()],
            Direction::Inverse => vec![ComponentId::of::<Latent>()],
        }
    }

    fn run(&self, world: &mut World, entities: &[Entity]) -> Result<()> {
        let dir = self.direction;
        let done = map_tensors::<f32, f32, (), (), _, _>(
            world,
            entities,
            |w, e| {
                let t = match dir {
                    Direction::Forward => w.get::<Latent>(e)?.tensor,
                    Direction::Inverse => w.get::<Yuvw>(e)?.tensor,
                };
                check_chw(&t, "latent")?;
                Ok((t, t.shape().to_vec(), ()))
            },
            |x, y, t, _| {
                hadamard4(x, y, t.shape()[0], t.shape()[1] * t.shape()[2]);
                Ok(())
            },
        )?;
        for (e, tensor, (), ()) in done {
            match dir {
                Direction::Forward => world.insert(e, Yuvw { tensor })?,
                Direction::Inverse => world.insert(e, Latent { tensor })?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_matrix_and_is_its_own_inverse() {
        let x = [1.0f32, 2.0, 3.0, 4.0];
        let mut y = [0.0; 4];
        hadamard4(&x, &mut y, 4, 1);
        assert_eq!(y, [5.0, -2.0, 0.0, -1.0]);
        let mut z = [0.0; 4];
        hadamard4(&y, &mut z, 4, 1);
        assert_eq!(z, x);
    }
}

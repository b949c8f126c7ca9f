//! The residual layer: quality past the VAE's ceiling.
//!
//! The encoder rebuilds the base image exactly as the decoder will (the base stream through
//! the latent decoder chain and the VAE's decoder), optionally smooths it ([`GaussianBlur`],
//! `ReconRgb → BlurRgb`), and codes what the base misses ([`ResidualCompute`],
//! `Rgb − prediction → Residual`) with the same stages as a latent: the residual's planes are
//! a `[4, H, W]` latent (Y, Co, Cg in units of [`UNIT`] pixel levels, and a fourth plane of
//! zeros that costs a flag per band) through the CDF 5/3 wavelet, the dead-zone quantiser and
//! the entropy coder of [`LatentCodec`](crate::LatentCodec), on the CPU or the GPU like any latent. The decoder
//! adds the decoded planes back ([`ResidualAdd`]). The residual's stream is an enhancement
//! layer after the base's ([`crate::bitstream::layers`]); a decoder may stop at the base.
//!
//! ```text
//! encode: Rgb ─VAE, latent chain→ base stream ─latent chain⁻¹, VAE⁻¹→ ReconRgb
//!         [GaussianBlur → BlurRgb] → ResidualCompute(Rgb − prediction) → Residual
//!         ─residual latent chain→ enhancement stream
//! decode: base stream → ReconRgb [→ BlurRgb] ; enhancement stream → Latent
//!         → ResidualAdd(prediction + planes) → ReconRgb
//! ```

pub mod blur;
pub mod chain;
pub mod colour;
pub mod knob;
mod settings;
mod systems;

pub use settings::{plane_allocation, ResidualSettings, LEVELS, PLANES, UNIT};
pub use systems::{EnhancementLayer, GaussianBlur, JoinLayers, ResidualAdd, ResidualCompute};

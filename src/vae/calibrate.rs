//! Model calibration: how much image error each latent channel and wavelet level causes per
//! unit of quantisation error, measured once per decoder and turned into the quantiser's step
//! allocation ([`StepAllocation`]).
//!
//! The measurement: for each calibration image, the encoder's latent `z` is perturbed by
//! uniform noise (the shape of quantisation error) in one place at a time, in the domain the
//! quantiser works in (after the Hadamard stage), and decoded; the image's squared error
//! against the unperturbed decode, over the noise's energy, is that place's weight.
//! - per channel: noise in one channel, all frequencies;
//! - per wavelet level: noise in every channel, only in the bands of one level (or the LL
//!   band), synthesised by the inverse wavelet; its weight relative to all-frequency noise says
//!   how the decoder responds to that level's frequencies.
//!
//! Weights are image squared error on the 0..1 scale (all three colours) per unit squared
//! error of one latent coefficient. The latent's own mean and spread per channel are kept too,
//! to tell a latent that is far from what the model makes (a wrong input range, a wrong model).
//!
//! A calibration is a small TOML file keyed by the decoder's SHA-256. The embedded model ships
//! its own; others are found as the config names them, beside the decoder file
//! (`<decoder>.calibration.toml`) or in the cache ([`cache_dir`]); `vaerans models --calibrate
//! NAME --images DIR` makes one. Calibrate on training images, never on the images a codec is
//! evaluated on.

use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::{pixels, ModelFile, Vae, DEFAULT_MODEL_NAME};
use crate::components::ChannelTransform;
use crate::error::{Error, Result};
use crate::latent::{StepAllocation, DEFAULT_LEVELS};
use crate::layout::{bands, regions, Orientation, Wavelet};

/// The embedded model's calibration (made by `vaerans models --calibrate` on BSDS500 training
/// images; see `models/README.md`).
const EMBEDDED: &str = include_str!("../../models/vaerans-small-v1/calibration.toml");

/// Image squared error per pixel (0..1 scale, three colours summed) that one unit of latent
/// squared error, spread evenly over a latent's coefficients, costs the reference: the
/// allocation's zero point. A model whose coefficients weigh exactly this (per pixel, so a
/// model with more coefficients per pixel weighs each less) gets no offsets; the figure is the
/// embedded model's, so its steps stay centred where its quality scale was tuned, and every
/// calibrated model's quality then means about the same image error.
const REFERENCE_WEIGHT_PER_PIXEL: f64 = 0.165;

/// Step codes per octave of step, as [`step_from_code`](crate::latent::quantize::step_from_code)
/// lays them out.
const CODES_PER_OCTAVE: f64 = 8.0;

/// What one calibration run measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationOptions {
    /// Images used (the first this many of those given, in order).
    pub images: usize,
    /// Side of the centred square crop taken from each image, in pixels (rounded down to the
    /// downsample factor; smaller images use their own size).
    pub crop: usize,
    /// Noise amplitude as a fraction of the latent's RMS.
    pub noise: f32,
    /// Wavelet levels measured.
    pub levels: u8,
}

impl Default for CalibrationOptions {
    /// 16 images, 256-pixel crops, noise at 10% of the latent's RMS, [`DEFAULT_LEVELS`].
    fn default() -> Self {
        Self {
            images: 16,
            crop: 256,
            noise: 0.1,
            levels: DEFAULT_LEVELS,
        }
    }
}

/// A model's measured sensitivities and latent statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The model's name when it was measured (informative: matching is by hash).
    pub model: String,
    /// SHA-256 of the decoder file, hex: the calibration belongs to this decoder.
    pub decoder_sha256: String,
    /// Calibration images used.
    pub images: usize,
    /// Crop side used, pixels.
    pub crop: usize,
    /// The channel transform the codec uses with this model: `hadamard4` or `none`, the one
    /// with the lower estimated rate ([`Calibration::estimated_cost`]) when measured.
    pub channel_transform: String,
    /// Per latent channel as the model makes it: image squared error (0..1, three colours)
    /// per unit squared error of one coefficient.
    pub channel_weights: Vec<f64>,
    /// The same per channel after the Hadamard stage.
    pub hadamard_weights: Vec<f64>,
    /// Per wavelet level (`[0]` the LL band, `[l]` the detail bands of level `l`, 1 finest):
    /// the decoder's sensitivity to that level's frequencies relative to all-frequency noise.
    pub level_factors: Vec<f64>,
    /// Per latent channel: mean over the calibration images.
    pub latent_mean: Vec<f64>,
    /// Per latent channel: standard deviation over the calibration images.
    pub latent_std: Vec<f64>,
    /// Per channel after the Hadamard stage: standard deviation.
    pub hadamard_std: Vec<f64>,
}

/// Hex of a hash.
pub(crate) fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache folder for calibrations made on this machine: `$VAERANS_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/vaerans`, else `~/.cache/vaerans`; `None` when none is set.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("VAERANS_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|p| p.join("vaerans")))
        .or_else(|| var("HOME").map(|p| p.join(".cache").join("vaerans")))
}

/// Deterministic uniform noise in `[-a, a]` (xorshift64*): calibration is reproducible.
struct Noise(u64);

impl Noise {
    fn next(&mut self, a: f32) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32;
        a * (2.0 * u - 1.0)
    }
}

impl Calibration {
    /// The embedded model's calibration.
    pub fn embedded() -> Result<Self> {
        Self::parse(EMBEDDED, "the embedded calibration")
    }

    /// Parses a calibration file's text (`what` names it in errors).
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let c: Self =
            toml::from_str(text).map_err(|e| Error::Model(format!("calibration {what}: {e}")))?;
        let ok = |v: &[f64], positive: bool| {
            v.len() == c.channel_weights.len()
                && v.iter().all(|x| x.is_finite() && (!positive || *x > 0.0))
        };
        let levels_ok = !c.level_factors.is_empty()
            && c.level_factors.iter().all(|x| x.is_finite() && *x > 0.0);
        if c.channel_weights.is_empty()
            || !ok(&c.channel_weights, true)
            || !ok(&c.hadamard_weights, true)
            || !ok(&c.latent_mean, false)
            || !ok(&c.latent_std, false)
            || !ok(&c.hadamard_std, false)
            || !levels_ok
        {
            return Err(Error::Model(format!(
                "calibration {what} is inconsistent: it needs one positive weight (both ways), \
                 mean and standard deviation per channel and at least one positive level \
                 factor; calibrate the model again"
            )));
        }
        c.transform()
            .map_err(|e| Error::Model(format!("calibration {what}: {e}")))?;
        Ok(c)
    }

    /// Reads a calibration file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes it to `path` (through a temporary file, so a reader never sees half of it).
    pub fn save(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::io(path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = toml::to_string(self)
            .map_err(|e| Error::Internal(format!("serialising a calibration: {e}")))?;
        let tmp = path.with_extension("toml.partial");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Where a calibration of `vae`'s decoder is cached: `<cache_dir>/calibration/<sha>.toml`.
    pub fn cache_path(vae: &Vae) -> Option<PathBuf> {
        Some(
            cache_dir()?
                .join("calibration")
                .join(format!("{}.toml", hex(&vae.id().decoder_hash))),
        )
    }

    /// Checks that it belongs to `vae`'s decoder: its hash and channel count.
    pub fn check_model(&self, vae: &Vae) -> Result<()> {
        let sha = hex(&vae.id().decoder_hash);
        if self.decoder_sha256 != sha || self.channel_weights.len() != vae.latent_channels() {
            return Err(Error::Model(format!(
                "the calibration is for another decoder ({} channels, sha256 {}…), not model \
                 `{}` ({} channels, sha256 {}…); calibrate this model",
                self.channel_weights.len(),
                &self.decoder_sha256[..self.decoder_sha256.len().min(16)],
                vae.spec().name,
                vae.latent_channels(),
                &super::systems::hex8(&vae.id().decoder_hash)
            )));
        }
        Ok(())
    }

    /// The places a calibration of `vae` is looked for, in order: the config's
    /// `calibration`, `<decoder>.calibration.toml` beside a decoder file, the cache.
    pub fn search_paths(vae: &Vae) -> Vec<PathBuf> {
        let spec = vae.spec();
        let mut out = Vec::new();
        out.extend(spec.calibration.clone());
        if let ModelFile::Path(p) = &spec.decoder {
            let mut side = p.clone().into_os_string();
            side.push(".calibration.toml");
            out.push(side.into());
        }
        out.extend(Self::cache_path(vae));
        out
    }

    /// The calibration of `vae`'s decoder, if there is one: the embedded model's own, or the
    /// first of [`search_paths`](Self::search_paths) that exists and belongs to this decoder.
    /// A file for another decoder or another channel count is skipped with a warning.
    pub fn find(vae: &Vae) -> Result<Option<Self>> {
        let sha = hex(&vae.id().decoder_hash);
        if matches!(vae.spec().decoder, ModelFile::Embedded(_)) {
            let c = Self::embedded()?;
            if c.decoder_sha256 == sha {
                return Ok(Some(c));
            }
        }
        for path in Self::search_paths(vae) {
            if !path.is_file() {
                continue;
            }
            let c = Self::load(&path)?;
            if let Err(e) = c.check_model(vae) {
                tracing::warn!("{}: {e}; ignored", path.display());
                continue;
            }
            return Ok(Some(c));
        }
        Ok(None)
    }

    /// The channel transform it names.
    pub fn transform(&self) -> Result<ChannelTransform> {
        match self.channel_transform.as_str() {
            "hadamard4" => Ok(ChannelTransform::Hadamard4),
            "none" => Ok(ChannelTransform::None),
            other => Err(Error::Model(format!(
                "channel_transform `{other}` is neither `hadamard4` nor `none`"
            ))),
        }
    }

    /// The high-rate estimate of the rate a channel transform costs, up to a constant:
    /// `Σ_k ln(σ_k² · W_k)` over its channels (the rate of equal-slope quantisation is
    /// `½·log2(σ²·W / D)` a coefficient). Lower is better: mixing channels pays when it
    /// decorrelates them more than it averages their weights.
    pub fn estimated_cost(&self, transform: ChannelTransform) -> f64 {
        let (std, weights) = match transform {
            ChannelTransform::Hadamard4 => (&self.hadamard_std, &self.hadamard_weights),
            ChannelTransform::None => (&self.latent_std, &self.channel_weights),
        };
        std.iter()
            .zip(weights)
            .map(|(s, w)| (s * s * w).max(1e-30).ln())
            .sum()
    }

    /// The quantiser's step allocation from these weights, for a model with `downsample`
    /// (the zero point is the embedded model's weight per pixel): a band of channel `k` at level `l` weighs
    /// `W = weights[k] · level_factors[l]` (the weights of its [`transform`](Self::transform)'s
    /// domain) and its step moves by `−4·log2(W / W₀)`
    /// codes (step `∝ 1/√W`), `W₀` the reference spread over this model's coefficients.
    pub fn allocation(&self, downsample: usize) -> Result<StepAllocation> {
        let c = self.channel_weights.len() as f64;
        let per_pixel = c / (downsample * downsample).max(1) as f64;
        let w0 = REFERENCE_WEIGHT_PER_PIXEL / per_pixel;
        // Step codes for a weight `ratio` times its reference: step ∝ 1/√W.
        let offset = |ratio: f64| -> i16 {
            let o = -(CODES_PER_OCTAVE / 2.0) * ratio.log2();
            o.round().clamp(-64.0, 64.0) as i16
        };
        // Level factors are already relative to all-frequency noise: their reference is 1.
        let levels = self.level_factors.iter().map(|&f| offset(f)).collect();
        let weights = match self.transform()? {
            ChannelTransform::Hadamard4 => &self.hadamard_weights,
            ChannelTransform::None => &self.channel_weights,
        };
        StepAllocation::new(weights.iter().map(|&w| offset(w / w0)).collect(), levels)
    }

    /// Measures `vae` on `images` (see the module docs); `progress(done, total)` is called
    /// after each image.
    pub fn measure(
        vae: &Vae,
        images: &[RgbImage],
        options: &CalibrationOptions,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let f = vae.downsample();
        let channels = vae.latent_channels();
        if channels % 4 != 0 {
            return Err(Error::InvalidInput(format!(
                "model `{}` has {channels} latent channels; the codec needs a multiple of 4",
                vae.spec().name
            )));
        }
        let images = &images[..images.len().min(options.images)];
        if images.is_empty() {
            return Err(Error::InvalidInput(
                "calibration needs at least one image".into(),
            ));
        }
        let range = vae.spec().input_range;
        let scale = f64::from(range[1] - range[0]);
        let wavelet = Wavelet::Cdf53;
        // Sums over images: image squared error and noise energy per perturbation.
        let mut sums: Vec<(f64, f64)> = Vec::new();
        let (mut mean, mut square, mut count) = (vec![0f64; channels], vec![0f64; channels], 0f64);
        let (mut hmean, mut hsquare) = (vec![0f64; channels], vec![0f64; channels]);
        let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
        for (i, img) in images.iter().enumerate() {
            let (iw, ih) = (img.width() as usize, img.height() as usize);
            let side = options.crop.min(iw).min(ih) / f * f;
            if side < 2 * f {
                return Err(Error::InvalidInput(format!(
                    "calibration image {i} is {iw}×{ih}; it needs at least {} pixels a side",
                    2 * f
                )));
            }
            let (x0, y0) = ((iw - side) / 2, (ih - side) / 2);
            let mut crop = Vec::with_capacity(side * side * 3);
            for y in y0..y0 + side {
                let row = &img.as_raw()[(y * iw + x0) * 3..][..side * 3];
                crop.extend_from_slice(row);
            }
            let mut x = vec![0f32; 3 * side * side];
            pixels::rgb_to_planar(&crop, side, side, side, side, range, &mut x);
            let z = vae.encode_nchw(&x, 1, side, side)?;
            let (h, w) = (side / f, side / f);
            let plane = h * w;
            let mut y = vec![0f32; z.len()];
            crate::latent::hadamard::hadamard4(&z, &mut y, channels, plane);
            for (k, (p, q)) in z.chunks_exact(plane).zip(y.chunks_exact(plane)).enumerate() {
                for (&v, &u) in p.iter().zip(q) {
                    mean[k] += f64::from(v);
                    square[k] += f64::from(v) * f64::from(v);
                    hmean[k] += f64::from(u);
                    hsquare[k] += f64::from(u) * f64::from(u);
                }
            }
            count += plane as f64;
            let rms = (z.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / z.len() as f64).sqrt()
                as f32;
            let a = options.noise * rms.max(1e-6) * 3f32.sqrt();
            let table = bands(h, w, options.levels);
            let levels = regions(h, w, options.levels).len() - 1;
            // The perturbations, in the Hadamard domain: one per channel, then one per level;
            // then in the latent's own channels, one per channel.
            let mut deltas: Vec<Vec<f32>> = Vec::with_capacity(2 * channels + levels + 1);
            let mut one_channel = |k: usize| {
                let mut d = vec![0f32; channels * plane];
                for v in &mut d[k * plane..(k + 1) * plane] {
                    *v = noise.next(a);
                }
                d
            };
            for k in 0..channels {
                deltas.push(one_channel(k));
            }
            let raw: Vec<Vec<f32>> = (0..channels).map(one_channel).collect();
            for level in 0..=levels {
                let mut d = vec![0f32; channels * plane];
                for p in d.chunks_exact_mut(plane) {
                    for b in &table {
                        let of = match b.orientation {
                            Orientation::LL => 0,
                            _ => usize::from(b.level),
                        };
                        if of == level {
                            for row in b.rows_mut(p, w) {
                                for v in row {
                                    *v = noise.next(a);
                                }
                            }
                        }
                    }
                    crate::latent::wavelet::inverse_2d(wavelet, p, h, w, options.levels);
                }
                deltas.push(d);
            }
            // Raw-channel noise goes through the Hadamard stage below like the rest, so mix it
            // here: H4 is its own inverse.
            for d in raw {
                let mut mixed = vec![0f32; d.len()];
                crate::latent::hadamard::hadamard4(&d, &mut mixed, channels, plane);
                deltas.push(mixed);
            }
            if sums.is_empty() {
                sums = vec![(0.0, 0.0); deltas.len()];
            } else if sums.len() != deltas.len() {
                return Err(Error::InvalidInput(
                    "calibration images give different wavelet depths; use images at least \
                     the crop size"
                        .into(),
                ));
            }
            let base = vae.decode_nchw(&z, 1, h, w)?;
            let batch = vae.max_batch().clamp(1, 4);
            for (chunk_at, chunk) in deltas.chunks(batch).enumerate() {
                let mut zs = Vec::with_capacity(chunk.len() * z.len());
                for d in chunk {
                    let mut back = vec![0f32; d.len()];
                    crate::latent::hadamard::hadamard4(d, &mut back, channels, plane);
                    zs.extend(z.iter().zip(&back).map(|(a, b)| a + b));
                }
                let out = vae.decode_nchw(&zs, chunk.len(), h, w)?;
                for (j, (o, d)) in out.chunks_exact(base.len()).zip(chunk).enumerate() {
                    let err: f64 = o
                        .iter()
                        .zip(&base)
                        .map(|(a, b)| f64::from(a - b).powi(2))
                        .sum::<f64>()
                        / (scale * scale);
                    let energy: f64 = d.iter().map(|v| f64::from(*v).powi(2)).sum();
                    let s = &mut sums[chunk_at * batch + j];
                    s.0 += err;
                    s.1 += energy;
                }
            }
            progress(i + 1, images.len());
        }
        let ratio = |(e, n): (f64, f64)| if n > 0.0 { e / n } else { 0.0 };
        let hadamard_weights: Vec<f64> = sums[..channels].iter().map(|&s| ratio(s)).collect();
        let white = ratio(
            sums[..channels]
                .iter()
                .fold((0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1)),
        );
        let level_factors = sums[channels..sums.len() - channels]
            .iter()
            .map(|&s| ratio(s) / white)
            .collect();
        let channel_weights: Vec<f64> = sums[sums.len() - channels..]
            .iter()
            .map(|&s| ratio(s))
            .collect();
        let stats = |mean: &[f64], square: &[f64]| -> (Vec<f64>, Vec<f64>) {
            let m: Vec<f64> = mean.iter().map(|m| m / count).collect();
            let s = square
                .iter()
                .zip(&m)
                .map(|(s, m)| (s / count - m * m).max(0.0).sqrt())
                .collect();
            (m, s)
        };
        let (latent_mean, latent_std) = stats(&mean, &square);
        let (_, hadamard_std) = stats(&hmean, &hsquare);
        let weights_ok = channel_weights
            .iter()
            .chain(&hadamard_weights)
            .all(|w| *w > 0.0 && w.is_finite());
        if !weights_ok {
            return Err(Error::Model(format!(
                "model `{}`: the decoder does not respond to its latent (a channel's weight is \
                 zero or not finite); is the decoder right?",
                vae.spec().name
            )));
        }
        let mut c = Self {
            model: vae.spec().name.clone(),
            decoder_sha256: hex(&vae.id().decoder_hash),
            images: images.len(),
            crop: options.crop,
            channel_transform: String::new(),
            channel_weights,
            hadamard_weights,
            level_factors,
            latent_mean,
            latent_std,
            hadamard_std,
        };
        let mixed = c.estimated_cost(ChannelTransform::Hadamard4);
        let plain = c.estimated_cost(ChannelTransform::None);
        // Mixing is the default; dropping it must pay clearly, since the estimate ignores the
        // latent's spatial structure: a tenth of a nat a channel.
        c.channel_transform = if plain >= mixed - 0.1 * channels as f64 {
            ChannelTransform::Hadamard4
        } else {
            ChannelTransform::None
        }
        .name()
        .to_string();
        Ok(c)
    }

    /// A warning when a latent's per-channel statistics (`mean`, `std` of a `[C, h, w]`
    /// latent) are far from the calibration's: a wrong input range or a wrong model. `None`
    /// when they look like the model's own.
    pub fn check_latent(&self, mean: &[f64], std: &[f64]) -> Option<String> {
        if mean.len() != self.latent_mean.len() {
            return Some(format!(
                "the latent has {} channels, the model's calibration {}",
                mean.len(),
                self.latent_mean.len()
            ));
        }
        let spread: f64 = self.latent_std.iter().map(|s| s * s).sum::<f64>().sqrt();
        let (got, want): (f64, f64) = (
            std.iter().map(|s| s * s).sum::<f64>().sqrt(),
            spread.max(1e-9),
        );
        let shift: f64 = mean
            .iter()
            .zip(&self.latent_mean)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let ratio = got / want;
        if !(0.25..=4.0).contains(&ratio) || shift > 3.0 * want {
            return Some(format!(
                "the latent's spread is {ratio:.2}× and its mean {:.1} spreads away from what \
                 model `{}` makes on its calibration images: is the input range right \
                 (the model expects {})?",
                shift / want,
                self.model,
                if self.model == DEFAULT_MODEL_NAME {
                    "[-1, 1]".to_string()
                } else {
                    "the config's `input_range`".to_string()
                }
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::bands;

    fn calibration(weights: Vec<f64>, levels: Vec<f64>) -> Calibration {
        let c = weights.len();
        Calibration {
            model: "m".into(),
            decoder_sha256: "00".into(),
            images: 1,
            crop: 64,
            channel_transform: "hadamard4".into(),
            hadamard_weights: weights.clone(),
            channel_weights: weights,
            level_factors: levels,
            latent_mean: vec![0.0; c],
            latent_std: vec![1.0; c],
            hadamard_std: vec![1.0; c],
        }
    }

    /// Steps go `∝ 1/√W`: a channel four times as sensitive gets a step code 8 lower (an octave
    /// finer), the reference weight none, and more coefficients per pixel weigh each less.
    #[test]
    fn allocation_follows_the_square_root_of_the_weights() {
        let w0 = REFERENCE_WEIGHT_PER_PIXEL * 64.0 / 4.0;
        let a = calibration(vec![w0, 4.0 * w0, w0 / 4.0, w0], vec![1.0, 4.0, 0.25])
            .allocation(8)
            .unwrap();
        assert_eq!(a.channel_offsets(), &[0, -8, 8, 0]);
        assert_eq!(a.level_offsets(), &[0, -8, 8]);
        // The same weights over 16 channels: each coefficient is worth 4× more than the
        // reference's share, so every step is an octave finer.
        let b = calibration(vec![w0; 16], vec![1.0]).allocation(8).unwrap();
        assert!(b.channel_offsets().iter().all(|&o| o == -8), "{b:?}");
        let table = bands(16, 16, 2);
        assert_eq!(a.offset(1, &table[0]), -8, "LL of channel 1");
    }

    #[test]
    fn the_embedded_calibration_is_its_decoders_and_centred_on_its_quality_scale() {
        let c = Calibration::embedded().unwrap();
        let spec = super::super::ModelSpec::embedded_default();
        let sha = hex(&crate::vae::file_hash(&spec.decoder.bytes().unwrap()));
        assert_eq!(
            c.decoder_sha256, sha,
            "re-calibrate after retraining the model"
        );
        let a = c.allocation(spec.downsample).unwrap();
        let mean: f64 = a
            .channel_offsets()
            .iter()
            .map(|&o| f64::from(o))
            .sum::<f64>()
            / 4.0;
        assert!(mean.abs() <= 2.0, "{a:?}");
    }

    #[test]
    fn files_round_trip_and_inconsistent_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("vaerans-cal-{}", std::process::id()));
        let path = dir.join("c.toml");
        let c = calibration(vec![0.5, 0.25, 1.0, 2.0], vec![1.5, 1.0]);
        c.save(&path).unwrap();
        assert_eq!(Calibration::load(&path).unwrap(), c);
        std::fs::remove_dir_all(&dir).unwrap();
        for bad in [
            calibration(vec![0.5, 0.0, 1.0, 2.0], vec![1.0]),
            calibration(vec![0.5, f64::NAN, 1.0, 2.0], vec![1.0]),
            calibration(vec![0.5; 4], vec![]),
            Calibration {
                latent_std: vec![1.0; 3],
                ..calibration(vec![0.5; 4], vec![1.0])
            },
        ] {
            let text = toml::to_string(&bad).unwrap();
            let e = Calibration::parse(&text, "x").unwrap_err().to_string();
            assert!(
                e.contains("calibrate the model again") || e.contains("calibration x"),
                "{e}"
            );
        }
    }

    #[test]
    fn latents_far_from_the_calibration_are_reported() {
        let c = Calibration {
            latent_mean: vec![0.1, -0.2, 0.0, 0.3],
            latent_std: vec![1.0, 0.8, 0.9, 1.1],
            ..calibration(vec![1.0; 4], vec![1.0])
        };
        assert_eq!(
            c.check_latent(&[0.1, -0.1, 0.0, 0.2], &[0.9, 0.9, 1.0, 1.0]),
            None
        );
        // An image in [0, 255] fed to a [-1, 1] model: a latent many times too wide.
        let w = c
            .check_latent(&[0.1, -0.2, 0.0, 0.3], &[9.0, 8.0, 9.0, 11.0])
            .unwrap();
        assert!(w.contains("input range"), "{w}");
        assert!(c.check_latent(&[5.0, -5.0, 4.0, 0.0], &[1.0; 4]).is_some());
        assert!(c.check_latent(&[0.0; 8], &[1.0; 8]).is_some());
    }

    #[test]
    fn noise_is_uniform_in_its_range_and_reproducible() {
        let (mut a, mut b) = (Noise(7), Noise(7));
        let xs: Vec<f32> = (0..10_000).map(|_| a.next(2.0)).collect();
        assert!(xs.iter().all(|x| x.abs() <= 2.0));
        let var = xs.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!((var - 4.0 / 3.0).abs() < 0.05, "{var}");
        assert_eq!(xs[17], (0..18).map(|_| b.next(2.0)).last().unwrap());
    }
}

//! Model configuration: which ONNX files make a VAE, and how to talk to them.
//!
//! A TOML file names models: `$VAERANS_CONFIG` when it is set (a missing file is then an
//! error), else the first found of `vaerans.toml` in the working directory and
//! `~/.config/vaerans/config.toml`:
//!
//! ```toml
//! default = "sdxl-vae"          # optional: the model used when none is named
//!
//! [models.sdxl-vae]
//! encoder = "sdxl/vae_encoder.onnx"   # relative paths resolve against this file's folder
//! decoder = "sdxl/vae_decoder.onnx"
//! latent_channels = 4
//! downsample = 8
//! input_range = [-1.0, 1.0]
//! # Optional: images over `tile` pixels a side run through the VAE in overlapping tiles
//! # (0 never tiles), and the VAE's working memory per pixel [encoder, decoder], which the
//! # memory budget is checked with.
//! # tile = 512
//! # tile_overlap = 128
//! # memory_per_pixel = [1536, 1536]
//! # Only for graphs with several inputs or outputs:
//! # encoder_input = "sample"
//! # encoder_output = "latent_sample"
//! # decoder_input = "latent_sample"
//! # decoder_output = "sample"
//! ```
//!
//! A model can also be named by path: an encoder `.onnx` file whose decoder sits beside it
//! (`…encoder….onnx` ↔ `…decoder….onnx`), or a folder holding `encoder.onnx` and
//! `decoder.onnx` (or `vae_encoder.onnx` and `vae_decoder.onnx`). With no model named, the
//! config's `default`, else the embedded [`DEFAULT_MODEL_NAME`] model, is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::components::ModelId;
use crate::error::{Error, Result};

/// Name of the model embedded in the crate (see `models/README.md`).
pub const DEFAULT_MODEL_NAME: &str = "vaerans-small-v1";

static DEFAULT_ENCODER: &[u8] = include_bytes!("../../models/vaerans-small-v1/encoder.onnx");
static DEFAULT_DECODER: &[u8] = include_bytes!("../../models/vaerans-small-v1/decoder.onnx");

/// Where a model's graph comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelFile {
    /// An `.onnx` file on disk.
    Path(PathBuf),
    /// Bytes compiled into the library (the default model).
    Embedded(&'static [u8]),
}

impl ModelFile {
    /// Reads the graph's bytes.
    pub fn bytes(&self) -> Result<std::borrow::Cow<'static, [u8]>> {
        match self {
            Self::Embedded(b) => Ok(std::borrow::Cow::Borrowed(b)),
            Self::Path(p) => std::fs::read(p)
                .map(std::borrow::Cow::Owned)
                .map_err(|e| Error::io(p, e)),
        }
    }

    /// Whether the graph can be read (an embedded graph always can).
    pub fn exists(&self) -> bool {
        match self {
            Self::Embedded(_) => true,
            Self::Path(p) => p.is_file(),
        }
    }
}

impl std::fmt::Display for ModelFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(p) => write!(f, "{}", p.display()),
            Self::Embedded(b) => write!(f, "(embedded, {} bytes)", b.len()),
        }
    }
}

/// Everything needed to run one VAE. Made by [`ModelSpec::new`], [`ModelSpec::from_path`],
/// [`ModelSpec::embedded_default`] or a [`Config`]; its fields can then be set.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModelSpec {
    /// The name written into streams.
    pub name: String,
    /// The encoder graph: image `[N, 3, H, W]` → latent `[N, C, H/f, W/f]` (or `2C` moments).
    pub encoder: ModelFile,
    /// The decoder graph: latent `[N, C, h, w]` → image `[N, 3, h·f, w·f]`.
    pub decoder: ModelFile,
    /// Latent channels `C`; `None` reads it from the decoder's input shape.
    pub latent_channels: Option<usize>,
    /// Spatial downsample factor `f` (images are padded to a multiple of it).
    pub downsample: usize,
    /// The pixel range the model expects: u8 0 maps to `input_range[0]`, 255 to `[1]`.
    pub input_range: [f32; 2],
    /// Encoder input tensor name, for graphs with several inputs.
    pub encoder_input: Option<String>,
    /// Encoder output tensor name, for graphs with several outputs.
    pub encoder_output: Option<String>,
    /// Decoder input tensor name.
    pub decoder_input: Option<String>,
    /// Decoder output tensor name.
    pub decoder_output: Option<String>,
    /// Images whose padded width or height exceeds this many pixels are run through the VAE
    /// in overlapping tiles of this size (rounded down to the downsample factor), blended
    /// across the seams: the VAE's memory is then bounded by the tile, not the image. 0
    /// never tiles. Tiling changes decoded pixels slightly, never the stream format.
    pub tile: usize,
    /// Pixels by which neighbouring tiles overlap at least (at most half a tile).
    pub tile_overlap: usize,
    /// The VAE's working memory in bytes per image pixel of a session call, `[encoder,
    /// decoder]`: what [`Limits::max_memory`](crate::Limits::max_memory) is checked with.
    /// Measured for the embedded model; for others a deliberately high default that the
    /// config's `memory_per_pixel` corrects.
    pub memory_per_pixel: [u64; 2],
    /// A calibration file for this model (config key `calibration`); `None` looks beside the
    /// decoder and in the cache ([`Calibration::find`](super::Calibration::find)).
    pub calibration: Option<PathBuf>,
}

impl ModelSpec {
    /// A model with the SD-VAE defaults: downsample 8, input range [-1, 1], latent channels
    /// and tensor names read from the graphs.
    pub fn new(name: impl Into<String>, encoder: ModelFile, decoder: ModelFile) -> Self {
        Self::with_defaults(name.into(), encoder, decoder)
    }

    fn with_defaults(name: String, encoder: ModelFile, decoder: ModelFile) -> Self {
        Self {
            name,
            encoder,
            decoder,
            latent_channels: None,
            downsample: default_downsample(),
            input_range: default_range(),
            encoder_input: None,
            encoder_output: None,
            decoder_input: None,
            decoder_output: None,
            tile: default_tile(),
            tile_overlap: default_tile_overlap(),
            memory_per_pixel: default_memory_per_pixel(),
            calibration: None,
        }
    }

    /// The model embedded in the crate: 4 channels, downsample 8, input range [-1, 1].
    pub fn embedded_default() -> Self {
        Self {
            latent_channels: Some(4),
            memory_per_pixel: EMBEDDED_MEMORY_PER_PIXEL,
            tile: EMBEDDED_TILE,
            ..Self::with_defaults(
                DEFAULT_MODEL_NAME.into(),
                ModelFile::Embedded(DEFAULT_ENCODER),
                ModelFile::Embedded(DEFAULT_DECODER),
            )
        }
    }

    /// A model from an encoder `.onnx` path or a folder (see the module docs); its name is
    /// the file stem (or folder name), with the SD-VAE defaults (downsample 8, range [-1, 1]).
    pub fn from_path(path: &Path) -> Result<Self> {
        let (encoder, decoder) = if path.is_dir() {
            let pair = [
                ("encoder.onnx", "decoder.onnx"),
                ("vae_encoder.onnx", "vae_decoder.onnx"),
            ]
            .into_iter()
            .map(|(e, d)| (path.join(e), path.join(d)))
            .find(|(e, d)| e.is_file() && d.is_file());
            pair.ok_or_else(|| {
                Error::Model(format!(
                    "{} holds no encoder.onnx + decoder.onnx (or vae_encoder.onnx + vae_decoder.onnx)",
                    path.display()
                ))
            })?
        } else {
            let file = path
                .file_name()
                .and_then(|f| f.to_str())
                .ok_or_else(|| Error::Model(format!("{} is not a file name", path.display())))?;
            let partner = if file.contains("encoder") {
                file.replacen("encoder", "decoder", 1)
            } else if file.contains("decoder") {
                file.replacen("decoder", "encoder", 1)
            } else {
                return Err(Error::Model(format!(
                    "cannot tell whether {} is an encoder or a decoder: name it …encoder….onnx \
                     with its …decoder….onnx beside it, or describe it in vaerans.toml",
                    path.display()
                )));
            };
            let other = path.with_file_name(partner);
            let (e, d) = if file.contains("encoder") {
                (path.to_path_buf(), other)
            } else {
                (other, path.to_path_buf())
            };
            for p in [&e, &d] {
                if !p.is_file() {
                    return Err(Error::Model(format!(
                        "model file {} not found",
                        p.display()
                    )));
                }
            }
            (e, d)
        };
        let name = if path.is_dir() {
            path.file_name()
        } else {
            encoder.file_stem()
        }
        .and_then(|s| s.to_str())
        .unwrap_or("model")
        .to_string();
        Ok(Self::with_defaults(
            name,
            ModelFile::Path(encoder),
            ModelFile::Path(decoder),
        ))
    }
}

/// An input range is two different finite numbers (u8 0 maps to the first, 255 to the
/// second); `model` names the model in the error.
pub(crate) fn check_input_range(model: &str, range: [f32; 2]) -> Result<()> {
    if range[0].is_finite() && range[1].is_finite() && range[0] != range[1] {
        Ok(())
    } else {
        Err(Error::Model(format!(
            "model `{model}`: input_range [{}, {}] must be two different finite numbers",
            range[0], range[1]
        )))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default: Option<String>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    encoder: PathBuf,
    decoder: PathBuf,
    latent_channels: Option<usize>,
    #[serde(default = "default_downsample")]
    downsample: usize,
    #[serde(default = "default_range")]
    input_range: [f32; 2],
    encoder_input: Option<String>,
    encoder_output: Option<String>,
    decoder_input: Option<String>,
    decoder_output: Option<String>,
    #[serde(default = "default_tile")]
    tile: usize,
    #[serde(default = "default_tile_overlap")]
    tile_overlap: usize,
    #[serde(default = "default_memory_per_pixel")]
    memory_per_pixel: [u64; 2],
    calibration: Option<PathBuf>,
}

/// A model's tile unless its config says otherwise: small enough that one call of an
/// unmeasured model ([`default_memory_per_pixel`]) stays within the default memory budget.
fn default_tile() -> usize {
    512
}
/// The embedded model's tile: its calls are cheap enough for 1024-pixel tiles, so images up
/// to 1024 pixels a side (Kodak's among them) run whole.
const EMBEDDED_TILE: usize = 1024;
fn default_tile_overlap() -> usize {
    128
}
/// What an unmeasured model is assumed to need per pixel: above TAEF2's measured 1070 bytes
/// (a 32-channel tiny autoencoder), so that the memory budget errs on the side of refusing.
/// Larger models (the SD VAE) need more: measure them with `examples/vae_memory.rs`.
fn default_memory_per_pixel() -> [u64; 2] {
    [1536, 1536]
}
/// The embedded model's working memory per pixel of a call on the CPU provider, rounded up
/// from `cargo run --release --example vae_memory -- - SIDE`: encoder 120, 122 and 125
/// bytes, decoder 208, 214 and 216 bytes at sides 512, 1024 and 2048.
const EMBEDDED_MEMORY_PER_PIXEL: [u64; 2] = [128, 224];

fn default_downsample() -> usize {
    8
}
fn default_range() -> [f32; 2] {
    [-1.0, 1.0]
}

/// The model configuration: named models and an optional default. Made by [`Config::load`],
/// [`Config::from_file`], [`Config::parse`] or `Config::default()` (no models but the embedded
/// one), and extended with [`Config::with_model`].
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from (`None`: no config file, only the embedded model).
    pub path: Option<PathBuf>,
    /// The model used when none is named (`None`: the embedded model).
    pub default: Option<String>,
    /// Models by name.
    pub models: BTreeMap<String, ModelSpec>,
}

impl Config {
    /// The files searched, in order: only `$VAERANS_CONFIG` when it is set and not empty
    /// (an explicit choice is never shadowed by a file that happens to be in the working
    /// directory), else `vaerans.toml` in the working directory, then
    /// `~/.config/vaerans/config.toml`.
    pub fn search_paths() -> Vec<PathBuf> {
        if let Some(p) = std::env::var_os("VAERANS_CONFIG").filter(|p| !p.is_empty()) {
            return vec![PathBuf::from(p)];
        }
        let mut out = vec![PathBuf::from("vaerans.toml")];
        if let Some(home) = std::env::var_os("HOME") {
            out.push(PathBuf::from(home).join(".config/vaerans/config.toml"));
        }
        out
    }

    /// Loads the first config file found (see [`Config::search_paths`]). No file is an empty
    /// config, not an error, unless `$VAERANS_CONFIG` names one that is not there.
    pub fn load() -> Result<Self> {
        if let Some(p) = std::env::var_os("VAERANS_CONFIG").filter(|p| !p.is_empty()) {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(Error::Model(format!(
                    "VAERANS_CONFIG names {}, which is not a file: point it at a config file \
                     or unset it",
                    p.display()
                )));
            }
            return Self::from_file(&p);
        }
        match Self::search_paths().into_iter().find(|p| p.is_file()) {
            Some(p) => Self::from_file(&p),
            None => Ok(Self::default()),
        }
    }

    /// Reads one config file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut cfg = Self::parse(&text, base)
            .map_err(|e| Error::Model(format!("{}: {e}", path.display())))?;
        cfg.path = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Parses config text; relative paths resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Model(e.to_string()))?;
        let mut models = BTreeMap::new();
        for (name, m) in raw.models {
            if name.len() > 255 {
                return Err(Error::Model(format!(
                    "model name `{name}` is over 255 bytes"
                )));
            }
            if m.downsample == 0 || m.downsample > 64 {
                return Err(Error::Model(format!(
                    "model `{name}`: downsample {} must be in 1..=64",
                    m.downsample
                )));
            }
            check_input_range(&name, m.input_range)?;
            if m.latent_channels == Some(0) {
                return Err(Error::Model(format!(
                    "model `{name}`: latent_channels is 0"
                )));
            }
            let spec = ModelSpec {
                name: name.clone(),
                encoder: ModelFile::Path(base.join(m.encoder)),
                decoder: ModelFile::Path(base.join(m.decoder)),
                latent_channels: m.latent_channels,
                downsample: m.downsample,
                input_range: m.input_range,
                encoder_input: m.encoder_input,
                encoder_output: m.encoder_output,
                decoder_input: m.decoder_input,
                decoder_output: m.decoder_output,
                tile: m.tile,
                tile_overlap: m.tile_overlap,
                memory_per_pixel: m.memory_per_pixel,
                calibration: m.calibration.map(|p| base.join(p)),
            };
            if spec.tile != 0 && spec.tile < 2 * spec.downsample {
                return Err(Error::Model(format!(
                    "model `{name}`: tile {} must be 0 (never tile) or at least twice the \
                     downsample factor {}",
                    spec.tile, spec.downsample
                )));
            }
            models.insert(name, spec);
        }
        if let Some(d) = &raw.default {
            if !models.contains_key(d) && d != DEFAULT_MODEL_NAME {
                return Err(Error::Model(format!(
                    "default model `{d}` is not among [models.*]"
                )));
            }
        }
        Ok(Self {
            path: None,
            default: raw.default,
            models,
        })
    }

    /// Resolves a model by name, by path, or (for `None`) the default.
    pub fn resolve(&self, model: Option<&str>) -> Result<ModelSpec> {
        let name = match model {
            Some(m) => m,
            None => self.default.as_deref().unwrap_or(DEFAULT_MODEL_NAME),
        };
        if let Some(spec) = self.models.get(name) {
            return Ok(spec.clone());
        }
        if name == DEFAULT_MODEL_NAME {
            return Ok(ModelSpec::embedded_default());
        }
        let path = Path::new(name);
        if name.ends_with(".onnx") || path.is_dir() {
            return ModelSpec::from_path(path);
        }
        let known: Vec<&str> = std::iter::once(DEFAULT_MODEL_NAME)
            .chain(self.models.keys().map(String::as_str))
            .collect();
        Err(Error::Model(format!(
            "no model named `{name}` (known: {}; config: {}); name a configured model or an .onnx path",
            known.join(", "),
            self.path
                .as_ref()
                .map_or("none found".to_string(), |p| p.display().to_string())
        )))
    }

    /// The model to decode a stream with, from the model the stream names: a configured model
    /// of that name, the embedded model, or else the configured (or embedded) model whose
    /// decoder has the stream's decoder hash. A stream is untrusted input, so its name is never
    /// read as a path: only models the user configured, and the embedded one, can be chosen.
    pub fn resolve_stream(&self, id: &ModelId) -> Result<ModelSpec> {
        if let Some(spec) = self.models.get(&id.name) {
            return Ok(spec.clone());
        }
        if id.name == DEFAULT_MODEL_NAME {
            return Ok(ModelSpec::embedded_default());
        }
        // Only the files the user configured are read, to hash their decoders.
        for spec in self.all() {
            let same = spec
                .decoder
                .bytes()
                .is_ok_and(|b| super::model::file_hash(&b) == id.decoder_hash);
            if same {
                tracing::info!(
                    "the stream's model `{}` is configured model `{}` (same decoder hash)",
                    id.name.escape_debug(),
                    spec.name
                );
                // The same model under the stream's name, which its identity check compares.
                let mut spec = spec;
                spec.name = id.name.clone();
                return Ok(spec);
            }
        }
        Err(Error::Model(format!(
            "the stream was made with model `{}`, which is neither configured nor the embedded \
             model, and no configured decoder has its hash; a stream's model name is never read \
             as a path: configure the model (config: {}) or name the model to decode with",
            id.name.escape_debug(),
            self.path
                .as_ref()
                .map_or("none found".to_string(), |p| p.display().to_string())
        )))
    }

    /// This config with `spec` added under its name (replacing a model of the same name).
    pub fn with_model(mut self, spec: ModelSpec) -> Self {
        self.models.insert(spec.name.clone(), spec);
        self
    }

    /// Every model this config offers: the embedded default, then the configured ones.
    pub fn all(&self) -> Vec<ModelSpec> {
        let mut out = vec![ModelSpec::embedded_default()];
        out.extend(self.models.values().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream's model name picks a configured model, the embedded one, or the model with its
    /// decoder hash; a path-like or unknown name with an unknown hash is refused.
    #[test]
    fn streams_choose_only_among_configured_models() {
        let dir = std::env::temp_dir();
        let cfg = Config::parse(
            "[models.tiny]\nencoder = \"tests/models/tiny_encoder.onnx\"\n\
             decoder = \"tests/models/tiny_decoder.onnx\"\n",
            Path::new(env!("CARGO_MANIFEST_DIR")),
        )
        .unwrap();
        let tiny_hash = super::super::model::file_hash(
            &std::fs::read(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/tiny_decoder.onnx"),
            )
            .unwrap(),
        );
        let id = |name: &str, hash: [u8; 32]| ModelId {
            name: name.into(),
            decoder_hash: hash,
        };
        assert_eq!(
            cfg.resolve_stream(&id("tiny", [0; 32])).unwrap().name,
            "tiny"
        );
        assert_eq!(
            cfg.resolve_stream(&id(DEFAULT_MODEL_NAME, [0; 32]))
                .unwrap()
                .name,
            DEFAULT_MODEL_NAME
        );
        let planted = dir.join("planted_encoder.onnx").display().to_string();
        for name in ["evil", "evil/encoder.onnx", planted.as_str()] {
            let found = cfg.resolve_stream(&id(name, tiny_hash)).unwrap();
            assert_eq!(found.decoder, cfg.resolve(Some("tiny")).unwrap().decoder);
            let err = cfg
                .resolve_stream(&id(name, [7; 32]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("never read as a path"), "{err}");
        }
        let embedded = super::super::model::file_hash(DEFAULT_DECODER);
        assert_eq!(
            cfg.resolve_stream(&id("renamed", embedded))
                .unwrap()
                .decoder,
            ModelFile::Embedded(DEFAULT_DECODER)
        );
    }

    #[test]
    fn parses_and_resolves_relative_paths() {
        let cfg = Config::parse(
            r#"
default = "sd"
[models.sd]
encoder = "sd/enc.onnx"
decoder = "/abs/dec.onnx"
latent_channels = 4
input_range = [0.0, 1.0]
"#,
            Path::new("/etc/vaerans"),
        )
        .unwrap();
        let m = cfg.resolve(None).unwrap();
        assert_eq!(m.name, "sd");
        assert_eq!(
            m.encoder,
            ModelFile::Path("/etc/vaerans/sd/enc.onnx".into())
        );
        assert_eq!(m.decoder, ModelFile::Path("/abs/dec.onnx".into()));
        assert_eq!(m.downsample, 8);
        assert_eq!(m.input_range, [0.0, 1.0]);
        assert_eq!(
            cfg.resolve(Some(DEFAULT_MODEL_NAME)).unwrap().name,
            DEFAULT_MODEL_NAME
        );
    }

    #[test]
    fn rejects_bad_configs_with_reasons() {
        let base = Path::new(".");
        for (text, needle) in [
            ("[models.a]\nencoder='e'\n", "decoder"),
            (
                "[models.a]\nencoder='e'\ndecoder='d'\ndownsample=0\n",
                "downsample",
            ),
            (
                "[models.a]\nencoder='e'\ndecoder='d'\ninput_range=[1.0,1.0]\n",
                "input_range",
            ),
            ("default='zz'\n", "zz"),
            ("[models.a]\nencoder='e'\ndecoder='d'\nbogus=1\n", "bogus"),
        ] {
            let err = Config::parse(text, base).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
        let err = Config::default()
            .resolve(Some("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nope") && err.contains(DEFAULT_MODEL_NAME),
            "{err}"
        );
    }
}

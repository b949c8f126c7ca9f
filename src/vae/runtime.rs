//! Finding and loading ONNX Runtime, and choosing its execution provider.
//!
//! ONNX Runtime is loaded at run time (never downloaded): from `ORT_DYLIB_PATH`, then from
//! wherever a front end said to look ([`set_fallback_search`]; the CLI looks in the project's
//! `target/onnxruntime` and in an installed Python `onnxruntime` package), then by name on the
//! system's library search path. The library is loaded once per process; every model shares
//! the one environment.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::SessionBuilder;
use ort::session::Session;

use crate::error::{Error, Result};

/// The ONNX Runtime release this build is made for (`ort`'s `api-31`).
pub const ORT_VERSION: &str = "1.31.1";

/// Shared-library file name of ONNX Runtime on this platform.
#[cfg(target_os = "linux")]
const LIB_NAMES: &[&str] = &["libonnxruntime.so.1.31.1", "libonnxruntime.so"];
#[cfg(target_os = "macos")]
const LIB_NAMES: &[&str] = &["libonnxruntime.1.31.1.dylib", "libonnxruntime.dylib"];
#[cfg(target_os = "windows")]
const LIB_NAMES: &[&str] = &["onnxruntime.dll"];
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
const LIB_NAMES: &[&str] = &["libonnxruntime.so"];

/// The command that installs ONNX Runtime where [`find_library`] looks.
pub const INSTALL_HINT: &str =
    "pip install --no-deps --target target/onnxruntime onnxruntime==1.31.1 \
(onnxruntime-gpu==1.31.1 for CUDA), or set ORT_DYLIB_PATH to the libonnxruntime shared library";

/// Which ONNX Runtime execution provider runs the VAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExecutionProvider {
    /// CUDA when this build has the `cuda` feature and the provider starts; else the CPU. The
    /// choice is logged.
    #[default]
    Auto,
    /// The CPU provider.
    Cpu,
    /// CUDA; failing to start it is an error carrying the provider's reason.
    Cuda,
}

impl std::str::FromStr for ExecutionProvider {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            other => Err(Error::InvalidInput(format!(
                "unknown execution provider `{other}`; use auto, cpu or cuda"
            ))),
        }
    }
}

impl std::fmt::Display for ExecutionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

fn lib_in(dir: &Path) -> Option<PathBuf> {
    LIB_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// A front end's own place to look for the library: what it is called in messages, and how to
/// find it.
type Fallback = (&'static str, fn() -> Option<PathBuf>);

static FALLBACK: Mutex<Option<Fallback>> = Mutex::new(None);

/// Adds one more place to look for the library, after `ORT_DYLIB_PATH` and before the
/// system's library search path: `find` runs (once) when the library is first needed, and
/// `describe` names it in the error when nothing is found. For front ends that know where their
/// installs put the library (the CLI: the project's `target/onnxruntime` folder, a Python
/// `onnxruntime` package); the library itself never guesses.
pub fn set_fallback_search(describe: &'static str, find: fn() -> Option<PathBuf>) {
    *FALLBACK.lock().unwrap_or_else(|p| p.into_inner()) = Some((describe, find));
}

/// The library in folder `dir`, by this platform's file names.
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    lib_in(dir)
}

/// Finds the ONNX Runtime shared library: `ORT_DYLIB_PATH` (a file, or a folder holding it),
/// then the front end's fallback ([`set_fallback_search`]). `Ok(None)` means neither is set:
/// the library is then loaded by name from the system's library search path.
pub fn find_library() -> Result<Option<PathBuf>> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        let found = if p.is_dir() {
            lib_in(&p)
        } else {
            p.is_file().then(|| p.clone())
        };
        match found {
            Some(f) => return Ok(Some(f)),
            // An explicit choice that does not exist is an error, never shadowed by a library
            // found elsewhere.
            None => {
                return Err(Error::OrtNotFound {
                    version: ORT_VERSION,
                    searched: vec![format!("ORT_DYLIB_PATH={}", p.display())],
                    hint: INSTALL_HINT,
                })
            }
        }
    }
    let fallback = *FALLBACK.lock().unwrap_or_else(|p| p.into_inner());
    Ok(fallback.and_then(|(_, find)| find()))
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub(crate) fn environment() -> Result<&'static Environment> {
    static ENV: OnceLock<std::result::Result<Environment, Error>> = OnceLock::new();
    let env = ENV.get_or_init(|| {
        let (builder, path) = match find_library()? {
            Some(path) => {
                tracing::debug!(path = %path.display(), "loading ONNX Runtime");
                let b = ort::init_from(&path).map_err(|e| {
                    Error::Runtime(format!(
                        "cannot load ONNX Runtime from {}: {e}; install {ORT_VERSION}: {INSTALL_HINT}",
                        path.display()
                    ))
                })?;
                (b, path.display().to_string())
            }
            None => {
                // Neither an explicit path nor a front end's: the system's search path, by name.
                let name = LIB_NAMES[0];
                let b = ort::init_from(name).map_err(|_| Error::OrtNotFound {
                    version: ORT_VERSION,
                    searched: searched_places(name),
                    hint: INSTALL_HINT,
                })?;
                (b, name.to_string())
            }
        };
        tracing::debug!(library = %path, "ONNX Runtime loaded");
        builder
            .with_name("vaerans")
            .build()
            .map_err(|e| Error::Runtime(format!("cannot start ONNX Runtime: {e}")))
    });
    env.as_ref().map_err(Clone::clone)
}

/// The places a failed search looked, in order, for the error message.
fn searched_places(name: &str) -> Vec<String> {
    let mut out = vec!["ORT_DYLIB_PATH (not set)".to_string()];
    if let Some((describe, _)) = *FALLBACK.lock().unwrap_or_else(|p| p.into_inner()) {
        out.push(describe.to_string());
    }
    out.push(format!("{name} on the system's library search path"));
    out
}

fn ort_err(context: &str) -> impl Fn(ort::Error<SessionBuilder>) -> Error + '_ {
    move |e| Error::Runtime(format!("{context}: {e}"))
}

/// A session builder with the provider registered. Returns the builder and the provider
/// actually used.
fn builder_for(ep: ExecutionProvider) -> Result<(SessionBuilder, ExecutionProvider)> {
    let builder = new_builder()?;
    match ep {
        ExecutionProvider::Cpu => Ok((builder, ExecutionProvider::Cpu)),
        ExecutionProvider::Cuda => with_cuda(builder).map(|b| (b, ExecutionProvider::Cuda)),
        #[cfg(feature = "cuda")]
        ExecutionProvider::Auto => match with_cuda(builder) {
            Ok(b) => Ok((b, ExecutionProvider::Cuda)),
            Err(Error::ExecutionProvider(reason)) => {
                tracing::info!("{reason}; using the CPU execution provider");
                Ok((new_builder()?, ExecutionProvider::Cpu))
            }
            Err(e) => Err(e),
        },
        #[cfg(not(feature = "cuda"))]
        ExecutionProvider::Auto => Ok((builder, ExecutionProvider::Cpu)),
    }
}

/// A session builder on the shared environment with full graph optimisation.
fn new_builder() -> Result<SessionBuilder> {
    let builder = Session::builder(environment()?).map_err(|e| Error::Runtime(e.to_string()))?;
    builder
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
        .map_err(ort_err("setting the optimisation level"))
}

#[cfg(feature = "cuda")]
fn with_cuda(builder: SessionBuilder) -> Result<SessionBuilder> {
    builder
        .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
        .map_err(|e| {
            // ONNX Runtime's reason can span lines; keep errors to one.
            let reason = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            Error::ExecutionProvider(format!("CUDA could not start: {reason}"))
        })
}

#[cfg(not(feature = "cuda"))]
fn with_cuda(_builder: SessionBuilder) -> Result<SessionBuilder> {
    Err(Error::ExecutionProvider(
        "this build has no CUDA support; rebuild vaerans with its `cuda` feature and install onnxruntime-gpu==1.31.1".into(),
    ))
}

/// Opens a model held in memory with the requested provider; returns the session and the
/// provider it runs on.
pub(crate) fn open_session(
    bytes: &[u8],
    ep: ExecutionProvider,
    what: &str,
) -> Result<(Session, ExecutionProvider)> {
    let (mut builder, used) = builder_for(ep)?;
    let session = builder
        .commit_from_memory(bytes)
        .map_err(|e| Error::Model(format!("ONNX Runtime cannot load the {what}: {e}")))?;
    Ok((session, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_parse() {
        assert_eq!(
            "CUDA".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::Cuda
        );
        assert_eq!(
            "auto".parse::<ExecutionProvider>().unwrap(),
            ExecutionProvider::Auto
        );
        assert!("tpu".parse::<ExecutionProvider>().is_err());
    }

    #[test]
    fn finds_and_loads_the_library() {
        // The test suite runs with ORT_DYLIB_PATH pointing at the project-local install
        // (`.cargo/config.toml`, filled by scripts/ensure-onnxruntime.sh).
        let path = find_library()
            .expect("ONNX Runtime must be installed for the test suite")
            .expect("ORT_DYLIB_PATH is set for the test suite");
        assert!(path.is_file());
        environment().expect("the library loads");
    }
}

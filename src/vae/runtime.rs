//! Finding and loading ONNX Runtime and its WebGPU plugin provider.
//!
//! ONNX Runtime is loaded at run time (never downloaded): from `ORT_DYLIB_PATH`, then from
//! the folders a front end said to look in ([`set_fallback_search`]; the CLI looks in the
//! project's `target/onnxruntime` and in installed Python packages), then by name on the
//! system's library search path. The library is loaded once per process; every model shares
//! the one environment.
//!
//! The WebGPU provider is a plugin library (PyPI `onnxruntime-ep-webgpu`), found the same way:
//! `VAERANS_WEBGPU_EP_PATH`, then the front end's folders. It is registered with the
//! environment the first time a WebGPU session is asked for.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

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

/// The WebGPU plugin provider's release this build is tested with.
pub const WEBGPU_EP_VERSION: &str = "0.4.0";

/// File name of the WebGPU plugin provider library on this platform.
#[cfg(target_os = "windows")]
const WEBGPU_LIB: &str = "onnxruntime_providers_webgpu.dll";
#[cfg(target_os = "macos")]
const WEBGPU_LIB: &str = "libonnxruntime_providers_webgpu.dylib";
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const WEBGPU_LIB: &str = "libonnxruntime_providers_webgpu.so";

/// The command that installs the WebGPU plugin where [`find_webgpu_plugin`] looks.
pub const WEBGPU_INSTALL_HINT: &str =
    "pip install --no-deps --target target/onnxruntime onnxruntime-ep-webgpu==0.4.0, \
or set VAERANS_WEBGPU_EP_PATH to libonnxruntime_providers_webgpu";

/// The command that installs ONNX Runtime where [`find_library`] looks.
pub const INSTALL_HINT: &str =
    "pip install --no-deps --target target/onnxruntime onnxruntime==1.31.1 \
(onnxruntime-gpu==1.31.1 for CUDA), or set ORT_DYLIB_PATH to the libonnxruntime shared library";

fn lib_in(dir: &Path) -> Option<PathBuf> {
    LIB_NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// A front end's own places to look: what they are called in messages, and how to list them.
type Fallback = (&'static str, fn() -> Vec<PathBuf>);

static FALLBACK: Mutex<Option<Fallback>> = Mutex::new(None);
/// The front end's folders, listed once: both libraries search them, and listing may be slow
/// (the CLI asks Python).
static FOLDERS: Mutex<Option<Vec<PathBuf>>> = Mutex::new(None);

/// Adds folders to look in for the libraries, after the environment variables and before the
/// system's library search path. Each folder holds Python packages as `pip install --target`
/// or a `site-packages` lays them out: ONNX Runtime's library in `onnxruntime/capi/`, the
/// WebGPU plugin in `onnxruntime_ep_webgpu/`. `list` runs once, when a library is first needed, and
/// `describe` names the folders in the error when nothing is found. For front ends that know
/// where their installs put the libraries (the CLI: the project's `target/onnxruntime`, the
/// Python packages); the library itself never guesses.
pub fn set_fallback_search(describe: &'static str, list: fn() -> Vec<PathBuf>) {
    *FALLBACK.lock().unwrap_or_else(|p| p.into_inner()) = Some((describe, list));
    *FOLDERS.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// The front end's folders (listed on first use), and what it calls them.
fn fallback_folders() -> Option<(&'static str, Vec<PathBuf>)> {
    let (describe, list) = (*FALLBACK.lock().unwrap_or_else(|p| p.into_inner()))?;
    let mut folders = FOLDERS.lock().unwrap_or_else(|p| p.into_inner());
    Some((describe, folders.get_or_insert_with(list).clone()))
}

/// The library in folder `dir`, by this platform's file names.
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    lib_in(dir)
}

/// A library named by an environment variable: the file, or what `find_in` finds in the folder.
/// `Ok(None)` when the variable is not set; an error when it names nothing, never shadowed by
/// a library found elsewhere.
fn from_env(
    var: &str,
    find_in: impl Fn(&Path) -> Option<PathBuf>,
) -> std::result::Result<Option<PathBuf>, PathBuf> {
    let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let p = PathBuf::from(p);
    let found = if p.is_dir() {
        find_in(&p)
    } else {
        p.is_file().then(|| p.clone())
    };
    found.map(Some).ok_or(p)
}

/// Finds the ONNX Runtime shared library: `ORT_DYLIB_PATH` (a file, or a folder holding it),
/// then the front end's folders ([`set_fallback_search`]). `Ok(None)` means neither has it:
/// the library is then loaded by name from the system's library search path.
pub fn find_library() -> Result<Option<PathBuf>> {
    match from_env("ORT_DYLIB_PATH", lib_in) {
        Ok(Some(f)) => return Ok(Some(f)),
        Ok(None) => {}
        Err(p) => {
            return Err(Error::OrtNotFound {
                version: ORT_VERSION,
                searched: vec![format!("ORT_DYLIB_PATH={}", p.display())],
                hint: INSTALL_HINT,
            })
        }
    }
    Ok(fallback_folders()
        .into_iter()
        .flat_map(|(_, dirs)| dirs)
        .find_map(|d| lib_in(&d.join("onnxruntime").join("capi"))))
}

/// Finds the WebGPU plugin provider library: `VAERANS_WEBGPU_EP_PATH` (a file, or a folder
/// holding it), then `onnxruntime_ep_webgpu/` in the front end's folders. The error says where
/// it looked and how to install it.
pub fn find_webgpu_plugin() -> Result<PathBuf> {
    let in_dir = |d: &Path| Some(d.join(WEBGPU_LIB)).filter(|p| p.is_file());
    let not_found = |searched: String| {
        Error::ExecutionProvider(format!(
            "ONNX Runtime's WebGPU plugin provider (onnxruntime-ep-webgpu {WEBGPU_EP_VERSION}) \
             is not installed (searched: {searched}); install it with: {WEBGPU_INSTALL_HINT}"
        ))
    };
    match from_env("VAERANS_WEBGPU_EP_PATH", in_dir) {
        Ok(Some(f)) => return Ok(f),
        Ok(None) => {}
        Err(p) => return Err(not_found(format!("VAERANS_WEBGPU_EP_PATH={}", p.display()))),
    }
    let mut searched = vec!["VAERANS_WEBGPU_EP_PATH (not set)".to_string()];
    if let Some((describe, dirs)) = fallback_folders() {
        if let Some(f) = dirs
            .iter()
            .find_map(|d| in_dir(&d.join("onnxruntime_ep_webgpu")))
        {
            return Ok(f);
        }
        searched.push(describe.to_string());
    }
    Err(not_found(searched.join(", ")))
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

/// The environment with the WebGPU plugin provider registered (once per process; a failure
/// is remembered, so every WebGPU request reports the same cause).
pub(crate) fn webgpu_environment() -> Result<&'static Environment> {
    static REGISTERED: OnceLock<std::result::Result<(), Error>> = OnceLock::new();
    let env = environment()?;
    REGISTERED
        .get_or_init(|| {
            let found = find_webgpu_plugin()?;
            // ONNX Runtime resolves a relative path against its own folder, not ours.
            let path = std::fs::canonicalize(&found).unwrap_or(found);
            tracing::debug!(path = %path.display(), "registering the WebGPU provider");
            env.register_ep_library("webgpu", &path).map_err(|e| {
                Error::ExecutionProvider(format!(
                    "ONNX Runtime refused the WebGPU plugin {}: {e} (it needs ONNX Runtime \
                     1.24.4 or later and the system's libvulkan.so.1)",
                    path.display()
                ))
            })
        })
        .clone()?;
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! The `vaerans` Python package's native module, `vaerans._vaerans`: the Rust codec behind
//! Python's conventions. The Python side (`python/vaerans/`) re-exports these classes and
//! functions, and holds the exception hierarchy ([`errors`]), the shard dataset and the Ray
//! Data recipe.
//!
//! Every call that codes releases the interpreter (`Python::detach`) while Rust works, so
//! threads of a data loader code in parallel; see [`pool`] for how one codec object serves
//! several threads at once.

#![forbid(unsafe_code)]

use pyo3::prelude::*;

mod arrays;
mod codec;
mod errors;
mod latents;
mod pool;
mod shards;

/// Where Python found ONNX Runtime's packages: set by `vaerans/__init__.py` on import, read
/// by the library the first time it loads ONNX Runtime (after `ORT_DYLIB_PATH`).
static PACKAGE_FOLDERS: std::sync::Mutex<Vec<std::path::PathBuf>> =
    std::sync::Mutex::new(Vec::new());

fn package_folders() -> Vec<std::path::PathBuf> {
    PACKAGE_FOLDERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Sets the folders (each holding Python packages, as `site-packages` does) in which ONNX
/// Runtime's library (`onnxruntime/capi/`) and the WebGPU plugin (`onnxruntime_ep_webgpu/`)
/// are looked for when `ORT_DYLIB_PATH` and `VAERANS_WEBGPU_EP_PATH` are not set.
#[pyfunction]
fn _set_package_folders(folders: Vec<std::path::PathBuf>) {
    *PACKAGE_FOLDERS.lock().unwrap_or_else(|p| p.into_inner()) = folders;
    vaerans::vae::runtime::set_fallback_search(
        "the installed Python packages onnxruntime and onnxruntime-ep-webgpu",
        package_folders,
    );
}

/// Reads an image file as a viewer shows it (format from the content, EXIF orientation
/// applied) into a NumPy array [H, W, 3] of uint8. `alpha` says what to do with an alpha
/// channel: "error" (the default), "drop", or "over=RRGGBB" to composite over a colour.
#[pyfunction]
#[pyo3(signature = (path, alpha="error"))]
fn open_image<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    alpha: &str,
) -> PyResult<Bound<'py, PyAny>> {
    use errors::OrPy;
    let alpha: vaerans::Alpha = alpha.parse().map_err(|e: String| errors::input(py, e))?;
    let image = py.detach(|| vaerans::open_image(&path, alpha)).or_py(py)?;
    arrays::image_to(py, image)
}

/// The native module.
#[pymodule]
fn _vaerans(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ORT_VERSION", vaerans::vae::runtime::ORT_VERSION)?;
    m.add(
        "DEFAULT_MODEL_NAME",
        vaerans::vae::DEFAULT_MODEL_NAME.to_string(),
    )?;
    m.add_function(wrap_pyfunction!(_set_package_folders, m)?)?;
    m.add_function(wrap_pyfunction!(open_image, m)?)?;
    m.add_class::<codec::PyCodec>()?;
    m.add_class::<latents::PyLatentCodec>()?;
    m.add_class::<shards::PyShardWriter>()?;
    m.add_class::<shards::PyShardReader>()?;
    Ok(())
}

//! The library's errors as Python exceptions: each [`vaerans::Error`] becomes an instance of
//! a class of `vaerans._errors` (`StreamError`, `InputError`, …, all subclasses of
//! `vaerans.Error`), carrying the library's message.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyType;
use vaerans::Error;

/// The Python class that stands for `e`.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::BadMagic
        | Error::UnsupportedVersion { .. }
        | Error::Truncated { .. }
        | Error::ChecksumMismatch { .. }
        | Error::Corrupt(_) => "StreamError",
        Error::InvalidInput(_) | Error::Image(_) | Error::Alpha(_) => "InputError",
        Error::LimitExceeded(_) | Error::MemoryBudget { .. } | Error::ArenaOutOfMemory { .. } => {
            "LimitError"
        }
        Error::OrtNotFound { .. }
        | Error::Runtime(_)
        | Error::ExecutionProvider(_)
        | Error::Model(_)
        | Error::ModelMismatch { .. } => "ModelError",
        Error::NoGpu(_) | Error::Gpu(_) => "GpuError",
        Error::Io { .. } => "IoError",
        _ => "Error",
    }
}

/// An exception of class `name` of `vaerans._errors` with `message`.
pub(crate) fn exception(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import("vaerans._errors")
        .and_then(|m| m.getattr(name))
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
    match class {
        Ok(class) => PyErr::from_type(class, message),
        // Only when the package was taken apart: the message still gets through.
        Err(_) => PyRuntimeError::new_err(message),
    }
}

/// `e` as a Python exception.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    exception(py, class_name(&e), e.to_string())
}

/// An `InputError` (a `ValueError`) with `message`: a bad array or argument.
pub(crate) fn input(py: Python<'_>, message: impl Into<String>) -> PyErr {
    exception(py, "InputError", message.into())
}

/// Converts a library result, with the interpreter held.
pub(crate) trait OrPy<T> {
    /// The value, or the error as a Python exception.
    fn or_py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrPy<T> for vaerans::Result<T> {
    fn or_py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

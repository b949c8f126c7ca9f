//! `vaerans.ShardWriter` and `vaerans.ShardReader`: many streams in one tar file, in the
//! WebDataset convention (`KEY.vaer` members), read back by key.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyIndexError, PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use vaerans::latent::shard::{ShardReader, ShardWriter};
use vaerans::Limits;

use crate::errors::{exception, OrPy};

/// Writes streams into a shard file: `writer.write(key, stream)`, then `close()` (or use it
/// as a context manager). `append=True` adds to an existing shard; a key the shard holds
/// already is refused.
#[pyclass(frozen, name = "ShardWriter", module = "vaerans")]
pub(crate) struct PyShardWriter {
    writer: Mutex<Option<ShardWriter<File>>>,
    path: PathBuf,
}

impl PyShardWriter {
    fn lock(&self) -> MutexGuard<'_, Option<ShardWriter<File>>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn closed(&self, py: Python<'_>) -> PyErr {
        exception(
            py,
            "InputError",
            format!("shard {} is closed", self.path.display()),
        )
    }
}

#[pymethods]
impl PyShardWriter {
    #[new]
    #[pyo3(signature = (path, append=false))]
    fn new(py: Python<'_>, path: PathBuf, append: bool) -> PyResult<Self> {
        let writer = py
            .detach(|| {
                if append {
                    ShardWriter::append_to(&path, &Limits::default())
                } else {
                    ShardWriter::create(&path)
                }
            })
            .or_py(py)?;
        Ok(Self {
            writer: Mutex::new(Some(writer)),
            path,
        })
    }

    /// Adds `stream` as member `KEY.vaer`. Keys are 1 to 95 ASCII letters, digits, `_`, `-`
    /// and inner `/` (no `.`: WebDataset splits names at the first dot).
    fn write(&self, py: Python<'_>, key: &str, stream: &Bound<'_, PyAny>) -> PyResult<()> {
        let bytes = crate::arrays::stream_from(stream)?;
        let mut slot = self.lock();
        let writer = slot.as_mut().ok_or_else(|| self.closed(py))?;
        py.detach(|| writer.append(key, &bytes)).or_py(py)
    }

    /// Members written (with those the shard held before, when appending).
    #[getter]
    fn members(&self, py: Python<'_>) -> PyResult<usize> {
        let slot = self.lock();
        Ok(slot.as_ref().ok_or_else(|| self.closed(py))?.members())
    }

    /// The shard's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Ends the shard (tar's end-of-archive blocks) and closes the file. Closing twice is
    /// harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        match self.lock().take() {
            Some(w) => py.detach(|| w.finish().map(drop)).or_py(py),
            None => Ok(()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

/// Reads a shard's streams by key: `reader[key]` (or `reader[i]`) is a stream's bytes,
/// `keys()` lists them in shard order, iterating gives `(key, stream)` pairs, and `verify()`
/// checks every member.
#[pyclass(frozen, name = "ShardReader", module = "vaerans")]
pub(crate) struct PyShardReader {
    reader: Mutex<ShardReader>,
    /// The reader's keys, in shard order: listed, counted and iterated without waiting for a
    /// read in another thread to give the reader back.
    keys: Vec<String>,
    path: PathBuf,
}

impl PyShardReader {
    fn lock(&self) -> MutexGuard<'_, ShardReader> {
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_index<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Bound<'py, PyBytes>> {
        if i >= self.keys.len() {
            return Err(PyIndexError::new_err(format!(
                "member {i} of a shard of {}",
                self.keys.len()
            )));
        }
        let bytes = py.detach(|| self.lock().read_at(i)).or_py(py)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

#[pymethods]
impl PyShardReader {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let reader = py
            .detach(|| ShardReader::open(&path, &Limits::default()))
            .or_py(py)?;
        let keys = reader.keys().map(str::to_owned).collect();
        Ok(Self {
            reader: Mutex::new(reader),
            keys,
            path,
        })
    }

    /// The keys, in shard order.
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }

    /// The shard's path.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.lock().index_of(key).is_some()
    }

    /// A member's stream (bytes), by key or by index.
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        item: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        if let Ok(key) = item.extract::<String>() {
            let Some(i) = self.lock().index_of(&key) else {
                return Err(PyKeyError::new_err(format!(
                    "shard {} has no key {key}",
                    self.path.display()
                )));
            };
            return self.read_index(py, i);
        }
        if let Ok(i) = item.extract::<isize>() {
            let n = self.keys.len() as isize;
            let at = if i < 0 { i + n } else { i };
            return self.read_index(py, usize::try_from(at).unwrap_or(usize::MAX));
        }
        Err(PyTypeError::new_err(
            "a shard member is found by key (str) or index (int)",
        ))
    }

    fn __iter__(slf: Py<Self>) -> ShardItems {
        ShardItems {
            reader: slf,
            next: Mutex::new(0),
        }
    }

    /// Checks every member (checksum and header): a list of `(key, None)` for the sound
    /// ones and `(key, exception)` for the damaged ones, in shard order; a damaged member
    /// does not stop the others being checked.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let checked = py.detach(|| self.lock().verify());
        let mut out = Vec::with_capacity(checked.len());
        for (key, result) in checked {
            let outcome = match result {
                Ok(()) => py.None().into_bound(py),
                Err(e) => crate::errors::to_py(py, e)
                    .into_value(py)
                    .into_bound(py)
                    .into_any(),
            };
            out.push(PyTuple::new(
                py,
                [key.into_pyobject(py)?.into_any(), outcome],
            )?);
        }
        PyList::new(py, out)
    }
}

/// Iterates over a shard's `(key, stream)` pairs, in shard order.
#[pyclass(frozen, module = "vaerans")]
pub(crate) struct ShardItems {
    reader: Py<PyShardReader>,
    next: Mutex<usize>,
}

#[pymethods]
impl ShardItems {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        let reader = self.reader.get();
        let i = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let i = *next;
            *next += 1;
            i
        };
        let Some(key) = reader.keys.get(i) else {
            return Ok(None);
        };
        let bytes = reader.read_index(py, i)?;
        Ok(Some(PyTuple::new(
            py,
            [key.into_pyobject(py)?.into_any(), bytes.into_any()],
        )?))
    }
}

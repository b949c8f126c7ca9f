//! `vaerans.LatentCodec`: bare latents (a diffusion model's cached VAE latents) to streams
//! and back, with no VAE.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use vaerans::latent::bare::{chain_for, Fidelity, LatentFileCodec};
use vaerans::latent::file::LatentArray;
use vaerans::{AnsBitstream, EntropyCoding};

use crate::arrays::{latent_from, latent_to, stream_from};
use crate::codec::{concurrency_from, in_chunks, quality_from};
use crate::errors::{input, OrPy};
use crate::pool::Pool;

/// Codes latent arrays ([C, h, w] or [N, C, h, w], float32 or float16, C a multiple of 4)
/// into streams and back, to a quality, a largest absolute error or a signal-to-noise ratio.
/// Thread-safe; calls from several threads run side by side.
#[pyclass(frozen, name = "LatentCodec", module = "vaerans")]
pub(crate) struct PyLatentCodec {
    pool: Pool<LatentFileCodec>,
    fidelity: Fidelity,
    model: Option<String>,
    entropy: &'static str,
    /// The arguments it was made with (pickling).
    settings: Py<PyDict>,
}

impl PyLatentCodec {
    /// Coded latents of `latent`, in order.
    fn code(
        &self,
        py: Python<'_>,
        latent: &Bound<'_, PyAny>,
        dtype: Option<&str>,
    ) -> PyResult<(LatentArray, Vec<vaerans::latent::bare::Coded>)> {
        let array = latent_from(py, latent, dtype)?;
        let shape = array.latent_shape();
        let latents: Vec<&[f32]> = array.latents().collect();
        let coded = in_chunks(py, &latents, |chunk| {
            self.pool.with(|c| {
                let each = |values: &&[f32]| c.encode(values, shape, array.dtype());
                chunk.iter().map(each).collect()
            })
        })?;
        let coded = coded
            .into_iter()
            .collect::<vaerans::Result<Vec<_>>>()
            .or_py(py)?;
        Ok((array, coded))
    }
}

#[pymethods]
impl PyLatentCodec {
    #[new]
    #[pyo3(signature = (
        quality=None, *, max_error=None, snr_db=None, model=None, entropy="tables",
        concurrency=None
    ))]
    fn new(
        py: Python<'_>,
        quality: Option<i64>,
        max_error: Option<f32>,
        snr_db: Option<f64>,
        model: Option<String>,
        entropy: &str,
        concurrency: Option<usize>,
    ) -> PyResult<Self> {
        let settings = PyDict::new(py);
        settings.set_item("quality", quality)?;
        settings.set_item("max_error", max_error)?;
        settings.set_item("snr_db", snr_db)?;
        settings.set_item("model", model.clone())?;
        settings.set_item("entropy", entropy)?;
        settings.set_item("concurrency", concurrency)?;
        let fidelity = match (quality, max_error, snr_db) {
            (None, None, None) => Fidelity::Quality(80),
            (Some(q), None, None) => Fidelity::Quality(quality_from(py, q)?),
            (None, Some(e), None) if e.is_finite() && e > 0.0 => Fidelity::MaxError(e),
            (None, Some(e), None) => {
                return Err(input(
                    py,
                    format!("max_error {e} must be a positive number"),
                ))
            }
            (None, None, Some(s)) if s.is_finite() => Fidelity::SnrDb(s),
            (None, None, Some(s)) => {
                return Err(input(py, format!("snr_db {s} must be a finite number")))
            }
            _ => {
                return Err(input(
                    py,
                    "give one of quality, max_error and snr_db (none: quality 80)",
                ))
            }
        };
        let coding = EntropyCoding::named(entropy).or_py(py)?;
        let chain = chain_for(model.as_deref())
            .or_py(py)?
            .with_entropy(Some(coding));
        let codec = LatentFileCodec::new(fidelity)
            .with_chain(chain)
            .with_model(model.as_deref())
            .or_py(py)?;
        let concurrency = concurrency_from(py, concurrency)?;
        // Copies share nothing but settings: each has a working arena of its own.
        let proto = codec.clone();
        Ok(Self {
            pool: Pool::new(codec, concurrency, move || Ok(proto.clone())),
            fidelity,
            model,
            entropy: coding.name(),
            settings: settings.unbind(),
        })
    }

    /// Pickling: a copy is a new codec made with the same arguments.
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        Ok((PyTuple::empty(py), self.settings.bind(py).copy()?))
    }

    /// The model recorded in the streams, if any.
    #[getter]
    fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// The entropy coding: "tables" or "adaptive".
    #[getter]
    fn entropy(&self) -> &'static str {
        self.entropy
    }

    fn __repr__(&self) -> String {
        let fidelity = match self.fidelity {
            Fidelity::Quality(q) => format!("quality={q}"),
            Fidelity::MaxError(e) => format!("max_error={e}"),
            Fidelity::SnrDb(s) => format!("snr_db={s}"),
        };
        format!(
            "LatentCodec({fidelity}, model={:?}, entropy={:?})",
            self.model, self.entropy
        )
    }

    /// Codes a latent: [C, h, w] gives one stream (bytes), [N, C, h, w] a list of N.
    /// `dtype` ("float32", "float16" or "bfloat16") is the type recorded for decoding to
    /// restore (default: the array's): decoded values are rounded to it, and error bounds are
    /// measured after that rounding.
    #[pyo3(signature = (latent, dtype=None))]
    fn encode<'py>(
        &self,
        py: Python<'py>,
        latent: &Bound<'py, PyAny>,
        dtype: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (array, coded) = self.code(py, latent, dtype)?;
        let mut streams = coded
            .into_iter()
            .map(|c| PyBytes::new(py, c.stream.as_bytes()).into_any());
        if array.is_batch() {
            Ok(PyList::new(py, streams)?.into_any())
        } else {
            Ok(streams.next().expect("one latent, one stream"))
        }
    }

    /// Codes a latent as [`encode`](Self::encode) does, with what each stream gives back,
    /// measured: a list of dicts with `stream`, `quality`, `max_error` and `snr_db`.
    #[pyo3(signature = (latent, dtype=None))]
    fn encode_detailed<'py>(
        &self,
        py: Python<'py>,
        latent: &Bound<'py, PyAny>,
        dtype: Option<&str>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (_, coded) = self.code(py, latent, dtype)?;
        let mut out = Vec::with_capacity(coded.len());
        for c in coded {
            let d = PyDict::new(py);
            d.set_item("stream", PyBytes::new(py, c.stream.as_bytes()))?;
            d.set_item("quality", c.quality)?;
            d.set_item("max_error", c.max_error)?;
            d.set_item("snr_db", c.snr_db)?;
            out.push(d);
        }
        PyList::new(py, out)
    }

    /// Decodes one stream to its latent [C, h, w], in the type it recorded (float16, else
    /// float32; bfloat16 latents come back as float32, which holds them exactly). An image
    /// stream gives its base layer's latent. No model is needed.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        stream: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = stream_from(stream)?;
        let latent = py
            .detach(|| {
                self.pool
                    .with(|c| c.parse(bytes).and_then(|s| c.decode(&s)))
            })
            .and_then(|r| r)
            .or_py(py)?;
        latent_to(py, latent)
    }

    /// Decodes streams of one shape and type into one array [N, C, h, w].
    fn decode_batch<'py>(
        &self,
        py: Python<'py>,
        streams: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = streams
            .try_iter()?
            .map(|s| s.and_then(|s| stream_from(&s)))
            .collect::<PyResult<Vec<_>>>()?;
        let latent = py
            .detach(|| {
                self.pool.with(|c| {
                    let parsed = bytes
                        .into_iter()
                        .map(|b| c.parse(b))
                        .collect::<vaerans::Result<Vec<AnsBitstream>>>()?;
                    c.decode_all(&parsed)
                })
            })
            .and_then(|r| r)
            .or_py(py)?;
        latent_to(py, latent)
    }
}

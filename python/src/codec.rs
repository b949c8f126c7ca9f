//! `vaerans.Codec`: images to streams and back through a model.

use std::sync::Arc;

use image::RgbImage;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use vaerans::bitstream::EntropyCoding;
use vaerans::vae::{ExecutionProvider, ProviderOptions};
use vaerans::{Codec, Device, Limits, Pipeline, RawImage};

use crate::arrays::{image_from, image_to, latent_from, latent_to, stream_from, Rgb8};
use crate::errors::{input, to_py, OrPy};
use crate::pool::Pool;

/// Compresses images into vaerans streams and back, through a VAE (by default the embedded
/// model). Build one and reuse it: opening a model takes a while. Thread-safe: calls from
/// several threads run side by side, up to `concurrency` at once (default: the number of
/// cores).
///
/// `threads` is ONNX Runtime's thread count for one call (default: one per core). Where
/// several threads call at once, `threads=1` lets each call keep one core busy, which on a
/// small model codes more images a second in all than sharing every core between calls.
#[pyclass(frozen, name = "Codec", module = "vaerans")]
pub(crate) struct PyCodec {
    pool: Pool<Codec>,
    quality: u8,
    model: String,
    device: Device,
    provider: ExecutionProvider,
    latent_channels: usize,
    downsample: usize,
    concurrency: usize,
    /// The arguments it was made with, so that a copy can be made elsewhere (pickling).
    settings: Py<PyDict>,
}

/// A quality from Python, checked to `1..=100`.
pub(crate) fn quality_from(py: Python<'_>, quality: i64) -> PyResult<u8> {
    u8::try_from(quality)
        .ok()
        .filter(|q| (1..=100).contains(q))
        .ok_or_else(|| input(py, format!("quality {quality} is outside 1..=100")))
}

/// One result per input, in order: where reading the input failed, its exception; else the
/// next of `coded` (one per input read) as a value, or its exception. Exceptions are objects
/// in the list, never raised, so one bad input does not lose the others.
fn merge<'py, I, T>(
    py: Python<'py>,
    read: Vec<PyResult<I>>,
    coded: Vec<vaerans::Result<T>>,
    to_value: impl Fn(T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyList>> {
    let mut coded = coded.into_iter();
    let mut out = Vec::with_capacity(read.len());
    for r in read {
        let item = r
            .and_then(|_| {
                let c = coded.next().expect("one result per input read");
                c.map_err(|e| to_py(py, e))
            })
            .and_then(&to_value);
        out.push(match item {
            Ok(v) => v,
            Err(e) => e.into_value(py).into_bound(py).into_any(),
        });
    }
    PyList::new(py, out)
}

/// Items a batch call codes between checks of Python's signals.
const CHUNK: usize = 32;

/// `f` over `items`, [`CHUNK`] at a time, the interpreter released while each chunk is coded
/// and Python's signals checked between chunks, so that Ctrl-C stops a long batch after the
/// chunk in progress (raising `KeyboardInterrupt`) instead of at its end.
pub(crate) fn in_chunks<I: Sync, T: Send>(
    py: Python<'_>,
    items: &[I],
    f: impl Fn(&[I]) -> vaerans::Result<Vec<vaerans::Result<T>>> + Sync,
) -> PyResult<Vec<vaerans::Result<T>>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(CHUNK) {
        py.check_signals()?;
        out.extend(py.detach(|| f(chunk)).or_py(py)?);
    }
    Ok(out)
}

/// The most calls that run at once: as asked, else one per core.
pub(crate) fn concurrency_from(py: Python<'_>, concurrency: Option<usize>) -> PyResult<usize> {
    match concurrency {
        Some(0) => Err(input(py, "concurrency must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, usize::from)),
    }
}

#[pymethods]
impl PyCodec {
    #[new]
    #[pyo3(signature = (
        model=None, quality=75, device="auto", ep="auto", *, threads=None, concurrency=None,
        entropy=None, input_range=None, base_only=false, max_memory_mib=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: Option<std::path::PathBuf>,
        quality: i64,
        device: &str,
        ep: &str,
        threads: Option<usize>,
        concurrency: Option<usize>,
        entropy: Option<&str>,
        input_range: Option<(f32, f32)>,
        base_only: bool,
        max_memory_mib: Option<u64>,
    ) -> PyResult<Self> {
        let settings = PyDict::new(py);
        // A configured name or an `.onnx` path (str or os.PathLike).
        let model = model.map(|m| m.to_string_lossy().into_owned());
        settings.set_item("model", model.clone())?;
        settings.set_item("quality", quality)?;
        settings.set_item("device", device)?;
        settings.set_item("ep", ep)?;
        settings.set_item("threads", threads)?;
        settings.set_item("concurrency", concurrency)?;
        settings.set_item("entropy", entropy)?;
        settings.set_item("input_range", input_range)?;
        settings.set_item("base_only", base_only)?;
        settings.set_item("max_memory_mib", max_memory_mib)?;
        let quality = quality_from(py, quality)?;
        let device: Device = device.parse().or_py(py)?;
        let ep: ExecutionProvider = ep.parse().or_py(py)?;
        let mut options = ProviderOptions::default();
        if let Some(t) = threads {
            if t == 0 {
                return Err(input(py, "threads must be at least 1"));
            }
            options = options.with_threads(t);
        }
        let concurrency = concurrency_from(py, concurrency)?;
        let mut builder = Codec::builder()
            .quality(quality)
            .device(device)
            .execution_provider(ep)
            .provider_options(options)
            .base_only(base_only);
        if let Some(m) = model {
            builder = builder.model(m);
        }
        if let Some(e) = entropy {
            builder = builder.entropy(Some(EntropyCoding::named(e).or_py(py)?));
        }
        if let Some((lo, hi)) = input_range {
            builder = builder.input_range([lo, hi]);
        }
        if let Some(mib) = max_memory_mib {
            builder =
                builder.limits(Limits::default().with_max_memory(mib.saturating_mul(1 << 20)));
        }
        let template = builder.clone();
        let first = py.detach(|| builder.build()).or_py(py)?;
        let vae = first.vae().clone();
        let gpu = first.gpu_context().cloned();
        let (model, provider) = (vae.spec().name.clone(), vae.provider());
        let (latent_channels, downsample) = (vae.latent_channels(), vae.downsample());
        let device = first.device();
        // More codecs for calls that overlap: on the CPU provider each with its own sessions
        // (ONNX Runtime runs one call of a session at a time), elsewhere sharing the model's.
        let make = move || {
            let vae = if vae.provider() == ExecutionProvider::Cpu {
                Arc::new(vae.reopen(vae.options()))
            } else {
                vae.clone()
            };
            // Where the first codec's latent stages run, without asking the adapters again.
            let mut b = template.clone().vae(vae).device(device);
            if let Some(ctx) = &gpu {
                b = b.gpu_context(ctx.clone());
            }
            b.build()
        };
        Ok(Self {
            pool: Pool::new(first, concurrency, make),
            quality,
            model,
            device,
            provider,
            latent_channels,
            downsample,
            concurrency,
            settings: settings.unbind(),
        })
    }

    /// Pickling: a copy is a new codec made with the same arguments (it opens the model
    /// again where it is unpickled).
    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        Ok((PyTuple::empty(py), self.settings.bind(py).copy()?))
    }

    /// The quality streams are written at (1 to 100).
    #[getter]
    fn quality(&self) -> u8 {
        self.quality
    }

    /// The model's name.
    #[getter]
    fn model(&self) -> &str {
        &self.model
    }

    /// Where the latent stages run: "cpu" or "gpu".
    #[getter]
    fn device(&self) -> &'static str {
        self.device.name()
    }

    /// The execution provider the VAE runs on: "cpu", "cuda" or "webgpu".
    #[getter]
    fn ep(&self) -> String {
        self.provider.to_string()
    }

    /// The latent's channels.
    #[getter]
    fn latent_channels(&self) -> usize {
        self.latent_channels
    }

    /// How many pixels a latent value stands for along each side.
    #[getter]
    fn downsample(&self) -> usize {
        self.downsample
    }

    /// The most calls that run at once.
    #[getter]
    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn __repr__(&self) -> String {
        format!(
            "Codec(model={:?}, quality={}, device={:?}, ep={:?})",
            self.model,
            self.quality,
            self.device.name(),
            self.provider.to_string()
        )
    }

    /// Compresses one image (a NumPy array [H, W, 3] of uint8, or a PIL image) into a stream.
    fn compress<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let image = image_from(py, image)?;
        let stream = py
            .detach(|| {
                self.pool
                    .with(|c| c.compress_rgb8(&image.data, image.width, image.height))
            })
            .and_then(|r| r)
            .or_py(py)?;
        Ok(PyBytes::new(py, &stream))
    }

    /// Compresses several images; one result per image, in order: its stream, or the
    /// exception its image raised (never raised here, so one bad image does not lose the
    /// others). The images go through the library's pipeline (on the CPU provider one image
    /// a call on each core side by side; on a GPU provider batches of the model's largest
    /// call), with the same bytes as `compress`. Ctrl-C stops it between chunks of 32.
    fn compress_batch<'py>(
        &self,
        py: Python<'py>,
        images: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let read: Vec<PyResult<Rgb8>> = images
            .try_iter()?
            .map(|item| item.and_then(|i| image_from(py, &i)))
            .collect();
        let raws: Vec<RawImage<'_>> = read
            .iter()
            .flatten()
            .map(|i| RawImage {
                data: &i.data,
                width: i.width,
                height: i.height,
            })
            .collect();
        let coded = in_chunks(py, &raws, |chunk| {
            self.pool.with(|c| {
                let load = |raw: &&RawImage<'_>| {
                    RgbImage::from_raw(raw.width, raw.height, raw.data.to_vec())
                        .ok_or_else(|| vaerans::Error::Internal("an image's buffer".into()))
                };
                let mut out = Vec::with_capacity(chunk.len());
                c.compress_each(chunk, load, Pipeline::default(), |batch| {
                    out.extend(batch.into_iter().map(|(_, r)| r))
                })?;
                Ok(out)
            })?
        })?;
        merge(py, read, coded, |s| Ok(PyBytes::new(py, &s).into_any()))
    }

    /// Decompresses one stream (bytes, bytearray or memoryview) into an image: a NumPy array
    /// [H, W, 3] of uint8.
    fn decompress<'py>(
        &self,
        py: Python<'py>,
        stream: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let bytes = stream_from(stream)?;
        let image = py
            .detach(|| self.pool.with(|c| c.decompress(&bytes)))
            .and_then(|r| r)
            .or_py(py)?;
        image_to(py, image)
    }

    /// Decompresses several streams; one result per stream, in order: its image, or the
    /// exception its stream raised (never raised here). Through the library's pipeline, as
    /// `compress_batch`.
    fn decompress_batch<'py>(
        &self,
        py: Python<'py>,
        streams: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let read: Vec<PyResult<Vec<u8>>> = streams
            .try_iter()?
            .map(|item| item.and_then(|s| stream_from(&s)))
            .collect();
        let good: Vec<&[u8]> = read.iter().flatten().map(Vec::as_slice).collect();
        let decoded = in_chunks(py, &good, |chunk| {
            self.pool.with(|c| {
                let mut out = Vec::with_capacity(chunk.len());
                let load = |s: &&&[u8]| Ok(s.to_vec());
                c.decompress_each(chunk, load, Pipeline::default(), |batch| {
                    out.extend(batch.into_iter().map(|(_, r)| r))
                })?;
                Ok(out)
            })?
        })?;
        merge(py, read, decoded, |i| image_to(py, i))
    }

    /// The model's latent of an image: a float32 array [C, h, w] (no quantisation).
    fn latent_of<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let image = image_from(py, image)?.into_image();
        let latent = py
            .detach(|| self.pool.with(|c| c.latent_of(&image)))
            .and_then(|r| r)
            .or_py(py)?;
        latent_to(py, latent)
    }

    /// The model's image of a latent [C, h, w] (float32 or float16), cropped to `width` ×
    /// `height`, the size of the image it came from.
    fn image_of_latent<'py>(
        &self,
        py: Python<'py>,
        latent: &Bound<'py, PyAny>,
        width: u32,
        height: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let latent = latent_from(py, latent, None)?;
        let image = py
            .detach(|| {
                self.pool
                    .with(|c| c.image_of_latent(&latent, width, height))
            })
            .and_then(|r| r)
            .or_py(py)?;
        image_to(py, image)
    }
}

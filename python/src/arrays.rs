//! Arrays and streams between Python and Rust, each checked with a message that says what
//! was expected.
//!
//! Inputs are copied out of their Python objects while the interpreter is held: the codec
//! then works with the interpreter released, and another Python thread could write into a
//! NumPy array meanwhile (a copy of an image is well under a percent of coding it). Outputs
//! are handed to NumPy without a copy (`from_vec`, then a reshape that only makes a view).

use half::f16;
use half::slice::HalfFloatSliceExt;
use half::vec::HalfFloatVecExt;
use image::RgbImage;
use numpy::{
    PyArray1, PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView};
use vaerans::latent::file::{LatentArray, LatentDType};

use crate::errors::{input, OrPy};

/// An RGB image to code: its pixels and size, copied from Python.
pub(crate) struct Rgb8 {
    pub(crate) data: Vec<u8>,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Rgb8 {
    /// The image as the `image` crate's type (the buffer's size is checked when it is made).
    pub(crate) fn into_image(self) -> RgbImage {
        RgbImage::from_raw(self.width, self.height, self.data).expect("checked in image_from")
    }
}

/// The NumPy array behind `obj`, or a `TypeError` naming what `what` accepts.
fn as_array<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Bound<'py, PyUntypedArray>> {
    obj.cast::<PyUntypedArray>().cloned().map_err(|_| {
        let type_name = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_string(), |n| n.to_string());
        PyTypeError::new_err(format!("{what}, not {type_name}"))
    })
}

/// Whether `obj` is a PIL image (PIL is only asked when it is already imported: an image of
/// its type cannot exist otherwise).
fn is_pil_image(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    let modules = py.import("sys")?.getattr("modules")?;
    let Ok(pil) = modules.get_item("PIL.Image") else {
        return Ok(false);
    };
    obj.is_instance(&pil.getattr("Image")?)
}

const IMAGE_TYPES: &str = "an image is a NumPy array [height, width, 3] of uint8 or a PIL image";

/// An RGB8 image from a NumPy array `[H, W, 3]` of `uint8` (C-contiguous) or a PIL image
/// (converted to RGB; images with alpha are refused, as the library refuses them).
pub(crate) fn image_from(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Rgb8> {
    let obj = if is_pil_image(py, obj)? {
        let mode: String = obj.getattr("mode")?.extract()?;
        if matches!(mode.as_str(), "RGBA" | "LA" | "PA" | "RGBa" | "La") {
            return Err(input(
                py,
                format!(
                    "the PIL image has an alpha channel (mode {mode}); say what to do with it: \
                     image.convert(\"RGB\") drops it, or composite it over a background first"
                ),
            ));
        }
        let rgb = obj.call_method1("convert", ("RGB",))?;
        py.import("numpy")?.call_method1("asarray", (rgb,))?
    } else {
        obj.clone()
    };
    let array = as_array(&obj, IMAGE_TYPES)?;
    let shape = array.shape().to_vec();
    if !array.dtype().is_equiv_to(&numpy::dtype::<u8>(py)) {
        return Err(input(
            py,
            format!(
                "the image array is {}; images are uint8 RGB (for floats in [0, 1]: \
                 (a * 255).round().astype(numpy.uint8))",
                array.dtype()
            ),
        ));
    }
    if shape.len() != 3 || shape[2] != 3 {
        let hint = if shape.len() == 3 && shape[2] == 4 {
            "; it has an alpha channel: a[..., :3] drops it"
        } else if shape.len() == 2 {
            "; a grey image: numpy.stack([a] * 3, axis=-1) makes it RGB"
        } else {
            ""
        };
        return Err(input(
            py,
            format!("the image array has shape {shape:?}; images are [height, width, 3] RGB{hint}"),
        ));
    }
    if !array.is_c_contiguous() {
        return Err(input(
            py,
            "the image array is not C-contiguous (a slice or a transposed view); pass \
             numpy.ascontiguousarray(a)",
        ));
    }
    let (height, width) = (shape[0], shape[1]);
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(input(
            py,
            format!("the image is {width}×{height}: too large"),
        ));
    };
    let typed = array.cast::<PyArrayDyn<u8>>()?.readonly();
    let data = typed
        .as_slice()
        .map_err(|e| input(py, format!("the image array cannot be read: {e}")))?
        .to_vec();
    Ok(Rgb8 {
        data,
        width: w,
        height: h,
    })
}

/// An image as a NumPy array `[H, W, 3]` of `uint8`, without a copy.
pub(crate) fn image_to<'py>(py: Python<'py>, image: RgbImage) -> PyResult<Bound<'py, PyAny>> {
    let (w, h) = image.dimensions();
    let flat = PyArray1::from_vec(py, image.into_raw());
    Ok(flat.reshape([h as usize, w as usize, 3])?.into_any())
}

/// A stream's bytes from `bytes`, `bytearray` or `memoryview`.
pub(crate) fn stream_from(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if let Ok(m) = obj.cast::<PyMemoryView>() {
        let bytes = m.call_method0("tobytes")?;
        return Ok(bytes.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    let type_name = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string());
    Err(PyTypeError::new_err(format!(
        "a stream is bytes, bytearray or memoryview, not {type_name}"
    )))
}

const LATENT_TYPES: &str =
    "a latent is a NumPy array [C, h, w] or [N, C, h, w] of float32 or float16";

/// A latent array from a NumPy array of `float32` or `float16`, `[C, h, w]` or
/// `[N, C, h, w]`, C-contiguous; recorded as `dtype` when given (decoding rounds to it; the
/// values must be finite in it), else as the array's own type.
pub(crate) fn latent_from(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    dtype: Option<&str>,
) -> PyResult<LatentArray> {
    let array = as_array(obj, LATENT_TYPES)?;
    let shape = array.shape().to_vec();
    if !array.is_c_contiguous() {
        return Err(input(
            py,
            "the latent array is not C-contiguous (a slice or a transposed view); pass \
             numpy.ascontiguousarray(a)",
        ));
    }
    let descr = array.dtype();
    let (values, own) = if descr.is_equiv_to(&numpy::dtype::<f32>(py)) {
        let typed = array.cast::<PyArrayDyn<f32>>()?.readonly();
        let values = typed
            .as_slice()
            .map_err(|e| input(py, format!("the latent array cannot be read: {e}")))?
            .to_vec();
        (values, LatentDType::F32)
    } else if descr.is_equiv_to(&numpy::dtype::<f16>(py)) {
        let typed = array.cast::<PyArrayDyn<f16>>()?.readonly();
        let halves = typed
            .as_slice()
            .map_err(|e| input(py, format!("the latent array cannot be read: {e}")))?;
        (halves.to_f32_vec(), LatentDType::F16)
    } else {
        return Err(input(
            py,
            format!(
                "the latent array is {descr}; latents are float32 or float16 (bfloat16 \
                 tensors: pass tensor.float().numpy() with dtype=\"bfloat16\")"
            ),
        ));
    };
    let dtype = match dtype {
        Some(name) => LatentDType::named(name).or_py(py)?,
        None => own,
    };
    LatentArray::new(values, shape, dtype).or_py(py)
}

/// A latent array as NumPy: `float16` for f16 latents, else `float32` (NumPy has no
/// bfloat16; bf16 values are exact in float32).
pub(crate) fn latent_to<'py>(py: Python<'py>, latent: LatentArray) -> PyResult<Bound<'py, PyAny>> {
    let shape = latent.shape().to_vec();
    let dtype = latent.dtype();
    let values = latent.into_data();
    let flat = if dtype == LatentDType::F16 {
        PyArray1::from_vec(py, Vec::<f16>::from_f32_slice(&values)).into_any()
    } else {
        PyArray1::from_vec(py, values).into_any()
    };
    flat.call_method1("reshape", (shape,))
}

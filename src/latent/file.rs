//! Latent arrays in files, as diffusion training caches keep them: `.npy` (NumPy) and
//! `.safetensors`, in f32, f16 or bf16, one latent `[C, h, w]` or a batch `[N, C, h, w]`, any
//! `C` that is a multiple of 4.
//!
//! Reading is bounded before anything is allocated: the file's size against
//! [`Limits::max_alloc`], the header's element count against the bytes the file holds, and the
//! f32 values it becomes against the same limit; a truncated file, a header that claims more
//! than the file holds, non-finite values, an array of another rank and a channel count that is
//! not a multiple of 4 are errors that say so. Values are held as f32 (exact for f16 and bf16)
//! with the file's element type, so writing gives back what was read.
//!
//! ```
//! use vaerans::latent::file::{LatentArray, LatentDType, LatentFormat};
//! let a = LatentArray::new(vec![0.5; 4 * 2 * 3], vec![4, 2, 3], LatentDType::F16)?;
//! let bytes = a.to_bytes(LatentFormat::Npy)?;
//! let back = LatentArray::from_bytes(&bytes, LatentFormat::Npy, &vaerans::Limits::default())?;
//! assert_eq!(back, a);
//! # Ok::<(), vaerans::Error>(())
//! ```

use std::path::Path;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use safetensors::{Dtype, SafeTensors};

use crate::bitstream::Limits;
use crate::error::{Error, Result};

/// The element type of a latent file, kept so that decoding restores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatentDType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16 (safetensors only: NumPy has no such type).
    Bf16,
}

impl LatentDType {
    /// Its name: `f32`, `f16` or `bf16`.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }

    /// The type named `name`: its [`name`](Self::name), or NumPy's and PyTorch's spelling
    /// (`float32`, `float16`, `bfloat16`).
    pub fn named(name: &str) -> Result<Self> {
        match name {
            "f32" | "float32" => Ok(Self::F32),
            "f16" | "float16" => Ok(Self::F16),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            other => Err(Error::InvalidInput(format!(
                "unknown latent type `{other}`; use f32, f16 or bf16 (or float32, float16, \
                 bfloat16)"
            ))),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// `v` rounded to this type and back: what a file of this type holds for `v`.
    pub fn round(self, v: f32) -> f32 {
        match self {
            Self::F32 => v,
            Self::F16 => f16::from_f32(v).to_f32(),
            Self::Bf16 => bf16::from_f32(v).to_f32(),
        }
    }

    /// Every value of `values` rounded to this type and back, as [`round`](Self::round) does
    /// one, a block at a time through the CPU's conversion instructions where it has them
    /// (F16C on x86-64, detected at run time by `half`): a value at a time costs several times
    /// more, and decoding a latent cache rounds every value.
    pub fn round_slice(self, values: &mut [f32]) {
        match self {
            Self::F32 => {}
            Self::F16 => round_through::<f16>(values),
            Self::Bf16 => round_through::<bf16>(values),
        }
    }

    /// Whether `v` is finite once rounded to this type (what [`round`](Self::round) would
    /// say, without converting: f16 overflows from 65520, bf16 near `f32::MAX`).
    fn holds(self, v: f32) -> bool {
        match self {
            Self::F32 => v.is_finite(),
            Self::F16 => v.abs() < 65520.0,
            Self::Bf16 => v.abs() < 3.0e38 || self.round(v).is_finite(),
        }
    }
}

/// Values converted per block by [`LatentDType::round_slice`] and the file readers.
const CONVERT_BLOCK: usize = 256;

/// A latent file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatentFormat {
    /// NumPy's `.npy`.
    Npy,
    /// Hugging Face's `.safetensors` (one tensor).
    Safetensors,
}

impl LatentFormat {
    /// The format of a file named `path` (`.npy` or `.safetensors`).
    pub fn of_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("npy") => Ok(Self::Npy),
            Some(e) if e.eq_ignore_ascii_case("safetensors") => Ok(Self::Safetensors),
            _ => Err(Error::InvalidInput(format!(
                "{}: latent files are .npy or .safetensors",
                path.display()
            ))),
        }
    }

    /// The extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Npy => "npy",
            Self::Safetensors => "safetensors",
        }
    }
}

/// One latent `[C, h, w]` or a batch `[N, C, h, w]`, its values in f32, row-major, and the
/// element type of the file it came from or goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct LatentArray {
    data: Vec<f32>,
    shape: Vec<usize>,
    dtype: LatentDType,
}

/// The one check of a latent array's shape: rank 3 or 4, no empty axis, channels a multiple
/// of 4, and the element count (checked for overflow).
fn check_shape(shape: &[usize]) -> Result<usize> {
    if !(3..=4).contains(&shape.len()) {
        return Err(Error::InvalidInput(format!(
            "a latent array is [C, h, w] or [N, C, h, w]; this one is {}-D {shape:?}",
            shape.len()
        )));
    }
    if shape.contains(&0) {
        return Err(Error::InvalidInput(format!(
            "the latent array {shape:?} is empty"
        )));
    }
    let c = shape[shape.len() - 3];
    if c % 4 != 0 {
        return Err(Error::InvalidInput(format!(
            "the latent array {shape:?} has {c} channels; the codec needs a multiple of 4 \
             (SD/SDXL 4, SD3/FLUX.1 16, FLUX.2 32)"
        )));
    }
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::LimitExceeded(format!("the latent array {shape:?} overflows")))
}

impl LatentArray {
    /// An array of `data` (row-major) of `shape`, to be stored as `dtype`. Checks the shape
    /// (rank 3 or 4, channels a multiple of 4), the length, and that every value is finite
    /// and representable in `dtype` (values are not rounded here).
    pub fn new(data: Vec<f32>, shape: Vec<usize>, dtype: LatentDType) -> Result<Self> {
        let n = check_shape(&shape)?;
        if data.len() != n {
            return Err(Error::InvalidInput(format!(
                "{} values for a {shape:?} latent array ({n})",
                data.len()
            )));
        }
        if let Some(v) = data.iter().find(|v| !dtype.holds(**v)) {
            return Err(Error::InvalidInput(format!(
                "the latent array holds {v}, which is not a finite {}",
                dtype.name()
            )));
        }
        Ok(Self { data, shape, dtype })
    }

    /// An array of values a stream decoded to (finite by construction, already rounded to
    /// `dtype`): the shape and length are checked, the values are not scanned again.
    pub(crate) fn decoded(data: Vec<f32>, shape: Vec<usize>, dtype: LatentDType) -> Result<Self> {
        let n = check_shape(&shape)?;
        if data.len() != n {
            return Err(Error::InvalidInput(format!(
                "{} values for a {shape:?} latent array ({n})",
                data.len()
            )));
        }
        Ok(Self { data, shape, dtype })
    }

    /// The values, row-major, taken out of the array.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The shape, as in the file.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The file's element type.
    pub fn dtype(&self) -> LatentDType {
        self.dtype
    }

    /// Whether the array is a batch `[N, C, h, w]`.
    pub fn is_batch(&self) -> bool {
        self.shape.len() == 4
    }

    /// Latents in the array (1 for `[C, h, w]`).
    pub fn count(&self) -> usize {
        if self.is_batch() {
            self.shape[0]
        } else {
            1
        }
    }

    /// The shape of one latent, `[C, h, w]`.
    pub fn latent_shape(&self) -> [usize; 3] {
        let s = &self.shape[self.shape.len() - 3..];
        [s[0], s[1], s[2]]
    }

    /// Every latent of the array, `[C, h, w]` each, in order ([`count`](Self::count) of them).
    pub fn latents(&self) -> std::slice::ChunksExact<'_, f32> {
        // The shape was checked non-empty when the array was made, so the size is not 0.
        self.data.chunks_exact(self.latent_shape().iter().product())
    }

    /// Latent `i` (of [`count`](Self::count)).
    pub fn latent(&self, i: usize) -> Option<&[f32]> {
        let n: usize = self.latent_shape().iter().product();
        self.data.get(i * n..(i + 1) * n)
    }

    /// Reads a `.npy` or `.safetensors` file (by its extension), bounded by `limits`.
    pub fn read(path: &Path, limits: &Limits) -> Result<Self> {
        let format = LatentFormat::of_path(path)?;
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        if size > limits.max_alloc {
            return Err(Error::LimitExceeded(format!(
                "{}: {size} bytes, the limit is {}",
                path.display(),
                limits.max_alloc
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, format, limits).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses a file's bytes in `format`, bounded by `limits`.
    pub fn from_bytes(bytes: &[u8], format: LatentFormat, limits: &Limits) -> Result<Self> {
        let (shape, dtype, raw) = match format {
            LatentFormat::Npy => npy_parts(bytes)?,
            LatentFormat::Safetensors => safetensors_parts(bytes)?,
        };
        let n = check_shape(&shape)?;
        let need = n.checked_mul(dtype.size());
        if need != Some(raw.len()) {
            return Err(Error::InvalidInput(format!(
                "the header says {shape:?} {} ({} bytes), the file holds {} bytes of data",
                dtype.name(),
                need.map_or("too many".to_string(), |b| b.to_string()),
                raw.len()
            )));
        }
        if (n as u64).saturating_mul(4) > limits.max_alloc {
            return Err(Error::LimitExceeded(format!(
                "a {shape:?} latent array needs {} bytes as f32, the limit is {}",
                n as u64 * 4,
                limits.max_alloc
            )));
        }
        let data: Vec<f32> = match dtype {
            LatentDType::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            LatentDType::F16 => halves_to_f32(raw, f16::from_bits),
            LatentDType::Bf16 => halves_to_f32(raw, bf16::from_bits),
        };
        Self::new(data, shape, dtype)
    }

    /// The array as a file's bytes in `format` (f32 values rounded to the array's type).
    pub fn to_bytes(&self, format: LatentFormat) -> Result<Vec<u8>> {
        let raw = match self.dtype {
            LatentDType::F32 => self.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            LatentDType::F16 => f32_to_halves(&self.data, f16::to_bits),
            LatentDType::Bf16 => f32_to_halves(&self.data, bf16::to_bits),
        };
        match format {
            LatentFormat::Npy => npy_bytes(&self.shape, self.dtype, &raw),
            LatentFormat::Safetensors => {
                let dtype = match self.dtype {
                    LatentDType::F32 => Dtype::F32,
                    LatentDType::F16 => Dtype::F16,
                    LatentDType::Bf16 => Dtype::BF16,
                };
                let view = safetensors::tensor::TensorView::new(dtype, self.shape.clone(), &raw)
                    .map_err(|e| Error::Internal(format!("safetensors: {e}")))?;
                safetensors::serialize([(TENSOR_NAME, view)], None)
                    .map_err(|e| Error::Internal(format!("safetensors: {e}")))
            }
        }
    }

    /// Writes the array to `path` in the format its extension names.
    pub fn write(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes(LatentFormat::of_path(path)?)?;
        std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
    }
}

/// Every value of `values` rounded to the 16-bit float `H` (f16 or bf16) and back, a block at
/// a time.
fn round_through<H>(values: &mut [f32])
where
    H: Copy + Default,
    [H]: HalfFloatSliceExt,
{
    let mut buf = [H::default(); CONVERT_BLOCK];
    for chunk in values.chunks_mut(CONVERT_BLOCK) {
        let b = &mut buf[..chunk.len()];
        b.convert_from_f32_slice(chunk);
        b.convert_to_f32_slice(chunk);
    }
}

/// Little-endian 16-bit floats (f16 or bf16, made by `from_bits`) as f32, a block at a time.
fn halves_to_f32<H>(raw: &[u8], from_bits: fn(u16) -> H) -> Vec<f32>
where
    H: Copy + Default,
    [H]: HalfFloatSliceExt,
{
    let mut out = vec![0.0f32; raw.len() / 2];
    let mut buf = [H::default(); CONVERT_BLOCK];
    for (bytes, dst) in raw
        .chunks(2 * CONVERT_BLOCK)
        .zip(out.chunks_mut(CONVERT_BLOCK))
    {
        let b = &mut buf[..dst.len()];
        for (h, pair) in b.iter_mut().zip(bytes.chunks_exact(2)) {
            *h = from_bits(u16::from_le_bytes([pair[0], pair[1]]));
        }
        b.convert_to_f32_slice(dst);
    }
    out
}

/// f32 values as little-endian 16-bit floats (f16 or bf16, their bits by `to_bits`), a block at
/// a time.
fn f32_to_halves<H>(values: &[f32], to_bits: fn(H) -> u16) -> Vec<u8>
where
    H: Copy + Default,
    [H]: HalfFloatSliceExt,
{
    let mut raw = Vec::with_capacity(values.len() * 2);
    let mut buf = [H::default(); CONVERT_BLOCK];
    for chunk in values.chunks(CONVERT_BLOCK) {
        let b = &mut buf[..chunk.len()];
        b.convert_from_f32_slice(chunk);
        raw.extend(b.iter().flat_map(|&h| to_bits(h).to_le_bytes()));
    }
    raw
}

/// The tensor name written to `.safetensors` files.
pub const TENSOR_NAME: &str = "latent";

/// The shape, element type and raw little-endian data of a `.npy` file (version 1 to 3,
/// C order, `<f4` or `<f2`; big-endian data is refused rather than swapped).
fn npy_parts(bytes: &[u8]) -> Result<(Vec<usize>, LatentDType, &[u8])> {
    let bad = |m: String| Error::InvalidInput(format!(".npy: {m}"));
    check_npy_header(bytes).map_err(bad)?;
    let header = npyz::NpyFile::new(bytes).map_err(|e| bad(e.to_string()))?;
    if header.order() != npyz::Order::C {
        return Err(bad(
            "Fortran-ordered arrays are not read; save it C-ordered".into(),
        ));
    }
    let descr = header.dtype().descr();
    let dtype = match descr.as_str() {
        "'<f4'" => LatentDType::F32,
        "'<f2'" => LatentDType::F16,
        other => {
            return Err(bad(format!(
                "element type {other}; latents are little-endian f32 ('<f4') or f16 ('<f2') \
                 (bf16: use .safetensors)"
            )))
        }
    };
    let shape = header
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("axis of {d}"))))
        .collect::<Result<Vec<usize>>>()?;
    let data = header.into_inner();
    Ok((shape, dtype, data))
}

/// Longest `.npy` header read: NumPy's own default limit (`max_header_size`).
const NPY_MAX_HEADER: usize = 10_000;

/// Checks a `.npy` header is what a plain array's is before `npyz` parses it: at most
/// [`NPY_MAX_HEADER`] bytes of ASCII with a few brackets (the dictionary and the shape
/// tuple). A header of nested brackets took the parser seconds per hundred bytes (found by
/// fuzzing); NumPy writes none.
fn check_npy_header(bytes: &[u8]) -> std::result::Result<(), String> {
    let (Some(b"\x93NUMPY"), Some(&major)) = (bytes.get(..6), bytes.get(6)) else {
        return Err("not a .npy file (no \\x93NUMPY magic)".into());
    };
    let (len, at) = match major {
        1 => (
            bytes
                .get(8..10)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
            10,
        ),
        2 | 3 => (
            bytes
                .get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize),
            12,
        ),
        v => return Err(format!("format version {v} (NumPy writes 1 to 3)")),
    };
    let len = len.ok_or("the file ends in its header")?;
    if len > NPY_MAX_HEADER {
        return Err(format!(
            "a header of {len} bytes (NumPy reads at most {NPY_MAX_HEADER})"
        ));
    }
    let text = bytes
        .get(at..at + len)
        .ok_or("the file ends in its header")?;
    let brackets = text.iter().filter(|b| b"{[(".contains(b)).count();
    if !text.is_ascii() || brackets > 4 {
        return Err("the header is not a plain array's (ASCII, a dictionary and a shape)".into());
    }
    Ok(())
}

/// A `.npy` file (version 1.0) of `raw` little-endian data.
fn npy_bytes(shape: &[usize], dtype: LatentDType, raw: &[u8]) -> Result<Vec<u8>> {
    let descr = match dtype {
        LatentDType::F32 => "<f4",
        LatentDType::F16 => "<f2",
        LatentDType::Bf16 => {
            return Err(Error::InvalidInput(
                "NumPy has no bf16: write bf16 latents as .safetensors".into(),
            ))
        }
    };
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}{}), }}",
        dims.join(", "),
        if dims.len() == 1 { "," } else { "" }
    );
    // Magic (6) + version (2) + length (2) + dict + newline, padded to 64 bytes.
    let total = (10 + dict.len() + 1).div_ceil(64) * 64;
    dict.push_str(&" ".repeat(total - 10 - dict.len() - 1));
    dict.push('\n');
    let len = u16::try_from(dict.len())
        .map_err(|_| Error::InvalidInput(format!("a {shape:?} array's .npy header is too long")))?;
    let mut out = Vec::with_capacity(total + raw.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend_from_slice(raw);
    Ok(out)
}

/// The shape, element type and raw data of a `.safetensors` file's one tensor.
fn safetensors_parts(bytes: &[u8]) -> Result<(Vec<usize>, LatentDType, &[u8])> {
    let bad = |m: String| Error::InvalidInput(format!(".safetensors: {m}"));
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let names = st.names();
    let name = match names.as_slice() {
        [one] => one.to_string(),
        _ if names.contains(&TENSOR_NAME) => TENSOR_NAME.to_string(),
        _ => {
            return Err(bad(format!(
                "{} tensors ({}); a latent file holds one, or one named `{TENSOR_NAME}`",
                names.len(),
                names.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let t = st.tensor(&name).map_err(|e| bad(e.to_string()))?;
    let dtype = match t.dtype() {
        Dtype::F32 => LatentDType::F32,
        Dtype::F16 => LatentDType::F16,
        Dtype::BF16 => LatentDType::Bf16,
        other => {
            return Err(bad(format!(
                "tensor `{name}` is {other:?}; latents are F32, F16 or BF16"
            )))
        }
    };
    Ok((t.shape().to_vec(), dtype, t.data()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values around every binade, halfway points, the types' overflow edges, subnormals and
    /// signed zeros, at lengths around the block size.
    fn awkward_values(n: usize) -> Vec<f32> {
        let edges = [
            0.0,
            -0.0,
            1e-8,
            -6e-8,
            6.1e-5,
            0.1,
            0.5,
            1.0,
            1.000_488_3,
            2047.5,
            65504.0,
            65519.0,
            -65519.0,
            3.0e38,
            -1.0e38,
        ];
        let mut s = 0x2545_f491u32;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                if i % 7 == 0 {
                    edges[i / 7 % edges.len()]
                } else {
                    f32::from_bits(s & 0x477f_ffff | (s & 0x8000_0000))
                }
            })
            .collect()
    }

    /// The block conversions are the one-value conversions, value for value.
    #[test]
    fn block_conversions_match_one_value_conversions() {
        for n in [0, 1, 255, 256, 257, 1000] {
            let values = awkward_values(n);
            for dtype in [LatentDType::F32, LatentDType::F16, LatentDType::Bf16] {
                let mut fast = values.clone();
                dtype.round_slice(&mut fast);
                let slow: Vec<f32> = values.iter().map(|&v| dtype.round(v)).collect();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&slow), "{dtype:?} n={n}");
                for &v in &values {
                    assert_eq!(dtype.holds(v), dtype.round(v).is_finite(), "{dtype:?} {v}");
                }
            }
            let finite: Vec<f32> = values.iter().map(|&v| v.clamp(-6e4, 6e4)).collect();
            let raw = f32_to_halves(&finite, f16::to_bits);
            let one: Vec<u8> = finite
                .iter()
                .flat_map(|&v| f16::from_f32(v).to_bits().to_le_bytes())
                .collect();
            assert_eq!(raw, one);
            let back = halves_to_f32(&raw, f16::from_bits);
            let slow: Vec<f32> = finite.iter().map(|&v| LatentDType::F16.round(v)).collect();
            assert_eq!(back, slow);
            let raw = f32_to_halves(&values, bf16::to_bits);
            let one: Vec<u8> = values
                .iter()
                .flat_map(|&v| bf16::from_f32(v).to_bits().to_le_bytes())
                .collect();
            assert_eq!(raw, one);
            let back = halves_to_f32(&raw, bf16::from_bits);
            let slow: Vec<f32> = values.iter().map(|&v| LatentDType::Bf16.round(v)).collect();
            assert_eq!(back, slow);
        }
    }
}

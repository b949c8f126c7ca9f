//! Tensor handles: typed, cheap-to-copy references into an [`Arena`](crate::Arena) or a GPU
//! arena.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::{Error, Result};

static NEXT_ARENA_ID: AtomicU32 = AtomicU32::new(1);

/// A process-unique arena id (CPU and GPU arenas share the sequence), so a handle used with
/// the wrong arena is caught.
pub(crate) fn next_arena_id() -> u32 {
    NEXT_ARENA_ID.fetch_add(1, Ordering::Relaxed)
}

/// Highest tensor rank a [`TensorRef`] can describe (`[N, C, H, W]`).
pub const MAX_RANK: usize = 4;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// Unsigned byte.
    U8,
    /// 32-bit unsigned integer.
    U32,
    /// 32-bit signed integer.
    I32,
}

impl DType {
    /// Size of one element in bytes (also its alignment).
    pub const fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::F32 | DType::U32 | DType::I32 => 4,
        }
    }

    /// Lower-case name, as used in messages.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::I32 => "i32",
        }
    }
}

/// Rust element types that can live in an arena.
pub trait Element: bytemuck::Pod + Send + Sync {
    /// The matching [`DType`].
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for u8 {
    const DTYPE: DType = DType::U8;
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
}

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// Host memory (the CPU arena).
    Cpu,
    /// A GPU storage buffer (the GPU arena).
    Gpu,
}

/// A handle to a dense tensor inside an arena.
///
/// Cheap to copy; it holds no data. A `TensorRef` is valid only until the arena it came from is
/// [`reset`](crate::Arena::reset): the arena's generation counter turns later use into
/// [`Error::StaleTensorRef`] instead of silently reading newer data.
///
/// Its fields are private, so a handle is always one its arena handed out: the arena checks the
/// generation and the byte range of every handle it is given, and a handle from elsewhere is an
/// error, never an out-of-bounds access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorRef {
    location: Location,
    /// Byte offset of the first element from the start of the arena.
    offset: usize,
    dtype: DType,
    rank: u8,
    shape: [usize; MAX_RANK],
    /// Strides in elements; row-major (C order) for every tensor the arena hands out.
    strides: [usize; MAX_RANK],
    pub(crate) arena: u32,
    pub(crate) generation: u32,
}

impl TensorRef {
    /// A row-major tensor handle. Used by arenas; not public so handles cannot be forged.
    pub(crate) fn new(
        location: Location,
        offset: usize,
        dtype: DType,
        shape: &[usize],
        arena: u32,
        generation: u32,
    ) -> Result<Self> {
        if shape.len() > MAX_RANK {
            return Err(Error::InvalidInput(format!(
                "tensor rank {} exceeds the maximum of {MAX_RANK}",
                shape.len()
            )));
        }
        let mut s = [1usize; MAX_RANK];
        s[..shape.len()].copy_from_slice(shape);
        let mut strides = [0usize; MAX_RANK];
        let mut acc = 1usize;
        for i in (0..shape.len()).rev() {
            strides[i] = acc;
            acc = acc.checked_mul(shape[i]).ok_or_else(|| {
                Error::InvalidInput(format!("tensor shape {shape:?} overflows usize"))
            })?;
        }
        Ok(Self {
            location,
            offset,
            dtype,
            rank: shape.len() as u8,
            shape: s,
            strides,
            arena,
            generation,
        })
    }

    /// Host or device.
    pub fn location(&self) -> Location {
        self.location
    }

    /// Byte offset of the first element from the start of its arena.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape, outermost axis first.
    pub fn shape(&self) -> &[usize] {
        &self.shape[..self.rank as usize]
    }

    /// Strides in elements, outermost axis first.
    pub fn strides(&self) -> &[usize] {
        &self.strides[..self.rank as usize]
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.rank as usize
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype.size()
    }

    /// The `i`-th slice along axis 0, with that axis removed (`[N, C, H, W]` → `[C, H, W]`).
    pub fn sub_ref_axis0(&self, i: usize) -> Result<TensorRef> {
        let shape = self.shape();
        if shape.is_empty() || i >= shape[0] {
            return Err(Error::InvalidInput(format!(
                "sub_ref_axis0({i}) out of range for shape {shape:?}"
            )));
        }
        let mut out = TensorRef::new(
            self.location,
            self.offset + i * self.strides[0] * self.dtype.size(),
            self.dtype,
            &shape[1..],
            self.arena,
            self.generation,
        )?;
        out.strides[..self.rank as usize - 1].copy_from_slice(&self.strides()[1..]);
        Ok(out)
    }

    /// Byte range of the tensor inside its arena.
    pub(crate) fn byte_range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.byte_len()
    }

    /// The `(C, h, w)` of a non-empty rank-3 tensor of element type `dtype`, or an error naming
    /// the tensor as `what`: the one check every latent stage makes of its input.
    pub(crate) fn chw(&self, dtype: DType, what: &str) -> Result<[usize; 3]> {
        match *self.shape() {
            [c, h, w] if c > 0 && h > 0 && w > 0 && self.dtype == dtype => Ok([c, h, w]),
            _ => Err(Error::InvalidInput(format!(
                "{what} must be a non-empty {} [C, h, w] tensor, got {} {:?}",
                dtype.name(),
                self.dtype.name(),
                self.shape()
            ))),
        }
    }

    /// Checks element type and rank before a typed view is handed out.
    pub(crate) fn expect<T: Element>(&self) -> Result<()> {
        if self.dtype != T::DTYPE {
            return Err(Error::TensorType(format!(
                "tensor holds {} but was read as {}",
                self.dtype.name(),
                T::DTYPE.name()
            )));
        }
        Ok(())
    }
}

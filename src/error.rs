//! The one error type of the crate.
//!
//! Every message says what went wrong and, where the caller can act on it, what to do, in the
//! library's own terms (a front end such as the CLI adds its own hints: see [`Error::remedy`]).
//!
//! `Error` is `Clone`: when a whole batch fails, every image of it gets the same error, with its
//! kind.

use std::sync::Arc;

use crate::core::entity::Entity;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in vaerans.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An entity lacks a component that was asked for.
    #[error("entity {entity} has no `{component}` component; run a system that produces it first")]
    MissingComponent {
        /// The entity that was looked up.
        entity: Entity,
        /// The component's name.
        component: &'static str,
    },

    /// A pipe was asked to run a system whose requirements nothing provides.
    #[error(
        "system `{system}` needs {} which entity {entity} lacks and no earlier system in the pipe produces",
        format_names(missing)
    )]
    UnmetRequirements {
        /// The system that cannot run.
        system: &'static str,
        /// The first entity found lacking the components.
        entity: Entity,
        /// Names of the missing components.
        missing: Vec<&'static str>,
    },

    /// An entity id that does not (or no longer does) belong to the world.
    #[error("entity {0} does not exist in this world (despawned, or from another world)")]
    NoSuchEntity(Entity),

    /// The arena cannot satisfy an allocation.
    #[error(
        "arena out of memory: requested {requested} bytes, {available} available; \
         build the World with a larger arena or process smaller batches"
    )]
    ArenaOutOfMemory {
        /// Bytes asked for (after alignment).
        requested: usize,
        /// Bytes left in the arena.
        available: usize,
    },

    /// A tensor handle was used after its arena was reset, or with another arena.
    #[error(
        "stale tensor reference: it belongs to arena {ref_arena} generation {ref_generation}, \
         but the arena is {arena} generation {generation}; a TensorRef is only valid until the next reset()"
    )]
    StaleTensorRef {
        /// Arena id recorded in the handle.
        ref_arena: u32,
        /// Generation recorded in the handle.
        ref_generation: u32,
        /// Id of the arena it was used with.
        arena: u32,
        /// Current generation of that arena.
        generation: u32,
    },

    /// A tensor was read with the wrong element type or rank.
    #[error("tensor type mismatch: {0}")]
    TensorType(String),

    /// Input that the caller controls is not acceptable (shape, range, parameters).
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A stream does not start with the vaerans magic bytes.
    #[error("not a vaerans stream (bad magic bytes); is it a stream a vaerans encoder wrote?")]
    BadMagic,

    /// A stream was written by a newer, incompatible format version.
    #[error(
        "stream format version {found_major}.{found_minor} is newer than this reader's {supported_major}.x; \
         upgrade vaerans to read it"
    )]
    UnsupportedVersion {
        /// Major version in the stream.
        found_major: u8,
        /// Minor version in the stream.
        found_minor: u8,
        /// Highest major version this build reads.
        supported_major: u8,
    },

    /// The stream ended before a field it announces.
    #[error("stream truncated: {what} needs {needed} bytes but only {available} remain")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },

    /// The stored checksum does not match the content.
    #[error("checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the stream is corrupt")]
    ChecksumMismatch {
        /// CRC32C stored in the stream.
        stored: u32,
        /// CRC32C computed over the content.
        computed: u32,
    },

    /// A well-framed stream whose content is inconsistent.
    #[error("corrupt stream: {0}")]
    Corrupt(String),

    /// A stream asks for more than the configured [`Limits`](crate::bitstream::Limits) allow.
    #[error("stream exceeds limits: {0}; raise the Limits if the input is trusted")]
    LimitExceeded(String),

    /// Coding an image or a stream would need more working memory than
    /// [`Limits::max_memory`](crate::bitstream::Limits::max_memory) allows; refused before
    /// anything was allocated.
    #[error(
        "{what} would need about {need_mib} MiB of working memory ({parts}), over the budget of \
         {budget_mib} MiB; raise Limits::max_memory if the input is trusted"
    )]
    MemoryBudget {
        /// The image or stream, as the message names it.
        what: String,
        /// The estimated need, in MiB.
        need_mib: u64,
        /// What the need is made of.
        parts: String,
        /// The budget, in MiB.
        budget_mib: u64,
    },

    /// The ONNX Runtime shared library was not found.
    #[error(
        "ONNX Runtime {version} not found (searched: {}); install it with: {hint}",
        searched.join(", ")
    )]
    OrtNotFound {
        /// The release looked for.
        version: &'static str,
        /// The places looked at, in order.
        searched: Vec<String>,
        /// How to install it.
        hint: &'static str,
    },

    /// ONNX Runtime failed to load, or a session failed to run.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),

    /// The requested execution provider cannot be used; the message carries the provider's
    /// own reason.
    #[error("execution provider: {0}; use the CPU execution provider to run the VAE on the CPU")]
    ExecutionProvider(String),

    /// A model's configuration or graph is not usable.
    #[error("model: {0}")]
    Model(String),

    /// A stream was made with another model than the one asked to decode it.
    #[error(
        "the stream was encoded with model {stream}, but the decoder is model {decoder}; \
         decode it with the stream's model"
    )]
    ModelMismatch {
        /// The stream's model.
        stream: String,
        /// The decoder's model.
        decoder: String,
    },

    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What the OS said (shared, so the error can be cloned).
        #[source]
        source: Arc<std::io::Error>,
    },

    /// An image file could not be read or written.
    #[error("image: {0}")]
    Image(String),

    /// An image has an alpha channel and the alpha policy ([`Alpha`](crate::Alpha)) refuses
    /// it: vaerans codes RGB, and dropping alpha silently would reveal what transparent pixels
    /// hide.
    #[error(
        "image: {0}: it has an alpha channel, which vaerans does not code; drop the alpha or \
         composite the image over a colour"
    )]
    Alpha(String),

    /// The GPU path was asked for but no usable adapter exists.
    #[error("no GPU: {0}")]
    NoGpu(String),

    /// A GPU operation failed (validation, out of memory, lost device, timeout).
    #[error("GPU: {0}; run the latent stages on the CPU (Device::Cpu) to avoid the GPU")]
    Gpu(String),

    /// An invariant of vaerans itself broke: a bug, not a problem with the input.
    #[error("internal error (a bug in vaerans, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// The choice that would avoid this error, if there is one, for a front end to suggest in
    /// its own terms (the CLI names the flag).
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            Self::ExecutionProvider(_) => Some(Remedy::CpuExecutionProvider),
            Self::Gpu(_) | Self::NoGpu(_) => Some(Remedy::CpuDevice),
            Self::ModelMismatch { .. } => Some(Remedy::StreamModel),
            Self::Alpha(_) => Some(Remedy::AlphaPolicy),
            Self::MemoryBudget { .. } => Some(Remedy::MemoryBudget),
            _ => None,
        }
    }
}

/// A choice that avoids an error (see [`Error::remedy`]); front ends phrase it in their own
/// terms (the CLI as a flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy {
    /// Run the VAE on ONNX Runtime's CPU execution provider.
    CpuExecutionProvider,
    /// Run the latent stages on the CPU.
    CpuDevice,
    /// Decode with the model the stream names.
    StreamModel,
    /// Choose what happens to an image's alpha channel.
    AlphaPolicy,
    /// Raise the working-memory budget.
    MemoryBudget,
}

fn format_names(names: &[&'static str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

//! What a stream's header records, and the limits a reader holds it to.

use crate::components::{ChannelTransform, QuantParams, SourceInfo};
use crate::error::{Error, Result};
use crate::latent::file::LatentDType;
use crate::layout::bands;

/// The four magic bytes every stream starts with.
pub const MAGIC: [u8; 4] = *b"VAER";
/// Newest major format version this build reads and writes: 4, a base stream with an
/// enhancement layer after it ([`layers`](super::layers)). One-layer streams are written as
/// format 3 (without tables, [`EntropyCoding::Adaptive`]) or 2 (with tables); formats 1 to 3
/// keep decoding.
pub const VERSION_MAJOR: u8 = 4;
/// Newest minor format version this build reads and writes: 1 adds records after the header's
/// tables ([`Header::latent_dtype`]). A stream without records is written as minor 0, byte for
/// byte what earlier builds wrote; a reader skips the records of a minor newer than its own.
pub const VERSION_MINOR: u8 = 1;

/// Bounds the codec enforces before allocating for an image or a stream. The defaults accept
/// any image up to 65535 pixels a side, refuse to allocate more than 512 MiB for one tensor
/// (as the `image` crate does), and refuse an image or stream whose coding would need more
/// than 1 GiB of working memory, which protects a server from a 100-byte stream that
/// declares a huge image. Users with big, trusted images raise them with the `with_*`
/// methods:
///
/// ```
/// let tight = vaerans::bitstream::Limits::default().with_max_alloc(64 << 20);
/// assert_eq!(tight.max_alloc, 64 << 20);
/// let big = vaerans::Limits::default().with_max_memory(8 << 30);
/// assert_eq!(big.max_memory, 8 << 30);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted image width or height, in pixels.
    pub max_image_dim: u32,
    /// Largest accepted latent channel count.
    pub max_channels: u16,
    /// Largest allocation for one image (the decoded RGB or the f32 latent), in bytes.
    pub max_alloc: u64,
    /// Largest working memory for coding one image, in bytes, as estimated before anything
    /// is allocated: its tensors along every stage (the codec's arena share of the image, the
    /// latent and each stage's output), and the VAE's working memory for it
    /// ([`Vae::working_memory`](crate::vae::Vae::working_memory), bounded by a tile for
    /// images that are tiled). A stream or image over it is refused with the numbers.
    pub max_memory: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_image_dim: 65_535,
            max_channels: 256,
            max_alloc: 512 << 20,
            max_memory: 1 << 30,
        }
    }
}

impl Limits {
    /// These limits with another largest image side.
    pub fn with_max_image_dim(mut self, pixels: u32) -> Self {
        self.max_image_dim = pixels;
        self
    }

    /// These limits with another largest latent channel count.
    pub fn with_max_channels(mut self, channels: u16) -> Self {
        self.max_channels = channels;
        self
    }

    /// These limits with another largest allocation for one image.
    pub fn with_max_alloc(mut self, bytes: u64) -> Self {
        self.max_alloc = bytes;
        self
    }

    /// These limits with another largest working memory for coding one image.
    pub fn with_max_memory(mut self, bytes: u64) -> Self {
        self.max_memory = bytes;
        self
    }

    /// Refuses work whose estimated working memory, `parts` (what, bytes) summed, exceeds
    /// [`Limits::max_memory`]; `what` names the image or stream in the message.
    pub fn check_memory(&self, what: &str, parts: &[(&str, u64)]) -> Result<()> {
        let need = parts.iter().fold(0u64, |a, (_, b)| a.saturating_add(*b));
        if need <= self.max_memory {
            return Ok(());
        }
        let mib = |b: u64| b.div_ceil(1 << 20);
        let parts = parts
            .iter()
            .map(|(name, b)| format!("{} MiB {name}", mib(*b)))
            .collect::<Vec<_>>()
            .join(" + ");
        Err(Error::MemoryBudget {
            what: what.to_string(),
            need_mib: mib(need),
            parts,
            budget_mib: mib(self.max_memory),
        })
    }
}

/// How a stream's band parameters and coefficients are entropy-coded; the format's major
/// version says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntropyCoding {
    /// A static model per band, its table in the header, and interleaved rANS (formats 1 and
    /// 2): the fastest to decode, and the smallest where the tables are a small part.
    #[default]
    Tables,
    /// Context-adaptive binary rANS with no tables (format 3): band parameters and
    /// coefficients coded in contexts both sides learn as they go; the smallest where many
    /// small bands would each pay for a table (low rates, many channels).
    Adaptive,
}

impl EntropyCoding {
    /// Every coding, for listing and parsing by [`name`](Self::name).
    pub const ALL: [Self; 2] = [Self::Tables, Self::Adaptive];

    /// Its name in reports and on the command line: `tables` or `adaptive`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tables => "tables",
            Self::Adaptive => "adaptive",
        }
    }

    /// The coding named `name` (its [`name`](Self::name)).
    pub fn named(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "unknown entropy coding `{name}`; use tables or adaptive"
                ))
            })
    }

    /// The format major version that carries this coding.
    pub fn format_major(self) -> u8 {
        match self {
            Self::Tables => 2,
            Self::Adaptive => 3,
        }
    }

    /// The coding of a one-layer stream of format major version `major` (1 to 3).
    pub(crate) fn of_format(major: u8) -> Self {
        if major >= 3 {
            Self::Adaptive
        } else {
            Self::Tables
        }
    }
}

/// Everything the header records: the components it was made from and the latent's shape.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Header {
    /// Format major version of the stream.
    pub version_major: u8,
    /// Format minor version of the stream.
    pub version_minor: u8,
    /// The image the latent came from: original and padded size, and the model.
    pub source: SourceInfo,
    /// Latent channels.
    pub channels: u16,
    /// Latent height.
    pub latent_h: u32,
    /// Latent width.
    pub latent_w: u32,
    /// The quantiser's parameters: quality, wavelet, levels, and per channel and band the step
    /// and centre. Format 3 does not record centres (they are 0 here): decoding derives them
    /// from each band's coefficients ([`decode_symbols_into`](crate::latent::stream::decode_symbols_into)).
    pub quant: QuantParams,
    /// How the channels were mixed before the wavelet (format 1: always `Hadamard4`).
    pub transform: ChannelTransform,
    /// Per channel and band, in coding order: whether the band is *zero* (every coefficient
    /// quantised to 0: no table entry, no payload). Empty: no band is (format 1).
    pub zero_bands: Vec<bool>,
    /// How band parameters and coefficients are entropy-coded (follows the major version).
    pub entropy: EntropyCoding,
    /// For a bare latent (coded from a latent file, not from an image): the element type its
    /// file had, which decoding restores (minor version 1; `None` for image latents and for
    /// streams written before it).
    pub latent_dtype: Option<LatentDType>,
}

impl Header {
    /// A header of format 2 (coded with tables; see [`with_entropy`](Self::with_entropy)).
    pub(crate) fn new(
        source: SourceInfo,
        latent: [u32; 3],
        quant: QuantParams,
        transform: ChannelTransform,
    ) -> Result<Self> {
        let channels = u16::try_from(latent[0]).map_err(|_| {
            Error::InvalidInput(format!("{} latent channels do not fit a stream", latent[0]))
        })?;
        Ok(Self {
            version_major: EntropyCoding::Tables.format_major(),
            version_minor: 0,
            source,
            channels,
            latent_h: latent[1],
            latent_w: latent[2],
            quant,
            transform,
            zero_bands: Vec::new(),
            entropy: EntropyCoding::Tables,
            latent_dtype: None,
        })
    }

    /// This header for a stream coded with `entropy`, in the format version that carries it.
    pub(crate) fn with_entropy(mut self, entropy: EntropyCoding) -> Self {
        self.entropy = entropy;
        self.version_major = entropy.format_major();
        self
    }

    /// Whether the stream holds a bare latent, coded from a latent file rather than from an
    /// image: its element type is recorded, or it names no decoder and its "image" is the
    /// latent itself. Decoding it needs no model.
    pub fn is_bare_latent(&self) -> bool {
        self.latent_dtype.is_some()
            || (self.source.model.decoder_hash == [0; 32]
                && self.source.downsample == 0
                && (self.source.width, self.source.height) == (self.latent_w, self.latent_h))
    }

    /// Whether band `i` (coding order over all channels) is zero.
    pub fn is_zero_band(&self, i: usize) -> bool {
        self.zero_bands.get(i).copied().unwrap_or(false)
    }

    /// The latent's `[C, h, w]`.
    pub fn latent_shape(&self) -> [usize; 3] {
        [
            usize::from(self.channels),
            self.latent_h as usize,
            self.latent_w as usize,
        ]
    }

    /// Number of bands per channel.
    pub fn bands_per_channel(&self) -> usize {
        bands(
            self.latent_h as usize,
            self.latent_w as usize,
            self.quant.levels,
        )
        .len()
    }

    /// Number of latent values.
    pub fn latent_len(&self) -> usize {
        self.latent_shape().iter().product()
    }
}

"""Type stubs of the native module (re-exported by ``vaerans``)."""

import os
import pathlib
from typing import Any, Iterator, List, Literal, Optional, Sequence, Tuple, TypedDict, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str
ORT_VERSION: str
DEFAULT_MODEL_NAME: str

#: A stream: what ``compress`` and ``encode`` return, and what decoding takes.
Stream = Union[bytes, bytearray, memoryview]
#: An RGB image: a NumPy array [H, W, 3] of uint8 (C-contiguous), or a PIL image.
Image = Union[npt.NDArray[np.uint8], Any]
#: A latent: a NumPy array [C, h, w] or [N, C, h, w] of float32 or float16 (C-contiguous).
LatentArray = Union[npt.NDArray[np.float32], npt.NDArray[np.float16]]
DType = Literal["float32", "float16", "bfloat16", "f32", "f16", "bf16"]

def _set_package_folders(folders: Sequence[Union[str, os.PathLike]]) -> None: ...
def open_image(path: Union[str, os.PathLike], alpha: str = "error") -> npt.NDArray[np.uint8]:
    """Reads an image file as a viewer shows it (EXIF orientation applied) into [H, W, 3]
    uint8. ``alpha``: "error" (default), "drop", or "over=RRGGBB"."""

class Codec:
    """Compresses images into vaerans streams and back through a VAE (by default the
    embedded model). Build one and reuse it. Thread-safe: calls from several threads run side
    by side, up to ``concurrency`` at once (default: the number of cores).

    ``threads`` is ONNX Runtime's thread count for one call (default: one per core). Where
    several threads call at once, ``threads=1`` lets each call keep one core busy, which on a
    small model is faster in all than sharing every core between calls.
    """

    def __init__(
        self,
        model: Optional[Union[str, os.PathLike]] = None,
        quality: int = 75,
        device: Literal["auto", "cpu", "gpu"] = "auto",
        ep: Literal["auto", "cpu", "cuda", "webgpu"] = "auto",
        *,
        threads: Optional[int] = None,
        concurrency: Optional[int] = None,
        entropy: Optional[Literal["tables", "adaptive"]] = None,
        input_range: Optional[Tuple[float, float]] = None,
        base_only: bool = False,
        max_memory_mib: Optional[int] = None,
    ) -> None: ...
    @property
    def quality(self) -> int: ...
    @property
    def model(self) -> str: ...
    @property
    def device(self) -> Literal["cpu", "gpu"]: ...
    @property
    def ep(self) -> str: ...
    @property
    def latent_channels(self) -> int: ...
    @property
    def downsample(self) -> int: ...
    @property
    def concurrency(self) -> int: ...
    def __getnewargs_ex__(self) -> Tuple[Tuple[()], dict]: ...
    def compress(self, image: Image) -> bytes:
        """Compresses one image into a stream."""
    def compress_batch(self, images: Sequence[Image]) -> List[Union[bytes, Exception]]:
        """One result per image, in order: its stream, or the exception it raised."""
    def decompress(self, stream: Stream) -> npt.NDArray[np.uint8]:
        """Decompresses a stream into an image [H, W, 3] uint8."""
    def decompress_batch(
        self, streams: Sequence[Stream]
    ) -> List[Union[npt.NDArray[np.uint8], Exception]]:
        """One result per stream, in order: its image, or the exception it raised."""
    def latent_of(self, image: Image) -> npt.NDArray[np.float32]:
        """The model's latent [C, h, w] of an image (no quantisation)."""
    def image_of_latent(self, latent: LatentArray, width: int, height: int) -> npt.NDArray[np.uint8]:
        """The model's image of a latent [C, h, w], cropped to width × height."""

class EncodedLatent(TypedDict):
    stream: bytes
    quality: int
    max_error: float
    snr_db: float

class LatentCodec:
    """Codes latent arrays (C a multiple of 4) into streams and back with no VAE, to a
    quality (default 80), a largest absolute error, or a signal-to-noise ratio in dB; the
    last two are measured on what decoding returns."""

    def __init__(
        self,
        quality: Optional[int] = None,
        *,
        max_error: Optional[float] = None,
        snr_db: Optional[float] = None,
        model: Optional[str] = None,
        entropy: Literal["tables", "adaptive"] = "tables",
        concurrency: Optional[int] = None,
    ) -> None: ...
    @property
    def model(self) -> Optional[str]: ...
    @property
    def entropy(self) -> str: ...
    def __getnewargs_ex__(self) -> Tuple[Tuple[()], dict]: ...
    def encode(self, latent: LatentArray, dtype: Optional[DType] = None) -> Union[bytes, List[bytes]]:
        """[C, h, w] → one stream; [N, C, h, w] → a list of N."""
    def encode_detailed(
        self, latent: LatentArray, dtype: Optional[DType] = None
    ) -> List[EncodedLatent]:
        """Streams with their measured quality, largest error and SNR."""
    def decode(self, stream: Stream) -> LatentArray:
        """A stream's latent [C, h, w]: float16, else float32 (bfloat16 as float32)."""
    def decode_batch(self, streams: Sequence[Stream]) -> LatentArray:
        """Streams of one shape and type as one array [N, C, h, w]."""

class ShardWriter:
    """Writes streams into a WebDataset tar shard (``KEY.vaer`` members)."""

    def __init__(self, path: Union[str, os.PathLike], append: bool = False) -> None: ...
    def write(self, key: str, stream: Stream) -> None: ...
    @property
    def members(self) -> int: ...
    @property
    def path(self) -> pathlib.Path: ...
    def close(self) -> None: ...
    def __enter__(self) -> "ShardWriter": ...
    def __exit__(self, *exc: object) -> bool: ...

class ShardReader:
    """Reads a shard's streams by key or index; iterating gives (key, stream) pairs."""

    def __init__(self, path: Union[str, os.PathLike]) -> None: ...
    def keys(self) -> List[str]: ...
    @property
    def path(self) -> pathlib.Path: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str) -> bool: ...
    @overload
    def __getitem__(self, item: str) -> bytes: ...
    @overload
    def __getitem__(self, item: int) -> bytes: ...
    def __iter__(self) -> Iterator[Tuple[str, bytes]]: ...
    def verify(self) -> List[Tuple[str, Optional[Exception]]]:
        """Every member checked: (key, None) when sound, (key, exception) when damaged."""

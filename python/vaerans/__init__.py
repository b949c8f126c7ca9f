"""vaerans: image compression through a learned autoencoder's latent space.

An image goes through a VAE encoder (ONNX Runtime; by default the small model embedded in the
library), and its latent is compressed with classical tools (Hadamard across channels, a CDF
5/3 wavelet, per-band quantisation, rANS) into a self-describing stream.

>>> import numpy as np, vaerans
>>> codec = vaerans.Codec(quality=75)
>>> image = np.zeros((64, 96, 3), np.uint8)
>>> stream = codec.compress(image)
>>> codec.decompress(stream).shape
(64, 96, 3)
>>> photo = vaerans.open_image("assets/coffee.png")   # or a PIL image, or any uint8 array
>>> len(codec.compress(photo)) < photo.nbytes // 20
True

Latents cached for diffusion training are coded without any VAE (:class:`LatentCodec`,
:func:`encode_latent`, :func:`decode_latent`) and kept many to a file in tar shards
(:class:`ShardWriter`, :class:`ShardReader`, :class:`vaerans.data.LatentShards`).
:mod:`vaerans.ray` codes datasets on Ray Data.

Every call that codes releases the GIL; one :class:`Codec` serves several threads at once.
Errors are :class:`Error` subclasses carrying the library's message.
"""

import functools as _functools
import importlib.util as _util
import os as _os

from . import _vaerans
from ._errors import Error, GpuError, InputError, IoError, LimitError, ModelError, StreamError
from ._vaerans import (
    DEFAULT_MODEL_NAME,
    ORT_VERSION,
    Codec,
    LatentCodec,
    ShardReader,
    ShardWriter,
    __version__,
    open_image,
)


def _package_folders():
    """The folders holding ONNX Runtime's Python packages, where its library is found."""
    folders = []
    for name in ("onnxruntime", "onnxruntime_ep_webgpu"):
        try:
            spec = _util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.origin and spec.origin not in ("namespace", "built-in"):
            package = _os.path.dirname(spec.origin)
        elif spec.submodule_search_locations:
            package = list(spec.submodule_search_locations)[0]
        else:
            continue
        folders.append(_os.path.dirname(package))
    return folders


_vaerans._set_package_folders(_package_folders())


@_functools.lru_cache(maxsize=16)
def _latent_codec(quality, max_error, snr_db, model, entropy):
    return LatentCodec(
        quality, max_error=max_error, snr_db=snr_db, model=model, entropy=entropy
    )


def encode_latent(
    latent, quality=None, *, max_error=None, snr_db=None, model=None, entropy="tables", dtype=None
):
    """Codes a latent array ([C, h, w] → bytes; [N, C, h, w] → a list of bytes).

    The same as ``LatentCodec(quality, max_error=..., snr_db=..., model=...,
    entropy=...).encode(latent, dtype)``, with the codec kept for later calls.
    """
    codec = _latent_codec(quality, max_error, snr_db, model, entropy)
    return codec.encode(latent, dtype)


def decode_latent(stream):
    """Decodes a stream to its latent [C, h, w] (float16 or float32, as it was recorded)."""
    return _latent_codec(None, None, None, None, "tables").decode(stream)


def decode_latents(streams):
    """Decodes streams of one shape and type into one array [N, C, h, w]."""
    return _latent_codec(None, None, None, None, "tables").decode_batch(streams)


__all__ = [
    "Codec",
    "LatentCodec",
    "ShardReader",
    "ShardWriter",
    "encode_latent",
    "decode_latent",
    "decode_latents",
    "open_image",
    "Error",
    "StreamError",
    "InputError",
    "LimitError",
    "ModelError",
    "GpuError",
    "IoError",
    "DEFAULT_MODEL_NAME",
    "ORT_VERSION",
    "__version__",
]

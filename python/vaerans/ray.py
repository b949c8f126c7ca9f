"""Coding image datasets on Ray Data: the same classes on a laptop and on a cluster.

:class:`ImageEncoder` and :class:`ImageDecoder` are callable classes for
``Dataset.map_batches``: Ray builds one per actor, so each actor opens the model once and
codes every batch it is given. :func:`encode_images` and :func:`decode_shards` are the whole
recipe: images read by ``ray.data.read_images``, coded, and written as WebDataset tar
shards (one per block, ``KEY.vaer`` members, which :class:`vaerans.ShardReader` and
:class:`vaerans.data.LatentShards` read), and back.

For example::

    import vaerans.ray
    vaerans.ray.encode_images("photos/", "shards/", quality=75, concurrency=4)
    for row in vaerans.ray.decode_shards("shards/").iter_rows():
        ...

On a cluster, ``src`` and ``dst`` are paths every node reaches (shared storage or an object
store URI that pyarrow opens, such as ``s3://bucket/shards``); ``concurrency`` is the number
of actors, and ``num_gpus=1`` gives each one a GPU (``ep="cuda"`` with onnxruntime-gpu, or
``device="gpu"`` for the latent stages).
"""

import os
import re

import numpy as np

from ._vaerans import Codec

_KEY_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def key_of(path):
    """A shard key for an image's path: its file name without extension, characters a key
    cannot hold made ``_``."""
    stem = os.path.splitext(os.path.basename(str(path)))[0]
    return _KEY_CHARS.sub("_", stem)[:95] or "_"


class ImageEncoder:
    """Compresses a batch of images: ``{"image": [...], "path": [...]}`` →
    ``{"__key__": [...], "vaer": [...]}`` (keys from the paths when the batch has them).

    Arguments are :class:`vaerans.Codec`'s. A batch whose image fails raises an error naming
    the image, so Ray reports it (or retries, as the dataset is configured).
    """

    def __init__(self, model=None, quality=75, device="auto", ep="auto", **codec_args):
        self.codec = Codec(model, quality, device, ep, **codec_args)

    def __call__(self, batch):
        images = list(batch["image"])
        paths = batch.get("path")
        if paths is not None:
            keys = [key_of(p) for p in paths]
        else:
            keys = [f"{id(self):x}-{os.getpid()}-{i}" for i in range(len(images))]
        streams = self.codec.compress_batch(images)
        for key, s in zip(keys, streams):
            if isinstance(s, BaseException):
                raise type(s)(f"image {key}: {s}") from s
        return {"__key__": np.array(keys, dtype=object), "vaer": np.array(streams, dtype=object)}


class ImageDecoder:
    """Decompresses a batch of streams: ``{"__key__": [...], "vaer": [...]}`` →
    ``{"__key__": [...], "image": [...]}``. Arguments are :class:`vaerans.Codec`'s (the
    streams name their model)."""

    def __init__(self, model=None, device="auto", ep="auto", **codec_args):
        self.codec = Codec(model, device=device, ep=ep, **codec_args)

    def __call__(self, batch):
        keys = list(batch["__key__"])
        images = self.codec.decompress_batch([bytes(s) for s in batch["vaer"]])
        for key, image in zip(keys, images):
            if isinstance(image, BaseException):
                raise type(image)(f"stream {key}: {image}") from image
        out = np.empty(len(images), dtype=object)
        out[:] = images
        return {"__key__": np.array(keys, dtype=object), "image": out}


def encode_images(
    src,
    dst,
    *,
    model=None,
    quality=75,
    batch_size=16,
    concurrency=1,
    num_cpus=1,
    num_gpus=0,
    device="auto",
    ep="auto",
    **codec_args,
):
    """Compresses every image under ``src`` into WebDataset shards in ``dst`` (one per
    block). Returns the shard paths written.

    ``concurrency`` actors each reserve ``num_cpus`` CPUs and ``num_gpus`` GPUs. An actor codes
    each batch through the library's pipeline, which keeps every core of its machine busy
    (on the CPU provider one image a call on each core), so one actor per machine (or per
    GPU) is the place to start. Reading the images needs CPUs of its own: actors that
    reserve every CPU wait forever for the reads (on a 2-core machine, one actor of one CPU,
    not two).
    """
    import ray.data

    ds = ray.data.read_images(src, include_paths=True, mode="RGB")
    ds = ds.map_batches(
        ImageEncoder,
        fn_constructor_kwargs=dict(model=model, quality=quality, device=device, ep=ep, **codec_args),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )
    ds.write_webdataset(dst)
    return sorted(
        os.path.join(dst, f) for f in os.listdir(dst) if f.endswith(".tar")
    ) if os.path.isdir(dst) else []


def decode_shards(
    src, *, batch_size=16, concurrency=1, num_cpus=1, num_gpus=0, device="auto", ep="auto", **codec_args
):
    """The images of the WebDataset shards under ``src``: a Ray dataset of
    ``{"__key__", "image"}`` rows (lazy: it runs when rows are taken or written). Actors as
    in :func:`encode_images`."""
    import ray.data

    ds = ray.data.read_webdataset(src, decoder=None, suffixes=[".vaer"])
    return ds.map_batches(
        ImageDecoder,
        fn_constructor_kwargs=dict(device=device, ep=ep, **codec_args),
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        num_cpus=num_cpus,
        num_gpus=num_gpus,
    )

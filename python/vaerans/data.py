"""Decoded latents of tar shards as a dataset, for training loops.

:class:`LatentShards` is a plain map-style dataset (``len`` and ``[i]``) that also iterates
in shard order; it needs no torch, and ``torch.utils.data.DataLoader`` takes it as it is
(worker processes reopen the shards on first use).
"""

import glob
import os

from . import decode_latent

from ._vaerans import ShardReader


def _shard_paths(paths):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            out.extend(sorted(glob.glob(os.path.join(p, "*.tar"))))
        else:
            out.append(p)
    if not out:
        from ._errors import InputError

        raise InputError(f"no shards in {paths!r}")
    return out


class LatentShards:
    """The latents of one or more shards (paths, or folders of ``*.tar``), decoded.

    ``shards[i]`` is ``(key, latent)``: the member's key and its latent as a NumPy array
    ([C, h, w], float16 or float32 as recorded). Iterating goes through the shards in order,
    reading each sequentially. ``verify()`` checks every member of every shard.

    For example::

        from vaerans.data import LatentShards
        data = LatentShards("cache/")
        loader = torch.utils.data.DataLoader(data, batch_size=64, num_workers=4)
    """

    def __init__(self, paths):
        self.paths = _shard_paths(paths)
        # The readers that index the shards serve the reads that follow (in this process).
        self._readers = {s: ShardReader(path) for s, path in enumerate(self.paths)}
        self._index = [
            (s, m, key) for s, reader in self._readers.items() for m, key in enumerate(reader.keys())
        ]
        self._pid = os.getpid()

    def _reader(self, s):
        if os.getpid() != self._pid:
            # A forked worker: the parent's open files are not shared.
            self._readers, self._pid = {}, os.getpid()
        reader = self._readers.get(s)
        if reader is None:
            reader = self._readers[s] = ShardReader(self.paths[s])
        return reader

    def __len__(self):
        return len(self._index)

    def __getitem__(self, i):
        s, m, key = self._index[i]
        return key, decode_latent(self._reader(s)[m])

    def __iter__(self):
        for s in range(len(self.paths)):
            for key, stream in self._reader(s):
                yield key, decode_latent(stream)

    def keys(self):
        """Every key, in order."""
        return [key for _, _, key in self._index]

    def verify(self):
        """``(shard path, key, exception)`` for every damaged member (empty when all are sound)."""
        bad = []
        for s, path in enumerate(self.paths):
            bad.extend((path, key, e) for key, e in self._reader(s).verify() if e is not None)
        return bad

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_readers"] = {}
        return state

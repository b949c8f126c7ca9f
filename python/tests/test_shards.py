"""Shards from Python: ShardWriter, ShardReader and the LatentShards dataset."""

import pickle

import numpy as np
import pytest

import vaerans
from vaerans.data import LatentShards
from test_latents import latent


@pytest.fixture(scope="module")
def streams():
    codec = vaerans.LatentCodec(quality=70)
    return {f"img{i:04d}": codec.encode(latent((4, 16, 16), np.float16, seed=i)) for i in range(40)}


def write(path, streams):
    with vaerans.ShardWriter(path) as w:
        for key, s in streams.items():
            w.write(key, s)
        assert w.members == len(streams)


def test_streams_come_back_by_key_index_and_in_order(tmp_path, streams):
    path = tmp_path / "a.tar"
    write(path, streams)
    r = vaerans.ShardReader(path)
    assert len(r) == 40 and r.keys() == list(streams)
    assert r["img0007"] == streams["img0007"] and r[7] == streams["img0007"] and r[-1] == streams["img0039"]
    assert dict(iter(r)) == streams
    assert "img0003" in r and "nope" not in r
    with pytest.raises(KeyError):
        r["nope"]
    with pytest.raises(IndexError):
        r[40]
    assert all(e is None for _, e in r.verify())


def test_appending_adds_members_and_refuses_a_key_twice(tmp_path, streams):
    path = tmp_path / "a.tar"
    items = list(streams.items())
    write(path, dict(items[:10]))
    with vaerans.ShardWriter(path, append=True) as w:
        for key, s in items[10:]:
            w.write(key, s)
        with pytest.raises(vaerans.InputError, match="already"):
            w.write("img0000", items[0][1])
    assert vaerans.ShardReader(path).keys() == list(streams)
    with vaerans.ShardWriter(tmp_path / "b.tar") as w:
        with pytest.raises(vaerans.InputError, match="not a shard key"):
            w.write("a.b", items[0][1])
    with pytest.raises(vaerans.InputError, match="closed"):
        w.write("late", items[0][1])


def test_a_damaged_member_is_named_and_the_others_read(tmp_path, streams):
    path = tmp_path / "a.tar"
    write(path, streams)
    data = bytearray(path.read_bytes())
    # Flip a byte inside member img0005's stream.
    at = data.index(streams["img0005"]) + len(streams["img0005"]) // 2
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    bad = [(k, e) for k, e in vaerans.ShardReader(path).verify() if e is not None]
    assert [k for k, _ in bad] == ["img0005"] and isinstance(bad[0][1], vaerans.StreamError)
    data_set = LatentShards(path)
    assert [(p.endswith("a.tar"), k) for p, k, _ in data_set.verify()] == [(True, "img0005")]
    with pytest.raises(vaerans.StreamError):
        data_set[5]
    assert data_set[6][0] == "img0006"


def test_latent_shards_is_a_dataset_of_decoded_latents(tmp_path, streams):
    items = list(streams.items())
    write(tmp_path / "s0.tar", dict(items[:25]))
    write(tmp_path / "s1.tar", dict(items[25:]))
    data = LatentShards(tmp_path)
    assert len(data) == 40 and data.keys() == list(streams)
    key, z = data[30]
    assert key == "img0030" and z.shape == (4, 16, 16) and z.dtype == np.float16
    assert np.array_equal(z, vaerans.decode_latent(streams["img0030"]))
    assert [k for k, _ in data] == list(streams)
    # Picklable, for data loaders that start worker processes.
    copy = pickle.loads(pickle.dumps(data))
    assert np.array_equal(copy[3][1], data[3][1])
    (tmp_path / "empty").mkdir()
    with pytest.raises(vaerans.InputError, match="no shards"):
        LatentShards(tmp_path / "empty")
    with pytest.raises(vaerans.IoError):
        LatentShards(tmp_path / "missing.tar")


def test_shards_the_command_line_writes_read_in_python(tmp_path, cli):
    from conftest import run

    src = tmp_path / "cache"
    src.mkdir()
    for i in range(3):
        np.save(src / f"z{i}.npy", latent((4, 16, 16), np.float16, seed=i))
    run(cli + ["latents", "encode", str(src), "-o", str(tmp_path / "cli.tar"), "--max-error", "0.05"])
    data = LatentShards(tmp_path / "cli.tar")
    assert sorted(data.keys()) == ["z0", "z1", "z2"]
    for key, z in data:
        want = np.load(src / f"{key}.npy")
        assert z.dtype == np.float16 and np.abs(z.astype(np.float32) - want.astype(np.float32)).max() <= 0.05

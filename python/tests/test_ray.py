"""The Ray Data recipe on a local Ray: 32 images into shards and back."""

import os

import numpy as np
import PIL.Image
import pytest

import vaerans

import ray  # noqa: E402  (the README's test command installs ray[data])


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory, coffee):
    """32 photos: crops of the sample photo, in two sizes (Ray batches them ragged)."""
    src = tmp_path_factory.mktemp("images")
    for i in range(32):
        h, w = (96, 128) if i % 2 else (80, 112)
        y, x = (i * 9) % (coffee.shape[0] - h), (i * 17) % (coffee.shape[1] - w)
        PIL.Image.fromarray(coffee[y : y + h, x : x + w]).save(src / f"photo-{i:02d}.png")
    return src


def test_images_into_shards_and_back(local_ray, folder, tmp_path):
    import vaerans.ray

    dst = tmp_path / "shards"
    shards = vaerans.ray.encode_images(str(folder), str(dst), quality=60, batch_size=8, concurrency=1)
    assert shards and all(s.endswith(".tar") for s in shards)
    # Every image once, under its file name, byte for byte what a local codec writes.
    codec = vaerans.Codec(quality=60)
    members = {}
    for s in shards:
        reader = vaerans.ShardReader(s)
        assert all(e is None for _, e in reader.verify())
        members.update(dict(reader))
    assert sorted(members) == [f"photo-{i:02d}" for i in range(32)]
    for key, stream in members.items():
        image = np.asarray(PIL.Image.open(folder / f"{key}.png").convert("RGB"))
        assert stream == codec.compress(image), key

    rows = vaerans.ray.decode_shards(str(dst), batch_size=8, concurrency=1).take_all()
    assert sorted(r["__key__"] for r in rows) == sorted(members)
    for r in rows:
        assert np.array_equal(r["image"], codec.decompress(members[r["__key__"]])), r["__key__"]


def test_a_bad_image_fails_its_batch_with_its_name():
    import vaerans.ray

    encoder = vaerans.ray.ImageEncoder(quality=50)
    batch = {"image": [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint8)], "path": ["a/ok.png", "a/bad.png"]}
    with pytest.raises(vaerans.InputError, match="image bad"):
        encoder(batch)
    out = encoder({"image": [np.zeros((16, 16, 3), np.uint8)], "path": ["x/y z.png"]})
    assert list(out["__key__"]) == ["y_z"]

"""vaerans.Codec: images to streams and back, from Python."""

import threading

import numpy as np
import PIL.Image
import pytest

import vaerans
from conftest import COFFEE, psnr, run


def test_round_trip_of_the_sample_photo(codec, coffee):
    stream = codec.compress(coffee)
    assert isinstance(stream, bytes) and stream[:4] == b"VAER"
    back = codec.decompress(stream)
    assert back.shape == coffee.shape and back.dtype == np.uint8
    # The embedded model at quality 75 gives about 30 dB on photos; far below is a bug.
    assert psnr(coffee, back) > 26


def test_python_and_the_command_line_write_the_same_bytes(codec, coffee, cli, tmp_path):
    out = tmp_path / "coffee.vaer"
    run(cli + ["compress", COFFEE, "-q", "75", "--device", "cpu", "-o", str(out)])
    assert codec.compress(coffee) == out.read_bytes()
    # And the command line decodes what Python wrote, to the same pixels.
    py_stream = tmp_path / "py.vaer"
    py_stream.write_bytes(codec.compress(coffee))
    png = tmp_path / "py.png"
    run(cli + ["decompress", str(py_stream), "-o", str(png)])
    assert np.array_equal(np.asarray(PIL.Image.open(png).convert("RGB")), codec.decompress(py_stream.read_bytes()))


def test_pil_images_and_arrays_give_the_same_stream(codec, coffee):
    assert codec.compress(PIL.Image.open(COFFEE)) == codec.compress(coffee)
    grey = PIL.Image.open(COFFEE).convert("L")
    assert codec.decompress(codec.compress(grey)).shape == coffee.shape


def test_streams_from_bytes_bytearray_and_memoryview(codec, coffee):
    stream = codec.compress(coffee[:64, :64].copy())
    want = codec.decompress(stream)
    for s in (bytearray(stream), memoryview(stream)):
        assert np.array_equal(codec.decompress(s), want)


def test_batches_give_one_result_per_item(codec, coffee):
    small = np.ascontiguousarray(coffee[:48, :80])
    results = codec.compress_batch([coffee, None, small, np.zeros((8, 8), np.uint8)])
    assert len(results) == 4
    assert results[0] == codec.compress(coffee) and results[2] == codec.compress(small)
    assert isinstance(results[1], TypeError)
    assert isinstance(results[3], vaerans.InputError)
    images = codec.decompress_batch([results[0], b"not a stream", results[2]])
    assert images[0].shape == coffee.shape and images[2].shape == small.shape
    assert isinstance(images[1], vaerans.StreamError)


@pytest.mark.parametrize(
    "image, error, words",
    [
        (None, TypeError, "not NoneType"),
        ("photo.png", TypeError, "not str"),
        (np.zeros((16, 16, 3), np.float32), vaerans.InputError, "float32"),
        (np.zeros((16, 16), np.uint8), vaerans.InputError, "grey"),
        (np.zeros((16, 16, 4), np.uint8), vaerans.InputError, "alpha"),
        (np.zeros((2, 16, 16, 3), np.uint8), vaerans.InputError, "[2, 16, 16, 3]"),
        (np.zeros((16, 32, 3), np.uint8)[:, ::2], vaerans.InputError, "C-contiguous"),
        (np.zeros((16, 16, 3), np.uint8).transpose(1, 0, 2), vaerans.InputError, "C-contiguous"),
        (np.zeros((0, 16, 3), np.uint8), vaerans.InputError, "at least 1"),
        (PIL.Image.new("RGBA", (8, 8)), vaerans.InputError, "alpha"),
    ],
)
def test_bad_images_raise_clear_errors(codec, image, error, words):
    with pytest.raises(error) as e:
        codec.compress(image)
    assert words in str(e.value)


def test_bad_streams_raise_stream_errors(codec, coffee):
    stream = codec.compress(np.ascontiguousarray(coffee[:32, :32]))
    for bad in (b"", b"VAER", stream[:-1], stream[:20], b"x" * 100):
        with pytest.raises(vaerans.StreamError):
            codec.decompress(bad)
    flipped = bytearray(stream)
    flipped[len(stream) // 2] ^= 0x10
    with pytest.raises(vaerans.StreamError) as e:
        codec.decompress(flipped)
    assert isinstance(e.value, ValueError) and isinstance(e.value, vaerans.Error)
    with pytest.raises(TypeError):
        codec.decompress(None)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(vaerans.InputError, match="outside 1..=100"):
        vaerans.Codec(quality=0)
    with pytest.raises(vaerans.InputError, match="outside 1..=100"):
        vaerans.Codec(quality=1000)
    with pytest.raises(vaerans.InputError, match="unknown device"):
        vaerans.Codec(device="tpu")
    with pytest.raises(vaerans.InputError, match="unknown execution provider"):
        vaerans.Codec(ep="metal")
    with pytest.raises(vaerans.InputError, match="unknown entropy coding"):
        vaerans.Codec(entropy="huffman")
    with pytest.raises(vaerans.ModelError):
        vaerans.Codec(model="no-such-model")
    import pathlib

    with pytest.raises(vaerans.ModelError, match="missing.onnx"):
        vaerans.Codec(model=pathlib.Path("/nowhere/missing.onnx"))


def test_a_memory_budget_refuses_what_it_cannot_hold(coffee):
    small = vaerans.Codec(max_memory_mib=1)
    with pytest.raises(vaerans.LimitError):
        small.compress(coffee)


def test_threads_share_one_codec_and_get_the_bytes_one_thread_gets(coffee):
    codec = vaerans.Codec(quality=60, threads=1, concurrency=3)
    crops = [np.ascontiguousarray(coffee[i * 16 : i * 16 + 96, i * 24 : i * 24 + 128]) for i in range(6)]
    want = [codec.compress(c) for c in crops]
    got = [None] * len(crops)

    def work(i):
        for _ in range(2):
            got[i] = codec.compress(crops[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(crops))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


def test_latent_of_an_image_and_back(codec, coffee):
    latent = codec.latent_of(coffee)
    h, w, _ = coffee.shape
    f = codec.downsample
    assert latent.shape == (codec.latent_channels, -(-h // f), -(-w // f)) and latent.dtype == np.float32
    image = codec.image_of_latent(latent, w, h)
    assert image.shape == coffee.shape
    # The model alone (the embedded model's ceiling is about 26 dB on this photo).
    assert psnr(coffee, image) > 24
    with pytest.raises(vaerans.InputError):
        codec.image_of_latent(latent, w * 2, h)


def test_settings_are_readable(codec):
    assert codec.quality == 75 and codec.model == vaerans.DEFAULT_MODEL_NAME
    assert codec.device in ("cpu", "gpu") and codec.ep == "cpu"
    assert "vaerans-small-v1" in repr(codec)


def test_cuda_without_onnxruntime_gpu_says_what_to_install():
    # The package's ONNX Runtime here is the CPU build; asking for CUDA must say so, and
    # "auto" must fall back to the CPU.
    with pytest.raises(vaerans.ModelError, match="onnxruntime-gpu"):
        vaerans.Codec(ep="cuda")
    assert vaerans.Codec(ep="auto").ep == "cpu"


def test_codecs_pickle_as_their_settings(coffee):
    import pickle

    codec = vaerans.Codec(quality=40, threads=1, entropy="tables")
    copy = pickle.loads(pickle.dumps(codec))
    assert (copy.quality, copy.model) == (40, codec.model)
    small = np.ascontiguousarray(coffee[:64, :64])
    assert copy.compress(small) == codec.compress(small)
    latents = vaerans.LatentCodec(max_error=0.1, model="m")
    again = pickle.loads(pickle.dumps(latents))
    assert repr(again) == repr(latents)


def test_the_gpu_latent_stages_write_the_cpu_bytes(coffee):
    # The test suite installs a Vulkan adapter (Mesa's lavapipe where there is no GPU), as the
    # Rust GPU tests need; the latent stages on it write the CPU's bytes.
    image = np.ascontiguousarray(coffee[:128, :192])
    gpu, cpu = vaerans.Codec(quality=90, device="gpu"), vaerans.Codec(quality=90, device="cpu")
    assert (gpu.device, cpu.device) == ("gpu", "cpu")
    stream = cpu.compress(image)
    assert gpu.compress(image) == stream and gpu.compress_batch([image, image]) == [stream, stream]
    assert np.array_equal(gpu.decompress(stream), cpu.decompress(stream))

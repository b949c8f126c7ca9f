"""Bare latents from Python: LatentCodec, encode_latent and decode_latent."""

import numpy as np
import pytest

import vaerans


def latent(shape, dtype=np.float32, seed=0):
    """A smooth random latent, like a VAE's: noise filtered along the last two axes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(np.float64)
    x = (x + np.roll(x, 1, -1) + np.roll(x, 1, -2)) / 2
    return x.astype(dtype)


@pytest.mark.parametrize("shape", [(4, 32, 32), (16, 16, 16), (32, 8, 12), (2, 4, 16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_round_trips_keep_shape_type_and_the_error_bound(shape, dtype):
    x = latent(shape, dtype)
    codec = vaerans.LatentCodec(max_error=0.05)
    streams = codec.encode(x)
    if len(shape) == 4:
        assert isinstance(streams, list) and len(streams) == shape[0]
        back = codec.decode_batch(streams)
    else:
        assert isinstance(streams, bytes)
        back = codec.decode(streams)
    assert back.shape == x.shape and back.dtype == x.dtype
    assert np.abs(back.astype(np.float32) - x.astype(np.float32)).max() <= 0.05


def test_the_quality_found_is_measured_and_the_lowest_that_meets_the_bound():
    x = latent((4, 24, 24))
    [coded] = vaerans.LatentCodec(max_error=0.05).encode_detailed(x)
    assert coded["max_error"] <= 0.05
    q = coded["quality"]
    if q > 1:
        [lower] = vaerans.LatentCodec(quality=q - 1).encode_detailed(x)
        assert lower["max_error"] > 0.05
    [snr] = vaerans.LatentCodec(snr_db=30).encode_detailed(x)
    assert snr["snr_db"] >= 30


def test_bfloat16_is_recorded_and_comes_back_as_exact_float32():
    x = latent((4, 16, 16))
    # bfloat16 values: the top 16 bits of float32.
    bf = (x.view(np.uint32) & 0xFFFF0000).view(np.float32)
    stream = vaerans.encode_latent(bf, dtype="bfloat16", quality=90)
    back = vaerans.decode_latent(stream)
    assert back.dtype == np.float32
    assert np.array_equal(back.view(np.uint32) & 0xFFFF, np.zeros_like(back, np.uint32))
    # float32 values recorded as bfloat16 decode rounded to it.
    back = vaerans.decode_latent(vaerans.encode_latent(x, dtype="bfloat16", quality=90))
    assert np.array_equal(back.view(np.uint32) & 0xFFFF, np.zeros_like(back, np.uint32))
    with pytest.raises(vaerans.InputError, match="not a finite f16"):
        vaerans.encode_latent(np.full((4, 8, 8), 1e5, np.float32), dtype="float16")


def test_an_image_streams_latent_decodes_with_no_model(codec, coffee):
    stream = codec.compress(coffee)
    z = vaerans.decode_latent(stream)
    h, w, _ = coffee.shape
    assert z.shape == (4, -(-h // 8), -(-w // 8)) and z.dtype == np.float32


@pytest.mark.parametrize(
    "array, words",
    [
        (latent((3, 8, 8)), "multiple of 4"),
        (np.zeros((4, 0, 8), np.float32), "empty"),
        (latent((4, 8)), "latent"),
        (latent((1, 1, 4, 8, 8)), "latent"),
        (np.full((4, 8, 8), np.nan, np.float32), "not a finite"),
        (np.full((4, 8, 8), np.inf, np.float16), "not a finite"),
        (np.zeros((4, 8, 8), np.float64), "float64"),
        (np.zeros((4, 8, 8), np.int32), "int32"),
        (latent((4, 8, 16))[:, :, ::2], "C-contiguous"),
    ],
)
def test_bad_latents_raise_input_errors(array, words):
    with pytest.raises(vaerans.InputError) as e:
        vaerans.encode_latent(array)
    assert words in str(e.value)


def test_bad_arguments_and_streams():
    with pytest.raises(TypeError):
        vaerans.encode_latent([1.0, 2.0])
    with pytest.raises(vaerans.InputError, match="one of quality"):
        vaerans.LatentCodec(quality=50, max_error=0.1)
    with pytest.raises(vaerans.InputError, match="positive"):
        vaerans.LatentCodec(max_error=-1)
    with pytest.raises(vaerans.InputError, match="unknown latent type"):
        vaerans.encode_latent(latent((4, 8, 8)), dtype="int8")
    stream = vaerans.encode_latent(latent((4, 8, 8)))
    with pytest.raises(vaerans.StreamError):
        vaerans.decode_latent(stream[:-3])
    with pytest.raises(vaerans.InputError, match="do not make one array"):
        vaerans.decode_latents([stream, vaerans.encode_latent(latent((4, 8, 12)))])

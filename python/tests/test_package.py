"""The package itself: its stubs match the module, files open, errors form one hierarchy."""

import ast
import os

import numpy as np
import PIL.Image
import pytest

import vaerans
from conftest import COFFEE


def stub():
    with open(os.path.join(os.path.dirname(vaerans.__file__), "_vaerans.pyi")) as f:
        return ast.parse(f.read())


def test_the_stubs_name_what_the_module_has():
    tree = stub()
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and hasattr(vaerans._vaerans, node.name):
            cls = getattr(vaerans._vaerans, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    assert hasattr(cls, item.name), f"{node.name}.{item.name} is in the stubs only"
            named = {i.name for i in node.body if isinstance(i, ast.FunctionDef)}
            public = {n for n in dir(cls) if not n.startswith("_")}
            assert public <= named, f"{node.name} lacks stubs for {public - named}"
        elif isinstance(node, ast.FunctionDef):
            assert hasattr(vaerans._vaerans, node.name), node.name
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    assert {"Codec", "LatentCodec", "ShardReader", "ShardWriter"} <= classes


def test_open_image_reads_as_a_viewer_shows(tmp_path):
    image = vaerans.open_image(COFFEE)
    assert image.dtype == np.uint8 and np.array_equal(image, np.asarray(PIL.Image.open(COFFEE).convert("RGB")))
    rgba = tmp_path / "a.png"
    PIL.Image.new("RGBA", (4, 4), (10, 20, 30, 128)).save(rgba)
    with pytest.raises(vaerans.InputError, match="alpha"):
        vaerans.open_image(rgba)
    assert vaerans.open_image(rgba, alpha="drop")[0, 0].tolist() == [10, 20, 30]
    assert vaerans.open_image(rgba, alpha="over=ffffff")[0, 0].tolist() != [10, 20, 30]
    with pytest.raises(vaerans.InputError, match="RRGGBB"):
        vaerans.open_image(rgba, alpha="over=white")
    with pytest.raises(vaerans.IoError) as e:
        vaerans.open_image(tmp_path / "missing.png")
    assert isinstance(e.value, OSError)
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(vaerans.InputError):
        vaerans.open_image(tmp_path / "junk.png")


def test_every_error_is_a_vaerans_error():
    for cls in (vaerans.StreamError, vaerans.InputError, vaerans.LimitError, vaerans.ModelError, vaerans.GpuError, vaerans.IoError):
        assert issubclass(cls, vaerans.Error)
    assert vaerans.__version__ and vaerans.ORT_VERSION == "1.31.1"

"""Writes the tiny test autoencoder used by the test suite (tests/models/*.onnx).

A linear model whose outputs are known exactly, so tests can check real ONNX Runtime
sessions against a few lines of Rust:

- encoder: SpaceToDepth(8) then a 1x1 convolution with an orthonormal 4x192 matrix P;
- decoder: a 1x1 convolution with P^T then DepthToSpace(8, DCR), so decode(encode(x)) is the
  orthogonal projection of every 8x8 block onto span(P's rows);
- moments encoder: the same, but it outputs [mean, logvar] (8 channels, logvar = 0), as a
  diagonal-Gaussian VAE does.

P's rows, each over an 8x8x3 block: the mean of R+G+B; of R-G; of R+G-2B; and the luma
difference between the block's left and right halves.

Run: pip install onnx==1.17.0 numpy && python scripts/make_test_model.py
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent.parent / "tests" / "models"
B = 8


def projection() -> np.ndarray:
    # SpaceToDepth (and DepthToSpace DCR) order: channel = (by * B + bx) * 3 + c.
    p = np.zeros((4, B * B * 3), np.float64)
    for by in range(B):
        for bx in range(B):
            base = (by * B + bx) * 3
            p[0, base : base + 3] = [1, 1, 1]
            p[1, base : base + 3] = [1, -1, 0]
            p[2, base : base + 3] = [1, 1, -2]
            side = 1 if bx < B // 2 else -1
            p[3, base : base + 3] = [side, side, side]
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    assert np.allclose(p @ p.T, np.eye(4))
    return p.astype(np.float32)


def save(graph, name: str):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="vaerans-test-model")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, OUT / name)
    print("wrote", OUT / name)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    p = projection()
    dyn_img = ["batch", 3, "height", "width"]
    dyn_lat = lambda c: ["batch", c, "latent_height", "latent_width"]

    enc_w = numpy_helper.from_array(p.reshape(4, B * B * 3, 1, 1), "proj")
    for name, channels in [("tiny_encoder.onnx", 4), ("tiny_moments_encoder.onnx", 8)]:
        nodes = [
            helper.make_node("SpaceToDepth", ["image"], ["blocks"], blocksize=B),
            helper.make_node("Conv", ["blocks", "proj"], ["mean" if channels == 8 else "latent"]),
        ]
        inits = [enc_w]
        if channels == 8:
            # logvar = 0 * mean, then concat: a distribution-moments output.
            inits.append(numpy_helper.from_array(np.zeros((1,), np.float32), "zero"))
            nodes += [
                helper.make_node("Mul", ["mean", "zero"], ["logvar"]),
                helper.make_node("Concat", ["mean", "logvar"], ["latent"], axis=1),
            ]
        graph = helper.make_graph(
            nodes, "encoder",
            [helper.make_tensor_value_info("image", TensorProto.FLOAT, dyn_img)],
            [helper.make_tensor_value_info("latent", TensorProto.FLOAT, dyn_lat(channels))],
            initializer=inits,
        )
        save(graph, name)

    dec_w = numpy_helper.from_array(p.T.reshape(B * B * 3, 4, 1, 1).copy(), "proj_t")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["latent", "proj_t"], ["blocks"]),
            helper.make_node("DepthToSpace", ["blocks"], ["image"], blocksize=B, mode="DCR"),
        ],
        "decoder",
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, dyn_lat(4))],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dyn_img)],
        initializer=[dec_w],
    )
    save(graph, "tiny_decoder.onnx")


if __name__ == "__main__":
    main()

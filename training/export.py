"""Export a trained checkpoint to ONNX and check ONNX Runtime against PyTorch.

    python training/export.py --ckpt /var/tmp/vaerans/best.pt --out models/vaerans-small-v1

Writes encoder.onnx (image [N,3,H,W] in [-1,1] -> latent [N,4,H/8,W/8]) and decoder.onnx
(the reverse), opset 17, dynamic batch, height and width, weights stored as fp16 (cast to fp32 at load). Fails if any output differs from
PyTorch's by more than --tol on random inputs of two shapes and batch sizes.
"""

import argparse
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from model import Decoder, Encoder


def fp16_weights(path: Path):
    """Stores every float weight as fp16 followed by a Cast to fp32: half the file size, and
    ONNX Runtime folds the casts at load time, so inference still runs in fp32."""
    model = onnx.load(path)
    g = model.graph
    casts, keep = [], []
    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        if init.data_type == TensorProto.FLOAT and arr.size > 16:
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "_fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        else:
            keep.append(init)
    del g.initializer[:]
    g.initializer.extend(keep)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    state = torch.load(args.ckpt, weights_only=False, map_location="cpu")
    # Checkpoints from before `--latent-channels` existed are 4-channel models.
    channels = state.get("args", {}).get("latent_channels", 4)
    enc = Encoder(latent_channels=channels).eval()
    dec = Decoder(latent_channels=channels).eval()
    enc.load_state_dict(state["encoder"])
    dec.load_state_dict(state["decoder"])
    args.out.mkdir(parents=True, exist_ok=True)
    # The shipped weights are fp16; round PyTorch's copy the same way, so the check below
    # compares like with like.
    with torch.no_grad():
        for p in list(enc.parameters()) + list(dec.parameters()):
            if p.numel() > 16:
                p.copy_(p.half().float())

    x = torch.rand(1, 3, 64, 96) * 2 - 1
    z = enc(x).detach()
    img_axes = {0: "batch", 2: "height", 3: "width"}
    lat_axes = {0: "batch", 2: "latent_height", 3: "latent_width"}
    torch.onnx.export(enc, (x,), args.out / "encoder.onnx", opset_version=17,
                      input_names=["image"], output_names=["latent"],
                      dynamic_axes={"image": img_axes, "latent": lat_axes}, dynamo=False)
    torch.onnx.export(dec, (z,), args.out / "decoder.onnx", opset_version=17,
                      input_names=["latent"], output_names=["image"],
                      dynamic_axes={"latent": lat_axes, "image": img_axes}, dynamo=False)

    fp16_weights(args.out / "encoder.onnx")
    fp16_weights(args.out / "decoder.onnx")

    se = ort.InferenceSession(str(args.out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    sd = ort.InferenceSession(str(args.out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    worst = 0.0
    torch.manual_seed(0)
    for n, h, w in [(1, 64, 96), (3, 128, 40), (2, 8, 8)]:
        x = torch.rand(n, 3, h, w) * 2 - 1
        with torch.no_grad():
            z = enc(x)
            y = dec(z)
        oz = se.run(None, {"image": x.numpy()})[0]
        oy = sd.run(None, {"latent": z.numpy()})[0]
        dz = float(np.abs(oz - z.numpy()).max())
        dy = float(np.abs(oy - y.numpy()).max())
        print(f"[{n},3,{h},{w}] encoder max |ort - torch| {dz:.2e}, decoder {dy:.2e}")
        worst = max(worst, dz, dy)
    if worst > args.tol:
        raise SystemExit(f"ONNX Runtime differs from PyTorch by {worst:.2e} > {args.tol}")
    sizes = {p.name: p.stat().st_size for p in args.out.glob("*.onnx")}
    print(f"ok: worst difference {worst:.2e} <= {args.tol}; files {sizes}; "
          f"step {state['step']}, best val PSNR {state['best_psnr']:.2f} dB")


if __name__ == "__main__":
    main()

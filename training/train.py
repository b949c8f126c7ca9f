"""Train the default vaerans autoencoder on BSDS500 (never on Kodak).

Seeded and resumable: every `--ckpt-every` steps the whole state (weights, optimiser,
step, data RNG) is written atomically to `--work/ckpt.pt`; starting again with the same
arguments continues from there. Logs loss and validation PSNR to stdout and
`--work/train.log`.

    python training/train.py --data ../shared/data/bsds500-train --work /var/tmp/vaerans
"""

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from model import Decoder, Encoder, param_count


def load_images(data: Path) -> list[np.ndarray]:
    files = sorted(p for p in data.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if not files:
        raise SystemExit(f"no images in {data}")
    return [np.asarray(Image.open(p).convert("RGB")) for p in files]


def to_tensor(batch: np.ndarray) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1]."""
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def sample_batch(images, rng: np.random.Generator, batch: int, crop: int) -> torch.Tensor:
    out = np.empty((batch, crop, crop, 3), np.uint8)
    for i in range(batch):
        img = images[rng.integers(len(images))]
        h, w, _ = img.shape
        y = rng.integers(h - crop + 1)
        x = rng.integers(w - crop + 1)
        patch = img[y : y + crop, x : x + crop]
        if rng.integers(2):
            patch = patch[:, ::-1]
        if rng.integers(2):
            patch = patch[::-1]
        if rng.integers(2):
            patch = patch.transpose(1, 0, 2)
        out[i] = patch
    return to_tensor(out)


@torch.no_grad()
def validate(enc, dec, images, device) -> float:
    """Mean RGB PSNR (8-bit peak) of the clean autoencoder on whole images cropped to
    multiples of 8."""
    psnrs = []
    for img in images:
        h, w = img.shape[0] // 8 * 8, img.shape[1] // 8 * 8
        x = to_tensor(img[None, :h, :w].copy()).to(device)
        y = dec(enc(x))
        a = ((x + 1) * 127.5).round()
        b = ((y + 1) * 127.5).clamp(0, 255).round()
        mse = ((a - b) ** 2).mean().item()
        psnrs.append(10 * math.log10(255**2 / max(mse, 1e-10)))
    return float(np.mean(psnrs))


def lr_at(step: int, total: int, peak: float, warmup: int = 200) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 1e-5 + (peak - 1e-5) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/vaerans"))
    ap.add_argument("--steps", type=int, default=8000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-images", type=int, default=20)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.05,
                    help="width of the uniform noise added to the latent while training, "
                         "so the decoder tolerates quantisation")
    ap.add_argument("--latent-l2", type=float, default=1e-5,
                    help="weight of mean(z^2), which keeps the latent scale bounded")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                    help="auto: CUDA when PyTorch sees a GPU, else the CPU")
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--latent-channels", type=int, default=4,
                    help="latent channels (a multiple of 4; the embedded model has 4)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.work / "ckpt.pt"
    log = open(args.work / "train.log", "a", buffering=1)

    def say(msg: str):
        print(msg, flush=True)
        log.write(msg + "\n")

    images = load_images(args.data)
    # A fixed, seeded hold-out for validation; the rest is the training set.
    order = np.random.default_rng(args.seed).permutation(len(images))
    val = [images[i] for i in order[: args.val_images]]
    train = [images[i] for i in order[args.val_images :]]

    device = torch.device(
        "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        else "cpu")
    enc = Encoder(latent_channels=args.latent_channels).to(device)
    dec = Decoder(latent_channels=args.latent_channels).to(device)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    rng = np.random.default_rng(args.seed + 1)
    step, best = 0, -1.0
    if ckpt_path.exists():
        state = torch.load(ckpt_path, weights_only=False, map_location=device)
        enc.load_state_dict(state["encoder"])
        dec.load_state_dict(state["decoder"])
        opt.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"].cpu())
        step, best = state["step"], state["best_psnr"]
        say(f"resumed at step {step} (best val PSNR {best:.2f} dB)")
    else:
        say(f"encoder {param_count(enc)} params, decoder {param_count(dec)} params; "
            f"{len(train)} training images, {len(val)} validation images; device {device}")

    def save(path: Path, extra: dict | None = None):
        state = {
            "encoder": enc.state_dict(), "decoder": dec.state_dict(),
            "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(), "step": step, "best_psnr": best,
            "args": vars(args) | {"data": str(args.data), "work": str(args.work)},
        }
        state.update(extra or {})
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    t0, run_loss = time.time(), 0.0
    while step < args.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr)
        x = sample_batch(train, rng, args.batch, args.crop).to(device)
        z = enc(x)
        noisy = z + (torch.rand_like(z) - 0.5) * args.noise
        y = dec(noisy)
        mse = torch.mean((y - x) ** 2)
        loss = mse + args.latent_l2 * torch.mean(z**2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        run_loss += mse.item()
        if step % 50 == 0:
            train_psnr = 10 * math.log10(4.0 / (run_loss / 50))
            say(f"step {step} mse {run_loss / 50:.5f} (~{train_psnr:.2f} dB) "
                f"z_std {z.std().item():.3f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{(time.time() - t0) / 50:.2f}s/step")
            run_loss, t0 = 0.0, time.time()
        if step % args.val_every == 0 or step == args.steps:
            enc.eval(); dec.eval()
            p = validate(enc, dec, val, device)
            enc.train(); dec.train()
            say(f"step {step} val PSNR {p:.2f} dB")
            if p > best:
                best = p
                save(args.work / "best.pt")
        if step % args.ckpt_every == 0 or step == args.steps:
            save(ckpt_path)
    say(f"done: {step} steps, best val PSNR {best:.2f} dB")


if __name__ == "__main__":
    main()

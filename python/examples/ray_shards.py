"""Images into WebDataset shards and back on Ray Data, timed.

    python python/examples/ray_shards.py IMAGES/ SHARDS/ [--quality 75] [--concurrency 1]
        [--batch-size 8] [--address auto]

Starts a local Ray (or joins --address), encodes every image under IMAGES/ into shards in
SHARDS/ (one per block), decodes them back, and prints images/s both ways next to the same
work done by one process without Ray. On a cluster, pass paths every node reaches and
--address auto; --num-gpus 1 gives each actor a GPU.
"""

import argparse
import os
import shutil
import time

import ray

import vaerans
import vaerans.ray


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images")
    p.add_argument("shards")
    p.add_argument("--quality", type=int, default=75)
    p.add_argument("--concurrency", type=int, default=1, help="actors (each codes on every core it has)")
    p.add_argument("--num-cpus", type=float, default=1, help="CPUs an actor reserves (leave some for reading)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads of an actor's single calls")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--num-gpus", type=float, default=0)
    p.add_argument("--address", default=None, help="a running cluster (auto), else a local Ray")
    args = p.parse_args()

    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    shutil.rmtree(args.shards, ignore_errors=True)

    files = sorted(os.listdir(args.images))
    n = len(files)
    t = time.perf_counter()
    shards = vaerans.ray.encode_images(
        args.images,
        args.shards,
        quality=args.quality,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
        threads=args.threads,
    )
    encode = time.perf_counter() - t
    size = sum(os.path.getsize(s) for s in shards)
    t = time.perf_counter()
    rows = vaerans.ray.decode_shards(
        args.shards, batch_size=args.batch_size, concurrency=args.concurrency,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
        threads=args.threads,
    ).take_all()
    decode = time.perf_counter() - t
    assert len(rows) == n, f"{len(rows)} images decoded of {n}"

    # The same work in this process, no Ray: one codec, every core.
    codec = vaerans.Codec(quality=args.quality)
    images = [vaerans.open_image(os.path.join(args.images, f)) for f in files]
    t = time.perf_counter()
    streams = codec.compress_batch(images)
    local_encode = time.perf_counter() - t
    t = time.perf_counter()
    codec.decompress_batch(streams)
    local_decode = time.perf_counter() - t

    pixels = sum(i.shape[0] * i.shape[1] for i in images)
    print(f"{n} images, {len(shards)} shards, {size} bytes ({8 * size / pixels:.3f} bpp), quality {args.quality}")
    print(f"ray ({args.concurrency} actor(s) of {args.num_cpus} CPU, batch {args.batch_size}):")
    print(f"  encode {encode:6.2f} s  {n / encode:6.2f} images/s (read, code, write shards; Ray's start-up of the pipeline included)")
    print(f"  decode {decode:6.2f} s  {n / decode:6.2f} images/s (read shards, decode, collect)")
    print("one process, no Ray (compress_batch / decompress_batch, images in memory):")
    print(f"  encode {local_encode:6.2f} s  {n / local_encode:6.2f} images/s")
    print(f"  decode {local_decode:6.2f} s  {n / local_decode:6.2f} images/s")


if __name__ == "__main__":
    main()

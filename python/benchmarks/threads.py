"""Throughput of Codec.compress from 1 and 2 Python threads sharing one codec: the GIL is
released while Rust codes, so two threads run side by side.

    python python/benchmarks/threads.py [IMAGE] [--seconds S] [--quality Q]

Prints images/s for one thread and for two, and their ratio, for the codec's default ONNX
Runtime threads and for one ONNX Runtime thread a call (where each call keeps one core busy
and the threads alone give the parallelism).
"""

import argparse
import os
import threading
import time

import numpy as np
import PIL.Image

import vaerans

HERE = os.path.dirname(os.path.abspath(__file__))


def rate(codec, image, threads, seconds):
    """Images per second from `threads` threads calling compress for about `seconds`."""
    codec.compress(image)  # warm: sessions opened, arenas grown
    done = [0] * threads
    stop = time.perf_counter() + seconds

    def work(i):
        while time.perf_counter() < stop:
            codec.compress(image)
            done[i] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.perf_counter() - start)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image", nargs="?", default=os.path.join(HERE, "..", "..", "assets", "coffee.png"))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--quality", type=int, default=75)
    args = p.parse_args()
    image = np.asarray(PIL.Image.open(args.image).convert("RGB"))
    h, w, _ = image.shape
    print(f"{w}x{h}, quality {args.quality}, {os.cpu_count()} cores, {args.seconds:.0f} s a run")
    print("ort threads a call | 1 thread img/s | 2 threads img/s | ratio")
    for ort_threads in (None, 1):
        # Warm both codecs' replicas before measuring: the second thread's opens sessions.
        one = rate(vaerans.Codec(quality=args.quality, threads=ort_threads), image, 1, args.seconds)
        codec = vaerans.Codec(quality=args.quality, threads=ort_threads)
        rate(codec, image, 2, 1.0)
        two = rate(codec, image, 2, args.seconds)
        label = "default" if ort_threads is None else str(ort_threads)
        print(f"{label:>18} | {one:15.2f} | {two:15.2f} | {two / one:.2f}")


if __name__ == "__main__":
    main()

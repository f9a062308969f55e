#!/usr/bin/python3
"""bench_data.py: data pipeline throughput, graft against Pillow + torchvision.

Generates (once) a folder of PNG images of about 224 x 224 pixels, then times
on one thread the same per-image work on both sides: decode the PNG, then
RandomResizedCrop(224), RandomHorizontalFlip, ToTensor and Normalize
(torchvision) or graft's equivalents. Each side runs `rounds` times,
alternating, and the best round counts (the machine may be shared). Prints
both figures and their ratio, then graft's cache=ram loader rate on two
workers. Needs Debian's python3-torchvision (use /usr/bin/python3).

usage: bench_data.py GRAFT_EXE [--dir DIR] [--n 1000] [--size 224] [--rounds 2]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def generate(folder, n, seed=0):
    """n PNGs between 200 and 280 pixels a side: smooth colour fields with
    edges and sensor-like noise, which compress about like photographs."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        path = os.path.join(folder, f"{i:05d}.png")
        if os.path.exists(path):
            continue
        h, w = rng.integers(200, 281, size=2)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        f = rng.uniform(0.01, 0.08, size=3)
        img = np.stack([128 + 80 * np.sin(x * f[c] + i + c) * np.cos(y * f[(c + 1) % 3] + c)
                        for c in range(3)], axis=-1)
        img[(x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 4) ** 2] *= 0.6
        img += rng.normal(0, 6, img.shape)
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)


def bench_torchvision(paths, size):
    import torch
    import torchvision.transforms as T
    torch.set_num_threads(1)
    tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            tf(im.convert("RGB"))
    return len(paths) / (time.perf_counter() - t0)


def bench_graft(exe, folder, n, size):
    out = subprocess.run([exe, "bench-data", folder, f"n={n}", f"size={size}", "workers=2", "epochs=3"],
                         check=True, capture_output=True, text=True).stdout
    one = float(re.search(r"decode\+augment:.*: ([0-9.]+) img/s", out).group(1))
    loader = float(re.search(r"epochs after the first: ([0-9.]+) img/s", out).group(1))
    return one, loader, out.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graft")
    ap.add_argument("--dir", default="/tmp/graft-bench-data")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    generate(a.dir, a.n)
    paths = sorted(os.path.join(a.dir, f) for f in os.listdir(a.dir) if f.endswith(".png"))[:a.n]
    tv, gr, ld, text = 0.0, 0.0, 0.0, ""
    for _ in range(a.rounds):
        tv = max(tv, bench_torchvision(paths, a.size))
        one, loader, text = bench_graft(a.graft, a.dir, a.n, a.size)
        gr, ld = max(gr, one), max(ld, loader)
    print(f"images: {len(paths)} PNGs of 200..280 pixels a side in {a.dir}, output {a.size}x{a.size}")
    print(f"Pillow + torchvision, 1 thread: {tv:.1f} img/s")
    print(f"graft, 1 thread:                {gr:.1f} img/s")
    print(f"ratio graft / torchvision:      {gr / tv:.2f}x (target >= 1.5x)")
    print(f"graft loader cache=ram, 2 workers: {ld:.1f} img/s (target >= 5000)")
    print(f"(last graft run: {text})")
    return 0 if gr / tv >= 1.5 and ld >= 5000 else 1


if __name__ == "__main__":
    sys.exit(main())

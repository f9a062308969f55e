#!/usr/bin/env python3
"""Writes part of Fashion-MNIST (Debian's dataset-fashion-mnist) as an
ImageFolder tree of 8-bit grayscale PNGs: OUT/train/<class>/*.png and
OUT/val/<class>/*.png. Training images come from the 60k training set,
validation images from the 10k test set, each taken in file order.

  fmnist_imagefolder.py OUT --classes 5-9 --train-per-class 50 --val-per-class 200

Standard library only. Class folders are named "<index>_<name>" so that
sorted order equals label order.
"""
import argparse
import gzip
import os
import struct
import sys
import zlib

SRC = "/usr/share/datasets/fashion-mnist"
NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2049:
        return list(data[8:8 + n])
    rows, cols = struct.unpack(">II", data[8:16])
    size = rows * cols
    return [data[16 + i * size:16 + (i + 1) * size] for i in range(n)], rows, cols


def png_gray(pixels, w, h):
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))

    def chunk(kind, body):
        c = kind + body
        return struct.pack(">I", len(body)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def write_split(out, split, images, labels, classes, per_class, rows, cols):
    counts = {c: 0 for c in classes}
    for i, (img, lab) in enumerate(zip(images, labels)):
        if lab not in counts or counts[lab] >= per_class:
            continue
        d = os.path.join(out, split, "%d_%s" % (lab, NAMES[lab]))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "%05d.png" % i), "wb") as f:
            f.write(png_gray(img, cols, rows))
        counts[lab] += 1
        if all(v >= per_class for v in counts.values()):
            break
    return sum(counts.values())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--classes", default="5-9", help="a range like 0-4")
    ap.add_argument("--train-per-class", type=int, default=50)
    ap.add_argument("--val-per-class", type=int, default=200)
    ap.add_argument("--src", default=SRC)
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.classes.split("-"))
    classes = list(range(lo, hi + 1))
    if not os.path.isdir(a.src):
        sys.exit("fmnist_imagefolder: %s not found (apt-get install dataset-fashion-mnist)" % a.src)
    tr, rows, cols = read_idx(os.path.join(a.src, "train-images-idx3-ubyte.gz"))
    trl = read_idx(os.path.join(a.src, "train-labels-idx1-ubyte.gz"))
    te, _, _ = read_idx(os.path.join(a.src, "t10k-images-idx3-ubyte.gz"))
    tel = read_idx(os.path.join(a.src, "t10k-labels-idx1-ubyte.gz"))
    n1 = write_split(a.out, "train", tr, trl, classes, a.train_per_class, rows, cols)
    n2 = write_split(a.out, "val", te, tel, classes, a.val_per_class, rows, cols)
    print("fmnist_imagefolder: %s: %d training and %d validation images of classes %s" % (a.out, n1, n2, a.classes))


if __name__ == "__main__":
    main()

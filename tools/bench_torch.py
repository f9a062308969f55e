#!/usr/bin/python3
"""PyTorch's training throughput for the model, batch, size and threads of a
`graft bench` run: SGD steps on random data after warm-up. Prints
images_per_sec=X on its last line. Options are graft bench's keys:
model, num_classes, batch, size, threads, warmup, steps, and
memory_format=contiguous|channels_last."""
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import resnet_ref  # noqa: E402


def main():
    a = dict(x.split("=", 1) for x in sys.argv[1:])
    threads = int(a.get("threads", "2"))
    torch.set_num_threads(threads)
    n, size = int(a.get("batch", "32")), int(a.get("size", "64"))
    warmup, steps = int(a.get("warmup", "2")), int(a.get("steps", "5"))
    model = resnet_ref.build(a.get("model", "resnet18"), int(a.get("num_classes", "10")))
    x = torch.randn(n, 3, size, size)
    if a.get("memory_format") == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    y = torch.randint(0, int(a.get("num_classes", "10")), (n,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    dt = time.perf_counter() - t0
    ips = n * steps / dt
    print("torch %s: %s batch %d size %dx%d threads %d: %.1f ms/step, %.1f images/s"
          % (torch.__version__, a.get("model", "resnet18"), n, size, size, threads, 1e3 * dt / steps, ips))
    print("images_per_sec=%.2f" % ips)


if __name__ == "__main__":
    main()

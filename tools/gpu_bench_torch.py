#!/usr/bin/env python3
"""PyTorch's training throughput on one CUDA GPU, the figure tools/gpu-check
sets `graft bench device=gpu` against: SGD steps (graft's defaults: lr 0.1,
momentum 0.9) on random data with bf16 autocast and channels_last, eager or
under torch.compile, timed between two device synchronizations after
warm-up (which, under torch.compile, includes the compilation).

Options (defaults shown): mode=eager|compile model=resnet50
num_classes=1000 batch=128 size=224 warmup=5 steps=30.
Prints torch_version=V and images_per_sec=X as its last two lines; exits 3
when torch, torchvision or a CUDA device is missing."""
import sys
import time


def main():
    a = dict(x.split("=", 1) for x in sys.argv[1:])
    mode = a.get("mode", "eager")
    if mode not in ("eager", "compile"):
        sys.exit("mode=%s: expected eager or compile" % mode)
    try:
        import torch
        import torch.nn.functional as F
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        import resnet_ref
    except ImportError as e:
        print("torch unavailable: %s" % e)
        sys.exit(3)
    if not torch.cuda.is_available():
        print("torch %s sees no CUDA device" % torch.__version__)
        sys.exit(3)

    name = a.get("model", "resnet50")
    classes = int(a.get("num_classes", "1000"))
    n, size = int(a.get("batch", "128")), int(a.get("size", "224"))
    warmup, steps = int(a.get("warmup", "5")), int(a.get("steps", "30"))
    torch.backends.cudnn.benchmark = True
    dev = torch.device("cuda")
    model = resnet_ref.build(name, classes).to(dev, memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(n, 3, size, size, device=dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (n,), device=dev)
    run = torch.compile(model) if mode == "compile" else model

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(run(x), y)
        loss.backward()
        opt.step()
        return loss

    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t1
    ips = n * steps / dt
    print("torch %s %s: %s batch %d size %dx%d bf16 autocast channels_last on %s: "
          "warm-up %.1f s, %.2f ms/step, %.1f images/s (loss %.4f)"
          % (torch.__version__, mode, name, n, size, size, torch.cuda.get_device_name(),
             t1 - t0, 1e3 * dt / steps, ips, loss.item()))
    print("torch_version=%s" % torch.__version__)
    print("images_per_sec=%.2f" % ips)


if __name__ == "__main__":
    main()

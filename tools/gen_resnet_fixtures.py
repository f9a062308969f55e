#!/usr/bin/python3
"""Writes the committed ResNet parity fixtures (tests/fixtures/resnet/).

Each fixture is one safetensors file: the input batch (`images`, `labels`),
the reference `logits`, `loss` and `eval_logits` in full, and for every
parameter and buffer a summary (tools/hashinit.py) of its first gradient
(`sum.grad.*`) and of its value after the optimizer steps (`sum.param.*`,
`sum.buffer.*`). Weights are not stored: both sides synthesize them from
the seed (graft: weights=hash:SEED). The graft step arguments of each case
are in the file's metadata under `args`.

The reference is PyTorch in float64. Beside it the fixture stores how far
PyTorch's own float32 run lands from it (`err.<name>`, the error measure
of the parity test), because a ResNet-50 trained with batch statistics of a
few images is ill conditioned: float32 PyTorch itself misses float64 by
percents on some gradients. The test holds graft to a small multiple of
PyTorch's float32 error, with a floor per quantity.

Run with Debian's python3: /usr/bin/python3 tools/gen_resnet_fixtures.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hashinit  # noqa: E402
import resnet_ref  # noqa: E402
import st  # noqa: E402

# Every case is chosen to be well conditioned, so that it tests graft's
# arithmetic rather than float32 noise: batch norm sees at least 8 rows per
# channel in the last stage (with 2 rows, normalized values are +-1 and
# their gradients swing on rounding), and AdamW's eps sits above the
# gradients' rounding noise (with eps 1e-8, elements whose gradient is
# rounding noise get a full +-lr update whose sign is noise too; the
# optimizer's exact rule is checked bit for bit in tests/unit/test_optim.c).
# `--check` prints how far PyTorch in float32 lands from PyTorch in float64
# on each case; the parity tolerances sit well above those figures.
CASES = [
    dict(name="resnet18_sgd", model="resnet18", classes=5, batch=4, h=64, w=64,
         opt=dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4), steps=2),
    dict(name="resnet18_adamw_ls", model="resnet18", classes=10, batch=3, h=72, w=80,
         opt=dict(optimizer="adamw", lr=1e-3, eps=1e-4, weight_decay=0.05), steps=2, label_smoothing=0.1),
    dict(name="resnet50_nesterov", model="resnet50", classes=3, batch=4, h=64, w=64,
         opt=dict(optimizer="sgd", lr=0.002, momentum=0.9, nesterov=1, weight_decay=5e-4), steps=2),
    dict(name="resnet50_adamw", model="resnet50", classes=7, batch=2, h=96, w=80,
         opt=dict(optimizer="adamw", lr=5e-4, beta1=0.8, beta2=0.99, eps=1e-4, weight_decay=0.01), steps=2),
    dict(name="resnet20_sgd", model="resnet20", classes=10, batch=8, h=32, w=32,
         opt=dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4), steps=2),
    dict(name="resnet20_narrow_adamw", model="resnet20", widths=[8, 16, 24], classes=4, batch=5, h=17, w=19,
         opt=dict(optimizer="adamw", lr=2e-3, weight_decay=0.0), steps=2, label_smoothing=0.05),
]


def graft_args(case, seed):
    a = ["model=%s" % case["model"], "num_classes=%d" % case["classes"], "weights=hash:%d" % seed,
         "steps=%d" % case["steps"]]
    if "widths" in case:
        a.append("widths=" + ",".join(str(w) for w in case["widths"]))
    for k, v in case["opt"].items():
        a.append("%s=%s" % (k, repr(v) if isinstance(v, float) else v))
    if case.get("label_smoothing"):
        a.append("label_smoothing=%r" % case["label_smoothing"])
    return " ".join(a)


def reference(case, seed, dtype=torch.float32):
    torch.manual_seed(seed)
    model = resnet_ref.build(case["model"], case["classes"], case.get("widths"))
    hashinit.fill_model(model, seed)
    images = torch.randn(case["batch"], 3, case["h"], case["w"])
    labels = torch.randint(0, case["classes"], (case["batch"],))
    ref = resnet_ref.run_step(model.to(dtype), images.to(dtype), labels, case["opt"], case["steps"],
                              case.get("label_smoothing", 0.0))
    return images, labels, ref


def conditioning(case, seed):
    """Largest float32-vs-float64 error per kind, scaled as the tests scale."""
    _, _, a = reference(case, seed)
    _, _, b = reference(case, seed, torch.float64)
    worst = {}
    for k, ref in b.items():
        kind = k.split(".")[0]
        e = float(np.max(np.abs(a[k] - ref))) / max(float(np.max(np.abs(ref))), 1e-3)
        worst[kind] = max(worst.get(kind, 0.0), e)
    return worst


def full_error(a, ref):
    """tu_max_rel_err: largest difference over max(max|ref|, 1e-3)."""
    scale = max(float(np.max(np.abs(ref))), 1e-3)
    return float(np.max(np.abs(np.asarray(a, np.float64) - ref))) / scale


def summary_error(got, want):
    """summary_error() of tests/support/summary.c, in float64."""
    norm, mx = max(float(want[0]), 1e-12), max(float(want[1]), 1e-12)
    p = 2 + hashinit.NPROJ
    return max(abs(got[0] - want[0]) / norm, float(np.max(np.abs(got[2:p] - want[2:p]))) / norm,
               float(np.max(np.abs(got[p:] - want[p:]))) / mx)


def make_case(case, seed):
    images, labels, r32 = reference(case, seed)
    _, _, r64 = reference(case, seed, torch.float64)
    out = {"images": images.numpy(), "labels": labels.numpy().astype(np.int64)}
    for k in ("logits", "loss", "eval_logits"):
        out[k] = r64[k].astype(np.float64)
        out["err." + k] = np.array(full_error(r32[k], r64[k]), dtype=np.float64)
    for k, v in r64.items():
        if k.startswith(("grad.", "param.", "buffer.")):
            s64 = hashinit.summary(v).astype(np.float64)
            out["sum." + k] = s64
            out["err." + k] = np.array(summary_error(hashinit.summary(r32[k]).astype(np.float64), s64))
    return out


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    outdir = args[0] if args else os.path.join(root, "tests", "fixtures", "resnet")
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(2)
    if "--check" in sys.argv:
        for i, case in enumerate(CASES):
            w = conditioning(case, 1000 + i)
            print("%-24s" % case["name"], " ".join("%s %.1e" % kv for kv in sorted(w.items())))
        return
    for i, case in enumerate(CASES):
        seed = 1000 + i
        tensors = make_case(case, seed)
        path = os.path.join(outdir, case["name"] + ".safetensors")
        st.save(path, tensors, metadata={"args": graft_args(case, seed), "torch": torch.__version__})
        print("wrote", path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()

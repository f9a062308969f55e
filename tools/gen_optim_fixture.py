#!/usr/bin/env python3
"""gen_optim_fixture.py: optimizer fixtures for tests/unit/test_optim.c.

Runs torch.optim.SGD and torch.optim.AdamW on three small parameter tensors
in two parameter groups (the second with its own learning rate and no weight
decay, as graft's lr_mult and decay switch express it) for a few steps with
seeded random gradients, and writes what torch computed to
tests/fixtures/optim/<config>.txt. Two of the configs keep the first
parameter frozen (grad None) for the first steps, so its state and step
count start when it is unfrozen.

The fixtures are plain text, one tensor a line: `name count v1 v2 ...`, with
floats printed to 9 significant digits, which reads back into the same
float32. Arenas are concatenated in slot order; `stateK` holds the state
planes one after the other (SGD momentum buffer; AdamW exp_avg then
exp_avg_sq), zero where torch has no state yet. Every hyper-parameter is a
float32 value, so torch (in double) and graft (from float) start from the
same numbers.

Run with Debian's python3, which has torch and numpy:
    /usr/bin/python3 tools/gen_optim_fixture.py
"""
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "optim")

SHAPES = ((3, 5), (7,), (9,))  # three parameter tensors of odd sizes
SIZES = tuple(int(np.prod(s)) for s in SHAPES)
GRAD_SCALE = (1.0, 1e-3, 0.3)
LR_MULT = 0.3                 # the second group's lr is lr * LR_MULT, weight decay 0

CONFIGS = {
    "sgd_plain": dict(kind="sgd", lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0),
    "sgd_momentum": dict(kind="sgd", lr=0.05, momentum=0.9, nesterov=False, weight_decay=0.0),
    "sgd_nesterov_wd": dict(kind="sgd", lr=0.03, momentum=0.8, nesterov=True,
                            weight_decay=0.05),
    "adamw_default": dict(kind="adamw", lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                          weight_decay=1e-2),
    "adamw_custom": dict(kind="adamw", lr=3e-3, betas=(0.8, 0.99), eps=1e-6,
                         weight_decay=0.1),
    "sgd_unfreeze": dict(kind="sgd", lr=0.05, momentum=0.9, nesterov=False,
                         weight_decay=0.05, frozen_steps=2),
    "adamw_unfreeze": dict(kind="adamw", lr=1e-2, betas=(0.9, 0.999), eps=1e-8,
                           weight_decay=1e-2, frozen_steps=2),
}
STEPS = 3


def f32(x):
    """The float32 nearest x, as a Python float."""
    return float(np.float32(x))


def cpu_capability():
    """The vector kernels torch picked (its rounding depends on them: FMA or not)."""
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def fmt(values):
    return " ".join("%.9g" % float(v) for v in values)


def make_optimizer(cfg, params):
    lr = f32(cfg["lr"])
    wd = f32(cfg["weight_decay"])
    lr2 = lr * f32(LR_MULT)  # graft: (double)lr * (double)lr_mult
    groups = [{"params": params[:2]}, {"params": params[2:], "lr": lr2, "weight_decay": 0.0}]
    if cfg["kind"] == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=f32(cfg["momentum"]),
                               nesterov=cfg["nesterov"], weight_decay=wd)
    b1, b2 = cfg["betas"]
    return torch.optim.AdamW(groups, lr=lr, betas=(f32(b1), f32(b2)), eps=f32(cfg["eps"]),
                             weight_decay=wd)


def state_planes(cfg, opt, params):
    """The state arena graft would hold: planes of concatenated slots."""
    if cfg["kind"] == "sgd":
        names = ["momentum_buffer"] if cfg["momentum"] != 0 else []
    else:
        names = ["exp_avg", "exp_avg_sq"]
    out = []
    for name in names:
        for p in params:
            pstate = opt.state.get(p, {})
            out.extend(pstate[name].flatten().tolist() if name in pstate else [0.0] * p.numel())
    return out


def generate(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=gen, dtype=torch.float32).requires_grad_() for s in SHAPES]
    opt = make_optimizer(cfg, params)
    frozen_steps = cfg.get("frozen_steps", 0)
    steps = STEPS + frozen_steps
    kind = 0 if cfg["kind"] == "sgd" else 1
    b1, b2 = cfg.get("betas", (0.0, 0.0))
    lines = [
        "# graft optimizer fixture %s: written by tools/gen_optim_fixture.py" % name,
        "# torch %s, CPU capability %s, seed %d" % (
            torch.__version__, cpu_capability(), seed),
        "kind 1 %d" % kind,
        "lr 1 %s" % fmt([f32(cfg["lr"])]),
        "weight_decay 1 %s" % fmt([f32(cfg["weight_decay"])]),
        "momentum 1 %s" % fmt([f32(cfg.get("momentum", 0.0))]),
        "nesterov 1 %d" % int(cfg.get("nesterov", False)),
        "beta1 1 %s" % fmt([f32(b1)]),
        "beta2 1 %s" % fmt([f32(b2)]),
        "eps 1 %s" % fmt([f32(cfg.get("eps", 0.0))]),
        "steps 1 %d" % steps,
        "slot_count %d %s" % (len(SIZES), fmt(SIZES)),
        "slot_lr_mult %d 1 1 %s" % (len(SIZES), fmt([f32(LR_MULT)])),
        "slot_decay %d 1 1 0" % len(SIZES),
        "param0 %d %s" % (sum(SIZES), fmt(torch.cat([p.detach().flatten() for p in params]))),
    ]
    updates = [0] * len(params)
    with torch.no_grad():
        for k in range(1, steps + 1):
            frozen = [1 if (i == 0 and k <= frozen_steps) else 0 for i in range(len(params))]
            grads = []
            for i, p in enumerate(params):
                g = torch.randn(SHAPES[i], generator=gen, dtype=torch.float32) * GRAD_SCALE[i]
                p.grad = None if frozen[i] else g
                grads.append(g.flatten())
                updates[i] += 1 - frozen[i]
            opt.step()
            state = state_planes(cfg, opt, params)
            if kind == 1:
                for i, p in enumerate(params):
                    pstate = opt.state.get(p, {})
                    want = int(pstate["step"].item()) if "step" in pstate else 0
                    assert want == updates[i], (name, i, want, updates[i])
            lines += [
                "frozen%d %d %s" % (k, len(frozen), fmt(frozen)),
                "grad%d %d %s" % (k, sum(SIZES), fmt(torch.cat(grads))),
                "param%d %d %s" % (k, sum(SIZES), fmt(torch.cat([p.flatten() for p in params]))),
                "state%d %d %s" % (k, len(state), fmt(state)),
                "step%d %d %s" % (k, len(updates), fmt(updates)),
            ]
    path = os.path.join(OUT, name + ".txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s (%d bytes)" % (os.path.relpath(path, ROOT), os.path.getsize(path)))


def main():
    os.makedirs(OUT, exist_ok=True)
    for seed, (name, cfg) in enumerate(CONFIGS.items(), start=1):
        generate(name, cfg, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())

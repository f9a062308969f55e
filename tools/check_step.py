#!/usr/bin/python3
"""Checks `graft step` against PyTorch with full tensors (no summaries).

  check_step.py make DIR key=value...   writes DIR/weights.safetensors (the
      model's own random PyTorch initialization), DIR/input.safetensors and
      DIR/expected.safetensors. Keys are graft step's (model, num_classes,
      optimizer, lr, momentum, nesterov, weight_decay, beta1, beta2, eps,
      steps, label_smoothing, widths) plus batch=N, size=HxW, seed=S, and
      margin=0 to skip the search for inputs away from ReLU kinks (for
      checks that compare no gradients).
  check_step.py compare EXPECTED GOT    compares every tensor; exit 1 when
      one is off, printing the worst error per kind.
  check_step.py strict STATE_DICT INPUT GOT model=.. num_classes=..
      loads graft's saved state dict into the torchvision model with
      strict=True and compares its eval-mode logits with GOT's eval_logits.

Run with Debian's python3 (torch 1.13, torchvision 0.14).
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import resnet_ref  # noqa: E402
import st  # noqa: E402

# Errors are relative to the reference tensor's largest magnitude (at least
# 1e-3). The reference is PyTorch in float64; a tensor passes when graft's
# error is at most RATIO times PyTorch float32's own error on it, or under
# the floor of its kind (see tests/parity/test_resnet_parity.c for why).
RATIO = 4.0
FLOOR = {"logits": 1e-5, "loss": 1e-6, "eval_logits": 1e-5, "grad": 1e-4, "param": 1e-4, "buffer": 1e-5}


def parse(kv):
    out = {}
    for a in kv:
        k, v = a.split("=", 1)
        out[k] = v
    return out


def make(d, kv):
    a = parse(kv)
    seed = int(a.get("seed", "0"))
    torch.manual_seed(seed)
    k = int(a["num_classes"])
    widths = [int(x) for x in a["widths"].split(",")] if "widths" in a else None
    h, w = (int(x) for x in a.get("size", "32x32").split("x"))
    n = int(a.get("batch", "2"))
    opt = {"optimizer": a.get("optimizer", "sgd")}
    for key in ("lr", "momentum", "weight_decay", "beta1", "beta2", "eps"):
        if key in a:
            opt[key] = float(a[key])
    opt["nesterov"] = int(a.get("nesterov", "0"))
    if opt["optimizer"] == "sgd":
        opt.setdefault("lr", 0.01)
    steps, ls = int(a.get("steps", "1")), float(a.get("label_smoothing", "0"))
    # Draw until no ReLU input of any training forward of the float64 run
    # lies within 3e-6 of zero (see ReluMargin): graft's forward agrees with
    # float64 to about 1e-6 at the deepest layers. The draws are seeded, so
    # every run picks the same one.
    for attempt in range(40):
        model = resnet_ref.build(a["model"], k, widths)
        images = torch.randn(n, 3, h, w)
        labels = torch.randint(0, k, (n,))
        m64 = resnet_ref.build(a["model"], k, widths).double()
        m64.load_state_dict(model.state_dict())
        watch = resnet_ref.ReluMargin(m64)
        r64 = resnet_ref.run_step(m64, images.double(), labels, opt, steps, ls)
        margin = watch.close()
        if margin > 3e-6 or a.get("margin") == "0":
            break
        print("draw %d: a ReLU input is %.1e from zero; drawing again" % (attempt, margin))
    os.makedirs(d, exist_ok=True)
    st.save(os.path.join(d, "weights.safetensors"), model.state_dict())
    st.save(os.path.join(d, "input.safetensors"), {"images": images, "labels": labels})
    r32 = resnet_ref.run_step(model, images, labels, opt, steps, ls)
    out = dict(r64)
    for name, ref in r64.items():
        out["err." + name] = np.array(err(r32[name], ref.astype(np.float64)))
    st.save(os.path.join(d, "expected.safetensors"), out)


def err(a, b):
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-3)
    return float(np.max(np.abs(a.astype(np.float64) - b))) / scale if b.size else 0.0


def compare(expected, got):
    want, have = st.load(expected), st.load(got)
    worst = {}
    ok = True
    for name, ref in want.items():
        kind = name.split(".")[0]
        if kind == "err":
            continue
        if name not in have:
            print("MISSING", name)
            ok = False
            continue
        if have[name].shape != ref.shape:
            print("SHAPE", name, have[name].shape, ref.shape)
            ok = False
            continue
        e = err(have[name], ref.astype(np.float64))
        t = float(want["err." + name])
        allowed = max(RATIO * t, FLOOR[kind])
        if e / allowed > worst.get(kind, (-1.0,))[0]:
            worst[kind] = (e / allowed, e, t, allowed, name)
    for kind, (x, e, t, allowed, name) in sorted(worst.items()):
        bad = x > 1.0
        ok &= not bad
        print("%-12s worst %s: graft %.2e, torch float32 %.2e, allowed %.2e%s"
              % (kind, name, e, t, allowed, "  FAIL" if bad else ""))
    return ok


def strict(state_path, input_path, got_path, kv):
    a = parse(kv)
    model = resnet_ref.build(a["model"], int(a["num_classes"]))
    sd = {k: torch.from_numpy(v) for k, v in st.load(state_path).items()}
    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(st.load(input_path)["images"])).numpy()
    e = err(st.load(got_path)["eval_logits"], logits.astype(np.float64))
    tol = 1e-4  # same weights, same float32 arithmetic class, one forward pass
    print("strict load into torchvision %s: eval logits largest error %.2e (tol %.0e)" % (a["model"], e, tol))
    return e <= tol


def main():
    torch.set_num_threads(2)
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3:])
        return 0
    if cmd == "compare":
        return 0 if compare(sys.argv[2], sys.argv[3]) else 1
    if cmd == "strict":
        return 0 if strict(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]) else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())

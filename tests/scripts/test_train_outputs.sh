#!/usr/bin/env bash
# What one short run leaves behind: the run folder holds config.ini,
# metrics.jsonl (one valid JSON line per epoch with epoch, accuracy and
# macro F1), report.json, and last, best and checkpoint safetensors;
# `graft train -c RUN/config.ini` (new out= and name=) reproduces
# last.safetensors byte for byte; last.safetensors loads into the same
# model built in PyTorch (tools/resnet_ref.py) with strict=True, when
# Debian's python3-torch is installed. With stderr not a terminal and
# quiet=0, progress is one plain line every log_every steps and at the end
# of each epoch, with no carriage returns.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"
epochs=2
log_every=4
run="$d/runs/o"

gtrain name=o epochs=$epochs quiet=0 log_every=$log_every >"$d/stdout" 2>"$d/stderr" \
  || { echo "FAIL: the run failed:"; tail -5 "$d/stderr"; exit 1; }

for f in config.ini metrics.jsonl report.json last.safetensors best.safetensors checkpoint.safetensors; do
  [ -s "$run/$f" ] || fail "the run folder has no $f"
done
echo "run folder: $(cd "$run" && ls | tr '\n' ' ')"

if out="$("$py" - "$run" $epochs <<'PY'
import json, sys
run, epochs = sys.argv[1], int(sys.argv[2])
lines = open(run + "/metrics.jsonl").read().splitlines()
assert len(lines) == epochs, "metrics.jsonl has %d lines for %d epochs" % (len(lines), epochs)
for i, line in enumerate(lines):
    m = json.loads(line)
    assert m["epoch"] == i + 1, "line %d is epoch %r" % (i + 1, m["epoch"])
    for key in ("accuracy", "loss", "train_loss", "lr"):
        assert isinstance(m[key], (int, float)), "line %d: %s is %r" % (i + 1, key, m.get(key))
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["macro"]["f1"] <= 1, "line %d: accuracy or macro f1 outside [0, 1]" % (i + 1)
    assert len(m["per_class"]) == 5, "line %d: %d classes" % (i + 1, len(m["per_class"]))
r = json.load(open(run + "/report.json"))
assert r["epochs"] == epochs and r["best"]["metric"] == "accuracy", "report.json: %r" % r["best"]
assert r["best"]["value"] == max(json.loads(l)["accuracy"] for l in lines), "report.json best is not the best epoch's"
print("%d metrics lines, accuracy %s, macro f1 %s; report.json best accuracy %s at epoch %s" % (
    len(lines), [json.loads(l)["accuracy"] for l in lines], [round(json.loads(l)["macro"]["f1"], 4) for l in lines],
    r["best"]["value"], r["best"]["epoch"]))
PY
)"; then
  ok "metrics.jsonl and report.json: $out"
else
  fail "metrics.jsonl or report.json: $out"
fi

# Progress on a non-terminal stderr: 6 steps an epoch, so lines at steps 4 and 6.
steps="$(grep -c "^epoch [0-9]*/$epochs step [0-9]*/[0-9]* loss [0-9.]* [0-9.]* img/s ETA [0-9]*s$" "$d/stderr")"
want_steps="$(for e in $(seq 1 $epochs); do for s in 4 6; do echo "epoch $e/$epochs step $s/6"; done; done)"
got_steps="$(grep -o "^epoch [0-9]*/$epochs step [0-9]*/[0-9]*" "$d/stderr")"
if grep -q $'\r' "$d/stderr"; then
  fail "progress: stderr is a file but holds carriage returns"
elif [ "$got_steps" != "$want_steps" ] || [ "$steps" -ne $((2 * epochs)) ]; then
  fail "progress: expected plain lines at steps 4 and 6 of each epoch, got:"
  cat "$d/stderr"
else
  ok "progress: $steps plain lines, no carriage return; e.g. '$(grep -m1 "step" "$d/stderr")'"
fi
tables="$(grep -c "^epoch [0-9]*/$epochs: train loss" "$d/stdout")"
if [ "$tables" -eq $epochs ]; then
  ok "progress: $tables end-of-epoch summaries on stdout"
else
  fail "progress: $tables end-of-epoch summaries on stdout, expected $epochs"
fi

if "$exe" train -c "$run/config.ini" out="$d/again" name=o2 quiet=1 2>"$d/again.log"; then
  same_file "last.safetensors of the run and of a run from its config.ini" "$run/last.safetensors" "$d/again/o2/last.safetensors"
  same_file "best.safetensors of the run and of a run from its config.ini" "$run/best.safetensors" "$d/again/o2/best.safetensors"
else
  fail "graft train -c RUN/config.ini failed:"
  tail -3 "$d/again.log"
fi

if "$py" -c "import torch, numpy" 2>/dev/null; then
  if out="$("$py" - "$src/tools" "$run/last.safetensors" <<'PY' 2>&1
import sys
sys.path.insert(0, sys.argv[1])
import torch, resnet_ref, st
state = {k: torch.from_numpy(v) for k, v in st.load(sys.argv[2]).items()}
model = resnet_ref.build("resnet20", 5, [8, 16, 16])
model.load_state_dict(state, strict=True)
model.eval()
with torch.no_grad():
    y = model(torch.zeros(2, 3, 32, 32))
assert tuple(y.shape) == (2, 5) and bool(torch.isfinite(y).all()), "logits %r" % (y,)
print("%d tensors loaded with strict=True; logits of a blank image: %s" % (len(state), " ".join("%.3f" % v for v in y[0].tolist())))
PY
)"; then
    ok "PyTorch: $out"
  else
    fail "PyTorch cannot load last.safetensors: $out"
  fi
else
  echo "PyTorch not installed: its load of last.safetensors not checked"
fi
finish

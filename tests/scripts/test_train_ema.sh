#!/usr/bin/env bash
# The weight average (ema=1): ema.safetensors is written beside last and
# evaluated every epoch (metrics.jsonl "ema"); it follows the recurrence's
# limits (decay near 0: the last weights; decay near 1: the weights the run
# started from); and a run stopped mid-epoch by SIGTERM and resumed ends
# with the same average, byte for byte, as an uninterrupted one.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"

gtrain name=start epochs=1 || { echo "FAIL: the first run failed"; exit 1; }
start="$d/runs/start/last.safetensors"

gtrain name=fast epochs=2 weights="$start" ema=1 ema_decay=0.000001 || fail "ema_decay=1e-6 run failed"
gtrain name=slow epochs=2 weights="$start" ema=1 ema_decay=0.999999 || fail "ema_decay=0.999999 run failed"
"$py" - "$src/tools" "$d/runs" "$start" <<'PY' || fail "the weight average does not follow its recurrence"
import sys
sys.path.insert(0, sys.argv[1])
import json, numpy as np, st
runs, start = sys.argv[2], sys.argv[3]
def worst(a, b):
    e = 0.0
    for k in a:
        if k.endswith("num_batches_tracked"):
            continue
        scale = max(float(np.max(np.abs(b[k]))), 1e-3)
        e = max(e, float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) / scale)
    return e
fast = st.load(runs + "/fast/ema.safetensors")
slow = st.load(runs + "/slow/ema.safetensors")
e1 = worst(fast, st.load(runs + "/fast/last.safetensors"))
e2 = worst(slow, st.load(start))
moved = worst(st.load(runs + "/slow/last.safetensors"), st.load(start))
print("decay 1e-6: average vs last weights %.2e; decay 0.999999: average vs starting weights %.2e"
      " (the weights themselves moved %.2e)" % (e1, e2, moved))
lines = [json.loads(l) for l in open(runs + "/fast/metrics.jsonl")]
assert all("ema" in l and "accuracy" in l["ema"] for l in lines), "metrics.jsonl lacks the ema figures"
sys.exit(0 if e1 < 1e-4 and e2 < 1e-4 and moved > 100 * e2 else 1)
PY
[ "$fails" -eq 0 ] && ok "the average follows decay to its two limits; metrics.jsonl holds its figures"

gtrain name=whole epochs=3 ema=1 ema_decay=0.9 || fail "uninterrupted ema run failed"
log="$d/stop.log"
"${graft_train[@]}" name=stopped epochs=3 ema=1 ema_decay=0.9 quiet=0 log_every=1 >/dev/null 2>"$log" &
bg_pid=$!
end=$(($(now_ms) + 60000))
until grep -q "^epoch 2/3 step 2/" "$log"; do
  if ! kill -0 "$bg_pid" 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then break; fi
  sleep 0.005
done
kill -TERM "$bg_pid" 2>/dev/null
wait "$bg_pid"
rc=$?
bg_pid=""
[ "$rc" -eq 75 ] || fail "SIGTERM: exit status $rc, expected 75"
"$exe" train resume="$d/runs/stopped" quiet=1 2>>"$log" || fail "resume failed"
same_file "ema.safetensors, uninterrupted and resumed" "$d/runs/whole/ema.safetensors" "$d/runs/stopped/ema.safetensors"
same_file "last.safetensors, uninterrupted and resumed" "$d/runs/whole/last.safetensors" "$d/runs/stopped/last.safetensors"
finish

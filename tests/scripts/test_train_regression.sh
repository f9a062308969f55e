#!/usr/bin/env bash
# task=regression: a head of one output trained with mean squared error on
# images listed with a number each (train.csv, val.csv). Here the number is
# the Fashion-MNIST class of the image scaled to [0, 1]: the run must beat
# the best constant prediction (the targets' variance) by a clear factor;
# metrics.jsonl and report.json hold mse and mae; graft eval reproduces the
# last epoch's mse; graft predict prints one value per image; classification
# settings are refused with exit status 2.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"
FACTOR=0.8

"$py" - "$d/fm" <<'PY'
import glob, os, sys
root = sys.argv[1]
for split in ("train", "val"):
    with open(os.path.join(root, split + ".csv"), "w") as f:
        f.write("path,target\n")
        for p in sorted(glob.glob(os.path.join(root, split, "*", "*.png"))):
            cls = int(os.path.basename(os.path.dirname(p)).split("_")[0])
            f.write("%s,%g\n" % (os.path.relpath(p, root), (cls - 5) / 4.0))
PY
reg=(task=regression best_metric=mse lr=0.02 epochs=15)
gtrain name=reg "${reg[@]}" || fail "the regression run failed"
run="$d/runs/reg"
"$py" - "$d/fm/val.csv" "$run" "$FACTOR" <<'PY' || fail "the regression head did not learn"
import json, sys
ys = [float(l.split(",")[1]) for l in open(sys.argv[1]).read().splitlines()[1:]]
mean = sum(ys) / len(ys)
var = sum((y - mean) ** 2 for y in ys) / len(ys)
lines = [json.loads(l) for l in open(sys.argv[2] + "/metrics.jsonl")]
assert all("mse" in l and "mae" in l for l in lines), "metrics.jsonl lacks mse or mae"
best = json.load(open(sys.argv[2] + "/report.json"))["best"]["value"]
print("best validation mse %.4f; the best constant prediction's mse (variance) %.4f" % (best, var))
sys.exit(0 if best < float(sys.argv[3]) * var else 1)
PY
[ "$fails" -eq 0 ] && ok "the regression head beats a constant prediction by the factor $FACTOR"

out="$("$exe" eval -c "$run/config.ini" weights="$run/last.safetensors" json=1 2>/dev/null)"
"$py" - "$run" "$out" <<'PY' || fail "graft eval does not reproduce the last epoch's mse"
import json, sys
last = json.loads(open(sys.argv[1] + "/metrics.jsonl").read().splitlines()[-1])["mse"]
got = json.loads(sys.argv[2])["mse"]
print("eval mse %.6g, training's last epoch %.6g" % (got, last))
sys.exit(0 if abs(got - last) <= 1e-6 * max(abs(last), 1e-12) else 1)
PY

img="$(ls "$d/fm/val/9_boot/"*.png | head -1)"
pred="$("$exe" predict weights="$run/best.safetensors" "$img" 2>/dev/null)"
if [[ "$pred" =~ ^.*:\ [-0-9.e+]+$ ]]; then ok "predict: $pred"; else fail "predict printed '$pred'"; fi

for bad in "best_metric=accuracy" "class_weights=balanced" "sampler=balanced"; do
  msg="$(gtrain name=bad task=regression best_metric=mse "$bad" 2>&1)"
  rc=$?
  if [ "$rc" -ne 0 ] && grep -q "regression" <<<"$msg"; then ok "$bad with task=regression refused: $(grep -m1 error <<<"$msg")"
  else fail "$bad with task=regression: exit $rc, message: $msg"; fi
done
finish

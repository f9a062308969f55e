# shellcheck shell=bash
# train_common.sh: sourced by the test_train_*.sh scripts (not a test
# itself). Writes a tiny Fashion-MNIST ImageFolder (classes 5-9, 20
# training and 20 validation images per class) into a temporary folder and
# defines gtrain: graft train with the demo's config shrunk to a few seconds
# (widths 8,16,16, batch 16, quiet); the array graft_train holds the same
# command for a background job whose $! must be graft's own process id. One compute thread: results do not
# depend on the thread count, and one thread stays fast when ctest runs
# tests side by side on a small machine. Skipped (77) without Debian's
# dataset-fashion-mnist.
set -uo pipefail
src="${GRAFT_SOURCE_DIR:?}"
exe="${GRAFT_EXE:?}"
py=/usr/bin/python3
[ -d /usr/share/datasets/fashion-mnist ] || { echo "dataset-fashion-mnist not installed: skipped"; exit 77; }
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

d="$(mktemp -d)"
bg_pid=""
cleanup() {
  if [ -n "$bg_pid" ]; then kill -9 "$bg_pid" 2>/dev/null; fi
  rm -rf "$d"
}
trap cleanup EXIT

"$py" "$src/tools/fmnist_imagefolder.py" "$d/fm" --classes 5-9 --train-per-class 20 --val-per-class 20 >/dev/null \
  || { echo "FAIL: cannot write the Fashion-MNIST ImageFolder"; exit 1; }

# shellcheck disable=SC2054 # widths=8,16,16 is one argument
graft_train=("$exe" train -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" out="$d/runs" batch=16 workers=2
  threads=1 widths=8,16,16 quiet=1)
gtrain() { "${graft_train[@]}" "$@"; }

fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
ok() { echo "ok: $*"; }
finish() {
  echo "$fails failed"
  [ "$fails" -eq 0 ]
}

# same_file WHAT A B: byte-identical, or a failure naming the first difference.
same_file() {
  local diff
  if diff="$(cmp -- "$2" "$3" 2>&1)"; then
    ok "$1: identical ($(stat -c %s -- "$2") bytes)"
  else
    fail "$1: $diff"
  fi
}

now_ms() { date +%s%3N; }

# wait_for FILE SECONDS PID: until FILE exists, the process PID ends or
# the time is up; true when FILE exists.
wait_for() {
  local end=$(($(now_ms) + $2 * 1000))
  while [ ! -e "$1" ]; do
    kill -0 "$3" 2>/dev/null || break
    [ "$(now_ms)" -lt "$end" ] || break
    sleep 0.01
  done
  [ -e "$1" ]
}

# ckpt_progress FILE: "epoch batch step" of a checkpoint's train.progress
# (epochs done, batches done in the next epoch, optimizer steps).
ckpt_progress() {
  "$py" - "$1" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", data[:8])
info = json.loads(data[8:8 + n])["train.progress"]
a, b = info["data_offsets"]
v = struct.unpack("<%dq" % ((b - a) // 8), data[8 + n + a:8 + n + b])
print(v[0], v[1], v[2])
PY
}

# epochs_of FILE: the epochs a metrics.jsonl holds, in order, space-separated.
epochs_of() {
  "$py" -c 'import json, sys; print(" ".join(str(json.loads(l)["epoch"]) for l in open(sys.argv[1])))' "$1" 2>&1
}

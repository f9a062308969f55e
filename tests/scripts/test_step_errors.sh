#!/usr/bin/env bash
# graft step's errors: each bad invocation must exit non-zero with a message
# that names the problem (and the file or key), never crash.
set -uo pipefail
src="${GRAFT_SOURCE_DIR:?}"
exe="${GRAFT_EXE:?}"
py=/usr/bin/python3
"$py" -c "import numpy" 2>/dev/null || { echo "numpy not installed: skipped"; exit 77; }
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT

"$py" - "$d" "$src/tools" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import numpy as np, st
d = sys.argv[1]
rng = np.random.default_rng(0)
img = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
st.save(d + "/good.safetensors", {"images": img, "labels": np.array([0, 2], dtype=np.int64)})
st.save(d + "/labels3.safetensors", {"images": img, "labels": np.array([0, 1, 2], dtype=np.int64)})
st.save(d + "/badlabel.safetensors", {"images": img, "labels": np.array([0, 7], dtype=np.int64)})
st.save(d + "/img3d.safetensors", {"images": img[0], "labels": np.array([0], dtype=np.int64)})
st.save(d + "/small.safetensors", {"images": img[:, :, :16, :16].copy(), "labels": np.array([0, 1], dtype=np.int64)})
PY
"$exe" step model=resnet20 num_classes=3 steps=0 input="$d/good.safetensors" out="$d/w.safetensors" save="$d/r20.safetensors" 2>/dev/null \
  || { echo "FAIL: a valid step failed"; exit 1; }

fails=0
expect() { # expect "what" "message fragment" args...
  local what="$1" frag="$2"
  shift 2
  local out rc
  out="$("$exe" step "$@" 2>&1)"
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -gt 2 ] || ! grep -qF -- "$frag" <<<"$out"; then
    echo "FAIL: $what: exit $rc, expected a message containing '$frag', got:"
    echo "$out" | tail -3
    fails=$((fails + 1))
  else
    echo "ok: $what: $(grep -F -- "$frag" <<<"$out" | head -1)"
  fi
}
o="out=$d/o.safetensors"
expect "unknown model" "unknown model 'resnet19'" model=resnet19 input="$d/good.safetensors" "$o"
expect "unknown key" "did you mean 'lr'" model=resnet20 num_classes=3 lr_=0.1 input="$d/good.safetensors" "$o"
expect "bad value" "momentum=fast: expected a finite number" model=resnet20 num_classes=3 momentum=fast input="$d/good.safetensors" "$o"
expect "missing input file" "$d/none.safetensors" model=resnet20 num_classes=3 input="$d/none.safetensors" "$o"
expect "label count" "one label per image" model=resnet20 num_classes=3 input="$d/labels3.safetensors" "$o"
expect "label range" "label of image 1 is outside [0, 3)" model=resnet20 num_classes=3 input="$d/badlabel.safetensors" "$o"
expect "image rank" "'images' must be (N, C, H, W)" model=resnet20 num_classes=3 input="$d/img3d.safetensors" "$o"
expect "image too small" "needs inputs of at least 32x32" model=resnet18 num_classes=3 input="$d/small.safetensors" "$o"
expect "weights of another model, strict" "strict loading of $d/r20.safetensors" model=resnet18 num_classes=3 strict=1 weights="$d/r20.safetensors" input="$d/good.safetensors" "$o"
expect "weights of another head, strict" "shape differs" model=resnet20 num_classes=5 strict=1 weights="$d/r20.safetensors" input="$d/good.safetensors" "$o"
printf 'garbage' >"$d/trunc.safetensors"
expect "truncated weights" "$d/trunc.safetensors" model=resnet20 num_classes=3 weights="$d/trunc.safetensors" input="$d/good.safetensors" "$o"
echo "$fails failed"
[ "$fails" -eq 0 ]

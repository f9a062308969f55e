#!/usr/bin/env bash
# test_safetensors_python.sh: graft's safetensors writer against Python's
# safetensors package. Python writes every dtype (with a scalar, a
# zero-size tensor and metadata), `graft weights IN --write OUT` re-writes
# it through graft's own reader and writer, and the package loads graft's
# file and compares dtypes, shapes, values and metadata exactly
# (tools/gen_safetensors_fixture.py --check). Exits 77 (skipped) where
# python3 has no safetensors or numpy (pip install safetensors numpy).
set -euo pipefail

src="${GRAFT_SOURCE_DIR:?GRAFT_SOURCE_DIR is not set}"
exe="${GRAFT_EXE:?GRAFT_EXE is not set}"
gen="$src/tools/gen_safetensors_fixture.py"

if ! python3 -c 'import safetensors, numpy' 2>/dev/null; then
  echo "skipped: python3 cannot import safetensors and numpy"
  exit 77
fi

work="$(mktemp -d "${GRAFT_BINARY_DIR:-${TMPDIR:-/tmp}}/st_python.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 "$gen" "$work/python"
"$exe" weights "$work/python/python_all_dtypes.safetensors" --write "$work/graft.safetensors"
"$exe" weights "$work/graft.safetensors"
python3 "$gen" --check "$work/graft.safetensors"

"$exe" weights "$work/python/python_metadata_only.safetensors" --write "$work/graft_meta.safetensors"
python3 - "$work/graft_meta.safetensors" <<'EOF'
import sys
import safetensors.numpy
from safetensors import safe_open

path = sys.argv[1]
assert safetensors.numpy.load_file(path) == {}, "expected no tensors"
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()
assert meta == {"format": "pt", "source": "tools/gen_safetensors_fixture.py"}, meta
print(f"{path}: no tensors and the metadata match")
EOF

# The committed fixture still holds the generator's table.
python3 "$gen" --check "$src/tests/fixtures/safetensors/python_all_dtypes.safetensors"

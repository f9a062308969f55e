#!/usr/bin/env bash
# bench_data.sh: the data pipeline benchmark (tools/bench_data.py) against
# a built graft: decode + augment per thread next to Pillow + torchvision on
# the same 1,000 generated PNGs, and the cache=ram loader on two workers.
# GRAFT_EXE names the executable (default: $GRAFT_BUILD_DIR/graft, with
# GRAFT_BUILD_DIR defaulting to build). Extra arguments go to the script
# (--n, --size, --rounds, --dir). Needs Debian's python3-torchvision.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${GRAFT_EXE:-$root/${GRAFT_BUILD_DIR:-build}/graft}"
if [ ! -x "$exe" ]; then
  echo "bench_data: $exe not found; build graft first or set GRAFT_EXE" >&2
  exit 2
fi
exec /usr/bin/python3 "$root/tools/bench_data.py" "$exe" "$@"

#!/usr/bin/env bash
# The whole test suite from a fresh clone: set-up, build (CPU and, where
# nvcc is present, CUDA code), then every ctest test. Extra arguments go to
# ctest (for example -L unit).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
build="${GRAFT_BUILD_DIR:-build}"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -j "$(nproc)" "$@"

#!/usr/bin/env bash
# CPU training throughput, graft beside PyTorch in the same run on the same
# machine, and their ratio. Usage (defaults shown):
#   tools/bench_cpu.sh [model=resnet18] [batch=32] [size=64] [threads=2] [steps=5]
# Needs a built graft (build/graft, or GRAFT_EXE) and Debian's python3-torch.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${GRAFT_EXE:-$root/build/graft}"
args=(model=resnet18 batch=32 size=64 threads=2 steps=5 "$@")
g="$("$exe" bench "${args[@]}" device=cpu)"
echo "$g" | head -n -1
t="$(/usr/bin/python3 "$root/tools/bench_torch.py" "${args[@]}")"
echo "$t" | head -n -1
gi="$(echo "$g" | sed -n 's/^images_per_sec=//p')"
ti="$(echo "$t" | sed -n 's/^images_per_sec=//p')"
awk -v g="$gi" -v t="$ti" 'BEGIN { printf "ratio graft/torch: %.2f\n", g / t }'

#!/usr/bin/env bash
# graft's main job on a fresh machine: transfer learning on Fashion-MNIST.
# Installs what it needs, builds, writes classes 5-9 (sandal, shirt,
# sneaker, bag, boot) as a small ImageFolder dataset (50 training and 200
# validation images per class), fine-tunes the shipped ResNet-20 that graft
# pre-trained on classes 0-4 (weights/resnet20-fmnist04.safetensors), then
# trains the same recipe from scratch, and prints both results.
#
#   bash tools/demo.sh            # GRAFT_DEMO_DIR (default build/demo) holds data and runs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tools/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target graft
demo="${GRAFT_DEMO_DIR:-build/demo}"
data="$demo/fmnist-5-9"
[ -d "$data/train" ] || python3 tools/fmnist_imagefolder.py "$data" --classes 5-9 --train-per-class 50 --val-per-class 200
rm -rf "$demo/runs"
common=(-c configs/fmnist-resnet20.ini -c configs/fmnist-finetune.ini data="$data" out="$demo/runs")
echo "== fine-tuning the shipped pre-trained ResNet-20 =="
build/graft train "${common[@]}" name=finetuned weights=weights/resnet20-fmnist04.safetensors
echo "== the same recipe from scratch =="
build/graft train "${common[@]}" name=scratch
python3 tools/compare_runs.py "$demo/runs/finetuned" "$demo/runs/scratch"

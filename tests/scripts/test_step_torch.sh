#!/usr/bin/env bash
# graft step against a fresh PyTorch run, full tensors: a ResNet-34 with
# PyTorch's own random initialization, an odd input size (45x37) and a class
# count no fixture uses (7), SGD with Nesterov momentum, 2 steps. Then
# graft's saved ResNet-50 state dict must load into torchvision with
# strict=True and give graft's eval-mode logits. Skipped without torch.
set -euo pipefail
src="${GRAFT_SOURCE_DIR:?}"
exe="${GRAFT_EXE:?}"
py=/usr/bin/python3
"$py" -c "import torch, torchvision" 2>/dev/null || { echo "torch not installed: skipped"; exit 77; }
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT

args="model=resnet34 num_classes=7 optimizer=sgd lr=0.02 momentum=0.9 nesterov=1 weight_decay=0.0001 steps=2"
"$py" "$src/tools/check_step.py" make "$d/r34" $args batch=3 size=45x37 seed=3
"$exe" step $args weights="$d/r34/weights.safetensors" input="$d/r34/input.safetensors" out="$d/r34/out.safetensors" strict=1
"$py" "$src/tools/check_step.py" compare "$d/r34/expected.safetensors" "$d/r34/out.safetensors"

args="model=resnet50 num_classes=6 optimizer=adamw lr=0.001 steps=1"
"$py" "$src/tools/check_step.py" make "$d/r50" $args batch=2 size=40x40 seed=4 margin=0
"$exe" step $args weights="$d/r50/weights.safetensors" input="$d/r50/input.safetensors" out="$d/r50/out.safetensors" save="$d/r50/saved.safetensors"
"$py" "$src/tools/check_step.py" strict "$d/r50/saved.safetensors" "$d/r50/input.safetensors" "$d/r50/out.safetensors" model=resnet50 num_classes=6
echo "step vs torch: ok"

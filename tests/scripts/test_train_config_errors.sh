#!/usr/bin/env bash
# Configuration errors of `graft train`: each must exit with status 2 and a
# message naming the file and line (or the command line) and the key, with
# the nearest valid key or value suggested where there is one, and leave
# nothing in out=. A data= folder that does not exist fails (status 1,
# naming it) without creating a run folder either.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"

printf '[data]\nbatch = 16\n\n[optimizer]\nlr = 0.1\nmomentun = 0.9\n' >"$d/unknown.ini"
printf '[optimizer]\nlr = fast\n' >"$d/badvalue.ini"
printf '[schedule]\nepochs = 0\n' >"$d/range.ini"
printf '[output]\nlog_every = 5\n' >"$d/nodata.ini"

# expect WHAT STATUS FRAGMENT ARGS...: graft train ARGS exits with STATUS,
# prints FRAGMENT, and out= stays empty.
expect() {
  local what="$1" want_rc="$2" frag="$3" out="$d/out-$RANDOM"
  shift 3
  local msg rc
  msg="$("$exe" train out="$out" "$@" 2>&1)"
  rc=$?
  local made
  made="$(find "$out" -mindepth 1 2>/dev/null | sed "s|$d/||" | tr '\n' ' ')"
  if [ "$rc" -ne "$want_rc" ] || ! grep -qF -- "$frag" <<<"$msg"; then
    fail "$what: exit status $rc (expected $want_rc), expected a message containing '$frag', got:"
    echo "$msg" | tail -3
  elif [ -n "$made" ]; then
    fail "$what: exit status $rc, but out= holds $made"
  else
    ok "$what: exit status $rc, nothing in out=: $(grep -F -- "$frag" <<<"$msg" | head -1 | sed "s|$d/||g")"
  fi
}

expect "unknown key in a config file" 2 "unknown.ini:6: unknown key 'momentun' in [optimizer] (did you mean 'momentum'?)" \
  -c "$d/unknown.ini" data="$d/fm"
expect "bad value in a config file" 2 "badvalue.ini:2: lr = fast: expected a number" -c "$d/badvalue.ini" data="$d/fm"
expect "value out of range in a config file" 2 "range.ini:2: epochs = 0: must be at least 1" -c "$d/range.ini" data="$d/fm"
expect "missing data=" 2 "required key 'data' is not set" -c "$d/nodata.ini"
expect "missing data=, no config file" 2 "required key 'data' is not set"
expect "unknown key on the command line" 2 "command line: unknown key 'epochz' (did you mean 'epochs'?)" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" epochz=3
expect "bad value on the command line" 2 "command line: batch = 1.5: expected an integer" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" batch=1.5
expect "unknown choice on the command line" 2 "command line: optimizer = adam: expected one of sgd|adamw (did you mean 'adamw'?)" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" optimizer=adam
expect "argument that is not key=value" 2 "command line: unexpected argument 'lr'" -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" lr
expect "data folder that does not exist" 1 "$d/nonexistent: dataset folder not found" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/nonexistent"
# A device that is not there: the build with the CUDA backend finds no GPU
# here, the build without it says it has none. Either way nothing is made.
if [ -z "$(command -v nvidia-smi)" ]; then
  expect "device=gpu without a GPU" 1 "CUDA" -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" device=gpu
fi
expect "precision=bf16 on the CPU" 1 "precision=bf16 needs device=gpu" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" device=cpu precision=bf16
expect "cuda_graph=1 on the CPU" 1 "cannot capture a step" \
  -c "$src/configs/fmnist-resnet20.ini" data="$d/fm" device=cpu cuda_graph=1
finish

#!/usr/bin/env bash
# Exact resume after SIGKILL: run A trains uninterrupted; runs B (same seed
# and config) are killed with SIGKILL a random, logged time after their
# first checkpoint exists (again until a kill lands while training is still
# going), then continued with `graft train resume=RUN` until they finish.
# Their last.safetensors and best.safetensors must be byte-identical to A's,
# and metrics.jsonl must hold each epoch once. The second trial also kills
# the resumed process once more.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"
epochs=6

t0=$(now_ms)
gtrain name=a epochs=$epochs || { echo "FAIL: the uninterrupted run failed"; exit 1; }
total_ms=$(($(now_ms) - t0))
echo "run A: $epochs epochs uninterrupted in $total_ms ms"
want_epochs="$(seq -s ' ' 1 $epochs)"

# start_and_kill LOG RANGE_MS CMD...: runs CMD (a program, so that $! is
# its process id) in the background, waits for
# the run's first checkpoint ($run/checkpoint.safetensors), sleeps a random
# time below RANGE_MS and sends SIGKILL. Sets killed_rc to CMD's status
# (137 when the kill landed).
start_and_kill() {
  local log=$1 range=$2
  shift 2
  "$@" 2>>"$log" &
  bg_pid=$!
  wait_for "$run/checkpoint.safetensors" 60 "$bg_pid" || echo "no checkpoint appeared in $run"
  local delay=$(((RANDOM * 32768 + RANDOM) % range))
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  kill -9 "$bg_pid" 2>/dev/null
  wait "$bg_pid"
  killed_rc=$?
  bg_pid=""
  echo "  SIGKILL ${delay} ms after checkpoint.safetensors existed: exit status $killed_rc," \
    "$( [ "$killed_rc" -eq 137 ] && echo "killed with epochs [$(epochs_of "$run/metrics.jsonl")] logged," \
      "the checkpoint at epochs done, batch, step $(ckpt_progress "$run/checkpoint.safetensors")" \
      || echo "it had already finished")"
}

for trial in 1 2; do
  range=$((total_ms * (epochs - 1) / epochs + 1))
  killed=0
  for attempt in 1 2 3 4 5 6; do
    name="b$trial-$attempt"
    run="$d/runs/$name"
    echo "trial $trial, run $name: kill within $range ms"
    start_and_kill "$d/$name.log" "$range" "${graft_train[@]}" name="$name" epochs=$epochs
    if [ "$killed_rc" -eq 137 ]; then
      killed=1
      break
    fi
    range=$((range / 2 + 1))
  done
  if [ "$killed" -eq 0 ]; then
    fail "trial $trial: no kill landed before the run finished in 6 attempts"
    continue
  fi
  if [ "$trial" -eq 2 ]; then
    echo "  resume, and kill the resumed run too"
    start_and_kill "$d/$name.log" $((total_ms / 3 + 1)) "$exe" train resume="$run"
  fi
  if ! "$exe" train resume="$run" 2>>"$d/$name.log"; then
    fail "trial $trial: resume=$run failed:"
    tail -5 "$d/$name.log"
    continue
  fi
  grep -h "resuming" "$d/$name.log" | sed 's/^/  /'
  same_file "trial $trial: last.safetensors of A and of the killed and resumed $name" "$d/runs/a/last.safetensors" "$run/last.safetensors"
  same_file "trial $trial: best.safetensors of A and of $name" "$d/runs/a/best.safetensors" "$run/best.safetensors"
  got="$(epochs_of "$run/metrics.jsonl")"
  if [ "$got" = "$want_epochs" ]; then
    ok "trial $trial: metrics.jsonl of $name holds epochs $got"
  else
    fail "trial $trial: metrics.jsonl of $name holds epochs [$got], expected [$want_epochs]"
  fi
  left="$(cd "$run" && ls -- *.tmp.* 2>/dev/null | tr '\n' ' ')"
  [ -z "$left" ] || echo "  temporary files left by the kill: $left"
done
finish

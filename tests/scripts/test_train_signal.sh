#!/usr/bin/env bash
# SIGTERM, SIGINT and SIGUSR1 in the middle of an epoch: the run finishes
# its step, writes checkpoint.safetensors at that step and exits with 75
# (GRAFT_EXIT_INTERRUPTED); `graft train resume=RUN` skips the batches the
# epoch had done and ends with last.safetensors and best.safetensors
# byte-identical to an uninterrupted run's.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"
epochs=3

gtrain name=a epochs=$epochs || { echo "FAIL: the uninterrupted run failed"; exit 1; }

for sig in TERM INT USR1; do
  name="sig$sig"
  run="$d/runs/$name"
  log="$d/$name.log"
  # Plain progress lines (stderr is a file), one per step: the signal goes
  # out once the second epoch has done two steps, so it lands mid-epoch
  # (on a loaded machine perhaps later; the checkpoint must hold the step
  # the log names either way).
  "${graft_train[@]}" name="$name" epochs=$epochs quiet=0 log_every=1 >/dev/null 2>"$log" &
  bg_pid=$!
  end=$(($(now_ms) + 60000))
  until grep -q "^epoch 2/$epochs step 2/" "$log"; do
    if ! kill -0 "$bg_pid" 2>/dev/null || [ "$(now_ms)" -ge "$end" ]; then break; fi
    sleep 0.005
  done
  kill -s "$sig" "$bg_pid" 2>/dev/null
  wait "$bg_pid"
  rc=$?
  bg_pid=""
  saved="$(grep -o "checkpoint saved at epoch [0-9]* step [0-9]*" "$log")"
  if [ "$rc" -ne 75 ]; then
    fail "SIG$sig: exit status $rc, expected 75; the log ends:"
    tail -3 "$log"
    continue
  fi
  progress="$(ckpt_progress "$run/checkpoint.safetensors")"
  read -r ck_epoch ck_batch ck_step <<<"$progress"
  if [ -z "$saved" ] || [ "$saved" != "checkpoint saved at epoch $((ck_epoch + 1)) step $ck_batch" ] \
    || [ "$ck_batch" -lt 1 ]; then
    fail "SIG$sig: the log says '$saved'; the checkpoint holds epochs done, batch, step = $progress;" \
      "expected a checkpoint at the step the log names"
    continue
  fi
  ok "SIG$sig: exit status 75, $saved (checkpoint: $ck_epoch epochs done, batch $ck_batch, optimizer step $ck_step)"
  if ! "$exe" train resume="$run" quiet=1 2>>"$log"; then
    fail "SIG$sig: resume=$run failed:"
    tail -3 "$log"
    continue
  fi
  grep -o "resuming .*" "$log" | sed "s|$d/||; s/^/  /"
  same_file "SIG$sig: last.safetensors, uninterrupted and resumed" "$d/runs/a/last.safetensors" "$run/last.safetensors"
  same_file "SIG$sig: best.safetensors, uninterrupted and resumed" "$d/runs/a/best.safetensors" "$run/best.safetensors"
  got="$(epochs_of "$run/metrics.jsonl")"
  [ "$got" = "1 2 3" ] || fail "SIG$sig: metrics.jsonl holds epochs [$got], expected [1 2 3]"
done
finish

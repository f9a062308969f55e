#!/usr/bin/env bash
# nan_policy: one good epoch, then the run is resumed with epochs=2 and
# lr=1e30, so the second epoch's loss becomes NaN or Inf. With
# nan_policy=stop (the default) the run exits non-zero with a message
# naming the epoch and step, and checkpoint.safetensors (and
# last.safetensors) stay byte-identical to those of the good epoch. With
# nan_policy=skip the run finishes (exit 0) and reports the skipped steps.
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"

for policy in stop skip; do
  run="$d/runs/$policy"
  gtrain name="$policy" epochs=1 2>/dev/null || { echo "FAIL: the good first epoch failed"; exit 1; }
  cp "$run/checkpoint.safetensors" "$d/$policy.checkpoint"
  cp "$run/last.safetensors" "$d/$policy.last"
  "$exe" train resume="$run" epochs=2 lr=1e30 nan_policy="$policy" >/dev/null 2>"$d/$policy.log"
  rc=$?
  if [ "$policy" = stop ]; then
    msg="$(grep -m1 "loss is .* at epoch" "$d/$policy.log")"
    if [ "$rc" -eq 0 ]; then
      fail "nan_policy=stop: exit status 0 after a non-finite loss"
    elif ! grep -Eq "loss is -?(nan|inf) at epoch 2 step [0-9]+ " <<<"$msg"; then
      fail "nan_policy=stop: exit status $rc, but no message naming epoch 2 and the step; the log ends:"
      tail -3 "$d/$policy.log"
    else
      ok "nan_policy=stop: exit status $rc: ${msg#*error: }"
    fi
    same_file "nan_policy=stop: checkpoint.safetensors before and after" "$d/$policy.checkpoint" "$run/checkpoint.safetensors"
    same_file "nan_policy=stop: last.safetensors before and after" "$d/$policy.last" "$run/last.safetensors"
  else
    skipped="$(grep -c "step skipped" "$d/$policy.log")"
    if [ "$rc" -ne 0 ]; then
      fail "nan_policy=skip: exit status $rc; the log ends:"
      tail -3 "$d/$policy.log"
    elif [ "$skipped" -eq 0 ]; then
      fail "nan_policy=skip: finished, but reported no skipped step"
    else
      ok "nan_policy=skip: exit status 0, $skipped steps reported skipped; the last: $(grep "step skipped" "$d/$policy.log" | tail -1 | sed 's/.*warning: //')"
    fi
    progress="$(ckpt_progress "$run/checkpoint.safetensors")"
    read -r ck_epoch ck_batch _ <<<"$progress"
    if [ "$ck_epoch" -ne 2 ] || [ "$ck_batch" -ne 0 ]; then
      fail "nan_policy=skip: the final checkpoint holds epochs done, batch = $ck_epoch $ck_batch, expected 2 0"
    fi
  fi
done
finish

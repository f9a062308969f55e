#!/usr/bin/env bash
# A checkpoint write that fails half-way: after one good epoch the run is
# resumed with epochs=2 under a file-size limit (ulimit -f) above the size
# of last.safetensors but below that of checkpoint.safetensors, so the
# second epoch's checkpoint write hits the limit. Twice: once killed by
# SIGXFSZ (the default action), once with SIGXFSZ ignored so that write()
# fails with EFBIG and graft must report it. Either way
# checkpoint.safetensors must still be the first epoch's (cmp with a copy,
# `graft weights --check`), a leftover temporary file must not be taken for
# it, and resuming without the limit must finish with the same
# last.safetensors and checkpoint.safetensors as a run resumed without any
# failure, and a metrics.jsonl that logs each epoch once (the failed run
# had logged epoch 2 before its checkpoint write failed).
# shellcheck source=train_common.sh
. "$(dirname "$0")/train_common.sh"

if ! gtrain name=ref epochs=1 2>/dev/null || ! "$exe" train resume="$d/runs/ref" epochs=2 2>/dev/null; then
  echo "FAIL: the reference run (one epoch, then resumed to two) failed"
  exit 1
fi
last_bytes=$(stat -c %s "$d/runs/ref/last.safetensors")
ckpt_bytes=$(stat -c %s "$d/runs/ref/checkpoint.safetensors")
limit_kb=$(((last_bytes + ckpt_bytes) / 2 / 1024))
echo "last.safetensors $last_bytes bytes, checkpoint.safetensors $ckpt_bytes bytes: limit ulimit -f $limit_kb (KiB)"

for how in sigxfsz efbig; do
  run="$d/runs/$how"
  log="$d/$how.log"
  gtrain name="$how" epochs=1 2>/dev/null || { echo "FAIL: the good first epoch failed"; exit 1; }
  cp "$run/checkpoint.safetensors" "$d/$how.checkpoint"
  if [ "$how" = sigxfsz ]; then
    (ulimit -f "$limit_kb" && exec "$exe" train resume="$run" epochs=2) 2>"$log"
  else
    (trap '' XFSZ && ulimit -f "$limit_kb" && exec "$exe" train resume="$run" epochs=2) 2>"$log"
  fi
  rc=$?
  if [ "$how" = sigxfsz ]; then
    if [ "$rc" -eq $((128 + $(kill -l XFSZ))) ]; then
      ok "$how: killed by SIGXFSZ (exit status $rc)"
    else
      fail "$how: exit status $rc, expected death by SIGXFSZ; the log ends: $(tail -2 "$log")"
    fi
  else
    msg="$(grep -m1 "cannot write checkpoint" "$log")"
    if [ "$rc" -ne 1 ] || [ -z "$msg" ]; then
      fail "$how: exit status $rc, expected 1 and 'cannot write checkpoint'; the log ends: $(tail -3 "$log")"
    else
      ok "$how: exit status 1; $(grep -m1 "failed (temporary file" "$log" | sed "s|$d/||g; s/.*error: //")"
      ok "$how: ${msg#*error: }"
    fi
  fi
  same_file "$how: checkpoint.safetensors of the first epoch, after the failed write" "$d/$how.checkpoint" "$run/checkpoint.safetensors"
  if out="$("$exe" weights "$run/checkpoint.safetensors" --check 2>&1)"; then
    ok "$how: graft weights checkpoint.safetensors --check: ${out#"$d/"}"
  else
    fail "$how: graft weights checkpoint.safetensors --check: $out"
  fi
  echo "  left in the run folder: $(cd "$run" && ls | tr '\n' ' ')"
  for tmp in "$run"/*.tmp.*; do
    [ -e "$tmp" ] || continue
    tmp_bytes=$(stat -c %s "$tmp")
    if [ "$tmp_bytes" -gt $((limit_kb * 1024)) ]; then
      fail "$how: $(basename "$tmp") has $tmp_bytes bytes, over the limit"
    else
      echo "  $(basename "$tmp"): a partial write of $tmp_bytes bytes"
    fi
  done
  if ! "$exe" train resume="$run" epochs=2 2>>"$log"; then
    fail "$how: resuming without the limit failed; the log ends: $(tail -2 "$log")"
    continue
  fi
  grep -o "resuming .*" "$log" | tail -1 | sed "s|$d/||; s/^/  /"
  echo "  after the resume, the run folder holds: $(cd "$run" && ls | tr '\n' ' ')"
  if compgen -G "$run/*.tmp.*" >/dev/null; then
    fail "$how: the resume left temporary files: $(cd "$run" && ls ./*.tmp.* | tr '\n' ' ')"
  else
    ok "$how: no temporary file is left after the resume"
  fi
  same_file "$how: last.safetensors after the failure and resume, and of the reference" "$d/runs/ref/last.safetensors" "$run/last.safetensors"
  same_file "$how: checkpoint.safetensors after the failure and resume, and of the reference" "$d/runs/ref/checkpoint.safetensors" "$run/checkpoint.safetensors"
  got="$(epochs_of "$run/metrics.jsonl")"
  if [ "$got" = "1 2" ]; then
    ok "$how: metrics.jsonl holds epochs $got"
  else
    fail "$how: metrics.jsonl holds epochs [$got], expected [1 2]"
  fi
done
finish

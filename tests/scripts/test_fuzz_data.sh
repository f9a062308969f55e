#!/usr/bin/env bash
# test_fuzz_data.sh: builds the data pipeline's libFuzzer targets
# (tests/fuzz/fuzz_image.c, fuzz_yolo_labels.c, fuzz_classnames.c) with
# clang and AddressSanitizer + UndefinedBehaviorSanitizer into
# $GRAFT_BINARY_DIR/fuzz_data, and runs each for FUZZ_SECONDS (default 10) from
# a seed corpus (the image fixtures; a few label and names files).
# Any crash, leak, sanitizer report or timeout fails the test and leaves the
# input that caused it in $GRAFT_BINARY_DIR/fuzz_data. Exit 77 (skipped) when
# clang or its fuzzer runtime is missing.
set -euo pipefail

src="${GRAFT_SOURCE_DIR:?GRAFT_SOURCE_DIR not set}"
out="${GRAFT_BINARY_DIR:?GRAFT_BINARY_DIR not set}/fuzz_data"
seconds="${FUZZ_SECONDS:-10}"
cc="$(command -v clang || true)"
if [ -z "$cc" ]; then
  echo "clang not found: skipped"
  exit 77
fi
mkdir -p "$out"
flags=(-g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       -I"$src/host" -Wall -Wextra -Werror)
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; return (int)n * 0; }' \
     | "$cc" "${flags[@]}" -x c - -o "$out/probe" 2> "$out/probe.log"; then
  echo "clang cannot build libFuzzer targets (libclang-rt-*-dev missing?): skipped"
  cat "$out/probe.log"
  exit 77
fi

core=("$src/host/core/log.c" "$src/host/core/status.c" "$src/host/data/datautil.c")
image=("$src/host/data/image.c" "$src/host/data/image_png.c" "$src/host/data/image_jpeg.c")
"$cc" "${flags[@]}" -D_POSIX_C_SOURCE=200809L "$src/tests/fuzz/fuzz_image.c" "${image[@]}" "${core[@]}" \
  $(pkg-config --cflags --libs libpng libjpeg) -o "$out/fuzz_image"
"$cc" "${flags[@]}" -D_POSIX_C_SOURCE=200809L "$src/tests/fuzz/fuzz_yolo_labels.c" "$src/host/data/labels.c" \
  "${core[@]}" -lm -o "$out/fuzz_yolo_labels"
"$cc" "${flags[@]}" -D_POSIX_C_SOURCE=200809L "$src/tests/fuzz/fuzz_classnames.c" "$src/host/data/labels.c" \
  "${core[@]}" -lm -o "$out/fuzz_classnames"

# Seeds go into a fresh corpus each run; libFuzzer adds what it finds there.
corpus="$out/corpus"
rm -rf "$corpus"
mkdir -p "$corpus/image" "$corpus/labels" "$corpus/names"
cp "$src"/tests/fixtures/images/* "$corpus/image/"
printf '0 0.5 0.5 0.2 0.2\n1 0.1 0.9 0.05 0.1\r\n' > "$corpus/labels/a.txt"
printf '\n  79\t1e-1 .5 1.0 0.000001  \n' > "$corpus/labels/b.txt"
printf '3 0.5 0.5 0.1\n' > "$corpus/labels/c.txt"
printf 'person\nbicycle\ncar\n' > "$corpus/names/a.names"
printf '\xef\xbb\xbf cat \r\ndog\n\n' > "$corpus/names/b.names"

fail=0
for t in image:fuzz_image labels:fuzz_yolo_labels names:fuzz_classnames; do
  dir="${t%%:*}"
  bin="${t#*:}"
  echo "== $bin: ${seconds}s"
  if (cd "$out" && "./$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 "$corpus/$dir" > "$out/$bin.log" 2>&1); then
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$out/$bin.log" || true
  else
    echo "FAIL: $bin found a problem; its log is $out/$bin.log:"
    tail -40 "$out/$bin.log"
    fail=1
  fi
done
exit $fail

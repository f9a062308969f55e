#!/usr/bin/env bash
# test_fuzz_safetensors.sh: builds tests/fuzz/fuzz_safetensors.c with
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, seeds a corpus
# with the committed fixtures and a few hand-made files, and fuzzes the
# safetensors reader (and, for inputs that parse, the writer) for
# GRAFT_FUZZ_SECONDS seconds (default 20). Any crash, leak, sanitizer
# report or broken invariant fails the test and leaves the input under
# $GRAFT_BINARY_DIR/fuzz_safetensors/. Exits 77 (skipped) where clang or
# its libFuzzer runtime (libclang-rt-14-dev on Debian) is missing.
set -euo pipefail

src="${GRAFT_SOURCE_DIR:?GRAFT_SOURCE_DIR is not set}"
bin="${GRAFT_BINARY_DIR:?GRAFT_BINARY_DIR is not set}"
seconds="${GRAFT_FUZZ_SECONDS:-20}"
work="$bin/fuzz_safetensors"
exe="$work/fuzz_safetensors"

if ! command -v clang >/dev/null; then
  echo "skipped: no clang"
  exit 77
fi
mkdir -p "$work"
probe="$work/probe.c"
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe"
if ! clang -fsanitize=fuzzer "$probe" -o "$work/probe" 2>/dev/null; then
  echo "skipped: clang has no libFuzzer runtime"
  exit 77
fi

clang -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$src/host" -I"$src" \
  "$src/tests/fuzz/fuzz_safetensors.c" \
  "$src/host/io/safetensors.c" "$src/host/io/fileio.c" \
  "$src/host/core/tensor.c" "$src/host/core/log.c" "$src/host/core/status.c" \
  $(pkg-config --cflags --libs libcjson 2>/dev/null || echo -lcjson) -lm -o "$exe"

# Seeds: the fixtures, plus small files that reach the odd corners.
seeds="$work/seeds"
rm -rf "$seeds"
mkdir -p "$seeds" "$work/corpus"
cp "$src"/tests/fixtures/safetensors/*.safetensors "$seeds/"
seed() { # seed NAME HEADER DATA_BYTES
  local name="$1" header="$2" nbytes="$3"
  python3 -c 'import struct,sys; h=sys.argv[1].encode(); sys.stdout.buffer.write(struct.pack("<Q",len(h))+h+bytes(range(int(sys.argv[2]))))' \
    "$header" "$nbytes" >"$seeds/$name" 2>/dev/null || true
}
seed empty '{}' 0
seed meta '{"__metadata__":{"a":"b","c\"\\\u00e9":"\n"}}' 0
seed escaped '{"a\"\\\u0001\u00e9\ud83d\ude00":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}' 2
seed two '{"b":{"dtype":"BF16","shape":[1,1],"data_offsets":[4,6]},"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]},"z":{"dtype":"F64","shape":[0,3],"data_offsets":[6,6]}}' 6

dict="$work/safetensors.dict"
cat >"$dict" <<'EOF'
"\"dtype\""
"\"shape\""
"\"data_offsets\""
"\"__metadata__\""
"\"F32\""
"\"F16\""
"\"BF16\""
"\"F64\""
"\"I64\""
"\"I32\""
"\"I16\""
"\"I8\""
"\"U8\""
"\"BOOL\""
"\\u0000"
"\\ud800"
"9007199254740992"
"18446744073709551615"
"null"
EOF

tmp="$work"
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp=/dev/shm
echo "fuzzing the safetensors reader for ${seconds}s"
set +e
TMPDIR="$tmp" "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -dict="$dict" -artifact_prefix="$work/" -print_final_stats=1 \
  "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1
status=$?
set -e
tail -n 30 "$work/fuzz.log"
if [ "$status" -ne 0 ]; then
  echo "the fuzzer found a problem (exit $status); the input is under $work:"
  ls "$work" | grep -E '^(crash|leak|timeout|oom)-' || true
  exit 1
fi
echo "no crash, leak or sanitizer report"

#!/usr/bin/env bash
# tools/gpu-check's CPU-side parts, so that the script works the first time
# it meets a GPU: argument handling, the quick exit without a device, the
# report helper (JSON, ratios, exit status) on made-up figures, and a dry
# run of every step against a stand-in GPU (fake nvidia-smi and
# compute-sanitizer, a hand-written ctest folder of GPU tests, the real
# graft), which must finish with a valid bench.json.
set -uo pipefail
src="${GRAFT_SOURCE_DIR:?}"
exe="${GRAFT_EXE:?}"
check="$src/tools/gpu-check"
helper="$src/tools/gpu_check_json.py"
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# expect_exit CODE WHAT CMD...
expect_exit() {
  local want="$1" what="$2" rc
  shift 2
  "$@" >"$d/out" 2>&1
  rc=$?
  if [ "$rc" = "$want" ]; then ok "$what: exit $rc"; else fail "$what: exit $rc, expected $want"; sed 's/^/  /' "$d/out"; fi
}

# ---- usage ----------------------------------------------------------------
expect_exit 2 "no argument" "$check"
grep -q "usage: tools/gpu-check OUTDIR" "$d/out" || fail "no argument: no usage message"
expect_exit 2 "two arguments" "$check" "$d/a" "$d/b"
expect_exit 2 "unknown option" "$check" --fast
expect_exit 0 "--help" "$check" --help
grep -q "GPU_CHECK_SKIP_BUILD" "$d/out" || fail "--help does not describe the environment"
expect_exit 2 "bad GPU_CHECK_BENCH_STEPS" env GPU_CHECK_BENCH_STEPS=ten "$check" "$d/a"
expect_exit 2 "bad GPU_CHECK_TIMEOUT_SCALE" env GPU_CHECK_TIMEOUT_SCALE=-1 "$check" "$d/a"
[ -e "$d/a" ] && fail "bad usage created OUTDIR"

# ---- no device: exit 3 quickly with a bench.json that says so --------------
mkdir "$d/nogpu"
printf '#!/bin/sh\necho "No devices were found"\nexit 6\n' >"$d/nogpu/nvidia-smi"
chmod +x "$d/nogpu/nvidia-smi"
t0=$SECONDS
expect_exit 3 "no device" env PATH="$d/nogpu:$PATH" "$check" "$d/out-nogpu/sub"
[ $((SECONDS - t0)) -le 5 ] || fail "no device: took $((SECONDS - t0)) s"
python3 - "$d/out-nogpu/sub" <<'PY' || fail "no device: bench.json"
import json, sys
r = json.load(open(sys.argv[1] + "/bench.json"))
assert r["result"] == "no device" and r["device"] is None, r
assert "No devices were found" in open(sys.argv[1] + "/device.txt").read()
assert r["graft"] == {"status": "not run", "images_per_sec": None}, r["graft"]
assert r["ratio_vs_eager"] is None
assert "no device" in open(sys.argv[1] + "/summary.txt").read()
print("ok: no device: bench.json says", r["problems"][0])
PY

mkdir "$d/hang"
printf '#!/bin/sh\nsleep 60\n' >"$d/hang/nvidia-smi"
chmod +x "$d/hang/nvidia-smi"
t0=$SECONDS
expect_exit 3 "hanging nvidia-smi" env PATH="$d/hang:$PATH" GPU_CHECK_TIMEOUT_SCALE=0.1 "$check" "$d/out-hang"
[ $((SECONDS - t0)) -le 8 ] || fail "hanging nvidia-smi: took $((SECONDS - t0)) s"
grep -q '"nvidia-smi lists no GPU (exit status 124)"' "$d/out-hang/bench.json" || fail "hanging nvidia-smi: not cut off"

# ---- the helper on made-up figures -----------------------------------------
state() { # state FILE [extra key=value...]
  local f="$1"
  shift
  printf '%s\n' device.name="Fake H200, 143771 MiB, 580.0" build.status=ok build.seconds=61 \
    gpu_tests.status=ok gpu_tests.passed=3 gpu_tests.failed=0 gpu_tests.skipped=0 \
    gpu_tests_sync.status=ok gpu_tests_sync.passed=3 gpu_tests_sync.failed=0 gpu_tests_sync.skipped=0 \
    step.status=ok sanitizer.runs.test_gpu_ops.status=clean sanitizer.runs.test_gpu_ops.errors=0 \
    sanitizer.runs.step.status=clean sanitizer.runs.step.errors=0 \
    graft.status=ok graft.images_per_sec=3900.00 torch_eager_bf16.status=ok \
    torch_eager_bf16.images_per_sec=3000.00 torch_eager_bf16.torch=2.11.0 \
    torch_compile_bf16.status=ok torch_compile_bf16.images_per_sec=3250 \
    bench.model=resnet50 bench.batch=128 bench.size=224 bench.precision=bf16 bench.steps=30 \
    elapsed_s=301 "$@" >"$f"
}
mkdir "$d/r1" "$d/r2" "$d/r3" "$d/r4"
state "$d/s1"
expect_exit 0 "report, clean" python3 "$helper" report "$d/s1" "$d/r1"
state "$d/s2" gpu_tests_sync.failed=1 gpu_tests_sync.status=failed torch_eager_bf16.images_per_sec=nan
expect_exit 1 "report, a failed test" python3 "$helper" report "$d/s2" "$d/r2"
state "$d/s3" sanitizer.runs.step.status=errors sanitizer.runs.step.errors=2 graft.status=unsupported graft.images_per_sec=
expect_exit 1 "report, sanitizer errors" python3 "$helper" report "$d/s3" "$d/r3"
state "$d/s4" gpu_tests.passed=2 gpu_tests.skipped=1
expect_exit 1 "report, a GPU test skipped on a GPU" python3 "$helper" report "$d/s4" "$d/r4"
python3 - "$d" <<'PY' || fail "report contents"
import json, sys
d = sys.argv[1]
r1, r2, r3 = (json.load(open("%s/r%d/bench.json" % (d, i))) for i in (1, 2, 3))
assert r1["result"] == "clean" and r1["device"].startswith("Fake H200") and r1["problems"] == [], r1
assert r1["ratio_vs_eager"] == 1.3 and r1["ratio_vs_compile"] == 1.2, (r1["ratio_vs_eager"], r1["ratio_vs_compile"])
assert r1["graft"] == {"status": "ok", "images_per_sec": 3900}, r1["graft"]
assert r1["gpu_tests"] == {"status": "ok", "passed": 3, "failed": 0, "skipped": 0}, r1["gpu_tests"]
assert r1["sanitizer"]["status"] == "clean" and r1["torch_eager_bf16"]["torch"] == "2.11.0"
assert r1["bench"]["batch"] == 128 and r1["elapsed_s"] == 301
summary = open(d + "/r1/summary.txt").read()
assert "graft / torch eager" in summary and "1.30" in summary and "3900.0 images/s" in summary, summary
assert r2["result"] == "not clean" and r2["gpu_tests_sync"]["failed"] == 1
assert r2["problems"] == ["gpu tests with GRAFT_CUDA_SYNC=1: failed, 3 passed, 1 failed, 0 skipped"], r2["problems"]
assert r2["torch_eager_bf16"]["images_per_sec"] is None and r2["ratio_vs_eager"] is None
assert r3["result"] == "not clean" and r3["sanitizer"]["status"] == "errors"
assert r3["graft"]["images_per_sec"] is None and r3["ratio_vs_compile"] is None
print("ok: report: ratios %.2f and %.2f, statuses and nulls as expected"
      % (r1["ratio_vs_eager"], r1["ratio_vs_compile"]))
PY
expect_exit 2 "helper, bad usage" python3 "$helper" report "$d/s1"

# ---- a dry run against a stand-in GPU ----------------------------------------
# The stand-in ctest folder holds two "GPU tests": one needs the environment
# ctest gives it, one fails when FAKE_FAIL is set. The stand-in sanitizer runs
# the command after its options and reports errors when FAKE_FAIL is set.
mkdir -p "$d/gpu" "$d/build"
cat >"$d/gpu/nvidia-smi" <<'EOF'
#!/bin/sh
case "$*" in
  *query-gpu*) echo "Fake GPU, 1024 MiB, 0.0" ;;
  -L) echo "GPU 0: Fake GPU (UUID: GPU-0)" ;;
  *) echo "fake nvidia-smi" ;;
esac
EOF
cat >"$d/gpu/compute-sanitizer" <<'EOF'
#!/bin/sh
[ "$1" = --version ] && { echo "fake compute-sanitizer"; exit 0; }
while [ "${1#--}" != "$1" ]; do shift 2; done
"$@"
rc=$?
if [ -n "${FAKE_FAIL:-}" ]; then echo "========= ERROR SUMMARY: 2 errors"; exit 99; fi
echo "========= ERROR SUMMARY: 0 errors"
exit $rc
EOF
chmod +x "$d/gpu/nvidia-smi" "$d/gpu/compute-sanitizer"
cat >"$d/build/CTestTestfile.cmake" <<EOF
add_test(test_gpu_env "/bin/sh" "-c" "test \"\$FAKE_ENV\" = 'a b' && test -f CTestTestfile.cmake")
set_tests_properties(test_gpu_env PROPERTIES LABELS "gpu" SKIP_RETURN_CODE "77" ENVIRONMENT "FAKE_ENV=a b" WORKING_DIRECTORY "$d/build")
add_test(test_gpu_fails "/bin/sh" "-c" "test -z \"\$FAKE_FAIL\"")
set_tests_properties(test_gpu_fails PROPERTIES LABELS "gpu" SKIP_RETURN_CODE "77")
EOF
ln -s "$exe" "$d/build/graft"
dry() { # dry OUTDIR [VAR=VALUE...]
  local o="$1"
  shift
  env PATH="$d/gpu:$PATH" GPU_CHECK_SKIP_BUILD=1 GPU_CHECK_BUILD_DIR="$d/build" GPU_CHECK_TIMEOUT_SCALE=0.2 \
    GPU_CHECK_BENCH_STEPS=2 "$@" "$check" "$o" >"$o.stdout" 2>&1
  echo $?
}
t0=$SECONDS
rc1="$(dry "$d/dry1")"
rc2="$(dry "$d/dry2" FAKE_FAIL=1)"
echo "dry runs: exit $rc1 and $rc2 in $((SECONDS - t0)) s"
python3 - "$d" "$rc1" "$rc2" <<'PY' || { fail "dry runs"; cat "$d/dry1.stdout" "$d/dry1/"*.log; }
import json, os, sys
d, rc1, rc2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r1, r2 = (json.load(open("%s/dry%d/bench.json" % (d, i))) for i in (1, 2))
files = sorted(os.listdir(d + "/dry1"))
assert len(files) <= 8 and {"bench.json", "summary.txt", "device.txt", "ctest-gpu.log"} <= set(files), files
assert r1["device"] == "Fake GPU, 1024 MiB, 0.0", r1["device"]
assert r1["build"]["status"] == "skipped"
for k in ("gpu_tests", "gpu_tests_sync"):
    assert r1[k] == {"status": "ok", "passed": 2, "failed": 0, "skipped": 0}, (k, r1[k])
    assert r2[k]["failed"] == 1 and r2[k]["status"] == "failed", (k, r2[k])
runs = r1["sanitizer"]["runs"]
assert runs["test_gpu_env"] == {"status": "clean", "errors": 0}, runs
assert runs["test_gpu_fails"] == {"status": "clean", "errors": 0}, runs
assert r2["sanitizer"]["runs"]["test_gpu_fails"] == {"status": "errors", "errors": 2}, r2["sanitizer"]
assert r2["sanitizer"]["status"] == "errors" and r2["result"] == "not clean" and rc2 == 1
# What graft and torch do without a GPU depends on the build and on torch:
# only their shape is fixed here.
assert r1["step"]["status"] in ("unsupported", "failed", "skipped: no input"), r1["step"]
assert r1["graft"]["status"] in ("unsupported", "failed") and r1["graft"]["images_per_sec"] is None
for k in ("torch_eager_bf16", "torch_compile_bf16"):
    assert r1[k]["status"] in ("unavailable", "failed") and r1[k]["images_per_sec"] is None, r1[k]
assert r1["ratio_vs_eager"] is None and isinstance(r1["elapsed_s"], int)
assert (r1["result"], rc1) in (("clean", 0), ("not clean", 1)), (r1["result"], rc1)
assert "gpu tests: ok: 2 passed" in open(d + "/dry1/summary.txt").read()
print("ok: dry runs: %s (step %s, graft %s, torch %s), then %s with a failing test"
      % (r1["result"], r1["step"]["status"], r1["graft"]["status"], r1["torch_eager_bf16"]["status"], r2["result"]))
PY

echo "$fails failed"
[ "$fails" -eq 0 ]

#!/usr/bin/env bash
# tools/gpu-check's CPU-side parts, so that the script works the first time
# it meets a GPU: argument handling, the quick exit without a device, the
# report helper (JSON, ratios, exit status) on made-up figures, and dry
# runs of every step against a stand-in GPU (fake nvidia-smi and
# compute-sanitizer, a hand-written ctest folder of GPU tests, the real
# graft, then a stand-in graft and PyTorch that report figures), which must
# finish with a valid bench.json.
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
assert r["graft_graph"] == {"status": "not run", "images_per_sec": None}, r["graft_graph"]
assert r["ratio_vs_eager"] is None and r["ratio_graph_vs_eager"] is None and r["ratio_graph_vs_compile"] is None
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
    graft.status=ok graft.images_per_sec=3900.00 graft_graph.status=ok graft_graph.images_per_sec=4550 \
    torch_eager_bf16.status=ok \
    torch_eager_bf16.images_per_sec=3000.00 torch_eager_bf16.torch=2.11.0 \
    torch_compile_bf16.status=ok torch_compile_bf16.images_per_sec=3250 \
    bench.model=resnet50 bench.batch=128 bench.size=224 bench.precision=bf16 bench.steps=30 \
    elapsed_s=301 "$@" >"$f"
}
mkdir "$d/r1" "$d/r2" "$d/r3" "$d/r4" "$d/r5" "$d/r6"
state "$d/s1"
expect_exit 0 "report, clean" python3 "$helper" report "$d/s1" "$d/r1"
state "$d/s2" gpu_tests_sync.failed=1 gpu_tests_sync.status=failed torch_eager_bf16.images_per_sec=nan
expect_exit 1 "report, a failed test" python3 "$helper" report "$d/s2" "$d/r2"
state "$d/s3" sanitizer.runs.step.status=errors sanitizer.runs.step.errors=2 \
  graft.status=unsupported graft.images_per_sec= graft_graph.status=timeout graft_graph.images_per_sec=
expect_exit 1 "report, sanitizer errors" python3 "$helper" report "$d/s3" "$d/r3"
state "$d/s4" gpu_tests.passed=2 gpu_tests.skipped=1
expect_exit 1 "report, a GPU test skipped on a GPU" python3 "$helper" report "$d/s4" "$d/r4"
state "$d/s5" "sanitizer.runs.test_gpu_step.status=skipped: covered by the step run"
expect_exit 0 "report, test_gpu_step left to a clean step" python3 "$helper" report "$d/s5" "$d/r5"
state "$d/s6" "sanitizer.runs.test_gpu_step.status=skipped: covered by the step run" \
  sanitizer.runs.step.status=timeout sanitizer.runs.step.errors= "graft_graph.status=skipped: time budget spent" \
  graft_graph.images_per_sec=
expect_exit 1 "report, test_gpu_step left to a step that timed out" python3 "$helper" report "$d/s6" "$d/r6"
python3 - "$d" <<'PY' || fail "report contents"
import json, re, sys
d = sys.argv[1]


def row(path, label):
    """What follows LABEL on its line of the summary at PATH."""
    for l in open(path).read().splitlines():
        if re.split(r" {2,}", l.strip())[0] == label:
            return l.strip()[len(label):].strip()
    raise AssertionError("no line %r in %s" % (label, path))


r1, r2, r3, r5, r6 = (json.load(open("%s/r%d/bench.json" % (d, i))) for i in (1, 2, 3, 5, 6))
# The keys that were there before the CUDA graph benchmark stay, in order.
old = ["device", "result", "build", "gpu_tests", "gpu_tests_sync", "step", "sanitizer", "graft", "torch_eager_bf16",
       "torch_compile_bf16", "ratio_vs_eager", "ratio_vs_compile", "bench", "elapsed_s", "problems"]
assert [k for k in r1 if k in old] == old, list(r1)
assert [k for k in r1 if k not in old] == ["graft_graph", "ratio_graph_vs_eager", "ratio_graph_vs_compile"], list(r1)
assert r1["result"] == "clean" and r1["device"].startswith("Fake H200") and r1["problems"] == [], r1
assert r1["ratio_vs_eager"] == 1.3 and r1["ratio_vs_compile"] == 1.2, (r1["ratio_vs_eager"], r1["ratio_vs_compile"])
assert r1["graft"] == {"status": "ok", "images_per_sec": 3900}, r1["graft"]
assert r1["graft_graph"] == {"status": "ok", "images_per_sec": 4550}, r1["graft_graph"]
assert r1["ratio_graph_vs_eager"] == 1.517 and r1["ratio_graph_vs_compile"] == 1.4, r1
assert r1["gpu_tests"] == {"status": "ok", "passed": 3, "failed": 0, "skipped": 0}, r1["gpu_tests"]
assert r1["sanitizer"]["status"] == "clean" and r1["torch_eager_bf16"]["torch"] == "2.11.0"
assert r1["bench"]["batch"] == 128 and r1["elapsed_s"] == 301
summary = open(d + "/r1/summary.txt").read()
assert "graft / torch eager" in summary and "1.30" in summary and "3900.0 images/s" in summary, summary
for label, figure in (("graft", "3900.0 images/s"), ("graft cuda graph", "4550.0 images/s"),
                      ("graft / torch.compile", "1.20"), ("graft cuda graph / torch eager", "1.52"),
                      ("graft cuda graph / torch.compile", "1.40")):
    assert row(d + "/r1/summary.txt", label) == figure, (label, summary)
assert r2["result"] == "not clean" and r2["gpu_tests_sync"]["failed"] == 1
assert r2["problems"] == ["gpu tests with GRAFT_CUDA_SYNC=1: failed, 3 passed, 1 failed, 0 skipped"], r2["problems"]
assert r2["torch_eager_bf16"]["images_per_sec"] is None and r2["ratio_vs_eager"] is None
assert r2["ratio_graph_vs_eager"] is None and r2["ratio_graph_vs_compile"] == 1.4, r2
assert r3["result"] == "not clean" and r3["sanitizer"]["status"] == "errors"
assert r3["graft"]["images_per_sec"] is None and r3["ratio_vs_compile"] is None
assert r3["graft_graph"] == {"status": "timeout", "images_per_sec": None}, r3["graft_graph"]
assert r3["ratio_graph_vs_eager"] is None and r3["ratio_graph_vs_compile"] is None
assert row(d + "/r3/summary.txt", "graft cuda graph") == "- (timeout)"
assert row(d + "/r3/summary.txt", "graft cuda graph / torch eager") == "-"
covered = {"status": "skipped: covered by the step run", "errors": None}
assert r5["result"] == "clean" and r5["sanitizer"]["status"] == "clean", r5
assert r5["sanitizer"]["runs"]["test_gpu_step"] == covered, r5["sanitizer"]
assert row(d + "/r5/summary.txt", "test_gpu_step") == "skipped: covered by the step run"
assert r6["sanitizer"]["status"] == "incomplete" and r6["result"] == "not clean", r6
assert r6["problems"] == ["memcheck step: timeout", "memcheck test_gpu_step: skipped: covered by the step run"], \
    r6["problems"]
assert r6["graft_graph"] == {"status": "skipped: time budget spent", "images_per_sec": None}, r6["graft_graph"]
print("ok: report: ratios %.2f and %.2f, statuses and nulls as expected"
      % (r1["ratio_vs_eager"], r1["ratio_vs_compile"]))
PY
expect_exit 2 "helper, bad usage" python3 "$helper" report "$d/s1"

# ---- dry runs against a stand-in GPU -----------------------------------------
# The stand-in ctest folder holds three "GPU tests": one needs the environment
# ctest gives it, one fails when FAKE_FAIL is set and hangs when FAKE_HANG is,
# and a test_gpu_step that memcheck must leave to the step. The stand-in
# sanitizer logs the command after its options to FAKE_SANITIZED, runs it,
# and reports errors when FAKE_FAIL is set.
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
echo "$*" >>"$FAKE_SANITIZED"
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
add_test(test_gpu_fails "/bin/sh" "-c" "test -z \"\$FAKE_FAIL\" && (test -z \"\$FAKE_HANG\" || sleep 30)")
set_tests_properties(test_gpu_fails PROPERTIES LABELS "gpu" SKIP_RETURN_CODE "77")
add_test(test_gpu_step "/bin/sh" "-c" "exit 0" "fake_gpu_step")
set_tests_properties(test_gpu_step PROPERTIES LABELS "gpu" SKIP_RETURN_CODE "77")
EOF
ln -s "$exe" "$d/build/graft"
dry() { # dry OUTDIR [VAR=VALUE...]
  local o="$1"
  shift
  env PATH="$d/gpu:$PATH" GPU_CHECK_SKIP_BUILD=1 GPU_CHECK_BUILD_DIR="$d/build" GPU_CHECK_TIMEOUT_SCALE=0.2 \
    GPU_CHECK_BENCH_STEPS=2 FAKE_SANITIZED="$o.sanitized" FAKE_GRAFT_LOG="$o.graft" "$@" "$check" "$o" \
    >"$o.stdout" 2>&1
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
# The GRAFT_CUDA_SYNC=1 run leaves test_gpu_step out: one test fewer.
for k, n in (("gpu_tests", 3), ("gpu_tests_sync", 2)):
    assert r1[k] == {"status": "ok", "passed": n, "failed": 0, "skipped": 0}, (k, r1[k])
    assert r2[k]["failed"] == 1 and r2[k]["status"] == "failed", (k, r2[k])
runs = r1["sanitizer"]["runs"]
assert runs["test_gpu_env"] == {"status": "clean", "errors": 0}, runs
assert runs["test_gpu_fails"] == {"status": "clean", "errors": 0}, runs
assert r2["sanitizer"]["runs"]["test_gpu_fails"] == {"status": "errors", "errors": 2}, r2["sanitizer"]
assert r2["sanitizer"]["status"] == "errors" and r2["result"] == "not clean" and rc2 == 1
# test_gpu_step is left to the step's memcheck and never runs under memcheck.
for i, r in ((1, r1), (2, r2)):
    assert r["sanitizer"]["runs"]["test_gpu_step"] == {"status": "skipped: covered by the step run", "errors": None}, r
    sanitized = open("%s/dry%d.sanitized" % (d, i)).read()
    assert "FAKE_ENV" in sanitized and "FAKE_FAIL" in sanitized and "fake_gpu_step" not in sanitized, sanitized
    assert "== memcheck test_gpu_step: skipped, covered by the step run ==" in \
        open("%s/dry%d/sanitizer-tests.log" % (d, i)).read()
# What graft and torch do without a GPU depends on the build and on torch:
# only their shape is fixed here.
assert r1["step"]["status"] in ("unsupported", "failed", "skipped: no input"), r1["step"]
for k in ("graft", "graft_graph"):
    assert r1[k]["status"] in ("unsupported", "failed") and r1[k]["images_per_sec"] is None, r1[k]
for k in ("torch_eager_bf16", "torch_compile_bf16"):
    assert r1[k]["status"] in ("unavailable", "failed") and r1[k]["images_per_sec"] is None, r1[k]
assert r1["ratio_vs_eager"] is None and r1["ratio_graph_vs_compile"] is None and isinstance(r1["elapsed_s"], int)
assert (r1["result"], rc1) in (("clean", 0), ("not clean", 1)), (r1["result"], rc1)
assert "gpu tests: ok: 3 passed" in open(d + "/dry1/summary.txt").read()
assert "== graft bench cuda_graph=1 (at most 18 s) ==" in open(d + "/dry1/bench.log").read()
print("ok: dry runs: %s (step %s, graft %s, graft cuda graph %s, torch %s), then %s with a failing test"
      % (r1["result"], r1["step"]["status"], r1["graft"]["status"], r1["graft_graph"]["status"],
         r1["torch_eager_bf16"]["status"], r2["result"]))
PY

# A stand-in graft and PyTorch that report figures (and hang when FAKE_HANG
# is set; graft refuses cuda_graph=1 with the message in FAKE_NO_GRAPH): a
# clean run end to end, then one where everything hangs and the budget (38 s
# at scale 0.08) runs out by graft's CUDA graph benchmark, then graft
# without CUDA graphs.
mkdir -p "$d/fake" "$d/build3"
cp "$d/build/CTestTestfile.cmake" "$d/build3/"
cat >"$d/build3/graft" <<'EOF'
#!/bin/sh
echo "$*" >>"$FAKE_GRAFT_LOG"
[ -n "${FAKE_HANG:-}" ] && exec sleep 30
case "$*" in
  bench*cuda_graph=1*)
    [ -n "${FAKE_NO_GRAPH:-}" ] && { echo "graft: error: $FAKE_NO_GRAPH" >&2; exit 2; }
    echo "images_per_sec=4550.00" ;;
  bench*) echo "images_per_sec=3900.00" ;;
  step*) echo "step 2 loss 2.3026" ;;
esac
EOF
cat >"$d/fake/python3" <<'EOF'
#!/bin/sh
case "$1" in
  */gpu_bench_torch.py)
    [ -n "${FAKE_HANG:-}" ] && exec sleep 30
    echo "torch_version=2.11.0"
    case "$*" in *mode=compile*) echo "images_per_sec=3250.00" ;; *) echo "images_per_sec=3000.00" ;; esac
    exit 0 ;;
esac
exec "$FAKE_REAL_PYTHON" "$@"
EOF
chmod +x "$d/build3/graft" "$d/fake/python3"
FAKE_REAL_PYTHON="$(command -v python3)"
export FAKE_REAL_PYTHON
fake=(PATH="$d/fake:$d/gpu:$PATH" GPU_CHECK_BUILD_DIR="$d/build3")
t0=$SECONDS
rc3="$(dry "$d/dry3" "${fake[@]}")"
t3=$((SECONDS - t0))
rc4="$(dry "$d/dry4" "${fake[@]}" GPU_CHECK_TIMEOUT_SCALE=0.08 FAKE_HANG=1)"
t4=$((SECONDS - t0 - t3))
rc5="$(dry "$d/dry5" "${fake[@]}" FAKE_NO_GRAPH="unknown key 'cuda_graph'")"
rc6="$(dry "$d/dry6" "${fake[@]}" FAKE_NO_GRAPH="cuda_graph=1: the cpu backend cannot capture a step (use device=gpu)")"
echo "dry runs with a stand-in graft: exit $rc3 in $t3 s, exit $rc4 in $t4 s, then $rc5 and $rc6"
python3 - "$d" "$rc3" "$rc4" "$t4" "$rc5" "$rc6" <<'PY' ||
import json, re, sys
d, rc3, rc4, t4, rc5, rc6 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
r3, r4, r5, r6 = (json.load(open("%s/dry%d/bench.json" % (d, i))) for i in (3, 4, 5, 6))


def row(path, label):
    """What follows LABEL on its line of the summary at PATH."""
    for l in open(path).read().splitlines():
        if re.split(r" {2,}", l.strip())[0] == label:
            return l.strip()[len(label):].strip()
    raise AssertionError("no line %r in %s" % (label, path))


assert r3["result"] == "clean" and rc3 == 0 and r3["problems"] == [], (rc3, r3)
assert r3["step"]["status"] == "ok" and r3["sanitizer"]["status"] == "clean", r3
assert r3["sanitizer"]["runs"] == {
    "step": {"status": "clean", "errors": 0},
    "test_gpu_env": {"status": "clean", "errors": 0},
    "test_gpu_fails": {"status": "clean", "errors": 0},
    "test_gpu_step": {"status": "skipped: covered by the step run", "errors": None}}, r3["sanitizer"]
assert r3["graft"] == {"status": "ok", "images_per_sec": 3900}, r3["graft"]
assert r3["graft_graph"] == {"status": "ok", "images_per_sec": 4550}, r3["graft_graph"]
assert r3["torch_eager_bf16"] == {"status": "ok", "images_per_sec": 3000, "torch": "2.11.0"}, r3["torch_eager_bf16"]
assert r3["torch_compile_bf16"]["images_per_sec"] == 3250, r3["torch_compile_bf16"]
assert (r3["ratio_vs_eager"], r3["ratio_vs_compile"], r3["ratio_graph_vs_eager"], r3["ratio_graph_vs_compile"]) \
    == (1.3, 1.2, 1.517, 1.4), r3
# The CUDA graph benchmark runs graft bench with the same arguments and cuda_graph=1.
benches = [l for l in open(d + "/dry3.graft").read().splitlines() if l.startswith("bench ")]
assert len(benches) == 2 and benches[1] == benches[0] + " cuda_graph=1", benches
assert "batch=128 size=224 warmup=5 steps=2 device=gpu precision=bf16" in benches[0], benches
# The limits, at scale 0.2: ctest 120 and 60, graft bench 120 and 90.
ctest_log, bench_log = (open("%s/dry3/%s" % (d, f)).read() for f in ("ctest-gpu.log", "bench.log"))
assert "== ctest -L gpu (at most 24 s) ==" in ctest_log, ctest_log
assert "== ctest -L gpu, GRAFT_CUDA_SYNC=1 (at most 12 s) ==" in ctest_log, ctest_log
assert "== graft bench (at most 24 s) ==" in bench_log, bench_log
assert "== graft bench cuda_graph=1 (at most 18 s) ==" in bench_log, bench_log
for label, figure in (("graft cuda graph", "4550.0 images/s"), ("graft cuda graph / torch eager", "1.52"),
                      ("graft cuda graph / torch.compile", "1.40"),
                      ("test_gpu_step", "skipped: covered by the step run")):
    assert row(d + "/dry3/summary.txt", label) == figure, (label, figure)
# Everything hangs: the check still ends within its budget, and what the
# budget left out says so.
assert rc4 == 1 and r4["result"] == "not clean" and t4 <= 45 and r4["elapsed_s"] <= 38, (rc4, t4, r4)
assert r4["gpu_tests"]["status"] == "timeout" and r4["gpu_tests_sync"]["status"] == "timeout", r4
assert r4["step"]["status"] == "timeout" and r4["torch_eager_bf16"]["status"] == "timeout", r4
# The tests, the step and PyTorch eager hold at least 10 + 5 + 5 + 10 s of
# the 38, which leaves graft bench at most 3 s and its CUDA graph none.
spent = {"status": "skipped: time budget spent", "images_per_sec": None}
assert r4["graft"]["status"] in ("timeout", spent["status"]) and r4["graft"]["images_per_sec"] is None, r4["graft"]
assert r4["graft_graph"] == spent and r4["torch_compile_bf16"] == spent, r4
assert r4["ratio_graph_vs_eager"] is None and r4["ratio_graph_vs_compile"] is None
runs = r4["sanitizer"]["runs"]
assert runs["step"]["status"] == "skipped: step timeout" and runs["test_gpu_env"]["status"] == spent["status"], runs
assert runs["test_gpu_step"]["status"] == "skipped: covered by the step run", runs
assert row(d + "/dry4/summary.txt", "graft cuda graph") == "- (skipped: time budget spent)"
# A graft that refuses cuda_graph=1 (one without the key, or a backend that
# cannot capture) leaves the rest clean and says so.
for r, rc in ((r5, rc5), (r6, rc6)):
    assert rc == "0" and r["result"] == "clean" and r["graft"]["images_per_sec"] == 3900, (rc, r)
    assert r["graft_graph"] == {"status": "unsupported", "images_per_sec": None}, r["graft_graph"]
    assert r["ratio_vs_eager"] == 1.3 and r["ratio_graph_vs_eager"] is None and r["ratio_graph_vs_compile"] is None
print("ok: dry runs with a stand-in graft: clean with ratios %.2f, %.2f, %.2f and %.2f; then cut at %d s;"
      " then cuda_graph=1 %s" % (r3["ratio_vs_eager"], r3["ratio_vs_compile"], r3["ratio_graph_vs_eager"],
                                 r3["ratio_graph_vs_compile"], r4["elapsed_s"], r5["graft_graph"]["status"]))
PY
  { fail "dry runs with a stand-in graft"; cat "$d/dry3.stdout" "$d/dry4.stdout"; }

echo "$fails failed"
[ "$fails" -eq 0 ]

#!/usr/bin/env python3
"""The parts of tools/gpu-check that read and write structured files, with
the standard library only, so that they run under any python3 and can be
tested without a GPU (tests/scripts/test_gpu_check.sh).

  counts JUNIT.xml      prints "passed failed skipped" for a file written by
                        ctest --output-junit
  tests CTEST.json      prints one line per test listed by
                        ctest --show-only=json-v1: its name, its working
                        folder, its environment (VAR=VALUE each), "--", then
                        its command, the fields separated by tabs
  report STATE OUTDIR   turns the key=value lines gpu-check gathered
                        (dotted keys: torch_eager_bf16.images_per_sec=2950.5)
                        into OUTDIR/bench.json and OUTDIR/summary.txt, prints
                        the summary, and exits 0 when the GPU tests and the
                        sanitizer runs are clean, 1 when they are not, and 3
                        when there was no device to check
"""
import json
import math
import sys
import xml.etree.ElementTree as ET

NUMERIC = {"images_per_sec", "passed", "failed", "skipped", "errors", "seconds",
           "elapsed_s", "batch", "size", "steps"}
BENCHES = (("graft", "graft"), ("graft_graph", "graft cuda graph"), ("torch_eager_bf16", "torch eager"),
           ("torch_compile_bf16", "torch.compile"))
RATIOS = (("ratio_vs_eager", "graft", "torch_eager_bf16", "graft / torch eager"),
          ("ratio_vs_compile", "graft", "torch_compile_bf16", "graft / torch.compile"),
          ("ratio_graph_vs_eager", "graft_graph", "torch_eager_bf16", "graft cuda graph / torch eager"),
          ("ratio_graph_vs_compile", "graft_graph", "torch_compile_bf16", "graft cuda graph / torch.compile"))
# The status of a GPU test that memcheck leaves to the run of `graft step`,
# which covers the same code: clean when that run is clean.
COVERED = "skipped: covered by the step run"


def counts(path):
    suite = ET.parse(path).getroot()
    status = [c.get("status") for c in suite.iter("testcase")]
    passed = status.count("run")
    skipped = status.count("notrun") + status.count("disabled")
    print(passed, len(status) - passed - skipped, skipped)


def tests(path):
    with open(path) as f:
        info = json.load(f)
    for t in info.get("tests", []):
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        env = props.get("ENVIRONMENT", [])
        fields = [t["name"], props.get("WORKING_DIRECTORY", ".")] + env + ["--"] + t["command"]
        if any("\t" in x or "\n" in x for x in fields):
            sys.exit("test %s: a tab or a newline in its command or environment" % t["name"])
        print("\t".join(fields))


def number(text):
    try:
        v = float(text)
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return int(v) if v.is_integer() and "." not in text else v


def read_state(path):
    """key=value lines into nested dicts; later lines win."""
    state = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" not in line:
                continue
            key, value = line.split("=", 1)
            parts = key.split(".")
            node = state
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    node[p] = {}
                node = node[p]
            node[parts[-1]] = (number(value) if value else None) if parts[-1] in NUMERIC else value
    return state


def section(state, key, fields):
    s = dict(state.get(key) or {})
    s.setdefault("status", "not run")
    for f in fields:
        s.setdefault(f, None)
    return s


def ratio(a, b):
    ok = all(isinstance(v, (int, float)) and v > 0 for v in (a, b))
    return round(a / b, 3) if ok else None


def tests_problem(title, t):
    """Why a ctest run is not clean (on a GPU every test must pass: a GPU test
    skips only when it finds no device), or None."""
    if t["passed"] is None:
        return "%s: %s" % (title, t["status"])
    if t["status"] != "ok" or t["failed"] or t["skipped"] or not t["passed"]:
        return "%s: %s, %d passed, %d failed, %d skipped" % (title, t["status"], t["passed"], t["failed"] or 0,
                                                           t["skipped"] or 0)
    return None


def run_clean(runs, name):
    """Whether memcheck run NAME counts as clean: it ran clean, it is the
    step and graft does not run it on the GPU yet, or it is a test left to
    the step's run and that run is clean."""
    st = runs[name].get("status")
    if st == "clean":
        return True
    if name == "step":
        return st == "unsupported"
    return st == COVERED and runs.get("step", {}).get("status") == "clean"


def sanitizer_status(san):
    """clean: every test ran clean under memcheck (or was left to a clean
    run of the step) and the step ran clean or does not exist yet; errors:
    memcheck reported errors; else incomplete."""
    runs = san["runs"]
    if san.get("status") not in (None, "not run"):
        return san["status"]
    if not runs:
        return "not run"
    if any(r.get("status") == "errors" for r in runs.values()):
        return "errors"
    tests = [name for name in runs if name != "step"]
    if tests and "step" in runs and all(run_clean(runs, name) for name in runs):
        return "clean"
    return "incomplete"


def build_report(state):
    device = state.get("device") or {}
    san = dict(state.get("sanitizer") or {})
    san["runs"] = {k: dict(v, errors=v.get("errors")) for k, v in (san.get("runs") or {}).items()}
    san["status"] = sanitizer_status(san)
    rep = {
        "device": device.get("name"),
        "result": None,
        "build": section(state, "build", ["seconds"]),
        "gpu_tests": section(state, "gpu_tests", ["passed", "failed", "skipped"]),
        "gpu_tests_sync": section(state, "gpu_tests_sync", ["passed", "failed", "skipped"]),
        "step": section(state, "step", []),
        "sanitizer": {"tool": "memcheck", "status": san["status"], "runs": san["runs"]},
    }
    for key, _ in BENCHES:
        rep[key] = section(state, key, ["images_per_sec"])
    for key, a, b, _ in RATIOS:
        rep[key] = ratio(rep[a]["images_per_sec"], rep[b]["images_per_sec"])
    rep["bench"] = dict(state.get("bench") or {})
    rep["elapsed_s"] = state.get("elapsed_s")
    problems = [tests_problem("gpu tests", rep["gpu_tests"]),
                tests_problem("gpu tests with GRAFT_CUDA_SYNC=1", rep["gpu_tests_sync"])]
    if san["status"] != "clean":
        bad = ["memcheck %s: %s" % (name, r["status"]) for name, r in san["runs"].items()
               if not run_clean(san["runs"], name)]
        problems += bad or ["compute-sanitizer memcheck: %s" % san["status"]]
    rep["problems"] = [p for p in problems if p]
    if device.get("status") == "none":
        rep["result"] = "no device"
        rep["problems"] = [device.get("reason") or "no NVIDIA GPU found"]
    else:
        rep["result"] = "not clean" if rep["problems"] else "clean"
    return rep


def summary(rep):
    if rep["result"] == "no device":
        return "gpu-check: no device: %s\n" % rep["problems"][0]

    def counted(t):
        if t["passed"] is None:
            return t["status"]
        return "%s: %d passed, %d failed, %d skipped" % (t["status"], t["passed"], t["failed"] or 0,
                                                         t["skipped"] or 0)

    def ips(b):
        v = b["images_per_sec"]
        return "%10.1f images/s" % v if v is not None else "%10s (%s)" % ("-", b["status"])

    b = rep["bench"]
    san = rep["sanitizer"]
    lines = [
        "gpu-check on %s: %s" % (rep["device"], rep["result"]),
        "build: %s%s" % (rep["build"]["status"],
                         " (%s s)" % rep["build"]["seconds"] if rep["build"]["seconds"] is not None else ""),
        "gpu tests: %s" % counted(rep["gpu_tests"]),
        "gpu tests, GRAFT_CUDA_SYNC=1: %s" % counted(rep["gpu_tests_sync"]),
        "graft step device=gpu: %s" % rep["step"]["status"],
        "compute-sanitizer memcheck: %s" % san["status"],
    ]
    for name, r in san["runs"].items():
        errs = "" if r.get("errors") is None else ", %d errors" % r["errors"]
        lines.append("  %-28s %s%s" % (name, r.get("status"), errs))
    lines.append("%s training, batch %s, %sx%s, bf16:" % (b.get("model"), b.get("batch"), b.get("size"),
                                                         b.get("size")))
    for key, label in BENCHES:
        lines.append("  %-32s %s" % (label, ips(rep[key])))
    for key, _, _, label in RATIOS:
        v = rep[key]
        lines.append("  %-32s %s" % (label, "%10.2f" % v if v is not None else "%10s" % "-"))
    lines += ["not clean: " + p for p in rep["problems"]]
    lines.append("elapsed: %s s" % rep["elapsed_s"])
    return "\n".join(lines) + "\n"


def report(state_path, outdir):
    rep = build_report(read_state(state_path))
    with open(outdir + "/bench.json", "w") as f:
        json.dump(rep, f, indent=2)
        f.write("\n")
    text = summary(rep)
    with open(outdir + "/summary.txt", "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return {"clean": 0, "not clean": 1, "no device": 3}[rep["result"]]


def main():
    cmds = {"counts": (counts, 1), "tests": (tests, 1), "report": (report, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds or len(sys.argv) != 2 + cmds[sys.argv[1]][1]:
        sys.stderr.write(__doc__)
        return 2
    fn, _ = cmds[sys.argv[1]]
    return fn(*sys.argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main())

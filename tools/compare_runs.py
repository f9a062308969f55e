#!/usr/bin/env python3
"""Prints the best validation accuracy and macro F1 of two or more graft runs
side by side, from each run folder's report.json. Standard library only."""
import json
import os
import sys


def main():
    rows = []
    for d in sys.argv[1:]:
        with open(os.path.join(d, "report.json")) as f:
            r = json.load(f)
        best = r.get("best", {})
        m = r.get("best_metrics", r.get("last_metrics", {}))
        f1 = m.get("macro", {}).get("f1")
        rows.append((os.path.basename(d.rstrip("/")), m.get("accuracy"), f1, best.get("epoch")))
    print("%-12s %10s %10s %6s" % ("run", "accuracy", "macro F1", "epoch"))
    for name, acc, f1, ep in rows:
        print("%-12s %10.4f %10.4f %6s" % (name, acc or 0.0, f1 or 0.0, ep))
    if len(rows) == 2 and rows[0][1] is not None and rows[1][1] is not None:
        print("difference in accuracy: %+.4f" % (rows[0][1] - rows[1][1]))


if __name__ == "__main__":
    main()

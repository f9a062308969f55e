#!/usr/bin/env python3
"""Compares graft's classification metrics with scikit-learn's.

Reads the JSON that test_metrics writes when GRAFT_METRICS_DUMP is set: per
case the class count, the labels (-1: ignored), the logits and graft's
figures. Predictions are numpy's argmax (the first maximum, graft's rule
too); samples labelled -1 are dropped, as graft leaves them out. Every
figure must agree to 1e-12: confusion_matrix, accuracy_score,
precision_recall_fscore_support per class and macro, micro and weighted
(labels=range(K), zero_division=0), specificity from
multilabel_confusion_matrix, top-5 (top_k_accuracy_score where the logits
have no ties), and for two classes the binary figures (specificity and NPV
as scikit-learn's recall and precision of class 0).

usage: check_metrics.py DUMP.json
"""
import json
import sys

import numpy as np
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, confusion_matrix,
                             multilabel_confusion_matrix, precision_recall_fscore_support,
                             top_k_accuracy_score)

TOL = 1e-12
worst = 0.0
failures = []


def check(case, what, got, want):
    global worst
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    worst = max(worst, err)
    if got.shape != want.shape or err > TOL:
        failures.append(f"case {case}: {what}: graft {got.tolist()} sklearn {want.tolist()} (error {err:.3g})")


def top5_by_rank(logits, y):
    """The label's rank, counting larger logits and equal earlier ones."""
    hits = 0
    for row, t in zip(logits, y):
        ahead = np.sum(row > row[t]) + np.sum(row[:t] == row[t])
        hits += ahead < 5
    return hits / len(y) if len(y) else 0.0


def main(path):
    with open(path) as f:
        cases = json.load(f)["cases"]
    for i, c in enumerate(cases):
        k = c["k"]
        g = c["graft"]
        labels = np.array(c["labels"], dtype=np.int64)
        logits = np.array(c["logits"], dtype=np.float32).reshape(len(labels), k)
        keep = (labels >= 0) & (labels < k)
        y = labels[keep]
        x = logits[keep]
        pred = np.argmax(x, axis=1)
        classes = list(range(k))
        name = f"{i} (k={k}, n={len(labels)}, ignored={int((~keep).sum())})"

        check(name, "samples", g["samples"], len(y))
        check(name, "ignored", g["ignored"], int((~keep).sum()))
        check(name, "confusion", g["confusion"], confusion_matrix(y, pred, labels=classes))
        check(name, "accuracy", g["accuracy"], accuracy_score(y, pred))
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=classes, average=None, zero_division=0)
        pc = g["per_class"]
        check(name, "precision", [e["precision"] for e in pc], p)
        check(name, "recall", [e["recall"] for e in pc], r)
        check(name, "f1", [e["f1"] for e in pc], f)
        check(name, "support", [e["support"] for e in pc], s)
        mcm = multilabel_confusion_matrix(y, pred, labels=classes)
        tn, fp = mcm[:, 0, 0].astype(np.float64), mcm[:, 0, 1].astype(np.float64)
        spec = np.divide(tn, tn + fp, out=np.zeros_like(tn), where=(tn + fp) > 0)
        check(name, "specificity", [e["specificity"] for e in pc], spec)
        for avg in ("macro", "micro", "weighted"):
            p, r, f, _ = precision_recall_fscore_support(y, pred, labels=classes, average=avg, zero_division=0)
            check(name, f"{avg} precision", g[avg]["precision"], p)
            check(name, f"{avg} recall", g[avg]["recall"], r)
            check(name, f"{avg} f1", g[avg]["f1"], f)
        tied = any(len(np.unique(row)) < k for row in x)
        if k > 5 and not tied and len(y):
            check(name, "top5", g["top5"], top_k_accuracy_score(y, x, k=5, labels=classes))
        else:
            check(name, "top5", g["top5"], top5_by_rank(x, y))
        if k == 2:
            b = g["binary"]
            p, r, f, _ = precision_recall_fscore_support(y, pred, labels=classes, average="binary",
                                                         pos_label=1, zero_division=0)
            check(name, "binary precision", b["precision"], p)
            check(name, "binary recall", b["recall"], r)
            check(name, "binary f1", b["f1"], f)
            npv, tnr, _, _ = precision_recall_fscore_support(y, pred, labels=classes, average="binary",
                                                             pos_label=0, zero_division=0)
            check(name, "binary specificity", b["specificity"], tnr)
            check(name, "binary npv", b["npv"], npv)
            if len(np.unique(y)) == 2:
                check(name, "balanced accuracy", b["balanced_accuracy"], balanced_accuracy_score(y, pred))
    for line in failures:
        print("MISMATCH", line)
    print(f"{len(cases)} cases compared with scikit-learn: largest difference {worst:.3g} "
          f"(tolerance {TOL:g}), {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))

#!/usr/bin/env bash
# The classification metrics against scikit-learn: test_metrics writes
# random cases (labels, logits with many ties, some ignored labels, and
# graft's figures) to a JSON file when GRAFT_METRICS_DUMP names one, and
# tools/check_metrics.py recomputes every figure with scikit-learn's
# confusion_matrix, accuracy_score and precision_recall_fscore_support
# (per class, macro, micro, weighted) and compares to 1e-12. Skipped
# without scikit-learn.
set -euo pipefail
src="${GRAFT_SOURCE_DIR:?}"
bin="${GRAFT_BINARY_DIR:?}"
py=/usr/bin/python3
"$py" -c "import numpy, sklearn" 2>/dev/null || { echo "scikit-learn not installed: skipped"; exit 77; }
exe="$bin/tests/test_metrics"
[ -x "$exe" ] || { echo "test_metrics not built at $exe"; exit 1; }
d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
if ! GRAFT_METRICS_DUMP="$d/cases.json" "$exe" >"$d/log" 2>&1; then
  cat "$d/log"
  exit 1
fi
"$py" "$src/tools/check_metrics.py" "$d/cases.json"

/* metrics.c: figures from the device counters (see metrics.h for the
 * conventions): per-class one-vs-rest counts, their ratios, the averages,
 * the binary figures, regression errors, and figures looked up by name. */
#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

/* a / b, or 0 when b is 0 (scikit-learn's zero_division=0). */
static double ratio(double a, double b) { return b > 0.0 ? a / b : 0.0; }

void graft_metrics_init(graft_metrics *m) {
  memset(m, 0, sizeof *m);
  m->loss = NAN;
}

void graft_metrics_free(graft_metrics *m) {
  free(m->confusion);
  free(m->support);
  free(m->precision);
  free(m->recall);
  free(m->f1);
  free(m->specificity);
  graft_metrics_init(m);
}

graft_status graft_metrics_classification(graft_metrics *m, int k,
                                          const uint64_t *counts, /* (K*K + 2) */
                                          double loss) {
  graft_metrics_free(m);
  if (k < 1 || k > 1000000) GRAFT_FAIL(GRAFT_EINVAL, "metrics: bad class count %d", k);
  if (!counts) GRAFT_FAIL(GRAFT_EINVAL, "metrics: NULL counters");
  const size_t kk = (size_t)k * (size_t)k;
  m->k = k;
  m->loss = loss;
  m->confusion = malloc(kk * sizeof *m->confusion);
  m->support = calloc((size_t)k, sizeof *m->support);
  m->precision = calloc((size_t)k, sizeof(double));
  m->recall = calloc((size_t)k, sizeof(double));
  m->f1 = calloc((size_t)k, sizeof(double));
  m->specificity = calloc((size_t)k, sizeof(double));
  uint64_t *predicted = calloc((size_t)k, sizeof *predicted); /* (K) column sums */
  if (!m->confusion || !m->support || !m->precision || !m->recall || !m->f1 || !m->specificity ||
      !predicted) {
    free(predicted);
    graft_metrics_free(m);
    GRAFT_FAIL(GRAFT_ENOMEM, "metrics: out of memory for %d classes", k);
  }
  memcpy(m->confusion, counts, kk * sizeof *m->confusion);
  uint64_t correct = 0;
  for (int t = 0; t < k; t++)
    for (int p = 0; p < k; p++) {
      const uint64_t c = counts[(size_t)t * (size_t)k + (size_t)p];
      m->support[t] += c;
      predicted[p] += c;
      m->total += c;
      if (t == p) correct += c;
    }
  m->ignored = counts[kk + 1];
  const double total = (double)m->total;
  m->accuracy = ratio((double)correct, total);
  m->top5 = ratio((double)counts[kk], total);

  /* Per class one-vs-rest, and the sums the averages need. */
  double sum_tp = 0, sum_fp = 0, sum_fn = 0;
  graft_prf sum = {0, 0, 0}, wsum = {0, 0, 0};
  for (int c = 0; c < k; c++) {
    const double tp = (double)counts[(size_t)c * (size_t)k + (size_t)c];
    const double fp = (double)predicted[c] - tp;
    const double fn = (double)m->support[c] - tp;
    const double tn = total - tp - fp - fn;
    m->precision[c] = ratio(tp, tp + fp);
    m->recall[c] = ratio(tp, tp + fn);
    m->f1[c] = ratio(2.0 * tp, 2.0 * tp + fp + fn);
    m->specificity[c] = ratio(tn, tn + fp);
    sum_tp += tp;
    sum_fp += fp;
    sum_fn += fn;
    sum.precision += m->precision[c];
    sum.recall += m->recall[c];
    sum.f1 += m->f1[c];
    const double w = (double)m->support[c];
    wsum.precision += w * m->precision[c];
    wsum.recall += w * m->recall[c];
    wsum.f1 += w * m->f1[c];
  }
  m->macro = (graft_prf){sum.precision / k, sum.recall / k, sum.f1 / k};
  m->weighted =
      (graft_prf){ratio(wsum.precision, total), ratio(wsum.recall, total), ratio(wsum.f1, total)};
  m->micro = (graft_prf){ratio(sum_tp, sum_tp + sum_fp), ratio(sum_tp, sum_tp + sum_fn),
                         ratio(2.0 * sum_tp, 2.0 * sum_tp + sum_fp + sum_fn)};

  if (k == 2) {
    graft_binary_metrics *b = &m->binary;
    b->tp = counts[3];
    b->fn = counts[2];
    b->fp = counts[1];
    b->tn = counts[0];
    b->precision = m->precision[1];
    b->recall = m->recall[1];
    b->specificity = m->specificity[1];
    b->npv = ratio((double)b->tn, (double)(b->tn + b->fn));
    b->f1 = m->f1[1];
    b->balanced_accuracy = (b->recall + b->specificity) / 2.0;
  }
  free(predicted);
  return GRAFT_OK;
}

graft_status graft_metrics_regression(graft_metrics *m, const double *sums, /* (3) */
                                      double loss) {
  graft_metrics_free(m);
  if (!sums) GRAFT_FAIL(GRAFT_EINVAL, "metrics: NULL sums");
  if (!(sums[2] >= 0.0) || sums[2] > 9007199254740992.0)
    GRAFT_FAIL(GRAFT_EINVAL, "metrics: bad sample count %g", sums[2]);
  m->loss = loss;
  m->total = (uint64_t)sums[2];
  m->mse = ratio(sums[0], sums[2]);
  m->mae = ratio(sums[1], sums[2]);
  return GRAFT_OK;
}

graft_status graft_metrics_value(const graft_metrics *m, const char *name, double *value,
                                 int *higher_is_better) {
  const int cls = m->k > 0;
  if (!strcmp(name, "auto")) name = cls ? "accuracy" : "mse";
  *higher_is_better = 1;
  if (!strcmp(name, "loss")) {
    *higher_is_better = 0;
    *value = m->loss;
    return GRAFT_OK;
  }
  static const char *const cls_names[] = {"accuracy", "top5", "macro_f1", "weighted_f1",
                                          "macro_recall"};
  const double cls_values[] = {m->accuracy, m->top5, m->macro.f1, m->weighted.f1, m->macro.recall};
  for (int i = 0; i < 5; i++) {
    if (strcmp(name, cls_names[i])) continue;
    if (!cls) GRAFT_FAIL(GRAFT_EINVAL, "metric '%s' needs task=classification", name);
    *value = cls_values[i];
    return GRAFT_OK;
  }
  if (!strcmp(name, "mse") || !strcmp(name, "mae")) {
    if (cls) GRAFT_FAIL(GRAFT_EINVAL, "metric '%s' needs task=regression", name);
    *higher_is_better = 0;
    *value = name[1] == 's' ? m->mse : m->mae;
    return GRAFT_OK;
  }
  GRAFT_FAIL(GRAFT_EINVAL, "unknown metric '%s'", name);
}

/* metrics.h: the figures of an epoch, derived on the host from the counters
 * the backend accumulated on the device (ops.h: metrics_update and
 * metrics_update_regression): accuracy, top-5, per-class precision, recall
 * (= sensitivity), F1, specificity and support, their macro, micro and
 * support-weighted averages, the binary figures when there are two classes
 * (class 1 positive), and MSE and MAE for regression. Printed as a table
 * and serialized as JSON for metrics.jsonl and report.json.
 *
 * Conventions, those of scikit-learn with labels=range(K) and
 * zero_division=0: every one of the K classes counts in the macro average,
 * present or not; a ratio whose denominator is zero (precision of a class
 * never predicted, recall of a class never seen, any figure of an empty
 * epoch) is 0; F1 is 2TP / (2TP + FP + FN). Samples whose label was out of
 * range are left out of every figure and reported as ignored. */
#ifndef GRAFT_METRICS_H
#define GRAFT_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

struct cJSON;

typedef struct {
  double precision, recall, f1;
} graft_prf;

/* Two classes, class 1 positive. */
typedef struct {
  uint64_t tp, fp, tn, fn;
  double precision;   /* positive predictive value */
  double recall;      /* sensitivity, true positive rate */
  double specificity; /* true negative rate */
  double npv;         /* negative predictive value */
  double f1;
  double balanced_accuracy; /* (sensitivity + specificity) / 2 */
} graft_binary_metrics;

typedef struct {
  int k;              /* classes; 0 for regression figures */
  uint64_t total;     /* samples counted (classification: the matrix's sum) */
  uint64_t ignored;   /* classification: samples left out for their label */
  double loss;        /* the caller's mean loss; NAN when it has none */
  /* classification */
  uint64_t *confusion; /* (K, K) row = true class, column = predicted */
  uint64_t *support;   /* (K) samples of each true class */
  double *precision;   /* (K) one-vs-rest */
  double *recall;      /* (K) also the sensitivity */
  double *f1;          /* (K) */
  double *specificity; /* (K) one-vs-rest: TN / (TN + FP) */
  double accuracy;     /* top-1 */
  double top5;         /* the label among the 5 largest logits (all of them when K <= 5) */
  graft_prf macro, micro, weighted;
  graft_binary_metrics binary; /* filled when K == 2 */
  /* regression */
  double mse, mae;
} graft_metrics;

void graft_metrics_init(graft_metrics *m);
/* Safe on an initialized or partly filled object. */
void graft_metrics_free(graft_metrics *m);

/* Figures from the counters of metrics_update for k classes (host copy,
 * GRAFT_METRICS_COUNTS(k) values); loss is the caller's mean loss or NAN.
 * Replaces what m held. */
graft_status graft_metrics_classification(graft_metrics *m, int k,
                                          const uint64_t *counts, /* (K*K + 2) */
                                          double loss);

/* Figures from the sums of metrics_update_regression (host copy). */
graft_status graft_metrics_regression(graft_metrics *m, const double *sums, /* (3) */
                                      double loss);

/* One figure by name, as the best_metric and early_stop_metric keys name
 * them: loss, accuracy, top5, macro_f1, weighted_f1, macro_recall (balanced
 * accuracy), mse, mae, or auto (accuracy for classification, mse for
 * regression). *higher_is_better says which way is better. A figure the
 * task does not have is GRAFT_EINVAL. */
graft_status graft_metrics_value(const graft_metrics *m, const char *name, double *value,
                                 int *higher_is_better);

/* A readable table: per-class rows (at most max_rows of them, named by
 * names (K) or by index when names is NULL), the averages, accuracy, top-5,
 * loss, the binary figures, and the confusion matrix when K <= 10. */
void graft_metrics_print(FILE *f, const graft_metrics *m, const char *const *names, int max_rows);

enum {
  GRAFT_METRICS_JSON_PER_CLASS = 1, /* a "per_class" array */
  GRAFT_METRICS_JSON_CONFUSION = 2, /* the "confusion" matrix as rows */
};

/* The figures as a new JSON object (free with cJSON_Delete), for a line of
 * metrics.jsonl or report.json; the caller adds epoch, split and the like.
 * names (K) or NULL. */
graft_status graft_metrics_to_json(const graft_metrics *m, const char *const *names, int flags,
                                   struct cJSON **out);

#endif

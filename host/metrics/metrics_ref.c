/* metrics_ref.c: the CPU reference of the metric accumulation ops
 * (ops.h): classification counters (confusion matrix, top-5 hits, samples
 * without a valid label) and regression error sums, added to buffers the
 * caller zeroes once per epoch. */
#include <math.h>

#include "core/log.h"
#include "metrics/metrics_math.h"
#include "ops/ops.h"

graft_status graft_metrics_update_ref(graft_ctx *ctx, int n, int k,
                                      const float *logits,   /* (N, K) */
                                      const int32_t *labels, /* (N) */
                                      uint64_t *counts)      /* (K*K + 2) accumulated */
{
  (void)ctx;
  if (n < 0 || k < 1) GRAFT_FAIL(GRAFT_EINVAL, "metrics_update: bad sizes n=%d k=%d", n, k);
  if (!counts || (n > 0 && (!logits || !labels)))
    GRAFT_FAIL(GRAFT_EINVAL, "metrics_update: NULL tensor");
  const size_t kk = (size_t)k * (size_t)k;
  for (int i = 0; i < n; i++) {
    const int32_t label = labels[i];
    if (label < 0 || label >= k) {
      counts[kk + 1]++;
      continue;
    }
    int pred;
    const int rank = graft_metrics_rank(logits + (size_t)i * (size_t)k, k, label, &pred);
    counts[(size_t)label * (size_t)k + (size_t)pred]++;
    if (rank < GRAFT_METRICS_TOPK) counts[kk]++;
  }
  return GRAFT_OK;
}

graft_status graft_metrics_update_regression_ref(graft_ctx *ctx, int64_t n,
                                                 const float *pred,   /* (N) */
                                                 const float *target, /* (N) */
                                                 double *sums)        /* (3) accumulated */
{
  (void)ctx;
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "metrics_update_regression: negative n %lld", (long long)n);
  if (!sums || (n > 0 && (!pred || !target)))
    GRAFT_FAIL(GRAFT_EINVAL, "metrics_update_regression: NULL tensor");
  double sq = 0.0, ab = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double e = (double)pred[i] - (double)target[i];
    sq += e * e;
    ab += fabs(e);
  }
  sums[0] += sq;
  sums[1] += ab;
  sums[2] += (double)n;
  return GRAFT_OK;
}

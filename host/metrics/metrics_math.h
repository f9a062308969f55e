/* metrics_math.h: the per-sample rule behind the classification counters
 * (ops.h, GRAFT_METRICS_COUNTS), shared as host and device code by the CPU
 * reference (metrics_ref.c) and the kernel (cuda/metrics.cu), so the CPU
 * tests cover the very comparisons the GPU makes. Logits are ordered with
 * NaN above every number, as torch.argmax takes a NaN for the maximum. */
#ifndef GRAFT_METRICS_MATH_H
#define GRAFT_METRICS_MATH_H

#include "ops/math.h"

#define GRAFT_METRICS_TOPK 5 /* the k of the top-k hit count */

/* a ranks above b: a larger number, or a NaN above a number. */
GRAFT_HD int graft_metrics_above(float a, float b) { return a > b || (isnan(a) && !isnan(b)); }

/* For one sample's logits row (K) and its label in [0, K): *pred gets the
 * predicted class, the first largest logit; the return value is the
 * label's rank, the number of classes ahead of it (ranked above it, or
 * equal and earlier). Rank 0 is exactly pred == label, and the label is in
 * the top k when its rank is below k. */
GRAFT_HD int graft_metrics_rank(const float *row /* (K) */, int k, int label, int *pred) {
  const float y = row[label];
  int best = 0, rank = 0;
  for (int j = 0; j < k; j++) {
    const float v = row[j];
    if (graft_metrics_above(v, row[best])) best = j;
    if (graft_metrics_above(v, y) || (j < label && !graft_metrics_above(y, v))) rank++;
  }
  *pred = best;
  return rank;
}

#endif

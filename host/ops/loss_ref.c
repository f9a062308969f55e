/* loss_ref.c: the CPU reference of the losses, each a mean as PyTorch's
 * reduction='mean': softmax cross-entropy (F.cross_entropy with class
 * weights, ignore_index and label smoothing), binary cross-entropy with
 * logits, and mean squared error. Sums run in double; the scalar loss and
 * its upstream gradient are single floats in host memory. */
#include "core/log.h"
#include "ops/math.h"
#include "ops/ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define LOSS_PARALLEL_MIN 32768

static int loss_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

/* ---- softmax cross-entropy ---------------------------------------------
 * With log-probabilities lp, per-class weights w (all 1 without weights),
 * smoothing eps, K classes and the non-ignored samples S, PyTorch 1.13 computes
 *   W    = sum_{i in S} w[t_i]
 *   loss = (1-eps) * sum_{i in S} w[t_i] * -lp[i][t_i] / W
 *        +  eps/K  * sum_{i in S} sum_c w[c] * -lp[i][c] / W
 * so both terms share the denominator W. Its gradient in logit j of
 * sample i in S is, with p the softmax and Sw = sum_c w[c],
 *   (1-eps) * w[t_i] * (p_j - [j == t_i]) / W + eps/K * (p_j * Sw - w[j]) / W
 * and ignored samples get none. */

typedef struct {
  double wsum; /* W: the summed weight of the non-ignored targets */
  double sw;   /* Sw: the sum of all class weights (K without weights) */
} xent_totals;

/* Validates the descriptor and the labels, and sums the weights. */
static graft_status xent_prepare(const char *op, const graft_xent_desc *d, const float *logits,
                                 const int32_t *labels, xent_totals *tot) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->n < 0 || d->k < 1) GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d k=%d", op, d->n, d->k);
  if (!(d->label_smoothing >= 0.0f && d->label_smoothing <= 1.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: label smoothing %g is outside [0, 1]", op,
               (double)d->label_smoothing);
  if (d->n > 0 && (!logits || !labels)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  const float *cw = d->class_weight; /* (K) or NULL */
  double wsum = 0.0;
  for (int i = 0; i < d->n; i++) {
    const int t = labels[i];
    if (t == d->ignore_index) continue;
    if (t < 0 || t >= d->k)
      GRAFT_FAIL(GRAFT_EINVAL, "%s: sample %d has label %d outside [0, %d) (ignore_index %d)", op,
                 i, t, d->k, d->ignore_index);
    wsum += cw ? (double)cw[t] : 1.0;
  }
  double sw = d->k;
  if (cw) {
    sw = 0.0;
    for (int c = 0; c < d->k; c++) sw += cw[c];
  }
  tot->wsum = wsum;
  tot->sw = sw;
  return GRAFT_OK;
}

/* log(sum_c exp(z_c)) of one row, shifted by its maximum so that nothing
 * overflows. */
static double row_logsumexp(const float *z, /* (K) */ int k) {
  float mx = z[0];
  for (int c = 1; c < k; c++)
    if (z[c] > mx) mx = z[c];
  double s = 0.0;
  for (int c = 0; c < k; c++) s += exp((double)z[c] - (double)mx);
  return (double)mx + log(s);
}

graft_status graft_xent_forward_ref(graft_ctx *ctx, const graft_xent_desc *d,
                                    const float *logits,   /* (N, K) */
                                    const int32_t *labels, /* (N) */
                                    float *loss)           /* (1) */
{
  xent_totals tot;
  GRAFT_TRY(xent_prepare("xent_forward", d, logits, labels, &tot));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "xent_forward: NULL loss");
  const int n = d->n, k = d->k, ignore = d->ignore_index;
  const float *cw = d->class_weight; /* (K) or NULL */
  const double eps = d->label_smoothing;
  double nll = 0.0, smooth = 0.0;
#pragma omp parallel for num_threads(loss_threads(ctx)) reduction(+ : nll, smooth) \
    if ((int64_t)n * k >= LOSS_PARALLEL_MIN)
  for (int i = 0; i < n; i++) {
    const int t = labels[i];
    if (t == ignore) continue;
    const float *z = logits + (int64_t)i * k; /* (K) */
    const double lse = row_logsumexp(z, k);
    nll += (cw ? (double)cw[t] : 1.0) * (lse - (double)z[t]);
    if (eps > 0.0) {
      double s = 0.0;
      for (int c = 0; c < k; c++) s += (cw ? (double)cw[c] : 1.0) * (lse - (double)z[c]);
      smooth += s;
    }
  }
  /* When every sample is ignored W is 0 and the mean is 0/0 = NaN, which is
   * what PyTorch returns too. */
  double l = (1.0 - eps) * nll / tot.wsum;
  if (eps > 0.0) l += eps / k * smooth / tot.wsum;
  *loss = (float)l;
  return GRAFT_OK;
}

graft_status graft_xent_backward_ref(graft_ctx *ctx, const graft_xent_desc *d,
                                     const float *logits,   /* (N, K) */
                                     const int32_t *labels, /* (N) */
                                     const float *dloss,    /* (1) */
                                     float *dlogits)        /* (N, K) accumulated, or NULL */
{
  xent_totals tot;
  GRAFT_TRY(xent_prepare("xent_backward", d, logits, labels, &tot));
  if (!dlogits) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "xent_backward: NULL dloss");
  const int n = d->n, k = d->k, ignore = d->ignore_index;
  const float *cw = d->class_weight; /* (K) or NULL */
  const double eps = d->label_smoothing;
  const double g = *dloss;
  const double a = g * (1.0 - eps) / tot.wsum; /* scale of the target term */
  const double b = g * eps / k / tot.wsum;     /* scale of the smoothing term */
#pragma omp parallel for num_threads(loss_threads(ctx)) if ((int64_t)n * k >= LOSS_PARALLEL_MIN)
  for (int i = 0; i < n; i++) {
    const int t = labels[i];
    if (t == ignore) continue;
    const float *z = logits + (int64_t)i * k; /* (K) */
    float *dz = dlogits + (int64_t)i * k;     /* (K) */
    const double lse = row_logsumexp(z, k);
    const double wt = cw ? (double)cw[t] : 1.0;
    for (int j = 0; j < k; j++) {
      const double p = exp((double)z[j] - lse);
      const double wj = cw ? (double)cw[j] : 1.0;
      double gj = a * wt * (p - (j == t ? 1.0 : 0.0));
      if (eps > 0.0) gj += b * (p * tot.sw - wj);
      dz[j] += (float)gj;
    }
  }
  return GRAFT_OK;
}

/* ---- binary cross-entropy with logits and mean squared error ----------- */

static graft_status pair_check(const char *op, int64_t n, const float *a, const float *b) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (n > 0 && (!a || !b)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

graft_status graft_bce_forward_ref(graft_ctx *ctx, int64_t n,
                                   const float *logits,  /* (n) */
                                   const float *targets, /* (n) */
                                   float *loss)          /* (1) */
{
  GRAFT_TRY(pair_check("bce_forward", n, logits, targets));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "bce_forward: NULL loss");
  double s = 0.0;
#pragma omp parallel for num_threads(loss_threads(ctx)) reduction(+ : s) \
    if (n >= LOSS_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) s += graft_bce_term(logits[i], targets[i]);
  /* An empty input gives 0/0 = NaN, as PyTorch's mean of nothing does. */
  *loss = (float)(s / (double)n);
  return GRAFT_OK;
}

graft_status graft_bce_backward_ref(graft_ctx *ctx, int64_t n,
                                    const float *logits,  /* (n) */
                                    const float *targets, /* (n) */
                                    const float *dloss,   /* (1) */
                                    float *dlogits)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(pair_check("bce_backward", n, logits, targets));
  if (!dlogits || n == 0) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "bce_backward: NULL dloss");
  const float scale = *dloss / (float)n;
#pragma omp parallel for num_threads(loss_threads(ctx)) if (n >= LOSS_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) dlogits[i] += scale * (graft_sigmoidf(logits[i]) - targets[i]);
  return GRAFT_OK;
}

graft_status graft_mse_forward_ref(graft_ctx *ctx, int64_t n,
                                   const float *pred,   /* (n) */
                                   const float *target, /* (n) */
                                   float *loss)         /* (1) */
{
  GRAFT_TRY(pair_check("mse_forward", n, pred, target));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "mse_forward: NULL loss");
  double s = 0.0;
#pragma omp parallel for num_threads(loss_threads(ctx)) reduction(+ : s) \
    if (n >= LOSS_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) s += graft_mse_term(pred[i], target[i]);
  /* An empty input gives 0/0 = NaN, as PyTorch's mean of nothing does. */
  *loss = (float)(s / (double)n);
  return GRAFT_OK;
}

graft_status graft_mse_backward_ref(graft_ctx *ctx, int64_t n,
                                    const float *pred,   /* (n) */
                                    const float *target, /* (n) */
                                    const float *dloss,  /* (1) */
                                    float *dpred)        /* (n) accumulated, or NULL */
{
  GRAFT_TRY(pair_check("mse_backward", n, pred, target));
  if (!dpred || n == 0) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "mse_backward: NULL dloss");
  const float scale = 2.0f * *dloss / (float)n;
#pragma omp parallel for num_threads(loss_threads(ctx)) if (n >= LOSS_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) dpred[i] += scale * (pred[i] - target[i]);
  return GRAFT_OK;
}

/* bn_args.h: the argument checks of the batch-norm ops, plain and fused,
 * shared by the CPU reference (bn_act_ref.c) and the GPU backend
 * (cuda/bn_act.cu) so that both refuse the same calls with the same
 * messages. Header-only; C and CUDA. */
#ifndef GRAFT_BN_ARGS_H
#define GRAFT_BN_ARGS_H

#include <math.h>

#include "core/log.h"
#include "ops/ops.h"

/* The descriptor (shape, eps, momentum; training needs M > 1) and the
 * activation (the fused ops take the identity and the ReLU). */
static inline graft_status graft_bn_check(const char *op, const graft_bn_desc *d, int training, graft_act act) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->m < 1 || d->c < 1) GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape (M %lld, C %d)", op, (long long)d->m, d->c);
  if (training && d->m < 2)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: training needs more than 1 value per channel (M %lld)", op, (long long)d->m);
  if (!(d->eps >= 0.0f) || !isfinite(d->eps) || !isfinite(d->momentum))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad eps %g or momentum %g", op, (double)d->eps, (double)d->momentum);
  if (act != GRAFT_ACT_IDENTITY && act != GRAFT_ACT_RELU)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: activation %d is not fused (identity or ReLU only)", op, (int)act);
  return GRAFT_OK;
}

static inline graft_status graft_bn_forward_train_args(const char *op, const graft_bn_desc *d, graft_act act,
                                                       const float *x, const float *gamma, const float *beta,
                                                       const float *running_mean, const float *running_var,
                                                       const float *y, const float *save_mean,
                                                       const float *save_invstd) {
  GRAFT_TRY(graft_bn_check(op, d, 1, act));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: running_mean and running_var must both be given or both be NULL", op);
  return GRAFT_OK;
}

static inline graft_status graft_bn_forward_eval_args(const char *op, const graft_bn_desc *d, graft_act act,
                                                      const float *x, const float *gamma, const float *beta,
                                                      const float *running_mean, const float *running_var,
                                                      const float *y) {
  GRAFT_TRY(graft_bn_check(op, d, 0, act));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

/* y, the forward output, is needed only for the ReLU's mask. */
static inline graft_status graft_bn_backward_train_args(const char *op, const graft_bn_desc *d, graft_act act,
                                                        const float *x, const float *y, const float *dy,
                                                        const float *gamma, const float *save_mean,
                                                        const float *save_invstd) {
  GRAFT_TRY(graft_bn_check(op, d, 1, act));
  if (!x || !dy || !gamma || !save_mean || !save_invstd || (act != GRAFT_ACT_IDENTITY && !y))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

/* x and running_mean are needed only for the parameters' gradients. */
static inline graft_status graft_bn_backward_eval_args(const char *op, const graft_bn_desc *d, graft_act act,
                                                       const float *x, const float *y, const float *dy,
                                                       const float *gamma, const float *running_mean,
                                                       const float *running_var, int want_params) {
  GRAFT_TRY(graft_bn_check(op, d, 0, act));
  if (!dy || !gamma || !running_var || (act != GRAFT_ACT_IDENTITY && !y) || (want_params && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

#endif

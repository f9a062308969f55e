/* bn_act.cu: batch normalization fused with an optional residual add and
 * an activation on the device, y = act(bn(x) + residual): the end of every
 * ResNet block, and without the residual its BN + ReLU. The semantics and
 * the float operations are those of the CPU reference (host/ops/
 * bn_act_ref.c), which are those of bn, add and act run one after the
 * other.
 *
 * Stages 1 and 2 (per-channel sums in double, then statistics or
 * coefficients) are batchnorm.cu's, from batchnorm_impl.cuh; fusing saves
 * whole passes over the (M, C) values:
 *  - forward: the statistics pass over x, then one pass that reads x and
 *    the residual and writes y (unfused: three more passes for the add and
 *    the activation);
 *  - backward: one reduction pass that forms dz = dy * act' from dy and
 *    the forward output y on the fly, summing dz and dz * (x - mean), then
 *    one pass that forms dz again and writes dx and dresidual (unfused, dz
 *    and the add's gradients are written and read back).
 * The passes round each product on its own (graft_mul_rn), as the
 * reference does. Nothing is allocated; the sums and coefficients live in
 * the context's workspace, as in batchnorm.cu. */
#include "batchnorm_impl.cuh"
#include "ops/math.h"

/* The loader of dz, the gradient that reaches the batch norm through the
 * activation. For ReLU the input was positive exactly where the output is,
 * so graft_act_grad can be given y for both. */
struct bn_act_dz {
  const float *dy; /* (M, C) */
  const float *y;  /* (M, C) forward output, or NULL for the identity: dz = dy */
  int act;
  __device__ float operator()(int64_t e) const {
    return y ? graft_mul_rn(dy[e], graft_act_grad(act, 0.0f, y[e], y[e])) : dy[e];
  }
};

/* y = act((x - mean) * scale + shift + residual), the add skipped when
 * residual is NULL. */
static __global__ void bn_act_normalize_kernel(int64_t total, int c, int act,
                                               const float *__restrict__ x,        /* (M, C) */
                                               const float *__restrict__ mean,     /* (C) */
                                               const float *__restrict__ scale,    /* (C) */
                                               const float *__restrict__ shift,    /* (C) */
                                               const float *__restrict__ residual, /* (M, C) or NULL */
                                               float *__restrict__ y)              /* (M, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    float t = graft_mul_rn(x[e] - mean[ch], scale[ch]) + shift[ch];
    if (residual) t += residual[e];
    y[e] = graft_act_value(act, 0.0f, t);
  }
}

/* With dz from the loader: dres += dz, and dx += (dz - mdy) * a -
 * (x - mean) * g; with g NULL the eval form dx += dz * a, where x, mdy and
 * mean are unused. dx and dres may each be NULL (the coefficients are then
 * unused when dx is). */
static __global__ void bn_act_dx_kernel(int64_t total, int c, bn_act_dz dz_of,
                                        const float *__restrict__ x,    /* (M, C) or NULL */
                                        const float *__restrict__ mdy,  /* (C) or NULL */
                                        const float *__restrict__ a,    /* (C) */
                                        const float *__restrict__ mean, /* (C) or NULL */
                                        const float *__restrict__ g,    /* (C) or NULL */
                                        float *__restrict__ dx,   /* (M, C) accumulated or NULL */
                                        float *__restrict__ dres) /* (M, C) accumulated or NULL */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    const float dz = dz_of(e);
    if (dres) dres[e] += dz;
    if (dx) {
      if (g)
        dx[e] += graft_mul_rn(dz - mdy[ch], a[ch]) - graft_mul_rn(x[e] - mean[ch], g[ch]);
      else
        dx[e] += graft_mul_rn(dz, a[ch]);
    }
  }
}

static graft_status bn_act_check(const char *op, graft_act act) {
  if (act != GRAFT_ACT_IDENTITY && act != GRAFT_ACT_RELU)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: activation %d is not fused (identity or ReLU only)", op,
               (int)act);
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_act_forward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                       graft_act act,
                                                       const float *x,        /* (M, C) */
                                                       const float *gamma,    /* (C) */
                                                       const float *beta,     /* (C) */
                                                       float *running_mean,   /* (C) or NULL */
                                                       float *running_var,    /* (C) or NULL */
                                                       const float *residual, /* (M, C) or NULL */
                                                       float *y,              /* (M, C) */
                                                       float *save_mean,      /* (C) */
                                                       float *save_invstd)    /* (C) */
{
  static const char op[] = "bn_act_forward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  GRAFT_TRY(bn_act_check(op, act));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: running_mean and running_var must both be given or both be NULL",
               op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 1, bn_plain{x}, x, NULL));
  bn_train_stats_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->m, d->c, s.chunks, (double)d->eps, (double)d->momentum, x, gamma, s.s1, s.s2,
      running_mean, running_var, save_mean, save_invstd, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  const int64_t total = d->m * d->c;
  bn_act_normalize_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
      total, d->c, (int)act, x, save_mean, s.coef, beta, residual, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_act_forward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                      graft_act act,
                                                      const float *x,            /* (M, C) */
                                                      const float *gamma,        /* (C) */
                                                      const float *beta,         /* (C) */
                                                      const float *running_mean, /* (C) */
                                                      const float *running_var,  /* (C) */
                                                      const float *residual, /* (M, C) or NULL */
                                                      float *y)              /* (M, C) */
{
  static const char op[] = "bn_act_forward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  GRAFT_TRY(bn_act_check(op, act));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->c, 0, 0, (double)d->eps, gamma, running_var, NULL, NULL, NULL, NULL, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  const int64_t total = d->m * d->c;
  bn_act_normalize_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
      total, d->c, (int)act, x, running_mean, s.coef, beta, residual, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_act_backward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                        graft_act act,
                                                        const float *x,  /* (M, C) */
                                                        const float *y,  /* (M, C) forward output */
                                                        const float *dy, /* (M, C) */
                                                        const float *gamma,       /* (C) */
                                                        const float *save_mean,   /* (C) */
                                                        const float *save_invstd, /* (C) */
                                                        float *dx,        /* (M, C) or NULL */
                                                        float *dresidual, /* (M, C) or NULL */
                                                        float *dgamma,    /* (C) or NULL */
                                                        float *dbeta)     /* (C) or NULL */
{
  static const char op[] = "bn_act_backward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  GRAFT_TRY(bn_act_check(op, act));
  if (!x || !dy || !gamma || !save_mean || !save_invstd || (act != GRAFT_ACT_IDENTITY && !y))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !dresidual && !dgamma && !dbeta) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const bn_act_dz dz = {dy, act == GRAFT_ACT_IDENTITY ? NULL : y, (int)act};
  if (dx || dgamma || dbeta) {
    /* s1 = sum dz, s2 = sum dz * (x - mean) */
    GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dz, x, save_mean));
    bn_grad_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->m, d->c, s.chunks, gamma, save_invstd, s.s1, s.s2, dgamma, dbeta, s.coef);
    GRAFT_LAUNCH_CHECK(g);
  }
  if (dx || dresidual) {
    const int64_t total = d->m * d->c;
    const float *a = s.coef, *mdz = s.coef + d->c, *gc = s.coef + 2 * d->c; /* (C) each */
    bn_act_dx_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, d->c, dz, x, mdz, a, save_mean, gc, dx, dresidual);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_act_backward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                       graft_act act,
                                                       const float *x,  /* (M, C) */
                                                       const float *y,  /* (M, C) forward output */
                                                       const float *dy, /* (M, C) */
                                                       const float *gamma,        /* (C) */
                                                       const float *running_mean, /* (C) */
                                                       const float *running_var,  /* (C) */
                                                       float *dx,        /* (M, C) or NULL */
                                                       float *dresidual, /* (M, C) or NULL */
                                                       float *dgamma,    /* (C) or NULL */
                                                       float *dbeta)     /* (C) or NULL */
{
  static const char op[] = "bn_act_backward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  GRAFT_TRY(bn_act_check(op, act));
  const int want_params = dgamma || dbeta;
  if (!dy || !gamma || !running_var || (act != GRAFT_ACT_IDENTITY && !y) ||
      (want_params && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !dresidual && !want_params) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const bn_act_dz dz = {dy, act == GRAFT_ACT_IDENTITY ? NULL : y, (int)act};
  /* s1 = sum dz, s2 = sum dz * (x - running_mean) */
  if (want_params) GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dz, x, running_mean));
  bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->c, s.chunks, 1, (double)d->eps, gamma, running_var, want_params ? s.s1 : NULL,
      want_params ? s.s2 : NULL, dgamma, dbeta, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  if (dx || dresidual) {
    const int64_t total = d->m * d->c;
    bn_act_dx_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, d->c, dz, NULL, NULL, s.coef, NULL, NULL, dx, dresidual);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

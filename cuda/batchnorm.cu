/* batchnorm.cu: batch normalization over the channel (last) axis of an
 * (M, C) view on the device, with the semantics of the CPU reference
 * (host/ops/batchnorm_ref.c): PyTorch's BatchNorm2d in training and eval
 * mode, running statistics updated with the unbiased variance.
 *
 * Every op is at most three launches on the context's stream:
 *  1. bn_sums_kernel: the per-channel sums the op needs, in double. A block
 *     owns BN_CH channels and one of `chunks` row ranges; its BN_ROWS rows
 *     of threads each sum a strided share of the rows (reads of consecutive
 *     channels are coalesced), the row partials are added in a fixed order
 *     and the block writes one partial per channel to the workspace.
 *  2. a per-channel kernel that adds the chunk partials in chunk order and
 *     turns them into the statistics, the parameter gradients and the
 *     coefficients of the elementwise pass (floats in the workspace).
 *  3. an elementwise pass over the M x C values.
 * The number of chunks depends only on M and C, never on the device or the
 * scheduling, and no float is added atomically, so every run gives the same
 * bits. As in the reference, the forward sums are taken about the first
 * row, which lies near the mean, so the variance is not the difference of
 * two large numbers. The elementwise passes round each product on its own
 * (graft_mul_rn), as the reference does, so that given the same
 * coefficients they produce the same floats. Stages 1 and 2 live in
 * batchnorm_impl.cuh, shared with the fused ops of bn_act.cu.
 *
 * x, y, dy and dx are stored as ctx->act_dtype (ops.h); the kernels that
 * touch them are templates over the element type T, instantiated by
 * GRAFT_ACT_DISPATCH. In bf16 each value is widened on load, everything is
 * computed in fp32 as with fp32 storage, and each value written is rounded
 * once: y from its fp32 value, dx after its fp32 add (dx += ... reads the
 * bf16 dx, adds in fp32 and rounds the sum). */
#include "batchnorm_impl.cuh"
#include "ops/math.h"

/* y = (x - mean) * scale + shift. */
template <typename T>
static __global__ void bn_normalize_kernel(int64_t total, int c,
                                           const T *__restrict__ x,         /* (M, C) */
                                           const float *__restrict__ mean,  /* (C) */
                                           const float *__restrict__ scale, /* (C) */
                                           const float *__restrict__ shift, /* (C) */
                                           T *__restrict__ y)               /* (M, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    act_st(y, e, graft_mul_rn(act_ld(x, e) - mean[ch], scale[ch]) + shift[ch]);
  }
}

/* dx += (dy - mdy) * a - (x - mean) * g; with g NULL the eval form
 * dx += dy * a, where x, mdy and mean are unused. */
template <typename T>
static __global__ void bn_dx_kernel(int64_t total, int c,
                                    const T *__restrict__ x,        /* (M, C) or NULL */
                                    const T *__restrict__ dy,       /* (M, C) */
                                    const float *__restrict__ mdy,  /* (C) or NULL */
                                    const float *__restrict__ a,    /* (C) */
                                    const float *__restrict__ mean, /* (C) or NULL */
                                    const float *__restrict__ g,    /* (C) or NULL */
                                    T *__restrict__ dx)             /* (M, C) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    if (g)
      act_st(dx, e,
             act_ld(dx, e) + (graft_mul_rn(act_ld(dy, e) - mdy[ch], a[ch]) -
                              graft_mul_rn(act_ld(x, e) - mean[ch], g[ch])));
    else
      act_st(dx, e, act_ld(dx, e) + graft_mul_rn(act_ld(dy, e), a[ch]));
  }
}


extern "C" graft_status graft_bn_forward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                   const float *x,      /* (M, C) */
                                                   const float *gamma,  /* (C) */
                                                   const float *beta,   /* (C) */
                                                   float *running_mean, /* (C) in/out or NULL */
                                                   float *running_var,  /* (C) in/out or NULL */
                                                   float *y,            /* (M, C) */
                                                   float *save_mean,    /* (C) */
                                                   float *save_invstd)  /* (C) */
{
  static const char op[] = "bn_forward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: running_mean and running_var must both be given or both be NULL",
               op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    const T *xt = act_ptr<T>(x); /* (M, C) */
    GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 1, bn_plain<T>{xt}, xt, NULL));
    bn_train_stats_kernel<T><<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->m, d->c, s.chunks, (double)d->eps, (double)d->momentum, xt, gamma, s.s1, s.s2,
        running_mean, running_var, save_mean, save_invstd, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    bn_normalize_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, d->c, xt, save_mean, s.coef, beta, act_ptr<T>(y));
    GRAFT_LAUNCH_CHECK(g);
  });
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_forward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                  const float *x,            /* (M, C) */
                                                  const float *gamma,        /* (C) */
                                                  const float *beta,         /* (C) */
                                                  const float *running_mean, /* (C) */
                                                  const float *running_var,  /* (C) */
                                                  float *y)                  /* (M, C) */
{
  static const char op[] = "bn_forward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->c, 0, 0, (double)d->eps, gamma, running_var, NULL, NULL, NULL, NULL, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    bn_normalize_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, d->c, act_ptr<T>(x), running_mean, s.coef, beta, act_ptr<T>(y));
    GRAFT_LAUNCH_CHECK(g);
  });
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_backward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                    const float *x,           /* (M, C) */
                                                    const float *dy,          /* (M, C) */
                                                    const float *gamma,       /* (C) */
                                                    const float *save_mean,   /* (C) */
                                                    const float *save_invstd, /* (C) */
                                                    float *dx,     /* (M, C) or NULL */
                                                    float *dgamma, /* (C) or NULL */
                                                    float *dbeta)  /* (C) or NULL */
{
  static const char op[] = "bn_backward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  if (!x || !dy || !gamma || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !dgamma && !dbeta) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  const float *a = s.coef, *mdy = s.coef + d->c, *gc = s.coef + 2 * d->c; /* (C) each */
  GRAFT_ACT_DISPATCH(ctx, {
    const T *xt = act_ptr<T>(x), *dyt = act_ptr<T>(dy); /* (M, C) each */
    /* s1 = sum dy, s2 = sum dy * (x - mean) */
    GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, bn_plain<T>{dyt}, xt, save_mean));
    bn_grad_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->m, d->c, s.chunks, gamma, save_invstd, s.s1, s.s2, dgamma, dbeta, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    if (dx) {
      bn_dx_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
          total, d->c, xt, dyt, mdy, a, save_mean, gc, act_ptr<T>(dx));
      GRAFT_LAUNCH_CHECK(g);
    }
  });
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_backward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                   const float *x,            /* (M, C) */
                                                   const float *dy,           /* (M, C) */
                                                   const float *gamma,        /* (C) */
                                                   const float *running_mean, /* (C) */
                                                   const float *running_var,  /* (C) */
                                                   float *dx,     /* (M, C) or NULL */
                                                   float *dgamma, /* (C) or NULL */
                                                   float *dbeta)  /* (C) or NULL */
{
  static const char op[] = "bn_backward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  const int want_params = dgamma || dbeta;
  if (!dy || !gamma || !running_var || (want_params && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !want_params) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    const T *dyt = act_ptr<T>(dy); /* (M, C) */
    /* s1 = sum dy, s2 = sum dy * (x - running_mean) */
    if (want_params)
      GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, bn_plain<T>{dyt}, act_ptr<T>(x), running_mean));
    bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->c, s.chunks, 1, (double)d->eps, gamma, running_var, want_params ? s.s1 : NULL,
        want_params ? s.s2 : NULL, dgamma, dbeta, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    if (dx) {
      bn_dx_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
          total, d->c, (const T *)NULL, dyt, NULL, s.coef, NULL, NULL, act_ptr<T>(dx));
      GRAFT_LAUNCH_CHECK(g);
    }
  });
  return GRAFT_OK;
}

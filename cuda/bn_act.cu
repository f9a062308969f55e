/* bn_act.cu: batch normalization fused with an optional residual add and
 * an activation on the device, y = act(bn(x) + residual): the end of every
 * ResNet block, and without the residual its BN + ReLU. The semantics and
 * the float operations are those of the CPU reference (host/ops/
 * bn_act_ref.c), which are those of bn, add and act run one after the
 * other.
 *
 * Stages 1 and 2 (per-channel sums in double, then statistics or
 * coefficients) come from batchnorm_impl.cuh. The plain batch norm of
 * batchnorm.cu is this op with the identity and no residual. Fusing saves
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
 * the context's workspace.
 *
 * x, residual, y, dy, dx and dresidual are stored as ctx->act_dtype
 * (ops.h): the kernels are templates over the element type T, instantiated
 * by GRAFT_ACT_DISPATCH. In bf16 each value is widened on load and
 * everything is computed in fp32; y is rounded once from its fp32 value,
 * and dx and dresidual are read, added to in fp32 and rounded back. The
 * ReLU mask is read from the stored y: rounding to bf16 keeps the sign and
 * keeps zero zero, so y > 0 is the same test as before the rounding. */
#include "batchnorm_impl.cuh"
#include "ops/bn_args.h"
#include "ops/math.h"

/* The loader of dz, the gradient that reaches the batch norm through the
 * activation. For ReLU the input was positive exactly where the output is,
 * so graft_act_grad can be given y for both. */
template <typename T> struct bn_act_dz {
  const T *dy; /* (M, C) */
  const T *y;  /* (M, C) forward output, or NULL for the identity: dz = dy */
  int act;
  __device__ float operator()(int64_t e) const {
    return y ? graft_mul_rn(act_ld(dy, e), graft_act_grad(act, 0.0f, act_ld(y, e), act_ld(y, e)))
             : act_ld(dy, e);
  }
};

/* The channel of element e of an (M, C) tensor: e % C through a divider
 * (ops/math.h) when every index fits 31 bits, which turns the remainder
 * into a multiply and a shift; a plain 64-bit remainder otherwise. */
struct bn_channels {
  graft_divider div;
  int c;
  int fast;
  __device__ int of(int64_t e) const {
    return fast ? (int)graft_divider_mod(div, (uint32_t)e) : (int)(e % c);
  }
};

static bn_channels bn_channels_of(int64_t total, int c) {
  bn_channels k;
  k.div = graft_divider_make((uint32_t)c);
  k.c = c;
  k.fast = total <= (int64_t)INT32_MAX;
  return k;
}

/* y = act((x - mean) * scale + shift + residual), the add skipped when
 * residual is NULL. */
template <typename T>
static __global__ void bn_act_normalize_kernel(int64_t total, bn_channels chan, int act,
                                               const T *__restrict__ x,            /* (M, C) */
                                               const float *__restrict__ mean,     /* (C) */
                                               const float *__restrict__ scale,    /* (C) */
                                               const float *__restrict__ shift,    /* (C) */
                                               const T *__restrict__ residual, /* (M, C) or NULL */
                                               T *__restrict__ y)              /* (M, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = chan.of(e);
    float t = graft_mul_rn(act_ld(x, e) - mean[ch], scale[ch]) + shift[ch];
    if (residual) t += act_ld(residual, e);
    act_st(y, e, graft_act_value(act, 0.0f, t));
  }
}

/* With dz from the loader: dres += dz, and dx += (dz - mdy) * a -
 * (x - mean) * g; with g NULL the eval form dx += dz * a, where x, mdy and
 * mean are unused. dx and dres may each be NULL (the coefficients are then
 * unused when dx is). */
template <typename T>
static __global__ void bn_act_dx_kernel(int64_t total, bn_channels chan, bn_act_dz<T> dz_of,
                                        const T *__restrict__ x,        /* (M, C) or NULL */
                                        const float *__restrict__ mdy,  /* (C) or NULL */
                                        const float *__restrict__ a,    /* (C) */
                                        const float *__restrict__ mean, /* (C) or NULL */
                                        const float *__restrict__ g,    /* (C) or NULL */
                                        T *__restrict__ dx,   /* (M, C) accumulated or NULL */
                                        T *__restrict__ dres) /* (M, C) accumulated or NULL */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = chan.of(e);
    const float dz = dz_of(e);
    if (dres) act_st(dres, e, act_ld(dres, e) + dz);
    if (dx) {
      if (g)
        act_st(dx, e,
               act_ld(dx, e) + (graft_mul_rn(dz - mdy[ch], a[ch]) -
                                graft_mul_rn(act_ld(x, e) - mean[ch], g[ch])));
      else
        act_st(dx, e, act_ld(dx, e) + graft_mul_rn(dz, a[ch]));
    }
  }
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
  static const char op[] = "batch norm forward (train)";
  GRAFT_TRY(graft_bn_forward_train_args(op, d, act, x, gamma, beta, running_mean, running_var, y,
                                        save_mean, save_invstd));
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
    bn_act_normalize_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, bn_channels_of(total, d->c), (int)act, xt, save_mean, s.coef, beta,
        act_ptr<T>(residual), act_ptr<T>(y));
    GRAFT_LAUNCH_CHECK(g);
  });
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
  static const char op[] = "batch norm forward (eval)";
  GRAFT_TRY(graft_bn_forward_eval_args(op, d, act, x, gamma, beta, running_mean, running_var, y));
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->c, 0, 0, (double)d->eps, gamma, running_var, NULL, NULL, NULL, NULL, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    bn_act_normalize_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, bn_channels_of(total, d->c), (int)act, act_ptr<T>(x), running_mean, s.coef, beta,
        act_ptr<T>(residual), act_ptr<T>(y));
    GRAFT_LAUNCH_CHECK(g);
  });
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
  static const char op[] = "batch norm backward (train)";
  GRAFT_TRY(graft_bn_backward_train_args(op, d, act, x, y, dy, gamma, save_mean, save_invstd));
  if (!dx && !dresidual && !dgamma && !dbeta) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  const float *a = s.coef, *mdz = s.coef + d->c, *gc = s.coef + 2 * d->c; /* (C) each */
  GRAFT_ACT_DISPATCH(ctx, {
    const T *xt = act_ptr<T>(x); /* (M, C) */
    const bn_act_dz<T> dz = {act_ptr<T>(dy), act == GRAFT_ACT_IDENTITY ? NULL : act_ptr<T>(y),
                             (int)act};
    if (dx || dgamma || dbeta) {
      /* s1 = sum dz, s2 = sum dz * (x - mean) */
      GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dz, xt, save_mean));
      bn_grad_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
          d->m, d->c, s.chunks, gamma, save_invstd, s.s1, s.s2, dgamma, dbeta, s.coef);
      GRAFT_LAUNCH_CHECK(g);
    }
    if (dx || dresidual) {
      bn_act_dx_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
          total, bn_channels_of(total, d->c), dz, xt, mdz, a, save_mean, gc, act_ptr<T>(dx),
          act_ptr<T>(dresidual));
      GRAFT_LAUNCH_CHECK(g);
    }
  });
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
  static const char op[] = "batch norm backward (eval)";
  const int want_params = dgamma || dbeta;
  GRAFT_TRY(graft_bn_backward_eval_args(op, d, act, x, y, dy, gamma, running_mean, running_var,
                                        want_params));
  if (!dx && !dresidual && !want_params) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = d->m * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    const bn_act_dz<T> dz = {act_ptr<T>(dy), act == GRAFT_ACT_IDENTITY ? NULL : act_ptr<T>(y),
                             (int)act};
    /* s1 = sum dz, s2 = sum dz * (x - running_mean) */
    if (want_params) GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dz, act_ptr<T>(x), running_mean));
    bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
        d->c, s.chunks, 1, (double)d->eps, gamma, running_var, want_params ? s.s1 : NULL,
        want_params ? s.s2 : NULL, dgamma, dbeta, s.coef);
    GRAFT_LAUNCH_CHECK(g);
    if (dx || dresidual) {
      bn_act_dx_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
          total, bn_channels_of(total, d->c), dz, NULL, NULL, s.coef, NULL, NULL, act_ptr<T>(dx),
          act_ptr<T>(dresidual));
      GRAFT_LAUNCH_CHECK(g);
    }
  });
  return GRAFT_OK;
}

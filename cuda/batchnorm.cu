/* batchnorm.cu: batch normalization over the channel (last) axis of an
 * (M, C) view on the device, with the semantics of the CPU reference
 * (host/ops/batchnorm_ref.c): PyTorch's BatchNorm2d in training and eval
 * mode, running statistics updated with the unbiased variance. A plain
 * batch norm is the fused op of bn_act.cu with the identity and no
 * residual, as on the CPU: one set of kernels (deterministic statistics in
 * batchnorm_impl.cuh, then one elementwise pass) serves both. */
#include "ops_gpu.h"

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
  return graft_bn_act_forward_train_gpu(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean,
                                        running_var, NULL, y, save_mean, save_invstd);
}

extern "C" graft_status graft_bn_forward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                  const float *x,            /* (M, C) */
                                                  const float *gamma,        /* (C) */
                                                  const float *beta,         /* (C) */
                                                  const float *running_mean, /* (C) */
                                                  const float *running_var,  /* (C) */
                                                  float *y)                  /* (M, C) */
{
  return graft_bn_act_forward_eval_gpu(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean,
                                       running_var, NULL, y);
}

extern "C" graft_status graft_bn_backward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                    const float *x,           /* (M, C) */
                                                    const float *dy,          /* (M, C) */
                                                    const float *gamma,       /* (C) */
                                                    const float *save_mean,   /* (C) */
                                                    const float *save_invstd, /* (C) */
                                                    float *dx,                /* (M, C) or NULL */
                                                    float *dgamma,            /* (C) or NULL */
                                                    float *dbeta)             /* (C) or NULL */
{
  return graft_bn_act_backward_train_gpu(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, save_mean,
                                         save_invstd, dx, NULL, dgamma, dbeta);
}

extern "C" graft_status graft_bn_backward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                   const float *x,            /* (M, C) */
                                                   const float *dy,           /* (M, C) */
                                                   const float *gamma,        /* (C) */
                                                   const float *running_mean, /* (C) */
                                                   const float *running_var,  /* (C) */
                                                   float *dx,                 /* (M, C) or NULL */
                                                   float *dgamma,             /* (C) or NULL */
                                                   float *dbeta)              /* (C) or NULL */
{
  return graft_bn_act_backward_eval_gpu(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, running_mean,
                                        running_var, dx, NULL, dgamma, dbeta);
}

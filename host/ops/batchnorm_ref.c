/* batchnorm_ref.c: the CPU reference batch normalization over the last
 * (channel) axis of an (M, C) view, with PyTorch's BatchNorm2d semantics.
 * Training mode normalizes with the batch mean and biased variance, saves
 * mean and 1/sqrt(var + eps) for backward, and updates the running
 * statistics with the unbiased variance; eval mode treats the running
 * statistics as constants. A plain batch norm is the fused op of
 * bn_act_ref.c with the identity and no residual: one implementation. */
#include "ops/ops.h"

graft_status graft_bn_forward_train_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,      /* (M, C) */
                                        const float *gamma,  /* (C) */
                                        const float *beta,   /* (C) */
                                        float *running_mean, /* (C) or NULL */
                                        float *running_var,  /* (C) or NULL */
                                        float *y,            /* (M, C) */
                                        float *save_mean,    /* (C) */
                                        float *save_invstd) { /* (C) */
  return graft_bn_act_forward_train_ref(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean, running_var,
                                        NULL, y, save_mean, save_invstd);
}

graft_status graft_bn_forward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                       const float *x,            /* (M, C) */
                                       const float *gamma,        /* (C) */
                                       const float *beta,         /* (C) */
                                       const float *running_mean, /* (C) */
                                       const float *running_var,  /* (C) */
                                       float *y) {                /* (M, C) */
  return graft_bn_act_forward_eval_ref(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean, running_var,
                                       NULL, y);
}

graft_status graft_bn_backward_train_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                         const float *x,           /* (M, C) */
                                         const float *dy,          /* (M, C) */
                                         const float *gamma,       /* (C) */
                                         const float *save_mean,   /* (C) */
                                         const float *save_invstd, /* (C) */
                                         float *dx,                /* (M, C) or NULL */
                                         float *dgamma,            /* (C) or NULL */
                                         float *dbeta) {           /* (C) or NULL */
  return graft_bn_act_backward_train_ref(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, save_mean, save_invstd,
                                         dx, NULL, dgamma, dbeta);
}

graft_status graft_bn_backward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,            /* (M, C) */
                                        const float *dy,           /* (M, C) */
                                        const float *gamma,        /* (C) */
                                        const float *running_mean, /* (C) */
                                        const float *running_var,  /* (C) */
                                        float *dx,                 /* (M, C) or NULL */
                                        float *dgamma,             /* (C) or NULL */
                                        float *dbeta) {            /* (C) or NULL */
  return graft_bn_act_backward_eval_ref(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, running_mean, running_var,
                                        dx, NULL, dgamma, dbeta);
}

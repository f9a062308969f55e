/* batchnorm_ref.c: the CPU reference batch normalization over the last
 * (channel) axis of an (M, C) view, with PyTorch's BatchNorm2d semantics.
 * Training mode normalizes with the batch mean and biased variance, saves
 * mean and 1/sqrt(var + eps) for backward, and updates the running
 * statistics with the unbiased variance; eval mode treats the running
 * statistics as constants. The loops live in batchnorm_impl.h, shared with
 * the fused ops of bn_act_ref.c; this file checks the arguments. */
#include "ops/batchnorm_impl.h"

graft_status graft_bn_forward_train_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,      /* (M, C) */
                                        const float *gamma,  /* (C) */
                                        const float *beta,   /* (C) */
                                        float *running_mean, /* (C) or NULL */
                                        float *running_var,  /* (C) or NULL */
                                        float *y,            /* (M, C) */
                                        float *save_mean,    /* (C) */
                                        float *save_invstd) { /* (C) */
  GRAFT_TRY(bn_check(d, 1));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (train): NULL tensor");
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (train): running_mean and running_var must "
                             "both be given or both be NULL");
  bn_run_forward_train(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean, running_var, NULL,
                       y, save_mean, save_invstd);
  return GRAFT_OK;
}

graft_status graft_bn_forward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                       const float *x,            /* (M, C) */
                                       const float *gamma,        /* (C) */
                                       const float *beta,         /* (C) */
                                       const float *running_mean, /* (C) */
                                       const float *running_var,  /* (C) */
                                       float *y) {                /* (M, C) */
  GRAFT_TRY(bn_check(d, 0));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (eval): NULL tensor");
  bn_run_forward_eval(ctx, d, GRAFT_ACT_IDENTITY, x, gamma, beta, running_mean, running_var, NULL,
                      y);
  return GRAFT_OK;
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
  GRAFT_TRY(bn_check(d, 1));
  if (!x || !dy || !gamma || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm backward (train): NULL tensor");
  if (!dx && !dgamma && !dbeta) return GRAFT_OK;
  bn_run_backward_train(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, save_mean, save_invstd, dx,
                        NULL, dgamma, dbeta);
  return GRAFT_OK;
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
  GRAFT_TRY(bn_check(d, 0));
  if (!dy || !gamma || !running_var || ((dgamma || dbeta) && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm backward (eval): NULL tensor");
  bn_run_backward_eval(ctx, d, GRAFT_ACT_IDENTITY, x, NULL, dy, gamma, running_mean, running_var,
                       dx, NULL, dgamma, dbeta);
  return GRAFT_OK;
}

/* bn_act_ref.c: the CPU reference of batch norm fused with an optional
 * residual add and an activation, y = act(bn(x) + residual), the unit that
 * ends a ResNet block (and, without the residual, the BN + ReLU inside it).
 * The loops are batchnorm_impl.h's, shared with the plain batch norm: the
 * add and the activation ride on the normalizing pass, and the backward
 * recomputes dz = dy * act' from the forward output wherever it needs it,
 * so nothing is allocated and no pass is added. Every float operation is
 * the one of bn, add_forward and act_forward (and of act_backward,
 * accumulate and the bn backward) run one after the other. */
#include "ops/batchnorm_impl.h"
#include "ops/bn_args.h"

/* The activations the fused ops support. */
graft_status graft_bn_act_forward_train_ref(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                            const float *x,        /* (M, C) */
                                            const float *gamma,    /* (C) */
                                            const float *beta,     /* (C) */
                                            float *running_mean,   /* (C) or NULL */
                                            float *running_var,    /* (C) or NULL */
                                            const float *residual, /* (M, C) or NULL */
                                            float *y,              /* (M, C) */
                                            float *save_mean,      /* (C) */
                                            float *save_invstd) {  /* (C) */
  static const char op[] = "batch norm forward (train)";
  GRAFT_TRY(graft_bn_forward_train_args(op, d, act, x, gamma, beta, running_mean, running_var, y, save_mean,
                                        save_invstd));
  bn_run_forward_train(ctx, d, act, x, gamma, beta, running_mean, running_var, residual, y,
                       save_mean, save_invstd);
  return GRAFT_OK;
}

graft_status graft_bn_act_forward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                           const float *x,            /* (M, C) */
                                           const float *gamma,        /* (C) */
                                           const float *beta,         /* (C) */
                                           const float *running_mean, /* (C) */
                                           const float *running_var,  /* (C) */
                                           const float *residual,     /* (M, C) or NULL */
                                           float *y) {                /* (M, C) */
  static const char op[] = "batch norm forward (eval)";
  GRAFT_TRY(graft_bn_forward_eval_args(op, d, act, x, gamma, beta, running_mean, running_var, y));
  bn_run_forward_eval(ctx, d, act, x, gamma, beta, running_mean, running_var, residual, y);
  return GRAFT_OK;
}

graft_status graft_bn_act_backward_train_ref(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                             const float *x,           /* (M, C) */
                                             const float *y,           /* (M, C) forward output */
                                             const float *dy,          /* (M, C) */
                                             const float *gamma,       /* (C) */
                                             const float *save_mean,   /* (C) */
                                             const float *save_invstd, /* (C) */
                                             float *dx,                /* (M, C) or NULL */
                                             float *dresidual,         /* (M, C) or NULL */
                                             float *dgamma,            /* (C) or NULL */
                                             float *dbeta) {           /* (C) or NULL */
  static const char op[] = "batch norm backward (train)";
  GRAFT_TRY(graft_bn_backward_train_args(op, d, act, x, y, dy, gamma, save_mean, save_invstd));
  if (!dx && !dresidual && !dgamma && !dbeta) return GRAFT_OK;
  bn_run_backward_train(ctx, d, act, x, act == GRAFT_ACT_IDENTITY ? NULL : y, dy, gamma,
                        save_mean, save_invstd, dx, dresidual, dgamma, dbeta);
  return GRAFT_OK;
}

graft_status graft_bn_act_backward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                            const float *x,            /* (M, C) */
                                            const float *y,            /* (M, C) forward output */
                                            const float *dy,           /* (M, C) */
                                            const float *gamma,        /* (C) */
                                            const float *running_mean, /* (C) */
                                            const float *running_var,  /* (C) */
                                            float *dx,                 /* (M, C) or NULL */
                                            float *dresidual,          /* (M, C) or NULL */
                                            float *dgamma,             /* (C) or NULL */
                                            float *dbeta) {            /* (C) or NULL */
  static const char op[] = "batch norm backward (eval)";
  GRAFT_TRY(graft_bn_backward_eval_args(op, d, act, x, y, dy, gamma, running_mean, running_var, dgamma || dbeta));
  bn_run_backward_eval(ctx, d, act, x, act == GRAFT_ACT_IDENTITY ? NULL : y, dy, gamma,
                       running_mean, running_var, dx, dresidual, dgamma, dbeta);
  return GRAFT_OK;
}

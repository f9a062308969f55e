/* unsupported.c: the GPU entries of the op families that are not on the
 * device yet (convolution through cuDNN graphs, batch norm, pooling, linear
 * through cuBLASLt). Each says which op is missing and returns
 * GRAFT_EUNSUPPORTED, so a run fails at its first such op with a clear
 * message instead of computing nonsense. */
#include "core/log.h"
#include "ops_gpu.h"

static graft_status not_yet(const char *op) {
  GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s is not implemented on the GPU yet", op);
}

size_t graft_conv2d_workspace_gpu(const graft_conv2d_desc *d) {
  (void)d;
  return 0;
}

graft_status graft_conv2d_forward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                      const float *x, /* (N, H, W, C) */
                                      const float *w, /* (K, R, S, C/groups) */
                                      const float *bias, /* (K) or NULL */
                                      float *y)          /* (N, P, Q, K) */
{
  (void)ctx, (void)d, (void)x, (void)w, (void)bias, (void)y;
  return not_yet("conv2d_forward");
}

graft_status graft_conv2d_backward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                       const float *x,  /* (N, H, W, C) */
                                       const float *w,  /* (K, R, S, C/groups) */
                                       const float *dy, /* (N, P, Q, K) */
                                       float *dx,       /* (N, H, W, C) or NULL */
                                       float *dw,       /* (K, R, S, C/groups) or NULL */
                                       float *dbias)    /* (K) or NULL */
{
  (void)ctx, (void)d, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)dbias;
  return not_yet("conv2d_backward");
}

graft_status graft_bn_forward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,      /* (M, C) */
                                        const float *gamma,  /* (C) */
                                        const float *beta,   /* (C) */
                                        float *running_mean, /* (C) or NULL */
                                        float *running_var,  /* (C) or NULL */
                                        float *y,            /* (M, C) */
                                        float *save_mean,    /* (C) */
                                        float *save_invstd)  /* (C) */
{
  (void)ctx, (void)d, (void)x, (void)gamma, (void)beta, (void)running_mean, (void)running_var;
  (void)y, (void)save_mean, (void)save_invstd;
  return not_yet("bn_forward_train");
}

graft_status graft_bn_forward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                       const float *x,            /* (M, C) */
                                       const float *gamma,        /* (C) */
                                       const float *beta,         /* (C) */
                                       const float *running_mean, /* (C) */
                                       const float *running_var,  /* (C) */
                                       float *y)                  /* (M, C) */
{
  (void)ctx, (void)d, (void)x, (void)gamma, (void)beta, (void)running_mean, (void)running_var;
  (void)y;
  return not_yet("bn_forward_eval");
}

graft_status graft_bn_backward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                         const float *x,           /* (M, C) */
                                         const float *dy,          /* (M, C) */
                                         const float *gamma,       /* (C) */
                                         const float *save_mean,   /* (C) */
                                         const float *save_invstd, /* (C) */
                                         float *dx,                /* (M, C) or NULL */
                                         float *dgamma,            /* (C) or NULL */
                                         float *dbeta)             /* (C) or NULL */
{
  (void)ctx, (void)d, (void)x, (void)dy, (void)gamma, (void)save_mean, (void)save_invstd;
  (void)dx, (void)dgamma, (void)dbeta;
  return not_yet("bn_backward_train");
}

graft_status graft_bn_backward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,            /* (M, C) */
                                        const float *dy,           /* (M, C) */
                                        const float *gamma,        /* (C) */
                                        const float *running_mean, /* (C) */
                                        const float *running_var,  /* (C) */
                                        float *dx,                 /* (M, C) or NULL */
                                        float *dgamma,             /* (C) or NULL */
                                        float *dbeta)              /* (C) or NULL */
{
  (void)ctx, (void)d, (void)x, (void)dy, (void)gamma, (void)running_mean, (void)running_var;
  (void)dx, (void)dgamma, (void)dbeta;
  return not_yet("bn_backward_eval");
}

graft_status graft_pool2d_forward_gpu(graft_ctx *ctx, const graft_pool2d_desc *d,
                                      const float *x, /* (N, H, W, C) */
                                      float *y)       /* (N, P, Q, C) */
{
  (void)ctx, (void)d, (void)x, (void)y;
  return not_yet("pool2d_forward");
}

graft_status graft_pool2d_backward_gpu(graft_ctx *ctx, const graft_pool2d_desc *d,
                                       const float *x,  /* (N, H, W, C) */
                                       const float *y,  /* (N, P, Q, C) */
                                       const float *dy, /* (N, P, Q, C) */
                                       float *dx)       /* (N, H, W, C) or NULL */
{
  (void)ctx, (void)d, (void)x, (void)y, (void)dy, (void)dx;
  return not_yet("pool2d_backward");
}

graft_status graft_linear_forward_gpu(graft_ctx *ctx, const graft_linear_desc *d,
                                      const float *x,    /* (N, in) */
                                      const float *w,    /* (out, in) */
                                      const float *bias, /* (out) or NULL */
                                      float *y)          /* (N, out) */
{
  (void)ctx, (void)d, (void)x, (void)w, (void)bias, (void)y;
  return not_yet("linear_forward");
}

graft_status graft_linear_backward_gpu(graft_ctx *ctx, const graft_linear_desc *d,
                                       const float *x,  /* (N, in) */
                                       const float *w,  /* (out, in) */
                                       const float *dy, /* (N, out) */
                                       float *dx,       /* (N, in) or NULL */
                                       float *dw,       /* (out, in) or NULL */
                                       float *dbias)    /* (out) or NULL */
{
  (void)ctx, (void)d, (void)x, (void)w, (void)dy, (void)dx, (void)dw, (void)dbias;
  return not_yet("linear_backward");
}

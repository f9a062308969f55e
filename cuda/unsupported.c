/* unsupported.c: the GPU entries of the op families that are not on the
 * device yet (convolution through cuDNN graphs). Each says which op is
 * missing and returns GRAFT_EUNSUPPORTED, so a run fails at its first such
 * op with a clear message instead of computing nonsense. */
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

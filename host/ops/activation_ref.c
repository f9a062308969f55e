/* activation_ref.c: the CPU reference of the pointwise activations
 * (identity, ReLU, LeakyReLU, SiLU, Mish, sigmoid). The arithmetic is
 * graft_act_value / graft_act_grad from math.h, the same functions the CUDA
 * kernels call, so the two backends round alike. */
#include "core/log.h"
#include "ops/math.h"
#include "ops/ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define ACT_PARALLEL_MIN 32768

static int act_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

static graft_status act_check(const char *op, graft_act act, int64_t n, const void *a,
                              const void *b) {
  if ((int)act < 0 || act >= GRAFT_ACT_COUNT)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown activation %d", op, (int)act);
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (n > 0 && (!a || !b)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

graft_status graft_act_forward_ref(graft_ctx *ctx, graft_act act, float slope, int64_t n,
                                   const float *x, /* (n) */
                                   float *y)       /* (n) */
{
  GRAFT_TRY(act_check("act_forward", act, n, x, y));
  const int kind = (int)act;
#pragma omp parallel for num_threads(act_threads(ctx)) if (n >= ACT_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = graft_act_value(kind, slope, x[i]);
  return GRAFT_OK;
}

graft_status graft_act_backward_ref(graft_ctx *ctx, graft_act act, float slope, int64_t n,
                                    const float *x,  /* (n) forward input */
                                    const float *y,  /* (n) forward output */
                                    const float *dy, /* (n) */
                                    float *dx)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(act_check("act_backward", act, n, x, y));
  if (!dx) return GRAFT_OK;
  if (n > 0 && !dy) GRAFT_FAIL(GRAFT_EINVAL, "act_backward: NULL dy");
  const int kind = (int)act;
#pragma omp parallel for num_threads(act_threads(ctx)) if (n >= ACT_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * graft_act_grad(kind, slope, x[i], y[i]);
  return GRAFT_OK;
}

/* act.cu: pointwise activations on the device. The arithmetic is
 * graft_act_value / graft_act_grad from math.h, the functions the CPU
 * reference runs; the backward product is rounded on its own before the
 * add (no fused multiply-add), as the reference rounds it. x, y, dy and dx
 * are activations, stored as ctx->act_dtype (act_io.cuh): each element is
 * widened to fp32, computed on, and rounded once when stored. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops/math.h"
#include "ops_gpu.h"

template <typename T>
static __global__ void act_forward_kernel(int act, float slope, int64_t n,
                                          const T *__restrict__ x, /* (n) */
                                          T *__restrict__ y)       /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) act_st(y, i, graft_act_value(act, slope, act_ld(x, i)));
}

template <typename T>
static __global__ void act_backward_kernel(int act, float slope, int64_t n,
                                           const T *__restrict__ x,  /* (n) */
                                           const T *__restrict__ y,  /* (n) */
                                           const T *__restrict__ dy, /* (n) */
                                           T *__restrict__ dx)       /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    const float g = graft_act_grad(act, slope, act_ld(x, i), act_ld(y, i));
    act_st(dx, i, act_ld(dx, i) + graft_mul_rn(act_ld(dy, i), g));
  }
}

static graft_status act_check(const char *op, graft_act act, int64_t n, const void *a,
                              const void *b) {
  if ((int)act < 0 || act >= GRAFT_ACT_COUNT)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown activation %d", op, (int)act);
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (n > 0 && (!a || !b)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

extern "C" graft_status graft_act_forward_gpu(graft_ctx *ctx, graft_act act, float slope,
                                              int64_t n,
                                              const float *x, /* (n) */
                                              float *y)       /* (n) */
{
  GRAFT_TRY(act_check("act_forward", act, n, x, y));
  if (n == 0) return GRAFT_OK;
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_ACT_DISPATCH(ctx, {
    act_forward_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
        (int)act, slope, n, act_ptr<T>(x), act_ptr<T>(y));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_act_backward_gpu(graft_ctx *ctx, graft_act act, float slope,
                                               int64_t n,
                                               const float *x,  /* (n) forward input */
                                               const float *y,  /* (n) forward output */
                                               const float *dy, /* (n) */
                                               float *dx)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(act_check("act_backward", act, n, x, y));
  if (!dx || n == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "act_backward: NULL dy");
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_ACT_DISPATCH(ctx, {
    act_backward_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
        (int)act, slope, n, act_ptr<T>(x), act_ptr<T>(y), act_ptr<T>(dy), act_ptr<T>(dx));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

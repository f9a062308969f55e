/* dropout.cu: inverted dropout on the device. The mask is
 * graft_dropout_keep(seed, i, p) from math.h, a hash of the element index,
 * so the device drops exactly the elements the CPU reference drops and the
 * backward pass regenerates the mask instead of storing it. x, y, dy and dx
 * are activations stored as ctx->act_dtype (act_io.cuh): scaled in fp32,
 * rounded once when stored. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops/math.h"
#include "ops_gpu.h"

template <typename T>
static __global__ void dropout_forward_kernel(int64_t n, float p, float scale, uint64_t seed,
                                              const T *__restrict__ x, /* (n) */
                                              T *__restrict__ y)       /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    act_st(y, i, graft_dropout_keep(seed, (uint64_t)i, p) ? act_ld(x, i) * scale : 0.0f);
  }
}

template <typename T>
static __global__ void dropout_backward_kernel(int64_t n, float p, float scale, uint64_t seed,
                                               const T *__restrict__ dy, /* (n) */
                                               T *__restrict__ dx)       /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    if (graft_dropout_keep(seed, (uint64_t)i, p))
      act_st(dx, i, act_ld(dx, i) + graft_mul_rn(act_ld(dy, i), scale));
  }
}

static graft_status dropout_check(const char *op, int64_t n, float p) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (!(p >= 0.0f && p < 1.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: drop probability %g is outside [0, 1)", op, (double)p);
  return GRAFT_OK;
}

extern "C" graft_status graft_dropout_forward_gpu(graft_ctx *ctx, int64_t n, float p, uint64_t seed,
                                                  const float *x, /* (n) */
                                                  float *y)       /* (n) */
{
  GRAFT_TRY(dropout_check("dropout_forward", n, p));
  if (n == 0) return GRAFT_OK;
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "dropout_forward: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  const float scale = 1.0f / (1.0f - p);
  GRAFT_ACT_DISPATCH(ctx, {
    dropout_forward_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
        n, p, scale, seed, act_ptr<T>(x), act_ptr<T>(y));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_dropout_backward_gpu(graft_ctx *ctx, int64_t n, float p,
                                                   uint64_t seed,
                                                   const float *dy, /* (n) */
                                                   float *dx)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(dropout_check("dropout_backward", n, p));
  if (!dx || n == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "dropout_backward: NULL dy");
  graft_gpu *g = graft_gpu_of(ctx);
  const float scale = 1.0f / (1.0f - p);
  GRAFT_ACT_DISPATCH(ctx, {
    dropout_backward_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
        n, p, scale, seed, act_ptr<T>(dy), act_ptr<T>(dx));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

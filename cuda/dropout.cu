/* dropout.cu: inverted dropout on the device. The mask is
 * graft_dropout_keep(seed, i, p) from math.h, a hash of the element index,
 * so the device drops exactly the elements the CPU reference drops and the
 * backward pass regenerates the mask instead of storing it. */
#include "gpu_impl.h"
#include "ops/math.h"
#include "ops_gpu.h"

static __global__ void dropout_forward_kernel(int64_t n, float p, float scale, uint64_t seed,
                                              const float *__restrict__ x, /* (n) */
                                              float *__restrict__ y)       /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    y[i] = graft_dropout_keep(seed, (uint64_t)i, p) ? x[i] * scale : 0.0f;
  }
}

static __global__ void dropout_backward_kernel(int64_t n, float p, float scale, uint64_t seed,
                                               const float *__restrict__ dy, /* (n) */
                                               float *__restrict__ dx)       /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    if (graft_dropout_keep(seed, (uint64_t)i, p)) dx[i] += graft_mul_rn(dy[i], scale);
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
  dropout_forward_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, p, scale, seed, x, y);
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
  dropout_backward_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, p, scale, seed, dy,
                                                                           dx);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

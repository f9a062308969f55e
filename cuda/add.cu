/* add.cu: elementwise sum (residual connections) and accumulation (the
 * backward of add and of fan-out) on the device. */
#include "gpu_impl.h"
#include "ops_gpu.h"

static __global__ void add_kernel(int64_t n,
                                  const float *__restrict__ a, /* (n) */
                                  const float *__restrict__ b, /* (n) */
                                  float *__restrict__ y)       /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) y[i] = a[i] + b[i];
}

static __global__ void accumulate_kernel(int64_t n,
                                         const float *__restrict__ src, /* (n) */
                                         float *__restrict__ dst)       /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) dst[i] += src[i];
}

extern "C" graft_status graft_add_forward_gpu(graft_ctx *ctx, int64_t n,
                                              const float *a, /* (n) */
                                              const float *b, /* (n) */
                                              float *y)       /* (n) */
{
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "add_forward: negative element count %lld", (long long)n);
  if (n == 0) return GRAFT_OK;
  if (!a || !b || !y) GRAFT_FAIL(GRAFT_EINVAL, "add_forward: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  add_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, a, b, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_accumulate_gpu(graft_ctx *ctx, int64_t n,
                                             const float *src, /* (n) */
                                             float *dst)       /* (n) accumulated */
{
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "accumulate: negative element count %lld", (long long)n);
  if (n == 0) return GRAFT_OK;
  if (!src || !dst) GRAFT_FAIL(GRAFT_EINVAL, "accumulate: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  accumulate_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, src, dst);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

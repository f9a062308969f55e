/* add.cu: elementwise sum (residual connections) and accumulation (the
 * backward of add and of fan-out) on the device. Every tensor here is an
 * activation stored as ctx->act_dtype (act_io.cuh): the sum is taken in
 * fp32 and rounded once when stored, so accumulate reads dst, adds in fp32
 * and writes dst back rounded. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

template <typename T>
static __global__ void add_kernel(int64_t n,
                                  const T *__restrict__ a, /* (n) */
                                  const T *__restrict__ b, /* (n) */
                                  T *__restrict__ y)       /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) act_st(y, i, act_ld(a, i) + act_ld(b, i));
}

template <typename T>
static __global__ void accumulate_kernel(int64_t n,
                                         const T *__restrict__ src, /* (n) */
                                         T *__restrict__ dst)       /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) act_st(dst, i, act_ld(dst, i) + act_ld(src, i));
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
  GRAFT_ACT_DISPATCH(ctx, {
    add_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, act_ptr<T>(a),
                                                                   act_ptr<T>(b), act_ptr<T>(y));
  });
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
  GRAFT_ACT_DISPATCH(ctx, {
    accumulate_kernel<T><<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, act_ptr<T>(src),
                                                                          act_ptr<T>(dst));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

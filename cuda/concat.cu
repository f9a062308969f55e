/* concat.cu: concatenation along channels on the device, and its backward
 * (each part's slice of the gradient added into that part). One launch per
 * part copies its (M, cs[i]) block into, or out of, columns
 * [offset, offset + cs[i]) of the (M, sum cs) tensor. Every tensor is an
 * activation stored as ctx->act_dtype (act_io.cuh): forward moves the
 * stored elements bit for bit; backward adds in fp32 and rounds the sum
 * once when storing it. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

template <typename T>
static __global__ void concat_part_kernel(int64_t m, int width, int offset, int total,
                                          const T *__restrict__ x, /* (M, width) */
                                          T *__restrict__ y)       /* (M, total) */
{
  GRAFT_GRID_STRIDE_LOOP(e, m * width) {
    const int64_t r = e / width;
    const int j = (int)(e - r * width);
    y[r * total + offset + j] = x[e];
  }
}

template <typename T>
static __global__ void concat_part_backward_kernel(
    int64_t m, int width, int offset, int total,
    const T *__restrict__ dy, /* (M, total) */
    T *__restrict__ dx)       /* (M, width) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(e, m * width) {
    const int64_t r = e / width;
    const int j = (int)(e - r * width);
    act_st(dx, e, act_ld(dx, e) + act_ld(dy, r * total + offset + j));
  }
}

/* Validates the part widths and returns their sum in *total. */
static graft_status concat_check(const char *op, int64_t m, int count, const int *cs, int *total) {
  if (m < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative row count %lld", op, (long long)m);
  if (count < 1 || !cs) GRAFT_FAIL(GRAFT_EINVAL, "%s: no parts (count %d)", op, count);
  int64_t sum = 0;
  for (int i = 0; i < count; i++) {
    if (cs[i] < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: part %d has %d channels", op, i, cs[i]);
    sum += cs[i];
  }
  if (sum > 0x7fffffff) GRAFT_FAIL(GRAFT_EINVAL, "%s: %lld channels in all", op, (long long)sum);
  *total = (int)sum;
  return GRAFT_OK;
}

extern "C" graft_status graft_concat_forward_gpu(graft_ctx *ctx, int64_t m, int count,
                                                 const float *const *xs, /* count x (M, cs[i]) */
                                                 const int *cs,          /* (count) host memory */
                                                 float *y)               /* (M, sum cs) */
{
  int total = 0;
  GRAFT_TRY(concat_check("concat_forward", m, count, cs, &total));
  if (m == 0 || total == 0) return GRAFT_OK;
  if (!xs || !y) GRAFT_FAIL(GRAFT_EINVAL, "concat_forward: NULL tensor");
  for (int i = 0; i < count; i++)
    if (cs[i] > 0 && !xs[i]) GRAFT_FAIL(GRAFT_EINVAL, "concat_forward: part %d is NULL", i);
  graft_gpu *g = graft_gpu_of(ctx);
  int offset = 0;
  for (int i = 0; i < count; i++) {
    if (cs[i] > 0) {
      GRAFT_ACT_DISPATCH(ctx, {
        concat_part_kernel<T><<<graft_grid_1d(m * cs[i]), GRAFT_BLOCK, 0, g->stream>>>(
            m, cs[i], offset, total, act_ptr<T>(xs[i]), act_ptr<T>(y));
      });
      GRAFT_LAUNCH_CHECK(g);
    }
    offset += cs[i];
  }
  return GRAFT_OK;
}

extern "C" graft_status graft_concat_backward_gpu(
    graft_ctx *ctx, int64_t m, int count,
    const float *dy,   /* (M, sum cs) */
    const int *cs,     /* (count) host memory */
    float *const *dxs) /* count x (M, cs[i]) accumulated; entries may be NULL */
{
  int total = 0;
  GRAFT_TRY(concat_check("concat_backward", m, count, cs, &total));
  if (m == 0 || total == 0 || !dxs) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "concat_backward: NULL dy");
  graft_gpu *g = graft_gpu_of(ctx);
  int offset = 0;
  for (int i = 0; i < count; i++) {
    if (cs[i] > 0 && dxs[i]) {
      GRAFT_ACT_DISPATCH(ctx, {
        concat_part_backward_kernel<T><<<graft_grid_1d(m * cs[i]), GRAFT_BLOCK, 0, g->stream>>>(
            m, cs[i], offset, total, act_ptr<T>(dy), act_ptr<T>(dxs[i]));
      });
      GRAFT_LAUNCH_CHECK(g);
    }
    offset += cs[i];
  }
  return GRAFT_OK;
}

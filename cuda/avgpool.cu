/* avgpool.cu: global average pooling over the spatial positions of an NHWC
 * tensor, on the device. Forward: a block owns 32 channels of a sample; its
 * 8 rows of threads each sum a strided share of the positions (reads of
 * consecutive channels are coalesced), and the 8 partial sums are added in
 * a fixed order, so the result does not depend on scheduling. Sums run in
 * double, as in the CPU reference. Backward spreads dy / HW over every
 * position. x, y, dy and dx are activations stored as ctx->act_dtype
 * (act_io.cuh): elements are widened when loaded and every result is
 * rounded once when stored. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

#define GAP_CH 32      /* channels per block (threadIdx.x) */
#define GAP_ROWS 8     /* position lanes per block (threadIdx.y) */
#define GAP_MAX_GRID_Y 65535

template <typename T>
static __global__ void gap_forward_kernel(int n, int hw, int c,
                                          const T *__restrict__ x, /* (N, HW, C) */
                                          T *__restrict__ y)       /* (N, C) */
{
  __shared__ double part[GAP_ROWS][GAP_CH];
  const int ch = blockIdx.x * GAP_CH + threadIdx.x;
  for (int b = blockIdx.y; b < n; b += gridDim.y) {
    double s = 0.0;
    if (ch < c) {
      const T *src = x + (int64_t)b * hw * c + ch; /* (HW) strided by C */
      for (int i = threadIdx.y; i < hw; i += GAP_ROWS) s += act_ld(src, (int64_t)i * c);
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && ch < c) {
      double t = part[0][threadIdx.x];
      for (int r = 1; r < GAP_ROWS; r++) t += part[r][threadIdx.x];
      act_st(y, (int64_t)b * c + ch, (float)(t / hw));
    }
    __syncthreads();
  }
}

template <typename T>
static __global__ void gap_backward_kernel(int64_t total, int hw, int c,
                                           const T *__restrict__ dy, /* (N, C) */
                                           T *__restrict__ dx) /* (N, HW, C) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int64_t k = e % c;
    const int64_t b = e / ((int64_t)hw * c);
    act_st(dx, e, act_ld(dx, e) + act_ld(dy, b * c + k) / (float)hw);
  }
}

static graft_status gap_check(const char *op, int n, int hw, int c) {
  if (n < 0 || hw < 1 || c < 0)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d hw=%d c=%d", op, n, hw, c);
  return GRAFT_OK;
}

extern "C" graft_status graft_global_avgpool_forward_gpu(graft_ctx *ctx, int n, int hw, int c,
                                                         const float *x, /* (N, HW, C) */
                                                         float *y)       /* (N, C) */
{
  GRAFT_TRY(gap_check("global_avgpool_forward", n, hw, c));
  if (n == 0 || c == 0) return GRAFT_OK;
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "global_avgpool_forward: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  dim3 grid((unsigned)((c + GAP_CH - 1) / GAP_CH),
            (unsigned)(n < GAP_MAX_GRID_Y ? n : GAP_MAX_GRID_Y));
  GRAFT_ACT_DISPATCH(ctx, {
    gap_forward_kernel<T><<<grid, dim3(GAP_CH, GAP_ROWS), 0, g->stream>>>(n, hw, c, act_ptr<T>(x),
                                                                          act_ptr<T>(y));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_global_avgpool_backward_gpu(
    graft_ctx *ctx, int n, int hw, int c,
    const float *dy, /* (N, C) */
    float *dx)       /* (N, HW, C) accumulated, or NULL */
{
  GRAFT_TRY(gap_check("global_avgpool_backward", n, hw, c));
  const int64_t total = (int64_t)n * hw * c;
  if (!dx || total == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "global_avgpool_backward: NULL dy");
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_ACT_DISPATCH(ctx, {
    gap_backward_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, hw, c, act_ptr<T>(dy), act_ptr<T>(dx));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* avgpool.cu: global average pooling over the spatial positions of an NHWC
 * tensor, on the device. Forward: a block owns 32 channels of a sample; its
 * 8 rows of threads each sum a strided share of the positions (reads of
 * consecutive channels are coalesced), and the 8 partial sums are added in
 * a fixed order, so the result does not depend on scheduling. Sums run in
 * double, as in the CPU reference. Backward spreads dy / HW over every
 * position. */
#include "gpu_impl.h"
#include "ops_gpu.h"

#define GAP_CH 32      /* channels per block (threadIdx.x) */
#define GAP_ROWS 8     /* position lanes per block (threadIdx.y) */
#define GAP_MAX_GRID_Y 65535

static __global__ void gap_forward_kernel(int n, int hw, int c,
                                          const float *__restrict__ x, /* (N, HW, C) */
                                          float *__restrict__ y)       /* (N, C) */
{
  __shared__ double part[GAP_ROWS][GAP_CH];
  const int ch = blockIdx.x * GAP_CH + threadIdx.x;
  for (int b = blockIdx.y; b < n; b += gridDim.y) {
    double s = 0.0;
    if (ch < c) {
      const float *src = x + (int64_t)b * hw * c + ch; /* (HW) strided by C */
      for (int i = threadIdx.y; i < hw; i += GAP_ROWS) s += src[(int64_t)i * c];
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && ch < c) {
      double t = part[0][threadIdx.x];
      for (int r = 1; r < GAP_ROWS; r++) t += part[r][threadIdx.x];
      y[(int64_t)b * c + ch] = (float)(t / hw);
    }
    __syncthreads();
  }
}

static __global__ void gap_backward_kernel(int64_t total, int hw, int c,
                                           const float *__restrict__ dy, /* (N, C) */
                                           float *__restrict__ dx) /* (N, HW, C) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int64_t k = e % c;
    const int64_t b = e / ((int64_t)hw * c);
    dx[e] += dy[b * c + k] / (float)hw;
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
  gap_forward_kernel<<<grid, dim3(GAP_CH, GAP_ROWS), 0, g->stream>>>(n, hw, c, x, y);
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
  gap_backward_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(total, hw, c, dy, dx);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

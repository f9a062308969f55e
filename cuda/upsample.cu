/* upsample.cu: nearest-neighbour upsampling by integer factors on the
 * device, NHWC. Forward: one thread per output element reads its source.
 * Backward: one thread per input element adds its fh x fw block of output
 * gradients in row-major order (the order of the CPU reference), so no two
 * threads write the same element and no atomics are needed. x, y, dy and
 * dx are activations stored as ctx->act_dtype (act_io.cuh): forward moves
 * the stored elements bit for bit; backward sums in fp32, starting from
 * dx, and rounds once when storing. */
#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

template <typename T>
static __global__ void upsample_forward_kernel(int64_t total, int h, int w, int c, int fh, int fw,
                                               const T *__restrict__ x, /* (N, H, W, C) */
                                               T *__restrict__ y) /* (N, H*fh, W*fw, C) */
{
  const int64_t oh = (int64_t)h * fh, ow = (int64_t)w * fw;
  GRAFT_GRID_STRIDE_LOOP(o, total) {
    const int64_t k = o % c;
    int64_t t = o / c;
    const int64_t ox = t % ow;
    t /= ow;
    const int64_t oy = t % oh;
    const int64_t b = t / oh;
    y[o] = x[((b * h + oy / fh) * w + ox / fw) * c + k];
  }
}

template <typename T>
static __global__ void upsample_backward_kernel(
    int64_t total, int h, int w, int c, int fh, int fw,
    const T *__restrict__ dy, /* (N, H*fh, W*fw, C) */
    T *__restrict__ dx)       /* (N, H, W, C) accumulated */
{
  const int64_t ow = (int64_t)w * fw;
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int64_t k = e % c;
    int64_t t = e / c;
    const int64_t ix = t % w;
    const int64_t row = t / w; /* b * h + iy */
    float acc = act_ld(dx, e);
    for (int a = 0; a < fh; a++) {
      const T *src = dy + ((row * fh + a) * ow + ix * fw) * c + k; /* (fw) strided by C */
      for (int s = 0; s < fw; s++) acc += act_ld(src, (int64_t)s * c);
    }
    act_st(dx, e, acc);
  }
}

static graft_status upsample_check(const char *op, int n, int h, int w, int c, int fh, int fw) {
  if (n < 0 || h < 0 || w < 0 || c < 0 || fh < 1 || fw < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d h=%d w=%d c=%d factors %dx%d", op, n, h, w, c,
               fh, fw);
  return GRAFT_OK;
}

extern "C" graft_status graft_upsample_forward_gpu(graft_ctx *ctx, int n, int h, int w, int c,
                                                   int fh, int fw,
                                                   const float *x, /* (N, H, W, C) */
                                                   float *y)       /* (N, H*fh, W*fw, C) */
{
  GRAFT_TRY(upsample_check("upsample_forward", n, h, w, c, fh, fw));
  const int64_t total = (int64_t)n * h * fh * w * fw * c;
  if (total == 0) return GRAFT_OK;
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "upsample_forward: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_ACT_DISPATCH(ctx, {
    upsample_forward_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, h, w, c, fh, fw, act_ptr<T>(x), act_ptr<T>(y));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_upsample_backward_gpu(
    graft_ctx *ctx, int n, int h, int w, int c, int fh, int fw,
    const float *dy, /* (N, H*fh, W*fw, C) */
    float *dx)       /* (N, H, W, C) accumulated, or NULL */
{
  GRAFT_TRY(upsample_check("upsample_backward", n, h, w, c, fh, fw));
  const int64_t total = (int64_t)n * h * w * c;
  if (!dx || total == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "upsample_backward: NULL dy");
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_ACT_DISPATCH(ctx, {
    upsample_backward_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        total, h, w, c, fh, fw, act_ptr<T>(dy), act_ptr<T>(dx));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

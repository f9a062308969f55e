/* pool.cu: 2-D max and average pooling of NHWC tensors on the device, with
 * the output size, padding, ceil_mode and divisor rules of the CPU
 * reference (host/ops/pool_ref.c, PyTorch's).
 *
 * Forward: one thread per output value walks its window in row-major
 * order, so the float operations are the reference's, in its order.
 * Backward gathers rather than scatters: one thread per input value visits
 * the windows that cover it in (output row, output column) order and adds
 * their share to its gradient, so no two threads write the same value, no
 * atomics are needed, and the additions happen in the reference's order.
 * For max pooling a window's share goes to its first maximum, found again
 * from x as the reference finds it (NaN wins; nothing is stored).
 *
 * x, y, dy and dx are activations stored as ctx->act_dtype (act_io.cuh).
 * Every element is widened to fp32 when loaded, so max pooling compares
 * the stored values themselves and forward and backward pick the same
 * maximum; sums run in fp32 and each result is rounded once when stored
 * (a max is a stored value, so storing it again is exact). */
#include <math.h>

#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

/* Input range [*lo, *hi) of output index o along one axis, and *padded,
 * the window's extent clipped to the input plus its right padding (the
 * count_include_pad divisor's factor along this axis). */
static __device__ void pool_window(int o, int stride, int pad, int k, int in, int *lo, int *hi,
                                   int *padded) {
  const int start = o * stride - pad;
  const int end = start + k < in + pad ? start + k : in + pad;
  *padded = end - start;
  *lo = start > 0 ? start : 0;
  *hi = end < in ? end : in;
}

/* Index, along one axis, of the first and last outputs whose window covers
 * input i: o*stride - pad <= i < o*stride - pad + k and 0 <= o < out. */
static __device__ void pool_cover(int i, int stride, int pad, int k, int out, int *first,
                                  int *last) {
  const int t = i + pad - k + 1; /* o*stride >= t */
  const int lo = t <= 0 ? 0 : (t + stride - 1) / stride;
  const int hi = (i + pad) / stride;
  *first = lo;
  *last = hi < out - 1 ? hi : out - 1;
}

static __device__ float avg_divisor(int count_include_pad, int h0, int h1, int hp, int w0, int w1,
                                    int wp) {
  return count_include_pad ? (float)(hp * wp) : (float)((h1 - h0) * (w1 - w0));
}

template <typename T>
static __global__ void pool_forward_kernel(graft_pool2d_desc d, int64_t total,
                                           const T *__restrict__ x, /* (N, H, W, C) */
                                           T *__restrict__ y)       /* (N, P, Q, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % d.c);
    const int64_t pix = e / d.c;
    const int ow = (int)(pix % d.q);
    const int oh = (int)(pix / d.q % d.p);
    const int64_t n = pix / ((int64_t)d.q * d.p);
    int h0, h1, hp, w0, w1, wp;
    pool_window(oh, d.stride_h, d.pad_h, d.r, d.h, &h0, &h1, &hp);
    pool_window(ow, d.stride_w, d.pad_w, d.s, d.w, &w0, &w1, &wp);
    const T *xn = x + n * d.h * d.w * d.c + ch; /* (H, W) strided by C */
    float acc = d.kind == GRAFT_POOL_MAX ? -INFINITY : 0.0f;
    for (int ih = h0; ih < h1; ih++) {
      for (int iw = w0; iw < w1; iw++) {
        const float v = act_ld(xn, ((int64_t)ih * d.w + iw) * d.c);
        if (d.kind == GRAFT_POOL_MAX)
          acc = (v > acc) | isnan(v) ? v : acc;
        else
          acc += v;
      }
    }
    if (d.kind == GRAFT_POOL_AVG)
      acc /= avg_divisor(d.count_include_pad, h0, h1, hp, w0, w1, wp);
    act_st(y, e, acc);
  }
}

template <typename T>
static __global__ void pool_backward_kernel(graft_pool2d_desc d, int64_t total,
                                            const T *__restrict__ x,  /* (N, H, W, C) or NULL */
                                            const T *__restrict__ dy, /* (N, P, Q, C) */
                                            T *__restrict__ dx)       /* (N, H, W, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % d.c);
    const int64_t pix = e / d.c;
    const int iw = (int)(pix % d.w);
    const int ih = (int)(pix / d.w % d.h);
    const int64_t n = pix / ((int64_t)d.w * d.h);
    const int self = ih * d.w + iw;
    const T *xn = x ? x + n * d.h * d.w * d.c + ch : NULL; /* (H, W) strided by C */
    const T *dyn = dy + n * d.p * d.q * d.c + ch;           /* (P, Q) strided by C */
    int oh0, oh1, ow0, ow1;
    pool_cover(ih, d.stride_h, d.pad_h, d.r, d.p, &oh0, &oh1);
    pool_cover(iw, d.stride_w, d.pad_w, d.s, d.q, &ow0, &ow1);
    float acc = act_ld(dx, e);
    for (int oh = oh0; oh <= oh1; oh++) {
      int h0, h1, hp;
      pool_window(oh, d.stride_h, d.pad_h, d.r, d.h, &h0, &h1, &hp);
      for (int ow = ow0; ow <= ow1; ow++) {
        int w0, w1, wp;
        pool_window(ow, d.stride_w, d.pad_w, d.s, d.w, &w0, &w1, &wp);
        const float g = act_ld(dyn, ((int64_t)oh * d.q + ow) * d.c);
        if (d.kind == GRAFT_POOL_MAX) {
          float best = -INFINITY;
          int at = h0 * d.w + w0;
          for (int wh = h0; wh < h1; wh++) {
            for (int ww = w0; ww < w1; ww++) {
              const int p = wh * d.w + ww;
              const float v = act_ld(xn, (int64_t)p * d.c);
              const int win = (v > best) | isnan(v);
              best = win ? v : best;
              at = win ? p : at;
            }
          }
          if (at == self) acc += g;
        } else {
          acc += g / avg_divisor(d.count_include_pad, h0, h1, hp, w0, w1, wp);
        }
      }
    }
    act_st(dx, e, acc);
  }
}

/* The descriptor went through graft_pool2d_setup with these sizes. */
static graft_status pool_check(const char *op, const graft_pool2d_desc *d) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  graft_pool2d_desc want = *d;
  GRAFT_TRY(graft_pool2d_setup(&want));
  if (want.p != d->p || want.q != d->q)
    GRAFT_FAIL(GRAFT_ESHAPE, "%s: descriptor output %dx%d, expected %dx%d (run setup)", op, d->p,
               d->q, want.p, want.q);
  return GRAFT_OK;
}

extern "C" graft_status graft_pool2d_forward_gpu(graft_ctx *ctx, const graft_pool2d_desc *d,
                                                 const float *x, /* (N, H, W, C) */
                                                 float *y)       /* (N, P, Q, C) */
{
  GRAFT_TRY(pool_check("pool2d_forward", d));
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "pool2d_forward: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = (int64_t)d->n * d->p * d->q * d->c;
  GRAFT_ACT_DISPATCH(ctx, {
    pool_forward_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        *d, total, act_ptr<T>(x), act_ptr<T>(y));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_pool2d_backward_gpu(graft_ctx *ctx, const graft_pool2d_desc *d,
                                                  const float *x,  /* (N, H, W, C); max only */
                                                  const float *y,  /* (N, P, Q, C); unused */
                                                  const float *dy, /* (N, P, Q, C) */
                                                  float *dx)       /* (N, H, W, C) or NULL */
{
  (void)y;
  GRAFT_TRY(pool_check("pool2d_backward", d));
  if (!dy || (d->kind == GRAFT_POOL_MAX && !x))
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d_backward: NULL tensor");
  if (!dx) return GRAFT_OK;
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t total = (int64_t)d->n * d->h * d->w * d->c;
  const float *xmax = d->kind == GRAFT_POOL_MAX ? x : NULL; /* x is read by max pool only */
  GRAFT_ACT_DISPATCH(ctx, {
    pool_backward_kernel<T><<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
        *d, total, act_ptr<T>(xmax), act_ptr<T>(dy), act_ptr<T>(dx));
  });
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

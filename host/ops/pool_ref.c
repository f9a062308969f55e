/* pool_ref.c: the CPU reference 2-D pooling (max and average, NHWC) and
 * global average pooling, with PyTorch's rules for the output size, padding,
 * ceil_mode and the average divisor.
 *
 * Max pool treats padding as -inf; NaN wins a window as in PyTorch. Its
 * backward routes each gradient to the first maximum of the window in
 * row-major order, found again from x: nothing is stored between forward
 * and backward. Backward passes scatter into overlapping windows, so each
 * OpenMP task owns one image and one block of channels. */
#include <limits.h>
#include <math.h>

#include "core/log.h"
#include "ops/ops.h"

#define POOL_BLOCK 64             /* channels owned by one backward task */
#define POOL_PARALLEL_MIN 32768   /* work below which a pass runs on one thread */

static int pool_threads(const graft_ctx *ctx) { return ctx && ctx->threads > 0 ? ctx->threads : 1; }

/* floor(a / b) for b > 0. */
static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* PyTorch's pooling output size. With ceil_mode the last window must still
 * start inside the input or its left padding. */
static int64_t pool_out_size(int in, int k, int stride, int pad, int ceil_mode) {
  int64_t out = floor_div((int64_t)in + 2 * (int64_t)pad - k + (ceil_mode ? stride - 1 : 0),
                          stride) + 1;
  if (ceil_mode && (out - 1) * stride >= (int64_t)in + pad) out--;
  return out;
}

graft_status graft_pool2d_setup(graft_pool2d_desc *d) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "pool2d: NULL descriptor");
  if (d->kind != GRAFT_POOL_MAX && d->kind != GRAFT_POOL_AVG)
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d: unknown kind %d", (int)d->kind);
  if (d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1 || (int64_t)d->h * d->w > INT_MAX)
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d: bad input shape (N %d, H %d, W %d, C %d)", d->n, d->h,
               d->w, d->c);
  if (d->r < 1 || d->s < 1 || d->stride_h < 1 || d->stride_w < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d: bad window %dx%d or stride %dx%d", d->r, d->s, d->stride_h,
               d->stride_w);
  if (d->pad_h < 0 || d->pad_w < 0 || d->pad_h > d->r / 2 || d->pad_w > d->s / 2)
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d: padding %dx%d must be at least 0 and at most half the "
               "window %dx%d", d->pad_h, d->pad_w, d->r, d->s);
  int64_t p = pool_out_size(d->h, d->r, d->stride_h, d->pad_h, d->ceil_mode);
  int64_t q = pool_out_size(d->w, d->s, d->stride_w, d->pad_w, d->ceil_mode);
  if (p < 1 || q < 1 || p > INT_MAX || q > INT_MAX)
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d: input %dx%d with window %dx%d, stride %dx%d, padding %dx%d "
               "gives an output of %lldx%lld", d->h, d->w, d->r, d->s, d->stride_h, d->stride_w,
               d->pad_h, d->pad_w, (long long)p, (long long)q);
  d->p = (int)p;
  d->q = (int)q;
  return GRAFT_OK;
}

/* A forward or backward call checks its descriptor went through setup. */
static graft_status pool_check(const graft_pool2d_desc *d) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "pool2d: NULL descriptor");
  graft_pool2d_desc want = *d;
  GRAFT_TRY(graft_pool2d_setup(&want));
  if (want.p != d->p || want.q != d->q)
    GRAFT_FAIL(GRAFT_ESHAPE, "pool2d: descriptor output %dx%d, expected %dx%d (run setup)", d->p,
               d->q, want.p, want.q);
  return GRAFT_OK;
}

/* Input rows [*lo, *hi) of output index o along one axis, and *padded, the
 * window's extent clipped to the input plus its right padding: the
 * count_include_pad divisor's factor along this axis. */
static void pool_window(int o, int stride, int pad, int k, int in, int *lo, int *hi, int *padded) {
  int start = o * stride - pad;
  int end = start + k < in + pad ? start + k : in + pad;
  *padded = end - start;
  *lo = start > 0 ? start : 0;
  *hi = end < in ? end : in;
}

static float avg_divisor(const graft_pool2d_desc *d, int h0, int h1, int hp, int w0, int w1,
                         int wp) {
  return d->count_include_pad ? (float)(hp * wp) : (float)((h1 - h0) * (w1 - w0));
}

graft_status graft_pool2d_forward_ref(graft_ctx *ctx, const graft_pool2d_desc *d,
                                      const float *x, /* (N, H, W, C) */
                                      float *y) {     /* (N, P, Q, C) */
  GRAFT_TRY(pool_check(d));
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "pool2d forward: NULL tensor");
  int c = d->c;
  int64_t work = (int64_t)d->n * d->p * d->q * c * d->r * d->s;
#pragma omp parallel for collapse(2) schedule(static) num_threads(pool_threads(ctx)) \
    if (work >= POOL_PARALLEL_MIN)
  for (int n = 0; n < d->n; n++) {
    for (int oh = 0; oh < d->p; oh++) {
      int h0, h1, hp;
      pool_window(oh, d->stride_h, d->pad_h, d->r, d->h, &h0, &h1, &hp);
      for (int ow = 0; ow < d->q; ow++) {
        int w0, w1, wp;
        pool_window(ow, d->stride_w, d->pad_w, d->s, d->w, &w0, &w1, &wp);
        float *restrict yr = y + (((int64_t)n * d->p + oh) * d->q + ow) * c; /* (C) */
        float init = d->kind == GRAFT_POOL_MAX ? -INFINITY : 0.0f;
        for (int j = 0; j < c; j++) yr[j] = init;
        for (int ih = h0; ih < h1; ih++) {
          for (int iw = w0; iw < w1; iw++) {
            const float *restrict xr = x + (((int64_t)n * d->h + ih) * d->w + iw) * c; /* (C) */
            if (d->kind == GRAFT_POOL_MAX) {
              for (int j = 0; j < c; j++) {
                float v = xr[j], m = yr[j];
                yr[j] = (v > m) | isnan(v) ? v : m;
              }
            } else {
              for (int j = 0; j < c; j++) yr[j] += xr[j];
            }
          }
        }
        if (d->kind == GRAFT_POOL_AVG) {
          float div = avg_divisor(d, h0, h1, hp, w0, w1, wp);
          for (int j = 0; j < c; j++) yr[j] /= div;
        }
      }
    }
  }
  return GRAFT_OK;
}

graft_status graft_pool2d_backward_ref(graft_ctx *ctx, const graft_pool2d_desc *d,
                                       const float *x,  /* (N, H, W, C); max pool only */
                                       const float *y,  /* (N, P, Q, C); unused */
                                       const float *dy, /* (N, P, Q, C) */
                                       float *dx) {     /* (N, H, W, C) or NULL */
  (void)y;
  GRAFT_TRY(pool_check(d));
  if (!dy || (d->kind == GRAFT_POOL_MAX && !x))
    GRAFT_FAIL(GRAFT_EINVAL, "pool2d backward: NULL tensor");
  if (!dx) return GRAFT_OK;
  int c = d->c;
  int blocks = (c + POOL_BLOCK - 1) / POOL_BLOCK;
  int64_t work = (int64_t)d->n * d->p * d->q * c * d->r * d->s;
#pragma omp parallel for collapse(2) schedule(static) num_threads(pool_threads(ctx)) \
    if (work >= POOL_PARALLEL_MIN)
  for (int n = 0; n < d->n; n++) {
    for (int b = 0; b < blocks; b++) {
      int c0 = b * POOL_BLOCK;
      int cb = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
      const float *xn = x ? x + (int64_t)n * d->h * d->w * c + c0 : NULL; /* (H, W, C) */
      float *dxn = dx + (int64_t)n * d->h * d->w * c + c0;               /* (H, W, C) */
      for (int oh = 0; oh < d->p; oh++) {
        int h0, h1, hp;
        pool_window(oh, d->stride_h, d->pad_h, d->r, d->h, &h0, &h1, &hp);
        for (int ow = 0; ow < d->q; ow++) {
          int w0, w1, wp;
          pool_window(ow, d->stride_w, d->pad_w, d->s, d->w, &w0, &w1, &wp);
          const float *dyr = dy + (((int64_t)n * d->p + oh) * d->q + ow) * c + c0; /* (cb) */
          if (d->kind == GRAFT_POOL_MAX) {
            float best[POOL_BLOCK];
            int at[POOL_BLOCK]; /* pixel ih*W + iw of each channel's first maximum */
            for (int j = 0; j < cb; j++) {
              best[j] = -INFINITY;
              at[j] = h0 * d->w + w0;
            }
            for (int ih = h0; ih < h1; ih++) {
              for (int iw = w0; iw < w1; iw++) {
                int pix = ih * d->w + iw;
                const float *xr = xn + (int64_t)pix * c; /* (cb) */
                for (int j = 0; j < cb; j++) {
                  float v = xr[j];
                  int win = (v > best[j]) | isnan(v);
                  best[j] = win ? v : best[j];
                  at[j] = win ? pix : at[j];
                }
              }
            }
            for (int j = 0; j < cb; j++) dxn[(int64_t)at[j] * c + j] += dyr[j];
          } else {
            float div = avg_divisor(d, h0, h1, hp, w0, w1, wp);
            for (int ih = h0; ih < h1; ih++) {
              for (int iw = w0; iw < w1; iw++) {
                float *restrict dxr = dxn + ((int64_t)ih * d->w + iw) * c; /* (cb) */
                for (int j = 0; j < cb; j++) dxr[j] += dyr[j] / div;
              }
            }
          }
        }
      }
    }
  }
  return GRAFT_OK;
}

graft_status graft_global_avgpool_forward_ref(graft_ctx *ctx, int n, int hw, int c,
                                              const float *x, /* (N, HW, C) */
                                              float *y) {     /* (N, C) */
  if (n < 1 || hw < 1 || c < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "global avgpool: bad shape (N %d, HW %d, C %d)", n, hw, c);
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "global avgpool forward: NULL tensor");
  int blocks = (c + POOL_BLOCK - 1) / POOL_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) num_threads(pool_threads(ctx)) \
    if ((int64_t)n * hw * c >= POOL_PARALLEL_MIN)
  for (int i = 0; i < n; i++) {
    for (int b = 0; b < blocks; b++) {
      int c0 = b * POOL_BLOCK;
      int cb = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
      double acc[POOL_BLOCK];
      for (int j = 0; j < cb; j++) acc[j] = 0.0;
      for (int k = 0; k < hw; k++) {
        const float *xr = x + ((int64_t)i * hw + k) * c + c0; /* (cb) */
        for (int j = 0; j < cb; j++) acc[j] += xr[j];
      }
      for (int j = 0; j < cb; j++) y[(int64_t)i * c + c0 + j] = (float)(acc[j] / hw);
    }
  }
  return GRAFT_OK;
}

graft_status graft_global_avgpool_backward_ref(graft_ctx *ctx, int n, int hw, int c,
                                               const float *dy, /* (N, C) */
                                               float *dx) {     /* (N, HW, C) or NULL */
  if (n < 1 || hw < 1 || c < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "global avgpool: bad shape (N %d, HW %d, C %d)", n, hw, c);
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "global avgpool backward: NULL tensor");
  if (!dx) return GRAFT_OK;
  float div = (float)hw;
#pragma omp parallel for collapse(2) schedule(static) num_threads(pool_threads(ctx)) \
    if ((int64_t)n * hw * c >= POOL_PARALLEL_MIN)
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < hw; k++) {
      const float *restrict dyr = dy + (int64_t)i * c;       /* (C) */
      float *restrict dxr = dx + ((int64_t)i * hw + k) * c;  /* (C) */
      for (int j = 0; j < c; j++) dxr[j] += dyr[j] / div;
    }
  }
  return GRAFT_OK;
}

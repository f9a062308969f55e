/* conv2d_ref.c: the CPU reference 2-D convolution (PyTorch Conv2d semantics:
 * symmetric zero padding, stride, dilation, groups, optional bias) on NHWC
 * activations with (K, R, S, C/groups) weights.
 *
 * Three paths, chosen from the descriptor alone:
 *  - direct: a 1x1, stride-1, unpadded kernel, where x already is the
 *    (N*H*W, C) matrix and every pass is one GEMM per group;
 *  - depthwise (groups == C == K): plain loops vectorized over channels;
 *  - general: im2col into the workspace, a batch chunk at a time, and GEMMs
 *    per group. Backward-weight reuses the column buffer of x; backward-data
 *    multiplies dy by the weights into that buffer and gathers it into dx.
 * Parallelism is ours: each OpenMP thread calls OpenBLAS single-threaded on
 * its own block, so the two thread pools never compete for cores. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "ops/ops.h"

/* Upper bound on the im2col buffer of one batch chunk (one image's columns
 * when a single image needs more). ResNet-18 training at 64x64 ran no faster
 * with 32 MB and 5% slower with 2 MB, so the workspace stays modest. */
#define CONV_CHUNK_BYTES ((size_t)8 << 20)
/* Channels summed per task in the bias gradient. */
#define CONV_BIAS_BLOCK 16

typedef enum { CONV_GENERAL, CONV_DIRECT, CONV_DEPTHWISE } conv_path;

/* Everything the passes derive from a descriptor. */
typedef struct {
  const graft_conv2d_desc *d;
  conv_path path;
  int cg, kg;      /* input and output channels per group */
  int rscg;        /* R*S*C/groups: columns of the im2col matrix */
  int64_t pq;      /* output pixels per image */
  int nb;          /* images per chunk (general path) */
  size_t ws_bytes; /* workspace the op uses */
} conv_plan;

/* Checks the descriptor and computes the output size; on failure writes
 * which field is wrong into why and returns 0. */
static int conv_shape_ok(const graft_conv2d_desc *d, int *p, int *q, char *why, size_t len) {
  const struct {
    const char *name;
    int value, min;
  } fields[] = {
      {"n", d->n, 1},           {"h", d->h, 1},           {"w", d->w, 1},
      {"c", d->c, 1},           {"k", d->k, 1},           {"r", d->r, 1},
      {"s", d->s, 1},           {"groups", d->groups, 1}, {"stride_h", d->stride_h, 1},
      {"stride_w", d->stride_w, 1}, {"dil_h", d->dil_h, 1}, {"dil_w", d->dil_w, 1},
      {"pad_h", d->pad_h, 0},   {"pad_w", d->pad_w, 0},
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (fields[i].value < fields[i].min) {
      snprintf(why, len, "%s = %d, must be >= %d", fields[i].name, fields[i].value, fields[i].min);
      return 0;
    }
  if (d->c % d->groups || d->k % d->groups) {
    snprintf(why, len, "groups = %d must divide c = %d and k = %d", d->groups, d->c, d->k);
    return 0;
  }
  /* Span of the dilated kernel against the padded input, in 64 bits. */
  int64_t span_h = (int64_t)d->h + 2 * (int64_t)d->pad_h - (int64_t)d->dil_h * (d->r - 1) - 1;
  int64_t span_w = (int64_t)d->w + 2 * (int64_t)d->pad_w - (int64_t)d->dil_w * (d->s - 1) - 1;
  if (span_h < 0 || span_w < 0) {
    snprintf(why, len,
             "the dilated %dx%d kernel (dilation %dx%d) is larger than the padded %dx%d input",
             d->r, d->s, d->dil_h, d->dil_w, d->h + 2 * d->pad_h, d->w + 2 * d->pad_w);
    return 0;
  }
  int64_t ph = span_h / d->stride_h + 1, pw = span_w / d->stride_w + 1;
  int64_t pixels = (int64_t)d->h * d->w > ph * pw ? (int64_t)d->h * d->w : ph * pw;
  if ((int64_t)d->n * pixels > INT32_MAX || (int64_t)d->r * d->s * d->c > INT32_MAX) {
    snprintf(why, len, "n = %d at %dx%d with a %dx%dx%d kernel exceeds the GEMM index range",
             d->n, d->h, d->w, d->r, d->s, d->c);
    return 0;
  }
  *p = (int)ph;
  *q = (int)pw;
  return 1;
}

graft_status graft_conv2d_setup(graft_conv2d_desc *d) {
  char why[160];
  int p, q;
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "conv2d setup: NULL descriptor");
  if (!conv_shape_ok(d, &p, &q, why, sizeof why))
    GRAFT_FAIL(GRAFT_EINVAL, "conv2d setup: %s", why);
  d->p = p;
  d->q = q;
  return GRAFT_OK;
}

/* Fills the plan of a descriptor that went through setup; returns 0 when it
 * is invalid or its p and q are not the ones setup computes. */
static int conv_plan_make(const graft_conv2d_desc *d, conv_plan *pl, char *why, size_t len) {
  int p, q;
  if (!conv_shape_ok(d, &p, &q, why, len)) return 0;
  if (p != d->p || q != d->q) {
    snprintf(why, len, "output %dx%d does not match the %dx%d setup computes", d->p, d->q, p, q);
    return 0;
  }
  pl->d = d;
  pl->cg = d->c / d->groups;
  pl->kg = d->k / d->groups;
  pl->rscg = d->r * d->s * pl->cg;
  pl->pq = (int64_t)p * q;
  pl->nb = 0;
  if (d->groups == d->c && d->groups == d->k) {
    pl->path = CONV_DEPTHWISE;
    pl->ws_bytes = (size_t)d->r * d->s * d->c * sizeof(float);
  } else if (d->r == 1 && d->s == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
             d->pad_w == 0) {
    pl->path = CONV_DIRECT;
    pl->ws_bytes = 0;
  } else {
    size_t image = (size_t)pl->pq * pl->rscg * sizeof(float);
    size_t fit = CONV_CHUNK_BYTES / image;
    pl->path = CONV_GENERAL;
    pl->nb = fit < 1 ? 1 : fit > (size_t)d->n ? d->n : (int)fit;
    pl->ws_bytes = (size_t)pl->nb * image;
  }
  return 1;
}

size_t graft_conv2d_workspace_ref(const graft_conv2d_desc *d) {
  char why[160];
  conv_plan pl;
  return d && conv_plan_make(d, &pl, why, sizeof why) ? pl.ws_bytes : 0;
}

/* Validates an op's descriptor and workspace; logs and returns the failure. */
static graft_status conv_begin(graft_ctx *ctx, const graft_conv2d_desc *d, const char *op,
                               int needs_ws, conv_plan *pl) {
  char why[160];
  if (!ctx || !d) GRAFT_FAIL(GRAFT_EINVAL, "conv2d %s: NULL context or descriptor", op);
  if (!conv_plan_make(d, pl, why, sizeof why)) GRAFT_FAIL(GRAFT_EINVAL, "conv2d %s: %s", op, why);
  if (needs_ws && pl->ws_bytes && (!ctx->workspace || ctx->workspace_bytes < pl->ws_bytes))
    GRAFT_FAIL(GRAFT_EWORKSPACE, "conv2d %s: needs %zu workspace bytes, has %zu", op,
               pl->ws_bytes, ctx->workspace ? ctx->workspace_bytes : (size_t)0);
  return GRAFT_OK;
}

/* OpenBLAS runs single-threaded inside our parallel regions; the caller's
 * setting comes back on the way out. */
static int conv_blas_enter(void) {
  int prev = openblas_get_num_threads();
  if (prev != 1) openblas_set_num_threads(1);
  return prev;
}

static void conv_blas_leave(int prev) {
  if (prev != 1) openblas_set_num_threads(prev);
}

static int conv_threads(const graft_ctx *ctx) { return ctx->threads > 0 ? ctx->threads : 1; }

/* This thread's share [lo, hi) of n items. */
static void conv_split(int64_t n, int64_t *lo, int64_t *hi) {
  int t = omp_get_thread_num(), nt = omp_get_num_threads();
  *lo = n * t / nt;
  *hi = n * (t + 1) / nt;
}

/* Rows [row0, row0 + rows) of group g's im2col matrix: row (n, p, q) holds
 * the receptive field of that output pixel as (R, S, C/groups), zero where
 * it falls into the padding. */
static void conv_im2col(const conv_plan *pl, const float *x, /* (N, H, W, C) */
                        int g, int64_t row0, int64_t rows,
                        float *col) /* (rows, R*S*C/groups) */ {
  const graft_conv2d_desc *d = pl->d;
  const int cg = pl->cg, c = d->c;
  /* With one group and no horizontal dilation a kernel row is one run of x. */
  const int runs = d->groups == 1 && d->dil_w == 1;
  for (int64_t i = 0; i < rows; i++) {
    int64_t row = row0 + i, n = row / pl->pq, pix = row % pl->pq;
    int h0 = (int)(pix / d->q) * d->stride_h - d->pad_h;
    int w0 = (int)(pix % d->q) * d->stride_w - d->pad_w;
    const float *xn = x + n * d->h * d->w * c + (int64_t)g * cg; /* (H, W, C) */
    float *dst = col + i * pl->rscg; /* (R, S, C/groups) */
    for (int r = 0; r < d->r; r++, dst += (int64_t)d->s * cg) {
      int h = h0 + r * d->dil_h;
      if (h < 0 || h >= d->h) {
        memset(dst, 0, (size_t)d->s * cg * sizeof(float));
        continue;
      }
      const float *xrow = xn + (int64_t)h * d->w * c; /* (W, C) */
      if (runs && w0 >= 0 && w0 + d->s <= d->w) {
        memcpy(dst, xrow + (int64_t)w0 * c, (size_t)d->s * c * sizeof(float));
        continue;
      }
      for (int s = 0; s < d->s; s++) {
        int w = w0 + s * d->dil_w;
        float *o = dst + (int64_t)s * cg;
        if (w < 0 || w >= d->w) {
          memset(o, 0, (size_t)cg * sizeof(float));
          continue;
        }
        const float *src = xrow + (int64_t)w * c;
        for (int j = 0; j < cg; j++) o[j] = src[j];
      }
    }
  }
}

/* Adds into dx (group g, input rows of images n0..) every column entry that
 * im2col copied from that pixel: the transpose of conv_im2col, written as a
 * gather so that threads own disjoint input rows. item indexes (image - n0,
 * input row). */
static void conv_col2im_row(const conv_plan *pl, const float *col, /* (nb*P*Q, R*S*C/groups) */
                            int g, int n0, int64_t item, float *dx) /* (N, H, W, C) */ {
  const graft_conv2d_desc *d = pl->d;
  const int cg = pl->cg;
  int64_t nl = item / d->h;
  int h = (int)(item % d->h);
  float *dxrow = dx + (((n0 + nl) * d->h + h) * d->w) * d->c + (int64_t)g * cg; /* (W, C) */
  const float *coln = col + nl * pl->pq * pl->rscg; /* (P*Q, R*S*C/groups) */
  for (int w = 0; w < d->w; w++) {
    float *o = dxrow + (int64_t)w * d->c;
    for (int r = 0; r < d->r; r++) {
      int th = h + d->pad_h - r * d->dil_h;
      if (th < 0 || th % d->stride_h) continue;
      int p = th / d->stride_h;
      if (p >= d->p) continue;
      for (int s = 0; s < d->s; s++) {
        int tw = w + d->pad_w - s * d->dil_w;
        if (tw < 0 || tw % d->stride_w) continue;
        int q = tw / d->stride_w;
        if (q >= d->q) continue;
        const float *src = /* (C/groups) */
            coln + ((int64_t)p * d->q + q) * pl->rscg + (int64_t)(r * d->s + s) * cg;
        for (int j = 0; j < cg; j++) o[j] += src[j];
      }
    }
  }
}

/* Sets rows of a strided output block to the bias, or leaves them for a
 * GEMM with beta = 0; returns the beta to use. */
static float conv_bias_rows(float *y, /* (rows, ld), kg columns written */
                            int64_t rows, int ld, int kg,
                            const float *bias) /* (kg) or NULL */ {
  if (!bias) return 0.0f;
  for (int64_t i = 0; i < rows; i++) memcpy(y + i * ld, bias, (size_t)kg * sizeof(float));
  return 1.0f;
}

/* dbias += the column sums of dy. */
static void conv_bias_grad(int threads, int64_t rows, int k, const float *dy, /* (rows, K) */
                           float *dbias) /* (K) */ {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int kb = 0; kb < k; kb += CONV_BIAS_BLOCK) {
    int kn = k - kb < CONV_BIAS_BLOCK ? k - kb : CONV_BIAS_BLOCK;
    double acc[CONV_BIAS_BLOCK] = {0};
    for (int64_t i = 0; i < rows; i++)
      for (int j = 0; j < kn; j++) acc[j] += dy[i * k + kb + j];
    for (int j = 0; j < kn; j++) dbias[kb + j] += (float)acc[j];
  }
}

/* dw_g (kg, cols) += a^T b over `inner` rows, split between the threads
 * along the larger of its two dimensions. */
static void conv_weight_gemm(int inner, int kg, int cols,
                             const float *a, /* (inner, lda), kg columns read */
                             int lda,
                             const float *b, /* (inner, ldb), cols columns read */
                             int ldb,
                             float *dw) /* (kg, cols) */ {
  int64_t lo, hi;
  if (cols >= kg) {
    conv_split(cols, &lo, &hi);
    if (hi > lo)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kg, (int)(hi - lo), inner, 1.0f, a, lda,
                  b + lo, ldb, 1.0f, dw + lo, cols);
  } else {
    conv_split(kg, &lo, &hi);
    if (hi > lo)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), cols, inner, 1.0f,
                  a + lo, lda, b, ldb, 1.0f, dw + lo * cols, cols);
  }
}

/* ---- depthwise: one filter per channel -------------------------------- */

/* wt[(r*S + s)*C + c] = w[c*R*S + r*S + s]: taps outermost, channels inner. */
static void conv_dw_transpose(const graft_conv2d_desc *d, const float *w, /* (C, R, S, 1) */
                              float *wt) /* (R, S, C) */ {
  int rs = d->r * d->s;
  for (int c = 0; c < d->c; c++)
    for (int t = 0; t < rs; t++) wt[(int64_t)t * d->c + c] = w[(int64_t)c * rs + t];
}

static void conv_dw_forward(int threads, const graft_conv2d_desc *d,
                            const float *x,    /* (N, H, W, C) */
                            const float *wt,   /* (R, S, C) */
                            const float *bias, /* (C) or NULL */
                            float *y) /* (N, P, Q, C) */ {
  const int c = d->c;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t np = 0; np < (int64_t)d->n * d->p; np++) {
    int64_t n = np / d->p;
    int h0 = (int)(np % d->p) * d->stride_h - d->pad_h;
    for (int q = 0; q < d->q; q++) {
      float *o = y + (np * d->q + q) * c;
      int w0 = q * d->stride_w - d->pad_w;
      for (int j = 0; j < c; j++) o[j] = bias ? bias[j] : 0.0f;
      for (int r = 0; r < d->r; r++) {
        int h = h0 + r * d->dil_h;
        if (h < 0 || h >= d->h) continue;
        for (int s = 0; s < d->s; s++) {
          int w = w0 + s * d->dil_w;
          if (w < 0 || w >= d->w) continue;
          const float *xv = x + ((n * d->h + h) * d->w + w) * c;
          const float *wv = wt + (int64_t)(r * d->s + s) * c;
          for (int j = 0; j < c; j++) o[j] += xv[j] * wv[j];
        }
      }
    }
  }
}

static void conv_dw_backward_data(int threads, const graft_conv2d_desc *d,
                                  const float *wt, /* (R, S, C) */
                                  const float *dy, /* (N, P, Q, C) */
                                  float *dx) /* (N, H, W, C) */ {
  const int c = d->c;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t nh = 0; nh < (int64_t)d->n * d->h; nh++) {
    int64_t n = nh / d->h;
    int h = (int)(nh % d->h);
    for (int w = 0; w < d->w; w++) {
      float *o = dx + (nh * d->w + w) * c;
      for (int r = 0; r < d->r; r++) {
        int th = h + d->pad_h - r * d->dil_h;
        if (th < 0 || th % d->stride_h || th / d->stride_h >= d->p) continue;
        for (int s = 0; s < d->s; s++) {
          int tw = w + d->pad_w - s * d->dil_w;
          if (tw < 0 || tw % d->stride_w || tw / d->stride_w >= d->q) continue;
          const float *g = dy + ((n * d->p + th / d->stride_h) * d->q + tw / d->stride_w) * c;
          const float *wv = wt + (int64_t)(r * d->s + s) * c;
          for (int j = 0; j < c; j++) o[j] += g[j] * wv[j];
        }
      }
    }
  }
}

/* acc (R, S, C) = the weight gradient with taps outermost; each thread owns
 * a range of channels over the whole batch. */
static void conv_dw_backward_weight(int threads, const graft_conv2d_desc *d,
                                    const float *x,  /* (N, H, W, C) */
                                    const float *dy, /* (N, P, Q, C) */
                                    float *acc) /* (R, S, C) */ {
  const int c = d->c;
  memset(acc, 0, (size_t)d->r * d->s * c * sizeof(float));
#pragma omp parallel num_threads(threads)
  {
    int64_t lo, hi;
    conv_split(c, &lo, &hi);
    for (int64_t np = 0; hi > lo && np < (int64_t)d->n * d->p; np++) {
      int64_t n = np / d->p;
      int h0 = (int)(np % d->p) * d->stride_h - d->pad_h;
      for (int q = 0; q < d->q; q++) {
        const float *g = dy + (np * d->q + q) * c;
        int w0 = q * d->stride_w - d->pad_w;
        for (int r = 0; r < d->r; r++) {
          int h = h0 + r * d->dil_h;
          if (h < 0 || h >= d->h) continue;
          for (int s = 0; s < d->s; s++) {
            int w = w0 + s * d->dil_w;
            if (w < 0 || w >= d->w) continue;
            const float *xv = x + ((n * d->h + h) * d->w + w) * c;
            float *a = acc + (int64_t)(r * d->s + s) * c;
            for (int64_t j = lo; j < hi; j++) a[j] += g[j] * xv[j];
          }
        }
      }
    }
  }
}

/* ---- forward ------------------------------------------------------------ */

graft_status graft_conv2d_forward_ref(graft_ctx *ctx, const graft_conv2d_desc *d,
                                      const float *x,    /* (N, H, W, C) */
                                      const float *w,    /* (K, R, S, C/groups) */
                                      const float *bias, /* (K) or NULL */
                                      float *y) /* (N, P, Q, K) */ {
  conv_plan pl;
  GRAFT_TRY(conv_begin(ctx, d, "forward", 1, &pl));
  if (!x || !w || !y) GRAFT_FAIL(GRAFT_EINVAL, "conv2d forward: NULL x, w or y");
  const int threads = conv_threads(ctx), k = d->k, kg = pl.kg, cg = pl.cg, rscg = pl.rscg;
  float *col = ctx->workspace; /* (nb*P*Q, R*S*C/groups); depthwise: (R, S, C) */

  if (pl.path == CONV_DEPTHWISE) {
    conv_dw_transpose(d, w, col);
    conv_dw_forward(threads, d, x, col, bias, y);
    return GRAFT_OK;
  }
  int blas = conv_blas_enter();
  if (pl.path == CONV_DIRECT) {
#pragma omp parallel num_threads(threads)
    {
      int64_t lo, hi;
      conv_split((int64_t)d->n * pl.pq, &lo, &hi);
      for (int g = 0; hi > lo && g < d->groups; g++) {
        float *yb = y + lo * k + (int64_t)g * kg; /* (hi-lo, K), kg columns */
        float beta = conv_bias_rows(yb, hi - lo, k, kg, bias ? bias + (int64_t)g * kg : NULL);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), kg, cg, 1.0f,
                    x + lo * d->c + (int64_t)g * cg, d->c, w + (int64_t)g * kg * cg, cg, beta, yb,
                    k);
      }
    }
  } else {
    for (int n0 = 0; n0 < d->n; n0 += pl.nb) {
      int64_t rows = (int64_t)(d->n - n0 < pl.nb ? d->n - n0 : pl.nb) * pl.pq;
      int64_t row0 = (int64_t)n0 * pl.pq;
#pragma omp parallel num_threads(threads)
      {
        int64_t lo, hi;
        conv_split(rows, &lo, &hi);
        for (int g = 0; hi > lo && g < d->groups; g++) {
          float *cb = col + lo * rscg;                        /* (hi-lo, R*S*C/groups) */
          float *yb = y + (row0 + lo) * k + (int64_t)g * kg; /* (hi-lo, K), kg columns */
          conv_im2col(&pl, x, g, row0 + lo, hi - lo, cb);
          float beta = conv_bias_rows(yb, hi - lo, k, kg, bias ? bias + (int64_t)g * kg : NULL);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), kg, rscg, 1.0f, cb,
                      rscg, w + (int64_t)g * kg * rscg, rscg, beta, yb, k);
        }
      }
    }
  }
  conv_blas_leave(blas);
  return GRAFT_OK;
}

/* ---- backward ----------------------------------------------------------- */

static void conv_backward_direct(int threads, const conv_plan *pl,
                                 const float *x,  /* (N, H, W, C) */
                                 const float *w,  /* (K, 1, 1, C/groups) */
                                 const float *dy, /* (N, H, W, K) */
                                 float *dx,       /* (N, H, W, C) or NULL */
                                 float *dw) /* (K, 1, 1, C/groups) or NULL */ {
  const graft_conv2d_desc *d = pl->d;
  const int k = d->k, c = d->c, kg = pl->kg, cg = pl->cg;
  const int64_t rows = (int64_t)d->n * pl->pq;
#pragma omp parallel num_threads(threads)
  {
    int64_t lo, hi;
    conv_split(rows, &lo, &hi);
    for (int g = 0; g < d->groups; g++) {
      if (dw)
        conv_weight_gemm((int)rows, kg, cg, dy + (int64_t)g * kg, k, x + (int64_t)g * cg, c,
                         dw + (int64_t)g * kg * cg);
      if (dx && hi > lo)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), cg, kg, 1.0f,
                    dy + lo * k + (int64_t)g * kg, k, w + (int64_t)g * kg * cg, cg, 1.0f,
                    dx + lo * c + (int64_t)g * cg, c);
    }
  }
}

static void conv_backward_general(int threads, const conv_plan *pl,
                                  const float *x,  /* (N, H, W, C) */
                                  const float *w,  /* (K, R, S, C/groups) */
                                  const float *dy, /* (N, P, Q, K) */
                                  float *dx,       /* (N, H, W, C) or NULL */
                                  float *dw,       /* (K, R, S, C/groups) or NULL */
                                  float *col) /* (nb*P*Q, R*S*C/groups) */ {
  const graft_conv2d_desc *d = pl->d;
  const int k = d->k, kg = pl->kg, rscg = pl->rscg;
  for (int n0 = 0; n0 < d->n; n0 += pl->nb) {
    int nb = d->n - n0 < pl->nb ? d->n - n0 : pl->nb;
    int64_t rows = (int64_t)nb * pl->pq, row0 = (int64_t)n0 * pl->pq;
    const float *dyc = dy + row0 * k; /* (rows, K) */
#pragma omp parallel num_threads(threads)
    {
      int64_t lo, hi;
      conv_split(rows, &lo, &hi);
      for (int g = 0; g < d->groups; g++) {
        const float *dyg = dyc + (int64_t)g * kg; /* (rows, K), kg columns */
        if (dw) {
          conv_im2col(pl, x, g, row0 + lo, hi - lo, col + lo * rscg);
#pragma omp barrier
          conv_weight_gemm((int)rows, kg, rscg, dyg, k, col, rscg, dw + (int64_t)g * kg * rscg);
#pragma omp barrier
        }
        if (dx) {
          if (hi > lo)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), rscg, kg, 1.0f,
                        dyg + lo * k, k, w + (int64_t)g * kg * rscg, rscg, 0.0f, col + lo * rscg,
                        rscg);
#pragma omp barrier
#pragma omp for schedule(static)
          for (int64_t item = 0; item < (int64_t)nb * d->h; item++)
            conv_col2im_row(pl, col, g, n0, item, dx);
        }
      }
    }
  }
}

graft_status graft_conv2d_backward_ref(graft_ctx *ctx, const graft_conv2d_desc *d,
                                       const float *x,  /* (N, H, W, C) */
                                       const float *w,  /* (K, R, S, C/groups) */
                                       const float *dy, /* (N, P, Q, K) */
                                       float *dx,       /* (N, H, W, C) or NULL */
                                       float *dw,       /* (K, R, S, C/groups) or NULL */
                                       float *dbias) /* (K) or NULL */ {
  conv_plan pl;
  GRAFT_TRY(conv_begin(ctx, d, "backward", dx || dw, &pl));
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "conv2d backward: NULL dy");
  if (dw && !x) GRAFT_FAIL(GRAFT_EINVAL, "conv2d backward: dw wanted but x is NULL");
  if (dx && !w) GRAFT_FAIL(GRAFT_EINVAL, "conv2d backward: dx wanted but w is NULL");
  const int threads = conv_threads(ctx);
  float *ws = ctx->workspace; /* (nb*P*Q, R*S*C/groups); depthwise: (R, S, C) */

  if (dbias) conv_bias_grad(threads, (int64_t)d->n * pl.pq, d->k, dy, dbias);
  if (pl.path == CONV_DEPTHWISE) {
    const int rs = d->r * d->s;
    if (dw) {
      conv_dw_backward_weight(threads, d, x, dy, ws);
      for (int c = 0; c < d->c; c++)
        for (int t = 0; t < rs; t++) dw[(int64_t)c * rs + t] += ws[(int64_t)t * d->c + c];
    }
    if (dx) {
      conv_dw_transpose(d, w, ws);
      conv_dw_backward_data(threads, d, ws, dy, dx);
    }
    return GRAFT_OK;
  }
  if (!dx && !dw) return GRAFT_OK;
  int blas = conv_blas_enter();
  if (pl.path == CONV_DIRECT)
    conv_backward_direct(threads, &pl, x, w, dy, dx, dw);
  else
    conv_backward_general(threads, &pl, x, w, dy, dx, dw, ws);
  conv_blas_leave(blas);
  return GRAFT_OK;
}

/* tensor_ref.c: the CPU reference of the data-movement ops: elementwise add
 * and accumulate (residual connections and fan-out), channel concatenation
 * and its split, nearest-neighbour upsampling, and inverted dropout whose
 * mask comes from the counter-based hash in math.h, so the GPU drops the
 * same elements for the same seed. */
#include <string.h>

#include "core/log.h"
#include "ops/math.h"
#include "ops/ops.h"

/* Below this many elements a parallel region costs more than it saves. */
#define TENSOR_PARALLEL_MIN 32768

static int tensor_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

static graft_status count_check(const char *op, int64_t n) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  return GRAFT_OK;
}

/* ---- add and accumulate ------------------------------------------------ */

graft_status graft_add_forward_ref(graft_ctx *ctx, int64_t n,
                                   const float *a, /* (n) */
                                   const float *b, /* (n) */
                                   float *y)       /* (n) */
{
  GRAFT_TRY(count_check("add_forward", n));
  if (n > 0 && (!a || !b || !y)) GRAFT_FAIL(GRAFT_EINVAL, "add_forward: NULL tensor");
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (n >= TENSOR_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
  return GRAFT_OK;
}

graft_status graft_accumulate_ref(graft_ctx *ctx, int64_t n,
                                  const float *src, /* (n) */
                                  float *dst)       /* (n) accumulated */
{
  GRAFT_TRY(count_check("accumulate", n));
  if (n > 0 && (!src || !dst)) GRAFT_FAIL(GRAFT_EINVAL, "accumulate: NULL tensor");
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (n >= TENSOR_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
  return GRAFT_OK;
}

/* ---- channel concatenation --------------------------------------------- */

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

graft_status graft_concat_forward_ref(graft_ctx *ctx, int64_t m, int count,
                                      const float *const *xs, /* count x (M, cs[i]) */
                                      const int *cs,          /* (count) */
                                      float *y)               /* (M, sum cs) */
{
  int ctot = 0;
  GRAFT_TRY(concat_check("concat_forward", m, count, cs, &ctot));
  if (m == 0 || ctot == 0) return GRAFT_OK;
  if (!xs || !y) GRAFT_FAIL(GRAFT_EINVAL, "concat_forward: NULL tensor");
  for (int i = 0; i < count; i++)
    if (cs[i] > 0 && !xs[i]) GRAFT_FAIL(GRAFT_EINVAL, "concat_forward: part %d is NULL", i);
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (m * ctot >= TENSOR_PARALLEL_MIN)
  for (int64_t r = 0; r < m; r++) {
    float *row = y + r * ctot; /* (sum cs) */
    for (int i = 0; i < count; i++) {
      if (cs[i] == 0) continue;
      memcpy(row, xs[i] + r * cs[i], (size_t)cs[i] * sizeof(float));
      row += cs[i];
    }
  }
  return GRAFT_OK;
}

graft_status graft_concat_backward_ref(graft_ctx *ctx, int64_t m, int count,
                                       const float *dy,   /* (M, sum cs) */
                                       const int *cs,     /* (count) */
                                       float *const *dxs) /* count x (M, cs[i]), NULL to skip */
{
  int ctot = 0;
  GRAFT_TRY(concat_check("concat_backward", m, count, cs, &ctot));
  if (m == 0 || ctot == 0 || !dxs) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "concat_backward: NULL dy");
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (m * ctot >= TENSOR_PARALLEL_MIN)
  for (int64_t r = 0; r < m; r++) {
    const float *row = dy + r * ctot; /* (sum cs) */
    for (int i = 0; i < count; i++) {
      float *dst = dxs[i]; /* (M, cs[i]) or NULL */
      if (dst) {
        dst += r * cs[i];
        for (int j = 0; j < cs[i]; j++) dst[j] += row[j];
      }
      row += cs[i];
    }
  }
  return GRAFT_OK;
}

/* ---- nearest-neighbour upsampling -------------------------------------- */

static graft_status upsample_check(const char *op, int n, int h, int w, int c, int fh, int fw) {
  if (n < 0 || h < 0 || w < 0 || c < 0 || fh < 1 || fw < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d h=%d w=%d c=%d factors %dx%d", op, n, h, w, c,
               fh, fw);
  return GRAFT_OK;
}

graft_status graft_upsample_forward_ref(graft_ctx *ctx, int n, int h, int w, int c, int fh,
                                        int fw,
                                        const float *x, /* (N, H, W, C) */
                                        float *y)       /* (N, H*fh, W*fw, C) */
{
  GRAFT_TRY(upsample_check("upsample_forward", n, h, w, c, fh, fw));
  const int64_t oh = (int64_t)h * fh, ow = (int64_t)w * fw;
  const int64_t rows = (int64_t)n * oh; /* output rows (N, H*fh) */
  if (rows == 0 || ow == 0 || c == 0) return GRAFT_OK;
  if (!x || !y) GRAFT_FAIL(GRAFT_EINVAL, "upsample_forward: NULL tensor");
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (rows * ow * c >= TENSOR_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t b = r / oh, oy = r % oh;
    const float *src = x + (b * h + oy / fh) * w * c; /* (W, C) */
    float *dst = y + r * ow * c;                       /* (W*fw, C) */
    for (int64_t ox = 0; ox < ow; ox++)
      memcpy(dst + ox * c, src + (ox / fw) * c, (size_t)c * sizeof(float));
  }
  return GRAFT_OK;
}

graft_status graft_upsample_backward_ref(graft_ctx *ctx, int n, int h, int w, int c, int fh,
                                         int fw,
                                         const float *dy, /* (N, H*fh, W*fw, C) */
                                         float *dx)       /* (N, H, W, C) accumulated, or NULL */
{
  GRAFT_TRY(upsample_check("upsample_backward", n, h, w, c, fh, fw));
  const int64_t rows = (int64_t)n * h; /* input rows (N, H) */
  if (!dx || rows == 0 || w == 0 || c == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "upsample_backward: NULL dy");
  const int64_t ow = (int64_t)w * fw;
  /* Each thread owns whole input rows, so no two threads add into one dx. */
#pragma omp parallel for num_threads(tensor_threads(ctx)) \
    if (rows * w * c * fh * fw >= TENSOR_PARALLEL_MIN)
  for (int64_t r = 0; r < rows; r++) {
    float *drow = dx + r * w * c; /* (W, C) */
    for (int a = 0; a < fh; a++) {
      const float *src = dy + (r * fh + a) * ow * c; /* (W*fw, C) */
      for (int64_t ox = 0; ox < ow; ox++) {
        float *d = drow + (ox / fw) * c;
        const float *s = src + ox * c;
        for (int k = 0; k < c; k++) d[k] += s[k];
      }
    }
  }
  return GRAFT_OK;
}

/* ---- inverted dropout -------------------------------------------------- */

static graft_status dropout_check(const char *op, int64_t n, float p) {
  GRAFT_TRY(count_check(op, n));
  if (!(p >= 0.0f && p < 1.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: drop probability %g is outside [0, 1)", op, (double)p);
  return GRAFT_OK;
}

graft_status graft_dropout_forward_ref(graft_ctx *ctx, int64_t n, float p, uint64_t seed,
                                       const float *x, /* (n) */
                                       float *y)       /* (n) */
{
  GRAFT_TRY(dropout_check("dropout_forward", n, p));
  if (n > 0 && (!x || !y)) GRAFT_FAIL(GRAFT_EINVAL, "dropout_forward: NULL tensor");
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (n >= TENSOR_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++)
    y[i] = graft_dropout_keep(seed, (uint64_t)i, p) ? x[i] * scale : 0.0f;
  return GRAFT_OK;
}

graft_status graft_dropout_backward_ref(graft_ctx *ctx, int64_t n, float p, uint64_t seed,
                                        const float *dy, /* (n) */
                                        float *dx)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(dropout_check("dropout_backward", n, p));
  if (!dx) return GRAFT_OK;
  if (n > 0 && !dy) GRAFT_FAIL(GRAFT_EINVAL, "dropout_backward: NULL dy");
  const float scale = 1.0f / (1.0f - p);
#pragma omp parallel for num_threads(tensor_threads(ctx)) if (n >= TENSOR_PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++)
    if (graft_dropout_keep(seed, (uint64_t)i, p)) dx[i] += dy[i] * scale;
  return GRAFT_OK;
}

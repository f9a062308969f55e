/* linear_ref.c: the CPU reference of the fully connected layer,
 * y = x W^T + b with W stored (out, in) as PyTorch stores it. The three
 * products go to OpenBLAS; backward accumulates with beta = 1, which is what
 * cuBLAS does on the GPU side. */
#include <cblas.h>

#include "core/log.h"
#include "ops/ops.h"

/* Below this many bias-gradient terms the column sums stay on one thread. */
#define LINEAR_PARALLEL_MIN 32768

static int linear_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

static graft_status linear_check(const char *op, const graft_linear_desc *d) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->n < 0 || d->in < 1 || d->out < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d in=%d out=%d", op, d->n, d->in, d->out);
  return GRAFT_OK;
}

graft_status graft_linear_forward_ref(graft_ctx *ctx, const graft_linear_desc *d,
                                      const float *x,    /* (N, in) */
                                      const float *w,    /* (out, in) */
                                      const float *bias, /* (out) or NULL */
                                      float *y)          /* (N, out) */
{
  GRAFT_TRY(linear_check("linear_forward", d));
  const int n = d->n, in = d->in, out = d->out;
  if (n == 0) return GRAFT_OK;
  if (!x || !w || !y) GRAFT_FAIL(GRAFT_EINVAL, "linear_forward: NULL tensor");
  float beta = 0.0f;
  if (bias) {
#pragma omp parallel for num_threads(linear_threads(ctx)) \
    if ((int64_t)n * out >= LINEAR_PARALLEL_MIN)
    for (int i = 0; i < n; i++)
      for (int j = 0; j < out; j++) y[(int64_t)i * out + j] = bias[j];
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in, beta, y,
              out);
  return GRAFT_OK;
}

graft_status graft_linear_backward_ref(graft_ctx *ctx, const graft_linear_desc *d,
                                       const float *x,  /* (N, in) */
                                       const float *w,  /* (out, in) */
                                       const float *dy, /* (N, out) */
                                       float *dx,       /* (N, in) accumulated, or NULL */
                                       float *dw,       /* (out, in) accumulated, or NULL */
                                       float *dbias)    /* (out) accumulated, or NULL */
{
  GRAFT_TRY(linear_check("linear_backward", d));
  const int n = d->n, in = d->in, out = d->out;
  if (n == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "linear_backward: NULL dy");
  if (dx) {
    if (!w) GRAFT_FAIL(GRAFT_EINVAL, "linear_backward: dx wanted but w is NULL");
    /* dx (N, in) += dy (N, out) . W (out, in) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w, in,
                1.0f, dx, in);
  }
  if (dw) {
    if (!x) GRAFT_FAIL(GRAFT_EINVAL, "linear_backward: dw wanted but x is NULL");
    /* dW (out, in) += dy^T (out, N) . x (N, in) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in, 1.0f,
                dw, in);
  }
  if (dbias) {
#pragma omp parallel for num_threads(linear_threads(ctx)) \
    if ((int64_t)n * out >= LINEAR_PARALLEL_MIN)
    for (int j = 0; j < out; j++) {
      double s = 0.0;
      for (int i = 0; i < n; i++) s += dy[(int64_t)i * out + j];
      dbias[j] += (float)s;
    }
  }
  return GRAFT_OK;
}

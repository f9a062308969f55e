/* linear.cu: the fully connected layer on the device, y = x W^T + b with W
 * stored (out, in) as PyTorch stores it, through cuBLASLt in fp32.
 *
 * cuBLASLt is column-major; a row-major (R, C) array is the column-major
 * (C, R) matrix, its transpose, so each product is called with its operands
 * swapped:
 *   forward  y^T  (out, N)  = W (out, in)   . x^T (in, N)     [A = W^T stored]
 *   dx^T     (in, N)       += W^T (in, out) . dy^T (out, N)
 *   dW^T     (in, out)     += x^T (in, N)   . dy (N, out)     [B = dy^T stored]
 * Gradients accumulate through beta = 1. The forward with a bias first
 * fills y with the bias rows and then multiplies with beta = 1, as the CPU
 * reference does; the bias gradient is a column sum in double, one thread
 * per column adding the rows in order (deterministic, no atomics).
 *
 * The descriptors are initialized in place (the *Init calls on stack
 * storage), so a call allocates nothing; the heuristic is asked each call
 * with the operands' real alignment, and the matmul may use the context's
 * workspace. */
#include "gpu_impl.h"
#include "ops_gpu.h"

#define LT_MAX_ALIGN 256 /* cuBLASLt's default alignment assumption */

/* The largest power of two up to LT_MAX_ALIGN that divides p's address. */
static uint32_t lt_alignment(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t align = LT_MAX_ALIGN;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

/* D = C = alpha * op(A) . op(B) + beta * C in column-major fp32, op(A)
 * (m, k), op(B) (k, n), C (m, n) with leading dimension ldc. */
static graft_status lt_gemm(graft_ctx *ctx, const char *op, cublasOperation_t ta,
                            cublasOperation_t tb, int m, int n, int k,
                            const float *a, int lda, /* stored (ta ? k : m, ta ? m : k) */
                            const float *b, int ldb, /* stored (tb ? n : k, tb ? k : n) */
                            float beta, float *c, int ldc) /* (m, n) */
{
  graft_gpu *g = graft_gpu_of(ctx);
  const float alpha = 1.0f;
  cublasLtMatmulDescOpaque_t desc_s;
  cublasLtMatrixLayoutOpaque_t a_s, b_s, c_s;
  cublasLtMatmulPreferenceOpaque_t pref_s;
  cublasLtMatmulDesc_t desc = &desc_s;
  cublasLtMatrixLayout_t la = &a_s, lb = &b_s, lc = &c_s;
  cublasLtMatmulPreference_t pref = &pref_s;
  const int ta_t = ta == CUBLAS_OP_T, tb_t = tb == CUBLAS_OP_T;
  GRAFT_CUBLAS_CHECK(cublasLtMatmulDescInit(desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatrixLayoutInit(la, CUDA_R_32F, ta_t ? k : m, ta_t ? m : k, lda));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatrixLayoutInit(lb, CUDA_R_32F, tb_t ? n : k, tb_t ? k : n, ldb));
  GRAFT_CUBLAS_CHECK(cublasLtMatrixLayoutInit(lc, CUDA_R_32F, m, n, ldc));

  const size_t ws_bytes = ctx->workspace ? ctx->workspace_bytes : 0;
  const uint32_t align_a = lt_alignment(a), align_b = lt_alignment(b), align_c = lt_alignment(c);
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceInit(pref));
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c));
  GRAFT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c));

  cublasLtMatmulHeuristicResult_t heur;
  int found = 0;
  GRAFT_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(g->cublaslt, desc, la, lb, lc, lc, pref, 1,
                                                    &heur, &found));
  if (found < 1)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: cuBLASLt has no algorithm for m=%d n=%d k=%d", op, m, n, k);
  GRAFT_CUBLAS_CHECK(cublasLtMatmul(g->cublaslt, desc, &alpha, a, la, b, lb, &beta, c, lc, c, lc,
                                    &heur.algo, ctx->workspace, ws_bytes, g->stream));
  return GRAFT_OK;
}

/* y[i, j] = bias[j]. */
static __global__ void bias_rows_kernel(int64_t total, int out,
                                        const float *__restrict__ bias, /* (out) */
                                        float *__restrict__ y)          /* (N, out) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) y[e] = bias[e % out];
}

/* dbias[j] += sum over i of dy[i, j], added in row order in double. */
static __global__ void bias_grad_kernel(int n, int out,
                                        const float *__restrict__ dy, /* (N, out) */
                                        float *__restrict__ dbias)    /* (out) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(j, out) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += dy[(int64_t)i * out + j];
    dbias[j] += (float)s;
  }
}

static graft_status linear_check(const char *op, const graft_linear_desc *d) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->n < 0 || d->in < 1 || d->out < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d in=%d out=%d", op, d->n, d->in, d->out);
  return GRAFT_OK;
}

extern "C" graft_status graft_linear_forward_gpu(graft_ctx *ctx, const graft_linear_desc *d,
                                                 const float *x,    /* (N, in) */
                                                 const float *w,    /* (out, in) */
                                                 const float *bias, /* (out) or NULL */
                                                 float *y)          /* (N, out) */
{
  static const char op[] = "linear_forward";
  GRAFT_TRY(linear_check(op, d));
  if (d->n == 0) return GRAFT_OK;
  if (!x || !w || !y) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  float beta = 0.0f;
  if (bias) {
    graft_gpu *g = graft_gpu_of(ctx);
    const int64_t total = (int64_t)d->n * d->out;
    bias_rows_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(total, d->out, bias, y);
    GRAFT_LAUNCH_CHECK(g);
    beta = 1.0f;
  }
  /* y^T (out, N) = W (out, in) . x^T (in, N) */
  return lt_gemm(ctx, op, CUBLAS_OP_T, CUBLAS_OP_N, d->out, d->n, d->in, w, d->in, x, d->in, beta,
                 y, d->out);
}

extern "C" graft_status graft_linear_backward_gpu(graft_ctx *ctx, const graft_linear_desc *d,
                                                  const float *x,  /* (N, in) */
                                                  const float *w,  /* (out, in) */
                                                  const float *dy, /* (N, out) */
                                                  float *dx,       /* (N, in) or NULL */
                                                  float *dw,       /* (out, in) or NULL */
                                                  float *dbias)    /* (out) or NULL */
{
  static const char op[] = "linear_backward";
  GRAFT_TRY(linear_check(op, d));
  if (d->n == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL dy", op);
  if (dx) {
    if (!w) GRAFT_FAIL(GRAFT_EINVAL, "%s: dx wanted but w is NULL", op);
    /* dx^T (in, N) += W^T (in, out) . dy^T (out, N) */
    GRAFT_TRY(lt_gemm(ctx, op, CUBLAS_OP_N, CUBLAS_OP_N, d->in, d->n, d->out, w, d->in, dy,
                      d->out, 1.0f, dx, d->in));
  }
  if (dw) {
    if (!x) GRAFT_FAIL(GRAFT_EINVAL, "%s: dw wanted but x is NULL", op);
    /* dW^T (in, out) += x^T (in, N) . dy (N, out) */
    GRAFT_TRY(lt_gemm(ctx, op, CUBLAS_OP_N, CUBLAS_OP_T, d->in, d->out, d->n, x, d->in, dy,
                      d->out, 1.0f, dw, d->in));
  }
  if (dbias) {
    graft_gpu *g = graft_gpu_of(ctx);
    bias_grad_kernel<<<graft_grid_1d(d->out), GRAFT_BLOCK, 0, g->stream>>>(d->n, d->out, dy,
                                                                           dbias);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

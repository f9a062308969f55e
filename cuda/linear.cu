/* linear.cu: the fully connected layer on the device, y = x W^T + b with W
 * stored (out, in) as PyTorch stores it, through cuBLASLt, in the
 * context's precision mode:
 *   fp32  fp32 A, B, C and CUBLAS_COMPUTE_32F (no TF32);
 *   tf32  fp32 A, B, C and CUBLAS_COMPUTE_32F_FAST_TF32;
 *   bf16  A and B bf16, CUBLAS_COMPUTE_32F (fp32 products and sums).
 *         x and dx are bf16 activations (ops.h) used in place; W is
 *         rounded to a bf16 copy and dy (fp32: the logits' gradient) to a
 *         bf16 copy, both staged at the start of the workspace (cast.h).
 *         y and dW are fp32 C/D, written or added with no bf16 rounding
 *         of their own; dx is a bf16 C/D, so dx + dy W is rounded once.
 *         cuBLASLt gets the workspace behind the staging;
 *         graft_linear_workspace_gpu says how large the staging is
 *         (layer_linear.c reserves it).
 *
 * cuBLASLt is column-major; a row-major (R, C) array is the column-major
 * (C, R) matrix, its transpose, so each product is called with its operands
 * swapped:
 *   forward  y^T  (out, N)  = W (out, in)   . x^T (in, N)     [A = W^T stored]
 *   dx^T     (in, N)       += W^T (in, out) . dy^T (out, N)
 *   dW^T     (in, out)     += x^T (in, N)   . dy (N, out)     [B = dy^T stored]
 * Gradients accumulate through beta = 1. The forward adds the bias in
 * cuBLASLt's bias epilogue (one kernel); where no algorithm offers the
 * epilogue it fills y with the bias rows and multiplies with beta = 1, as
 * the CPU reference does. The bias gradient is a column sum of the fp32 dy in
 * double, one thread per column adding the rows in order (deterministic,
 * no atomics), in every precision.
 *
 * The descriptors are initialized in place (the *Init calls on stack
 * storage), so a call allocates nothing; the heuristic is asked each call
 * with the operands' real alignment, and the matmul may use the context's
 * workspace. */
#include <string.h>

#include "cast.h"
#include "gpu_impl.h"
#include "ops_gpu.h"

#define LT_MAX_ALIGN 256 /* cuBLASLt's default alignment assumption */
#define STAGE_ALIGN 256  /* each bf16 staging slot starts on this many bytes */

/* The largest power of two up to LT_MAX_ALIGN that divides p's address. */
static uint32_t lt_alignment(const void *p) {
  uintptr_t a = (uintptr_t)p;
  uint32_t align = LT_MAX_ALIGN;
  while (align > 1 && (a % align) != 0) align /= 2;
  return align;
}

/* The element type of A and B and the compute type of a precision mode. */
typedef struct {
  cudaDataType_t ab;
  cublasComputeType_t compute;
} lt_types;

static lt_types lt_types_of(graft_precision prec) {
  switch (prec) {
    case GRAFT_PREC_TF32: return (lt_types){CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32};
    case GRAFT_PREC_BF16: return (lt_types){CUDA_R_16BF, CUBLAS_COMPUTE_32F};
    default: return (lt_types){CUDA_R_32F, CUBLAS_COMPUTE_32F};
  }
}

/* D = C = alpha * op(A) . op(B) + beta * C (+ bias[row] when bias is not
 * NULL, in the epilogue) in column-major, op(A) (m, k), op(B) (k, n), C
 * (m, n) of element type cd (CUDA_R_32F, or CUDA_R_16BF for a bf16 dx)
 * with leading dimension ldc; A and B of t.ab, math of t.compute, alpha
 * and beta fp32; cuBLASLt may use ws_bytes of scratch at ws. With a bias
 * and no algorithm offering its epilogue, returns GRAFT_ENOTFOUND without
 * a message, for the caller to add the bias another way. */
static graft_status lt_gemm(graft_ctx *ctx, const char *op, lt_types t, cublasOperation_t ta,
                            cublasOperation_t tb, int m, int n, int k,
                            const void *a, int lda, /* stored (ta ? k : m, ta ? m : k) */
                            const void *b, int ldb, /* stored (tb ? n : k, tb ? k : n) */
                            float beta, cudaDataType_t cd, void *c, int ldc, /* (m, n) */
                            const float *bias,                               /* (m) or NULL */
                            void *ws, size_t ws_bytes)
{
  graft_gpu *g = graft_gpu_of(ctx);
  const float alpha = 1.0f;
  const cudaDataType_t scale = CUDA_R_32F;
  cublasLtMatmulDescOpaque_t desc_s;
  cublasLtMatrixLayoutOpaque_t a_s, b_s, c_s;
  cublasLtMatmulPreferenceOpaque_t pref_s;
  cublasLtMatmulDesc_t desc = &desc_s;
  cublasLtMatrixLayout_t la = &a_s, lb = &b_s, lc = &c_s;
  cublasLtMatmulPreference_t pref = &pref_s;
  const int ta_t = ta == CUBLAS_OP_T, tb_t = tb == CUBLAS_OP_T;
  GRAFT_CUBLAS_CHECK(cublasLtMatmulDescInit(desc, t.compute, scale));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  GRAFT_CUBLAS_CHECK(
      cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  if (bias) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    const cudaDataType_t bias_type = CUDA_R_32F;
    GRAFT_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    GRAFT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias, sizeof bias));
    GRAFT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                      &bias_type, sizeof bias_type));
  }
  GRAFT_CUBLAS_CHECK(cublasLtMatrixLayoutInit(la, t.ab, ta_t ? k : m, ta_t ? m : k, lda));
  GRAFT_CUBLAS_CHECK(cublasLtMatrixLayoutInit(lb, t.ab, tb_t ? n : k, tb_t ? k : n, ldb));
  GRAFT_CUBLAS_CHECK(cublasLtMatrixLayoutInit(lc, cd, m, n, ldc));

  if (!ws) ws_bytes = 0;
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
  /* "No algorithm" comes back as CUBLAS_STATUS_NOT_SUPPORTED as well as
   * found = 0: both are an answer, not an error. */
  const cublasStatus_t hs =
      cublasLtMatmulAlgoGetHeuristic(g->cublaslt, desc, la, lb, lc, lc, pref, 1, &heur, &found);
  if (hs == CUBLAS_STATUS_NOT_SUPPORTED) found = 0;
  else GRAFT_CUBLAS_CHECK(hs);
  if (found < 1 && bias) return GRAFT_ENOTFOUND;
  if (found < 1)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: cuBLASLt has no %s algorithm for m=%d n=%d k=%d", op,
               graft_precision_name(ctx->precision), m, n, k);
  GRAFT_CUBLAS_CHECK(cublasLtMatmul(g->cublaslt, desc, &alpha, a, la, b, lb, &beta, c, lc, c, lc,
                                    &heur.algo, ws, ws_bytes, g->stream));
  return GRAFT_OK;
}

/* ---- the bf16 staging ------------------------------------------------------
 * Two slots at the start of the workspace, each rounded up to STAGE_ALIGN
 * bytes: bf16 copies of w (out, in) and dy (N, out); cuBLASLt's scratch
 * follows. x and dx need none: they are bf16 already. */
static size_t stage_bytes(int64_t elems) {
  const size_t b = (size_t)elems * sizeof(uint16_t);
  return (b + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
}

extern "C" size_t graft_linear_workspace_gpu(const graft_linear_desc *d, graft_precision prec) {
  if (prec != GRAFT_PREC_BF16) return 0;
  return stage_bytes((int64_t)d->out * d->in) + stage_bytes((int64_t)d->n * d->out);
}

typedef struct {
  uint16_t *w;     /* (out, in) bf16 */
  uint16_t *dy;    /* (N, out) bf16 */
  void *ws;        /* cuBLASLt's scratch: (ws_bytes) */
  size_t ws_bytes;
} lt_staging;

/* Where the operands of ctx's precision live: the bf16 slots in bf16
 * (GRAFT_EWORKSPACE when the workspace cannot hold them), none otherwise;
 * cuBLASLt gets the rest of the workspace. GRAFT_EINVAL for an unknown
 * precision, GRAFT_EUNSUPPORTED for activations stored other than as the
 * precision runs them (bf16 with bf16, fp32 otherwise). */
static graft_status staging_of(graft_ctx *ctx, const char *op, const graft_linear_desc *d,
                               lt_staging *s) {
  if ((int)ctx->precision < 0 || ctx->precision >= GRAFT_PREC_COUNT)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown precision %d", op, (int)ctx->precision);
  const graft_dtype act = ctx->precision == GRAFT_PREC_BF16 ? GRAFT_DTYPE_BF16 : GRAFT_DTYPE_F32;
  if (ctx->act_dtype != act)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: %s precision runs on %s activations, the context stores %s",
               op, graft_precision_name(ctx->precision), graft_dtype_name(act),
               graft_dtype_name(ctx->act_dtype));
  const size_t bytes = graft_linear_workspace_gpu(d, ctx->precision);
  char *base = (char *)ctx->workspace;
  memset(s, 0, sizeof *s);
  if (bytes > 0 && (!base || ctx->workspace_bytes < bytes))
    GRAFT_FAIL(GRAFT_EWORKSPACE,
               "%s: the bf16 copies of w and dy need %zu workspace bytes, has %zu", op, bytes,
               base ? ctx->workspace_bytes : 0);
  if (bytes > 0) {
    s->w = (uint16_t *)base;
    s->dy = (uint16_t *)(base + stage_bytes((int64_t)d->out * d->in));
  }
  if (base) {
    s->ws = base + bytes;
    s->ws_bytes = ctx->workspace_bytes - bytes;
  }
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
                                                 const float *x,    /* (N, in) activations */
                                                 const float *w,    /* (out, in) */
                                                 const float *bias, /* (out) or NULL */
                                                 float *y)          /* (N, out) fp32 */
{
  static const char op[] = "linear_forward";
  GRAFT_TRY(linear_check(op, d));
  if (d->n == 0) return GRAFT_OK;
  if (!x || !w || !y) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  const lt_types t = lt_types_of(ctx->precision);
  lt_staging s;
  GRAFT_TRY(staging_of(ctx, op, d, &s));
  const void *a = w; /* x is B as stored: fp32, or bf16 in bf16 */
  if (s.w) {
    GRAFT_TRY(graft_cast_f32_to_bf16(ctx, (int64_t)d->out * d->in, w, s.w));
    a = s.w;
  }
  /* y^T (out, N) = W (out, in) . x^T (in, N) (+ bias per row of y^T) */
  if (bias) {
    graft_status st = lt_gemm(ctx, op, t, CUBLAS_OP_T, CUBLAS_OP_N, d->out, d->n, d->in, a, d->in, x,
                              d->in, 0.0f, CUDA_R_32F, y, d->out, bias, s.ws, s.ws_bytes);
    if (st != GRAFT_ENOTFOUND) return st;
    /* No epilogue on offer: y starts as the bias rows and the product adds. */
    graft_gpu *g = graft_gpu_of(ctx);
    const int64_t total = (int64_t)d->n * d->out;
    bias_rows_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(total, d->out, bias, y);
    GRAFT_LAUNCH_CHECK(g);
  }
  return lt_gemm(ctx, op, t, CUBLAS_OP_T, CUBLAS_OP_N, d->out, d->n, d->in, a, d->in, x, d->in,
                 bias ? 1.0f : 0.0f, CUDA_R_32F, y, d->out, NULL, s.ws, s.ws_bytes);
}

extern "C" graft_status graft_linear_backward_gpu(graft_ctx *ctx, const graft_linear_desc *d,
                                                  const float *x,  /* (N, in) activations */
                                                  const float *w,  /* (out, in) */
                                                  const float *dy, /* (N, out) fp32 */
                                                  float *dx, /* (N, in) activations or NULL */
                                                  float *dw,       /* (out, in) or NULL */
                                                  float *dbias)    /* (out) or NULL */
{
  static const char op[] = "linear_backward";
  GRAFT_TRY(linear_check(op, d));
  if (d->n == 0) return GRAFT_OK;
  if (!dy) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL dy", op);
  if (dx && !w) GRAFT_FAIL(GRAFT_EINVAL, "%s: dx wanted but w is NULL", op);
  if (dw && !x) GRAFT_FAIL(GRAFT_EINVAL, "%s: dw wanted but x is NULL", op);
  const lt_types t = lt_types_of(ctx->precision);
  lt_staging s;
  GRAFT_TRY(staging_of(ctx, op, d, &s));
  /* dx is C/D in the activations' type; x (B of dW) is used as stored */
  const cudaDataType_t dx_type = s.w ? CUDA_R_16BF : CUDA_R_32F;
  const void *wa = w, *dys = dy; /* A of dx and B of both: fp32, or the bf16 copies */
  if (s.dy && (dx || dw)) {
    GRAFT_TRY(graft_cast_f32_to_bf16(ctx, (int64_t)d->n * d->out, dy, s.dy));
    dys = s.dy;
  }
  if (dx) {
    if (s.w) {
      GRAFT_TRY(graft_cast_f32_to_bf16(ctx, (int64_t)d->out * d->in, w, s.w));
      wa = s.w;
    }
    /* dx^T (in, N) += W^T (in, out) . dy^T (out, N) */
    GRAFT_TRY(lt_gemm(ctx, op, t, CUBLAS_OP_N, CUBLAS_OP_N, d->in, d->n, d->out, wa, d->in, dys,
                      d->out, 1.0f, dx_type, dx, d->in, NULL, s.ws, s.ws_bytes));
  }
  if (dw) {
    /* dW^T (in, out) += x^T (in, N) . dy (N, out) */
    GRAFT_TRY(lt_gemm(ctx, op, t, CUBLAS_OP_N, CUBLAS_OP_T, d->in, d->out, d->n, x, d->in, dys,
                      d->out, 1.0f, CUDA_R_32F, dw, d->in, NULL, s.ws, s.ws_bytes));
  }
  if (dbias) {
    graft_gpu *g = graft_gpu_of(ctx);
    bias_grad_kernel<<<graft_grid_1d(d->out), GRAFT_BLOCK, 0, g->stream>>>(d->n, d->out, dy,
                                                                           dbias);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

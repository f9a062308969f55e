/* conv_exec.cu: the GPU convolution entries of ops.h, executed through
 * cuDNN backend plans (conv_plan_cache.h) on the context's stream with
 * ctx->workspace, in the context's precision mode (ctx->precision).
 *
 * fp32 and tf32 run cuDNN on the fp32 tensors themselves; they differ only
 * in the engines their plan keys admit (tf32 admits TF32 tensor-core
 * engines and prefers them). The forward runs the graph with the fused
 * bias when an engine serves it, else the plain convolution followed by a
 * bias kernel; backward data and backward filter add into dx and dw (their
 * graphs have beta 1).
 *
 * bf16 stores the activations as bf16 (ops.h): x, y, dx and dy are bf16
 * tensors that cuDNN reads and writes in place, with an fp32 compute type
 * (fp32 accumulation). Only the weights are fp32: w is rounded to bf16
 * (cast.h) into a staging slot at the start of the workspace, and cuDNN's
 * own workspace follows the slot.
 *   forward          y = bf16(conv(x, w)), then, with a bias, a kernel
 *                    y = bf16(float(y) + bias): cuDNN 9.19 has no engine
 *                    fusing a bf16 convolution with an fp32 bias (only a
 *                    bf16 one, which would round the bias).
 *   backward data    dx = bf16(dx + conv_transpose(dy, w)): the graph's
 *                    beta 1 on the bf16 dx, so dx is rounded once.
 *   backward filter  dw is written as bf16 over the staging slot (w's
 *                    copy is no longer needed by then) and added into the
 *                    fp32 dw by a kernel: cuDNN 9.19 has no engine taking
 *                    bf16 x and dy with an fp32 dw. dw is thus rounded to
 *                    bf16 before it is added, as PyTorch's autocast
 *                    computes it.
 *
 * dbias, the column sum of dy over N*P*Q rows, is two small kernels of our
 * own that sum dy (fp32, or bf16 widened) in fp32 in a fixed order in
 * every precision, so it is the same on every run. */
#include <stdint.h>

#include "act_io.cuh"
#include "cast.h"
#include "conv_plan_cache.h"
#include "ops_gpu.h"

/* dbias: stage 1 blocks of DBIAS_TILE channels x DBIAS_ROWS row lanes each
 * sum one chunk of rows; at most DBIAS_PARTS chunks, each at least
 * DBIAS_MIN_ROWS rows, whose (parts, K) partial sums live in the workspace. */
#define DBIAS_TILE 32
#define DBIAS_ROWS 8
#define DBIAS_PARTS 128
#define DBIAS_MIN_ROWS 1024

/* y (M, K) += bias (K), broadcast over the M = N*P*Q rows; n = M*K. */
__global__ void conv_bias_add_kernel(int64_t n, int k, const float *__restrict__ bias, /* (K) */
                                     float *__restrict__ y)                            /* (M, K) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) y[i] += bias[i % k];
}

/* partial[part][c] = sum of dy[r][c] over the rows r of chunk part; T is
 * dy's element type (float, or graft_bf16 read widened). */
template <typename T>
__global__ void conv_dbias_partial_kernel(int64_t m, int k, int64_t chunk,
                                          const T *__restrict__ dy,    /* (M, K) */
                                          float *__restrict__ partial) /* (parts, K) */
{
  __shared__ float lanes[DBIAS_ROWS][DBIAS_TILE + 1];
  const int c = blockIdx.x * DBIAS_TILE + threadIdx.x;
  const int64_t lo = (int64_t)blockIdx.y * chunk;
  const int64_t hi = lo + chunk < m ? lo + chunk : m;
  float s = 0.0f;
  if (c < k)
    for (int64_t r = lo + threadIdx.y; r < hi; r += DBIAS_ROWS) s += act_ld(dy, r * k + c);
  lanes[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < k) {
    float t = 0.0f;
    for (int j = 0; j < DBIAS_ROWS; j++) t += lanes[j][threadIdx.x];
    partial[(int64_t)blockIdx.y * k + c] = t;
  }
}

/* dbias[c] += sum of partial[part][c] over the parts, in part order. */
__global__ void conv_dbias_finish_kernel(int parts, int k,
                                         const float *__restrict__ partial, /* (parts, K) */
                                         float *__restrict__ dbias)         /* (K) */
{
  GRAFT_GRID_STRIDE_LOOP(c, k) {
    float t = 0.0f;
    for (int p = 0; p < parts; p++) t += partial[(int64_t)p * k + c];
    dbias[c] += t;
  }
}

/* The bf16 staging at the start of the workspace: one slot of w's size,
 * (K, R, S, C/groups) bf16, rounded up to STAGE_ALIGN bytes. The forward
 * and backward data read w's bf16 copy from it; backward filter writes its
 * bf16 dw over it (after backward data, on the same stream). */
#define STAGE_ALIGN 256

typedef struct {
  uint16_t *w;    /* (K, R, S, C/groups) bf16: w, or dw */
  graft_ctx rest; /* ctx with the workspace behind the staging, for cuDNN */
} bf16_staging;

static int64_t w_len(const graft_conv2d_desc *d) {
  return (int64_t)d->k * d->r * d->s * (d->c / d->groups);
}
static int64_t y_len(const graft_conv2d_desc *d) { return (int64_t)d->n * d->p * d->q * d->k; }

/* Bytes of the staging of d. */
static size_t staging_bytes(const graft_conv2d_desc *d) {
  const size_t b = (size_t)w_len(d) * sizeof(uint16_t);
  return (b + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
}

/* Lays the staging of d out at the start of ctx's workspace. */
static graft_status staging_of(graft_ctx *ctx, const graft_conv2d_desc *d, bf16_staging *s) {
  const size_t bytes = staging_bytes(d);
  if (ctx->workspace_bytes < bytes || !ctx->workspace)
    GRAFT_FAIL(GRAFT_EWORKSPACE,
               "conv2d bf16: the bf16 copy of w needs %zu workspace bytes, has %zu "
               "(conv2d_workspace says what a convolution needs)",
               bytes, ctx->workspace ? ctx->workspace_bytes : 0);
  char *base = (char *)ctx->workspace;
  s->w = (uint16_t *)base;
  s->rest = *ctx;
  s->rest.workspace = base + bytes;
  s->rest.workspace_bytes = ctx->workspace_bytes - bytes;
  return GRAFT_OK;
}

/* The activation storage ctx's precision runs on (ops.h): bf16 with bf16,
 * fp32 otherwise; GRAFT_EUNSUPPORTED for any other pairing. */
static graft_status storage_check(const graft_ctx *ctx, const char *op) {
  const graft_dtype want =
      ctx->precision == GRAFT_PREC_BF16 ? GRAFT_DTYPE_BF16 : GRAFT_DTYPE_F32;
  if (ctx->act_dtype != want)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: %s precision runs on %s activations, the context stores %s",
               op, graft_precision_name(ctx->precision), graft_dtype_name(want),
               graft_dtype_name(ctx->act_dtype));
  return GRAFT_OK;
}

/* The plan of key, failing when no cuDNN engine serves it. */
static graft_status usable_plan(graft_ctx *ctx, const graft_conv_key *key,
                                const graft_conv_plan **p) {
  static const char *const dirs[] = {"forward", "backward data", "backward filter"};
  GRAFT_TRY(graft_conv_plan_get(ctx, key, p));
  if (!(*p)->plan) {
    const graft_conv2d_desc *d = &key->desc;
    GRAFT_FAIL(GRAFT_EUNSUPPORTED,
               "conv2d %s: no cuDNN engine for (N %d, %dx%d, C %d) -> K %d %dx%d, stride %dx%d, "
               "groups %d within %zu workspace bytes",
               dirs[key->dir], d->n, d->h, d->w, d->c, d->k, d->r, d->s, d->stride_h,
               d->stride_w, d->groups, ctx->workspace_bytes);
  }
  return GRAFT_OK;
}

/* dbias (K) += the column sums of dy (N, P, Q, K), stored as ctx's
 * activations. */
static graft_status dbias_sum(graft_ctx *ctx, const graft_conv2d_desc *d,
                              const float *dy, /* (N, P, Q, K) activations */
                              float *dbias)    /* (K) */
{
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t m = (int64_t)d->n * d->p * d->q;
  const size_t row_bytes = (size_t)d->k * sizeof(float);
  int64_t parts = (m + DBIAS_MIN_ROWS - 1) / DBIAS_MIN_ROWS;
  if (parts > DBIAS_PARTS) parts = DBIAS_PARTS;
  if ((size_t)parts > ctx->workspace_bytes / row_bytes)
    parts = (int64_t)(ctx->workspace_bytes / row_bytes);
  if (parts < 1 || !ctx->workspace)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "conv2d backward: dbias needs %zu workspace bytes, has %zu",
               row_bytes, ctx->workspace ? ctx->workspace_bytes : 0);
  const int64_t chunk = (m + parts - 1) / parts;
  float *partial = (float *)ctx->workspace; /* (parts, K) */
  const dim3 block(DBIAS_TILE, DBIAS_ROWS);
  const dim3 grid((unsigned)((d->k + DBIAS_TILE - 1) / DBIAS_TILE), (unsigned)parts);
  GRAFT_ACT_DISPATCH(ctx, {
    conv_dbias_partial_kernel<T><<<grid, block, 0, g->stream>>>(m, d->k, chunk, act_ptr<T>(dy),
                                                                partial);
  });
  GRAFT_LAUNCH_CHECK(g);
  conv_dbias_finish_kernel<<<graft_grid_1d(d->k), GRAFT_BLOCK, 0, g->stream>>>((int)parts, d->k,
                                                                              partial, dbias);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* Workspace contract: ops.h's conv2d_workspace takes no context, so it
 * answers for the most demanding precision: bf16's staging of d (the bf16
 * copy of w, or dw) followed by the most any plan for d may use (see
 * conv_plan_cache.h), and at least the dbias partial sums, which reuse the
 * workspace after the convolutions. fp32 and tf32 use only the plan's
 * part. Needs no handle, so it makes no plan. */
extern "C" size_t graft_conv2d_workspace_gpu(const graft_conv2d_desc *d) {
  const size_t plans = staging_bytes(d) + graft_conv_workspace_limit(d);
  const size_t dbias = (size_t)DBIAS_PARTS * d->k * sizeof(float);
  return plans > dbias ? plans : dbias;
}

/* The bf16 forward: x (N, H, W, C) and y (N, P, Q, K) bf16 in place, w
 * rounded into the staging, then y = bf16(float(y) + bias). */
static graft_status forward_bf16(graft_ctx *ctx, const graft_conv2d_desc *d, const float *x,
                                 const float *w, const float *bias, float *y) {
  bf16_staging s;
  graft_conv_key key;
  const graft_conv_plan *p;
  GRAFT_TRY(staging_of(ctx, d, &s));
  GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_FORWARD, GRAFT_PREC_BF16, 0));
  GRAFT_TRY(usable_plan(&s.rest, &key, &p));
  GRAFT_TRY(graft_cast_f32_to_bf16(ctx, w_len(d), w, s.w));
  GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, x, s.w, y, NULL));
  if (bias) GRAFT_TRY(graft_bias_add_bf16(ctx, y_len(d), d->k, bias, (uint16_t *)y));
  return GRAFT_OK;
}

/* The bf16 backward of dx and dw (either may be NULL); x, dy and dx are
 * bf16 in place. Backward data adds into dx through its graph; backward
 * filter writes a bf16 dw over the staged w, added into the fp32 dw. */
static graft_status backward_bf16(graft_ctx *ctx, const graft_conv2d_desc *d, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw) {
  bf16_staging s;
  graft_conv_key key;
  const graft_conv_plan *p;
  if (!dx && !dw) return GRAFT_OK;
  GRAFT_TRY(staging_of(ctx, d, &s));
  if (dx) {
    GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_DATA, GRAFT_PREC_BF16, 0));
    GRAFT_TRY(usable_plan(&s.rest, &key, &p));
    GRAFT_TRY(graft_cast_f32_to_bf16(ctx, w_len(d), w, s.w));
    GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, dx, s.w, dy, NULL));
  }
  if (dw) {
    GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_FILTER, GRAFT_PREC_BF16, 0));
    GRAFT_TRY(usable_plan(&s.rest, &key, &p));
    GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, x, s.w, dy, NULL));
    GRAFT_TRY(graft_add_bf16_to_f32(ctx, w_len(d), s.w, dw));
  }
  return GRAFT_OK;
}

extern "C" graft_status graft_conv2d_forward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                                 const float *x,    /* (N, H, W, C) activations */
                                                 const float *w,    /* (K, R, S, C/groups) */
                                                 const float *bias, /* (K) or NULL */
                                                 float *y)          /* (N, P, Q, K) activations */
{
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_TRY(storage_check(ctx, "conv2d forward"));
  if (ctx->precision == GRAFT_PREC_BF16) return forward_bf16(ctx, d, x, w, bias, y);
  graft_conv_key key;
  const graft_conv_plan *p;
  GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_FORWARD, ctx->precision, bias != NULL));
  GRAFT_TRY(graft_conv_plan_get(ctx, &key, &p));
  if (p->plan) return graft_conv_plan_execute(ctx, p, x, w, y, bias);
  if (!bias) return usable_plan(ctx, &key, &p);
  key.with_bias = 0; /* no engine fuses the bias here: convolution, then the bias kernel */
  GRAFT_TRY(usable_plan(ctx, &key, &p));
  GRAFT_TRY(graft_conv_plan_execute(ctx, p, x, w, y, NULL));
  const int64_t n = (int64_t)d->n * d->p * d->q * d->k;
  conv_bias_add_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, d->k, bias, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_conv2d_backward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                                  const float *x,  /* (N, H, W, C) activations */
                                                  const float *w,  /* (K, R, S, C/groups) */
                                                  const float *dy, /* (N, P, Q, K) activations */
                                                  float *dx, /* (N, H, W, C) activations or NULL */
                                                  float *dw,     /* (K, R, S, C/groups) or NULL */
                                                  float *dbias)  /* (K) or NULL */
{
  graft_conv_key key;
  const graft_conv_plan *p;
  GRAFT_TRY(storage_check(ctx, "conv2d backward"));
  if (ctx->precision == GRAFT_PREC_BF16) {
    GRAFT_TRY(backward_bf16(ctx, d, x, w, dy, dx, dw));
  } else {
    if (dx) {
      GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_DATA, ctx->precision, 0));
      GRAFT_TRY(usable_plan(ctx, &key, &p));
      GRAFT_TRY(graft_conv_plan_execute(ctx, p, dx, w, dy, NULL));
    }
    if (dw) {
      GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_FILTER, ctx->precision, 0));
      GRAFT_TRY(usable_plan(ctx, &key, &p));
      GRAFT_TRY(graft_conv_plan_execute(ctx, p, x, dw, dy, NULL));
    }
  }
  if (dbias) GRAFT_TRY(dbias_sum(ctx, d, dy, dbias));
  return GRAFT_OK;
}

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
 * bf16 rounds the convolution's inputs to bf16 (cast.h) into staging
 * buffers at the start of the workspace and runs graphs whose x, w and y
 * are bf16 with an fp32 compute type (fp32 accumulation); cuDNN's own
 * workspace follows the staging. Every bf16 graph writes a bf16 output in
 * the staging (beta 0), which a kernel of ours widens: the forward into y
 * with the bias added in fp32, backward data and backward filter added
 * into the fp32 dx and dw. (A graph writing fp32 y from bf16 x and w would
 * save that kernel, but not every engine takes mixed element types, while
 * all-bf16 graphs are what cuDNN's bf16 engines are made for; rounding y
 * to bf16 is also what a bf16 activation is.) dw is rounded to bf16 before
 * it is added, as PyTorch's autocast computes it.
 *
 * dbias, the column sum of dy over N*P*Q rows, is two small kernels of our
 * own that sum the fp32 dy in a fixed order in every precision, so it is
 * the same on every run. */
#include <stdint.h>

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

/* partial[part][c] = sum of dy[r][c] over the rows r of chunk part. */
__global__ void conv_dbias_partial_kernel(int64_t m, int k, int64_t chunk,
                                          const float *__restrict__ dy, /* (M, K) */
                                          float *__restrict__ partial)  /* (parts, K) */
{
  __shared__ float lanes[DBIAS_ROWS][DBIAS_TILE + 1];
  const int c = blockIdx.x * DBIAS_TILE + threadIdx.x;
  const int64_t lo = (int64_t)blockIdx.y * chunk;
  const int64_t hi = lo + chunk < m ? lo + chunk : m;
  float s = 0.0f;
  if (c < k)
    for (int64_t r = lo + threadIdx.y; r < hi; r += DBIAS_ROWS) s += dy[r * k + c];
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

/* The bf16 staging at the start of the workspace: three slots, each
 * rounded up to STAGE_ALIGN bytes, holding bf16 tensors of x's, w's and
 * y's sizes:
 *   forward          x (N, H, W, C)    w (K, R, S, C/groups)   y (N, P, Q, K)
 *   backward data    dx                w                       dy
 *   backward filter  x                 dw                      dy
 * The backward reuses the slots in that order on one stream: dy is cast
 * once, and backward filter writes dw over the w that backward data read. */
#define STAGE_ALIGN 256

typedef struct {
  uint16_t *x; /* (N, H, W, C) bf16: x, or dx */
  uint16_t *w; /* (K, R, S, C/groups) bf16: w, or dw */
  uint16_t *y; /* (N, P, Q, K) bf16: y, or dy */
  graft_ctx rest; /* ctx with the workspace behind the staging, for cuDNN */
} bf16_staging;

static int64_t x_len(const graft_conv2d_desc *d) { return (int64_t)d->n * d->h * d->w * d->c; }
static int64_t w_len(const graft_conv2d_desc *d) {
  return (int64_t)d->k * d->r * d->s * (d->c / d->groups);
}
static int64_t y_len(const graft_conv2d_desc *d) { return (int64_t)d->n * d->p * d->q * d->k; }

static size_t stage_bytes(int64_t elems) {
  const size_t b = (size_t)elems * sizeof(uint16_t);
  return (b + STAGE_ALIGN - 1) / STAGE_ALIGN * STAGE_ALIGN;
}

/* Bytes of the staging of d. */
static size_t staging_bytes(const graft_conv2d_desc *d) {
  return stage_bytes(x_len(d)) + stage_bytes(w_len(d)) + stage_bytes(y_len(d));
}

/* Lays the staging of d out at the start of ctx's workspace. */
static graft_status staging_of(graft_ctx *ctx, const graft_conv2d_desc *d, bf16_staging *s) {
  const size_t bytes = staging_bytes(d);
  if (ctx->workspace_bytes < bytes || !ctx->workspace)
    GRAFT_FAIL(GRAFT_EWORKSPACE,
               "conv2d bf16: the bf16 copies of x, w and y need %zu workspace bytes, has %zu "
               "(conv2d_workspace says what a convolution needs)",
               bytes, ctx->workspace_bytes);
  char *base = (char *)ctx->workspace;
  s->x = (uint16_t *)base;
  s->w = (uint16_t *)(base + stage_bytes(x_len(d)));
  s->y = (uint16_t *)(base + stage_bytes(x_len(d)) + stage_bytes(w_len(d)));
  s->rest = *ctx;
  s->rest.workspace = base + bytes;
  s->rest.workspace_bytes = ctx->workspace_bytes - bytes;
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

static graft_status dbias_sum(graft_ctx *ctx, const graft_conv2d_desc *d,
                              const float *dy, /* (N, P, Q, K) */
                              float *dbias)    /* (K) */
{
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t m = (int64_t)d->n * d->p * d->q;
  const size_t row_bytes = (size_t)d->k * sizeof(float);
  int64_t parts = (m + DBIAS_MIN_ROWS - 1) / DBIAS_MIN_ROWS;
  if (parts > DBIAS_PARTS) parts = DBIAS_PARTS;
  if ((size_t)parts > ctx->workspace_bytes / row_bytes)
    parts = (int64_t)(ctx->workspace_bytes / row_bytes);
  if (parts < 1)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "conv2d backward: dbias needs %zu workspace bytes, has %zu",
               row_bytes, ctx->workspace_bytes);
  const int64_t chunk = (m + parts - 1) / parts;
  float *partial = (float *)ctx->workspace; /* (parts, K) */
  const dim3 block(DBIAS_TILE, DBIAS_ROWS);
  const dim3 grid((unsigned)((d->k + DBIAS_TILE - 1) / DBIAS_TILE), (unsigned)parts);
  conv_dbias_partial_kernel<<<grid, block, 0, g->stream>>>(m, d->k, chunk, dy, partial);
  GRAFT_LAUNCH_CHECK(g);
  conv_dbias_finish_kernel<<<graft_grid_1d(d->k), GRAFT_BLOCK, 0, g->stream>>>((int)parts, d->k,
                                                                              partial, dbias);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* Workspace contract: ops.h's conv2d_workspace takes no context, so it
 * answers for the most demanding precision: the bf16 staging of d followed
 * by the most any plan for d may use (see conv_plan_cache.h), and at least
 * the dbias partial sums. fp32 and tf32 use only the plan's part. Needs
 * no handle, so it makes no plan. */
extern "C" size_t graft_conv2d_workspace_gpu(const graft_conv2d_desc *d) {
  const size_t plans = staging_bytes(d) + graft_conv_workspace_limit(d);
  const size_t dbias = (size_t)DBIAS_PARTS * d->k * sizeof(float);
  return plans > dbias ? plans : dbias;
}

/* The bf16 forward: x and w rounded into the staging, the all-bf16 graph,
 * then y = float(bf16 result) + bias. */
static graft_status forward_bf16(graft_ctx *ctx, const graft_conv2d_desc *d, const float *x,
                                 const float *w, const float *bias, float *y) {
  bf16_staging s;
  graft_conv_key key;
  const graft_conv_plan *p;
  GRAFT_TRY(staging_of(ctx, d, &s));
  GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_FORWARD, GRAFT_PREC_BF16, 0));
  GRAFT_TRY(usable_plan(&s.rest, &key, &p));
  GRAFT_TRY(graft_cast_f32_to_bf16(ctx, x_len(d), x, s.x));
  GRAFT_TRY(graft_cast_f32_to_bf16(ctx, w_len(d), w, s.w));
  GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, s.x, s.w, s.y, NULL));
  return graft_cast_bf16_to_f32(ctx, y_len(d), s.y, bias, d->k, y);
}

/* The bf16 backward of dx and dw (either may be NULL): dy, then w or x
 * rounded into the staging, each bf16 result added into its fp32
 * gradient. */
static graft_status backward_bf16(graft_ctx *ctx, const graft_conv2d_desc *d, const float *x,
                                  const float *w, const float *dy, float *dx, float *dw) {
  bf16_staging s;
  graft_conv_key key;
  const graft_conv_plan *p;
  if (!dx && !dw) return GRAFT_OK;
  GRAFT_TRY(staging_of(ctx, d, &s));
  GRAFT_TRY(graft_cast_f32_to_bf16(ctx, y_len(d), dy, s.y));
  if (dx) {
    GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_DATA, GRAFT_PREC_BF16, 0));
    GRAFT_TRY(usable_plan(&s.rest, &key, &p));
    GRAFT_TRY(graft_cast_f32_to_bf16(ctx, w_len(d), w, s.w));
    GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, s.x, s.w, s.y, NULL));
    GRAFT_TRY(graft_add_bf16_to_f32(ctx, x_len(d), s.x, dx));
  }
  if (dw) {
    GRAFT_TRY(graft_conv_key_init(&key, d, GRAFT_CONV_BACKWARD_FILTER, GRAFT_PREC_BF16, 0));
    GRAFT_TRY(usable_plan(&s.rest, &key, &p));
    GRAFT_TRY(graft_cast_f32_to_bf16(ctx, x_len(d), x, s.x));
    GRAFT_TRY(graft_conv_plan_execute(&s.rest, p, s.x, s.w, s.y, NULL));
    GRAFT_TRY(graft_add_bf16_to_f32(ctx, w_len(d), s.w, dw));
  }
  return GRAFT_OK;
}

extern "C" graft_status graft_conv2d_forward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                                 const float *x,    /* (N, H, W, C) */
                                                 const float *w,    /* (K, R, S, C/groups) */
                                                 const float *bias, /* (K) or NULL */
                                                 float *y)          /* (N, P, Q, K) */
{
  graft_gpu *g = graft_gpu_of(ctx);
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
                                                  const float *x,  /* (N, H, W, C) */
                                                  const float *w,  /* (K, R, S, C/groups) */
                                                  const float *dy, /* (N, P, Q, K) */
                                                  float *dx,       /* (N, H, W, C) or NULL */
                                                  float *dw,     /* (K, R, S, C/groups) or NULL */
                                                  float *dbias)  /* (K) or NULL */
{
  graft_conv_key key;
  const graft_conv_plan *p;
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

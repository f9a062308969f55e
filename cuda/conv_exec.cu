/* conv_exec.cu: the GPU convolution entries of ops.h, executed through
 * cuDNN backend plans (conv_plan_cache.h) on the context's stream with
 * ctx->workspace. The forward runs the graph with the fused bias when an
 * engine serves it, else the plain convolution followed by a bias kernel;
 * backward data and backward filter add into dx and dw (their graphs have
 * beta 1); dbias, the column sum of dy over N*P*Q rows, is two small
 * kernels of our own that sum in a fixed order, so it is the same on every
 * run.
 *
 * TF32: these entries take fp32 tensors and key their plans with
 * allow_tf32 = 0, so no tensor-core engine serves them and the results are
 * fp32 (a TF32 precision mode would set the key's allow_tf32). */
#include <string.h>

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

static graft_conv_key fp32_key(const graft_conv2d_desc *d, graft_conv_dir dir, int with_bias) {
  graft_conv_key key;
  memset(&key, 0, sizeof key);
  key.desc = *d;
  key.dir = dir;
  key.io = GRAFT_DTYPE_F32;
  key.with_bias = with_bias;
  key.allow_tf32 = 0;
  return key;
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

/* Workspace contract: the most any plan for d may use (see
 * conv_plan_cache.h), and at least the dbias partial sums. Needs no
 * handle, so it makes no plan. */
extern "C" size_t graft_conv2d_workspace_gpu(const graft_conv2d_desc *d) {
  const size_t plans = graft_conv_workspace_limit(d);
  const size_t dbias = (size_t)DBIAS_PARTS * d->k * sizeof(float);
  return plans > dbias ? plans : dbias;
}

extern "C" graft_status graft_conv2d_forward_gpu(graft_ctx *ctx, const graft_conv2d_desc *d,
                                                 const float *x,    /* (N, H, W, C) */
                                                 const float *w,    /* (K, R, S, C/groups) */
                                                 const float *bias, /* (K) or NULL */
                                                 float *y)          /* (N, P, Q, K) */
{
  graft_gpu *g = graft_gpu_of(ctx);
  graft_conv_key key = fp32_key(d, GRAFT_CONV_FORWARD, bias != NULL);
  const graft_conv_plan *p;
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
  const graft_conv_plan *p;
  if (dx) {
    const graft_conv_key key = fp32_key(d, GRAFT_CONV_BACKWARD_DATA, 0);
    GRAFT_TRY(usable_plan(ctx, &key, &p));
    GRAFT_TRY(graft_conv_plan_execute(ctx, p, dx, w, dy, NULL));
  }
  if (dw) {
    const graft_conv_key key = fp32_key(d, GRAFT_CONV_BACKWARD_FILTER, 0);
    GRAFT_TRY(usable_plan(ctx, &key, &p));
    GRAFT_TRY(graft_conv_plan_execute(ctx, p, x, dw, dy, NULL));
  }
  if (dbias) GRAFT_TRY(dbias_sum(ctx, d, dy, dbias));
  return GRAFT_OK;
}

/* batchnorm.cu: batch normalization over the channel (last) axis of an
 * (M, C) view on the device, with the semantics of the CPU reference
 * (host/ops/batchnorm_ref.c): PyTorch's BatchNorm2d in training and eval
 * mode, running statistics updated with the unbiased variance.
 *
 * Every op is at most three launches on the context's stream:
 *  1. bn_sums_kernel: the per-channel sums the op needs, in double. A block
 *     owns BN_CH channels and one of `chunks` row ranges; its BN_ROWS rows
 *     of threads each sum a strided share of the rows (reads of consecutive
 *     channels are coalesced), the row partials are added in a fixed order
 *     and the block writes one partial per channel to the workspace.
 *  2. a per-channel kernel that adds the chunk partials in chunk order and
 *     turns them into the statistics, the parameter gradients and the
 *     coefficients of the elementwise pass (floats in the workspace).
 *  3. an elementwise pass over the M x C values.
 * The number of chunks depends only on M and C, never on the device or the
 * scheduling, and no float is added atomically, so every run gives the same
 * bits. As in the reference, the forward sums are taken about the first
 * row, which lies near the mean, so the variance is not the difference of
 * two large numbers. The elementwise passes round each product on its own
 * (graft_mul_rn), as the reference does, so that given the same
 * coefficients they produce the same floats. */
#include <math.h>

#include "gpu_impl.h"
#include "ops/math.h"
#include "ops_gpu.h"

#define BN_CH 32             /* channels per block of the sums (threadIdx.x) */
#define BN_ROWS 16           /* row lanes per block of the sums (threadIdx.y) */
#define BN_MIN_CHUNK_ROWS 64 /* a chunk sums at least this many rows */
#define BN_TARGET_BLOCKS 512 /* blocks of the sums worth filling the device */
/* The chunk count is capped so that the partials and the coefficients fit
 * the smallest workspace a GPU context has; only C > ~3000 needs more. */
#define BN_WORKSPACE_BUDGET GRAFT_GPU_MIN_WORKSPACE
#define BN_COEFS 3 /* floats per channel of stage-2 coefficients */

/* The workspace of one op: s1 and s2 (chunks, C) doubles, then the
 * coefficients (BN_COEFS, C) floats. */
typedef struct {
  int chunks;
  double *s1;  /* (chunks, C) */
  double *s2;  /* (chunks, C) */
  float *coef; /* (BN_COEFS, C) */
} bn_scratch;

static size_t bn_scratch_bytes(int chunks, int c) {
  return 2 * (size_t)chunks * c * sizeof(double) + (size_t)BN_COEFS * c * sizeof(float);
}

static int bn_chunks(int64_t m, int c) {
  const int64_t col_blocks = (c + BN_CH - 1) / BN_CH;
  int64_t chunks = (m + BN_MIN_CHUNK_ROWS - 1) / BN_MIN_CHUNK_ROWS;
  const int64_t fill = (BN_TARGET_BLOCKS + col_blocks - 1) / col_blocks;
  if (chunks > fill) chunks = fill;
  while (chunks > 1 && bn_scratch_bytes((int)chunks, c) > BN_WORKSPACE_BUDGET) chunks--;
  return chunks < 1 ? 1 : (int)chunks;
}

static graft_status bn_scratch_get(graft_ctx *ctx, const char *op, int64_t m, int c,
                                   bn_scratch *s) {
  s->chunks = bn_chunks(m, c);
  const size_t need = bn_scratch_bytes(s->chunks, c);
  if (!ctx->workspace || ctx->workspace_bytes < need)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "%s: needs %zu bytes of workspace for C %d, the context has %zu",
               op, need, c, ctx->workspace_bytes);
  s->s1 = (double *)ctx->workspace;
  s->s2 = s->s1 + (size_t)s->chunks * c;
  s->coef = (float *)(s->s2 + (size_t)s->chunks * c);
  return GRAFT_OK;
}

static graft_status bn_check(const char *op, const graft_bn_desc *d, int training) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->m < 1 || d->c < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape (M %lld, C %d)", op, (long long)d->m, d->c);
  if (training && d->m < 2)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: training needs more than 1 value per channel (M %lld)", op,
               (long long)d->m);
  if (!(d->eps >= 0.0f) || !isfinite(d->eps) || !isfinite(d->momentum))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: bad eps %g or momentum %g", op, (double)d->eps,
               (double)d->momentum);
  return GRAFT_OK;
}

/* Stage 1. For channel ch and chunk k (rows [m*k/chunks, m*(k+1)/chunks)):
 * s1[k, ch] = sum (u - ku) and s2[k, ch] = sum (u - ku) * (v - kv), where
 * ku is u's first row when ku_first_row is set and 0 otherwise, and kv is
 * v's first row when kv is NULL and kv[ch] otherwise. */
static __global__ void bn_sums_kernel(int64_t m, int c, int chunks, int ku_first_row,
                                      const float *__restrict__ u,  /* (M, C) */
                                      const float *__restrict__ v,  /* (M, C) */
                                      const float *__restrict__ kv, /* (C) or NULL */
                                      double *__restrict__ s1,      /* (chunks, C) */
                                      double *__restrict__ s2)      /* (chunks, C) */
{
  __shared__ double p1[BN_ROWS][BN_CH], p2[BN_ROWS][BN_CH];
  const int ch = blockIdx.x * BN_CH + threadIdx.x;
  const int k = blockIdx.y;
  double a1 = 0.0, a2 = 0.0;
  if (ch < c) {
    const double ku = ku_first_row ? (double)u[ch] : 0.0;
    const double kvc = kv ? (double)kv[ch] : (double)v[ch];
    const int64_t r0 = m * k / chunks, r1 = m * (k + 1) / chunks;
    for (int64_t r = r0 + threadIdx.y; r < r1; r += BN_ROWS) {
      const double du = (double)u[r * c + ch] - ku;
      a1 += du;
      a2 += du * ((double)v[r * c + ch] - kvc);
    }
  }
  p1[threadIdx.y][threadIdx.x] = a1;
  p2[threadIdx.y][threadIdx.x] = a2;
  __syncthreads();
  if (threadIdx.y == 0 && ch < c) {
    double t1 = p1[0][threadIdx.x], t2 = p2[0][threadIdx.x];
    for (int r = 1; r < BN_ROWS; r++) {
      t1 += p1[r][threadIdx.x];
      t2 += p2[r][threadIdx.x];
    }
    s1[(int64_t)k * c + ch] = t1;
    s2[(int64_t)k * c + ch] = t2;
  }
}

static graft_status bn_sums(graft_gpu *g, int64_t m, int c, const bn_scratch *s, int ku_first_row,
                            const float *u,  /* (M, C) */
                            const float *v,  /* (M, C) */
                            const float *kv) /* (C) or NULL */
{
  dim3 grid((unsigned)((c + BN_CH - 1) / BN_CH), (unsigned)s->chunks);
  bn_sums_kernel<<<grid, dim3(BN_CH, BN_ROWS), 0, g->stream>>>(m, c, s->chunks, ku_first_row, u,
                                                               v, kv, s->s1, s->s2);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* The chunk partials of channel ch added in chunk order. */
static __device__ void bn_total(int chunks, int c, int ch,
                                const double *__restrict__ s1, /* (chunks, C) */
                                const double *__restrict__ s2, /* (chunks, C) */
                                double *t1, double *t2) {
  double a = 0.0, b = 0.0;
  for (int k = 0; k < chunks; k++) {
    a += s1[(int64_t)k * c + ch];
    b += s2[(int64_t)k * c + ch];
  }
  *t1 = a;
  *t2 = b;
}

/* Stage 2 of the training forward: batch statistics, saved mean and invstd,
 * running statistics, and the scale gamma * invstd into coef[0, ch]. */
static __global__ void bn_train_stats_kernel(int64_t m, int c, int chunks, double eps, double mom,
                                             const float *__restrict__ x,     /* (M, C) row 0 */
                                             const float *__restrict__ gamma, /* (C) */
                                             const double *__restrict__ s1,   /* (chunks, C) */
                                             const double *__restrict__ s2,   /* (chunks, C) */
                                             float *__restrict__ running_mean, /* (C) or NULL */
                                             float *__restrict__ running_var,  /* (C) or NULL */
                                             float *__restrict__ save_mean,    /* (C) */
                                             float *__restrict__ save_invstd,  /* (C) */
                                             float *__restrict__ scale)        /* (C) */
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  double t1, t2;
  bn_total(chunks, c, ch, s1, s2, &t1, &t2);
  const double dm = t1 / (double)m;
  const double mu = (double)x[ch] + dm;
  double var = t2 / (double)m - dm * dm;
  if (var < 0.0) var = 0.0;
  const double invstd = 1.0 / sqrt(var + eps);
  save_mean[ch] = (float)mu;
  save_invstd[ch] = (float)invstd;
  scale[ch] = (float)(invstd * (double)gamma[ch]);
  if (running_mean) {
    const double unbiased = var * (double)m / (double)(m - 1);
    running_mean[ch] = (float)(mom * mu + (1.0 - mom) * (double)running_mean[ch]);
    running_var[ch] = (float)(mom * unbiased + (1.0 - mom) * (double)running_var[ch]);
  }
}

/* Stage 2 of the training backward, from sdy = sum dy and
 * sdyx = sum dy * (x - mean): the parameter gradients (added), and
 * a = gamma * invstd, mdy = sdy / M and g = a * invstd * sum(dy * xhat) / M
 * into coef[0..2, ch]. */
static __global__ void bn_grad_coef_kernel(int64_t m, int c, int chunks,
                                           const float *__restrict__ gamma,       /* (C) */
                                           const float *__restrict__ save_invstd, /* (C) */
                                           const double *__restrict__ s1,         /* (chunks, C) */
                                           const double *__restrict__ s2,         /* (chunks, C) */
                                           float *__restrict__ dgamma, /* (C) or NULL */
                                           float *__restrict__ dbeta,  /* (C) or NULL */
                                           float *__restrict__ coef)   /* (3, C) */
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  double sdy, sdyx;
  bn_total(chunks, c, ch, s1, s2, &sdy, &sdyx);
  const double invstd = save_invstd[ch];
  const double dot = sdyx * invstd;
  if (dgamma) dgamma[ch] += (float)dot;
  if (dbeta) dbeta[ch] += (float)sdy;
  const double a = (double)gamma[ch] * invstd;
  coef[ch] = (float)a;
  coef[c + ch] = (float)(sdy / (double)m);
  coef[2 * c + ch] = (float)(a * invstd * dot / (double)m);
}

/* Eval mode: the forward's scale gamma / sqrt(running_var + eps), or with
 * backward set the dx factor gamma * invstd (rounded as the reference
 * rounds each), into coef[0, ch]; and, when s1 is given (sums of dy and
 * dy * (x - running_mean)), the parameter gradients (added). */
static __global__ void bn_eval_coef_kernel(int c, int chunks, int backward, double eps,
                                           const float *__restrict__ gamma,       /* (C) */
                                           const float *__restrict__ running_var, /* (C) */
                                           const double *__restrict__ s1, /* (chunks, C) or NULL */
                                           const double *__restrict__ s2, /* (chunks, C) or NULL */
                                           float *__restrict__ dgamma,    /* (C) or NULL */
                                           float *__restrict__ dbeta,     /* (C) or NULL */
                                           float *__restrict__ coef)      /* (1, C) */
{
  const int ch = blockIdx.x * blockDim.x + threadIdx.x;
  if (ch >= c) return;
  const double sd = sqrt((double)running_var[ch] + eps);
  const double invstd = 1.0 / sd;
  coef[ch] = (float)(backward ? (double)gamma[ch] * invstd : (double)gamma[ch] / sd);
  if (s1) {
    double sdy, sdyx;
    bn_total(chunks, c, ch, s1, s2, &sdy, &sdyx);
    if (dgamma) dgamma[ch] += (float)(sdyx * invstd);
    if (dbeta) dbeta[ch] += (float)sdy;
  }
}

/* y = (x - mean) * scale + shift. */
static __global__ void bn_normalize_kernel(int64_t total, int c,
                                           const float *__restrict__ x,     /* (M, C) */
                                           const float *__restrict__ mean,  /* (C) */
                                           const float *__restrict__ scale, /* (C) */
                                           const float *__restrict__ shift, /* (C) */
                                           float *__restrict__ y)           /* (M, C) */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    y[e] = graft_mul_rn(x[e] - mean[ch], scale[ch]) + shift[ch];
  }
}

/* dx += (dy - mdy) * a - (x - mean) * g; with g NULL the eval form
 * dx += dy * a, where x, mdy and mean are unused. */
static __global__ void bn_dx_kernel(int64_t total, int c,
                                    const float *__restrict__ x,    /* (M, C) or NULL */
                                    const float *__restrict__ dy,   /* (M, C) */
                                    const float *__restrict__ mdy,  /* (C) or NULL */
                                    const float *__restrict__ a,    /* (C) */
                                    const float *__restrict__ mean, /* (C) or NULL */
                                    const float *__restrict__ g,    /* (C) or NULL */
                                    float *__restrict__ dx)         /* (M, C) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(e, total) {
    const int ch = (int)(e % c);
    if (g)
      dx[e] += graft_mul_rn(dy[e] - mdy[ch], a[ch]) - graft_mul_rn(x[e] - mean[ch], g[ch]);
    else
      dx[e] += graft_mul_rn(dy[e], a[ch]);
  }
}

static unsigned bn_channel_blocks(int c) { return (unsigned)((c + GRAFT_BLOCK - 1) / GRAFT_BLOCK); }

extern "C" graft_status graft_bn_forward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                   const float *x,      /* (M, C) */
                                                   const float *gamma,  /* (C) */
                                                   const float *beta,   /* (C) */
                                                   float *running_mean, /* (C) in/out or NULL */
                                                   float *running_var,  /* (C) in/out or NULL */
                                                   float *y,            /* (M, C) */
                                                   float *save_mean,    /* (C) */
                                                   float *save_invstd)  /* (C) */
{
  static const char op[] = "bn_forward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: running_mean and running_var must both be given or both be NULL",
               op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 1, x, x, NULL));
  bn_train_stats_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->m, d->c, s.chunks, (double)d->eps, (double)d->momentum, x, gamma, s.s1, s.s2,
      running_mean, running_var, save_mean, save_invstd, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  const int64_t total = d->m * d->c;
  bn_normalize_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
      total, d->c, x, save_mean, s.coef, beta, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_forward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                  const float *x,            /* (M, C) */
                                                  const float *gamma,        /* (C) */
                                                  const float *beta,         /* (C) */
                                                  const float *running_mean, /* (C) */
                                                  const float *running_var,  /* (C) */
                                                  float *y)                  /* (M, C) */
{
  static const char op[] = "bn_forward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->c, 0, 0, (double)d->eps, gamma, running_var, NULL, NULL, NULL, NULL, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  const int64_t total = d->m * d->c;
  bn_normalize_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(
      total, d->c, x, running_mean, s.coef, beta, y);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_backward_train_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                    const float *x,           /* (M, C) */
                                                    const float *dy,          /* (M, C) */
                                                    const float *gamma,       /* (C) */
                                                    const float *save_mean,   /* (C) */
                                                    const float *save_invstd, /* (C) */
                                                    float *dx,     /* (M, C) or NULL */
                                                    float *dgamma, /* (C) or NULL */
                                                    float *dbeta)  /* (C) or NULL */
{
  static const char op[] = "bn_backward_train";
  GRAFT_TRY(bn_check(op, d, 1));
  if (!x || !dy || !gamma || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !dgamma && !dbeta) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  /* s1 = sum dy, s2 = sum dy * (x - mean) */
  GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dy, x, save_mean));
  bn_grad_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->m, d->c, s.chunks, gamma, save_invstd, s.s1, s.s2, dgamma, dbeta, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  if (dx) {
    const int64_t total = d->m * d->c;
    const float *a = s.coef, *mdy = s.coef + d->c, *gc = s.coef + 2 * d->c; /* (C) each */
    bn_dx_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(total, d->c, x, dy, mdy, a,
                                                                      save_mean, gc, dx);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

extern "C" graft_status graft_bn_backward_eval_gpu(graft_ctx *ctx, const graft_bn_desc *d,
                                                   const float *x,            /* (M, C) */
                                                   const float *dy,           /* (M, C) */
                                                   const float *gamma,        /* (C) */
                                                   const float *running_mean, /* (C) */
                                                   const float *running_var,  /* (C) */
                                                   float *dx,     /* (M, C) or NULL */
                                                   float *dgamma, /* (C) or NULL */
                                                   float *dbeta)  /* (C) or NULL */
{
  static const char op[] = "bn_backward_eval";
  GRAFT_TRY(bn_check(op, d, 0));
  const int want_params = dgamma || dbeta;
  if (!dy || !gamma || !running_var || (want_params && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  if (!dx && !want_params) return GRAFT_OK;
  bn_scratch s;
  GRAFT_TRY(bn_scratch_get(ctx, op, d->m, d->c, &s));
  graft_gpu *g = graft_gpu_of(ctx);
  /* s1 = sum dy, s2 = sum dy * (x - running_mean) */
  if (want_params) GRAFT_TRY(bn_sums(g, d->m, d->c, &s, 0, dy, x, running_mean));
  bn_eval_coef_kernel<<<bn_channel_blocks(d->c), GRAFT_BLOCK, 0, g->stream>>>(
      d->c, s.chunks, 1, (double)d->eps, gamma, running_var, want_params ? s.s1 : NULL,
      want_params ? s.s2 : NULL, dgamma, dbeta, s.coef);
  GRAFT_LAUNCH_CHECK(g);
  if (dx) {
    const int64_t total = d->m * d->c;
    bn_dx_kernel<<<graft_grid_1d(total), GRAFT_BLOCK, 0, g->stream>>>(total, d->c, NULL, dy, NULL,
                                                                      s.coef, NULL, NULL, dx);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

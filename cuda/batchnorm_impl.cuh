/* batchnorm_impl.cuh: what the device batch norms share (CUDA only): the
 * workspace layout, the per-channel sums (stage 1)
 * and the kernels that turn them into statistics, parameter gradients and
 * coefficients (stage 2), under bn_act.cu's elementwise passes (stage 3).
 * Every device batch norm runs there: a plain one (batchnorm.cu) is the
 * fused op with the identity and no residual.
 *
 * Stage 1, bn_sums_kernel, reads the first summand through a loader, a
 * functor float operator()(int64_t e) const over the (M, C) elements: a
 * plain tensor (bn_plain), or a value made on the fly, such as the
 * gradient that reaches a fused batch norm through its activation.
 *
 * Activations are stored as ctx->act_dtype (ops.h): the kernels that touch
 * them are templates over the element type T (float or graft_bf16, see
 * act_io.cuh) and read them widened to fp32 through act_ld, so the sums,
 * statistics and coefficients are computed as in fp32 storage. The
 * per-channel values (gamma, statistics, parameter gradients, the
 * workspace) are always fp32 or double. */
#ifndef GRAFT_CUDA_BATCHNORM_IMPL_CUH
#define GRAFT_CUDA_BATCHNORM_IMPL_CUH

#include <math.h>

#include "act_io.cuh"
#include "gpu_impl.h"
#include "ops_gpu.h"

#define BN_CH 32             /* channels per block of the sums (threadIdx.x) */
#define BN_ROWS 16           /* row lanes per block of the sums (threadIdx.y) */
#define BN_MIN_CHUNK_ROWS 64 /* a chunk sums at least this many rows */
#define BN_TARGET_BLOCKS 512 /* blocks of the sums worth filling the device */
/* The chunk count is capped so that the partials and the coefficients fit
 * the smallest workspace a GPU context has (4 MiB: the full BN_TARGET_BLOCKS
 * for every ResNet width; the cap binds only past C of about 250,000). It
 * depends on M and C alone, never on the workspace at hand, so results do
 * not change with it. */
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

static inline size_t bn_scratch_bytes(int chunks, int c) {
  return 2 * (size_t)chunks * c * sizeof(double) + (size_t)BN_COEFS * c * sizeof(float);
}

static inline int bn_chunks(int64_t m, int c) {
  const int64_t col_blocks = (c + BN_CH - 1) / BN_CH;
  int64_t chunks = (m + BN_MIN_CHUNK_ROWS - 1) / BN_MIN_CHUNK_ROWS;
  const int64_t fill = (BN_TARGET_BLOCKS + col_blocks - 1) / col_blocks;
  if (chunks > fill) chunks = fill;
  while (chunks > 1 && bn_scratch_bytes((int)chunks, c) > BN_WORKSPACE_BUDGET) chunks--;
  return chunks < 1 ? 1 : (int)chunks;
}

static inline graft_status bn_scratch_get(graft_ctx *ctx, const char *op, int64_t m, int c,
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

/* The loader of a plain activation tensor of element type T. */
template <typename T> struct bn_plain {
  const T *p; /* (M, C) */
  __device__ float operator()(int64_t e) const { return act_ld(p, e); }
};

/* Stage 1. For channel ch and chunk k (rows [m*k/chunks, m*(k+1)/chunks)):
 * s1[k, ch] = sum (u - ku) and s2[k, ch] = sum (u - ku) * (v - kv), where
 * u is read through the loader, ku is u's first row when ku_first_row is
 * set and 0 otherwise, and kv is v's first row when kv is NULL and kv[ch]
 * otherwise. v is an activation (element type T). */
template <typename T, class Load>
static __global__ void bn_sums_kernel(int64_t m, int c, int chunks, int ku_first_row,
                                      Load u,                       /* (M, C) */
                                      const T *__restrict__ v,      /* (M, C) */
                                      const float *__restrict__ kv, /* (C) or NULL */
                                      double *__restrict__ s1,      /* (chunks, C) */
                                      double *__restrict__ s2)      /* (chunks, C) */
{
  __shared__ double p1[BN_ROWS][BN_CH], p2[BN_ROWS][BN_CH];
  const int ch = blockIdx.x * BN_CH + threadIdx.x;
  const int k = blockIdx.y;
  double a1 = 0.0, a2 = 0.0;
  if (ch < c) {
    const double ku = ku_first_row ? (double)u(ch) : 0.0;
    const double kvc = kv ? (double)kv[ch] : (double)act_ld(v, ch);
    const int64_t r0 = m * k / chunks, r1 = m * (k + 1) / chunks;
    for (int64_t r = r0 + threadIdx.y; r < r1; r += BN_ROWS) {
      const double du = (double)u(r * c + ch) - ku;
      a1 += du;
      a2 += du * ((double)act_ld(v, r * c + ch) - kvc);
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

template <typename T, class Load>
static graft_status bn_sums(graft_gpu *g, int64_t m, int c, const bn_scratch *s, int ku_first_row,
                            Load u,          /* (M, C) */
                            const T *v,      /* (M, C) activation */
                            const float *kv) /* (C) or NULL */
{
  dim3 grid((unsigned)((c + BN_CH - 1) / BN_CH), (unsigned)s->chunks);
  bn_sums_kernel<T, Load><<<grid, dim3(BN_CH, BN_ROWS), 0, g->stream>>>(m, c, s->chunks,
                                                                        ku_first_row, u, v, kv,
                                                                        s->s1, s->s2);
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
 * running statistics, and the scale gamma * invstd into coef[0, ch]. The
 * sums were taken about x's first row, which is read again here. */
template <typename T>
static __global__ void bn_train_stats_kernel(int64_t m, int c, int chunks, double eps, double mom,
                                             const T *__restrict__ x,         /* (M, C) row 0 */
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
  const double mu = (double)act_ld(x, ch) + dm;
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

/* Blocks of GRAFT_BLOCK threads for the per-channel (stage 2) kernels. */
static inline unsigned bn_channel_blocks(int c) {
  return (unsigned)((c + GRAFT_BLOCK - 1) / GRAFT_BLOCK);
}

#endif

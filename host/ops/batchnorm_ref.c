/* batchnorm_ref.c: the CPU reference batch normalization over the last
 * (channel) axis of an (M, C) view, with PyTorch's BatchNorm2d semantics.
 * Training mode normalizes with the batch mean and biased variance, saves
 * mean and 1/sqrt(var + eps) for backward, and updates the running
 * statistics with the unbiased variance; eval mode treats the running
 * statistics as constants.
 *
 * Channels are processed in blocks of BN_BLOCK. For one block, the channel
 * sums are reduced in double over a fixed number of row chunks, and the
 * chunk partials are added in chunk order, so the sums do not depend on the
 * thread count. A second, elementwise pass over the rows then applies the
 * block's per-channel coefficients. The sums and coefficients of a block
 * live on the stack: nothing is allocated. */
#include <math.h>

#include "core/log.h"
#include "ops/ops.h"

#define BN_BLOCK 512          /* channels per block: ResNet-18 and -34 layers fit in one */
#define BN_CHUNKS 64          /* row chunks of the reduction */
#define BN_PARALLEL_MIN 65536 /* block elements below which a pass runs on one thread */

static int bn_threads(const graft_ctx *ctx) { return ctx && ctx->threads > 0 ? ctx->threads : 1; }

static graft_status bn_check(const graft_bn_desc *d, int training) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "batch norm: NULL descriptor");
  if (d->m < 1 || d->c < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm: bad shape (M %lld, C %d)", (long long)d->m, d->c);
  if (training && d->m < 2)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm: training needs more than 1 value per channel (M %lld)",
               (long long)d->m);
  if (!(d->eps >= 0.0f) || !isfinite(d->eps) || !isfinite(d->momentum))
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm: bad eps %g or momentum %g", (double)d->eps,
               (double)d->momentum);
  return GRAFT_OK;
}

/* Over the M rows of the block's channels j < cb (channel c0 + j):
 * s1[j] = sum (u - ku[j]) and s2[j] = sum (u - ku[j]) * (v - kv[j]). */
static void block_sums(int nt, int64_t m, int c, int c0, int cb,
                       const float *u,                   /* (M, C) */
                       const double *restrict ku,        /* (cb) */
                       const float *v,                   /* (M, C) */
                       const double *restrict kv,        /* (cb) */
                       double *restrict s1,              /* (cb) */
                       double *restrict s2) {            /* (cb) */
  int64_t chunks = m < BN_CHUNKS ? m : BN_CHUNKS;
  for (int j = 0; j < cb; j++) s1[j] = s2[j] = 0.0;
#pragma omp parallel for ordered schedule(static, 1) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t k = 0; k < chunks; k++) {
    double a1[BN_BLOCK], a2[BN_BLOCK];
    for (int j = 0; j < cb; j++) a1[j] = a2[j] = 0.0;
    for (int64_t r = m * k / chunks; r < m * (k + 1) / chunks; r++) {
      const float *ur = u + r * c + c0; /* (cb) */
      const float *vr = v + r * c + c0; /* (cb) */
      for (int j = 0; j < cb; j++) {
        double du = (double)ur[j] - ku[j];
        a1[j] += du;
        a2[j] += du * ((double)vr[j] - kv[j]);
      }
    }
#pragma omp ordered
    for (int j = 0; j < cb; j++) {
      s1[j] += a1[j];
      s2[j] += a2[j];
    }
  }
}

/* y = (x - mean) * scale + shift over the block's channels. */
static void normalize_block(int nt, int64_t m, int c, int c0, int cb,
                            const float *x,                 /* (M, C) */
                            const float *restrict mean,     /* (cb) */
                            const float *restrict scale,    /* (cb) */
                            const float *restrict shift,    /* (cb) */
                            float *y) {                     /* (M, C) */
#pragma omp parallel for schedule(static) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t r = 0; r < m; r++) {
    const float *restrict xr = x + r * c + c0; /* (cb) */
    float *restrict yr = y + r * c + c0;       /* (cb) */
    for (int j = 0; j < cb; j++) yr[j] = (xr[j] - mean[j]) * scale[j] + shift[j];
  }
}

/* dx += (dy - mdy) * a - (x - mean) * g over the block's channels. With g
 * NULL it is the eval backward dx += dy * a, and x, mdy and mean are unused. */
static void dx_block(int nt, int64_t m, int c, int c0, int cb,
                     const float *x,              /* (M, C) or NULL */
                     const float *dy,             /* (M, C) */
                     const float *restrict mdy,   /* (cb) or NULL */
                     const float *restrict a,     /* (cb) */
                     const float *restrict mean,  /* (cb) or NULL */
                     const float *restrict g,     /* (cb) or NULL for the eval form */
                     float *dx) {                 /* (M, C) */
#pragma omp parallel for schedule(static) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t r = 0; r < m; r++) {
    const float *restrict dyr = dy + r * c + c0; /* (cb) */
    float *restrict dxr = dx + r * c + c0;       /* (cb) */
    if (g) {
      const float *restrict xr = x + r * c + c0; /* (cb) */
      for (int j = 0; j < cb; j++) dxr[j] += (dyr[j] - mdy[j]) * a[j] - (xr[j] - mean[j]) * g[j];
    } else {
      for (int j = 0; j < cb; j++) dxr[j] += dyr[j] * a[j];
    }
  }
}

graft_status graft_bn_forward_train_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,      /* (M, C) */
                                        const float *gamma,  /* (C) */
                                        const float *beta,   /* (C) */
                                        float *running_mean, /* (C) or NULL */
                                        float *running_var,  /* (C) or NULL */
                                        float *y,            /* (M, C) */
                                        float *save_mean,    /* (C) */
                                        float *save_invstd) { /* (C) */
  GRAFT_TRY(bn_check(d, 1));
  if (!x || !gamma || !beta || !y || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (train): NULL tensor");
  if (!running_mean != !running_var)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (train): running_mean and running_var must "
                             "both be given or both be NULL");
  int nt = bn_threads(ctx);
  int64_t m = d->m;
  int c = d->c;
  double mom = d->momentum;
  for (int c0 = 0; c0 < c; c0 += BN_BLOCK) {
    int cb = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double ref[BN_BLOCK], s1[BN_BLOCK], s2[BN_BLOCK];
    float mean[BN_BLOCK], scale[BN_BLOCK];
    /* Sums are taken about the first row, which lies near the mean, so the
     * variance does not come from the difference of two large numbers. */
    for (int j = 0; j < cb; j++) ref[j] = x[c0 + j];
    block_sums(nt, m, c, c0, cb, x, ref, x, ref, s1, s2);
    for (int j = 0; j < cb; j++) {
      int ch = c0 + j;
      double dm = s1[j] / (double)m;
      double mu = ref[j] + dm;
      double var = s2[j] / (double)m - dm * dm;
      if (var < 0.0) var = 0.0;
      double invstd = 1.0 / sqrt(var + (double)d->eps);
      save_mean[ch] = (float)mu;
      save_invstd[ch] = (float)invstd;
      mean[j] = (float)mu;
      scale[j] = (float)(invstd * (double)gamma[ch]);
      if (running_mean) {
        double unbiased = var * (double)m / (double)(m - 1);
        running_mean[ch] = (float)(mom * mu + (1.0 - mom) * (double)running_mean[ch]);
        running_var[ch] = (float)(mom * unbiased + (1.0 - mom) * (double)running_var[ch]);
      }
    }
    normalize_block(nt, m, c, c0, cb, x, mean, scale, beta + c0, y);
  }
  return GRAFT_OK;
}

graft_status graft_bn_forward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                       const float *x,            /* (M, C) */
                                       const float *gamma,        /* (C) */
                                       const float *beta,         /* (C) */
                                       const float *running_mean, /* (C) */
                                       const float *running_var,  /* (C) */
                                       float *y) {                /* (M, C) */
  GRAFT_TRY(bn_check(d, 0));
  if (!x || !gamma || !beta || !running_mean || !running_var || !y)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm forward (eval): NULL tensor");
  int nt = bn_threads(ctx);
  for (int c0 = 0; c0 < d->c; c0 += BN_BLOCK) {
    int cb = d->c - c0 < BN_BLOCK ? d->c - c0 : BN_BLOCK;
    float scale[BN_BLOCK];
    for (int j = 0; j < cb; j++)
      scale[j] = (float)((double)gamma[c0 + j] / sqrt((double)running_var[c0 + j] + (double)d->eps));
    normalize_block(nt, d->m, d->c, c0, cb, x, running_mean + c0, scale, beta + c0, y);
  }
  return GRAFT_OK;
}

graft_status graft_bn_backward_train_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                         const float *x,           /* (M, C) */
                                         const float *dy,          /* (M, C) */
                                         const float *gamma,       /* (C) */
                                         const float *save_mean,   /* (C) */
                                         const float *save_invstd, /* (C) */
                                         float *dx,                /* (M, C) or NULL */
                                         float *dgamma,            /* (C) or NULL */
                                         float *dbeta) {           /* (C) or NULL */
  GRAFT_TRY(bn_check(d, 1));
  if (!x || !dy || !gamma || !save_mean || !save_invstd)
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm backward (train): NULL tensor");
  if (!dx && !dgamma && !dbeta) return GRAFT_OK;
  int nt = bn_threads(ctx);
  int64_t m = d->m;
  int c = d->c;
  for (int c0 = 0; c0 < c; c0 += BN_BLOCK) {
    int cb = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double zero[BN_BLOCK], mu[BN_BLOCK], sdy[BN_BLOCK], sdyx[BN_BLOCK];
    float mdy[BN_BLOCK], a[BN_BLOCK], g[BN_BLOCK];
    for (int j = 0; j < cb; j++) {
      zero[j] = 0.0;
      mu[j] = save_mean[c0 + j];
    }
    /* sdy = sum(dy), sdyx = sum(dy * (x - mean)) */
    block_sums(nt, m, c, c0, cb, dy, zero, x, mu, sdy, sdyx);
    for (int j = 0; j < cb; j++) {
      int ch = c0 + j;
      double invstd = save_invstd[ch];
      double dot = sdyx[j] * invstd; /* sum(dy * xhat) */
      if (dgamma) dgamma[ch] += (float)dot;
      if (dbeta) dbeta[ch] += (float)sdy[j];
      double aj = (double)gamma[ch] * invstd;
      a[j] = (float)aj;
      mdy[j] = (float)(sdy[j] / (double)m);
      g[j] = (float)(aj * invstd * dot / (double)m);
    }
    /* dx = gamma*invstd/M * (M*dy - sum(dy) - xhat*sum(dy*xhat)) */
    if (dx) dx_block(nt, m, c, c0, cb, x, dy, mdy, a, save_mean + c0, g, dx);
  }
  return GRAFT_OK;
}

graft_status graft_bn_backward_eval_ref(graft_ctx *ctx, const graft_bn_desc *d,
                                        const float *x,            /* (M, C) */
                                        const float *dy,           /* (M, C) */
                                        const float *gamma,        /* (C) */
                                        const float *running_mean, /* (C) */
                                        const float *running_var,  /* (C) */
                                        float *dx,                 /* (M, C) or NULL */
                                        float *dgamma,             /* (C) or NULL */
                                        float *dbeta) {            /* (C) or NULL */
  GRAFT_TRY(bn_check(d, 0));
  if (!dy || !gamma || !running_var || ((dgamma || dbeta) && (!x || !running_mean)))
    GRAFT_FAIL(GRAFT_EINVAL, "batch norm backward (eval): NULL tensor");
  int nt = bn_threads(ctx);
  int64_t m = d->m;
  int c = d->c;
  for (int c0 = 0; c0 < c; c0 += BN_BLOCK) {
    int cb = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double invstd[BN_BLOCK];
    float a[BN_BLOCK];
    for (int j = 0; j < cb; j++) {
      invstd[j] = 1.0 / sqrt((double)running_var[c0 + j] + (double)d->eps);
      a[j] = (float)((double)gamma[c0 + j] * invstd[j]);
    }
    if (dgamma || dbeta) {
      double zero[BN_BLOCK], mu[BN_BLOCK], sdy[BN_BLOCK], sdyx[BN_BLOCK];
      for (int j = 0; j < cb; j++) {
        zero[j] = 0.0;
        mu[j] = running_mean[c0 + j];
      }
      block_sums(nt, m, c, c0, cb, dy, zero, x, mu, sdy, sdyx);
      for (int j = 0; j < cb; j++) {
        if (dgamma) dgamma[c0 + j] += (float)(sdyx[j] * invstd[j]);
        if (dbeta) dbeta[c0 + j] += (float)sdy[j];
      }
    }
    if (dx) dx_block(nt, m, c, c0, cb, NULL, dy, NULL, a, NULL, NULL, dx);
  }
  return GRAFT_OK;
}

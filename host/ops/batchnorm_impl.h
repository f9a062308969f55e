/* batchnorm_impl.h: the loops of the CPU reference batch normalization,
 * run by the ops fused with a residual add and an activation
 * (bn_act_ref.c), which the plain ops (batchnorm_ref.c) call with the
 * identity and no residual. Everything is static and private to
 * bn_act_ref.c.
 *
 * Channels are processed in blocks of BN_BLOCK. For one block, the channel
 * sums are reduced in double over a fixed number of row chunks, and the
 * chunk partials are added in chunk order, so the sums do not depend on the
 * thread count. A second, elementwise pass over the rows then applies the
 * block's per-channel coefficients. The sums and coefficients of a block
 * live on the stack: nothing is allocated.
 *
 * The fused forms cost no extra pass: the residual add and the activation
 * ride on the normalizing pass, and the backward recomputes the gradient
 * that reaches the batch norm, dz = dy * act', from dy and the forward
 * output y wherever it reads it. Each float operation is the one the
 * plain op followed by add_forward and act_forward (or act_backward and
 * accumulate) would do, so fused and unfused give the same floats. */
#ifndef GRAFT_BATCHNORM_IMPL_H
#define GRAFT_BATCHNORM_IMPL_H

#include <math.h>

#include "core/log.h"
#include "ops/math.h"
#include "ops/ops.h"

#define BN_BLOCK 512          /* channels per block: ResNet-18 and -34 layers fit in one */
#define BN_CHUNKS 64          /* row chunks of the reduction */
#define BN_PARALLEL_MIN 65536 /* block elements below which a pass runs on one thread */

static inline int bn_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

/* The gradient that reaches the batch norm through act, from the upstream
 * gradient dy and the forward output y. For ReLU the input was positive
 * exactly where the output is, so graft_act_grad can be given y for both;
 * y is NULL for the identity, where dz is dy itself. */
static inline float bn_dz(graft_act act, const float *y, const float *dy, int j) {
  return y ? dy[j] * graft_act_grad((int)act, 0.0f, y[j], y[j]) : dy[j];
}

/* The inner loops below test for the ReLU (the one activation besides the
 * identity the fused ops take) outside the loop over channels and spell
 * its mask out, dy * (y > 0 ? 1 : 0), the same floats as bn_dz: a switch
 * on the activation inside the loop keeps the compiler from vectorizing. */
static inline int bn_relu(graft_act act, const float *y) { return y && act == GRAFT_ACT_RELU; }

/* Over the M rows of the block's channels j < cb (channel c0 + j), with
 * u' = u * act'(from uy) when uy is given and u itself otherwise (bn_dz):
 * s1[j] = sum (u' - ku[j]) and s2[j] = sum (u' - ku[j]) * (v - kv[j]). */
static inline void bn_block_sums(int nt, int64_t m, int c, int c0, int cb, graft_act act,
                                 const float *u,            /* (M, C) */
                                 const float *uy,           /* (M, C) or NULL */
                                 const double *restrict ku, /* (cb) */
                                 const float *v,            /* (M, C) */
                                 const double *restrict kv, /* (cb) */
                                 double *restrict s1,       /* (cb) */
                                 double *restrict s2) {     /* (cb) */
  int64_t chunks = m < BN_CHUNKS ? m : BN_CHUNKS;
  for (int j = 0; j < cb; j++) s1[j] = s2[j] = 0.0;
#pragma omp parallel for ordered schedule(static, 1) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t k = 0; k < chunks; k++) {
    double a1[BN_BLOCK], a2[BN_BLOCK];
    for (int j = 0; j < cb; j++) a1[j] = a2[j] = 0.0;
    for (int64_t r = m * k / chunks; r < m * (k + 1) / chunks; r++) {
      const float *ur = u + r * c + c0;                /* (cb) */
      const float *uyr = uy ? uy + r * c + c0 : NULL; /* (cb) or NULL */
      const float *vr = v + r * c + c0;                /* (cb) */
      if (bn_relu(act, uyr)) {
        for (int j = 0; j < cb; j++) {
          double du = (double)(ur[j] * (uyr[j] > 0.0f ? 1.0f : 0.0f)) - ku[j];
          a1[j] += du;
          a2[j] += du * ((double)vr[j] - kv[j]);
        }
      } else if (!uyr) {
        for (int j = 0; j < cb; j++) {
          double du = (double)ur[j] - ku[j];
          a1[j] += du;
          a2[j] += du * ((double)vr[j] - kv[j]);
        }
      } else {
        for (int j = 0; j < cb; j++) {
          double du = (double)bn_dz(act, uyr, ur, j) - ku[j];
          a1[j] += du;
          a2[j] += du * ((double)vr[j] - kv[j]);
        }
      }
    }
#pragma omp ordered
    for (int j = 0; j < cb; j++) {
      s1[j] += a1[j];
      s2[j] += a2[j];
    }
  }
}

/* y = act((x - mean) * scale + shift + r) over the block's channels, the
 * add skipped when r is NULL. */
static inline void bn_normalize_block(int nt, int64_t m, int c, int c0, int cb, graft_act act,
                                      const float *x,              /* (M, C) */
                                      const float *restrict mean,  /* (cb) */
                                      const float *restrict scale, /* (cb) */
                                      const float *restrict shift, /* (cb) */
                                      const float *r,              /* (M, C) or NULL */
                                      float *y) {                  /* (M, C) */
#pragma omp parallel for schedule(static) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t row = 0; row < m; row++) {
    const float *restrict xr = x + row * c + c0; /* (cb) */
    float *restrict yr = y + row * c + c0;       /* (cb) */
    if (r) {
      const float *restrict rr = r + row * c + c0; /* (cb) */
      if (act == GRAFT_ACT_RELU) {
        for (int j = 0; j < cb; j++) {
          float t = (xr[j] - mean[j]) * scale[j] + shift[j] + rr[j];
          yr[j] = t > 0.0f ? t : 0.0f;
        }
      } else {
        for (int j = 0; j < cb; j++) {
          float t = (xr[j] - mean[j]) * scale[j] + shift[j];
          yr[j] = graft_act_value((int)act, 0.0f, t + rr[j]);
        }
      }
    } else if (act == GRAFT_ACT_RELU) {
      for (int j = 0; j < cb; j++) {
        float t = (xr[j] - mean[j]) * scale[j] + shift[j];
        yr[j] = t > 0.0f ? t : 0.0f;
      }
    } else if (act == GRAFT_ACT_IDENTITY) {
      for (int j = 0; j < cb; j++) yr[j] = (xr[j] - mean[j]) * scale[j] + shift[j];
    } else {
      for (int j = 0; j < cb; j++)
        yr[j] = graft_act_value((int)act, 0.0f, (xr[j] - mean[j]) * scale[j] + shift[j]);
    }
  }
}

/* With dz = bn_dz(act, y, dy) over the block's channels: dres += dz, and
 * dx += (dz - mdy) * a - (x - mean) * g. With g NULL it is the eval
 * backward dx += dz * a, and x, mdy and mean are unused; with dx NULL only
 * dres is written and the coefficients are unused. dx and dres do not
 * alias. */
static inline void bn_dx_block(int nt, int64_t m, int c, int c0, int cb, graft_act act,
                               const float *x,             /* (M, C) or NULL */
                               const float *y,             /* (M, C) or NULL: dz = dy */
                               const float *dy,            /* (M, C) */
                               const float *restrict mdy,  /* (cb) or NULL */
                               const float *restrict a,    /* (cb) or NULL without dx */
                               const float *restrict mean, /* (cb) or NULL */
                               const float *restrict g,    /* (cb) or NULL for the eval form */
                               float *dx,                  /* (M, C) or NULL */
                               float *dres) {              /* (M, C) or NULL */
#pragma omp parallel for schedule(static) num_threads(nt) if (m * cb >= BN_PARALLEL_MIN)
  for (int64_t r = 0; r < m; r++) {
    const float *restrict dyr = dy + r * c + c0;          /* (cb) */
    const float *restrict yr = y ? y + r * c + c0 : NULL; /* (cb) or NULL */
    const int relu = bn_relu(act, yr);
    if (dres) {
      float *restrict dresr = dres + r * c + c0; /* (cb) */
      if (relu)
        for (int j = 0; j < cb; j++) dresr[j] += dyr[j] * (yr[j] > 0.0f ? 1.0f : 0.0f);
      else
        for (int j = 0; j < cb; j++) dresr[j] += bn_dz(act, yr, dyr, j);
    }
    if (!dx) continue;
    float *restrict dxr = dx + r * c + c0; /* (cb) */
    if (g) {
      const float *restrict xr = x + r * c + c0; /* (cb) */
      if (relu)
        for (int j = 0; j < cb; j++)
          dxr[j] += (dyr[j] * (yr[j] > 0.0f ? 1.0f : 0.0f) - mdy[j]) * a[j] - (xr[j] - mean[j]) * g[j];
      else if (!yr)
        for (int j = 0; j < cb; j++) dxr[j] += (dyr[j] - mdy[j]) * a[j] - (xr[j] - mean[j]) * g[j];
      else
        for (int j = 0; j < cb; j++)
          dxr[j] += (bn_dz(act, yr, dyr, j) - mdy[j]) * a[j] - (xr[j] - mean[j]) * g[j];
    } else if (relu) {
      for (int j = 0; j < cb; j++) dxr[j] += dyr[j] * (yr[j] > 0.0f ? 1.0f : 0.0f) * a[j];
    } else {
      for (int j = 0; j < cb; j++) dxr[j] += bn_dz(act, yr, dyr, j) * a[j];
    }
  }
}

/* Training forward: batch statistics, saved mean and invstd, running
 * statistics (when given), y = act(bn(x) + residual). */
static inline void bn_run_forward_train(const graft_ctx *ctx, const graft_bn_desc *d,
                                        graft_act act,
                                        const float *x,        /* (M, C) */
                                        const float *gamma,    /* (C) */
                                        const float *beta,     /* (C) */
                                        float *running_mean,   /* (C) or NULL */
                                        float *running_var,    /* (C) or NULL */
                                        const float *residual, /* (M, C) or NULL */
                                        float *y,              /* (M, C) */
                                        float *save_mean,      /* (C) */
                                        float *save_invstd) {  /* (C) */
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
    bn_block_sums(nt, m, c, c0, cb, GRAFT_ACT_IDENTITY, x, NULL, ref, x, ref, s1, s2);
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
    bn_normalize_block(nt, m, c, c0, cb, act, x, mean, scale, beta + c0, residual, y);
  }
}

/* Eval forward: y = act(bn(x) + residual) with the running statistics. */
static inline void bn_run_forward_eval(const graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                       const float *x,            /* (M, C) */
                                       const float *gamma,        /* (C) */
                                       const float *beta,         /* (C) */
                                       const float *running_mean, /* (C) */
                                       const float *running_var,  /* (C) */
                                       const float *residual,     /* (M, C) or NULL */
                                       float *y) {                /* (M, C) */
  int nt = bn_threads(ctx);
  for (int c0 = 0; c0 < d->c; c0 += BN_BLOCK) {
    int cb = d->c - c0 < BN_BLOCK ? d->c - c0 : BN_BLOCK;
    float scale[BN_BLOCK];
    for (int j = 0; j < cb; j++)
      scale[j] = (float)((double)gamma[c0 + j] / sqrt((double)running_var[c0 + j] + (double)d->eps));
    bn_normalize_block(nt, d->m, d->c, c0, cb, act, x, running_mean + c0, scale, beta + c0,
                       residual, y);
  }
}

/* Training backward with dz = bn_dz(act, y, dy): dres += dz and the batch
 * norm's gradients of dz. y is NULL for the identity. */
static inline void bn_run_backward_train(const graft_ctx *ctx, const graft_bn_desc *d,
                                         graft_act act,
                                         const float *x,           /* (M, C) */
                                         const float *y,           /* (M, C) or NULL */
                                         const float *dy,          /* (M, C) */
                                         const float *gamma,       /* (C) */
                                         const float *save_mean,   /* (C) */
                                         const float *save_invstd, /* (C) */
                                         float *dx,                /* (M, C) or NULL */
                                         float *dres,              /* (M, C) or NULL */
                                         float *dgamma,            /* (C) or NULL */
                                         float *dbeta) {           /* (C) or NULL */
  int nt = bn_threads(ctx);
  int64_t m = d->m;
  int c = d->c;
  int need_sums = dx || dgamma || dbeta;
  for (int c0 = 0; c0 < c; c0 += BN_BLOCK) {
    int cb = c - c0 < BN_BLOCK ? c - c0 : BN_BLOCK;
    double zero[BN_BLOCK], mu[BN_BLOCK], sdz[BN_BLOCK], sdzx[BN_BLOCK];
    float mdz[BN_BLOCK], a[BN_BLOCK], g[BN_BLOCK];
    if (need_sums) {
      for (int j = 0; j < cb; j++) {
        zero[j] = 0.0;
        mu[j] = save_mean[c0 + j];
      }
      /* sdz = sum(dz), sdzx = sum(dz * (x - mean)) */
      bn_block_sums(nt, m, c, c0, cb, act, dy, y, zero, x, mu, sdz, sdzx);
      for (int j = 0; j < cb; j++) {
        int ch = c0 + j;
        double invstd = save_invstd[ch];
        double dot = sdzx[j] * invstd; /* sum(dz * xhat) */
        if (dgamma) dgamma[ch] += (float)dot;
        if (dbeta) dbeta[ch] += (float)sdz[j];
        double aj = (double)gamma[ch] * invstd;
        a[j] = (float)aj;
        mdz[j] = (float)(sdz[j] / (double)m);
        g[j] = (float)(aj * invstd * dot / (double)m);
      }
    }
    /* dx = gamma*invstd/M * (M*dz - sum(dz) - xhat*sum(dz*xhat)) */
    if (dx)
      bn_dx_block(nt, m, c, c0, cb, act, x, y, dy, mdz, a, save_mean + c0, g, dx, dres);
    else if (dres)
      bn_dx_block(nt, m, c, c0, cb, act, NULL, y, dy, NULL, NULL, NULL, NULL, NULL, dres);
  }
}

/* Eval backward with dz = bn_dz(act, y, dy): dres += dz, dx += dz * gamma *
 * invstd, and the parameter gradients. x and running_mean are read only for
 * dgamma and dbeta. */
static inline void bn_run_backward_eval(const graft_ctx *ctx, const graft_bn_desc *d,
                                        graft_act act,
                                        const float *x,            /* (M, C) or NULL */
                                        const float *y,            /* (M, C) or NULL */
                                        const float *dy,           /* (M, C) */
                                        const float *gamma,        /* (C) */
                                        const float *running_mean, /* (C) or NULL */
                                        const float *running_var,  /* (C) */
                                        float *dx,                 /* (M, C) or NULL */
                                        float *dres,               /* (M, C) or NULL */
                                        float *dgamma,             /* (C) or NULL */
                                        float *dbeta) {            /* (C) or NULL */
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
      double zero[BN_BLOCK], mu[BN_BLOCK], sdz[BN_BLOCK], sdzx[BN_BLOCK];
      for (int j = 0; j < cb; j++) {
        zero[j] = 0.0;
        mu[j] = running_mean[c0 + j];
      }
      bn_block_sums(nt, m, c, c0, cb, act, dy, y, zero, x, mu, sdz, sdzx);
      for (int j = 0; j < cb; j++) {
        if (dgamma) dgamma[c0 + j] += (float)(sdzx[j] * invstd[j]);
        if (dbeta) dbeta[c0 + j] += (float)sdz[j];
      }
    }
    if (dx || dres) bn_dx_block(nt, m, c, c0, cb, act, NULL, y, dy, NULL, a, NULL, NULL, dx, dres);
  }
}

#endif

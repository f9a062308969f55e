/* optim_ref.c: the CPU reference of SGD and AdamW (see optim.h): the
 * optimizer defaults and their validation, the state layout, and one step
 * over the arenas. The per-element arithmetic is graft_sgd_update and
 * graft_adamw_update from math.h, which the CUDA kernel calls too; this file
 * works out the per-slot scalars on the host, in double where PyTorch works
 * with Python floats, and loops over the elements with OpenMP. */
#include <math.h>
#include <string.h>

#include "core/log.h"
#include "ops/math.h"
#include "optim/optim.h"

/* Below this many elements a parallel region costs more than it saves. */
#define OPTIM_PARALLEL_MIN 32768

void graft_optim_cfg_default(graft_optim_cfg *cfg, graft_optim_kind kind) {
  memset(cfg, 0, sizeof *cfg);
  cfg->kind = kind;
  if (kind == GRAFT_OPTIM_ADAMW) {
    cfg->lr = 1e-3f;
    cfg->weight_decay = 1e-2f;
    cfg->beta1 = 0.9f;
    cfg->beta2 = 0.999f;
    cfg->eps = 1e-8f;
  } else {
    cfg->lr = 0.1f;
    cfg->momentum = 0.9f;
  }
}

/* The comparisons are written so that NaN fails them. */
static graft_status check_nonneg(const char *name, float x) {
  if (!(x >= 0.0f) || isinf(x))
    GRAFT_FAIL(GRAFT_EINVAL, "optimizer: %s = %g must be finite and >= 0", name, (double)x);
  return GRAFT_OK;
}

static graft_status check_beta(const char *name, float x) {
  if (!(x >= 0.0f && x < 1.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "optimizer: %s = %g must be in [0, 1)", name, (double)x);
  return GRAFT_OK;
}

graft_status graft_optim_cfg_check(const graft_optim_cfg *cfg) {
  if (!cfg) GRAFT_FAIL(GRAFT_EINVAL, "optimizer: NULL configuration");
  GRAFT_TRY(check_nonneg("lr", cfg->lr));
  GRAFT_TRY(check_nonneg("weight_decay", cfg->weight_decay));
  switch (cfg->kind) {
    case GRAFT_OPTIM_SGD:
      GRAFT_TRY(check_nonneg("momentum", cfg->momentum));
      if (cfg->nesterov && !(cfg->momentum > 0.0f))
        GRAFT_FAIL(GRAFT_EINVAL, "optimizer: nesterov needs momentum > 0 (momentum = %g)",
                   (double)cfg->momentum);
      return GRAFT_OK;
    case GRAFT_OPTIM_ADAMW:
      GRAFT_TRY(check_beta("beta1", cfg->beta1));
      GRAFT_TRY(check_beta("beta2", cfg->beta2));
      if (!(cfg->eps > 0.0f) || isinf(cfg->eps))
        GRAFT_FAIL(GRAFT_EINVAL, "optimizer: eps = %g must be finite and > 0", (double)cfg->eps);
      return GRAFT_OK;
  }
  GRAFT_FAIL(GRAFT_EINVAL, "optimizer: unknown kind %d", (int)cfg->kind);
}

int graft_optim_state_planes(const graft_optim_cfg *cfg) {
  if (cfg->kind == GRAFT_OPTIM_ADAMW) return 2;
  if (cfg->kind == GRAFT_OPTIM_SGD) return cfg->momentum != 0.0f ? 1 : 0;
  return 0;
}

static int optim_threads(const graft_ctx *ctx) {
  return ctx && ctx->threads > 0 ? ctx->threads : 1;
}

graft_status graft_optim_step_check(const graft_optim_cfg *cfg, const graft_param_slot *slots, int nslots,
                                    const float *params, const float *grads, const float *state, size_t total) {
  GRAFT_TRY(graft_optim_cfg_check(cfg));
  if (nslots < 0) GRAFT_FAIL(GRAFT_EINVAL, "optimizer: negative slot count %d", nslots);
  if (nslots > 0 && !slots) GRAFT_FAIL(GRAFT_EINVAL, "optimizer: NULL slots");
  if (total > 0 && (!params || !grads))
    GRAFT_FAIL(GRAFT_EINVAL, "optimizer: NULL parameter or gradient arena");
  if (total > 0 && graft_optim_state_planes(cfg) > 0 && !state)
    GRAFT_FAIL(GRAFT_EINVAL, "optimizer: NULL state arena (%d planes needed)",
               graft_optim_state_planes(cfg));
  for (int i = 0; i < nslots; i++) {
    const graft_param_slot *s = &slots[i];
    if (s->offset > total || s->count > total - s->offset)
      GRAFT_FAIL(GRAFT_EINVAL, "optimizer: slot %d [%zu, +%zu) lies outside the arena of %zu", i,
                 s->offset, s->count, total);
    if (s->frozen) continue;
    if (!(s->lr_mult >= 0.0f) || isinf(s->lr_mult))
      GRAFT_FAIL(GRAFT_EINVAL, "optimizer: slot %d lr_mult = %g must be finite and >= 0", i,
                 (double)s->lr_mult);
    if (s->step < 0 || s->step == INT64_MAX)
      GRAFT_FAIL(GRAFT_EINVAL, "optimizer: slot %d has step count %lld", i, (long long)s->step);
  }
  return GRAFT_OK;
}

graft_optim_scalars graft_optim_slot_scalars(const graft_optim_cfg *cfg, const graft_param_slot *s) {
  graft_optim_scalars k;
  double lr = (double)cfg->lr * (double)s->lr_mult;
  double wd = s->decay ? (double)cfg->weight_decay : 0.0;
  double t = (double)(s->step + 1);
  k.lr = (float)lr;
  k.wd = (float)wd;
  k.decay = (float)(1.0 - lr * wd);
  k.step_size = (float)(lr / (1.0 - pow((double)cfg->beta1, t)));
  k.bc2_sqrt = (float)sqrt(1.0 - pow((double)cfg->beta2, t));
  k.first = s->step == 0;
  return k;
}

graft_status graft_optim_step_ref(graft_ctx *ctx, const graft_optim_cfg *cfg,
                                  graft_param_slot *slots, int nslots,
                                  float *params,      /* (total) */
                                  const float *grads, /* (total) */
                                  float *state,       /* (planes * total) */
                                  size_t total) {
  GRAFT_TRY(graft_optim_step_check(cfg, slots, nslots, params, grads, state, total));
  const int adamw = cfg->kind == GRAFT_OPTIM_ADAMW;
  const int planes = graft_optim_state_planes(cfg);
  const float momentum = cfg->momentum, beta1 = cfg->beta1, beta2 = cfg->beta2, eps = cfg->eps;
  const int nesterov = cfg->nesterov;
  for (int i = 0; i < nslots; i++) {
    graft_param_slot *s = &slots[i];
    if (s->frozen) continue;
    const graft_optim_scalars k = graft_optim_slot_scalars(cfg, s);
    float *p = params + s->offset;
    const float *g = grads + s->offset;
    const int64_t n = (int64_t)s->count;
    if (adamw) {
      float *m = state + s->offset;
      float *v = state + total + s->offset;
#pragma omp parallel for num_threads(optim_threads(ctx)) if (n >= OPTIM_PARALLEL_MIN)
      for (int64_t j = 0; j < n; j++)
        graft_adamw_update(&p[j], &m[j], &v[j], g[j], beta1, beta2, eps, k.decay, k.step_size,
                           k.bc2_sqrt, k.first);
    } else {
      /* Without momentum there is no buffer; the update never touches it. */
      float unused = 0.0f;
      float *buf = planes > 0 ? state + s->offset : NULL;
#pragma omp parallel for num_threads(optim_threads(ctx)) if (n >= OPTIM_PARALLEL_MIN)
      for (int64_t j = 0; j < n; j++)
        graft_sgd_update(&p[j], buf ? &buf[j] : &unused, g[j], k.lr, momentum, k.wd, nesterov,
                         k.first);
    }
    s->step++;
  }
  return GRAFT_OK;
}

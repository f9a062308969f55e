/* optim.h: SGD and AdamW over the parameter, gradient and state arenas,
 * with the exact update rules of torch.optim.SGD (dampening 0) and
 * torch.optim.AdamW. A parameter is a slot of the arenas with its own
 * learning-rate multiplier, weight-decay switch, freeze flag and step count
 * (PyTorch keeps the step per parameter too, which matters once a frozen
 * backbone is unfrozen). */
#ifndef GRAFT_OPTIM_H
#define GRAFT_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GRAFT_OPTIM_SGD, GRAFT_OPTIM_ADAMW } graft_optim_kind;

typedef struct {
  graft_optim_kind kind;
  float lr;
  float weight_decay;
  /* SGD */
  float momentum;
  int nesterov;
  /* AdamW */
  float beta1, beta2, eps;
} graft_optim_cfg;

/* PyTorch's defaults: SGD lr 0.1 momentum 0.9; AdamW lr 1e-3, betas
 * (0.9, 0.999), eps 1e-8, weight decay 1e-2. */
void graft_optim_cfg_default(graft_optim_cfg *cfg, graft_optim_kind kind);
graft_status graft_optim_cfg_check(const graft_optim_cfg *cfg);

typedef struct {
  size_t offset;  /* first float of the slot in every arena */
  size_t count;   /* floats */
  float lr_mult;  /* the slot's learning rate is cfg.lr * lr_mult */
  int decay;      /* apply weight decay to this slot */
  int frozen;     /* skip entirely: no update, no state change, no step */
  int64_t step;   /* updates applied so far */
} graft_param_slot;

/* Floats of optimizer state per float of parameters: 1 (SGD momentum
 * buffer; 0 without momentum) or 2 (AdamW first and second moments). The
 * state arena holds `k` planes of `total` floats: plane j of a slot starts
 * at j*total + slot.offset. */
int graft_optim_state_planes(const graft_optim_cfg *cfg);

/* What the per-element update functions of ops/math.h take for one slot,
 * computed in double and rounded to float at the end, as PyTorch computes
 * them in Python for its float kernels. The AdamW step is step + 1. Both
 * backends use this, so they feed their kernels the same numbers. */
typedef struct {
  float lr, wd;                     /* SGD */
  float decay, step_size, bc2_sqrt; /* AdamW */
  int first;                        /* the slot's first update: state starts afresh */
} graft_optim_scalars;

graft_optim_scalars graft_optim_slot_scalars(const graft_optim_cfg *cfg, const graft_param_slot *s);

/* Checks a step's arguments before anything is written, so a refused step
 * leaves the arenas and the step counts as they were. */
graft_status graft_optim_step_check(const graft_optim_cfg *cfg, const graft_param_slot *slots, int nslots,
                                    const float *params, const float *grads, const float *state, size_t total);

/* One optimizer step over every slot that is not frozen; increments each
 * updated slot's step. params and state are updated in place. */
graft_status graft_optim_step_ref(graft_ctx *ctx, const graft_optim_cfg *cfg,
                                  graft_param_slot *slots, int nslots,
                                  float *params,      /* (total) */
                                  const float *grads, /* (total) */
                                  float *state,       /* (planes * total) */
                                  size_t total);

#ifdef __cplusplus
}
#endif

#endif

/* optim.cu: the fused optimizer step (SGD or AdamW) over the whole
 * parameter arena in one kernel launch. The host turns every slot that is
 * not frozen into a table entry (its place in the arena and its scalars:
 * learning rate, weight decay, bias corrections, first-step flag), worked
 * out in double exactly as graft_optim_step_ref does, and passes the table
 * by value as a kernel parameter: nothing is allocated or copied, and a
 * captured CUDA graph keeps the values. Each slot is cut into tiles of
 * OPT_TILE elements; a block finds its slot by binary search over the
 * tiles' prefix sums and updates one tile with math.h's graft_sgd_update or
 * graft_adamw_update, the functions the CPU reference runs. More slots than
 * a table holds take a few launches. */

#include "gpu_impl.h"
#include "ops/math.h"

#define OPT_TABLE_SLOTS 256 /* slots per launch: the table stays near 11 KB of parameters */
#define OPT_THREADS 256
#define OPT_PER_THREAD 4
#define OPT_TILE (OPT_THREADS * OPT_PER_THREAD)
#define OPT_MAX_BLOCKS 0x7fffffffu /* gridDim.x limit */

typedef struct {
  uint64_t offset, count;           /* the slot's floats in every arena */
  float lr, wd;                     /* SGD */
  float decay, step_size, bc2_sqrt; /* AdamW */
  int first;                        /* the slot's first step */
} opt_slot;

typedef struct {
  int nslots;
  uint32_t tile_start[OPT_TABLE_SLOTS + 1]; /* first block of each slot; [nslots] is the grid */
  opt_slot slot[OPT_TABLE_SLOTS];
} opt_table;

typedef struct {
  int adamw;
  float momentum; /* SGD */
  int nesterov;
  float beta1, beta2, eps; /* AdamW */
} opt_hyper;

static __global__ void __launch_bounds__(OPT_THREADS)
    optim_step_kernel(const __grid_constant__ opt_table tab, const opt_hyper hp,
                      float *__restrict__ params,      /* (total) */
                      const float *__restrict__ grads, /* (total) */
                      float *__restrict__ plane0,      /* (total) momentum or m, or NULL */
                      float *__restrict__ plane1)      /* (total) v, or NULL */
{
  const uint32_t b = blockIdx.x;
  int lo = 0, hi = tab.nslots - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (tab.tile_start[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  const opt_slot s = tab.slot[lo];
  const uint64_t base = (uint64_t)(b - tab.tile_start[lo]) * OPT_TILE;
#pragma unroll
  for (int k = 0; k < OPT_PER_THREAD; k++) {
    const uint64_t e = base + (uint64_t)k * OPT_THREADS + threadIdx.x;
    if (e >= s.count) break;
    const uint64_t i = s.offset + e;
    if (hp.adamw) {
      graft_adamw_update(&params[i], &plane0[i], &plane1[i], grads[i], hp.beta1, hp.beta2, hp.eps,
                         s.decay, s.step_size, s.bc2_sqrt, s.first);
    } else {
      float unused = 0.0f;
      graft_sgd_update(&params[i], plane0 ? &plane0[i] : &unused, grads[i], s.lr, hp.momentum,
                       s.wd, hp.nesterov, s.first);
    }
  }
}

/* A table entry: the slot's place and graft_optim_slot_scalars, the
 * numbers the CPU reference uses. */
static opt_slot slot_entry(const graft_optim_cfg *cfg, const graft_param_slot *s) {
  const graft_optim_scalars k = graft_optim_slot_scalars(cfg, s);
  opt_slot e;
  e.offset = s->offset;
  e.count = s->count;
  e.lr = k.lr;
  e.wd = k.wd;
  e.decay = k.decay;
  e.step_size = k.step_size;
  e.bc2_sqrt = k.bc2_sqrt;
  e.first = k.first;
  return e;
}

/* The reference's checks, plus the launch-size limit of one slot. */
static graft_status step_check(const graft_optim_cfg *cfg, const graft_param_slot *slots, int nslots,
                               const float *params, const float *grads, const float *state, size_t total) {
  GRAFT_TRY(graft_optim_step_check(cfg, slots, nslots, params, grads, state, total));
  for (int i = 0; i < nslots; i++) {
    const graft_param_slot *s = &slots[i];
    if (!s->frozen && (s->count + OPT_TILE - 1) / OPT_TILE > OPT_MAX_BLOCKS)
      GRAFT_FAIL(GRAFT_EINVAL, "optimizer: slot %d of %zu floats is too large for one launch", i, s->count);
  }
  return GRAFT_OK;
}

static graft_status launch_table(graft_gpu *g, opt_table *tab, const opt_hyper *hp, float *params,
                                 const float *grads, float *plane0, float *plane1) {
  if (tab->nslots == 0) return GRAFT_OK;
  optim_step_kernel<<<tab->tile_start[tab->nslots], OPT_THREADS, 0, g->stream>>>(
      *tab, *hp, params, grads, plane0, plane1);
  GRAFT_LAUNCH_CHECK(g);
  tab->nslots = 0;
  return GRAFT_OK;
}

extern "C" graft_status graft_optim_step_gpu(graft_ctx *ctx, const graft_optim_cfg *cfg,
                                             graft_param_slot *slots, int nslots,
                                             float *params,      /* (total) */
                                             const float *grads, /* (total) */
                                             float *state,       /* (planes * total) */
                                             size_t total) {
  GRAFT_TRY(step_check(cfg, slots, nslots, params, grads, state, total));
  graft_gpu *g = graft_gpu_of(ctx);
  const int planes = graft_optim_state_planes(cfg);
  opt_hyper hp;
  hp.adamw = cfg->kind == GRAFT_OPTIM_ADAMW;
  hp.momentum = cfg->momentum;
  hp.nesterov = cfg->nesterov;
  hp.beta1 = cfg->beta1;
  hp.beta2 = cfg->beta2;
  hp.eps = cfg->eps;
  float *plane0 = planes > 0 ? state : NULL;            /* (total) */
  float *plane1 = planes > 1 ? state + total : NULL;    /* (total) */

  opt_table tab;
  tab.nslots = 0;
  tab.tile_start[0] = 0;
  for (int i = 0; i < nslots; i++) {
    const graft_param_slot *s = &slots[i];
    if (s->frozen || s->count == 0) continue;
    const uint64_t tiles = (s->count + OPT_TILE - 1) / OPT_TILE;
    if (tab.nslots == OPT_TABLE_SLOTS || tab.tile_start[tab.nslots] + tiles > OPT_MAX_BLOCKS)
      GRAFT_TRY(launch_table(g, &tab, &hp, params, grads, plane0, plane1));
    tab.slot[tab.nslots] = slot_entry(cfg, s);
    tab.tile_start[tab.nslots + 1] = tab.tile_start[tab.nslots] + (uint32_t)tiles;
    tab.nslots++;
  }
  GRAFT_TRY(launch_table(g, &tab, &hp, params, grads, plane0, plane1));
  for (int i = 0; i < nslots; i++)
    if (!slots[i].frozen) slots[i].step++;
  return GRAFT_OK;
}

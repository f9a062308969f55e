/* ema_clip.cu: the two arena passes that sit next to the optimizer step on
 * the device: the weight average (ema_update, math.h's graft_ema_value per
 * element, as graft_ema_update_ref) and gradient clipping by the global L2
 * norm (clip_grad_norm, as graft_clip_grad_norm_ref).
 *
 * Clipping reads nothing back, so a captured CUDA graph can hold it. The
 * host turns the slots that are not frozen into tables of (offset, count)
 * passed by value, as optim.cu does, each slot cut into tiles of CLIP_TILE
 * floats. Per table, stage 1 leaves one double sum of squares per block in
 * the workspace, and one block adds them (in a fixed order: the result is
 * the same on every run) into a clip_state kept in the workspace, which
 * also holds the decision: clip when sqrt(sum) > max_norm, by
 * max_norm / (norm + 1e-6). The scaling pass reads that state on the
 * device and leaves the gradients untouched when there is nothing to clip.
 * One table takes CLIP_TABLE_SLOTS slots: a model takes a few launches. */
#include <math.h>

#include "ops/math.h"
#include "ops_gpu.h"
#include "reduce.cuh"

#define CLIP_TABLE_SLOTS 256
#define CLIP_THREADS GRAFT_REDUCE_THREADS /* the block size graft_block_sum is made for */
#define CLIP_PER_THREAD 4
#define CLIP_TILE (CLIP_THREADS * CLIP_PER_THREAD)
#define CLIP_MAX_TILES 0x7fffffffu /* tiles per table: gridDim.x and the uint32 prefix sums */

typedef struct {
  uint64_t offset, count; /* the slot's floats in the gradient arena */
} clip_run;

typedef struct {
  int nslots;
  uint32_t tile_start[CLIP_TABLE_SLOTS + 1]; /* first tile of each slot; [nslots] is the total */
  clip_run slot[CLIP_TABLE_SLOTS];
} clip_table;

/* What clipping keeps in the workspace between its launches. */
typedef struct {
  double sumsq; /* sum of squares over the tables reduced so far */
  float scale;  /* max_norm / (norm + 1e-6) */
  int clip;     /* norm > max_norm: the scaling pass runs */
} clip_state;

/* Workspace: GRAFT_REDUCE_PARTS stage-1 sums (doubles), then the state. */
#define CLIP_WORKSPACE (GRAFT_REDUCE_PARTS * sizeof(double) + sizeof(clip_state))

/* ---- weight average ------------------------------------------------------ */

static __global__ void ema_update_kernel(int64_t n, const float *__restrict__ p, /* (n) */
                                         float decay, float *__restrict__ e)     /* (n) in/out */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) e[i] = graft_ema_value(e[i], p[i], decay);
}

extern "C" graft_status graft_ema_update_gpu(graft_ctx *ctx, int64_t n,
                                             const float *p, /* (n) */
                                             float decay,
                                             float *e)       /* (n) in/out */
{
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "ema_update: negative element count %lld", (long long)n);
  if (n == 0) return GRAFT_OK;
  if (!p || !e) GRAFT_FAIL(GRAFT_EINVAL, "ema_update: NULL tensor");
  graft_gpu *g = graft_gpu_of(ctx);
  ema_update_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, p, decay, e);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* ---- gradient clipping --------------------------------------------------- */

/* The table entry that holds tile t: the last slot whose first tile is <= t. */
static __device__ int table_slot(const clip_table &tab, uint32_t t) {
  int lo = 0, hi = tab.nslots - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (tab.tile_start[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/* Stage 1: block b adds the squares of the tiles b, b + gridDim.x, ... and
 * writes the sum to partial[b]. A float squared in double is exact, so only
 * the order of the additions differs from the reference. */
static __global__ void __launch_bounds__(CLIP_THREADS)
    clip_sumsq_kernel(const __grid_constant__ clip_table tab,
                      const float *__restrict__ grads, /* (total) */
                      double *__restrict__ partial)    /* (gridDim.x) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  const uint32_t ntiles = tab.tile_start[tab.nslots];
  double s = 0.0;
  for (uint32_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    const int k = table_slot(tab, t);
    const clip_run run = tab.slot[k];
    const uint64_t base = (uint64_t)(t - tab.tile_start[k]) * CLIP_TILE;
#pragma unroll
    for (int j = 0; j < CLIP_PER_THREAD; j++) {
      const uint64_t e = base + (uint64_t)j * CLIP_THREADS + threadIdx.x;
      if (e >= run.count) break;
      const double v = (double)grads[run.offset + e];
      s += v * v;
    }
  }
  const double total = graft_block_sum(tmp).Sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

/* Stage 2, one block: adds the table's parts to the running sum and
 * decides, from the sum so far, whether and by how much to clip (the last
 * table's decision is the one that stands), with the reference's formula. */
static __global__ void __launch_bounds__(CLIP_THREADS)
    clip_total_kernel(int parts, const double *__restrict__ partial, /* (parts) */
                      int first, float max_norm,
                      clip_state *__restrict__ st)                  /* (1) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  double a = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) a += partial[i];
  const double s = graft_block_sum(tmp).Sum(a);
  if (threadIdx.x == 0) {
    const double sumsq = (first ? 0.0 : st->sumsq) + s;
    const double norm = sqrt(sumsq);
    st->sumsq = sumsq;
    st->clip = norm > (double)max_norm; /* false for a NaN norm, as in the reference */
    st->scale = (float)((double)max_norm / (norm + 1e-6));
  }
}

/* The scaling pass: multiplies every float of the table's slots by the
 * state's scale when the state says to clip; else writes nothing. */
static __global__ void __launch_bounds__(CLIP_THREADS)
    clip_scale_kernel(const __grid_constant__ clip_table tab,
                      const clip_state *__restrict__ st, /* (1) */
                      float *__restrict__ grads)         /* (total) in/out */
{
  if (!st->clip) return;
  const float scale = st->scale;
  const uint32_t ntiles = tab.tile_start[tab.nslots];
  for (uint32_t t = blockIdx.x; t < ntiles; t += gridDim.x) {
    const int k = table_slot(tab, t);
    const clip_run run = tab.slot[k];
    const uint64_t base = (uint64_t)(t - tab.tile_start[k]) * CLIP_TILE;
#pragma unroll
    for (int j = 0; j < CLIP_PER_THREAD; j++) {
      const uint64_t e = base + (uint64_t)j * CLIP_THREADS + threadIdx.x;
      if (e >= run.count) break;
      grads[run.offset + e] *= scale;
    }
  }
}

/* Fills tab with the next slots, from *next on, that are not frozen and not
 * empty, as many as one table holds; returns how many it took (0 when none
 * were left). clip_check has made sure every slot fits in a table alone. */
static int fill_table(const graft_param_slot *slots, int nslots, int *next, clip_table *tab) {
  tab->nslots = 0;
  tab->tile_start[0] = 0;
  for (; *next < nslots; (*next)++) {
    const graft_param_slot *s = &slots[*next];
    if (s->frozen || s->count == 0) continue;
    const uint64_t tiles = ((uint64_t)s->count + CLIP_TILE - 1) / CLIP_TILE;
    if (tab->nslots == CLIP_TABLE_SLOTS || tab->tile_start[tab->nslots] + tiles > CLIP_MAX_TILES)
      break;
    tab->slot[tab->nslots].offset = s->offset;
    tab->slot[tab->nslots].count = s->count;
    tab->tile_start[tab->nslots + 1] = tab->tile_start[tab->nslots] + (uint32_t)tiles;
    tab->nslots++;
  }
  return tab->nslots;
}

/* The reference's checks, plus the size limit of one slot; returns through
 * *work whether any float is to be clipped. */
static graft_status clip_check(const graft_param_slot *slots, int nslots, const float *grads,
                               float max_norm, int *work) {
  *work = 0;
  if (!(max_norm > 0.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: max_norm %g must be positive", (double)max_norm);
  if (nslots < 0) GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: negative slot count %d", nslots);
  if (nslots > 0 && !slots) GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: NULL slots");
  for (int i = 0; i < nslots; i++) {
    const graft_param_slot *s = &slots[i];
    if (s->frozen || s->count == 0) continue;
    if (((uint64_t)s->count + CLIP_TILE - 1) / CLIP_TILE > CLIP_MAX_TILES)
      GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: slot %d of %zu floats is too large for one launch",
                 i, s->count);
    *work = 1;
  }
  if (*work && !grads) GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: NULL gradients");
  return GRAFT_OK;
}

extern "C" graft_status graft_clip_grad_norm_gpu(graft_ctx *ctx, const graft_param_slot *slots,
                                                 int nslots,
                                                 float *grads, /* (total) in/out */
                                                 float max_norm) {
  int work;
  GRAFT_TRY(clip_check(slots, nslots, grads, max_norm, &work));
  if (!work) return GRAFT_OK; /* a norm of 0 never exceeds max_norm */
  if (!ctx->workspace || ctx->workspace_bytes < CLIP_WORKSPACE)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "clip_grad_norm: needs %zu bytes of workspace, the context has %zu",
               (size_t)CLIP_WORKSPACE, ctx->workspace_bytes);
  double *partial = (double *)ctx->workspace;                /* (GRAFT_REDUCE_PARTS) */
  clip_state *st = (clip_state *)(partial + GRAFT_REDUCE_PARTS); /* (1) */
  graft_gpu *g = graft_gpu_of(ctx);

  clip_table tab;
  int next = 0, first = 1;
  while (fill_table(slots, nslots, &next, &tab) > 0) {
    const uint32_t tiles = tab.tile_start[tab.nslots];
    const int parts = graft_reduce_parts(tiles, 1);
    clip_sumsq_kernel<<<parts, CLIP_THREADS, 0, g->stream>>>(tab, grads, partial);
    GRAFT_LAUNCH_CHECK(g);
    clip_total_kernel<<<1, CLIP_THREADS, 0, g->stream>>>(parts, partial, first, max_norm, st);
    GRAFT_LAUNCH_CHECK(g);
    first = 0;
  }
  next = 0;
  while (fill_table(slots, nslots, &next, &tab) > 0) {
    const uint32_t tiles = tab.tile_start[tab.nslots];
    const unsigned blocks = tiles < GRAFT_GRID_CAP ? tiles : GRAFT_GRID_CAP;
    clip_scale_kernel<<<blocks, CLIP_THREADS, 0, g->stream>>>(tab, st, grads);
    GRAFT_LAUNCH_CHECK(g);
  }
  return GRAFT_OK;
}

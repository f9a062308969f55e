/* conv_plan_cache.c: the per-context table of cuDNN convolution plans,
 * the keys of the precision modes, heuristics, the precision filter,
 * candidate plans and their one-shot timing (see conv_plan_cache.h). The
 * table is a short array searched linearly: a model has tens of distinct
 * convolutions, three directions each (per precision mode in use), and a
 * lookup compares a few dozen bytes per entry. */
#include "conv_plan_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct graft_conv_plans {
  cudnnBackendDescriptor_t devprop; /* the device of the context's cuDNN handle */
  graft_conv_plan **items;          /* (count) */
  int count, cap;
};

size_t graft_conv_workspace_limit(const graft_conv2d_desc *d) {
  const size_t x = (size_t)d->n * d->h * d->w * d->c * sizeof(float);
  const size_t y = (size_t)d->n * d->p * d->q * d->k * sizeof(float);
  const size_t big = x > y ? x : y;
  return big > GRAFT_CONV_WORKSPACE_FLOOR ? big : GRAFT_CONV_WORKSPACE_FLOOR;
}

graft_status graft_conv_key_init(graft_conv_key *key, const graft_conv2d_desc *d,
                                 graft_conv_dir dir, graft_precision prec, int with_bias) {
  memset(key, 0, sizeof *key);
  if ((int)prec < 0 || prec >= GRAFT_PREC_COUNT)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: unknown precision %d", (int)prec);
  if ((int)dir < GRAFT_CONV_FORWARD || dir > GRAFT_CONV_BACKWARD_FILTER)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: unknown direction %d", (int)dir);
  if (with_bias && dir != GRAFT_CONV_FORWARD)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: only the forward adds a bias");
  if (with_bias && prec == GRAFT_PREC_BF16)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: bf16 adds its fp32 bias with a kernel, not in the graph");
  key->desc = *d;
  key->dir = dir;
  key->prec = prec;
  key->with_bias = with_bias != 0;
  if (prec == GRAFT_PREC_BF16) {
    key->io = GRAFT_DTYPE_BF16;
    /* dx accumulates into the bf16 activation gradient in place; dw is a
     * bf16 result in the workspace, added into the fp32 dw by the caller */
    key->accumulate = dir == GRAFT_CONV_BACKWARD_DATA;
  } else {
    key->io = GRAFT_DTYPE_F32;
    key->accumulate = dir != GRAFT_CONV_FORWARD; /* ops.h: backward adds into dx, dw */
  }
  return GRAFT_OK;
}

static void destroy(cudnnBackendDescriptor_t *d) {
  if (*d) GRAFT_CUDNN_CHECK_OR(cudnnBackendDestroyDescriptor(*d), (void)0);
  *d = NULL;
}

static void plan_free(graft_conv_plan *p) {
  destroy(&p->plan);
  graft_conv_graph_free(&p->graph);
  free(p);
}

void graft_conv_plans_free(struct graft_gpu *gpu) {
  struct graft_conv_plans *t = gpu->conv_plans;
  if (!t) return;
  for (int i = 0; i < t->count; i++) plan_free(t->items[i]);
  free(t->items);
  destroy(&t->devprop);
  free(t);
  gpu->conv_plans = NULL;
}

/* The context's table, made on first use with the device-property
 * descriptor of its cuDNN handle. */
static graft_status table_of(graft_gpu *g, struct graft_conv_plans **out) {
  if (!g->conv_plans) {
    struct graft_conv_plans *t = calloc(1, sizeof *t);
    if (!t) GRAFT_FAIL(GRAFT_ENOMEM, "out of host memory for the convolution plan table");
    g->conv_plans = t;
    GRAFT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &t->devprop));
    GRAFT_CUDNN_CHECK(cudnnBackendSetAttribute(t->devprop, CUDNN_ATTR_DEVICEPROP_HANDLE,
                                               CUDNN_TYPE_HANDLE, 1, &g->cudnn));
    GRAFT_CUDNN_CHECK(cudnnBackendFinalize(t->devprop));
  }
  *out = g->conv_plans;
  return GRAFT_OK;
}

static bool key_equal(const graft_conv_key *a, const graft_conv_key *b) {
  const graft_conv2d_desc *x = &a->desc, *y = &b->desc;
  return a->dir == b->dir && a->prec == b->prec && a->io == b->io &&
         a->with_bias == b->with_bias && a->accumulate == b->accumulate && x->n == y->n &&
         x->h == y->h && x->w == y->w && x->c == y->c && x->k == y->k && x->r == y->r &&
         x->s == y->s && x->stride_h == y->stride_h && x->stride_w == y->stride_w &&
         x->pad_h == y->pad_h && x->pad_w == y->pad_w && x->dil_h == y->dil_h &&
         x->dil_w == y->dil_w && x->groups == y->groups && x->p == y->p && x->q == y->q;
}

/* ---- engine selection ----------------------------------------------------- */

/* Preference tiers of the engines that pass the precision filter: the
 * candidates are taken tier by tier, each in the heuristics' order. */
enum { TIER_FIRST, TIER_SECOND, TIER_NONDETERMINISTIC, TIERS, TIER_REJECTED = -1 };

int graft_conv_engine_tier(const graft_conv_key *key, const cudnnBackendNumericalNote_t *notes,
                           int64_t count) {
  bool tensor_core = false, nondeterministic = false;
  for (int64_t i = 0; i < count; i++) {
    if (notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS ||
        notes[i] == CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION)
      return TIER_REJECTED;
    if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE) tensor_core = true;
    if (notes[i] == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC) nondeterministic = true;
  }
  if (key->prec == GRAFT_PREC_FP32 && key->io == GRAFT_DTYPE_F32 && tensor_core)
    return TIER_REJECTED; /* tensor cores on fp32 data: TF32 */
  /* Engines whose results vary from run to run (atomics) come last, so a
   * run repeats itself bit for bit wherever a deterministic engine exists. */
  if (nondeterministic) return TIER_NONDETERMINISTIC;
  if (key->prec == GRAFT_PREC_FP32 && key->io == GRAFT_DTYPE_F32) return TIER_FIRST;
  return tensor_core ? TIER_FIRST : TIER_SECOND;
}

/* The tier of cfg's engine for key, and its global index for the logs. */
static graft_status engine_of(const graft_conv_key *key, cudnnBackendDescriptor_t cfg, int *tier,
                              int64_t *index) {
  cudnnBackendDescriptor_t engine = NULL;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t count = 0, n = 0;
  graft_status st = GRAFT_EDEVICE;
  *tier = TIER_REJECTED;
  GRAFT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine));
  GRAFT_CUDNN_CHECK_OR(cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &engine),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX,
                                                CUDNN_TYPE_INT64, 1, &n, index),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                                CUDNN_TYPE_NUMERICAL_NOTE,
                                                CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count, notes),
                       goto out);
  if (count > CUDNN_NUMERICAL_NOTE_TYPE_COUNT) count = CUDNN_NUMERICAL_NOTE_TYPE_COUNT;
  *tier = graft_conv_engine_tier(key, notes, count);
  st = GRAFT_OK;
out:
  destroy(&engine);
  return st;
}

/* The engine configs the heuristics of mode propose for graph, best first:
 * cfgs[0..*count), each to be destroyed by the caller; none when the
 * heuristics decline the graph (a fusion no engine of the mode runs). */
static graft_status heuristics(cudnnBackendDescriptor_t devprop, cudnnBackendDescriptor_t graph,
                               cudnnBackendHeurMode_t mode,
                               cudnnBackendDescriptor_t cfgs[GRAFT_CONV_HEUR_CONFIGS],
                               int64_t *count) {
  cudnnBackendDescriptor_t heur = NULL;
  graft_status st = GRAFT_EDEVICE;
  *count = 0;
  memset(cfgs, 0, GRAFT_CONV_HEUR_CONFIGS * sizeof cfgs[0]);
  GRAFT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE,
                                                CUDNN_TYPE_HEUR_MODE, 1, &mode),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &devprop),
                       goto out);
  const cudnnStatus_t fin = cudnnBackendFinalize(heur);
  if (fin != CUDNN_STATUS_SUCCESS) { /* no engine of this mode takes the graph */
    GRAFT_DEBUG("conv plan: heuristics mode %d declined the graph: %s", (int)mode,
                cudnnGetErrorString(fin));
    st = GRAFT_OK;
    goto out;
  }
  for (int i = 0; i < GRAFT_CONV_HEUR_CONFIGS; i++)
    GRAFT_CUDNN_CHECK_OR(cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]),
                         goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                                GRAFT_CONV_HEUR_CONFIGS, count, cfgs),
                       goto out);
  if (*count > GRAFT_CONV_HEUR_CONFIGS) *count = GRAFT_CONV_HEUR_CONFIGS;
  st = GRAFT_OK;
out:
  destroy(&heur);
  return st;
}

/* A finalized plan for cfg, or *plan NULL when cuDNN declines the config
 * on this device (not an error: the next config is tried). */
static graft_status try_plan(cudnnBackendDescriptor_t devprop, cudnnBackendDescriptor_t cfg,
                             cudnnBackendDescriptor_t *plan, size_t *workspace) {
  int64_t ws = 0, n = 0;
  GRAFT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, plan));
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg),
                       goto fail);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP,
                                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &devprop),
                       goto fail);
  if (cudnnBackendFinalize(*plan) != CUDNN_STATUS_SUCCESS) {
    destroy(plan);
    return GRAFT_OK;
  }
  GRAFT_CUDNN_CHECK_OR(cudnnBackendGetAttribute(*plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                CUDNN_TYPE_INT64, 1, &n, &ws),
                       goto fail);
  *workspace = (size_t)ws;
  return GRAFT_OK;
fail:
  destroy(plan);
  return GRAFT_EDEVICE;
}

typedef struct {
  cudnnBackendDescriptor_t plan;
  size_t workspace;
  int64_t engine;
} candidate;

/* Up to want (at most GRAFT_CONV_TUNE_CANDIDATES) plans of the heuristics
 * of mode that pass the precision filter and fit budget bytes of
 * workspace, tier by tier. */
static graft_status candidates(const struct graft_conv_plans *t, const graft_conv_plan *p,
                               cudnnBackendHeurMode_t mode, size_t budget, int want,
                               candidate c[GRAFT_CONV_TUNE_CANDIDATES], int *nc) {
  cudnnBackendDescriptor_t cfgs[GRAFT_CONV_HEUR_CONFIGS];
  int tiers[GRAFT_CONV_HEUR_CONFIGS];
  int64_t engines[GRAFT_CONV_HEUR_CONFIGS];
  int64_t count = 0;
  graft_status st = heuristics(t->devprop, p->graph.graph, mode, cfgs, &count);
  for (int64_t i = 0; st == GRAFT_OK && i < count; i++)
    st = engine_of(&p->key, cfgs[i], &tiers[i], &engines[i]);
  for (int tier = 0; st == GRAFT_OK && tier < TIERS; tier++) {
    if (tier == TIER_NONDETERMINISTIC && *nc > 0) break; /* only when nothing else serves */
    for (int64_t i = 0; st == GRAFT_OK && i < count && *nc < want; i++) {
      candidate k = {0};
      if (tiers[i] != tier) continue;
      k.engine = engines[i];
      if ((st = try_plan(t->devprop, cfgs[i], &k.plan, &k.workspace)) != GRAFT_OK || !k.plan)
        continue;
      if (k.workspace > budget) destroy(&k.plan);
      else c[(*nc)++] = k;
    }
  }
  for (int i = 0; i < GRAFT_CONV_HEUR_CONFIGS; i++) destroy(&cfgs[i]);
  return st;
}

/* ---- execution and timing --------------------------------------------------- */

graft_status graft_conv_plan_execute(graft_ctx *ctx, const graft_conv_plan *p, const void *x,
                                     const void *w, const void *y, const void *bias) {
  graft_gpu *g = graft_gpu_of(ctx);
  const int64_t uids[4] = {GRAFT_CONV_UID_X, GRAFT_CONV_UID_W, GRAFT_CONV_UID_Y,
                           GRAFT_CONV_UID_BIAS};
  void *ptrs[4] = {(void *)x, (void *)w, (void *)y, (void *)bias};
  const int64_t n = p->key.with_bias ? 4 : 3;
  void *workspace = ctx->workspace;
  cudnnBackendDescriptor_t pack = NULL;
  graft_status st = GRAFT_EDEVICE;
  if (p->workspace > ctx->workspace_bytes)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "conv2d: the cuDNN plan needs %zu workspace bytes, has %zu",
               p->workspace, ctx->workspace_bytes);
  GRAFT_CUDNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS,
                                                CUDNN_TYPE_INT64, n, uids),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS,
                                                CUDNN_TYPE_VOID_PTR, n, ptrs),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE,
                                                CUDNN_TYPE_VOID_PTR, 1, &workspace),
                       goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendFinalize(pack), goto out);
  GRAFT_CUDNN_CHECK_OR(cudnnBackendExecute(g->cudnn, p->plan, pack), goto out);
  st = GRAFT_OK;
out:
  destroy(&pack);
  return st;
}

/* Device scratch tensors for timing, zeroed: x, w, y in the key's element
 * type and a (K) fp32 bias. One allocation, freed by the caller. */
static graft_status scratch(graft_ctx *ctx, const graft_conv_key *key, void **base, void *ptr[4]) {
  const graft_conv2d_desc *d = &key->desc;
  const size_t e = graft_dtype_size(key->io), align = 256;
  const size_t bytes[4] = {(size_t)d->n * d->h * d->w * d->c * e,
                           (size_t)d->k * d->r * d->s * (d->c / d->groups) * e,
                           (size_t)d->n * d->p * d->q * d->k * e, (size_t)d->k * sizeof(float)};
  size_t off[4], total = 0;
  for (int i = 0; i < 4; i++) {
    off[i] = total;
    total += (bytes[i] + align - 1) / align * align;
  }
  GRAFT_TRY(graft_gpu_alloc(ctx, base, total));
  graft_status st = graft_gpu_memset(ctx, *base, 0, total);
  if (st != GRAFT_OK) {
    graft_gpu_free(ctx, *base);
    *base = NULL;
    return st;
  }
  for (int i = 0; i < 4; i++) ptr[i] = (char *)*base + off[i];
  return GRAFT_OK;
}

/* Runs each candidate once untimed (first runs may load or compile
 * kernels) and once between two events; *best is the fastest's index. A
 * candidate that fails to run is skipped (the next may run); without
 * memory for the scratch tensors the first candidate is kept untimed. */
static graft_status time_candidates(graft_ctx *ctx, graft_conv_plan *p, const candidate *c, int nc,
                                    int *best) {
  graft_gpu *g = graft_gpu_of(ctx);
  void *base = NULL, *ptr[4];
  cudaEvent_t start = NULL, stop = NULL;
  graft_status st = GRAFT_EDEVICE;
  *best = 0;
  p->ms = -1.0f;
  if (scratch(ctx, &p->key, &base, ptr) != GRAFT_OK) {
    GRAFT_WARN("conv2d: no device memory to time plans; keeping the heuristics' first, untimed");
    return GRAFT_OK;
  }
  GRAFT_CUDA_CHECK_OR(cudaEventCreate(&start), goto out);
  GRAFT_CUDA_CHECK_OR(cudaEventCreate(&stop), goto out);
  *best = -1;
  for (int i = 0; i < nc; i++) {
    graft_conv_plan trial = *p;
    float ms = 0.0f;
    trial.plan = c[i].plan;
    trial.workspace = c[i].workspace;
    const void *bias = p->key.with_bias ? ptr[3] : NULL;
    if (graft_conv_plan_execute(ctx, &trial, ptr[0], ptr[1], ptr[2], bias) != GRAFT_OK) {
      GRAFT_WARN("conv2d: engine %lld failed to run; trying the next candidate", (long long)c[i].engine);
      continue;
    }
    GRAFT_CUDA_CHECK_OR(cudaEventRecord(start, g->stream), goto fail);
    if (graft_conv_plan_execute(ctx, &trial, ptr[0], ptr[1], ptr[2], bias) != GRAFT_OK) continue;
    GRAFT_CUDA_CHECK_OR(cudaEventRecord(stop, g->stream), goto fail);
    GRAFT_CUDA_CHECK_OR(cudaEventSynchronize(stop), goto fail);
    GRAFT_CUDA_CHECK_OR(cudaEventElapsedTime(&ms, start, stop), goto fail);
    if (p->ms < 0.0f || ms < p->ms) {
      p->ms = ms;
      *best = i;
    }
  }
  if (*best < 0) {
    *best = 0;
    GRAFT_ERROR("conv2d: none of the %d candidate engines ran", nc);
    goto fail;
  }
  st = GRAFT_OK;
  goto out;
fail:
  st = GRAFT_EDEVICE;
out:
  if (stop) GRAFT_CUDA_CHECK_OR(cudaEventDestroy(stop), (void)0);
  if (start) GRAFT_CUDA_CHECK_OR(cudaEventDestroy(start), (void)0);
  if (base) {
    GRAFT_CUDA_CHECK_OR(cudaStreamSynchronize(g->stream), st = GRAFT_EDEVICE);
    graft_gpu_free(ctx, base);
  }
  return st;
}

/* ---- making a plan ------------------------------------------------------------ */

/* Chooses p's plan among the candidates: timed outside capture, the first
 * one (untimed, p->ms = -1) while the stream is being captured. */
/* The workspace a plan for key may use on ctx: the key's limit, or less
 * when ctx has less. */
static size_t budget_of(const graft_ctx *ctx, const graft_conv_key *key) {
  const size_t limit = graft_conv_workspace_limit(&key->desc);
  return limit < ctx->workspace_bytes ? limit : ctx->workspace_bytes;
}

static graft_status make_plan(graft_ctx *ctx, struct graft_conv_plans *t, graft_conv_plan *p) {
  const bool timed = !graft_gpu_of(ctx)->capturing;
  const size_t budget = budget_of(ctx, &p->key);
  p->budget = budget;
  static const cudnnBackendHeurMode_t modes[] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
  candidate c[GRAFT_CONV_TUNE_CANDIDATES];
  int nc = 0, best = 0;
  graft_status st = GRAFT_OK;
  p->ms = -1.0f;
  for (size_t m = 0; st == GRAFT_OK && nc == 0 && m < sizeof modes / sizeof modes[0]; m++)
    st = candidates(t, p, modes[m], budget, timed ? GRAFT_CONV_TUNE_CANDIDATES : 1, c, &nc);
  if (st == GRAFT_OK && nc > 0 && timed) st = time_candidates(ctx, p, c, nc, &best);
  if (st == GRAFT_OK && nc > 0) {
    p->plan = c[best].plan;
    p->workspace = c[best].workspace;
    p->engine = c[best].engine;
    c[best].plan = NULL;
  }
  for (int i = 0; i < nc; i++) destroy(&c[i].plan);
  return st;
}

graft_status graft_conv_plan_get(graft_ctx *ctx, const graft_conv_key *key,
                                 const graft_conv_plan **out) {
  graft_gpu *g = graft_gpu_of(ctx);
  struct graft_conv_plans *t;
  *out = NULL;
  if (key->with_bias && key->dir != GRAFT_CONV_FORWARD)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: only the forward adds a bias");
  if ((int)key->prec < 0 || key->prec >= GRAFT_PREC_COUNT)
    GRAFT_FAIL(GRAFT_EINVAL, "conv plan: unknown precision %d", (int)key->prec);
  GRAFT_TRY(table_of(g, &t));
  for (int i = 0; i < t->count; i++) {
    if (!key_equal(&t->items[i]->key, key)) continue;
    graft_conv_plan *p = t->items[i];
    /* No engine fitted before; a larger workspace now may change that. */
    if (!p->plan && budget_of(ctx, key) > p->budget) {
      plan_free(p);
      t->items[i] = t->items[--t->count];
      break;
    }
    *out = p;
    return GRAFT_OK;
  }
  if (t->count == t->cap) {
    const int cap = t->cap ? 2 * t->cap : 32;
    graft_conv_plan **items = realloc(t->items, (size_t)cap * sizeof *items);
    if (!items) GRAFT_FAIL(GRAFT_ENOMEM, "out of host memory for the convolution plan table");
    t->items = items;
    t->cap = cap;
  }
  graft_conv_plan *p = calloc(1, sizeof *p);
  if (!p) GRAFT_FAIL(GRAFT_ENOMEM, "out of host memory for a convolution plan");
  p->key = *key;
  graft_status st = graft_conv_graph_build(&p->graph, &key->desc, key->dir, key->io,
                                           key->with_bias, key->accumulate);
  if (st == GRAFT_OK) st = make_plan(ctx, t, p);
  if (st != GRAFT_OK) {
    plan_free(p);
    return st;
  }
  const graft_conv2d_desc *d = &key->desc;
  static const char *const dirs[] = {"forward", "backward data", "backward filter"};
  if (p->plan && p->ms >= 0.0f)
    GRAFT_DEBUG("conv2d %s (N %d, %dx%d, C %d) -> K %d %dx%d/%d groups %d, %s %s%s: engine %lld, "
                "%zu workspace bytes, %.3f ms",
                dirs[key->dir], d->n, d->h, d->w, d->c, d->k, d->r, d->s, d->stride_h, d->groups,
                graft_precision_name(key->prec), graft_dtype_name(key->io),
                key->with_bias ? " + bias" : "", (long long)p->engine, p->workspace,
                (double)p->ms);
  else if (p->plan)
    GRAFT_DEBUG("conv2d %s (N %d, %dx%d, C %d) -> K %d %dx%d/%d groups %d, %s %s%s: engine %lld, "
                "%zu workspace bytes, not timed (chosen during CUDA graph capture)",
                dirs[key->dir], d->n, d->h, d->w, d->c, d->k, d->r, d->s, d->stride_h, d->groups,
                graft_precision_name(key->prec), graft_dtype_name(key->io),
                key->with_bias ? " + bias" : "", (long long)p->engine, p->workspace);
  t->items[t->count++] = p;
  *out = p;
  return GRAFT_OK;
}

/* test_gpu_optim.c: the fused optimizer kernel (graft_optim_step_gpu)
 * against graft_optim_step_ref. Arenas carved like the model's (slots
 * aligned with gaps between them, slots of 0, 1, odd and large sizes, a
 * frozen slot, learning-rate multipliers, slots with and without weight
 * decay, one resuming at step 5) run a few steps of SGD (plain, momentum,
 * Nesterov) and AdamW on both backends with fresh gradients each step;
 * after every step the whole parameter and state arenas (gaps included)
 * and the step counts must agree, and the guards after the arenas must be
 * untouched. A model with more slots than one launch's table holds checks
 * the multi-launch path. The weight average (ema_update) and gradient
 * clipping (clip_grad_norm) run against their CPU references on the same
 * layouts: clipping where the norm exceeds max_norm (frozen slots and the
 * gaps left alone), and gradients left bit-identical where it does not.
 * Skipped (exit 77) without a GPU. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "core/arena.h"
#include "core/log.h"
#include "gpu_testutil.h"
#include "ops/ops.h"
#include "optim/optim.h"

/* Both backends run math.h's update functions on the same float scalars,
 * so they should agree to the bit; the tolerance only keeps a report of a
 * last-bit difference readable. */
#define TOL 1e-6
#define STEPS 3

typedef struct {
  graft_param_slot *slots; /* (nslots) */
  int nslots;
  size_t total;
} layout;

/* Slots of the given sizes, carved from one plan as the model carves its
 * arenas; every fifth slot is frozen when freeze is set. */
static layout make_layout(const size_t *counts, int nslots, int freeze) {
  layout l = {calloc((size_t)nslots, sizeof(graft_param_slot)), nslots, 0};
  assert_non_null(l.slots);
  graft_arena_plan plan = {0};
  for (int i = 0; i < nslots; i++) {
    graft_param_slot *s = &l.slots[i];
    s->offset = graft_arena_plan_reserve(&plan, counts[i]);
    s->count = counts[i];
    s->lr_mult = i % 3 == 0 ? 1.0f : (i % 3 == 1 ? 0.1f : 2.0f);
    s->decay = i % 2;
    s->frozen = freeze && i % 5 == 4;
    s->step = i == 2 ? 5 : 0;
  }
  l.total = plan.used;
  return l;
}

/* Ten slots of 0, 1, odd and large sizes, every fifth one frozen. */
static layout small_layout(void) {
  static const size_t counts[] = {1, 63, 64, 1000, 5000, 0, 70001, 3, 2048 * 1000 + 7, 5};
  return make_layout(counts, (int)(sizeof counts / sizeof counts[0]), 1);
}

/* 700 slots of 1 to 3000 floats drawn from seed, every fifth one frozen:
 * more than one launch's table holds. */
static layout many_layout(uint64_t seed) {
  enum { NSLOTS = 700 };
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  size_t counts[NSLOTS];
  for (int i = 0; i < NSLOTS; i++) counts[i] = 1 + (size_t)tu_uniform(&rng, 0, 3000);
  return make_layout(counts, NSLOTS, 1);
}

/* STEPS steps of cfg over the layout on both backends; returns 1 when they
 * agree after every step. */
static int run_case(graft_ctx *ctx, const char *name, const graft_optim_cfg *cfg, const layout *l,
                    uint64_t seed) {
  graft_ctx ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  const int planes = graft_optim_state_planes(cfg);
  const size_t total = l->total, nstate = (size_t)planes * total;
  float *params = gt_random(&rng, total, -1, 1); /* (total) */
  float *state = gt_random(&rng, nstate, 0, 1);  /* (planes * total) */
  graft_param_slot *ref_slots = malloc((size_t)l->nslots * sizeof *ref_slots);
  graft_param_slot *gpu_slots = malloc((size_t)l->nslots * sizeof *gpu_slots);
  assert_non_null(ref_slots);
  assert_non_null(gpu_slots);
  memcpy(ref_slots, l->slots, (size_t)l->nslots * sizeof *ref_slots);
  memcpy(gpu_slots, l->slots, (size_t)l->nslots * sizeof *gpu_slots);
  float *dev_params = gt_upload(ctx, params, total);
  float *dev_state = planes ? gt_upload(ctx, state, nstate) : NULL;
  int ok = 1;
  for (int step = 0; step < STEPS && ok; step++) {
    float *grads = gt_random(&rng, total, -1, 1); /* (total) */
    float *dev_grads = gt_upload(ctx, grads, total);
    assert_int_equal(graft_optim_step_ref(&ref, cfg, ref_slots, l->nslots, params, grads,
                                          planes ? state : NULL, total),
                     GRAFT_OK);
    assert_int_equal(graft_optim_step_gpu(ctx, cfg, gpu_slots, l->nslots, dev_params, dev_grads,
                                          dev_state, total),
                     GRAFT_OK);
    char label[96];
    snprintf(label, sizeof label, "%s step %d params", name, step + 1);
    ok &= gt_check(ctx, label, dev_params, params, total, TOL);
    if (planes) {
      snprintf(label, sizeof label, "%s step %d state", name, step + 1);
      ok &= gt_check(ctx, label, dev_state, state, nstate, TOL);
    }
    for (int i = 0; i < l->nslots; i++) {
      if (ref_slots[i].step != gpu_slots[i].step) {
        fprintf(stderr, "MISMATCH %s step %d: slot %d counts %lld steps, the reference %lld\n",
                name, step + 1, i, (long long)gpu_slots[i].step, (long long)ref_slots[i].step);
        ok = 0;
      }
    }
    gt_free(ctx, dev_grads);
    free(grads);
  }
  if (ok) printf("optim %s: %d slots, %zu floats, %d steps agree\n", name, l->nslots, total, STEPS);
  gt_free(ctx, dev_params);
  gt_free(ctx, dev_state);
  free(params), free(state), free(ref_slots), free(gpu_slots);
  return ok;
}

static void configs(graft_optim_cfg cfg[5]) {
  graft_optim_cfg_default(&cfg[0], GRAFT_OPTIM_SGD);
  cfg[0].momentum = 0.0f;
  graft_optim_cfg_default(&cfg[1], GRAFT_OPTIM_SGD);
  cfg[1].weight_decay = 1e-4f;
  graft_optim_cfg_default(&cfg[2], GRAFT_OPTIM_SGD);
  cfg[2].nesterov = 1;
  cfg[2].weight_decay = 5e-4f;
  graft_optim_cfg_default(&cfg[3], GRAFT_OPTIM_ADAMW);
  graft_optim_cfg_default(&cfg[4], GRAFT_OPTIM_ADAMW);
  cfg[4].weight_decay = 0.05f;
  cfg[4].lr = 3e-4f;
}

static const char *const config_names[5] = {"sgd", "sgd momentum", "sgd nesterov", "adamw",
                                            "adamw wd 0.05"};

static void test_small_model(void **state) {
  graft_ctx *ctx = *state;
  layout l = small_layout();
  graft_optim_cfg cfg[5];
  configs(cfg);
  int ok = 1;
  for (int c = 0; c < 5; c++) ok &= run_case(ctx, config_names[c], &cfg[c], &l, 100 + c);
  free(l.slots);
  assert_true(ok);
}

static void test_many_slots(void **state) {
  graft_ctx *ctx = *state;
  layout l = many_layout(22);
  graft_optim_cfg cfg[5];
  configs(cfg);
  int ok = run_case(ctx, "sgd momentum, 700 slots", &cfg[1], &l, 200);
  ok &= run_case(ctx, "adamw, 700 slots", &cfg[3], &l, 201);
  free(l.slots);
  assert_true(ok);
}

/* ---- the weight average ------------------------------------------------- */

/* graft_ema_value rounds both products (graft_mul_rn), so nvcc cannot
 * fuse them and the device must give the host's bits. */
#define EMA_TOL 0.0

static void test_ema_update(void **state) {
  graft_ctx *ctx = *state, ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 23);
  const int64_t sizes[] = {1, 255, 257, 65537, (1 << 20) + 3};
  const float decays[] = {0.999f, 0.5f, 0.0f, 1.0f};
  int ok = 1;
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    const size_t n = (size_t)sizes[si];
    float *p = gt_random(&rng, n, -2, 2); /* (n) */
    float *e = gt_random(&rng, n, -2, 2); /* (n) */
    float *dev_p = gt_upload(ctx, p, n), *dev_e = gt_upload(ctx, e, n);
    for (size_t di = 0; di < sizeof decays / sizeof decays[0]; di++) {
      assert_int_equal(graft_ema_update_ref(&ref, (int64_t)n, p, decays[di], e), GRAFT_OK);
      assert_int_equal(graft_backend_gpu.ema_update(ctx, (int64_t)n, dev_p, decays[di], dev_e),
                       GRAFT_OK);
      char label[96];
      snprintf(label, sizeof label, "ema n=%zu decay %g", n, (double)decays[di]);
      ok &= gt_check(ctx, label, dev_e, e, n, EMA_TOL);
    }
    gt_free(ctx, dev_p), gt_free(ctx, dev_e);
    free(p), free(e);
  }
  assert_int_equal(graft_backend_gpu.ema_update(ctx, 0, NULL, 0.5f, NULL), GRAFT_OK);
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.ema_update(ctx, -1, NULL, 0.5f, NULL), GRAFT_EINVAL);
  graft_log_set_level(saved);
  if (ok)
    printf("ema_update: %zu sizes x %zu decays agree\n", sizeof sizes / sizeof sizes[0],
           sizeof decays / sizeof decays[0]);
  assert_true(ok);
}

/* ---- gradient clipping -------------------------------------------------- */

/* The scale comes from a norm summed in another order: at most its last
 * bit differs. */
#define CLIP_TOL 1e-6

static double grad_norm(const layout *l, const float *g) {
  double sq = 0.0;
  for (int i = 0; i < l->nslots; i++) {
    if (l->slots[i].frozen) continue;
    const float *s = g + l->slots[i].offset; /* (count) */
    for (size_t j = 0; j < l->slots[i].count; j++) sq += (double)s[j] * s[j];
  }
  return sqrt(sq);
}

/* Random gradients over the whole arena (gaps included), clipped to
 * max_norm on both backends; returns 1 when they agree, to the bit where
 * the reference left the gradients alone. */
static int clip_case(graft_ctx *ctx, const char *name, const layout *l, float max_norm,
                     uint64_t seed) {
  graft_ctx ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  const size_t total = l->total;
  float *grads = gt_random(&rng, total, -1, 1); /* (total) */
  float *want = gt_dup(grads, total);           /* (total) */
  float *dev = gt_upload(ctx, grads, total);
  assert_int_equal(graft_clip_grad_norm_ref(&ref, l->slots, l->nslots, want, max_norm), GRAFT_OK);
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, l->slots, l->nslots, dev, max_norm),
                   GRAFT_OK);
  const double norm = grad_norm(l, grads);
  const int clipped = memcmp(want, grads, total * sizeof(float)) != 0;
  char label[128];
  snprintf(label, sizeof label, "clip %s, norm %.6g, max_norm %g (%s)", name, norm,
           (double)max_norm, clipped ? "clipped" : "not clipped");
  int ok;
  if (clipped) {
    ok = gt_check(ctx, label, dev, want, total, CLIP_TOL);
  } else {
    float *got = malloc((total ? total : 1) * sizeof(float)); /* (total) */
    assert_non_null(got);
    ok = gt_download(ctx, label, dev, got, total);
    for (size_t i = 0; i < total && ok; i++) {
      if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
        fprintf(stderr, "MISMATCH %s: float %zu changed from %.9g to %.9g\n", label, i,
                (double)want[i], (double)got[i]);
        ok = 0;
      }
    }
    free(got);
  }
  if (clipped != (norm > max_norm)) {
    fprintf(stderr, "MISMATCH %s: the reference %s\n", label,
            clipped ? "clipped a norm below max_norm" : "left a norm above max_norm");
    ok = 0;
  }
  if (ok) printf("%s agrees\n", label);
  gt_free(ctx, dev);
  free(grads), free(want);
  return ok;
}

static void test_clip_grad_norm(void **state) {
  graft_ctx *ctx = *state;
  layout l = small_layout();
  int ok = clip_case(ctx, "10 slots", &l, 1.0f, 300);
  ok &= clip_case(ctx, "10 slots", &l, 1e4f, 301);

  /* 700 slots: three tables, so the norm is summed over several launches. */
  layout m = many_layout(24);
  ok &= clip_case(ctx, "700 slots", &m, 10.0f, 302);
  ok &= clip_case(ctx, "700 slots", &m, 1e6f, 303);

  /* Every slot frozen: nothing to clip, however small max_norm is. */
  for (int i = 0; i < l.nslots; i++) l.slots[i].frozen = 1;
  ok &= clip_case(ctx, "all frozen", &l, 1e-3f, 304);
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, NULL, 0, NULL, 1.0f), GRAFT_OK);

  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  float *dev = gt_upload(ctx, NULL, 4);
  graft_param_slot one = {.offset = 0, .count = 4};
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, &one, 1, dev, 0.0f), GRAFT_EINVAL);
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, &one, 1, dev, -1.0f), GRAFT_EINVAL);
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, &one, 1, dev, NAN), GRAFT_EINVAL);
  assert_int_equal(graft_backend_gpu.clip_grad_norm(ctx, &one, 1, NULL, 1.0f), GRAFT_EINVAL);
  graft_log_set_level(saved);
  gt_free(ctx, dev);
  free(l.slots), free(m.slots);
  assert_true(ok);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_optim: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_model),
      cmocka_unit_test(test_many_slots),
      cmocka_unit_test(test_ema_update),
      cmocka_unit_test(test_clip_grad_norm),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_optim: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

/* test_optim.c: SGD and AdamW against PyTorch and by hand.
 * The fixtures under tests/fixtures/optim/ are torch.optim runs written by
 * tools/gen_optim_fixture.py (plain text, one `name count values...` line
 * per tensor); each is replayed step by step and every parameter tensor and
 * state tensor is compared with torch's, with the largest error and whether
 * the results are bit-identical printed. Hand-computed single elements,
 * freezing and unfreezing, thread-count independence and the argument checks
 * complete the picture. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/log.h"
#include "optim/optim.h"
#include "testutil.h"

/* Relative to the largest magnitude of each compared tensor. */
#define TOL 1e-6
#define FLOOR 1e-30

/* ---- the fixture format ------------------------------------------------ */

#define FX_MAX_ENTRIES 64

typedef struct {
  char name[32];
  size_t n;
  float *v; /* (n) */
} fx_entry;

typedef struct {
  fx_entry e[FX_MAX_ENTRIES];
  int count;
} fixture;

static void fx_free(fixture *fx) {
  for (int i = 0; i < fx->count; i++) free(fx->e[i].v);
  fx->count = 0;
}

/* Parses one `name count v1 ... vcount` line starting at s; returns 0 on a
 * malformed line. */
static int fx_parse_line(fixture *fx, const char *s) {
  if (fx->count == FX_MAX_ENTRIES) return 0;
  fx_entry *e = &fx->e[fx->count];
  int used = 0;
  if (sscanf(s, "%31s %zu%n", e->name, &e->n, &used) != 2 || e->n > 100000) return 0;
  e->v = malloc((e->n ? e->n : 1) * sizeof(float));
  if (!e->v) return 0;
  fx->count++;
  const char *p = s + used;
  for (size_t i = 0; i < e->n; i++) {
    char *end = NULL;
    e->v[i] = strtof(p, &end);
    if (end == p) return 0;
    p = end;
  }
  while (*p == ' ' || *p == '\r') p++;
  return *p == '\n' || *p == '\0';
}

static int fx_load(fixture *fx, const char *rel) {
  char path[1024];
  tu_source_path(rel, path, sizeof path);
  fx->count = 0;
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open fixture %s\n", path);
    return 0;
  }
  char *text = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
  if (len >= 0 && fseek(f, 0, SEEK_SET) == 0) text = malloc((size_t)len + 1);
  int ok = text && fread(text, 1, (size_t)len, f) == (size_t)len;
  fclose(f);
  if (ok) text[len] = '\0';
  for (char *line = text; ok && line && *line; ) {
    char *next = strchr(line, '\n');
    if (*line != '#' && *line != '\n') ok = fx_parse_line(fx, line);
    line = next ? next + 1 : NULL;
  }
  free(text);
  if (!ok) {
    fprintf(stderr, "malformed fixture %s near entry %d\n", path, fx->count);
    fx_free(fx);
  }
  return ok;
}

/* The entry called name, which must hold n values. */
static const float *fx_get(const fixture *fx, const char *name, size_t n) {
  for (int i = 0; i < fx->count; i++)
    if (!strcmp(fx->e[i].name, name)) {
      if (fx->e[i].n != n)
        fail_msg("fixture entry %s has %zu values, want %zu", name, fx->e[i].n, n);
      return fx->e[i].v;
    }
  fail_msg("fixture entry %s missing", name);
  return NULL;
}

static float fx_scalar(const fixture *fx, const char *name) { return fx_get(fx, name, 1)[0]; }

/* ---- comparison ---------------------------------------------------------- */

typedef struct {
  double worst;
  size_t compared, differ; /* elements, and those not bit-identical */
} tally;

/* Compares one tensor; prints the worst element and returns 0 when it is out
 * of tolerance. */
static int compare(tally *t, const char *label, const float *got, const float *want, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&got[i], &want[i], sizeof(float)) != 0) t->differ++;
  t->compared += n;
  double e = tu_max_rel_err(got, want, n, FLOOR, NULL);
  if (e > t->worst) t->worst = e;
  return tu_check_close(label, got, want, n, TOL, FLOOR);
}

/* ---- torch fixtures ------------------------------------------------------ */

#define FX_SLOTS 3

static void run_fixture(const char *name) {
  char rel[256], label[128];
  snprintf(rel, sizeof rel, "tests/fixtures/optim/%s.txt", name);
  fixture fx;
  assert_true(fx_load(&fx, rel));

  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, fx_scalar(&fx, "kind") == 0.0f ? GRAFT_OPTIM_SGD
                                                                : GRAFT_OPTIM_ADAMW);
  cfg.lr = fx_scalar(&fx, "lr");
  cfg.weight_decay = fx_scalar(&fx, "weight_decay");
  cfg.momentum = fx_scalar(&fx, "momentum");
  cfg.nesterov = fx_scalar(&fx, "nesterov") != 0.0f;
  cfg.beta1 = fx_scalar(&fx, "beta1");
  cfg.beta2 = fx_scalar(&fx, "beta2");
  cfg.eps = fx_scalar(&fx, "eps");
  assert_int_equal(graft_optim_cfg_check(&cfg), GRAFT_OK);
  const int steps = (int)fx_scalar(&fx, "steps");
  const int planes = graft_optim_state_planes(&cfg);

  const float *count = fx_get(&fx, "slot_count", FX_SLOTS);
  const float *lr_mult = fx_get(&fx, "slot_lr_mult", FX_SLOTS);
  const float *decay = fx_get(&fx, "slot_decay", FX_SLOTS);
  graft_param_slot slots[FX_SLOTS];
  size_t total = 0;
  for (int i = 0; i < FX_SLOTS; i++) {
    slots[i] = (graft_param_slot){.offset = total, .count = (size_t)count[i],
                                  .lr_mult = lr_mult[i], .decay = decay[i] != 0.0f};
    total += slots[i].count;
  }
  float *params = malloc(total * sizeof(float));
  float *state = calloc((size_t)planes * total + 1, sizeof(float));
  assert_non_null(params);
  assert_non_null(state);
  memcpy(params, fx_get(&fx, "param0", total), total * sizeof(float));

  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tally t = {0};
  int ok = 1;
  for (int k = 1; k <= steps; k++) {
    char key[32];
    snprintf(key, sizeof key, "frozen%d", k);
    const float *frozen = fx_get(&fx, key, FX_SLOTS);
    for (int i = 0; i < FX_SLOTS; i++) slots[i].frozen = frozen[i] != 0.0f;
    snprintf(key, sizeof key, "grad%d", k);
    const float *grads = fx_get(&fx, key, total);
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, FX_SLOTS, params, grads, state, total),
                     GRAFT_OK);

    snprintf(key, sizeof key, "param%d", k);
    const float *want_p = fx_get(&fx, key, total);
    snprintf(key, sizeof key, "state%d", k);
    const float *want_s = fx_get(&fx, key, (size_t)planes * total);
    snprintf(key, sizeof key, "step%d", k);
    const float *want_step = fx_get(&fx, key, FX_SLOTS);
    for (int i = 0; i < FX_SLOTS; i++) {
      const size_t o = slots[i].offset, n = slots[i].count;
      snprintf(label, sizeof label, "%s step %d slot %d param", name, k, i);
      ok &= compare(&t, label, params + o, want_p + o, n);
      for (int j = 0; j < planes; j++) {
        snprintf(label, sizeof label, "%s step %d slot %d state plane %d", name, k, i, j);
        ok &= compare(&t, label, state + j * total + o, want_s + j * total + o, n);
      }
      if (slots[i].step != (int64_t)want_step[i]) {
        fprintf(stderr, "MISMATCH %s step %d slot %d: step count %lld, torch %d\n", name, k, i,
                (long long)slots[i].step, (int)want_step[i]);
        ok = 0;
      }
    }
  }
  printf("optim %-16s %d steps, %zu values vs torch: largest error %.3e (tol %.0e), ", name,
         steps, t.compared, t.worst, TOL);
  if (t.differ)
    printf("%zu not bit-identical\n", t.differ);
  else
    printf("all bit-identical\n");
  tu_ctx_free(&ctx);
  free(params);
  free(state);
  fx_free(&fx);
  assert_true(ok);
}

static void test_torch_sgd_plain(void **st) { (void)st; run_fixture("sgd_plain"); }
static void test_torch_sgd_momentum(void **st) { (void)st; run_fixture("sgd_momentum"); }
static void test_torch_sgd_nesterov_wd(void **st) { (void)st; run_fixture("sgd_nesterov_wd"); }
static void test_torch_adamw_default(void **st) { (void)st; run_fixture("adamw_default"); }
static void test_torch_adamw_custom(void **st) { (void)st; run_fixture("adamw_custom"); }
static void test_torch_sgd_unfreeze(void **st) { (void)st; run_fixture("sgd_unfreeze"); }
static void test_torch_adamw_unfreeze(void **st) { (void)st; run_fixture("adamw_unfreeze"); }

/* ---- hand-computed single elements --------------------------------------- */

static void expect_near(const char *label, float got, double want) {
  double e = fabs((double)got - want) / (fabs(want) > 1e-30 ? fabs(want) : 1.0);
  printf("hand %-34s got %.9g want %.9g (rel err %.2e)\n", label, (double)got, want, e);
  assert_true(e <= TOL);
}

/* p = 1, g = 0.5, lr 0.1, momentum 0.9, weight decay 0.1, two steps:
 *   g' = 0.5 + 0.1*1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
 *   g' = 0.5 + 0.094 = 0.594, buf = 0.54 + 0.594 = 1.134, p = 0.94 - 0.1134 = 0.8266
 * Nesterov steps by g' + 0.9*buf instead:
 *   1.14 -> p = 0.886; then g' = 0.5886, buf = 1.1286, 1.60434 -> p = 0.725566 */
static void test_hand_sgd(void **st) {
  (void)st;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  for (int nesterov = 0; nesterov <= 1; nesterov++) {
    graft_optim_cfg cfg;
    graft_optim_cfg_default(&cfg, GRAFT_OPTIM_SGD);
    cfg.lr = 0.1f;
    cfg.momentum = 0.9f;
    cfg.weight_decay = 0.1f;
    cfg.nesterov = nesterov;
    graft_param_slot slot = {.offset = 0, .count = 1, .lr_mult = 1.0f, .decay = 1};
    float p = 1.0f, g = 0.5f, buf = 123.0f; /* the first step ignores what buf held */
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &slot, 1, &p, &g, &buf, 1), GRAFT_OK);
    expect_near(nesterov ? "sgd nesterov step 1 param" : "sgd step 1 param", p,
                nesterov ? 0.886 : 0.94);
    expect_near("sgd step 1 buffer", buf, 0.6);
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &slot, 1, &p, &g, &buf, 1), GRAFT_OK);
    expect_near(nesterov ? "sgd nesterov step 2 param" : "sgd step 2 param", p,
                nesterov ? 0.725566 : 0.8266);
    expect_near("sgd step 2 buffer", buf, nesterov ? 1.1286 : 1.134);
    assert_int_equal(slot.step, 2);
  }
  /* Without momentum: p = 1 - 0.1*(0.5 + 0.1) = 0.94, and no state at all. */
  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_SGD);
  cfg.momentum = 0.0f;
  cfg.weight_decay = 0.1f;
  assert_int_equal(graft_optim_state_planes(&cfg), 0);
  graft_param_slot slot = {.offset = 0, .count = 1, .lr_mult = 1.0f, .decay = 1};
  float p = 1.0f, g = 0.5f;
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &slot, 1, &p, &g, NULL, 1), GRAFT_OK);
  expect_near("sgd no momentum param", p, 0.94);
  tu_ctx_free(&ctx);
}

/* p = 1, g = 0.5, lr 0.1, betas (0.75, 0.9375) (exact in binary, so the
 * decimals below are what float arithmetic approximates), eps 1e-8, weight
 * decay 0.1. A constant gradient makes each step lr, less the eps effect.
 * Step 1: p = 0.99; m = 0.125; v = 0.015625; step_size = 0.1/0.25 = 0.4;
 *   denom = sqrt(0.015625)/sqrt(0.0625) + 1e-8 = 0.50000001;
 *   p = 0.99 - 0.4*0.125/0.50000001 = 0.890000002.
 * Step 2: p = 0.890000002*0.99; m = 0.21875; v = 0.0302734375;
 *   step_size = 0.1/0.4375; sqrt(0.0302734375/0.12109375) = 0.5;
 *   p = 0.88110000198 - 0.05/0.50000001 = 0.781100004.
 * A second slot with lr_mult 0.5 and no decay: step_size 0.2,
 *   p = 1 - 0.2*0.125/0.50000001 = 0.950000001. */
static void test_hand_adamw(void **st) {
  (void)st;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_ADAMW);
  cfg.lr = 0.1f;
  cfg.weight_decay = 0.1f;
  cfg.beta1 = 0.75f;
  cfg.beta2 = 0.9375f;
  graft_param_slot slots[2] = {{.offset = 0, .count = 1, .lr_mult = 1.0f, .decay = 1},
                               {.offset = 1, .count = 1, .lr_mult = 0.5f, .decay = 0}};
  float p[2] = {1.0f, 1.0f}, g[2] = {0.5f, 0.5f};
  float state[4] = {7.0f, 7.0f, 7.0f, 7.0f}; /* m0 m1 v0 v1; ignored on the first step */
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, 2, p, g, state, 2), GRAFT_OK);
  expect_near("adamw step 1 param", p[0], 0.890000002);
  expect_near("adamw step 1 m", state[0], 0.125);
  expect_near("adamw step 1 v", state[2], 0.015625);
  expect_near("adamw lr_mult 0.5 no decay param", p[1], 0.950000001);
  slots[1].frozen = 1;
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, 2, p, g, state, 2), GRAFT_OK);
  expect_near("adamw step 2 param", p[0], 0.781100004);
  expect_near("adamw step 2 m", state[0], 0.21875);
  expect_near("adamw step 2 v", state[2], 0.0302734375);
  assert_int_equal(slots[0].step, 2);
  assert_int_equal(slots[1].step, 1);
  tu_ctx_free(&ctx);
}

/* ---- freezing ------------------------------------------------------------ */

/* A frozen slot is untouched: parameters, state and step. Unfrozen later, it
 * starts afresh (step 1, moments or momentum from its first gradient, as
 * torch creates per-parameter state on the first update) and lands exactly
 * where a new optimizer taking one step from the same values lands. */
static void test_freeze_unfreeze(void **st) {
  (void)st;
  enum { N0 = 5, N1 = 6, TOTAL = N0 + N1 };
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 7);
  for (int kind = 0; kind < 2; kind++) {
    graft_optim_cfg cfg;
    graft_optim_cfg_default(&cfg, kind ? GRAFT_OPTIM_ADAMW : GRAFT_OPTIM_SGD);
    cfg.weight_decay = 0.05f;
    const int planes = graft_optim_state_planes(&cfg);
    float p[TOTAL], p_start[TOTAL], g1[TOTAL], g2[TOTAL], state[2 * TOTAL];
    tu_fill_normal(&rng, p, TOTAL, 1.0f);
    tu_fill_normal(&rng, g1, TOTAL, 1.0f);
    tu_fill_normal(&rng, g2, TOTAL, 1.0f);
    for (int i = 0; i < 2 * TOTAL; i++) state[i] = 42.0f + (float)i; /* stale values */
    memcpy(p_start, p, sizeof p);
    float state_start[2 * TOTAL];
    memcpy(state_start, state, sizeof state);

    graft_param_slot slots[2] = {
        {.offset = 0, .count = N0, .lr_mult = 1.0f, .decay = 1, .frozen = 1},
        {.offset = N0, .count = N1, .lr_mult = 1.0f, .decay = 1}};
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, 2, p, g1, state, TOTAL), GRAFT_OK);
    assert_memory_equal(p, p_start, N0 * sizeof(float));
    for (int j = 0; j < planes; j++)
      assert_memory_equal(state + j * TOTAL, state_start + j * TOTAL, N0 * sizeof(float));
    assert_int_equal(slots[0].step, 0);
    assert_int_equal(slots[1].step, 1);

    slots[0].frozen = 0;
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, 2, p, g2, state, TOTAL), GRAFT_OK);
    assert_int_equal(slots[0].step, 1);
    assert_int_equal(slots[1].step, 2);

    float q[N0], qstate[2 * N0];
    memcpy(q, p_start, sizeof q);
    graft_param_slot fresh = {.offset = 0, .count = N0, .lr_mult = 1.0f, .decay = 1};
    assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &fresh, 1, q, g2, qstate, N0), GRAFT_OK);
    assert_memory_equal(p, q, sizeof q);
    for (int j = 0; j < planes; j++)
      assert_memory_equal(state + j * TOTAL, qstate + j * N0, N0 * sizeof(float));
    printf("freeze/unfreeze %s: frozen slot untouched, starts at step 1 when unfrozen\n",
           kind ? "adamw" : "sgd");
  }
  tu_ctx_free(&ctx);
}

/* ---- threads ------------------------------------------------------------- */

/* Large slots go through the OpenMP loops; the result must not depend on
 * the thread count. */
static void test_threads(void **st) {
  (void)st;
  const size_t n0 = 70001, n1 = 40003, total = n0 + n1;
  tu_rng rng;
  tu_rng_seed(&rng, 11);
  float *p0 = malloc(total * sizeof(float)), *g = malloc(total * sizeof(float));
  float *p[2] = {malloc(total * sizeof(float)), malloc(total * sizeof(float))};
  float *s[2] = {malloc(2 * total * sizeof(float)), malloc(2 * total * sizeof(float))};
  assert_true(p0 && g && p[0] && p[1] && s[0] && s[1]);
  tu_fill_normal(&rng, p0, total, 1.0f);
  tu_fill_normal(&rng, g, total, 0.1f);
  for (int kind = 0; kind < 2; kind++) {
    graft_optim_cfg cfg;
    graft_optim_cfg_default(&cfg, kind ? GRAFT_OPTIM_ADAMW : GRAFT_OPTIM_SGD);
    cfg.nesterov = !kind;
    cfg.weight_decay = 0.01f;
    for (int r = 0; r < 2; r++) {
      graft_ctx ctx;
      graft_ctx_init_ref(&ctx, r ? 4 : 1);
      graft_param_slot slots[2] = {{.offset = 0, .count = n0, .lr_mult = 1.0f, .decay = 1},
                                   {.offset = n0, .count = n1, .lr_mult = 0.1f, .decay = 0}};
      memcpy(p[r], p0, total * sizeof(float));
      memset(s[r], 0, 2 * total * sizeof(float));
      for (int k = 0; k < 3; k++)
        assert_int_equal(graft_optim_step_ref(&ctx, &cfg, slots, 2, p[r], g, s[r], total),
                         GRAFT_OK);
    }
    assert_memory_equal(p[0], p[1], total * sizeof(float));
    assert_memory_equal(s[0], s[1], 2 * total * sizeof(float));
    printf("threads %s: 1 and 4 threads bit-identical over %zu elements\n",
           kind ? "adamw" : "sgd", total);
  }
  free(p0);
  free(g);
  for (int r = 0; r < 2; r++) {
    free(p[r]);
    free(s[r]);
  }
}

/* ---- configuration and arguments ----------------------------------------- */

static void test_defaults(void **st) {
  (void)st;
  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_SGD);
  assert_int_equal(cfg.kind, GRAFT_OPTIM_SGD);
  assert_true(cfg.lr == 0.1f && cfg.momentum == 0.9f && !cfg.nesterov && cfg.weight_decay == 0);
  assert_int_equal(graft_optim_cfg_check(&cfg), GRAFT_OK);
  assert_int_equal(graft_optim_state_planes(&cfg), 1);
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_ADAMW);
  assert_int_equal(cfg.kind, GRAFT_OPTIM_ADAMW);
  assert_true(cfg.lr == 1e-3f && cfg.beta1 == 0.9f && cfg.beta2 == 0.999f && cfg.eps == 1e-8f &&
              cfg.weight_decay == 1e-2f);
  assert_int_equal(graft_optim_cfg_check(&cfg), GRAFT_OK);
  assert_int_equal(graft_optim_state_planes(&cfg), 2);
}

typedef struct {
  const char *what;
  graft_optim_kind kind;
  int field; /* which field to spoil */
  float value;
} bad_cfg;

enum { F_LR, F_WD, F_MOMENTUM, F_NESTEROV_NO_MOMENTUM, F_BETA1, F_BETA2, F_EPS, F_KIND };

static void test_cfg_check_errors(void **st) {
  (void)st;
  const bad_cfg cases[] = {
      {"negative lr", GRAFT_OPTIM_SGD, F_LR, -0.1f},
      {"NaN lr", GRAFT_OPTIM_ADAMW, F_LR, NAN},
      {"infinite lr", GRAFT_OPTIM_SGD, F_LR, INFINITY},
      {"negative weight decay", GRAFT_OPTIM_ADAMW, F_WD, -1e-4f},
      {"negative momentum", GRAFT_OPTIM_SGD, F_MOMENTUM, -0.5f},
      {"nesterov without momentum", GRAFT_OPTIM_SGD, F_NESTEROV_NO_MOMENTUM, 0.0f},
      {"beta1 = 1", GRAFT_OPTIM_ADAMW, F_BETA1, 1.0f},
      {"negative beta1", GRAFT_OPTIM_ADAMW, F_BETA1, -0.1f},
      {"beta2 above 1", GRAFT_OPTIM_ADAMW, F_BETA2, 1.5f},
      {"NaN beta2", GRAFT_OPTIM_ADAMW, F_BETA2, NAN},
      {"zero eps", GRAFT_OPTIM_ADAMW, F_EPS, 0.0f},
      {"negative eps", GRAFT_OPTIM_ADAMW, F_EPS, -1e-8f},
      {"unknown kind", GRAFT_OPTIM_SGD, F_KIND, 0.0f},
  };
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    graft_optim_cfg cfg;
    graft_optim_cfg_default(&cfg, cases[i].kind);
    switch (cases[i].field) {
      case F_LR: cfg.lr = cases[i].value; break;
      case F_WD: cfg.weight_decay = cases[i].value; break;
      case F_MOMENTUM: cfg.momentum = cases[i].value; break;
      case F_NESTEROV_NO_MOMENTUM: cfg.nesterov = 1; cfg.momentum = cases[i].value; break;
      case F_BETA1: cfg.beta1 = cases[i].value; break;
      case F_BETA2: cfg.beta2 = cases[i].value; break;
      case F_EPS: cfg.eps = cases[i].value; break;
      default: cfg.kind = (graft_optim_kind)7; break;
    }
    graft_status s = graft_optim_cfg_check(&cfg);
    printf("cfg_check %-26s -> %s\n", cases[i].what, graft_status_name(s));
    assert_int_equal(s, GRAFT_EINVAL);
  }
  /* Fields the kind does not use are not checked: SGD ignores the betas. */
  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_SGD);
  cfg.beta1 = 2.0f;
  assert_int_equal(graft_optim_cfg_check(&cfg), GRAFT_OK);
  graft_log_set_level(saved);
}

/* A refused step changes nothing: no parameter, no state, no step count. */
static void test_step_errors(void **st) {
  (void)st;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_optim_cfg cfg;
  graft_optim_cfg_default(&cfg, GRAFT_OPTIM_ADAMW);
  float p[4] = {1, 2, 3, 4}, g[4] = {1, 1, 1, 1}, s[8] = {0};
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);

  graft_param_slot ok_then_out[2] = {{.offset = 0, .count = 2, .lr_mult = 1.0f, .decay = 1},
                                     {.offset = 2, .count = 3, .lr_mult = 1.0f, .decay = 1}};
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, ok_then_out, 2, p, g, s, 4), GRAFT_EINVAL);
  graft_param_slot huge = {.offset = SIZE_MAX, .count = 2, .lr_mult = 1.0f};
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &huge, 1, p, g, s, 4), GRAFT_EINVAL);
  graft_param_slot neg_mult = {.offset = 0, .count = 4, .lr_mult = -1.0f};
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &neg_mult, 1, p, g, s, 4), GRAFT_EINVAL);
  graft_param_slot fine = {.offset = 0, .count = 4, .lr_mult = 1.0f};
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &fine, 1, p, g, NULL, 4), GRAFT_EINVAL);
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &fine, -1, p, g, s, 4), GRAFT_EINVAL);
  cfg.eps = 0.0f;
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, &fine, 1, p, g, s, 4), GRAFT_EINVAL);
  graft_log_set_level(saved);

  const float p_want[4] = {1, 2, 3, 4}, s_want[8] = {0};
  assert_memory_equal(p, p_want, sizeof p);
  assert_memory_equal(s, s_want, sizeof s);
  assert_int_equal(ok_then_out[0].step, 0);
  assert_int_equal(fine.step, 0);
  /* No slots and an empty arena are a valid, empty step. */
  cfg.eps = 1e-8f;
  assert_int_equal(graft_optim_step_ref(&ctx, &cfg, NULL, 0, NULL, NULL, NULL, 0), GRAFT_OK);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_cfg_check_errors),
      cmocka_unit_test(test_step_errors),
      cmocka_unit_test(test_hand_sgd),
      cmocka_unit_test(test_hand_adamw),
      cmocka_unit_test(test_freeze_unfreeze),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_torch_sgd_plain),
      cmocka_unit_test(test_torch_sgd_momentum),
      cmocka_unit_test(test_torch_sgd_nesterov_wd),
      cmocka_unit_test(test_torch_adamw_default),
      cmocka_unit_test(test_torch_adamw_custom),
      cmocka_unit_test(test_torch_sgd_unfreeze),
      cmocka_unit_test(test_torch_adamw_unfreeze),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

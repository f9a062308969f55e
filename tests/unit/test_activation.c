/* test_activation.c: the CPU reference activations against values PyTorch
 * gives at a few points, finite-difference checks of their backward over
 * several sizes, accumulation into dx, the tails where naive formulas
 * overflow, and the rejected arguments. */
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
#include "ops/math.h"
#include "ops/ops.h"
#include "testutil.h"

static const char *const act_names[GRAFT_ACT_COUNT] = {"identity", "relu", "leaky_relu",
                                                       "silu",     "mish", "sigmoid"};

#define SLOPE 0.1f

/* F.relu, F.leaky_relu(x, 0.1), F.silu, F.mish and torch.sigmoid of torch
 * 1.13 at x = -2, -0.5, 0, 0.5, 3, with the gradient of y.sum(). */
static const float hand_x[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};
static const float hand_y[GRAFT_ACT_COUNT][5] = {
    {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f},
    {0.0f, 0.0f, 0.0f, 0.5f, 3.0f},
    {-0.200000003f, -0.0500000007f, 0.0f, 0.5f, 3.0f},
    {-0.238405839f, -0.188770339f, 0.0f, 0.311229676f, 2.85772252f},
    {-0.252501458f, -0.22074376f, 0.0f, 0.375245243f, 2.98653507f},
    {0.119202919f, 0.377540678f, 0.5f, 0.622459352f, 0.952574134f},
};
static const float hand_g[GRAFT_ACT_COUNT][5] = {
    {1.0f, 1.0f, 1.0f, 1.0f, 1.0f},
    {0.0f, 0.0f, 0.0f, 1.0f, 1.0f},
    {0.100000001f, 0.100000001f, 0.100000001f, 1.0f, 1.0f},
    {-0.0907842517f, 0.260038823f, 0.5f, 0.739961207f, 1.08810413f},
    {-0.108355105f, 0.289510638f, 0.600000024f, 0.886424422f, 1.02110696f},
    {0.104993582f, 0.23500371f, 0.25f, 0.23500371f, 0.0451766551f},
};

static void test_act_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float ones[5] = {1, 1, 1, 1, 1};
  int ok = 1;
  for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
    float y[5], dx[5] = {0};
    char label[64];
    assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)a, SLOPE, 5, hand_x, y),
                     GRAFT_OK);
    snprintf(label, sizeof label, "%s forward", act_names[a]);
    ok &= tu_check_close(label, y, hand_y[a], 5, 1e-6, 1e-3);
    assert_int_equal(
        graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, 5, hand_x, y, ones, dx),
        GRAFT_OK);
    snprintf(label, sizeof label, "%s backward", act_names[a]);
    ok &= tu_check_close(label, dx, hand_g[a], 5, 1e-6, 1e-3);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  graft_act act;
  int64_t n;
  const float *x; /* (n) */
} act_case;

static void act_fwd(void *user, float *y) {
  const act_case *c = user;
  graft_backend_ref.act_forward(c->ctx, c->act, SLOPE, c->n, c->x, y);
}

/* Inputs with |x| in [0.1, 3], so a step of 1e-2 never crosses the kink of
 * ReLU or LeakyReLU at 0. */
static void fill_away_from_zero(tu_rng *r, float *x /* (n) */, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float m = tu_uniform(r, 0.1f, 3.0f);
    x[i] = tu_uniform(r, 0.0f, 1.0f) < 0.5f ? -m : m;
  }
}

static void test_act_gradcheck(void **state) {
  (void)state;
  static const int64_t sizes[] = {1, 7, 64, 515};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 11);
  double worst = 0.0;
  for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      const int64_t n = sizes[s];
      float *x = malloc(n * sizeof(float));  /* (n) */
      float *y = malloc(n * sizeof(float));  /* (n) */
      float *r = malloc(n * sizeof(float));  /* (n) */
      float *dx = calloc(n, sizeof(float));  /* (n) */
      assert_true(x && y && r && dx);
      fill_away_from_zero(&rng, x, n);
      tu_fill_uniform(&rng, r, n, -1.0f, 1.0f);
      assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)a, SLOPE, n, x, y),
                       GRAFT_OK);
      assert_int_equal(graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, n, x, y, r, dx),
                       GRAFT_OK);
      act_case c = {&ctx, (graft_act)a, n, x};
      char name[64];
      snprintf(name, sizeof name, "%s dx n=%lld", act_names[a], (long long)n);
      double e = tu_gradcheck(name, &c, act_fwd, y, n, r, x, n, dx, 1e-2, 2e-3);
      if (e > worst) worst = e;
      free(x);
      free(y);
      free(r);
      free(dx);
    }
  }
  assert_true(worst <= 2e-3);
  tu_ctx_free(&ctx);
}

/* Backward adds into dx: two passes over a pre-filled dx give the fill plus
 * twice the gradient, and a NULL dx is accepted. */
static void test_act_backward_accumulates(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float dy[5] = {0.5f, -1.0f, 2.0f, 1.5f, -0.25f};
  int ok = 1;
  for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
    float y[5], dx[5], want[5];
    assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)a, SLOPE, 5, hand_x, y),
                     GRAFT_OK);
    for (int i = 0; i < 5; i++) {
      dx[i] = 10.0f + i;
      want[i] = 10.0f + i + 2.0f * dy[i] * hand_g[a][i];
    }
    for (int pass = 0; pass < 2; pass++)
      assert_int_equal(
          graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, 5, hand_x, y, dy, dx),
          GRAFT_OK);
    ok &= tu_check_close(act_names[a], dx, want, 5, 1e-6, 1.0);
    assert_int_equal(
        graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, 5, hand_x, y, dy, NULL),
        GRAFT_OK);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Far tails, where exp overflows if a formula is written naively: every
 * value and derivative stays finite and the limits are right. */
static void test_act_tails(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float x[4] = {-1e4f, -100.0f, 100.0f, 1e4f};
  const float dy[4] = {1, 1, 1, 1};
  for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
    float y[4], dx[4] = {0};
    assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)a, SLOPE, 4, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, 4, x, y, dy, dx),
                     GRAFT_OK);
    for (int i = 0; i < 4; i++) {
      if (!isfinite(y[i]) || !isfinite(dx[i]))
        fail_msg("%s at x=%g: y=%g dx=%g", act_names[a], (double)x[i], (double)y[i],
                 (double)dx[i]);
    }
  }
  float y[4];
  graft_backend_ref.act_forward(&ctx, GRAFT_ACT_MISH, SLOPE, 4, x, y);
  assert_float_equal(y[3], 1e4f, 1e-2);
  assert_float_equal(y[0], 0.0f, 1e-6);
  graft_backend_ref.act_forward(&ctx, GRAFT_ACT_SILU, SLOPE, 4, x, y);
  assert_float_equal(y[2], 100.0f, 1e-4);
  assert_float_equal(y[1], 0.0f, 1e-6);
  graft_backend_ref.act_forward(&ctx, GRAFT_ACT_SIGMOID, SLOPE, 4, x, y);
  assert_float_equal(y[0], 0.0f, 1e-30);
  assert_float_equal(y[3], 1.0f, 0.0);
  tu_ctx_free(&ctx);
}

/* A size large enough for the parallel loop gives exactly the per-element
 * arithmetic of math.h. */
static void test_act_parallel_matches_elementwise(void **state) {
  (void)state;
  const int64_t n = 100003;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  ctx.threads = 4;
  tu_rng rng;
  tu_rng_seed(&rng, 5);
  float *x = malloc(n * sizeof(float));  /* (n) */
  float *y = malloc(n * sizeof(float));  /* (n) */
  float *dy = malloc(n * sizeof(float)); /* (n) */
  float *dx = calloc(n, sizeof(float));  /* (n) */
  assert_true(x && y && dy && dx);
  tu_fill_normal(&rng, x, n, 4.0f);
  tu_fill_normal(&rng, dy, n, 1.0f);
  for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
    memset(dx, 0, n * sizeof(float));
    assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)a, SLOPE, n, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.act_backward(&ctx, (graft_act)a, SLOPE, n, x, y, dy, dx),
                     GRAFT_OK);
    for (int64_t i = 0; i < n; i++) {
      float want_y = graft_act_value(a, SLOPE, x[i]);
      float want_dx = dy[i] * graft_act_grad(a, SLOPE, x[i], want_y);
      if (y[i] != want_y || dx[i] != want_dx)
        fail_msg("%s element %lld: y=%.9g want %.9g, dx=%.9g want %.9g", act_names[a],
                 (long long)i, (double)y[i], (double)want_y, (double)dx[i], (double)want_dx);
    }
  }
  free(x);
  free(y);
  free(dy);
  free(dx);
  tu_ctx_free(&ctx);
}

static void test_act_errors(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[2] = {1, 2}, y[2], dx[2] = {0};
  graft_log_level old = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_ref.act_forward(&ctx, GRAFT_ACT_COUNT, SLOPE, 2, x, y),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.act_forward(&ctx, (graft_act)-1, SLOPE, 2, x, y),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.act_forward(&ctx, GRAFT_ACT_RELU, SLOPE, -1, x, y),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.act_forward(&ctx, GRAFT_ACT_RELU, SLOPE, 2, NULL, y),
                   GRAFT_EINVAL);
  assert_int_equal(
      graft_backend_ref.act_backward(&ctx, GRAFT_ACT_COUNT, SLOPE, 2, x, y, x, dx),
      GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.act_backward(&ctx, GRAFT_ACT_RELU, SLOPE, -3, x, y, x, dx),
                   GRAFT_EINVAL);
  graft_log_set_level(old);
  assert_int_equal(graft_backend_ref.act_forward(&ctx, GRAFT_ACT_RELU, SLOPE, 0, NULL, NULL),
                   GRAFT_OK);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_act_hand),
      cmocka_unit_test(test_act_gradcheck),
      cmocka_unit_test(test_act_backward_accumulates),
      cmocka_unit_test(test_act_tails),
      cmocka_unit_test(test_act_parallel_matches_elementwise),
      cmocka_unit_test(test_act_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

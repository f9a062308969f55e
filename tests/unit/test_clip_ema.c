/* test_clip_ema.c: the CPU reference's gradient clipping
 * (graft_clip_grad_norm_ref) and weight average (graft_ema_update_ref),
 * the oracles of the GPU versions, by hand: norms of 3-4-5 triangles,
 * frozen slots and the gaps between slots left alone and kept out of the
 * norm, the norm summed over several slots, a norm at or below max_norm
 * leaving the gradients bit-identical, refused max_norm values, and
 * averages with exactly representable results. */
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

/* The factor the reference applies for a norm above max_norm. */
static float clip_scale(double norm, float max_norm) { return (float)(max_norm / (norm + 1e-6)); }

static graft_param_slot slot(size_t offset, size_t count, int frozen) {
  graft_param_slot s;
  memset(&s, 0, sizeof s);
  s.offset = offset;
  s.count = count;
  s.lr_mult = 1.0f;
  s.frozen = frozen;
  return s;
}

static void test_clip_one_slot(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float g[2] = {3.0f, 4.0f}; /* norm 5 */
  graft_param_slot s = slot(0, 2, 0);
  assert_int_equal(graft_backend_ref.clip_grad_norm(&ctx, &s, 1, g, 1.0f), GRAFT_OK);
  const float k = clip_scale(5.0, 1.0f);
  assert_true(g[0] == 3.0f * k && g[1] == 4.0f * k);
  assert_float_equal(g[0], 0.6f, 1e-6f);
  assert_float_equal(g[1], 0.8f, 1e-6f);
  printf("clip [3, 4] to 1: [%.9g, %.9g]\n", (double)g[0], (double)g[1]);
}

/* A frozen slot is neither counted nor scaled, and neither are the floats
 * between slots. */
static void test_clip_frozen_and_gaps(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  /* frozen (2) | gap (1) | slot (2) | gap (1) | slot (1) */
  float g[7] = {100.0f, -100.0f, 50.0f, 1.0f, 2.0f, -7.0f, 2.0f};
  const float before[7] = {100.0f, -100.0f, 50.0f, 1.0f, 2.0f, -7.0f, 2.0f};
  graft_param_slot s[3] = {slot(0, 2, 1), slot(3, 2, 0), slot(6, 1, 0)};
  /* Counted: 1, 2 and 2, a norm of 3. */
  assert_int_equal(graft_clip_grad_norm_ref(&ctx, s, 3, g, 1.5f), GRAFT_OK);
  const float k = clip_scale(3.0, 1.5f);
  assert_float_equal(k, 0.5f, 1e-6f);
  assert_memory_equal(g, before, 3 * sizeof(float)); /* frozen slot and first gap */
  assert_true(g[3] == 1.0f * k && g[4] == 2.0f * k && g[6] == 2.0f * k);
  assert_true(g[5] == before[5]); /* second gap */
}

/* At or below max_norm nothing changes, to the bit. */
static void test_clip_below_max(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float g[2] = {3.0f, 4.0f};
  const float before[2] = {3.0f, 4.0f};
  graft_param_slot s = slot(0, 2, 0);
  assert_int_equal(graft_clip_grad_norm_ref(&ctx, &s, 1, g, 5.0f), GRAFT_OK); /* norm == max */
  assert_memory_equal(g, before, sizeof g);

  tu_rng rng;
  tu_rng_seed(&rng, 7);
  enum { N = 1000 };
  float *r = malloc(N * sizeof(float)), *copy = malloc(N * sizeof(float)); /* (N) each */
  assert_non_null(r);
  assert_non_null(copy);
  tu_fill_uniform(&rng, r, N, -1.0f, 1.0f);
  memcpy(copy, r, N * sizeof(float));
  graft_param_slot two[2] = {slot(0, 400, 0), slot(512, 488, 0)};
  /* At most sqrt(888) < 30. */
  assert_int_equal(graft_clip_grad_norm_ref(&ctx, two, 2, r, 30.0f), GRAFT_OK);
  assert_memory_equal(r, copy, N * sizeof(float));

  /* Nothing to count: every slot frozen, or none at all. */
  two[0].frozen = two[1].frozen = 1;
  assert_int_equal(graft_clip_grad_norm_ref(&ctx, two, 2, r, 1e-6f), GRAFT_OK);
  assert_int_equal(graft_clip_grad_norm_ref(&ctx, NULL, 0, NULL, 1.0f), GRAFT_OK);
  assert_memory_equal(r, copy, N * sizeof(float));
  free(r), free(copy);
}

static void test_clip_refused(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float g[2] = {3.0f, 4.0f};
  graft_param_slot s = slot(0, 2, 0);
  const float bad[3] = {0.0f, -1.0f, NAN};
  for (int i = 0; i < 3; i++) {
    tu_capture_begin();
    const graft_status st = graft_clip_grad_norm_ref(&ctx, &s, 1, g, bad[i]);
    const char *log = tu_capture_end();
    assert_int_equal(st, GRAFT_EINVAL);
    assert_non_null(strstr(log, "max_norm"));
  }
  assert_true(g[0] == 3.0f && g[1] == 4.0f);
}

static void test_ema_by_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float e[3] = {4.0f, -2.0f, 0.0f};
  const float p[3] = {8.0f, 2.0f, 1.0f};
  /* 0.75 e + 0.25 p, exact in float. */
  assert_int_equal(graft_backend_ref.ema_update(&ctx, 3, p, 0.75f, e), GRAFT_OK);
  assert_true(e[0] == 5.0f && e[1] == -1.0f && e[2] == 0.25f);
  assert_true(graft_ema_value(5.0f, 8.0f, 0.75f) == 5.75f);
  /* decay 1 keeps the average, decay 0 copies the weights. */
  assert_int_equal(graft_ema_update_ref(&ctx, 3, p, 1.0f, e), GRAFT_OK);
  assert_true(e[0] == 5.0f && e[1] == -1.0f && e[2] == 0.25f);
  assert_int_equal(graft_ema_update_ref(&ctx, 3, p, 0.0f, e), GRAFT_OK);
  assert_memory_equal(e, p, sizeof e);
  assert_int_equal(graft_ema_update_ref(&ctx, 0, NULL, 0.5f, NULL), GRAFT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_clip_one_slot),
      cmocka_unit_test(test_clip_frozen_and_gaps),
      cmocka_unit_test(test_clip_below_max),
      cmocka_unit_test(test_clip_refused),
      cmocka_unit_test(test_ema_by_hand),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

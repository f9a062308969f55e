/* test_tensor_ops.c: the CPU reference data-movement ops: add and
 * accumulate, channel concatenation and its split, nearest upsampling and
 * inverted dropout. Each has a case written out by hand, finite-difference
 * checks of its backward over odd shapes, accumulation checks and the
 * rejected arguments; dropout also has its mask rate, its determinism and
 * its first mask bits computed independently in Python. */
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
#include "ops/ops.h"
#include "testutil.h"

static float *falloc(size_t n) {
  float *p = calloc(n ? n : 1, sizeof(float));
  assert_non_null(p);
  return p;
}

static void quiet(graft_log_level *old) {
  *old = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
}

/* ---- add and accumulate ------------------------------------------------ */

static void test_add_accumulate_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float a[4] = {1.0f, -2.0f, 0.5f, 3.0f};
  const float b[4] = {0.25f, 2.0f, -1.5f, 4.0f};
  const float want_y[4] = {1.25f, 0.0f, -1.0f, 7.0f};
  float y[4];
  assert_int_equal(graft_backend_ref.add_forward(&ctx, 4, a, b, y), GRAFT_OK);
  int ok = tu_check_close("add y", y, want_y, 4, 0.0, 1.0);
  float dst[4] = {10.0f, 20.0f, 30.0f, 40.0f};
  const float want_dst[4] = {11.0f, 18.0f, 30.5f, 43.0f};
  assert_int_equal(graft_backend_ref.accumulate(&ctx, 4, a, dst), GRAFT_OK);
  ok &= tu_check_close("accumulate dst", dst, want_dst, 4, 0.0, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  int64_t n;
  const float *a, *b; /* (n), (n) */
} add_case;

static void add_fwd(void *user, float *y) {
  const add_case *c = user;
  graft_backend_ref.add_forward(c->ctx, c->n, c->a, c->b, y);
}

/* The backward of add is accumulate of dy into both inputs' gradients. */
static void test_add_gradcheck(void **state) {
  (void)state;
  static const int64_t sizes[] = {1, 9, 100};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 21);
  double worst = 0.0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    const int64_t n = sizes[s];
    float *a = falloc(n), *b = falloc(n), *y = falloc(n), *r = falloc(n); /* (n) each */
    float *da = falloc(n), *db = falloc(n);                                /* (n) each */
    tu_fill_uniform(&rng, a, n, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, n, -1.0f, 1.0f);
    tu_fill_uniform(&rng, r, n, -1.0f, 1.0f);
    assert_int_equal(graft_backend_ref.accumulate(&ctx, n, r, da), GRAFT_OK);
    assert_int_equal(graft_backend_ref.accumulate(&ctx, n, r, db), GRAFT_OK);
    add_case c = {&ctx, n, a, b};
    char name[64];
    double e;
    snprintf(name, sizeof name, "add da n=%lld", (long long)n);
    e = tu_gradcheck(name, &c, add_fwd, y, n, r, a, n, da, 1e-2, 1e-3);
    if (e > worst) worst = e;
    snprintf(name, sizeof name, "add db n=%lld", (long long)n);
    e = tu_gradcheck(name, &c, add_fwd, y, n, r, b, n, db, 1e-2, 1e-3);
    if (e > worst) worst = e;
    free(a);
    free(b);
    free(y);
    free(r);
    free(da);
    free(db);
  }
  assert_true(worst <= 1e-3);
  tu_ctx_free(&ctx);
}

/* ---- concatenation ----------------------------------------------------- */

static void test_concat_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  /* Three parts of widths 1, 2 and 3 over two rows, and an empty part. */
  const float x0[2] = {1, 2};                      /* (2, 1) */
  const float x1[4] = {3, 4, 5, 6};                /* (2, 2) */
  const float x3[6] = {7, 8, 9, 10, 11, 12};       /* (2, 3) */
  const float *xs[4] = {x0, x1, NULL, x3}; /* 4 x (2, cs[i]) */
  const int cs[4] = {1, 2, 0, 3};
  const float want_y[12] = {1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12};
  float y[12];
  assert_int_equal(graft_backend_ref.concat_forward(&ctx, 2, 4, xs, cs, y), GRAFT_OK);
  int ok = tu_check_close("concat y", y, want_y, 12, 0.0, 1.0);
  /* Split back with the part-1 gradient not wanted (NULL): parts 0 and 3
   * gain their slices of dy on top of what they held. */
  const float dy[12] = {0.5f, -1, -2, -3, -4, -5, 1.5f, 6, 7, 8, 9, 10}; /* (2, 6) */
  float d0[2] = {100, 200}, d3[6] = {1, 1, 1, 1, 1, 1};
  float *dxs[4] = {d0, NULL, NULL, d3};
  assert_int_equal(graft_backend_ref.concat_backward(&ctx, 2, 4, dy, cs, dxs), GRAFT_OK);
  const float want_d0[2] = {100.5f, 201.5f};
  const float want_d3[6] = {-2, -3, -4, 9, 10, 11};
  ok &= tu_check_close("concat dx0", d0, want_d0, 2, 0.0, 1.0);
  ok &= tu_check_close("concat dx3", d3, want_d3, 6, 0.0, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

#define MAX_PARTS 4

typedef struct {
  graft_ctx *ctx;
  int64_t m;
  int count;
  const int *cs;
  const float *const *xs; /* count x (M, cs[i]) */
} concat_case;

static void concat_fwd(void *user, float *y) {
  const concat_case *c = user;
  graft_backend_ref.concat_forward(c->ctx, c->m, c->count, c->xs, c->cs, y);
}

static void test_concat_gradcheck(void **state) {
  (void)state;
  static const struct {
    int64_t m;
    int count;
    int cs[MAX_PARTS];
  } cases[] = {{5, 3, {3, 1, 4}}, {1, 1, {7}}, {9, 4, {2, 5, 2, 3}}, {3, 2, {1, 1}}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 8);
  double worst = 0.0;
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const int64_t m = cases[k].m;
    const int count = cases[k].count;
    int ctot = 0;
    float *xs[MAX_PARTS], *dxs[MAX_PARTS];
    for (int i = 0; i < count; i++) {
      ctot += cases[k].cs[i];
      xs[i] = falloc(m * cases[k].cs[i]);  /* (M, cs[i]) */
      dxs[i] = falloc(m * cases[k].cs[i]); /* (M, cs[i]) */
      tu_fill_uniform(&rng, xs[i], m * cases[k].cs[i], -1.0f, 1.0f);
    }
    float *y = falloc(m * ctot); /* (M, sum cs) */
    float *r = falloc(m * ctot); /* (M, sum cs) */
    tu_fill_uniform(&rng, r, m * ctot, -1.0f, 1.0f);
    assert_int_equal(graft_backend_ref.concat_backward(&ctx, m, count, r, cases[k].cs, dxs),
                     GRAFT_OK);
    concat_case c = {&ctx, m, count, cases[k].cs, (const float *const *)xs};
    for (int i = 0; i < count; i++) {
      char name[64];
      snprintf(name, sizeof name, "concat dx%d m=%lld parts=%d", i, (long long)m, count);
      double e = tu_gradcheck(name, &c, concat_fwd, y, m * ctot, r, xs[i], m * cases[k].cs[i],
                              dxs[i], 1e-2, 1e-3);
      if (e > worst) worst = e;
    }
    for (int i = 0; i < count; i++) {
      free(xs[i]);
      free(dxs[i]);
    }
    free(y);
    free(r);
  }
  assert_true(worst <= 1e-3);
  tu_ctx_free(&ctx);
}

/* ---- nearest upsampling ------------------------------------------------ */

static void test_upsample_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  /* x (1, 2, 2, 1) = [[1, 2], [3, 4]] by factors 2 (rows) and 3 (columns). */
  const float x[4] = {1, 2, 3, 4};
  const float want_y[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                            3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  float y[24];
  assert_int_equal(graft_backend_ref.upsample_forward(&ctx, 1, 2, 2, 1, 2, 3, x, y), GRAFT_OK);
  int ok = tu_check_close("upsample y", y, want_y, 24, 0.0, 1.0);
  /* dy = 0..23 in row-major order: each dx sums its 2x3 block, e.g.
   * dx[0][0] = (0+1+2) + (6+7+8) = 24, dx[1][1] = (15+16+17) + (21+22+23) = 114;
   * dx starts at 1, so backward adds on top of it. */
  float dy[24];
  for (int i = 0; i < 24; i++) dy[i] = (float)i;
  float dx[4] = {1, 1, 1, 1};
  const float want_dx[4] = {25, 43, 97, 115};
  assert_int_equal(graft_backend_ref.upsample_backward(&ctx, 1, 2, 2, 1, 2, 3, dy, dx), GRAFT_OK);
  ok &= tu_check_close("upsample dx", dx, want_dx, 4, 0.0, 1.0);
  /* Two channels, factor 2x1: channels move together. */
  const float x2[4] = {1, -1, 2, -2}; /* (1, 1, 2, 2) */
  const float want_y2[8] = {1, -1, 2, -2, 1, -1, 2, -2};
  float y2[8];
  assert_int_equal(graft_backend_ref.upsample_forward(&ctx, 1, 1, 2, 2, 2, 1, x2, y2), GRAFT_OK);
  ok &= tu_check_close("upsample y two channels", y2, want_y2, 8, 0.0, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  int n, h, w, c, fh, fw;
  const float *x; /* (N, H, W, C) */
} upsample_case;

static void upsample_fwd(void *user, float *y) {
  const upsample_case *u = user;
  graft_backend_ref.upsample_forward(u->ctx, u->n, u->h, u->w, u->c, u->fh, u->fw, u->x, y);
}

static void test_upsample_gradcheck(void **state) {
  (void)state;
  static const int shapes[][6] = {
      {2, 3, 5, 3, 2, 2}, {1, 1, 1, 1, 1, 1}, {3, 2, 3, 5, 3, 1}, {1, 4, 3, 2, 1, 4}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 13);
  double worst = 0.0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int *sh = shapes[s];
    const size_t nx = (size_t)sh[0] * sh[1] * sh[2] * sh[3];
    const size_t ny = nx * sh[4] * sh[5];
    float *x = falloc(nx);  /* (N, H, W, C) */
    float *dx = falloc(nx); /* (N, H, W, C) */
    float *y = falloc(ny);  /* (N, H*fh, W*fw, C) */
    float *r = falloc(ny);  /* (N, H*fh, W*fw, C) */
    tu_fill_uniform(&rng, x, nx, -1.0f, 1.0f);
    tu_fill_uniform(&rng, r, ny, -1.0f, 1.0f);
    assert_int_equal(
        graft_backend_ref.upsample_backward(&ctx, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], r, dx),
        GRAFT_OK);
    upsample_case u = {&ctx, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], x};
    char name[80];
    snprintf(name, sizeof name, "upsample dx (%d,%d,%d,%d) x%dx%d", sh[0], sh[1], sh[2], sh[3],
             sh[4], sh[5]);
    double e = tu_gradcheck(name, &u, upsample_fwd, y, ny, r, x, nx, dx, 1e-2, 1e-3);
    if (e > worst) worst = e;
    free(x);
    free(dx);
    free(y);
    free(r);
  }
  assert_true(worst <= 1e-3);
  tu_ctx_free(&ctx);
}

/* ---- dropout ----------------------------------------------------------- */

/* The mask for seed 42, p = 0.5, elements 0..11, computed in Python from
 * the splitmix64 finalizer as math.h defines it (u = top 24 bits / 2^24,
 * kept when u >= p): u = 0.7416, 0.1599, 0.2786, 0.3442, 0.0380, 0.8682,
 * 0.2184, 0.8006, 0.3399, 0.6185, 0.2049, 0.4930. */
static void test_dropout_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const float want_y[12] = {2, 0, 0, 0, 0, 12, 0, 16, 0, 20, 0, 0};
  float y[12];
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, 12, 0.5f, 42, x, y), GRAFT_OK);
  int ok = tu_check_close("dropout y seed 42", y, want_y, 12, 0.0, 1.0);
  float dx[12];
  for (int i = 0; i < 12; i++) dx[i] = 1.0f;
  const float want_dx[12] = {3, 1, 1, 1, 1, 13, 1, 17, 1, 21, 1, 1};
  assert_int_equal(graft_backend_ref.dropout_backward(&ctx, 12, 0.5f, 42, x, dx), GRAFT_OK);
  ok &= tu_check_close("dropout dx seed 42", dx, want_dx, 12, 0.0, 1.0);
  /* p = 0 is the identity. */
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, 12, 0.0f, 42, x, y), GRAFT_OK);
  ok &= tu_check_close("dropout p=0", y, x, 12, 0.0, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Over 100k elements the dropped fraction is within 5 standard deviations
 * of p, kept values are x / (1 - p), the same seed gives the same output,
 * another seed another mask, and backward passes gradient exactly where
 * forward kept the value. */
static void test_dropout_mask(void **state) {
  (void)state;
  const int64_t n = 100000;
  static const float ps[] = {0.1f, 0.5f, 0.9f};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  ctx.threads = 4;
  /* (n) each */
  float *x = falloc(n), *y = falloc(n), *y2 = falloc(n), *dy = falloc(n), *dx = falloc(n);
  for (int64_t i = 0; i < n; i++) {
    x[i] = 1.0f + (float)(i % 97) * 0.01f;
    dy[i] = 2.0f - (float)(i % 89) * 0.01f;
  }
  for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
    const float p = ps[k], scale = 1.0f / (1.0f - p);
    const uint64_t seed = 1234 + k;
    assert_int_equal(graft_backend_ref.dropout_forward(&ctx, n, p, seed, x, y), GRAFT_OK);
    int64_t dropped = 0;
    for (int64_t i = 0; i < n; i++) {
      if (y[i] == 0.0f)
        dropped++;
      else if (y[i] != x[i] * scale)
        fail_msg("dropout p=%g element %lld: kept value %.9g, want %.9g", (double)p,
                 (long long)i, (double)y[i], (double)(x[i] * scale));
    }
    const double rate = (double)dropped / (double)n;
    const double sd = sqrt((double)p * (1.0 - p) / (double)n);
    printf("dropout p=%.2f: dropped fraction %.5f (5 sd = %.5f)\n", (double)p, rate, 5.0 * sd);
    if (fabs(rate - p) > 5.0 * sd)
      fail_msg("dropout p=%g dropped %.5f of %lld elements", (double)p, rate, (long long)n);

    assert_int_equal(graft_backend_ref.dropout_forward(&ctx, n, p, seed, x, y2), GRAFT_OK);
    assert_memory_equal(y, y2, n * sizeof(float));
    assert_int_equal(graft_backend_ref.dropout_forward(&ctx, n, p, seed + 1000, x, y2), GRAFT_OK);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) differ += (y[i] == 0.0f) != (y2[i] == 0.0f);
    if (differ < n / 20)
      fail_msg("dropout p=%g: seeds %llu and %llu differ in only %lld places", (double)p,
               (unsigned long long)seed, (unsigned long long)(seed + 1000), (long long)differ);

    memset(dx, 0, n * sizeof(float));
    assert_int_equal(graft_backend_ref.dropout_backward(&ctx, n, p, seed, dy, dx), GRAFT_OK);
    for (int64_t i = 0; i < n; i++) {
      const float want = y[i] == 0.0f ? 0.0f : dy[i] * scale;
      if (dx[i] != want)
        fail_msg("dropout backward p=%g element %lld: %.9g, want %.9g (forward gave %.9g)",
                 (double)p, (long long)i, (double)dx[i], (double)want, (double)y[i]);
    }
  }
  free(x);
  free(y);
  free(y2);
  free(dy);
  free(dx);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  int64_t n;
  float p;
  uint64_t seed;
  const float *x; /* (n) */
} dropout_case;

static void dropout_fwd(void *user, float *y) {
  const dropout_case *c = user;
  graft_backend_ref.dropout_forward(c->ctx, c->n, c->p, c->seed, c->x, y);
}

static void test_dropout_gradcheck(void **state) {
  (void)state;
  static const int64_t sizes[] = {1, 17, 250};
  static const float ps[] = {0.0f, 0.3f, 0.75f};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 99);
  double worst = 0.0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
      const int64_t n = sizes[s];
      float *x = falloc(n), *y = falloc(n), *r = falloc(n), *dx = falloc(n); /* (n) each */
      tu_fill_uniform(&rng, x, n, -1.0f, 1.0f);
      tu_fill_uniform(&rng, r, n, -1.0f, 1.0f);
      dropout_case c = {&ctx, n, ps[k], 77 + s, x};
      assert_int_equal(graft_backend_ref.dropout_backward(&ctx, n, c.p, c.seed, r, dx), GRAFT_OK);
      char name[64];
      snprintf(name, sizeof name, "dropout dx n=%lld p=%.2f", (long long)n, (double)c.p);
      double e = tu_gradcheck(name, &c, dropout_fwd, y, n, r, x, n, dx, 1e-2, 1e-3);
      if (e > worst) worst = e;
      free(x);
      free(y);
      free(r);
      free(dx);
    }
  }
  assert_true(worst <= 1e-3);
  tu_ctx_free(&ctx);
}

/* ---- errors ------------------------------------------------------------ */

static void test_tensor_errors(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float a[4] = {0}, b[4] = {0}, y[64] = {0};
  const float *xs[2] = {a, b}; /* 2 x (2, 2) */
  float *dxs[2] = {a, b};       /* 2 x (2, 2) */
  const int cs[2] = {2, 2}, bad_cs[2] = {2, -1};
  graft_log_level old;
  quiet(&old);
  assert_int_equal(graft_backend_ref.add_forward(&ctx, -1, a, b, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.accumulate(&ctx, -1, a, b), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.accumulate(&ctx, 4, NULL, b), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.concat_forward(&ctx, 2, 0, xs, cs, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.concat_forward(&ctx, 2, 2, xs, bad_cs, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.concat_forward(&ctx, -2, 2, xs, cs, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.concat_backward(&ctx, 2, 2, y, bad_cs, dxs), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.upsample_forward(&ctx, 1, 2, 2, 1, 0, 2, a, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.upsample_forward(&ctx, 1, -2, 2, 1, 2, 2, a, y),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.upsample_backward(&ctx, 1, 2, 2, 1, 2, -1, y, a),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, 4, 1.0f, 1, a, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, 4, -0.1f, 1, a, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, 4, NAN, 1, a, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.dropout_backward(&ctx, 4, 1.5f, 1, a, b), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.dropout_forward(&ctx, -4, 0.5f, 1, a, y), GRAFT_EINVAL);
  graft_log_set_level(old);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_accumulate_hand), cmocka_unit_test(test_add_gradcheck),
      cmocka_unit_test(test_concat_hand),         cmocka_unit_test(test_concat_gradcheck),
      cmocka_unit_test(test_upsample_hand),       cmocka_unit_test(test_upsample_gradcheck),
      cmocka_unit_test(test_dropout_hand),        cmocka_unit_test(test_dropout_mask),
      cmocka_unit_test(test_dropout_gradcheck),   cmocka_unit_test(test_tensor_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_linear.c: the CPU reference linear layer (y = x W^T + b): a small
 * case worked by hand, finite-difference checks of dx, dW and db over
 * several shapes, accumulation into the gradients, and the rejected
 * arguments. */
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

/* x (2, 3), W (2, 3), b (2), dy (2, 2) and their products written out:
 *   y  = x W^T + b = [[0.5-2+6+0.1, 1+2-1.5-0.2], [-0.5+0+4+0.1, -1+0-1-0.2]]
 *   dx = dy W      = [[0.5-1, -1-1, 2+0.5], [1+0.5, -2+0.5, 4-0.25]]
 *   dW = dy^T x    = [[1-2, 2+0, 3+4], [-1-0.5, -2+0, -3+1]]
 *   db = column sums of dy = [1+2, -1+0.5] */
static const float hx[6] = {1, 2, 3, -1, 0, 2};      /* (2, 3) */
static const float hw[6] = {0.5f, -1, 2, 1, 1, -0.5f}; /* (2, 3) */
static const float hb[2] = {0.1f, -0.2f};            /* (2) */
static const float hdy[4] = {1, -1, 2, 0.5f};        /* (2, 2) */
static const float want_y[4] = {4.6f, 1.3f, 3.6f, -2.2f};
static const float want_y_nobias[4] = {4.5f, 1.5f, 3.5f, -2.0f};
static const float want_dx[6] = {-0.5f, -2.0f, 2.5f, 1.5f, -1.5f, 3.75f};
static const float want_dw[6] = {-1.0f, 2.0f, 7.0f, -1.5f, -2.0f, -2.0f};
static const float want_db[2] = {3.0f, -0.5f};

static void test_linear_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_linear_desc d = {.n = 2, .in = 3, .out = 2};
  float y[4], dx[6] = {0}, dw[6] = {0}, db[2] = {0};
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &d, hx, hw, hb, y), GRAFT_OK);
  int ok = tu_check_close("linear y", y, want_y, 4, 1e-6, 1.0);
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &d, hx, hw, NULL, y), GRAFT_OK);
  ok &= tu_check_close("linear y without bias", y, want_y_nobias, 4, 1e-6, 1.0);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &d, hx, hw, hdy, dx, dw, db), GRAFT_OK);
  ok &= tu_check_close("linear dx", dx, want_dx, 6, 1e-6, 1.0);
  ok &= tu_check_close("linear dW", dw, want_dw, 6, 1e-6, 1.0);
  ok &= tu_check_close("linear db", db, want_db, 2, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Backward adds: from gradients pre-filled with 1, two passes leave
 * 1 + 2 * gradient; NULL gradients are skipped one at a time. */
static void test_linear_backward_accumulates(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_linear_desc d = {.n = 2, .in = 3, .out = 2};
  float dx[6], dw[6], db[2], wdx[6], wdw[6], wdb[2];
  for (int i = 0; i < 6; i++) {
    dx[i] = dw[i] = 1.0f;
    wdx[i] = 1.0f + 2.0f * want_dx[i];
    wdw[i] = 1.0f + 2.0f * want_dw[i];
  }
  for (int i = 0; i < 2; i++) {
    db[i] = 1.0f;
    wdb[i] = 1.0f + 2.0f * want_db[i];
  }
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &d, hx, hw, hdy, dx, dw, db), GRAFT_OK);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &d, hx, hw, hdy, dx, NULL, NULL),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &d, hx, hw, hdy, NULL, dw, NULL),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &d, hx, hw, hdy, NULL, NULL, db),
                   GRAFT_OK);
  int ok = tu_check_close("linear dx accumulated", dx, wdx, 6, 1e-6, 1.0);
  ok &= tu_check_close("linear dW accumulated", dw, wdw, 6, 1e-6, 1.0);
  ok &= tu_check_close("linear db accumulated", db, wdb, 2, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  graft_linear_desc d;
  const float *x, *w, *b; /* (N, in), (out, in), (out) */
} linear_case;

static void linear_fwd(void *user, float *y) {
  const linear_case *c = user;
  graft_backend_ref.linear_forward(c->ctx, &c->d, c->x, c->w, c->b, y);
}

static void test_linear_gradcheck(void **state) {
  (void)state;
  static const int shapes[][3] = {{1, 1, 1}, {3, 5, 7}, {8, 17, 9}, {13, 4, 1}, {2, 33, 65}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 3);
  double worst = 0.0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
    const size_t nx = (size_t)n * in, nw = (size_t)out * in, ny = (size_t)n * out;
    float *x = malloc(nx * sizeof(float));   /* (N, in) */
    float *w = malloc(nw * sizeof(float));   /* (out, in) */
    float *b = malloc(out * sizeof(float));  /* (out) */
    float *y = malloc(ny * sizeof(float));   /* (N, out) */
    float *r = malloc(ny * sizeof(float));   /* (N, out) */
    float *dx = calloc(nx, sizeof(float));   /* (N, in) */
    float *dw = calloc(nw, sizeof(float));   /* (out, in) */
    float *db = calloc(out, sizeof(float));  /* (out) */
    assert_true(x && w && b && y && r && dx && dw && db);
    tu_fill_uniform(&rng, x, nx, -1.0f, 1.0f);
    tu_fill_uniform(&rng, w, nw, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, out, -1.0f, 1.0f);
    tu_fill_uniform(&rng, r, ny, -1.0f, 1.0f);
    linear_case c = {&ctx, {.n = n, .in = in, .out = out}, x, w, b};
    assert_int_equal(graft_backend_ref.linear_forward(&ctx, &c.d, x, w, b, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.linear_backward(&ctx, &c.d, x, w, r, dx, dw, db), GRAFT_OK);
    char name[64];
    double e;
    snprintf(name, sizeof name, "linear dx %dx%d->%d", n, in, out);
    e = tu_gradcheck(name, &c, linear_fwd, y, ny, r, x, nx, dx, 1e-2, 1e-3);
    if (e > worst) worst = e;
    snprintf(name, sizeof name, "linear dW %dx%d->%d", n, in, out);
    e = tu_gradcheck(name, &c, linear_fwd, y, ny, r, w, nw, dw, 1e-2, 1e-3);
    if (e > worst) worst = e;
    snprintf(name, sizeof name, "linear db %dx%d->%d", n, in, out);
    e = tu_gradcheck(name, &c, linear_fwd, y, ny, r, b, out, db, 1e-2, 1e-3);
    if (e > worst) worst = e;
    free(x);
    free(w);
    free(b);
    free(y);
    free(r);
    free(dx);
    free(dw);
    free(db);
  }
  assert_true(worst <= 1e-3);
  tu_ctx_free(&ctx);
}

static void test_linear_errors(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float y[4], dx[6] = {0};
  graft_log_level old = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  graft_linear_desc bad_in = {.n = 2, .in = 0, .out = 2};
  graft_linear_desc bad_out = {.n = 2, .in = 3, .out = -1};
  graft_linear_desc bad_n = {.n = -2, .in = 3, .out = 2};
  graft_linear_desc good = {.n = 2, .in = 3, .out = 2};
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &bad_in, hx, hw, hb, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &bad_out, hx, hw, hb, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &bad_n, hx, hw, hb, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, NULL, hx, hw, hb, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &good, NULL, hw, hb, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &bad_in, hx, hw, hdy, dx, NULL, NULL),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.linear_backward(&ctx, &good, hx, NULL, hdy, dx, NULL, NULL),
                   GRAFT_EINVAL);
  graft_log_set_level(old);
  graft_linear_desc empty = {.n = 0, .in = 3, .out = 2};
  assert_int_equal(graft_backend_ref.linear_forward(&ctx, &empty, NULL, NULL, NULL, NULL),
                   GRAFT_OK);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linear_hand),
      cmocka_unit_test(test_linear_backward_accumulates),
      cmocka_unit_test(test_linear_gradcheck),
      cmocka_unit_test(test_linear_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

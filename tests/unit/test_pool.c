/* test_pool.c: the CPU reference 2-D max and average pooling and global
 * average pooling (NHWC): cases worked by hand (ties, -inf padding, NaN),
 * PyTorch's numbers for ceil_mode windows that hang off the input with and
 * without count_include_pad, PyTorch's output sizes, a naive per-position
 * reference over a grid of windows, strides, paddings and modes,
 * finite-difference checks, accumulation into dx, and the rejected
 * descriptors. */
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

/* x[i] = (i * a) mod b - off: a deterministic input that the PyTorch
 * script reproduces exactly. */
static void fill_pattern(float *x, int n, int a, int b, int off) {
  for (int i = 0; i < n; i++) x[i] = (float)((i * a) % b - off);
}

static graft_pool2d_desc pool_desc(graft_pool_kind kind, int n, int h, int w, int c, int r, int s,
                                   int sh, int sw, int ph, int pw, int ceil_mode, int cip) {
  graft_pool2d_desc d = {.kind = kind, .n = n, .h = h, .w = w, .c = c, .r = r, .s = s,
                         .stride_h = sh, .stride_w = sw, .pad_h = ph, .pad_w = pw,
                         .ceil_mode = ceil_mode, .count_include_pad = cip};
  return d;
}

static size_t in_size(const graft_pool2d_desc *d) { return (size_t)d->n * d->h * d->w * d->c; }
static size_t out_size(const graft_pool2d_desc *d) { return (size_t)d->n * d->p * d->q * d->c; }

/* ---- worked by hand ------------------------------------------------------
 * One 4x4 channel holding 0..15, 2x2 windows with stride 2:
 *   max = 5 7 13 15, average = 2.5 4.5 10.5 12.5.
 * With dy = 1 2 3 4, max routes each to its maximum (elements 5 7 13 15);
 * average spreads dy/4 over each window. */
static void test_pool_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[16], y[4], dx[16];
  const float dy[4] = {1, 2, 3, 4};
  const float want_max[4] = {5, 7, 13, 15}, want_avg[4] = {2.5f, 4.5f, 10.5f, 12.5f};
  const float want_dmax[16] = {0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4};
  const float want_davg[16] = {0.25f, 0.25f, 0.5f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f,
                               0.75f, 0.75f, 1,     1,     0.75f, 0.75f, 1,     1};
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  int ok = 1;
  for (int k = 0; k < 2; k++) {
    graft_pool2d_desc d =
        pool_desc(k ? GRAFT_POOL_AVG : GRAFT_POOL_MAX, 1, 4, 4, 1, 2, 2, 2, 2, 0, 0, 0, 1);
    assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
    assert_int_equal(d.p, 2);
    assert_int_equal(d.q, 2);
    memset(dx, 0, sizeof dx);
    assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx), GRAFT_OK);
    ok &= tu_check_close(k ? "avg pool hand y" : "max pool hand y", y, k ? want_avg : want_max, 4,
                         1e-7, 1.0);
    ok &= tu_check_close(k ? "avg pool hand dx" : "max pool hand dx", dx,
                         k ? want_davg : want_dmax, 16, 1e-7, 1.0);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Ties go to the first maximum in row-major window order. The 3x3 input
 *   1 3 3
 *   3 2 3
 *   0 3 1
 * with 2x2 windows at stride 1 gives max 3 everywhere; PyTorch 1.13 routes
 * dy = 1 10 100 1000 to elements 1, 1, 3 and 5: dx = 0 11 0 100 0 1000 0 0 0. */
static void test_max_pool_ties_first(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float x[9] = {1, 3, 3, 3, 2, 3, 0, 3, 1}, dy[4] = {1, 10, 100, 1000};
  const float want_y[4] = {3, 3, 3, 3}, want_dx[9] = {0, 11, 0, 100, 0, 1000, 0, 0, 0};
  float y[4], dx[9] = {0};
  graft_pool2d_desc d = pool_desc(GRAFT_POOL_MAX, 1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 0, 0);
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
  assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx), GRAFT_OK);
  int ok = tu_check_close("max pool ties y", y, want_y, 4, 0.0, 1.0);
  ok &= tu_check_close("max pool ties dx", dx, want_dx, 9, 0.0, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Padding is -inf for max pool: a 2x2 input -4 -3 -2 -1 with 3x3 windows,
 * stride 1 and padding 1 gives -1 everywhere (zero padding would give 0).
 * A NaN wins its windows, as in PyTorch; channel 1 holds 0 1 2 3, so the
 * NaN in channel 0 stays there. */
static void test_max_pool_padding_and_nan(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[8] = {-4, 0, -3, 1, -2, 2, -1, 3}, y[8];
  graft_pool2d_desc d = pool_desc(GRAFT_POOL_MAX, 1, 2, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0);
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
  const float want[8] = {-1, 3, -1, 3, -1, 3, -1, 3};
  assert_true(tu_check_close("max pool -inf padding", y, want, 8, 0.0, 1.0));
  x[2] = NAN;
  assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
  for (int i = 0; i < 4; i++) {
    assert_true(isnan(y[2 * i]));
    assert_true(y[2 * i + 1] == 3.0f);
  }
  tu_ctx_free(&ctx);
}

/* ---- PyTorch's numbers ---------------------------------------------------
 * Input (N, H, W, C) = (1, 5, 6, 2) holding fill_pattern(13, 31, 15) and
 * dy = fill_pattern(3, 5, 2) over the output, both NHWC. The want_* arrays
 * are PyTorch 1.13's max_pool2d / avg_pool2d output and input gradient for
 * a channels_last tensor with these values, permuted to NHWC. With a 3x3
 * window, stride 2, padding 1 and ceil_mode, the last column of windows
 * starts at input column 5 and covers one input column and one column of
 * padding; the 2x2 ceil_mode case has windows hanging off both edges with no
 * padding at all. */
static void check_vs_pytorch(const char *name, graft_pool2d_desc d, int p, int q,
                             const float *want_y, const float *want_dx) {
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[60], y[24], dy[24], dx[60] = {0};
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  assert_int_equal(d.p, p);
  assert_int_equal(d.q, q);
  fill_pattern(x, 60, 13, 31, 15);
  fill_pattern(dy, (int)out_size(&d), 3, 5, 2);
  assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
  assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx), GRAFT_OK);
  char label[96];
  snprintf(label, sizeof label, "%s y vs PyTorch", name);
  int ok = tu_check_close(label, y, want_y, out_size(&d), 1e-6, 1.0);
  snprintf(label, sizeof label, "%s dx vs PyTorch", name);
  ok &= tu_check_close(label, dx, want_dx, 60, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

static void test_max_pool_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[24] = {12.0f, -1.0f, 12.0f, 15.0f, 2.0f, 15.0f, -8.0f, 5.0f, 14.0f, 1.0f, 14.0f, 15.0f, 4.0f, 15.0f, -6.0f, 7.0f, 15.0f, 2.0f, 15.0f, -3.0f, 5.0f, 13.0f, -5.0f, 8.0f};
  static const float want_dx[60] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f, -3.0f, 0.0f, 0.0f, 0.0f, 0.0f, 3.0f, 0.0f, 0.0f, 1.0f, -1.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, -1.0f, 0.0f, 0.0f, 0.0f, 0.0f, -2.0f, 0.0f, -1.0f, 3.0f, 0.0f, 0.0f, 0.0f, -2.0f, 0.0f, 0.0f, 1.0f, -1.0f, 2.0f};
  check_vs_pytorch("max pool 3x3 s2 p1 ceil",
                   pool_desc(GRAFT_POOL_MAX, 1, 5, 6, 2, 3, 3, 2, 2, 1, 1, 1, 0), 3, 4, want_y,
                   want_dx);
}

static void test_avg_pool_include_pad_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[24] = {-0.666666687f, -1.77777779f, 4.33333349f, -0.777777791f, -2.33333325f, 6.33333349f, -2.83333325f, 1.5f, 0.0f, -1.66666663f, 8.0f, -6.55555534f, -2.0f, 4.11111116f, -3.5f, 3.0f, 0.666666687f, -0.444444448f, 6.33333349f, -5.66666651f, -0.333333343f, 1.44444442f, -1.83333337f, 2.5f};
  static const float want_dx[60] = {-0.222222224f, 0.111111112f, -0.333333343f, 0.333333343f, -0.111111112f, 0.222222224f, -0.111111112f, 0.0f, 0.0f, -0.222222224f, 0.166666672f, -0.388888896f, 0.0f, 0.111111112f, -0.333333343f, 0.444444448f, -0.333333343f, 0.333333343f, -0.444444448f, 0.333333343f, -0.111111112f, 0.0f, 0.0555555597f, -0.5f, 0.222222224f, 0.0f, 0.0f, 0.111111112f, -0.222222224f, 0.111111112f, -0.333333343f, 0.333333343f, -0.111111112f, 0.222222224f, -0.111111112f, -0.111111119f, 0.333333343f, -0.111111112f, 0.333333343f, 0.0f, 0.0f, 0.111111112f, -0.333333343f, 0.444444448f, -0.333333343f, 0.333333343f, -0.5f, 0.333333343f, 0.111111112f, -0.111111112f, 0.333333343f, -0.111111112f, 0.222222224f, 0.0f, 0.0f, 0.111111112f, -0.222222224f, 0.111111112f, -0.388888896f, 0.444444448f};
  check_vs_pytorch("avg pool 3x3 s2 p1 ceil count_include_pad",
                   pool_desc(GRAFT_POOL_AVG, 1, 5, 6, 2, 3, 3, 2, 2, 1, 1, 1, 1), 3, 4, want_y,
                   want_dx);
}

static void test_avg_pool_exclude_pad_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[24] = {-1.5f, -4.0f, 6.5f, -1.16666663f, -3.5f, 9.5f, -8.5f, 4.5f, 0.0f, -2.5f, 8.0f, -6.55555534f, -2.0f, 4.11111116f, -7.0f, 6.0f, 1.5f, -1.0f, 9.5f, -8.5f, -0.5f, 2.16666675f, -5.5f, 7.5f};
  static const float want_dx[60] = {-0.5f, 0.25f, -0.666666687f, 0.583333373f, -0.166666672f, 0.333333343f, -0.166666672f, 0.0f, 0.0f, -0.333333343f, 0.5f, -0.833333373f, -0.166666657f, 0.25f, -0.555555582f, 0.694444478f, -0.388888896f, 0.444444448f, -0.5f, 0.333333343f, -0.111111112f, -0.111111119f, 0.388888896f, -1.27777791f, 0.333333343f, 0.0f, 0.111111119f, 0.111111112f, -0.222222224f, 0.111111112f, -0.333333343f, 0.333333343f, -0.111111112f, 0.222222224f, -0.111111112f, -0.444444478f, 0.583333373f, -0.25f, 0.694444418f, -0.138888896f, 0.111111119f, 0.111111112f, -0.333333343f, 0.5f, -0.444444448f, 0.388888896f, -0.944444418f, 0.722222209f, 0.25f, -0.25f, 0.583333373f, -0.25f, 0.333333343f, 0.0f, 0.0f, 0.166666672f, -0.333333343f, 0.166666672f, -0.833333373f, 1.16666663f};
  check_vs_pytorch("avg pool 3x3 s2 p1 ceil exclude pad",
                   pool_desc(GRAFT_POOL_AVG, 1, 5, 6, 2, 3, 3, 2, 2, 1, 1, 1, 0), 3, 4, want_y,
                   want_dx);
}

static void test_avg_pool_ceil_no_pad_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[18] = {-1.5f, -4.0f, 4.0f, 1.5f, -6.0f, 7.0f, 0.5f, -2.0f, 6.0f, -12.0f, -4.0f, 9.0f, 2.0f, -0.5f, 7.5f, -10.5f, -2.5f, 10.5f};
  static const float want_dx[60] = {-0.5f, 0.25f, -0.5f, 0.25f, -0.25f, 0.5f, -0.25f, 0.5f, 0.0f, -0.5f, 0.0f, -0.5f, -0.5f, 0.25f, -0.5f, 0.25f, -0.25f, 0.5f, -0.25f, 0.5f, 0.0f, -0.5f, 0.0f, -0.5f, 0.25f, -0.25f, 0.25f, -0.25f, 0.5f, 0.0f, 0.5f, 0.0f, -0.5f, 0.25f, -0.5f, 0.25f, 0.25f, -0.25f, 0.25f, -0.25f, 0.5f, 0.0f, 0.5f, 0.0f, -0.5f, 0.25f, -0.5f, 0.25f, -0.5f, 1.0f, -0.5f, 1.0f, 0.0f, -1.0f, 0.0f, -1.0f, 0.5f, -0.5f, 0.5f, -0.5f};
  check_vs_pytorch("avg pool 2x2 s2 ceil", pool_desc(GRAFT_POOL_AVG, 1, 5, 6, 2, 2, 2, 2, 2, 0, 0, 1, 1),
                   3, 3, want_y, want_dx);
}

/* Output sizes along one axis for (input, window, stride, padding,
 * ceil_mode), as PyTorch 1.13's max_pool2d reports them; 0 marks the ones it
 * rejects as too small. In {8, 3, 3, 1, 1} ceil_mode's extra window would
 * start in the right padding, so it is dropped. */
static void test_pool_setup_sizes(void **state) {
  (void)state;
  static const int cases[][6] = {
      {2, 3, 2, 0, 0, 0}, {2, 3, 2, 0, 1, 1}, {2, 3, 2, 1, 0, 1}, {2, 3, 2, 1, 1, 2},
      {5, 3, 2, 1, 0, 3}, {5, 3, 2, 1, 1, 3}, {6, 3, 2, 1, 0, 3}, {6, 3, 2, 1, 1, 4},
      {4, 2, 2, 0, 0, 2}, {4, 2, 2, 0, 1, 2}, {5, 2, 2, 0, 0, 2}, {5, 2, 2, 0, 1, 3},
      {1, 3, 1, 1, 0, 1}, {1, 3, 1, 1, 1, 1}, {7, 3, 3, 1, 0, 3}, {7, 3, 3, 1, 1, 3},
      {6, 4, 3, 2, 0, 3}, {6, 4, 3, 2, 1, 3}, {112, 3, 2, 1, 0, 56}, {112, 3, 2, 1, 1, 57},
      {8, 3, 3, 1, 0, 3}, {8, 3, 3, 1, 1, 3}, {9, 3, 3, 1, 0, 3}, {9, 3, 3, 1, 1, 4},
      {9, 2, 3, 1, 0, 4}, {9, 2, 3, 1, 1, 4},
  };
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const int *k = cases[i];
    /* The same case along H (with W fixed at a valid 4x4 window) and along W. */
    graft_pool2d_desc dh = pool_desc(GRAFT_POOL_MAX, 1, k[0], 4, 1, k[1], 1, k[2], 1, k[3], 0, k[4], 0);
    graft_pool2d_desc dw = pool_desc(GRAFT_POOL_AVG, 1, 4, k[0], 1, 1, k[1], 1, k[2], 0, k[3], k[4], 1);
    graft_status sh = graft_pool2d_setup(&dh), sw = graft_pool2d_setup(&dw);
    if (k[5] == 0) {
      if (sh != GRAFT_EINVAL || sw != GRAFT_EINVAL)
        printf("pool setup case %zu (in %d window %d stride %d pad %d ceil %d) was accepted\n", i,
               k[0], k[1], k[2], k[3], k[4]);
      assert_int_equal(sh, GRAFT_EINVAL);
      assert_int_equal(sw, GRAFT_EINVAL);
    } else {
      assert_int_equal(sh, GRAFT_OK);
      assert_int_equal(sw, GRAFT_OK);
      if (dh.p != k[5] || dw.q != k[5])
        printf("pool setup case %zu (in %d window %d stride %d pad %d ceil %d): got %d and %d, "
               "want %d\n", i, k[0], k[1], k[2], k[3], k[4], dh.p, dw.q, k[5]);
      assert_int_equal(dh.p, k[5]);
      assert_int_equal(dw.q, k[5]);
    }
  }
  graft_log_set_level(level);
}

static void test_pool_setup_rejects(void **state) {
  (void)state;
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  graft_pool2d_desc good = pool_desc(GRAFT_POOL_MAX, 2, 8, 8, 3, 3, 3, 2, 2, 1, 1, 0, 0);
  graft_pool2d_desc d = good;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  assert_int_equal(graft_pool2d_setup(NULL), GRAFT_EINVAL);
  d = good;
  d.kind = (graft_pool_kind)7;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.c = 0;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.h = -1;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.s = 0;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.stride_h = 0;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.pad_w = 2; /* more than half of a 3-wide window */
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.pad_h = -1;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);
  d = good;
  d.r = 11; /* larger than the padded input */
  d.pad_h = 1;
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_EINVAL);

  /* An op given a descriptor that did not go through setup refuses it. */
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[2 * 8 * 8 * 3] = {0}, y[2 * 4 * 4 * 3], dx[2 * 8 * 8 * 3] = {0};
  d = good;
  assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_ESHAPE);
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  d.q = 5;
  assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, y, dx), GRAFT_ESHAPE);
  assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
  assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, NULL, y, y, dx), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.global_avgpool_forward(&ctx, 2, 0, 3, x, y), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.global_avgpool_backward(&ctx, 2, 4, 3, NULL, dx),
                   GRAFT_EINVAL);
  tu_ctx_free(&ctx);
  graft_log_set_level(level);
}

/* ---- a naive reference ---------------------------------------------------
 * Visits every position of every window. A position counts toward
 * count_include_pad's divisor when it lies in the padded input, that is in
 * [-pad, in + pad) along both axes; it contributes a value when it lies in
 * the input. Max keeps the first strictly larger value. */
static void naive_pool(const graft_pool2d_desc *d, const float *x, const float *dy, float *y,
                       float *dx) {
  for (int n = 0; n < d->n; n++)
    for (int oh = 0; oh < d->p; oh++)
      for (int ow = 0; ow < d->q; ow++)
        for (int ch = 0; ch < d->c; ch++) {
          double sum = 0.0, best = -INFINITY;
          int in_pad = 0, in_input = 0;
          size_t at = 0;
          for (int i = 0; i < d->r; i++)
            for (int j = 0; j < d->s; j++) {
              int ih = oh * d->stride_h - d->pad_h + i, iw = ow * d->stride_w - d->pad_w + j;
              if (ih < d->h + d->pad_h && iw < d->w + d->pad_w) in_pad++;
              if (ih < 0 || iw < 0 || ih >= d->h || iw >= d->w) continue;
              size_t idx = (((size_t)n * d->h + ih) * d->w + iw) * d->c + ch;
              in_input++;
              sum += x[idx];
              if (x[idx] > best) {
                best = x[idx];
                at = idx;
              }
            }
          size_t o = (((size_t)n * d->p + oh) * d->q + ow) * d->c + ch;
          if (d->kind == GRAFT_POOL_MAX) {
            y[o] = (float)best;
            dx[at] += dy[o];
          } else {
            double div = d->count_include_pad ? in_pad : in_input;
            y[o] = (float)(sum / div);
            for (int i = 0; i < d->r; i++)
              for (int j = 0; j < d->s; j++) {
                int ih = oh * d->stride_h - d->pad_h + i, iw = ow * d->stride_w - d->pad_w + j;
                if (ih < 0 || iw < 0 || ih >= d->h || iw >= d->w) continue;
                dx[(((size_t)n * d->h + ih) * d->w + iw) * d->c + ch] += (float)(dy[o] / div);
              }
          }
        }
}

/* Every valid combination of window 1..3, stride 1..3, padding 0..window/2,
 * ceil_mode and count_include_pad, for both kinds, on inputs of odd and even
 * sizes; plus one larger case that runs threaded with more than one block of
 * channels. */
static void test_pool_vs_naive(void **state) {
  (void)state;
  static const int sizes[][4] = {{2, 5, 7, 3}, {1, 6, 4, 2}, {2, 12, 12, 70}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  tu_rng rng;
  tu_rng_seed(&rng, 5);
  int ok = 1, cases = 0;
  for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
    const int *sz = sizes[z];
    int big = z == 2;
    size_t nx = (size_t)sz[0] * sz[1] * sz[2] * sz[3];
    float *x = malloc(nx * sizeof(float)), *dx = malloc(nx * sizeof(float));
    float *wdx = malloc(nx * sizeof(float));
    float *y = malloc(nx * 9 * sizeof(float)), *wy = malloc(nx * 9 * sizeof(float));
    float *dy = malloc(nx * 9 * sizeof(float));
    assert_non_null(x);
    assert_non_null(dx);
    assert_non_null(wdx);
    assert_non_null(y);
    assert_non_null(wy);
    assert_non_null(dy);
    tu_fill_normal(&rng, x, nx, 1.0f);
    tu_fill_normal(&rng, dy, nx * 9, 1.0f);
    for (int kind = 0; kind < 2; kind++)
      for (int r = big ? 3 : 1; r <= 3; r++)
        for (int s = big ? 3 : 1; s <= 3; s++)
          for (int st = big ? 2 : 1; st <= (big ? 2 : 3); st++)
            for (int ph = big ? 1 : 0; ph <= r / 2; ph++)
              for (int pw = big ? 1 : 0; pw <= s / 2; pw++)
                for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
                  for (int cip = 0; cip < 2; cip++) {
                    graft_pool2d_desc d =
                        pool_desc(kind ? GRAFT_POOL_AVG : GRAFT_POOL_MAX, sz[0], sz[1], sz[2],
                                  sz[3], r, s, st, st == 3 ? 2 : st, ph, pw, ceil_mode, cip);
                    if (graft_pool2d_setup(&d) != GRAFT_OK) continue;
                    cases++;
                    size_t ny = out_size(&d);
                    memset(dx, 0, nx * sizeof(float));
                    memset(wdx, 0, nx * sizeof(float));
                    assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
                    assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx),
                                     GRAFT_OK);
                    naive_pool(&d, x, dy, wy, wdx);
                    char label[160];
                    snprintf(label, sizeof label,
                             "%s pool y (N %d H %d W %d C %d, window %dx%d, stride %dx%d, pad "
                             "%dx%d, ceil %d, include pad %d)",
                             kind ? "avg" : "max", d.n, d.h, d.w, d.c, r, s, d.stride_h,
                             d.stride_w, ph, pw, ceil_mode, cip);
                    ok &= tu_check_close(label, y, wy, ny, 1e-6, 1.0);
                    snprintf(label, sizeof label,
                             "%s pool dx (N %d H %d W %d C %d, window %dx%d, stride %dx%d, pad "
                             "%dx%d, ceil %d, include pad %d)",
                             kind ? "avg" : "max", d.n, d.h, d.w, d.c, r, s, d.stride_h,
                             d.stride_w, ph, pw, ceil_mode, cip);
                    ok &= tu_check_close(label, dx, wdx, nx, 1e-6, 1.0);
                  }
    free(x);
    free(dx);
    free(wdx);
    free(y);
    free(wy);
    free(dy);
  }
  graft_log_set_level(level);
  printf("pool vs naive: %d descriptors compared\n", cases);
  assert_true(cases > 100);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- finite differences --------------------------------------------------- */
typedef struct {
  graft_ctx *ctx;
  graft_pool2d_desc d;
  float *x; /* (N, H, W, C) */
} pool_fd;

static void pool_fd_forward(void *user, float *y) {
  pool_fd *f = user;
  assert_int_equal(graft_backend_ref.pool2d_forward(f->ctx, &f->d, f->x, y), GRAFT_OK);
}

/* Max pool inputs are a permutation of 0.05 * (0 .. n-1) - 2, so values
 * differ by at least 0.05 and a step of 0.01 never changes a window's
 * winner; average pool, which has no kinks, gets normal inputs. */
static void test_pool_gradcheck(void **state) {
  (void)state;
  static const int cfg[][13] = {
      /* kind, n, h, w, c, r, s, stride_h, stride_w, pad_h, pad_w, ceil, include pad */
      {GRAFT_POOL_MAX, 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 0},
      {GRAFT_POOL_MAX, 1, 5, 5, 66, 2, 2, 2, 2, 0, 0, 0, 0},
      {GRAFT_POOL_MAX, 2, 9, 7, 2, 3, 2, 1, 2, 1, 0, 1, 0},
      {GRAFT_POOL_AVG, 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 1},
      {GRAFT_POOL_AVG, 2, 7, 6, 3, 3, 3, 2, 2, 1, 1, 1, 0},
      {GRAFT_POOL_AVG, 1, 5, 5, 66, 2, 2, 2, 2, 1, 1, 1, 1},
      {GRAFT_POOL_AVG, 2, 9, 7, 2, 3, 2, 1, 2, 1, 0, 0, 0},
  };
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 9);
  int ok = 1;
  for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
    const int *g = cfg[k];
    pool_fd f = {.ctx = &ctx};
    f.d = pool_desc((graft_pool_kind)g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9],
                    g[10], g[11], g[12]);
    assert_int_equal(graft_pool2d_setup(&f.d), GRAFT_OK);
    size_t nx = in_size(&f.d), ny = out_size(&f.d);
    f.x = malloc(nx * sizeof(float));
    float *dx = calloc(nx, sizeof(float)), *y = malloc(ny * sizeof(float));
    float *dy = malloc(ny * sizeof(float));
    assert_non_null(f.x);
    assert_non_null(dx);
    assert_non_null(y);
    assert_non_null(dy);
    if (f.d.kind == GRAFT_POOL_MAX)
      for (size_t i = 0; i < nx; i++) f.x[i] = 0.05f * (float)((i * 7919) % nx) - 2.0f;
    else
      tu_fill_normal(&rng, f.x, nx, 1.0f);
    tu_fill_normal(&rng, dy, ny, 1.0f);
    pool_fd_forward(&f, y);
    assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &f.d, f.x, y, dy, dx), GRAFT_OK);
    char name[128];
    snprintf(name, sizeof name,
             "%s pool dx (N %d H %d W %d C %d, window %dx%d, ceil %d, include pad %d)",
             g[0] == GRAFT_POOL_MAX ? "max" : "avg", g[1], g[2], g[3], g[4], g[5], g[6], g[11],
             g[12]);
    ok &= tu_gradcheck(name, &f, pool_fd_forward, y, ny, dy, f.x, nx, dx, 1e-2, 1e-3) <= 1e-3;
    free(f.x);
    free(dx);
    free(y);
    free(dy);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Backward adds: from dx pre-filled with 1, two passes leave 1 + 2 * dx. */
static void test_pool_backward_accumulates(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 3);
  int ok = 1;
  for (int kind = 0; kind < 2; kind++) {
    graft_pool2d_desc d = pool_desc(kind ? GRAFT_POOL_AVG : GRAFT_POOL_MAX, 2, 6, 5, 4, 3, 3, 2,
                                    2, 1, 1, 1, 0);
    assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
    float x[240], y[96], dy[96], dx0[240] = {0}, dx[240], want[240];
    tu_fill_normal(&rng, x, in_size(&d), 1.0f);
    tu_fill_normal(&rng, dy, out_size(&d), 1.0f);
    assert_int_equal(graft_backend_ref.pool2d_forward(&ctx, &d, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx0), GRAFT_OK);
    for (size_t i = 0; i < in_size(&d); i++) {
      dx[i] = 1.0f;
      want[i] = 1.0f + 2.0f * dx0[i];
    }
    for (int pass = 0; pass < 2; pass++)
      assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, dx), GRAFT_OK);
    assert_int_equal(graft_backend_ref.pool2d_backward(&ctx, &d, x, y, dy, NULL), GRAFT_OK);
    ok &= tu_check_close(kind ? "avg pool dx accumulated" : "max pool dx accumulated", dx, want,
                         in_size(&d), 1e-6, 1.0);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- global average pooling ----------------------------------------------
 * (N, HW, C) = (2, 3, 2): x = 0..11, so image 0 averages rows (0 1) (2 3)
 * (4 5) to 2 3 and image 1 rows (6 7) (8 9) (10 11) to 8 9. Backward spreads
 * dy/3 over the three rows of its image. */
static void test_global_avgpool_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[12], y[4], dx[12];
  const float dy[4] = {3, -6, 1.5f, 0};
  const float want_y[4] = {2, 3, 8, 9};
  const float want_dx[12] = {1, -2, 1, -2, 1, -2, 0.5f, 0, 0.5f, 0, 0.5f, 0};
  for (int i = 0; i < 12; i++) {
    x[i] = (float)i;
    dx[i] = 1.0f;
  }
  assert_int_equal(graft_backend_ref.global_avgpool_forward(&ctx, 2, 3, 2, x, y), GRAFT_OK);
  int ok = tu_check_close("global avgpool hand y", y, want_y, 4, 1e-7, 1.0);
  assert_int_equal(graft_backend_ref.global_avgpool_backward(&ctx, 2, 3, 2, dy, dx), GRAFT_OK);
  for (int i = 0; i < 12; i++) dx[i] -= 1.0f;
  ok &= tu_check_close("global avgpool hand dx (accumulated onto 1)", dx, want_dx, 12, 1e-7, 1.0);
  assert_int_equal(graft_backend_ref.global_avgpool_backward(&ctx, 2, 3, 2, dy, NULL), GRAFT_OK);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  int n, hw, c;
  float *x; /* (N, HW, C) */
} gap_fd;

static void gap_fd_forward(void *user, float *y) {
  gap_fd *f = user;
  assert_int_equal(graft_backend_ref.global_avgpool_forward(f->ctx, f->n, f->hw, f->c, f->x, y),
                   GRAFT_OK);
}

/* Finite differences, and a larger case against a naive double sum. */
static void test_global_avgpool_gradcheck(void **state) {
  (void)state;
  static const int shapes[][3] = {{1, 1, 3}, {2, 49, 5}, {3, 7, 67}, {8, 49, 512}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 17);
  int ok = 1;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    gap_fd f = {.ctx = &ctx, .n = shapes[k][0], .hw = shapes[k][1], .c = shapes[k][2]};
    size_t nx = (size_t)f.n * f.hw * f.c, ny = (size_t)f.n * f.c;
    f.x = malloc(nx * sizeof(float));
    float *dx = calloc(nx, sizeof(float)), *y = malloc(ny * sizeof(float));
    float *dy = malloc(ny * sizeof(float)), *wy = malloc(ny * sizeof(float));
    assert_non_null(f.x);
    assert_non_null(dx);
    assert_non_null(y);
    assert_non_null(dy);
    assert_non_null(wy);
    tu_fill_normal(&rng, f.x, nx, 1.0f);
    tu_fill_normal(&rng, dy, ny, 1.0f);
    gap_fd_forward(&f, y);
    for (int i = 0; i < f.n; i++)
      for (int j = 0; j < f.c; j++) {
        double s = 0.0;
        for (int p = 0; p < f.hw; p++) s += f.x[((size_t)i * f.hw + p) * f.c + j];
        wy[(size_t)i * f.c + j] = (float)(s / f.hw);
      }
    char name[96];
    snprintf(name, sizeof name, "global avgpool y (N %d, HW %d, C %d)", f.n, f.hw, f.c);
    ok &= tu_check_close(name, y, wy, ny, 1e-6, 1.0);
    assert_int_equal(graft_backend_ref.global_avgpool_backward(&ctx, f.n, f.hw, f.c, dy, dx),
                     GRAFT_OK);
    if (nx <= 5000) {
      snprintf(name, sizeof name, "global avgpool dx (N %d, HW %d, C %d)", f.n, f.hw, f.c);
      ok &= tu_gradcheck(name, &f, gap_fd_forward, y, ny, dy, f.x, nx, dx, 1e-2, 1e-3) <= 1e-3;
    }
    free(f.x);
    free(dx);
    free(y);
    free(dy);
    free(wy);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pool_hand),
      cmocka_unit_test(test_max_pool_ties_first),
      cmocka_unit_test(test_max_pool_padding_and_nan),
      cmocka_unit_test(test_max_pool_matches_pytorch),
      cmocka_unit_test(test_avg_pool_include_pad_matches_pytorch),
      cmocka_unit_test(test_avg_pool_exclude_pad_matches_pytorch),
      cmocka_unit_test(test_avg_pool_ceil_no_pad_matches_pytorch),
      cmocka_unit_test(test_pool_setup_sizes),
      cmocka_unit_test(test_pool_setup_rejects),
      cmocka_unit_test(test_pool_vs_naive),
      cmocka_unit_test(test_pool_gradcheck),
      cmocka_unit_test(test_pool_backward_accumulates),
      cmocka_unit_test(test_global_avgpool_hand),
      cmocka_unit_test(test_global_avgpool_gradcheck),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

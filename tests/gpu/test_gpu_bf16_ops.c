/* test_gpu_bf16_ops.c: the elementwise op families of the CUDA backend
 * (activations, add and accumulate, dropout, concatenation, upsampling,
 * global average pooling, 2-D pooling) with activations stored as bf16
 * (ctx->act_dtype = GRAFT_DTYPE_BF16, ops.h), against the CPU reference.
 *
 * Every input is made in fp32 and rounded to bf16 on the host, so the
 * reference (graft_backend_ref, fp32) runs on exactly the values the device
 * loads. Inputs go up as 2-byte bf16 elements; results come back, are
 * widened on the host and compared element by element (gt_check_bf16,
 * gpu_testutil.h):
 *
 *   |got - want| <= 2^-8 * B + slack * max|want|
 *
 * 2^-8 is the unit roundoff of bf16 (8 significant bits): one rounding of
 * a value v moves it by at most 2^-8 |v|. B is |want| for a single call:
 * the device computes each element in fp32, in the reference's order, and
 * rounds once when it stores, including the backward ops that add into an
 * existing gradient (the old gradient is loaded, the terms added in fp32,
 * the sum rounded once). Where calls are chained, each call rounds once
 * more and B is the sum of the magnitudes of the stored intermediates.
 * slack is 0 where the device does the reference's float operations, and
 * small where its expf/tanhf or summation order differ from the host's.
 * Every output carries bf16 sentinels after its end that must stay
 * untouched. Skipped (exit 77) without a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "core/log.h"
#include "gpu_testutil.h"
#include "ops/math.h"
#include "ops/ops.h"

#define EXACT 0.0           /* the reference's float operations in its order */
#define TRANSCENDENTAL 4e-6 /* expf, log1pf, tanhf differ in the last fp32 bits */
#define SUMMED 1e-5         /* double sums taken in another order */

static const int64_t sizes[] = {1, 2, 7, 255, 256, 257, 1000, 65537, (1 << 20) + 3};
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* ---- activations ---------------------------------------------------------- */

static void test_activation(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 21);
  static const char *const names[GRAFT_ACT_COUNT] = {"identity", "relu", "leaky_relu",
                                                     "silu",     "mish", "sigmoid"};
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    float *x = gt_random_bf16(&rng, n, -8.0f, 8.0f);   /* (n) */
    float *dy = gt_random_bf16(&rng, n, -1.0f, 1.0f);  /* (n) */
    float *dx0 = gt_random_bf16(&rng, n, -1.0f, 1.0f); /* (n) initial gradient */
    float *y = malloc(n * sizeof(float));              /* (n) */
    float *dx = malloc(n * sizeof(float));             /* (n) */
    assert_non_null(y);
    assert_non_null(dx);
    float *dev_x = gt_upload_bf16(ctx, x, n), *dev_dy = gt_upload_bf16(ctx, dy, n);
    for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
      char label[96];
      const double slack = a == GRAFT_ACT_IDENTITY || a == GRAFT_ACT_RELU ||
                                   a == GRAFT_ACT_LEAKY_RELU
                               ? EXACT
                               : TRANSCENDENTAL;
      assert_int_equal(graft_backend_ref.act_forward(&ref, (graft_act)a, 0.1f, n, x, y), GRAFT_OK);
      float *dev_y = gt_upload_bf16(ctx, NULL, n);
      assert_int_equal(graft_backend_gpu.act_forward(ctx, (graft_act)a, 0.1f, n, dev_x, dev_y),
                       GRAFT_OK);
      snprintf(label, sizeof label, "%s forward n=%lld", names[a], (long long)n);
      ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, n, slack);
      gt_free(ctx, dev_y);

      /* Backward gets the forward output as bf16: the reference's y
       * rounded on the host, the same bits on both sides, so that the
       * device's own forward rounding is not charged to backward. */
      for (int64_t i = 0; i < n; i++) y[i] = graft_bf16_roundf(y[i]);
      memcpy(dx, dx0, n * sizeof(float));
      assert_int_equal(graft_backend_ref.act_backward(&ref, (graft_act)a, 0.1f, n, x, y, dy, dx),
                       GRAFT_OK);
      float *dev_yb = gt_upload_bf16(ctx, y, n), *dev_dx = gt_upload_bf16(ctx, dx0, n);
      assert_int_equal(
          graft_backend_gpu.act_backward(ctx, (graft_act)a, 0.1f, n, dev_x, dev_yb, dev_dy, dev_dx),
          GRAFT_OK);
      snprintf(label, sizeof label, "%s backward n=%lld", names[a], (long long)n);
      ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, n, slack);
      gt_free(ctx, dev_yb);
      gt_free(ctx, dev_dx);
    }
    gt_free(ctx, dev_x);
    gt_free(ctx, dev_dy);
    free(x), free(dy), free(dx0), free(y), free(dx);
  }
  assert_true(ok);
}

/* ---- add and accumulate --------------------------------------------------- */

static void test_add_accumulate(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 22);
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    char label[64];
    float *a = gt_random_bf16(&rng, n, -3, 3), *b = gt_random_bf16(&rng, n, -3, 3); /* (n) each */
    float *y = malloc(n * sizeof(float));                                           /* (n) */
    float *once = gt_dup(b, n);  /* (n) b + a */
    float *twice = gt_dup(b, n); /* (n) b + a + a, in two calls */
    float *mag = malloc(n * sizeof(float)); /* (n) |b + a| + |b + a + a| */
    assert_non_null(y);
    assert_non_null(mag);
    float *dev_a = gt_upload_bf16(ctx, a, n), *dev_b = gt_upload_bf16(ctx, b, n);
    float *dev_y = gt_upload_bf16(ctx, NULL, n);
    float *dev_once = gt_upload_bf16(ctx, b, n), *dev_twice = gt_upload_bf16(ctx, b, n);
    assert_int_equal(graft_backend_ref.add_forward(&ref, n, a, b, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.accumulate(&ref, n, a, once), GRAFT_OK);
    assert_int_equal(graft_backend_ref.accumulate(&ref, n, a, twice), GRAFT_OK);
    assert_int_equal(graft_backend_ref.accumulate(&ref, n, a, twice), GRAFT_OK);
    for (int64_t i = 0; i < n; i++) mag[i] = fabsf(once[i]) + fabsf(twice[i]);
    assert_int_equal(graft_backend_gpu.add_forward(ctx, n, dev_a, dev_b, dev_y), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.accumulate(ctx, n, dev_a, dev_once), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.accumulate(ctx, n, dev_a, dev_twice), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.accumulate(ctx, n, dev_a, dev_twice), GRAFT_OK);
    snprintf(label, sizeof label, "add n=%lld", (long long)n);
    ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, n, EXACT);
    snprintf(label, sizeof label, "accumulate n=%lld", (long long)n);
    ok &= gt_check_bf16(ctx, label, dev_once, once, NULL, n, EXACT);
    /* Two calls, two roundings: the first one's error is carried into the
     * second sum. The 1.01 covers the fp32 roundings of the reference. */
    for (int64_t i = 0; i < n; i++) mag[i] *= 1.01f;
    snprintf(label, sizeof label, "accumulate twice n=%lld", (long long)n);
    ok &= gt_check_bf16(ctx, label, dev_twice, twice, mag, n, EXACT);
    gt_free(ctx, dev_a), gt_free(ctx, dev_b), gt_free(ctx, dev_y);
    gt_free(ctx, dev_once), gt_free(ctx, dev_twice);
    free(a), free(b), free(y), free(once), free(twice), free(mag);
  }
  assert_true(ok);
}

/* An activation storage type the kernels have no instantiation for is
 * refused, not misread. */
static void test_unknown_storage(void **state) {
  graft_ctx ctx = *gt_ctx_of(state);
  ctx.act_dtype = GRAFT_DTYPE_F16;
  float *dev_x = gt_upload(&ctx, NULL, 4), *dev_y = gt_upload(&ctx, NULL, 4); /* (4) each */
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.add_forward(&ctx, 4, dev_x, dev_x, dev_y),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_backend_gpu.act_forward(&ctx, GRAFT_ACT_RELU, 0.0f, 4, dev_x, dev_y),
                   GRAFT_EUNSUPPORTED);
  graft_log_set_level(saved);
  gt_free(&ctx, dev_x), gt_free(&ctx, dev_y);
}

/* ---- dropout -------------------------------------------------------------- */

static void test_dropout(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 23);
  const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    float *x = gt_random_bf16(&rng, n, -2, 2), *dy = gt_random_bf16(&rng, n, -1, 1); /* (n) each */
    float *dx0 = gt_random_bf16(&rng, n, -1, 1);                                     /* (n) */
    float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));           /* (n) each */
    assert_non_null(y);
    assert_non_null(dx);
    float *dev_x = gt_upload_bf16(ctx, x, n), *dev_dy = gt_upload_bf16(ctx, dy, n);
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
      const uint64_t seed = 0x5eed0100u + pi;
      char label[64];
      memcpy(dx, dx0, n * sizeof(float));
      assert_int_equal(graft_backend_ref.dropout_forward(&ref, n, ps[pi], seed, x, y), GRAFT_OK);
      assert_int_equal(graft_backend_ref.dropout_backward(&ref, n, ps[pi], seed, dy, dx), GRAFT_OK);
      float *dev_y = gt_upload_bf16(ctx, NULL, n), *dev_dx = gt_upload_bf16(ctx, dx0, n);
      assert_int_equal(graft_backend_gpu.dropout_forward(ctx, n, ps[pi], seed, dev_x, dev_y),
                       GRAFT_OK);
      assert_int_equal(graft_backend_gpu.dropout_backward(ctx, n, ps[pi], seed, dev_dy, dev_dx),
                       GRAFT_OK);
      snprintf(label, sizeof label, "dropout p=%g forward n=%lld", (double)ps[pi], (long long)n);
      ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, n, EXACT);
      snprintf(label, sizeof label, "dropout p=%g backward n=%lld", (double)ps[pi], (long long)n);
      ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, n, EXACT);
      gt_free(ctx, dev_y), gt_free(ctx, dev_dx);
    }
    gt_free(ctx, dev_x), gt_free(ctx, dev_dy);
    free(x), free(dy), free(dx0), free(y), free(dx);
  }
  assert_true(ok);
}

/* ---- concatenation -------------------------------------------------------- */

typedef struct {
  int64_t m;
  int count;
  int cs[4];
} concat_case;

static void test_concat(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 24);
  const concat_case cases[] = {
      {1, 1, {3}},       {7, 2, {1, 2}},       {3136, 3, {64, 32, 1}},
      {5, 3, {5, 0, 7}}, {1, 4, {1, 1, 1, 1}}, {169, 2, {255, 129}},
  };
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const concat_case *cc = &cases[ci];
    int total = 0;
    for (int i = 0; i < cc->count; i++) total += cc->cs[i];
    const size_t ny = (size_t)cc->m * total;
    float *xs[4], *dxs[4], *dev_xs[4], *dev_dxs[4]; /* count x (M, cs[i]) */
    for (int i = 0; i < cc->count; i++) {
      const size_t ni = (size_t)cc->m * cc->cs[i];
      xs[i] = gt_random_bf16(&rng, ni, -1, 1);
      dxs[i] = gt_random_bf16(&rng, ni, -1, 1);
      dev_xs[i] = gt_upload_bf16(ctx, xs[i], ni);
      /* the second part's gradient is not wanted: its entry is NULL */
      dev_dxs[i] = i == 1 ? NULL : gt_upload_bf16(ctx, dxs[i], ni);
    }
    float *dy = gt_random_bf16(&rng, ny, -1, 1), *y = malloc(ny * sizeof(float)); /* (M, total) */
    assert_non_null(y);
    float *dev_y = gt_upload_bf16(ctx, NULL, ny), *dev_dy = gt_upload_bf16(ctx, dy, ny);
    float *ref_dxs[4];
    for (int i = 0; i < cc->count; i++) ref_dxs[i] = i == 1 ? NULL : dxs[i];
    assert_int_equal(graft_backend_ref.concat_forward(&ref, cc->m, cc->count,
                                                      (const float *const *)xs, cc->cs, y),
                     GRAFT_OK);
    assert_int_equal(graft_backend_ref.concat_backward(&ref, cc->m, cc->count, dy, cc->cs, ref_dxs),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.concat_forward(ctx, cc->m, cc->count,
                                                      (const float *const *)dev_xs, cc->cs, dev_y),
                     GRAFT_OK);
    assert_int_equal(
        graft_backend_gpu.concat_backward(ctx, cc->m, cc->count, dev_dy, cc->cs, dev_dxs),
        GRAFT_OK);
    char label[64];
    snprintf(label, sizeof label, "concat case %zu forward", ci);
    ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, ny, EXACT);
    for (int i = 0; i < cc->count; i++) {
      if (dev_dxs[i]) {
        snprintf(label, sizeof label, "concat case %zu backward part %d", ci, i);
        ok &= gt_check_bf16(ctx, label, dev_dxs[i], dxs[i], NULL, (size_t)cc->m * cc->cs[i], EXACT);
      }
      gt_free(ctx, dev_xs[i]), gt_free(ctx, dev_dxs[i]);
      free(xs[i]), free(dxs[i]);
    }
    gt_free(ctx, dev_y), gt_free(ctx, dev_dy);
    free(dy), free(y);
  }
  assert_true(ok);
}

/* ---- upsampling ----------------------------------------------------------- */

static void test_upsample(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 25);
  const int cases[][6] = {/* n, h, w, c, fh, fw */
                          {1, 1, 1, 1, 2, 2},
                          {2, 5, 3, 7, 2, 3},
                          {1, 13, 13, 255, 2, 2},
                          {3, 4, 9, 1, 1, 4},
                          {1, 26, 26, 128, 2, 2},
                          {1, 3, 5, 3, 3, 1}};
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int *u = cases[ci];
    const size_t nx = (size_t)u[0] * u[1] * u[2] * u[3];
    const size_t ny = nx * u[4] * u[5];
    float *x = gt_random_bf16(&rng, nx, -1, 1);  /* (N, H, W, C) */
    float *dx = gt_random_bf16(&rng, nx, -1, 1); /* (N, H, W, C) */
    float *dy = gt_random_bf16(&rng, ny, -1, 1); /* (N, H*fh, W*fw, C) */
    float *y = malloc(ny * sizeof(float));       /* (N, H*fh, W*fw, C) */
    assert_non_null(y);
    float *dev_x = gt_upload_bf16(ctx, x, nx), *dev_dx = gt_upload_bf16(ctx, dx, nx);
    float *dev_dy = gt_upload_bf16(ctx, dy, ny), *dev_y = gt_upload_bf16(ctx, NULL, ny);
    assert_int_equal(
        graft_backend_ref.upsample_forward(&ref, u[0], u[1], u[2], u[3], u[4], u[5], x, y),
        GRAFT_OK);
    assert_int_equal(
        graft_backend_ref.upsample_backward(&ref, u[0], u[1], u[2], u[3], u[4], u[5], dy, dx),
        GRAFT_OK);
    assert_int_equal(
        graft_backend_gpu.upsample_forward(ctx, u[0], u[1], u[2], u[3], u[4], u[5], dev_x, dev_y),
        GRAFT_OK);
    assert_int_equal(graft_backend_gpu.upsample_backward(ctx, u[0], u[1], u[2], u[3], u[4], u[5],
                                                         dev_dy, dev_dx),
                     GRAFT_OK);
    char label[64];
    snprintf(label, sizeof label, "upsample case %zu forward", ci);
    ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, ny, EXACT);
    snprintf(label, sizeof label, "upsample case %zu backward", ci);
    ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, nx, EXACT);
    gt_free(ctx, dev_x), gt_free(ctx, dev_dx), gt_free(ctx, dev_dy), gt_free(ctx, dev_y);
    free(x), free(dx), free(dy), free(y);
  }
  assert_true(ok);
}

/* ---- global average pooling ----------------------------------------------- */

static void test_global_avgpool(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 26);
  const int cases[][3] = {
      /* n, hw, c */
      {1, 1, 1}, {3, 7, 5}, {2, 49, 2048}, {1, 3136, 64}, {5, 9, 33}, {64, 49, 512}};
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int n = cases[ci][0], hw = cases[ci][1], c = cases[ci][2];
    const size_t nx = (size_t)n * hw * c, ny = (size_t)n * c;
    float *x = gt_random_bf16(&rng, nx, -2, 2);  /* (N, HW, C) */
    float *dx = gt_random_bf16(&rng, nx, -1, 1); /* (N, HW, C) */
    float *dy = gt_random_bf16(&rng, ny, -1, 1), *y = malloc(ny * sizeof(float)); /* (N, C) */
    assert_non_null(y);
    float *dev_x = gt_upload_bf16(ctx, x, nx), *dev_dx = gt_upload_bf16(ctx, dx, nx);
    float *dev_dy = gt_upload_bf16(ctx, dy, ny), *dev_y = gt_upload_bf16(ctx, NULL, ny);
    assert_int_equal(graft_backend_ref.global_avgpool_forward(&ref, n, hw, c, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.global_avgpool_backward(&ref, n, hw, c, dy, dx), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.global_avgpool_forward(ctx, n, hw, c, dev_x, dev_y),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.global_avgpool_backward(ctx, n, hw, c, dev_dy, dev_dx),
                     GRAFT_OK);
    char label[64];
    snprintf(label, sizeof label, "avgpool (%d, %d, %d) forward", n, hw, c);
    ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, ny, SUMMED);
    snprintf(label, sizeof label, "avgpool (%d, %d, %d) backward", n, hw, c);
    ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, nx, EXACT);
    gt_free(ctx, dev_x), gt_free(ctx, dev_dx), gt_free(ctx, dev_dy), gt_free(ctx, dev_y);
    free(x), free(dx), free(dy), free(y);
  }
  assert_true(ok);
}

/* ---- 2-D pooling ---------------------------------------------------------- */

typedef struct {
  graft_pool_kind kind;
  int n, h, w, c, r, s, stride_h, stride_w, pad_h, pad_w, ceil_mode, count_include_pad;
  int ties; /* inputs on a coarse grid, so that windows hold equal maxima */
} pool_case;

static void test_pool2d(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 27);
  const pool_case cases[] = {
      /* kind, n, h, w, c, r, s, stride, pad, ceil, count_include_pad, ties */
      {GRAFT_POOL_MAX, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0},
      {GRAFT_POOL_MAX, 2, 7, 5, 3, 3, 3, 2, 2, 1, 1, 0, 0, 1},
      {GRAFT_POOL_MAX, 2, 56, 56, 64, 3, 3, 2, 2, 1, 1, 0, 0, 0},
      {GRAFT_POOL_MAX, 3, 9, 11, 5, 2, 3, 2, 1, 1, 1, 1, 0, 1},
      {GRAFT_POOL_MAX, 1, 13, 13, 33, 3, 3, 1, 1, 1, 1, 0, 0, 1},
      {GRAFT_POOL_AVG, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0},
      {GRAFT_POOL_AVG, 2, 7, 5, 3, 3, 3, 2, 2, 1, 1, 0, 1, 0},
      {GRAFT_POOL_AVG, 1, 13, 13, 33, 3, 3, 2, 2, 1, 1, 1, 0, 0},
      {GRAFT_POOL_AVG, 4, 8, 8, 7, 2, 2, 2, 2, 0, 0, 0, 1, 0},
      {GRAFT_POOL_AVG, 1, 7, 7, 2048, 7, 7, 1, 1, 0, 0, 0, 1, 0},
  };
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const pool_case *pc = &cases[ci];
    graft_pool2d_desc d = {.kind = pc->kind,
                           .n = pc->n,
                           .h = pc->h,
                           .w = pc->w,
                           .c = pc->c,
                           .r = pc->r,
                           .s = pc->s,
                           .stride_h = pc->stride_h,
                           .stride_w = pc->stride_w,
                           .pad_h = pc->pad_h,
                           .pad_w = pc->pad_w,
                           .ceil_mode = pc->ceil_mode,
                           .count_include_pad = pc->count_include_pad};
    assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
    const size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * d.p * d.q * d.c;
    float *x = gt_random_bf16(&rng, nx, -2, 2);  /* (N, H, W, C) */
    float *dx = gt_random_bf16(&rng, nx, -1, 1); /* (N, H, W, C) initial gradient */
    float *dy = gt_random_bf16(&rng, ny, -1, 1); /* (N, P, Q, C) */
    float *y = malloc(ny * sizeof(float));       /* (N, P, Q, C) */
    assert_non_null(y);
    if (pc->ties)
      for (size_t i = 0; i < nx; i++) x[i] = floorf(x[i] * 2.0f) * 0.5f; /* 8 values */
    float *dev_x = gt_upload_bf16(ctx, x, nx), *dev_dx = gt_upload_bf16(ctx, dx, nx);
    float *dev_dy = gt_upload_bf16(ctx, dy, ny), *dev_y = gt_upload_bf16(ctx, NULL, ny);
    assert_int_equal(graft_backend_ref.pool2d_forward(&ref, &d, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.pool2d_backward(&ref, &d, x, y, dy, dx), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.pool2d_forward(ctx, &d, dev_x, dev_y), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.pool2d_backward(ctx, &d, dev_x, dev_y, dev_dy, dev_dx),
                     GRAFT_OK);
    char label[96];
    snprintf(label, sizeof label, "%s pool case %zu forward",
             pc->kind == GRAFT_POOL_MAX ? "max" : "avg", ci);
    ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, ny, EXACT);
    snprintf(label, sizeof label, "%s pool case %zu backward",
             pc->kind == GRAFT_POOL_MAX ? "max" : "avg", ci);
    ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, nx, EXACT);
    gt_free(ctx, dev_x), gt_free(ctx, dev_dx), gt_free(ctx, dev_dy), gt_free(ctx, dev_y);
    free(x), free(dx), free(dy), free(y);
  }
  assert_true(ok);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_bf16_ops: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activation),     cmocka_unit_test(test_add_accumulate),
      cmocka_unit_test(test_unknown_storage), cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_concat),         cmocka_unit_test(test_upsample),
      cmocka_unit_test(test_global_avgpool), cmocka_unit_test(test_pool2d),
  };
  return cmocka_run_group_tests(tests, gt_bf16_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_bf16_ops: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

/* test_gpu_ops.c: every op the CUDA backend implements against the CPU
 * reference (graft_backend_ref), over sweeps of shapes that include n = 1,
 * odd sizes and sizes past one block or one grid. Forward outputs and
 * accumulated gradients (which start from random values, so the adding is
 * checked too) are compared with tolerances relative to each tensor's
 * largest value: 0 where both backends do the same float operations, small
 * where the device's expf or summation order differs. Every output buffer
 * carries sentinel floats after its end that must stay untouched. Skipped
 * (exit 77) without a GPU. */
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
#include "ops/ops.h"

#define EXACT 0.0
#define TRANSCENDENTAL 2e-6 /* expf, log1pf, tanhf differ in the last bits */
#define SUMMED 1e-5         /* sums taken in another order */

static const int64_t sizes[] = {1, 2, 7, 255, 256, 257, 1000, 65537, (1 << 20) + 3};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void ref_ctx(graft_ctx *ref) {
  tu_ctx_init(ref, 0);
}

/* ---- activations --------------------------------------------------------- */

static void test_activation(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 11);
  static const char *const names[GRAFT_ACT_COUNT] = {"identity", "relu", "leaky_relu",
                                                     "silu",     "mish", "sigmoid"};
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    float *x = gt_random(&rng, n, -8.0f, 8.0f);     /* (n) */
    float *dy = gt_random(&rng, n, -1.0f, 1.0f);    /* (n) */
    float *dx0 = gt_random(&rng, n, -1.0f, 1.0f);   /* (n) initial gradient */
    float *y = malloc(n * sizeof(float));           /* (n) */
    float *dx = malloc(n * sizeof(float));          /* (n) */
    float *dev_x = gt_upload(ctx, x, n), *dev_dy = gt_upload(ctx, dy, n);
    for (int a = 0; a < GRAFT_ACT_COUNT; a++) {
      char label[96];
      const double tol = a == GRAFT_ACT_IDENTITY || a == GRAFT_ACT_RELU || a == GRAFT_ACT_LEAKY_RELU
                             ? EXACT
                             : TRANSCENDENTAL;
      memcpy(dx, dx0, n * sizeof(float));
      assert_int_equal(graft_backend_ref.act_forward(&ref, (graft_act)a, 0.1f, n, x, y), GRAFT_OK);
      assert_int_equal(graft_backend_ref.act_backward(&ref, (graft_act)a, 0.1f, n, x, y, dy, dx),
                       GRAFT_OK);
      float *dev_y = gt_upload(ctx, NULL, n), *dev_dx = gt_upload(ctx, dx0, n);
      assert_int_equal(graft_backend_gpu.act_forward(ctx, (graft_act)a, 0.1f, n, dev_x, dev_y),
                       GRAFT_OK);
      assert_int_equal(
          graft_backend_gpu.act_backward(ctx, (graft_act)a, 0.1f, n, dev_x, dev_y, dev_dy, dev_dx),
          GRAFT_OK);
      snprintf(label, sizeof label, "%s forward n=%lld", names[a], (long long)n);
      ok &= gt_check(ctx, label, dev_y, y, n, tol);
      snprintf(label, sizeof label, "%s backward n=%lld", names[a], (long long)n);
      ok &= gt_check(ctx, label, dev_dx, dx, n, tol);
      gt_free(ctx, dev_y);
      gt_free(ctx, dev_dx);
    }
    gt_free(ctx, dev_x);
    gt_free(ctx, dev_dy);
    free(x), free(dy), free(dx0), free(y), free(dx);
  }
  assert_true(ok);
}

/* ---- add and accumulate -------------------------------------------------- */

static void test_add_accumulate(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 12);
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    char label[64];
    float *a = gt_random(&rng, n, -3, 3), *b = gt_random(&rng, n, -3, 3);     /* (n) each */
    float *y = malloc(n * sizeof(float));                                     /* (n) */
    float *dst = gt_dup(b, n);                                                /* (n) */
    float *dev_a = gt_upload(ctx, a, n), *dev_b = gt_upload(ctx, b, n);
    float *dev_y = gt_upload(ctx, NULL, n), *dev_dst = gt_upload(ctx, b, n);
    assert_int_equal(graft_backend_ref.add_forward(&ref, n, a, b, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.accumulate(&ref, n, a, dst), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.add_forward(ctx, n, dev_a, dev_b, dev_y), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.accumulate(ctx, n, dev_a, dev_dst), GRAFT_OK);
    snprintf(label, sizeof label, "add n=%lld", (long long)n);
    ok &= gt_check(ctx, label, dev_y, y, n, EXACT);
    snprintf(label, sizeof label, "accumulate n=%lld", (long long)n);
    ok &= gt_check(ctx, label, dev_dst, dst, n, EXACT);
    gt_free(ctx, dev_a), gt_free(ctx, dev_b), gt_free(ctx, dev_y), gt_free(ctx, dev_dst);
    free(a), free(b), free(y), free(dst);
  }
  assert_true(ok);
}

/* ---- dropout -------------------------------------------------------------- */

static void test_dropout(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 13);
  const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f};
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    float *x = gt_random(&rng, n, -2, 2), *dx0 = gt_random(&rng, n, -1, 1);     /* (n) each */
    float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));      /* (n) each */
    float *dev_x = gt_upload(ctx, x, n);
    for (size_t pi = 0; pi < sizeof ps / sizeof ps[0]; pi++) {
      const uint64_t seed = 0x5eed0000u + pi;
      char label[64];
      memcpy(dx, dx0, n * sizeof(float));
      assert_int_equal(graft_backend_ref.dropout_forward(&ref, n, ps[pi], seed, x, y), GRAFT_OK);
      assert_int_equal(graft_backend_ref.dropout_backward(&ref, n, ps[pi], seed, x, dx), GRAFT_OK);
      float *dev_y = gt_upload(ctx, NULL, n), *dev_dx = gt_upload(ctx, dx0, n);
      assert_int_equal(graft_backend_gpu.dropout_forward(ctx, n, ps[pi], seed, dev_x, dev_y),
                       GRAFT_OK);
      assert_int_equal(graft_backend_gpu.dropout_backward(ctx, n, ps[pi], seed, dev_x, dev_dx),
                       GRAFT_OK);
      snprintf(label, sizeof label, "dropout p=%g forward n=%lld", (double)ps[pi], (long long)n);
      ok &= gt_check(ctx, label, dev_y, y, n, EXACT);
      snprintf(label, sizeof label, "dropout p=%g backward n=%lld", (double)ps[pi], (long long)n);
      ok &= gt_check(ctx, label, dev_dx, dx, n, EXACT);
      gt_free(ctx, dev_y), gt_free(ctx, dev_dx);
    }
    gt_free(ctx, dev_x);
    free(x), free(dx0), free(y), free(dx);
  }
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.dropout_forward(ctx, 4, 1.0f, 1, NULL, NULL), GRAFT_EINVAL);
  graft_log_set_level(saved);
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
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 14);
  const concat_case cases[] = {
      {1, 1, {3}},       {7, 2, {1, 2}},       {3136, 3, {64, 32, 1}},
      {5, 3, {5, 0, 7}}, {1, 4, {1, 1, 1, 1}}, {169, 2, {256, 128}},
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
      xs[i] = gt_random(&rng, ni, -1, 1);
      dxs[i] = gt_random(&rng, ni, -1, 1);
      dev_xs[i] = gt_upload(ctx, xs[i], ni);
      /* the second part's gradient is not wanted: its entry is NULL */
      dev_dxs[i] = i == 1 ? NULL : gt_upload(ctx, dxs[i], ni);
    }
    float *dy = gt_random(&rng, ny, -1, 1), *y = malloc(ny * sizeof(float)); /* (M, total) */
    float *dev_y = gt_upload(ctx, NULL, ny), *dev_dy = gt_upload(ctx, dy, ny);
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
    ok &= gt_check(ctx, label, dev_y, y, ny, EXACT);
    for (int i = 0; i < cc->count; i++) {
      if (dev_dxs[i]) {
        snprintf(label, sizeof label, "concat case %zu backward part %d", ci, i);
        ok &= gt_check(ctx, label, dev_dxs[i], dxs[i], (size_t)cc->m * cc->cs[i], EXACT);
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
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 15);
  const int cases[][6] = {/* n, h, w, c, fh, fw */
                          {1, 1, 1, 1, 2, 2},
                          {2, 5, 3, 7, 2, 3},
                          {1, 13, 13, 256, 2, 2},
                          {3, 4, 9, 1, 1, 4},
                          {1, 26, 26, 128, 2, 2}};
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int *u = cases[ci];
    const size_t nx = (size_t)u[0] * u[1] * u[2] * u[3];
    const size_t ny = nx * u[4] * u[5];
    float *x = gt_random(&rng, nx, -1, 1), *dx = gt_random(&rng, nx, -1, 1); /* (N, H, W, C) */
    float *dy = gt_random(&rng, ny, -1, 1);   /* (N, H*fh, W*fw, C) */
    float *y = malloc(ny * sizeof(float));    /* (N, H*fh, W*fw, C) */
    float *dev_x = gt_upload(ctx, x, nx), *dev_dx = gt_upload(ctx, dx, nx);
    float *dev_dy = gt_upload(ctx, dy, ny), *dev_y = gt_upload(ctx, NULL, ny);
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
    ok &= gt_check(ctx, label, dev_y, y, ny, EXACT);
    snprintf(label, sizeof label, "upsample case %zu backward", ci);
    ok &= gt_check(ctx, label, dev_dx, dx, nx, EXACT);
    gt_free(ctx, dev_x), gt_free(ctx, dev_dx), gt_free(ctx, dev_dy), gt_free(ctx, dev_y);
    free(x), free(dx), free(dy), free(y);
  }
  assert_true(ok);
}

/* ---- global average pooling ----------------------------------------------- */

static void test_global_avgpool(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 16);
  const int cases[][3] = {
      /* n, hw, c */
      {1, 1, 1}, {3, 7, 5}, {2, 49, 2048}, {1, 3136, 64}, {5, 9, 33}, {64, 49, 512}};
  int ok = 1;
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
    const int n = cases[ci][0], hw = cases[ci][1], c = cases[ci][2];
    const size_t nx = (size_t)n * hw * c, ny = (size_t)n * c;
    float *x = gt_random(&rng, nx, -2, 2), *dx = gt_random(&rng, nx, -1, 1); /* (N, HW, C) */
    float *dy = gt_random(&rng, ny, -1, 1), *y = malloc(ny * sizeof(float)); /* (N, C) */
    float *dev_x = gt_upload(ctx, x, nx), *dev_dx = gt_upload(ctx, dx, nx);
    float *dev_dy = gt_upload(ctx, dy, ny), *dev_y = gt_upload(ctx, NULL, ny);
    assert_int_equal(graft_backend_ref.global_avgpool_forward(&ref, n, hw, c, x, y), GRAFT_OK);
    assert_int_equal(graft_backend_ref.global_avgpool_backward(&ref, n, hw, c, dy, dx), GRAFT_OK);
    assert_int_equal(graft_backend_gpu.global_avgpool_forward(ctx, n, hw, c, dev_x, dev_y),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.global_avgpool_backward(ctx, n, hw, c, dev_dy, dev_dx),
                     GRAFT_OK);
    char label[64];
    snprintf(label, sizeof label, "avgpool (%d, %d, %d) forward", n, hw, c);
    ok &= gt_check(ctx, label, dev_y, y, ny, SUMMED);
    snprintf(label, sizeof label, "avgpool (%d, %d, %d) backward", n, hw, c);
    ok &= gt_check(ctx, label, dev_dx, dx, nx, EXACT);
    gt_free(ctx, dev_x), gt_free(ctx, dev_dx), gt_free(ctx, dev_dy), gt_free(ctx, dev_y);
    free(x), free(dx), free(dy), free(y);
  }
  assert_true(ok);
}

/* ---- softmax cross-entropy ------------------------------------------------ */

static void test_xent(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 17);
  const int shapes[][2] = {{1, 1}, {1, 10}, {7, 3}, {33, 37}, {256, 1000}, {300, 5}, {2, 4097}};
  int ok = 1;
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    const int n = shapes[si][0], k = shapes[si][1];
    const size_t nz = (size_t)n * k;
    float *z = gt_random(&rng, nz, -6, 6);         /* (N, K) */
    float *dz0 = gt_random(&rng, nz, -1, 1);       /* (N, K) initial gradient */
    float *cw = gt_random(&rng, k, 0.2f, 2);       /* (K) */
    int32_t *labels = malloc(n * sizeof(int32_t)); /* (N) */
    for (int i = 0; i < n; i++) labels[i] = (int32_t)(tu_uniform(&rng, 0, 1) * k) % k;
    if (n > 2) labels[1] = -100; /* an ignored sample */
    float *dev_z = gt_upload(ctx, z, nz), *dev_cw = gt_upload(ctx, cw, k);
    int32_t *dev_labels = gt_upload_bytes(ctx, labels, n * sizeof(int32_t));
    const float dloss = 0.75f;
    float *dev_dloss = gt_upload(ctx, &dloss, 1);
    for (int variant = 0; variant < 4; variant++) {
      const int weighted = variant & 1;
      graft_xent_desc d = {.n = n,
                           .k = k,
                           .label_smoothing = variant & 2 ? 0.1f : 0.0f,
                           .ignore_index = -100,
                           .class_weight = weighted ? cw : NULL};
      graft_xent_desc dd = d;
      dd.class_weight = weighted ? dev_cw : NULL;
      float loss = 0.0f, *dz = gt_dup(dz0, nz);
      assert_int_equal(graft_backend_ref.xent_forward(&ref, &d, z, labels, &loss), GRAFT_OK);
      assert_int_equal(graft_backend_ref.xent_backward(&ref, &d, z, labels, &dloss, dz), GRAFT_OK);
      float *dev_loss = gt_upload(ctx, NULL, 1), *dev_dz = gt_upload(ctx, dz0, nz);
      assert_int_equal(graft_backend_gpu.xent_forward(ctx, &dd, dev_z, dev_labels, dev_loss),
                       GRAFT_OK);
      assert_int_equal(
          graft_backend_gpu.xent_backward(ctx, &dd, dev_z, dev_labels, dev_dloss, dev_dz),
          GRAFT_OK);
      char label[96];
      snprintf(label, sizeof label, "xent (%d, %d) weights %d smoothing %g loss", n, k, weighted,
               (double)d.label_smoothing);
      ok &= gt_check(ctx, label, dev_loss, &loss, 1, SUMMED);
      snprintf(label, sizeof label, "xent (%d, %d) weights %d smoothing %g dlogits", n, k, weighted,
               (double)d.label_smoothing);
      ok &= gt_check(ctx, label, dev_dz, dz, nz, SUMMED);
      gt_free(ctx, dev_loss), gt_free(ctx, dev_dz);
      free(dz);
    }
    gt_free(ctx, dev_z), gt_free(ctx, dev_cw), gt_free(ctx, dev_labels), gt_free(ctx, dev_dloss);
    free(z), free(dz0), free(cw), free(labels);
  }
  assert_true(ok);
}

/* ---- binary cross-entropy and mean squared error -------------------------- */

typedef graft_status (*loss_fwd)(graft_ctx *, int64_t, const float *, const float *, float *);
typedef graft_status (*loss_bwd)(graft_ctx *, int64_t, const float *, const float *, const float *,
                                 float *);

static int check_mean_loss(graft_ctx *ctx, graft_ctx *ref, tu_rng *rng, const char *name,
                           loss_fwd ref_f, loss_bwd ref_b, loss_fwd gpu_f, loss_bwd gpu_b,
                           double grad_tol) {
  int ok = 1;
  for (size_t si = 0; si < NSIZES; si++) {
    const int64_t n = sizes[si];
    float *a = gt_random(rng, n, -10, 10), *t = gt_random(rng, n, 0, 1); /* (n) each */
    float *da0 = gt_random(rng, n, -1, 1), *da = gt_dup(da0, n);         /* (n) each */
    const float dloss = 1.5f;
    float loss = 0.0f;
    assert_int_equal(ref_f(ref, n, a, t, &loss), GRAFT_OK);
    assert_int_equal(ref_b(ref, n, a, t, &dloss, da), GRAFT_OK);
    float *dev_a = gt_upload(ctx, a, n), *dev_t = gt_upload(ctx, t, n);
    float *dev_da = gt_upload(ctx, da0, n), *dev_loss = gt_upload(ctx, NULL, 1);
    float *dev_dloss = gt_upload(ctx, &dloss, 1);
    assert_int_equal(gpu_f(ctx, n, dev_a, dev_t, dev_loss), GRAFT_OK);
    assert_int_equal(gpu_b(ctx, n, dev_a, dev_t, dev_dloss, dev_da), GRAFT_OK);
    char label[64];
    snprintf(label, sizeof label, "%s loss n=%lld", name, (long long)n);
    ok &= gt_check(ctx, label, dev_loss, &loss, 1, SUMMED);
    snprintf(label, sizeof label, "%s gradient n=%lld", name, (long long)n);
    ok &= gt_check(ctx, label, dev_da, da, n, grad_tol);
    gt_free(ctx, dev_a), gt_free(ctx, dev_t), gt_free(ctx, dev_da), gt_free(ctx, dev_loss);
    gt_free(ctx, dev_dloss);
    free(a), free(t), free(da0), free(da);
  }
  return ok;
}

static void test_bce_mse(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  ref_ctx(&ref);
  tu_rng rng;
  tu_rng_seed(&rng, 18);
  int ok = check_mean_loss(ctx, &ref, &rng, "bce", graft_backend_ref.bce_forward,
                           graft_backend_ref.bce_backward, graft_backend_gpu.bce_forward,
                           graft_backend_gpu.bce_backward, TRANSCENDENTAL);
  ok &= check_mean_loss(ctx, &ref, &rng, "mse", graft_backend_ref.mse_forward,
                        graft_backend_ref.mse_backward, graft_backend_gpu.mse_forward,
                        graft_backend_gpu.mse_backward, EXACT);
  assert_true(ok);
}

/* The losses' partial sums need the workspace; a context without one is
 * told so rather than written out of bounds. */
static void test_loss_needs_workspace(void **state) {
  graft_ctx ctx = *gt_ctx_of(state);
  ctx.workspace_bytes = 16;
  float *dev = gt_upload(&ctx, NULL, 4);
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.mse_forward(&ctx, 4, dev, dev, dev), GRAFT_EWORKSPACE);
  graft_log_set_level(saved);
  gt_free(&ctx, dev);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_ops: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activation),
      cmocka_unit_test(test_add_accumulate),
      cmocka_unit_test(test_dropout),
      cmocka_unit_test(test_concat),
      cmocka_unit_test(test_upsample),
      cmocka_unit_test(test_global_avgpool),
      cmocka_unit_test(test_xent),
      cmocka_unit_test(test_bce_mse),
      cmocka_unit_test(test_loss_needs_workspace),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_ops: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

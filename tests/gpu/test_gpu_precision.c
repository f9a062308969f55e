/* test_gpu_precision.c: the precision modes outside the convolution
 * (test_gpu_conv.c has those): the fp32 <-> bf16 conversions of
 * cuda/cast.h and its bias add over a bf16 tensor, bit for bit against
 * the host's rounding (ops/math.h), and the linear op in fp32, tf32 and
 * bf16 against the CPU reference (graft_linear_*_ref) over shapes with
 * n = 1, odd sizes and a ResNet head, with a bias, and with gradients that
 * start from random values so the adding is checked. Every device output
 * carries sentinels after its end.
 *
 * In bf16 the linear op's x and dx are bf16 activations (ops.h): the test
 * rounds x and the starting dx on the host (graft_round_bf16), uploads the
 * 2-byte bits with bf16 sentinels behind them, and reads dx back widened;
 * y, dy, w, dw and dbias stay fp32. The references are computed on those
 * widened values, so the bf16 activations themselves are no error.
 *
 * Tolerances of the linear op, relative to each tensor's largest value,
 * with L the reduction length (in for y, out for dx, N for dw):
 *  - fp32: FP32_TOL (1e-5, cuBLASLt and OpenBLAS sum in other orders);
 *  - tf32: gt_tf32_tol(L) = 1e-2, growing as sqrt(L)/16 past L = 256 (TF32
 *    keeps 10 mantissa bits of each input);
 *  - bf16 against the reference with fp32 w and dy: gt_bf16_tol(L) = 3e-2,
 *    growing as sqrt(L)/16 past L = 256 (8 mantissa bits per input).
 *    Against the reference on bf16-rounded w and dy as well: for the fp32
 *    outputs y and dw BF16_ROUNDED_TOL (1e-4): the GEMM takes bf16
 *    inputs, whose products are exact in fp32, and accumulates and writes
 *    fp32, so only the summation order differs; for the bf16 dx
 *    BF16_STORED_TOL (4e-3): dx + dy w is rounded to bf16 once, at most
 *    2^-9 of the largest |dx|, with room for the summation order. And y
 *    must differ from the reference with fp32 w by more than BF16_MIN_ERR,
 *    so a bf16 mode that silently kept w in fp32 fails;
 *  - dbias is summed from the fp32 dy in every mode: FP32_TOL.
 * In bf16 the largest error of each comparison is printed. Skipped
 * (exit 77) without a GPU. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "cast.h"
#include "core/log.h"
#include "gpu_testutil.h"
#include "ops/math.h"
#include "ops/ops.h"
#include "ops_gpu.h"

#define FP32_TOL 1e-5
#define BF16_ROUNDED_TOL 1e-4
#define BF16_STORED_TOL 4e-3
#define BF16_MIN_ERR 1e-4

/* The tolerances of gt_check_prec for the linear op's y, dx and dw. */
static const gt_prec_tol linear_tol = {
    .fp32 = FP32_TOL,
    .rounded = BF16_ROUNDED_TOL,
    .rounded_stored = BF16_STORED_TOL,
    .min_err = BF16_MIN_ERR,
    .inputs = "w and dy",
};

static float from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

static uint32_t bits_of(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

/* ---- casts ------------------------------------------------------------------ */

/* n floats: the special patterns first, then random bits of every kind. */
static float *cast_inputs(tu_rng *rng, size_t n) {
  static const uint32_t special[] = {
      0x00000000u, 0x80000000u, 0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u,
      0x3f807fffu, 0xbf818000u, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu, 0xff7fffffu,
      0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xff800001u, 0x00000001u,
      0x00008000u, 0x00018000u, 0x007fffffu};
  float *x = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(x);
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)(tu_uniform(rng, 0.0f, 1.0f) * 65536.0f) << 16 |
                 (uint32_t)(tu_uniform(rng, 0.0f, 1.0f) * 65536.0f);
    x[i] = i < sizeof special / sizeof special[0] ? from_bits(special[i]) : from_bits(u);
  }
  return x;
}

/* Same bits, or both NaN (a NaN's payload may change in an add). */
static int same_float(float a, float b) {
  return bits_of(a) == bits_of(b) || (isnan(a) && isnan(b));
}

static int check_casts(graft_ctx *ctx, tu_rng *rng, size_t n, int k) {
  float *x = cast_inputs(rng, n);
  float *bias = malloc((size_t)k * sizeof(float)), *acc = malloc(n * sizeof(float)); /* (k), (n) */
  assert_non_null(bias);
  assert_non_null(acc);
  tu_fill_uniform(rng, bias, (size_t)k, -4.0f, 4.0f);
  tu_fill_uniform(rng, acc, n, -4.0f, 4.0f);
  uint16_t *host_b = malloc((n + GT_GUARD) * sizeof(uint16_t)); /* (n + guard) */
  assert_non_null(host_b);
  for (size_t i = 0; i < n + GT_GUARD; i++) host_b[i] = GT_BF16_SENTINEL;
  void *dev_b = NULL;
  assert_int_equal(graft_gpu_alloc(ctx, &dev_b, (n + GT_GUARD) * sizeof(uint16_t)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_h2d(ctx, dev_b, host_b, (n + GT_GUARD) * sizeof(uint16_t)),
                   GRAFT_OK);
  float *dev_x = gt_upload(ctx, x, n), *dev_y = gt_upload(ctx, NULL, n);
  float *dev_acc = gt_upload(ctx, acc, n), *dev_bias = gt_upload(ctx, bias, (size_t)k);

  assert_int_equal(graft_cast_f32_to_bf16(ctx, (int64_t)n, dev_x, dev_b), GRAFT_OK);
  assert_int_equal(graft_cast_bf16_to_f32(ctx, (int64_t)n, dev_b, dev_bias, k, dev_y), GRAFT_OK);
  assert_int_equal(graft_add_bf16_to_f32(ctx, (int64_t)n, dev_b, dev_acc), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2h(ctx, host_b, dev_b, (n + GT_GUARD) * sizeof(uint16_t)),
                   GRAFT_OK);
  /* then y = bf16(float(b) + bias) in place, read back with its guard */
  uint16_t *host_c = malloc((n + GT_GUARD) * sizeof(uint16_t)); /* (n + guard) */
  assert_non_null(host_c);
  assert_int_equal(graft_bias_add_bf16(ctx, (int64_t)n, k, dev_bias, dev_b), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2h(ctx, host_c, dev_b, (n + GT_GUARD) * sizeof(uint16_t)),
                   GRAFT_OK);
  float *y = malloc(n * sizeof(float)), *got_acc = malloc(n * sizeof(float)); /* (n) each */
  assert_non_null(y);
  assert_non_null(got_acc);
  char label[64];
  snprintf(label, sizeof label, "bf16 to fp32 n=%zu", n);
  int ok = gt_download(ctx, label, dev_y, y, n);
  snprintf(label, sizeof label, "bf16 add n=%zu", n);
  ok &= gt_download(ctx, label, dev_acc, got_acc, n);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    const uint16_t want = graft_round_bf16(x[i]);
    const float wy = graft_widen_bf16(want) + bias[i % (size_t)k];
    const float wa = acc[i] + graft_widen_bf16(want);
    const uint16_t wc = graft_round_bf16(graft_widen_bf16(want) + bias[i % (size_t)k]);
    const int c_ok = host_c[i] == wc || (isnan(graft_widen_bf16(host_c[i])) &&
                                         isnan(graft_widen_bf16(wc)));
    if (host_b[i] != want || !same_float(y[i], wy) || !same_float(got_acc[i], wa) || !c_ok) {
      if (bad++ < 4)
        fprintf(stderr,
                "MISMATCH cast n=%zu at %zu: 0x%08x -> 0x%04x (want 0x%04x), widened %.9g (want "
                "%.9g), added %.9g (want %.9g), bias added 0x%04x (want 0x%04x)\n",
                n, i, (unsigned)bits_of(x[i]), (unsigned)host_b[i], (unsigned)want, (double)y[i],
                (double)wy, (double)got_acc[i], (double)wa, (unsigned)host_c[i], (unsigned)wc);
    }
  }
  for (size_t i = 0; i < GT_GUARD; i++)
    if ((host_b[n + i] != GT_BF16_SENTINEL || host_c[n + i] != GT_BF16_SENTINEL) && bad++ < 8)
      fprintf(stderr, "GUARD cast n=%zu: bf16 %zu past the end was overwritten\n", n, i);
  gt_free(ctx, dev_b), gt_free(ctx, dev_x), gt_free(ctx, dev_y), gt_free(ctx, dev_acc);
  gt_free(ctx, dev_bias);
  free(x), free(bias), free(acc), free(host_b), free(host_c), free(y), free(got_acc);
  return ok && bad == 0;
}

static void test_casts(void **state) {
  graft_ctx *ctx = *state;
  tu_rng rng;
  tu_rng_seed(&rng, 41);
  const size_t sizes[] = {1, 21, 257, 65537, ((size_t)1 << 20) + 3};
  const int ks[] = {1, 7, 64, 1000, 3};
  int ok = 1;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    ok &= check_casts(ctx, &rng, sizes[i], ks[i]);
  assert_true(ok);
}

/* ---- linear ------------------------------------------------------------------ */

typedef struct {
  int n, in, out;
} linear_case;

static const linear_case linear_cases[] = {
    {1, 1, 1}, {5, 3, 7}, {33, 130, 17}, {7, 2048, 1000}, {256, 512, 10}, {64, 257, 129},
};

static int check_linear(graft_ctx *ctx, const linear_case *lc, tu_rng *rng) {
  const graft_linear_desc d = {lc->n, lc->in, lc->out};
  const size_t nx = (size_t)d.n * d.in, nw = (size_t)d.out * d.in, ny = (size_t)d.n * d.out;
  const size_t nb = (size_t)d.out;
  float *x = gt_random(rng, nx, -1.0f, 1.0f), *w = gt_random(rng, nw, -1.0f, 1.0f);
  float *bias = gt_random(rng, nb, -1.0f, 1.0f), *dy = gt_random(rng, ny, -1.0f, 1.0f);
  float *dx0 = gt_random(rng, nx, -1.0f, 1.0f), *dw0 = gt_random(rng, nw, -1.0f, 1.0f);
  float *db0 = gt_random(rng, nb, -1.0f, 1.0f);
  if (ctx->act_dtype == GRAFT_DTYPE_BF16) /* the activations as stored: x and dx bf16 */
    for (size_t i = 0; i < nx; i++)
      x[i] = graft_bf16_roundf(x[i]), dx0[i] = graft_bf16_roundf(dx0[i]);
  float *y = malloc(ny * sizeof(float)), *ry = malloc(ny * sizeof(float)); /* (N, out) each */
  assert_non_null(y);
  assert_non_null(ry);
  float *dx = gt_dup(dx0, nx), *dw = gt_dup(dw0, nw), *db = gt_dup(db0, nb);
  float *rdx = gt_dup(dx0, nx), *rdw = gt_dup(dw0, nw);
  float *xb = gt_dup_bf16(x, nx), *wb = gt_dup_bf16(w, nw), *dyb = gt_dup_bf16(dy, ny);
  graft_ctx ref;
  tu_ctx_init(&ref, 0);
  assert_int_equal(graft_linear_forward_ref(&ref, &d, x, w, bias, y), GRAFT_OK);
  assert_int_equal(graft_linear_backward_ref(&ref, &d, x, w, dy, dx, dw, db), GRAFT_OK);
  assert_int_equal(graft_linear_forward_ref(&ref, &d, xb, wb, bias, ry), GRAFT_OK);
  assert_int_equal(graft_linear_backward_ref(&ref, &d, xb, wb, dyb, rdx, rdw, NULL), GRAFT_OK);
  tu_ctx_free(&ref);

  float *dev_x = gt_upload_act(ctx, x, nx), *dev_w = gt_upload(ctx, w, nw);
  float *dev_bias = gt_upload(ctx, bias, nb), *dev_dy = gt_upload(ctx, dy, ny);
  float *dev_y = gt_upload(ctx, NULL, ny), *dev_dx = gt_upload_act(ctx, dx0, nx);
  float *dev_dw = gt_upload(ctx, dw0, nw), *dev_db = gt_upload(ctx, db0, nb);
  assert_int_equal(graft_backend_gpu.linear_forward(ctx, &d, dev_x, dev_w, dev_bias, dev_y),
                   GRAFT_OK);
  assert_int_equal(
      graft_backend_gpu.linear_backward(ctx, &d, dev_x, dev_w, dev_dy, dev_dx, dev_dw, dev_db),
      GRAFT_OK);

  const char *mode = graft_precision_name(ctx->precision);
  char label[128];
  int ok = 1;
  snprintf(label, sizeof label, "linear %s (%d, %d -> %d) forward", mode, d.n, d.in, d.out);
  ok &= gt_check_prec(ctx, label, dev_y, y, ry, ny, d.in, 0, d.in > 1, &linear_tol);
  snprintf(label, sizeof label, "linear %s (%d, %d -> %d) dx", mode, d.n, d.in, d.out);
  ok &= gt_check_prec(ctx, label, dev_dx, dx, rdx, nx, d.out, 1, 0, &linear_tol);
  snprintf(label, sizeof label, "linear %s (%d, %d -> %d) dw", mode, d.n, d.in, d.out);
  ok &= gt_check_prec(ctx, label, dev_dw, dw, rdw, nw, d.n, 0, 0, &linear_tol);
  snprintf(label, sizeof label, "linear %s (%d, %d -> %d) dbias", mode, d.n, d.in, d.out);
  ok &= gt_check(ctx, label, dev_db, db, nb, FP32_TOL);

  float *devs[] = {dev_x, dev_w, dev_bias, dev_dy, dev_y, dev_dx, dev_dw, dev_db};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) gt_free(ctx, devs[i]);
  float *hosts[] = {x, w, bias, dy, dx0, dw0, db0, y, ry, dx, dw, db, rdx, rdw, xb, wb, dyb};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) free(hosts[i]);
  return ok;
}

static void test_linear_modes(void **state) {
  int ok = 1;
  for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
    graft_ctx ctx = gt_ctx_in(*state, (graft_precision)prec);
    tu_rng rng;
    tu_rng_seed(&rng, 43);
    for (size_t i = 0; i < sizeof linear_cases / sizeof linear_cases[0]; i++) {
      const graft_linear_desc d = {linear_cases[i].n, linear_cases[i].in, linear_cases[i].out};
      assert_true(graft_linear_workspace_gpu(&d, ctx.precision) <= ctx.workspace_bytes);
      ok &= check_linear(&ctx, &linear_cases[i], &rng);
    }
  }
  assert_true(ok);
}

/* A bf16 linear whose workspace cannot hold its bf16 copies of w and dy
 * says so, and one whose workspace holds exactly them runs (cuBLASLt then
 * without scratch). A bf16 precision on fp32 activations is refused. */
static void test_linear_bf16_workspace(void **state) {
  graft_ctx ctx = gt_ctx_in(*state, GRAFT_PREC_BF16);
  const graft_linear_desc d = {9, 33, 5};
  const size_t need = graft_linear_workspace_gpu(&d, GRAFT_PREC_BF16);
  float *x = gt_upload_act(&ctx, NULL, (size_t)d.n * d.in);
  float *dx = gt_upload_act(&ctx, NULL, (size_t)d.n * d.in);
  float *w = gt_upload(&ctx, NULL, (size_t)d.out * d.in);
  float *dw = gt_upload(&ctx, NULL, (size_t)d.out * d.in);
  float *y = gt_upload(&ctx, NULL, (size_t)d.n * d.out);
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  ctx.workspace_bytes = need - 1;
  assert_int_equal(graft_backend_gpu.linear_forward(&ctx, &d, x, w, NULL, y), GRAFT_EWORKSPACE);
  assert_int_equal(graft_backend_gpu.linear_backward(&ctx, &d, x, w, y, dx, dw, NULL),
                   GRAFT_EWORKSPACE);
  ctx.workspace_bytes = need;
  ctx.act_dtype = GRAFT_DTYPE_F32;
  assert_int_equal(graft_backend_gpu.linear_forward(&ctx, &d, x, w, NULL, y), GRAFT_EUNSUPPORTED);
  graft_log_set_level(saved);
  ctx.act_dtype = GRAFT_DTYPE_BF16;
  assert_int_equal(graft_backend_gpu.linear_forward(&ctx, &d, x, w, NULL, y), GRAFT_OK);
  assert_int_equal(graft_backend_gpu.linear_backward(&ctx, &d, x, w, y, dx, dw, NULL), GRAFT_OK);
  assert_int_equal(graft_gpu_sync(&ctx), GRAFT_OK);
  gt_free(&ctx, x), gt_free(&ctx, dx), gt_free(&ctx, w), gt_free(&ctx, dw), gt_free(&ctx, y);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_precision: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_casts),
      cmocka_unit_test(test_linear_modes),
      cmocka_unit_test(test_linear_bf16_workspace),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_precision: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

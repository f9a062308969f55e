/* test_gpu_conv.c: the cuDNN convolution of the CUDA backend against the
 * CPU reference (graft_conv2d_forward_ref / backward_ref) over a sweep:
 * the 7x7/2 stem (without dx, as a first layer), 3x3/1, 3x3/2, 1x1/1,
 * 1x1/2, groups, depthwise, odd sizes with dilation and unequal strides,
 * N = 1; with and without bias. Gradients start from random values, so the
 * adding into dx, dw and dbias is checked too, and every output carries
 * sentinel floats after its end. A second test checks the plan cache and
 * the workspace contract: each plan needs at most
 * graft_conv2d_workspace_gpu(d) bytes, and a second lookup finds the same
 * plan.
 *
 * Tolerance (relative to each tensor's largest value): FP32_TOL. The GPU
 * entries key their plans with allow_tf32 = 0, which keeps tensor-core
 * (TF32) engines out for fp32 tensors; plain fp32 engines differ from the
 * reference only in summation order and in Winograd or FFT transforms
 * (about 1e-6 to 1e-5 here), while TF32's 10-bit mantissa would leave
 * errors of a few 1e-4, so the tolerance also catches a TF32 engine that
 * slipped through. Skipped (exit 77) without a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "conv_plan_cache.h"
#include "gpu_testutil.h"
#include "ops/ops.h"

#define FP32_TOL 5e-5

typedef struct {
  const char *name;
  int n, h, w, c, k, r, s;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int bias; /* forward adds a bias, backward sums dbias */
  int dx;   /* backward computes dx (a first layer does not) */
} conv_case;

static const conv_case cases[] = {
    {"stem 7x7/2", 2, 32, 30, 3, 16, 7, 7, 2, 2, 3, 3, 1, 1, 1, 0, 0},
    {"3x3/1", 2, 14, 14, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1},
    {"3x3/2 bias", 2, 15, 13, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},
    {"1x1/1", 3, 7, 7, 32, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 1},
    {"1x1/2 bias", 2, 9, 9, 16, 32, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, 1},
    {"3x3 groups 4", 2, 10, 10, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 1},
    {"3x3 depthwise bias", 2, 11, 11, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 16, 1, 1},
    {"odd 3x2 dil 2x1 stride 2x1", 1, 5, 7, 5, 7, 3, 2, 2, 1, 1, 0, 2, 1, 1, 1, 1},
    {"N=1 3x3/1", 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1},
};
#define NCASES (sizeof cases / sizeof cases[0])

static graft_conv2d_desc case_desc(const conv_case *cs) {
  graft_conv2d_desc d = {.n = cs->n, .h = cs->h, .w = cs->w, .c = cs->c, .k = cs->k,
                         .r = cs->r, .s = cs->s, .stride_h = cs->stride_h,
                         .stride_w = cs->stride_w, .pad_h = cs->pad_h, .pad_w = cs->pad_w,
                         .dil_h = cs->dil_h, .dil_w = cs->dil_w, .groups = cs->groups};
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  return d;
}

static size_t x_len(const graft_conv2d_desc *d) { return (size_t)d->n * d->h * d->w * d->c; }
static size_t w_len(const graft_conv2d_desc *d) {
  return (size_t)d->k * d->r * d->s * (d->c / d->groups);
}
static size_t y_len(const graft_conv2d_desc *d) { return (size_t)d->n * d->p * d->q * d->k; }

static float *host_random(tu_rng *rng, size_t n) {
  float *x = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(x);
  tu_fill_uniform(rng, x, n, -1.0f, 1.0f);
  return x;
}

/* One case, forward and backward, against the reference. */
static int check_case(graft_ctx *ctx, const conv_case *cs, tu_rng *rng) {
  const graft_conv2d_desc d = case_desc(cs);
  const size_t nx = x_len(&d), nw = w_len(&d), ny = y_len(&d), nk = (size_t)d.k;
  graft_ctx ref;
  tu_ctx_init(&ref, graft_conv2d_workspace_ref(&d));
  float *x = host_random(rng, nx), *w = host_random(rng, nw), *bias = host_random(rng, nk);
  float *dy = host_random(rng, ny);
  float *dx = host_random(rng, nx), *dw = host_random(rng, nw), *db = host_random(rng, nk);
  float *y = malloc(ny * sizeof(float)); /* (N, P, Q, K) */
  assert_non_null(y);
  float *dev_x = gt_upload(ctx, x, nx), *dev_w = gt_upload(ctx, w, nw);
  float *dev_bias = gt_upload(ctx, bias, nk), *dev_dy = gt_upload(ctx, dy, ny);
  float *dev_y = gt_upload(ctx, NULL, ny), *dev_dx = gt_upload(ctx, dx, nx);
  float *dev_dw = gt_upload(ctx, dw, nw), *dev_db = gt_upload(ctx, db, nk);
  const float *b = cs->bias ? bias : NULL;
  const float *dev_b = cs->bias ? dev_bias : NULL;

  assert_int_equal(graft_conv2d_forward_ref(&ref, &d, x, w, b, y), GRAFT_OK);
  assert_int_equal(graft_conv2d_backward_ref(&ref, &d, x, w, dy, cs->dx ? dx : NULL, dw,
                                             cs->bias ? db : NULL),
                   GRAFT_OK);
  assert_int_equal(graft_backend_gpu.conv2d_forward(ctx, &d, dev_x, dev_w, dev_b, dev_y),
                   GRAFT_OK);
  assert_int_equal(graft_backend_gpu.conv2d_backward(ctx, &d, dev_x, dev_w, dev_dy,
                                                     cs->dx ? dev_dx : NULL, dev_dw,
                                                     cs->bias ? dev_db : NULL),
                   GRAFT_OK);

  char label[128];
  int ok = 1;
  snprintf(label, sizeof label, "%s forward", cs->name);
  ok &= gt_check(ctx, label, dev_y, y, ny, FP32_TOL);
  snprintf(label, sizeof label, "%s dx", cs->name);
  ok &= gt_check(ctx, label, dev_dx, dx, nx, FP32_TOL); /* untouched when the case has no dx */
  snprintf(label, sizeof label, "%s dw", cs->name);
  ok &= gt_check(ctx, label, dev_dw, dw, nw, FP32_TOL);
  snprintf(label, sizeof label, "%s dbias", cs->name);
  ok &= gt_check(ctx, label, dev_db, db, nk, FP32_TOL); /* untouched without a bias */

  float *devs[] = {dev_x, dev_w, dev_bias, dev_dy, dev_y, dev_dx, dev_dw, dev_db};
  for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++) gt_free(ctx, devs[i]);
  float *hosts[] = {x, w, bias, dy, dx, dw, db, y};
  for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++) free(hosts[i]);
  tu_ctx_free(&ref);
  return ok;
}

static void test_conv_sweep(void **state) {
  graft_ctx *ctx = *state;
  tu_rng rng;
  tu_rng_seed(&rng, 29);
  int ok = 1;
  for (size_t i = 0; i < NCASES; i++) ok &= check_case(ctx, &cases[i], &rng);
  assert_true(ok);
}

/* Every plan of the sweep fits graft_conv2d_workspace_gpu(d) and the
 * context's workspace, and is found again, not remade. */
static void test_plan_cache_workspace(void **state) {
  graft_ctx *ctx = *state;
  for (size_t i = 0; i < NCASES; i++) {
    const graft_conv2d_desc d = case_desc(&cases[i]);
    const size_t limit = graft_backend_gpu.conv2d_workspace(&d);
    const graft_conv_dir dirs[] = {GRAFT_CONV_FORWARD, GRAFT_CONV_FORWARD,
                                   GRAFT_CONV_BACKWARD_DATA, GRAFT_CONV_BACKWARD_FILTER};
    for (size_t j = 0; j < sizeof dirs / sizeof dirs[0]; j++) {
      graft_conv_key key;
      memset(&key, 0, sizeof key);
      key.desc = d;
      key.dir = dirs[j];
      key.io = GRAFT_DTYPE_F32;
      key.with_bias = j == 1;
      const graft_conv_plan *p = NULL, *again = NULL;
      assert_int_equal(graft_conv_plan_get(ctx, &key, &p), GRAFT_OK);
      assert_int_equal(graft_conv_plan_get(ctx, &key, &again), GRAFT_OK);
      assert_ptr_equal(p, again);
      if (!p->plan) {
        assert_int_equal(j, 1); /* only a fused bias may lack an engine */
        continue;
      }
      assert_true(p->workspace <= limit);
      assert_true(p->workspace <= ctx->workspace_bytes);
    }
  }
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_conv: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_sweep),
      cmocka_unit_test(test_plan_cache_workspace),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_conv: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

/* test_gpu_conv.c: the cuDNN convolution of the CUDA backend against the
 * CPU reference (graft_conv2d_forward_ref / backward_ref) over a sweep, in
 * each precision mode: the 7x7/2 stem (without dx, as a first layer),
 * 3x3/1, 3x3/2, 1x1/1, 1x1/2, groups, depthwise, odd sizes with dilation
 * and unequal strides, N = 1; with and without bias. Gradients start from
 * random values, so the adding into dx, dw and dbias is checked too, and
 * every output carries sentinels after its end. Further tests check the
 * plan cache (each plan fits graft_conv2d_workspace_gpu(d) and the
 * context's workspace, a second lookup finds the same plan, and the modes
 * keep plans of their own), plans made while a CUDA graph is captured (no
 * timing, and the captured graph computes the same), and a bf16
 * convolution refused a workspace too small for its bf16 copy of w, or
 * activations not stored as bf16.
 *
 * In bf16 the activations x, y, dx and dy are bf16 (ops.h): the test
 * rounds x, dy and the starting dx on the host (graft_round_bf16),
 * uploads the 2-byte bits with bf16 sentinels behind them, and reads y and
 * dx back widened; w, dw, bias and dbias stay fp32. The references are
 * computed on the widened activations, so their storage is no error.
 *
 * Tolerances, each relative to the tensor's largest value, with L the
 * reduction length of the output (R*S*C/groups for y, R*S*K/groups for dx,
 * N*P*Q for dw):
 *  - fp32: FP32_TOL. The plans keep tensor-core (TF32) engines out for
 *    fp32 tensors; plain fp32 engines differ from the reference only in
 *    summation order and in Winograd or FFT transforms (about 1e-6 to 1e-5
 *    here), while TF32's 10-bit mantissa would leave errors of a few 1e-4,
 *    so the tolerance also catches a TF32 engine that slipped through.
 *  - tf32: gt_tf32_tol(L) = 1e-2, growing as sqrt(L)/16 past L = 256. TF32
 *    keeps 10 of the 23 mantissa bits of x and w (a relative error up to
 *    2^-11 rounded, 2^-10 truncated, per input); summed over L products of
 *    random sign the error relative to the largest output stays near a few
 *    times that, and sqrt(L) bounds its growth.
 *  - bf16, against the reference with fp32 w: gt_bf16_tol(L) = 3e-2, growing
 *    as sqrt(L)/16 past L = 256 (8 mantissa bits: 2^-9 per rounded w,
 *    plus the rounding of the bf16 result, 2^-9). Against the reference
 *    with w rounded as well (graft_bf16_roundf, the casts' own rounding):
 *    BF16_ROUNDED_TOL, what the bf16 roundings of the results leave: y
 *    once (twice with a bias: the convolution, then y + bias), dx once
 *    (dx + the result, through beta 1), dw once (before it is added into
 *    the fp32 dw); 2^-9 of a value near the largest output each when
 *    rounded to nearest, 2^-8 truncated, with room for a bias or initial
 *    gradient of the size of the result. And the forward must differ from
 *    the reference with fp32 w by more than BF16_MIN_ERR, so a bf16 mode
 *    that silently ran in fp32 fails.
 *  - dbias is summed from dy (the widened bf16 dy in bf16) in fp32 in
 *    every mode: FP32_TOL.
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

#include "conv_plan_cache.h"
#include "core/log.h"
#include "gpu_testutil.h"
#include "ops/math.h"
#include "ops/ops.h"

#define FP32_TOL 5e-5
#define BF16_ROUNDED_TOL 1.5e-2
#define BF16_MIN_ERR 1e-4

/* The tolerances of gt_check_prec for the convolution's outputs. */
static const gt_prec_tol conv_tol = {
    .fp32 = FP32_TOL,
    .rounded = BF16_ROUNDED_TOL,
    .rounded_stored = BF16_ROUNDED_TOL,
    .min_err = BF16_MIN_ERR,
    .inputs = "w",
};

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

/* Shapes no other test uses, so their plans are made under capture. */
static const conv_case capture_cases[] = {
    {"capture 3x3/1 bias", 2, 12, 12, 8, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"capture 1x1/2", 1, 9, 11, 24, 40, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0, 1},
};

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

/* The host data of one case and what the reference makes of it. */
typedef struct {
  graft_conv2d_desc d;
  float *x, *w, *bias, *dy;       /* inputs; x, dy as stored (bf16-rounded in bf16) */
  float *dx0, *dw0, *db0;         /* gradients before the backward; dx0 as stored */
  float *y, *dx, *dw, *db;        /* the reference with fp32 w */
  float *ry, *rdx, *rdw;          /* the reference on bf16-rounded w (and the rest) */
} conv_data;

/* Random data for cs, the activations rounded to bf16 when act is bf16,
 * and the references. */
static void data_init(conv_data *t, const conv_case *cs, tu_rng *rng, graft_dtype act) {
  t->d = case_desc(cs);
  const graft_conv2d_desc *d = &t->d;
  const size_t nx = x_len(d), nw = w_len(d), ny = y_len(d), nk = (size_t)d->k;
  t->x = gt_random(rng, nx, -1.0f, 1.0f), t->w = gt_random(rng, nw, -1.0f, 1.0f);
  t->bias = gt_random(rng, nk, -1.0f, 1.0f), t->dy = gt_random(rng, ny, -1.0f, 1.0f);
  t->dx0 = gt_random(rng, nx, -1.0f, 1.0f), t->dw0 = gt_random(rng, nw, -1.0f, 1.0f);
  t->db0 = gt_random(rng, nk, -1.0f, 1.0f);
  if (act == GRAFT_DTYPE_BF16) { /* the activations as stored */
    for (size_t i = 0; i < nx; i++)
      t->x[i] = graft_bf16_roundf(t->x[i]), t->dx0[i] = graft_bf16_roundf(t->dx0[i]);
    for (size_t i = 0; i < ny; i++) t->dy[i] = graft_bf16_roundf(t->dy[i]);
  }
  t->y = malloc(ny * sizeof(float));  /* (N, P, Q, K) */
  t->ry = malloc(ny * sizeof(float)); /* (N, P, Q, K) */
  assert_non_null(t->y);
  assert_non_null(t->ry);
  t->dx = gt_dup(t->dx0, nx), t->dw = gt_dup(t->dw0, nw), t->db = gt_dup(t->db0, nk);
  t->rdx = gt_dup(t->dx0, nx), t->rdw = gt_dup(t->dw0, nw);

  graft_ctx ref;
  tu_ctx_init(&ref, graft_conv2d_workspace_ref(d));
  const float *b = cs->bias ? t->bias : NULL;
  assert_int_equal(graft_conv2d_forward_ref(&ref, d, t->x, t->w, b, t->y), GRAFT_OK);
  assert_int_equal(graft_conv2d_backward_ref(&ref, d, t->x, t->w, t->dy, cs->dx ? t->dx : NULL,
                                             t->dw, cs->bias ? t->db : NULL),
                   GRAFT_OK);
  float *xb = gt_dup_bf16(t->x, nx), *wb = gt_dup_bf16(t->w, nw), *dyb = gt_dup_bf16(t->dy, ny);
  assert_int_equal(graft_conv2d_forward_ref(&ref, d, xb, wb, b, t->ry), GRAFT_OK);
  assert_int_equal(
      graft_conv2d_backward_ref(&ref, d, xb, wb, dyb, cs->dx ? t->rdx : NULL, t->rdw, NULL),
      GRAFT_OK);
  free(xb), free(wb), free(dyb);
  tu_ctx_free(&ref);
}

static void data_free(conv_data *t) {
  float *all[] = {t->x,  t->w, t->bias, t->dy, t->dx0, t->dw0, t->db0, t->y,
                  t->dx, t->dw, t->db,  t->ry, t->rdx, t->rdw};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Device copies of a case's tensors, every one with its guard. */
typedef struct {
  float *x, *w, *bias, *dy, *y, *dx, *dw, *db;
} conv_dev;

/* x, dy, y and dx as ctx stores activations; w, bias, dw and dbias fp32. */
static void dev_init(graft_ctx *ctx, conv_dev *v, const conv_data *t) {
  const graft_conv2d_desc *d = &t->d;
  const size_t nx = x_len(d), nw = w_len(d), ny = y_len(d), nk = (size_t)d->k;
  v->x = gt_upload_act(ctx, t->x, nx), v->w = gt_upload(ctx, t->w, nw);
  v->bias = gt_upload(ctx, t->bias, nk), v->dy = gt_upload_act(ctx, t->dy, ny);
  v->y = gt_upload_act(ctx, NULL, ny), v->dx = gt_upload_act(ctx, t->dx0, nx);
  v->dw = gt_upload(ctx, t->dw0, nw), v->db = gt_upload(ctx, t->db0, nk);
}

static void dev_free(graft_ctx *ctx, conv_dev *v) {
  float *all[] = {v->x, v->w, v->bias, v->dy, v->y, v->dx, v->dw, v->db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gt_free(ctx, all[i]);
}

/* Compares the device results of a case with the reference. */
static int check_results(graft_ctx *ctx, const conv_case *cs, const conv_data *t,
                         const conv_dev *v, const char *mode) {
  const graft_conv2d_desc *d = &t->d;
  const int64_t cg = d->c / d->groups, kg = d->k / d->groups;
  char label[160];
  int ok = 1;
  snprintf(label, sizeof label, "%s %s forward", cs->name, mode);
  ok &= gt_check_prec(ctx, label, v->y, t->y, t->ry, y_len(d), (int64_t)d->r * d->s * cg, 1, 1,
                      &conv_tol);
  snprintf(label, sizeof label, "%s %s dx", cs->name, mode);
  /* untouched when the case has no dx */
  ok &= gt_check_prec(ctx, label, v->dx, t->dx, t->rdx, x_len(d), (int64_t)d->r * d->s * kg, 1, 0,
                      &conv_tol);
  snprintf(label, sizeof label, "%s %s dw", cs->name, mode);
  ok &= gt_check_prec(ctx, label, v->dw, t->dw, t->rdw, w_len(d), (int64_t)d->n * d->p * d->q, 0, 0,
                      &conv_tol);
  snprintf(label, sizeof label, "%s %s dbias", cs->name, mode);
  ok &= gt_check(ctx, label, v->db, t->db, (size_t)d->k, FP32_TOL); /* untouched without a bias */
  return ok;
}

/* One case, forward and backward in ctx's precision, against the reference. */
static int check_case(graft_ctx *ctx, const conv_case *cs, tu_rng *rng) {
  conv_data t;
  conv_dev v;
  data_init(&t, cs, rng, ctx->act_dtype);
  dev_init(ctx, &v, &t);
  assert_int_equal(
      graft_backend_gpu.conv2d_forward(ctx, &t.d, v.x, v.w, cs->bias ? v.bias : NULL, v.y),
      GRAFT_OK);
  assert_int_equal(graft_backend_gpu.conv2d_backward(ctx, &t.d, v.x, v.w, v.dy,
                                                     cs->dx ? v.dx : NULL, v.dw,
                                                     cs->bias ? v.db : NULL),
                   GRAFT_OK);
  int ok = check_results(ctx, cs, &t, &v, graft_precision_name(ctx->precision));
  dev_free(ctx, &v);
  data_free(&t);
  return ok;
}

static void test_conv_sweep(void **state) {
  int ok = 1;
  for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
    graft_ctx ctx = gt_ctx_in(*state, (graft_precision)prec);
    tu_rng rng;
    tu_rng_seed(&rng, 29);
    for (size_t i = 0; i < NCASES; i++) ok &= check_case(&ctx, &cases[i], &rng);
  }
  assert_true(ok);
}

/* Every plan of the sweep, in every mode, fits graft_conv2d_workspace_gpu(d)
 * and the context's workspace, is found again, not remade, and is not
 * another mode's plan. */
static void test_plan_cache_workspace(void **state) {
  graft_ctx *ctx = *state;
  for (size_t i = 0; i < NCASES; i++) {
    const graft_conv2d_desc d = case_desc(&cases[i]);
    const size_t limit = graft_backend_gpu.conv2d_workspace(&d);
    const graft_conv_dir dirs[] = {GRAFT_CONV_FORWARD, GRAFT_CONV_FORWARD,
                                   GRAFT_CONV_BACKWARD_DATA, GRAFT_CONV_BACKWARD_FILTER};
    for (size_t j = 0; j < sizeof dirs / sizeof dirs[0]; j++) {
      const graft_conv_plan *seen[GRAFT_PREC_COUNT];
      for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
        graft_conv_key key;
        const int bias = j == 1 && prec != GRAFT_PREC_BF16; /* bf16 never fuses the bias */
        assert_int_equal(graft_conv_key_init(&key, &d, dirs[j], (graft_precision)prec, bias),
                         GRAFT_OK);
        const graft_conv_plan *p = NULL, *again = NULL;
        assert_int_equal(graft_conv_plan_get(ctx, &key, &p), GRAFT_OK);
        assert_int_equal(graft_conv_plan_get(ctx, &key, &again), GRAFT_OK);
        assert_ptr_equal(p, again);
        assert_int_equal(p->key.prec, prec);
        for (int q = 0; q < prec; q++) assert_ptr_not_equal(p, seen[q]);
        seen[prec] = p;
        if (!p->plan) {
          assert_true(bias); /* only a fused bias may lack an engine */
          continue;
        }
        assert_true(p->workspace <= graft_conv_workspace_limit(&d));
        assert_true(p->workspace <= limit);
        assert_true(p->workspace <= ctx->workspace_bytes);
      }
    }
  }
}

/* Plans made while the stream is captured into a CUDA graph are chosen
 * untimed (nothing allocated, waited for or timed: the capture would be
 * invalidated), and the graph computes what the reference does. */
static void test_plans_under_capture(void **state) {
  const graft_precision modes[] = {GRAFT_PREC_TF32, GRAFT_PREC_BF16};
  int ok = 1;
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    graft_ctx ctx = gt_ctx_in(*state, modes[m]);
    graft_gpu *g = graft_gpu_of(&ctx);
    tu_rng rng;
    tu_rng_seed(&rng, 31 + m);
    for (size_t i = 0; i < sizeof capture_cases / sizeof capture_cases[0]; i++) {
      const conv_case *cs = &capture_cases[i];
      conv_data t;
      conv_dev v;
      data_init(&t, cs, &rng, ctx.act_dtype);
      dev_init(&ctx, &v, &t);
      cudaGraph_t graph = NULL;
      cudaGraphExec_t exec = NULL;
      assert_int_equal(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeGlobal), cudaSuccess);
      g->capturing = 1;
      graft_status fwd = graft_backend_gpu.conv2d_forward(&ctx, &t.d, v.x, v.w,
                                                          cs->bias ? v.bias : NULL, v.y);
      graft_status bwd = graft_backend_gpu.conv2d_backward(
          &ctx, &t.d, v.x, v.w, v.dy, cs->dx ? v.dx : NULL, v.dw, cs->bias ? v.db : NULL);
      g->capturing = 0;
      assert_int_equal(cudaStreamEndCapture(g->stream, &graph), cudaSuccess);
      assert_int_equal(fwd, GRAFT_OK);
      assert_int_equal(bwd, GRAFT_OK);
      assert_int_equal(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
      assert_int_equal(cudaGraphLaunch(exec, g->stream), cudaSuccess);
      assert_int_equal(graft_gpu_sync(&ctx), GRAFT_OK);
      char mode[64];
      snprintf(mode, sizeof mode, "%s captured", graft_precision_name(modes[m]));
      ok &= check_results(&ctx, cs, &t, &v, mode);
      for (int dir = GRAFT_CONV_FORWARD; dir <= GRAFT_CONV_BACKWARD_FILTER; dir++) {
        graft_conv_key key;
        const graft_conv_plan *p = NULL;
        const int bias = dir == GRAFT_CONV_FORWARD && cs->bias && modes[m] != GRAFT_PREC_BF16;
        if (dir == GRAFT_CONV_BACKWARD_DATA && !cs->dx) continue;
        assert_int_equal(graft_conv_key_init(&key, &t.d, (graft_conv_dir)dir, modes[m], bias),
                         GRAFT_OK);
        assert_int_equal(graft_conv_plan_get(&ctx, &key, &p), GRAFT_OK);
        if (p->plan) assert_true(p->ms < 0.0f); /* made during the capture: untimed */
      }
      assert_int_equal(cudaGraphExecDestroy(exec), cudaSuccess);
      assert_int_equal(cudaGraphDestroy(graph), cudaSuccess);
      dev_free(&ctx, &v);
      data_free(&t);
    }
  }
  assert_true(ok);
}

/* A bf16 convolution whose workspace cannot hold its bf16 copy of w says
 * so, and one given fp32 activations is refused. */
static void test_bf16_workspace_too_small(void **state) {
  graft_ctx ctx = gt_ctx_in(*state, GRAFT_PREC_BF16);
  const graft_conv2d_desc d = case_desc(&cases[1]);
  float *x = gt_upload_act(&ctx, NULL, x_len(&d)), *dx = gt_upload_act(&ctx, NULL, x_len(&d));
  float *y = gt_upload_act(&ctx, NULL, y_len(&d));
  float *w = gt_upload(&ctx, NULL, w_len(&d)), *dw = gt_upload(&ctx, NULL, w_len(&d));
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  ctx.workspace_bytes = 2 * w_len(&d) - 1; /* one byte short of w's bf16 copy */
  assert_int_equal(graft_backend_gpu.conv2d_forward(&ctx, &d, x, w, NULL, y), GRAFT_EWORKSPACE);
  assert_int_equal(graft_backend_gpu.conv2d_backward(&ctx, &d, x, w, y, dx, dw, NULL),
                   GRAFT_EWORKSPACE);
  ctx.workspace_bytes = ((graft_ctx *)*state)->workspace_bytes;
  ctx.act_dtype = GRAFT_DTYPE_F32;
  assert_int_equal(graft_backend_gpu.conv2d_forward(&ctx, &d, x, w, NULL, y), GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_backend_gpu.conv2d_backward(&ctx, &d, x, w, y, dx, dw, NULL),
                   GRAFT_EUNSUPPORTED);
  graft_log_set_level(saved);
  gt_free(&ctx, x), gt_free(&ctx, dx), gt_free(&ctx, y), gt_free(&ctx, w), gt_free(&ctx, dw);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_conv: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conv_sweep),
      cmocka_unit_test(test_plan_cache_workspace),
      cmocka_unit_test(test_plans_under_capture),
      cmocka_unit_test(test_bf16_workspace_too_small),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_conv: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

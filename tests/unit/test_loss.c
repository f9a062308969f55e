/* test_loss.c: the CPU reference losses. Cross-entropy against losses and
 * gradients PyTorch computed (smoothing, class weights, both, ignore_index,
 * every sample ignored), its stability on huge logits and its rejected
 * labels; binary cross-entropy with logits and mean squared error against
 * cases written out by hand; finite-difference checks of every backward,
 * scaling by dloss and accumulation into the gradient. */
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

/* ---- cross-entropy against PyTorch --------------------------------------
 * The expected numbers are torch 1.13's F.cross_entropy(reduction='mean')
 * and the gradient of that loss in the logits, for these deterministic
 * inputs, printed to 9 significant digits. */

#define XN 4
#define XK 5
static const float xlogits[XN * XK] = {
    /* (N, K) */
    1.0f,  -0.5f, 2.0f,   0.3f,  -1.2f,
    -0.7f, 0.8f,  0.1f,   -2.0f, 1.5f,
    0.25f, 0.25f, -0.75f, 3.0f,  -0.5f,
    2.5f,  -1.0f, 0.0f,   0.6f,  -0.3f,
};
static const float xweight[XK] = {0.5f, 1.0f, 2.0f, 1.5f, 0.25f}; /* (K) */

typedef struct {
  const char *name;
  int32_t labels[XN];
  int weighted;
  float smoothing;
  int ignore_index;
  float loss;
  float dlogits[XN * XK];
} xent_torch_case;

static const xent_torch_case xent_torch_cases[] = {
    {"plain", {2, 4, 0, 1}, 0, 0.0f, -100, 1.96121204f,
     {0.0549595468f, 0.0122631323f, -0.100604475f, 0.0272921026f, 0.00608969107f,
      0.0147017529f, 0.065888688f, 0.0327193514f, 0.00400669454f, -0.117316484f,
      -0.236473963f, 0.0135260317f, 0.00497594895f, 0.211582735f, 0.00638924446f,
      0.189012885f, -0.244292304f, 0.0155151235f, 0.0282703955f, 0.0114938859f}},
    {"smoothing 0.1", {2, 4, 0, 1}, 0, 0.1f, -100, 2.00321198f,
     {0.0499595441f, 0.00726313144f, -0.0806044713f, 0.0222921018f, 0.00108969084f,
      0.0097017521f, 0.0608886853f, 0.0277193487f, -0.000993305584f, -0.0973164812f,
      -0.216473952f, 0.00852603f, -2.40515328e-05f, 0.20658271f, 0.00138924376f,
      0.18401286f, -0.224292293f, 0.0105151217f, 0.0232703928f, 0.0064938846f}},
    {"class weights", {2, 4, 0, 1}, 1, 0.0f, -100, 1.71364486f,
     {0.117247038f, 0.0261613503f, -0.214622885f, 0.0582231544f, 0.0129913418f,
      0.00392046757f, 0.0175703168f, 0.00872516073f, 0.00106845191f, -0.0312843993f,
      -0.12611945f, 0.00721388403f, 0.00265383953f, 0.112844132f, 0.00340759731f,
      0.201613754f, -0.260578483f, 0.0165494662f, 0.0301550906f, 0.0122601455f}},
    {"weights and smoothing 0.2", {2, 4, 0, 1}, 1, 0.2f, -100, 1.89489412f,
     {0.100775234f, 0.0130093545f, -0.159567043f, 0.0366919525f, 0.00909049716f,
      0.00109623349f, 0.0181486532f, -0.00702406978f, -0.0142477378f, 0.00202692393f,
      -0.103199065f, -0.00186572794f, -0.0180956479f, 0.121669844f, 0.00149060204f,
      0.198296547f, -0.217850924f, -0.00461837323f, 0.01445664f, 0.00971607957f}},
    {"ignore -100 with weights and smoothing 0.2", {2, -100, 0, 1}, 1, 0.2f, -100, 1.84346294f,
     {0.107973456f, 0.0139385927f, -0.170964688f, 0.039312806f, 0.00973981712f,
      0.0f, 0.0f, 0.0f, 0.0f, 0.0f,
      -0.110570423f, -0.00199899427f, -0.0193881951f, 0.130360544f, 0.00159707363f,
      0.212460577f, -0.233411685f, -0.00494825793f, 0.015489256f, 0.0104100853f}},
    {"ignore_index 1 (a class) with smoothing 0.1", {2, 4, 0, 1}, 0, 0.1f, 1, 1.45640087f,
     {0.0666127205f, 0.00968417432f, -0.107472636f, 0.0297227986f, 0.00145292049f,
      0.0129356701f, 0.0811849087f, 0.036959134f, -0.00132440729f, -0.129755303f,
      -0.288631946f, 0.01136804f, -3.20687541e-05f, 0.275443614f, 0.00185232493f,
      0.0f, 0.0f, 0.0f, 0.0f, 0.0f}},
};

static void test_xent_torch(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  int ok = 1;
  for (size_t i = 0; i < sizeof xent_torch_cases / sizeof xent_torch_cases[0]; i++) {
    const xent_torch_case *c = &xent_torch_cases[i];
    graft_xent_desc d = {.n = XN, .k = XK, .label_smoothing = c->smoothing,
                         .ignore_index = c->ignore_index,
                         .class_weight = c->weighted ? xweight : NULL};
    float loss = 0.0f, one = 1.0f, dz[XN * XK] = {0};
    assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, xlogits, c->labels, &loss),
                     GRAFT_OK);
    assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, xlogits, c->labels, &one, dz),
                     GRAFT_OK);
    char label[96];
    snprintf(label, sizeof label, "xent loss, %s", c->name);
    ok &= tu_check_close(label, &loss, &c->loss, 1, 1e-6, 1.0);
    snprintf(label, sizeof label, "xent dlogits, %s", c->name);
    ok &= tu_check_close(label, dz, c->dlogits, XN * XK, 1e-5, 1e-3);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Every sample ignored: PyTorch's mean is 0/0 = NaN and its gradient is
 * zero; so is ours. */
static void test_xent_all_ignored(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const int32_t labels[XN] = {-100, -100, -100, -100};
  for (int weighted = 0; weighted < 2; weighted++) {
    graft_xent_desc d = {.n = XN, .k = XK, .label_smoothing = weighted ? 0.2f : 0.0f,
                         .ignore_index = -100, .class_weight = weighted ? xweight : NULL};
    float loss = 0.0f, one = 1.0f, dz[XN * XK] = {0}, zero[XN * XK] = {0};
    assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, xlogits, labels, &loss), GRAFT_OK);
    assert_true(isnan(loss));
    assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, xlogits, labels, &one, dz),
                     GRAFT_OK);
    assert_true(tu_check_close("xent dlogits, all ignored", dz, zero, XN * XK, 0.0, 1.0));
  }
  tu_ctx_free(&ctx);
}

/* Backward scales by *dloss and adds into dlogits. */
static void test_xent_scale_and_accumulate(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const xent_torch_case *c = &xent_torch_cases[3];
  graft_xent_desc d = {.n = XN, .k = XK, .label_smoothing = c->smoothing,
                       .ignore_index = c->ignore_index, .class_weight = xweight};
  float dloss = 0.5f, dz[XN * XK], want[XN * XK];
  for (int i = 0; i < XN * XK; i++) {
    dz[i] = 1.0f;
    want[i] = 1.0f + 2.0f * 0.5f * c->dlogits[i];
  }
  for (int pass = 0; pass < 2; pass++)
    assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, xlogits, c->labels, &dloss, dz),
                     GRAFT_OK);
  assert_true(tu_check_close("xent dlogits, dloss 0.5 twice onto 1", dz, want, XN * XK, 1e-5, 1.0));
  assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, xlogits, c->labels, &dloss, NULL),
                   GRAFT_OK);
  tu_ctx_free(&ctx);
}

/* Logits of 1000 would overflow exp in a naive softmax. With K = 2,
 * logits (1000, 0) and label 1: loss = 1000 and p = (1, 0); smoothing 0.1
 * gives 0.9 * 1000 + 0.05 * (1000 + 0) = 950 and gradient
 * (0.9 + 0.05 * (2 - 1), -0.9 - 0.05) = (0.95, -0.95). */
static void test_xent_huge_logits(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float z[2] = {1000.0f, 0.0f};
  const int32_t label[1] = {1};
  const float want_loss[2] = {1000.0f, 950.0f};
  const float want_dz[2][2] = {{1.0f, -1.0f}, {0.95f, -0.95f}};
  int ok = 1;
  for (int s = 0; s < 2; s++) {
    graft_xent_desc d = {.n = 1, .k = 2, .label_smoothing = s ? 0.1f : 0.0f,
                         .ignore_index = -100, .class_weight = NULL};
    float loss, one = 1.0f, dz[2] = {0};
    assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, z, label, &loss), GRAFT_OK);
    assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, z, label, &one, dz), GRAFT_OK);
    ok &= tu_check_close("xent loss, huge logits", &loss, &want_loss[s], 1, 1e-6, 1.0);
    ok &= tu_check_close("xent dlogits, huge logits", dz, want_dz[s], 2, 1e-6, 1.0);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  const graft_xent_desc *d;
  const float *logits;   /* (N, K) */
  const int32_t *labels; /* (N) */
} xent_case;

static void xent_fwd(void *user, float *y) {
  const xent_case *c = user;
  graft_backend_ref.xent_forward(c->ctx, c->d, c->logits, c->labels, y);
}

static void test_xent_gradcheck(void **state) {
  (void)state;
  static const int shapes[][2] = {{1, 1}, {1, 3}, {3, 4}, {7, 10}, {16, 3}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 17);
  double worst = 0.0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int n = shapes[s][0], k = shapes[s][1];
    float *z = falloc((size_t)n * k);  /* (N, K) */
    float *w = falloc(k);              /* (K) */
    int32_t labels[16];                /* (N) */
    tu_fill_normal(&rng, z, (size_t)n * k, 2.0f);
    tu_fill_uniform(&rng, w, k, 0.2f, 2.0f);
    for (int i = 0; i < n; i++) labels[i] = (int32_t)((i * 7 + 3) % k);
    if (n > 2) labels[1] = -100;
    for (int variant = 0; variant < 4; variant++) {
      graft_xent_desc d = {.n = n, .k = k, .label_smoothing = (variant & 1) ? 0.15f : 0.0f,
                           .ignore_index = -100, .class_weight = (variant & 2) ? w : NULL};
      float loss, r = tu_uniform(&rng, 0.5f, 2.0f);
      float *dz = falloc((size_t)n * k); /* (N, K) */
      assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, z, labels, &r, dz), GRAFT_OK);
      xent_case c = {&ctx, &d, z, labels};
      char name[96];
      snprintf(name, sizeof name, "xent dlogits n=%d k=%d smoothing=%.2f %s", n, k,
               (double)d.label_smoothing, d.class_weight ? "weighted" : "unweighted");
      double e = tu_gradcheck(name, &c, xent_fwd, &loss, 1, &r, z, (size_t)n * k, dz, 1e-2, 2e-3);
      if (e > worst) worst = e;
      free(dz);
    }
    free(z);
    free(w);
  }
  assert_true(worst <= 2e-3);
  tu_ctx_free(&ctx);
}

/* A batch big enough for the parallel loops gives the one-thread answer. */
static void test_xent_parallel_matches_serial(void **state) {
  (void)state;
  const int n = 4099, k = 10;
  graft_ctx one_thread, four_threads;
  tu_ctx_init(&one_thread, 0);
  tu_ctx_init(&four_threads, 0);
  one_thread.threads = 1;
  four_threads.threads = 4;
  tu_rng rng;
  tu_rng_seed(&rng, 23);
  /* (N, K) each */
  float *z = falloc((size_t)n * k), *d1 = falloc((size_t)n * k), *d4 = falloc((size_t)n * k);
  int32_t *labels = malloc(n * sizeof(int32_t)); /* (N) */
  assert_non_null(labels);
  tu_fill_normal(&rng, z, (size_t)n * k, 3.0f);
  for (int i = 0; i < n; i++) labels[i] = i % 13 == 0 ? -100 : (int32_t)(i % k);
  graft_xent_desc d = {.n = n, .k = k, .label_smoothing = 0.1f, .ignore_index = -100,
                       .class_weight = NULL};
  float l1, l4, g = 1.0f;
  assert_int_equal(graft_backend_ref.xent_forward(&one_thread, &d, z, labels, &l1), GRAFT_OK);
  assert_int_equal(graft_backend_ref.xent_forward(&four_threads, &d, z, labels, &l4), GRAFT_OK);
  assert_int_equal(graft_backend_ref.xent_backward(&one_thread, &d, z, labels, &g, d1), GRAFT_OK);
  assert_int_equal(graft_backend_ref.xent_backward(&four_threads, &d, z, labels, &g, d4),
                   GRAFT_OK);
  int ok = tu_check_close("xent loss, 4 threads vs 1", &l4, &l1, 1, 1e-6, 1.0);
  ok &= tu_check_close("xent dlogits, 4 threads vs 1", d4, d1, (size_t)n * k, 0.0, 1e-3);
  assert_true(ok);
  free(z);
  free(d1);
  free(d4);
  free(labels);
  tu_ctx_free(&one_thread);
  tu_ctx_free(&four_threads);
}

static void test_xent_errors(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float loss, one = 1.0f, dz[XN * XK] = {0};
  const int32_t too_big[XN] = {2, 4, 5, 1};   /* sample 2 has label K */
  const int32_t negative[XN] = {2, -1, 0, 1}; /* -1 is not the ignore_index */
  graft_xent_desc d = {.n = XN, .k = XK, .label_smoothing = 0.0f, .ignore_index = -100,
                       .class_weight = NULL};
  graft_log_level old = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, xlogits, too_big, &loss),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_backward(&ctx, &d, xlogits, too_big, &one, dz),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, xlogits, negative, &loss),
                   GRAFT_EINVAL);
  graft_xent_desc bad_k = d, bad_n = d, bad_s = d, neg_s = d;
  bad_k.k = 0;
  bad_n.n = -1;
  bad_s.label_smoothing = 1.5f;
  neg_s.label_smoothing = -0.1f;
  const int32_t labels[XN] = {2, 4, 0, 1};
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &bad_k, xlogits, labels, &loss),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &bad_n, xlogits, labels, &loss),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &bad_s, xlogits, labels, &loss),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_backward(&ctx, &neg_s, xlogits, labels, &one, dz),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, NULL, xlogits, labels, &loss),
                   GRAFT_EINVAL);
  graft_log_set_level(old);
  /* With ignore_index -1, the label -1 is skipped rather than rejected. */
  d.ignore_index = -1;
  assert_int_equal(graft_backend_ref.xent_forward(&ctx, &d, xlogits, negative, &loss), GRAFT_OK);
  tu_ctx_free(&ctx);
}

/* ---- binary cross-entropy with logits ---------------------------------
 * Per element max(x,0) - x*t + log1p(exp(-|x|)):
 *   x=0,   t=1    -> log 2                       = 0.693147181
 *   x=2,   t=0    -> 2 + log1p(e^-2)             = 2.126928011
 *   x=-3,  t=0.25 -> 0.75 + log1p(e^-3)          = 0.798587352
 *   x=100, t=1    -> log1p(e^-100)               ~ 0
 * mean 0.904665636 (torch 1.13 gives 0.904665649); the gradient
 * (sigmoid(x) - t) / 4 is (-0.125, 0.220199257, -0.0506435335, 0). */
static void test_bce_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float x[4] = {0.0f, 2.0f, -3.0f, 100.0f};
  const float t[4] = {1.0f, 0.0f, 0.25f, 1.0f};
  const float want_loss = 0.904665636f;
  const float want_dx[4] = {-0.125f, 0.220199257f, -0.0506435335f, 0.0f};
  float loss, one = 1.0f, dx[4] = {0};
  assert_int_equal(graft_backend_ref.bce_forward(&ctx, 4, x, t, &loss), GRAFT_OK);
  assert_int_equal(graft_backend_ref.bce_backward(&ctx, 4, x, t, &one, dx), GRAFT_OK);
  int ok = tu_check_close("bce loss", &loss, &want_loss, 1, 1e-6, 1.0);
  ok &= tu_check_close("bce dlogits", dx, want_dx, 4, 1e-6, 1e-3);
  /* dloss 2 onto a gradient holding 1: 1 + 2 * want. */
  float two = 2.0f, acc[4] = {1, 1, 1, 1}, want_acc[4];
  for (int i = 0; i < 4; i++) want_acc[i] = 1.0f + 2.0f * want_dx[i];
  assert_int_equal(graft_backend_ref.bce_backward(&ctx, 4, x, t, &two, acc), GRAFT_OK);
  ok &= tu_check_close("bce dlogits, dloss 2 onto 1", acc, want_acc, 4, 1e-6, 1.0);
  /* Logits of +-1e4 stay finite. */
  const float big[2] = {1e4f, -1e4f}, bt[2] = {0.0f, 0.0f};
  assert_int_equal(graft_backend_ref.bce_forward(&ctx, 2, big, bt, &loss), GRAFT_OK);
  assert_float_equal(loss, 5000.0f, 1e-2);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- mean squared error -------------------------------------------------
 * pred (1, 2, 3), target (0, 2, 5): loss (1 + 0 + 4) / 3 = 5/3 and
 * gradient 2 (pred - target) / 3 = (2/3, 0, -4/3). */
static void test_mse_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  const float p[3] = {1, 2, 3}, t[3] = {0, 2, 5};
  const float want_loss = 5.0f / 3.0f;
  const float want_dp[3] = {2.0f / 3.0f, 0.0f, -4.0f / 3.0f};
  float loss, one = 1.0f, dp[3] = {0};
  assert_int_equal(graft_backend_ref.mse_forward(&ctx, 3, p, t, &loss), GRAFT_OK);
  assert_int_equal(graft_backend_ref.mse_backward(&ctx, 3, p, t, &one, dp), GRAFT_OK);
  int ok = tu_check_close("mse loss", &loss, &want_loss, 1, 1e-6, 1.0);
  ok &= tu_check_close("mse dpred", dp, want_dp, 3, 1e-6, 1.0);
  float half = 0.5f, acc[3] = {1, 1, 1}, want_acc[3];
  for (int i = 0; i < 3; i++) want_acc[i] = 1.0f + 0.5f * want_dp[i];
  assert_int_equal(graft_backend_ref.mse_backward(&ctx, 3, p, t, &half, acc), GRAFT_OK);
  ok &= tu_check_close("mse dpred, dloss 0.5 onto 1", acc, want_acc, 3, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

typedef struct {
  graft_ctx *ctx;
  int mse; /* 1: mse, 0: bce */
  int64_t n;
  const float *x, *t; /* (n), (n) */
} pair_case;

static void pair_fwd(void *user, float *y) {
  const pair_case *c = user;
  if (c->mse)
    graft_backend_ref.mse_forward(c->ctx, c->n, c->x, c->t, y);
  else
    graft_backend_ref.bce_forward(c->ctx, c->n, c->x, c->t, y);
}

static void test_bce_mse_gradcheck(void **state) {
  (void)state;
  static const int64_t sizes[] = {1, 7, 33};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 31);
  double worst = 0.0;
  for (int mse = 0; mse < 2; mse++) {
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      const int64_t n = sizes[s];
      float *x = falloc(n), *t = falloc(n), *dx = falloc(n); /* (n) each */
      tu_fill_normal(&rng, x, n, 2.0f);
      tu_fill_uniform(&rng, t, n, 0.0f, 1.0f);
      float loss, r = tu_uniform(&rng, 0.5f, 2.0f);
      if (mse)
        assert_int_equal(graft_backend_ref.mse_backward(&ctx, n, x, t, &r, dx), GRAFT_OK);
      else
        assert_int_equal(graft_backend_ref.bce_backward(&ctx, n, x, t, &r, dx), GRAFT_OK);
      pair_case c = {&ctx, mse, n, x, t};
      char name[64];
      snprintf(name, sizeof name, "%s dx n=%lld", mse ? "mse" : "bce", (long long)n);
      double e = tu_gradcheck(name, &c, pair_fwd, &loss, 1, &r, x, n, dx, 1e-2, 2e-3);
      if (e > worst) worst = e;
      free(x);
      free(t);
      free(dx);
    }
  }
  assert_true(worst <= 2e-3);
  tu_ctx_free(&ctx);
}

/* Over 100k elements (the parallel loops), the losses match a serial sum
 * in double. */
static void test_bce_mse_large(void **state) {
  (void)state;
  const int64_t n = 100003;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  ctx.threads = 4;
  tu_rng rng;
  tu_rng_seed(&rng, 37);
  float *x = falloc(n), *t = falloc(n); /* (n) each */
  tu_fill_normal(&rng, x, n, 3.0f);
  tu_fill_uniform(&rng, t, n, 0.0f, 1.0f);
  double sb = 0.0, sm = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double xi = x[i], ti = t[i];
    sb += fmax(xi, 0.0) - xi * ti + log1p(exp(-fabs(xi)));
    sm += (xi - ti) * (xi - ti);
  }
  const float want_b = (float)(sb / n), want_m = (float)(sm / n);
  float lb, lm;
  assert_int_equal(graft_backend_ref.bce_forward(&ctx, n, x, t, &lb), GRAFT_OK);
  assert_int_equal(graft_backend_ref.mse_forward(&ctx, n, x, t, &lm), GRAFT_OK);
  int ok = tu_check_close("bce loss over 100003", &lb, &want_b, 1, 1e-6, 1.0);
  ok &= tu_check_close("mse loss over 100003", &lm, &want_m, 1, 1e-6, 1.0);
  assert_true(ok);
  free(x);
  free(t);
  tu_ctx_free(&ctx);
}

static void test_bce_mse_errors(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  float x[2] = {0}, t[2] = {0}, loss, one = 1.0f, dx[2] = {0};
  graft_log_level old = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_ref.bce_forward(&ctx, -1, x, t, &loss), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bce_forward(&ctx, 2, NULL, t, &loss), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bce_backward(&ctx, -1, x, t, &one, dx), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.mse_forward(&ctx, -1, x, t, &loss), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.mse_forward(&ctx, 2, x, t, NULL), GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.mse_backward(&ctx, 2, x, NULL, &one, dx), GRAFT_EINVAL);
  graft_log_set_level(old);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xent_torch),
      cmocka_unit_test(test_xent_all_ignored),
      cmocka_unit_test(test_xent_scale_and_accumulate),
      cmocka_unit_test(test_xent_huge_logits),
      cmocka_unit_test(test_xent_gradcheck),
      cmocka_unit_test(test_xent_parallel_matches_serial),
      cmocka_unit_test(test_xent_errors),
      cmocka_unit_test(test_bce_hand),
      cmocka_unit_test(test_mse_hand),
      cmocka_unit_test(test_bce_mse_gradcheck),
      cmocka_unit_test(test_bce_mse_large),
      cmocka_unit_test(test_bce_mse_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

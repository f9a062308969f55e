/* test_conv2d.c: the CPU reference convolution against hand-computed
 * numbers, a direct seven-loop convolution written here (forward and
 * backward, a sweep of strides, paddings, dilations, groups, depthwise and
 * 1x1 shapes, batch chunking, 1 to 3 threads), finite differences, the
 * accumulate-into-gradients rule, descriptor validation and the workspace
 * contract. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ops/ops.h"
#include "testutil.h"

/* Bytes after the workspace that no op may touch. */
#define GUARD_FLOATS 64
#define GUARD_VALUE 12345.0f

typedef struct {
  const char *name;
  int n, h, w, c, k, r, s;
  int stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
  int bias;
} conv_case;

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

/* A CPU context whose workspace is exactly what the op asks for, followed by
 * a guard band checked by ws_guard_intact(). */
static void ws_ctx_init(graft_ctx *ctx, const graft_conv2d_desc *d, int threads) {
  size_t bytes = graft_conv2d_workspace_ref(d);
  size_t floats = bytes / sizeof(float);
  assert_int_equal(bytes % sizeof(float), 0);
  graft_ctx_init_ref(ctx, threads);
  float *buf = malloc((floats + GUARD_FLOATS) * sizeof(float)); /* (floats + GUARD_FLOATS) */
  assert_non_null(buf);
  for (size_t i = 0; i < GUARD_FLOATS; i++) buf[floats + i] = GUARD_VALUE;
  ctx->workspace = buf;
  ctx->workspace_bytes = bytes;
}

static int ws_guard_intact(const graft_ctx *ctx) {
  const float *g = (const float *)ctx->workspace + ctx->workspace_bytes / sizeof(float);
  for (size_t i = 0; i < GUARD_FLOATS; i++)
    if (g[i] != GUARD_VALUE) return 0;
  return 1;
}

/* ---- the direct definition, in double ---------------------------------- */

/* Runs BODY for every multiply of the convolution, with yi, xi and wi the
 * indices of the output, input and weight elements it joins. */
#define FOR_EACH_TAP(d, BODY)                                                        \
  do {                                                                               \
    const int cg_ = (d)->c / (d)->groups, kg_ = (d)->k / (d)->groups;               \
    for (int n = 0; n < (d)->n; n++)                                                 \
      for (int p = 0; p < (d)->p; p++)                                               \
        for (int q = 0; q < (d)->q; q++)                                             \
          for (int k = 0; k < (d)->k; k++)                                           \
            for (int r = 0; r < (d)->r; r++)                                         \
              for (int s = 0; s < (d)->s; s++)                                       \
                for (int cc = 0; cc < cg_; cc++) {                                   \
                  int ih = p * (d)->stride_h - (d)->pad_h + r * (d)->dil_h;          \
                  int iw = q * (d)->stride_w - (d)->pad_w + s * (d)->dil_w;          \
                  if (ih < 0 || ih >= (d)->h || iw < 0 || iw >= (d)->w) continue;    \
                  size_t yi = (((size_t)n * (d)->p + p) * (d)->q + q) * (d)->k + k;  \
                  size_t xi = (((size_t)n * (d)->h + ih) * (d)->w + iw) * (d)->c +   \
                              (size_t)(k / kg_) * cg_ + cc;                          \
                  size_t wi = (((size_t)k * (d)->r + r) * (d)->s + s) * cg_ + cc;    \
                  BODY;                                                              \
                }                                                                    \
  } while (0)

static void naive_forward(const graft_conv2d_desc *d, const float *x, /* (N, H, W, C) */
                          const float *w,                            /* (K, R, S, C/groups) */
                          const float *bias,                         /* (K) or NULL */
                          float *y) /* (N, P, Q, K) */ {
  size_t ny = y_len(d);
  double *acc = calloc(ny, sizeof(double)); /* (N, P, Q, K) */
  assert_non_null(acc);
  FOR_EACH_TAP(d, acc[yi] += (double)x[xi] * w[wi]);
  for (size_t i = 0; i < ny; i++) y[i] = (float)(acc[i] + (bias ? bias[i % d->k] : 0.0));
  free(acc);
}

/* Gradients of sum(y * dy), written (not added) into dx, dw and dbias. */
static void naive_backward(const graft_conv2d_desc *d, const float *x, /* (N, H, W, C) */
                           const float *w,   /* (K, R, S, C/groups) */
                           const float *dy,  /* (N, P, Q, K) */
                           float *dx,        /* (N, H, W, C) */
                           float *dw,        /* (K, R, S, C/groups) */
                           float *dbias) /* (K) */ {
  size_t nx = x_len(d), nw = w_len(d), ny = y_len(d);
  double *ax = calloc(nx, sizeof(double)); /* (N, H, W, C) */
  double *aw = calloc(nw, sizeof(double)); /* (K, R, S, C/groups) */
  double *ab = calloc(d->k, sizeof(double)); /* (K) */
  assert_true(ax && aw && ab);
  FOR_EACH_TAP(d, {
    ax[xi] += (double)dy[yi] * w[wi];
    aw[wi] += (double)dy[yi] * x[xi];
  });
  for (size_t i = 0; i < ny; i++) ab[i % d->k] += dy[i];
  for (size_t i = 0; i < nx; i++) dx[i] = (float)ax[i];
  for (size_t i = 0; i < nw; i++) dw[i] = (float)aw[i];
  for (int i = 0; i < d->k; i++) dbias[i] = (float)ab[i];
  free(ax);
  free(aw);
  free(ab);
}

/* ---- (1) hand-computed ------------------------------------------------- */

static void test_hand_computed(void **state) {
  (void)state;
  /* x = 1..9 as one 3x3 single-channel image, a 2x2 kernel 1 2 / 3 4. */
  const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};      /* (1, 3, 3, 1) */
  const float w[4] = {1, 2, 3, 4};                     /* (1, 2, 2, 1) */
  const float bias[1] = {0.5f};                        /* (1) */
  const float want_y[4] = {37.5f, 47.5f, 67.5f, 77.5f}; /* (1, 2, 2, 1) */
  /* dy = 1: dw sums each tap's window, dx counts the taps covering a pixel. */
  const float want_dw[4] = {12, 16, 24, 28};
  const float want_dx[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
  const float dy[4] = {1, 1, 1, 1};
  graft_conv2d_desc d = {.n = 1, .h = 3, .w = 3, .c = 1, .k = 1, .r = 2, .s = 2,
                         .stride_h = 1, .stride_w = 1, .dil_h = 1, .dil_w = 1, .groups = 1};
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  assert_int_equal(d.p, 2);
  assert_int_equal(d.q, 2);
  graft_ctx ctx;
  ws_ctx_init(&ctx, &d, 2);
  float y[4], dx[9] = {0}, dw[4] = {0}, db[1] = {0};
  assert_int_equal(graft_conv2d_forward_ref(&ctx, &d, x, w, bias, y), GRAFT_OK);
  assert_true(tu_check_close("conv2d hand 3x3*2x2 forward y", y, want_y, 4, 1e-6, 1e-3));
  assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, dy, dx, dw, db), GRAFT_OK);
  assert_true(tu_check_close("conv2d hand 3x3*2x2 backward dx", dx, want_dx, 9, 1e-6, 1e-3));
  assert_true(tu_check_close("conv2d hand 3x3*2x2 backward dw", dw, want_dw, 4, 1e-6, 1e-3));
  assert_float_equal(db[0], 4.0f, 1e-6f);
  assert_true(ws_guard_intact(&ctx));
  tu_ctx_free(&ctx);

  /* Same image, padding 1 and stride 2: output 2x2 whose corners see one,
   * two, two and four taps: 4 = 1*4, 18 = 2*3+3*4, 36 = 4*2+7*4,
   * 77 = 5*1+6*2+8*3+9*4. */
  const float want_y2[4] = {4, 18, 36, 77};
  d.pad_h = d.pad_w = 1;
  d.stride_h = d.stride_w = 2;
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  assert_int_equal(d.p, 2);
  assert_int_equal(d.q, 2);
  ws_ctx_init(&ctx, &d, 2);
  assert_int_equal(graft_conv2d_forward_ref(&ctx, &d, x, w, NULL, y), GRAFT_OK);
  assert_true(tu_check_close("conv2d hand pad 1 stride 2 forward y", y, want_y2, 4, 1e-6, 1e-3));
  tu_ctx_free(&ctx);
}

/* ---- (2) sweep against the direct definition ---------------------------- */

static const conv_case sweep[] = {
    {"odd 7x5 3x3 pad 1", 1, 7, 5, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"N=3 3x3 stride 2 pad 1", 3, 9, 8, 5, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0},
    {"5x3 kernel stride 2x1 pad 2x1", 2, 8, 7, 4, 3, 5, 3, 2, 1, 2, 1, 1, 1, 1, 1},
    {"dilation 2 pad 2", 2, 9, 9, 3, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},
    {"dilation 2x3 stride 2 pad 1", 2, 11, 10, 2, 3, 3, 2, 2, 2, 1, 1, 2, 3, 1, 0},
    {"groups 2 3x3 pad 1", 2, 6, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"groups 3 stride 2 dilation 2", 2, 9, 9, 6, 9, 3, 3, 2, 2, 2, 2, 2, 2, 3, 0},
    {"depthwise 3x3 pad 1", 2, 7, 6, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8, 1},
    {"depthwise 3x3 stride 2 dilation 2", 3, 9, 9, 5, 5, 3, 3, 2, 2, 1, 1, 2, 2, 5, 0},
    {"depthwise 5x5 stride 2 pad 2 N=1", 1, 8, 9, 3, 3, 5, 5, 2, 2, 2, 2, 1, 1, 3, 1},
    {"1x1 stride 1", 3, 5, 4, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 stride 1 groups 2", 2, 3, 5, 8, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0},
    {"1x1 stride 2", 3, 7, 6, 5, 4, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0},
    {"1x1 stride 1 pad 1", 1, 3, 3, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
    {"7x7 stride 2 pad 3 stem", 2, 16, 16, 3, 8, 7, 7, 2, 2, 3, 3, 1, 1, 1, 0},
    {"kernel covers input", 2, 4, 4, 3, 2, 4, 4, 1, 1, 0, 0, 1, 1, 1, 1},
    {"groups == C, two filters each", 2, 6, 5, 3, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3, 1},
    {"batch in chunks", 3, 40, 40, 64, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
};

static void check_against_naive(const conv_case *cs, int threads) {
  graft_conv2d_desc d = case_desc(cs);
  size_t nx = x_len(&d), nw = w_len(&d), ny = y_len(&d);
  tu_rng rng;
  tu_rng_seed(&rng, 1000 + (uint64_t)threads);
  float *x = malloc(nx * sizeof(float));         /* (N, H, W, C) */
  float *w = malloc(nw * sizeof(float));         /* (K, R, S, C/groups) */
  float *b = malloc(d.k * sizeof(float));        /* (K) */
  float *y = malloc(ny * sizeof(float));         /* (N, P, Q, K) */
  float *y_ref = malloc(ny * sizeof(float));     /* (N, P, Q, K) */
  float *dy = malloc(ny * sizeof(float));        /* (N, P, Q, K) */
  float *dx = calloc(nx, sizeof(float));         /* (N, H, W, C) */
  float *dw = calloc(nw, sizeof(float));         /* (K, R, S, C/groups) */
  float *db = calloc(d.k, sizeof(float));        /* (K) */
  float *dx_ref = malloc(nx * sizeof(float));    /* (N, H, W, C) */
  float *dw_ref = malloc(nw * sizeof(float));    /* (K, R, S, C/groups) */
  float *db_ref = malloc(d.k * sizeof(float));   /* (K) */
  assert_true(x && w && b && y && y_ref && dy && dx && dw && db && dx_ref && dw_ref && db_ref);
  tu_fill_uniform(&rng, x, nx, -1.0f, 1.0f);
  tu_fill_uniform(&rng, w, nw, -1.0f, 1.0f);
  tu_fill_uniform(&rng, b, d.k, -1.0f, 1.0f);
  tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);
  const float *bias = cs->bias ? b : NULL;

  graft_ctx ctx;
  ws_ctx_init(&ctx, &d, threads);
  char label[160];
  naive_forward(&d, x, w, bias, y_ref);
  assert_int_equal(graft_conv2d_forward_ref(&ctx, &d, x, w, bias, y), GRAFT_OK);
  snprintf(label, sizeof label, "conv2d forward y [%s, %d threads]", cs->name, threads);
  assert_true(tu_check_close(label, y, y_ref, ny, 1e-5, 1e-3));

  naive_backward(&d, x, w, dy, dx_ref, dw_ref, db_ref);
  assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, dy, dx, dw, cs->bias ? db : NULL),
                   GRAFT_OK);
  snprintf(label, sizeof label, "conv2d backward dx [%s, %d threads]", cs->name, threads);
  assert_true(tu_check_close(label, dx, dx_ref, nx, 1e-5, 1e-3));
  snprintf(label, sizeof label, "conv2d backward dw [%s, %d threads]", cs->name, threads);
  assert_true(tu_check_close(label, dw, dw_ref, nw, 1e-5, 1e-3));
  if (cs->bias) {
    snprintf(label, sizeof label, "conv2d backward dbias [%s, %d threads]", cs->name, threads);
    assert_true(tu_check_close(label, db, db_ref, d.k, 1e-5, 1e-3));
  }
  assert_true(ws_guard_intact(&ctx));
  tu_ctx_free(&ctx);
  free(x); free(w); free(b); free(y); free(y_ref); free(dy);
  free(dx); free(dw); free(db); free(dx_ref); free(dw_ref); free(db_ref);
}

static void test_sweep_against_naive(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof sweep / sizeof sweep[0]; i++)
    for (int threads = 1; threads <= 3; threads++) check_against_naive(&sweep[i], threads);
}

/* The chunked case, last in the sweep, really runs in more than one chunk. */
static void test_batch_is_chunked(void **state) {
  (void)state;
  graft_conv2d_desc d = case_desc(&sweep[sizeof sweep / sizeof sweep[0] - 1]);
  size_t one_image = (size_t)d.p * d.q * d.r * d.s * d.c * sizeof(float);
  size_t ws = graft_conv2d_workspace_ref(&d);
  printf("conv2d chunked case: workspace %zu bytes, whole batch would need %zu\n", ws,
         one_image * d.n);
  assert_true(ws >= one_image);
  assert_true(ws < one_image * d.n);
}

/* ---- (3) finite differences --------------------------------------------- */

typedef struct {
  graft_ctx *ctx;
  const graft_conv2d_desc *d;
  const float *x, *w, *bias;
} fd_args;

static void fd_forward(void *user, float *y) {
  fd_args *a = user;
  assert_int_equal(graft_conv2d_forward_ref(a->ctx, a->d, a->x, a->w, a->bias, y), GRAFT_OK);
}

static const conv_case grad_cases[] = {
    {"3x3 stride 2 pad 1 bias", 2, 5, 5, 3, 2, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"groups 2 dilation 2 pad 1", 1, 6, 6, 4, 4, 3, 3, 1, 1, 1, 1, 2, 2, 2, 1},
    {"depthwise 3x3 stride 2 pad 1", 2, 5, 4, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3, 1},
    {"1x1 stride 1 bias", 2, 3, 3, 4, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 stride 2", 1, 5, 5, 3, 2, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1},
};

static void test_gradcheck(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof grad_cases / sizeof grad_cases[0]; i++) {
    const conv_case *cs = &grad_cases[i];
    graft_conv2d_desc d = case_desc(cs);
    size_t nx = x_len(&d), nw = w_len(&d), ny = y_len(&d);
    tu_rng rng;
    tu_rng_seed(&rng, 77 + i);
    float *x = malloc(nx * sizeof(float));   /* (N, H, W, C) */
    float *w = malloc(nw * sizeof(float));   /* (K, R, S, C/groups) */
    float *b = malloc(d.k * sizeof(float));  /* (K) */
    float *y = malloc(ny * sizeof(float));   /* (N, P, Q, K) */
    float *dy = malloc(ny * sizeof(float));  /* (N, P, Q, K) */
    float *dx = calloc(nx, sizeof(float));   /* (N, H, W, C) */
    float *dw = calloc(nw, sizeof(float));   /* (K, R, S, C/groups) */
    float *db = calloc(d.k, sizeof(float));  /* (K) */
    assert_true(x && w && b && y && dy && dx && dw && db);
    tu_fill_uniform(&rng, x, nx, -1.0f, 1.0f);
    tu_fill_uniform(&rng, w, nw, -1.0f, 1.0f);
    tu_fill_uniform(&rng, b, d.k, -1.0f, 1.0f);
    tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);

    graft_ctx ctx;
    ws_ctx_init(&ctx, &d, 2);
    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, dy, dx, dw, db), GRAFT_OK);
    fd_args args = {&ctx, &d, x, w, b};
    char name[160];
    snprintf(name, sizeof name, "conv2d dx [%s]", cs->name);
    assert_true(tu_gradcheck(name, &args, fd_forward, y, ny, dy, x, nx, dx, 1e-2, 1e-3) <= 1e-3);
    snprintf(name, sizeof name, "conv2d dw [%s]", cs->name);
    assert_true(tu_gradcheck(name, &args, fd_forward, y, ny, dy, w, nw, dw, 1e-2, 1e-3) <= 1e-3);
    snprintf(name, sizeof name, "conv2d dbias [%s]", cs->name);
    assert_true(tu_gradcheck(name, &args, fd_forward, y, ny, dy, b, d.k, db, 1e-2, 1e-3) <= 1e-3);
    assert_true(ws_guard_intact(&ctx));
    tu_ctx_free(&ctx);
    free(x); free(w); free(b); free(y); free(dy); free(dx); free(dw); free(db);
  }
}

/* ---- (4) backward adds into its outputs --------------------------------- */

static void test_backward_accumulates(void **state) {
  (void)state;
  /* One case per path: general, direct 1x1, depthwise. */
  const conv_case cases[] = {
      {"general 3x3 stride 2", 2, 7, 6, 4, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
      {"direct 1x1", 2, 4, 5, 6, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2, 1},
      {"depthwise 3x3", 2, 5, 5, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const conv_case *cs = &cases[i];
    graft_conv2d_desc d = case_desc(cs);
    size_t nx = x_len(&d), nw = w_len(&d), ny = y_len(&d);
    size_t nall = nx + nw + d.k;
    tu_rng rng;
    tu_rng_seed(&rng, 5 + i);
    float *x = malloc(nx * sizeof(float));     /* (N, H, W, C) */
    float *w = malloc(nw * sizeof(float));     /* (K, R, S, C/groups) */
    float *dy = malloc(ny * sizeof(float));    /* (N, P, Q, K) */
    float *once = calloc(nall, sizeof(float)); /* dx | dw | dbias after one call from zero */
    float *acc = malloc(nall * sizeof(float)); /* dx | dw | dbias from random start */
    float *want = malloc(nall * sizeof(float)); /* dx | dw | dbias expected */
    float *part = calloc(nall, sizeof(float)); /* one gradient at a time, others NULL */
    assert_true(x && w && dy && once && acc && want && part);
    tu_fill_uniform(&rng, x, nx, -1.0f, 1.0f);
    tu_fill_uniform(&rng, w, nw, -1.0f, 1.0f);
    tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);
    tu_fill_uniform(&rng, acc, nall, -1.0f, 1.0f);

    graft_ctx ctx;
    ws_ctx_init(&ctx, &d, 2);
    assert_int_equal(
        graft_conv2d_backward_ref(&ctx, &d, x, w, dy, once, once + nx, once + nx + nw), GRAFT_OK);
    for (size_t j = 0; j < nall; j++) want[j] = acc[j] + 2.0f * once[j];
    for (int call = 0; call < 2; call++)
      assert_int_equal(
          graft_conv2d_backward_ref(&ctx, &d, x, w, dy, acc, acc + nx, acc + nx + nw), GRAFT_OK);
    char label[160];
    snprintf(label, sizeof label, "conv2d backward twice onto a start [%s]", cs->name);
    assert_true(tu_check_close(label, acc, want, nall, 1e-5, 1e-3));

    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, dy, part, NULL, NULL), GRAFT_OK);
    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, dy, NULL, part + nx, NULL),
                     GRAFT_OK);
    assert_int_equal(
        graft_conv2d_backward_ref(&ctx, &d, NULL, NULL, dy, NULL, NULL, part + nx + nw), GRAFT_OK);
    snprintf(label, sizeof label, "conv2d backward one gradient at a time [%s]", cs->name);
    assert_true(tu_check_close(label, part, once, nall, 1e-6, 1e-3));
    assert_true(ws_guard_intact(&ctx));
    tu_ctx_free(&ctx);
    free(x); free(w); free(dy); free(once); free(acc); free(want); free(part);
  }
}

/* ---- (5) validation and the workspace contract -------------------------- */

static graft_conv2d_desc good_desc(void) {
  graft_conv2d_desc d = {.n = 2, .h = 7, .w = 6, .c = 4, .k = 6, .r = 3, .s = 3,
                         .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1,
                         .dil_h = 1, .dil_w = 1, .groups = 2};
  return d;
}

static void test_setup_validates(void **state) {
  (void)state;
  graft_conv2d_desc d = good_desc();
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  assert_int_equal(d.p, 4); /* (7 + 2 - 2 - 1) / 2 + 1 */
  assert_int_equal(d.q, 6);
  d.dil_h = 3; /* (7 + 2 - 6 - 1) / 2 + 1 */
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  assert_int_equal(d.p, 2);

  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  struct {
    const char *what;
    graft_conv2d_desc d;
  } bad[] = {
      {"n = 0", good_desc()},        {"h < 0", good_desc()},       {"w = 0", good_desc()},
      {"c = 0", good_desc()},        {"k = 0", good_desc()},       {"r = 0", good_desc()},
      {"s = 0", good_desc()},        {"groups = 0", good_desc()},  {"groups !| c", good_desc()},
      {"groups !| k", good_desc()},  {"stride_h = 0", good_desc()}, {"stride_w < 0", good_desc()},
      {"dil_h = 0", good_desc()},    {"dil_w = 0", good_desc()},   {"pad_h < 0", good_desc()},
      {"pad_w < 0", good_desc()},    {"kernel > input", good_desc()},
      {"dilated kernel > input", good_desc()},
  };
  bad[0].d.n = 0;
  bad[1].d.h = -1;
  bad[2].d.w = 0;
  bad[3].d.c = 0;
  bad[4].d.k = 0;
  bad[5].d.r = 0;
  bad[6].d.s = 0;
  bad[7].d.groups = 0;
  bad[8].d.groups = 3; /* k = 6 divides, c = 4 does not */
  bad[9].d.groups = 4; /* c = 4 divides, k = 6 does not */
  bad[10].d.stride_h = 0;
  bad[11].d.stride_w = -2;
  bad[12].d.dil_h = 0;
  bad[13].d.dil_w = 0;
  bad[14].d.pad_h = -1;
  bad[15].d.pad_w = -1;
  /* A 4-row input under a 7-row kernel: the output formula's numerator is
   * -1, which C division would round up to an output of 1. */
  bad[16].d.h = 4;
  bad[16].d.r = 7;
  bad[17].d.w = 4;
  bad[17].d.dil_w = 3;
  bad[17].d.pad_w = 0;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    bad[i].d.p = bad[i].d.q = -7;
    graft_status st = graft_conv2d_setup(&bad[i].d);
    if (st != GRAFT_EINVAL)
      fprintf(stderr, "conv2d setup accepted a bad descriptor: %s\n", bad[i].what);
    assert_int_equal(st, GRAFT_EINVAL);
    assert_int_equal(bad[i].d.p, -7);
    assert_int_equal(graft_conv2d_workspace_ref(&bad[i].d), 0);
  }

  /* An op given a descriptor that never went through setup. */
  graft_conv2d_desc raw = good_desc();
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  float one = 1.0f;
  assert_int_equal(graft_conv2d_forward_ref(&ctx, &raw, &one, &one, NULL, &one), GRAFT_EINVAL);
  graft_log_set_level(saved);
}

static void test_workspace_contract(void **state) {
  (void)state;
  const conv_case cases[] = {
      {"general 3x3", 2, 6, 6, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0},
      {"depthwise 3x3", 2, 6, 6, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0},
  };
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    graft_conv2d_desc d = case_desc(&cases[i]);
    size_t ws = graft_conv2d_workspace_ref(&d);
    assert_true(ws > 0);
    float *x = calloc(x_len(&d), sizeof(float)); /* (N, H, W, C) */
    float *w = calloc(w_len(&d), sizeof(float)); /* (K, R, S, C/groups) */
    float *y = calloc(y_len(&d), sizeof(float)); /* (N, P, Q, K) */
    float *dx = calloc(x_len(&d), sizeof(float)); /* (N, H, W, C) */
    float *dw = calloc(w_len(&d), sizeof(float)); /* (K, R, S, C/groups) */
    float db[4] = {0};                            /* (K) */
    assert_true(x && w && y && dx && dw);
    graft_ctx ctx;
    tu_ctx_init(&ctx, ws - sizeof(float));
    assert_int_equal(graft_conv2d_forward_ref(&ctx, &d, x, w, NULL, y), GRAFT_EWORKSPACE);
    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, y, dx, NULL, NULL),
                     GRAFT_EWORKSPACE);
    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, y, NULL, dw, NULL),
                     GRAFT_EWORKSPACE);
    /* The bias gradient alone needs no workspace. */
    assert_int_equal(graft_conv2d_backward_ref(&ctx, &d, x, w, y, NULL, NULL, db), GRAFT_OK);
    tu_ctx_free(&ctx);
    graft_ctx_init_ref(&ctx, 2);
    assert_int_equal(graft_conv2d_forward_ref(&ctx, &d, x, w, NULL, y), GRAFT_EWORKSPACE);
    free(x); free(w); free(y); free(dx); free(dw);
  }
  graft_log_set_level(saved);

  /* 1x1 stride 1 unpadded needs none: x is the column matrix already. */
  const conv_case one_by_one = {"1x1 stride 1", 3, 5, 4, 7, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  graft_conv2d_desc d = case_desc(&one_by_one);
  assert_int_equal(graft_conv2d_workspace_ref(&d), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_computed),      cmocka_unit_test(test_sweep_against_naive),
      cmocka_unit_test(test_batch_is_chunked),   cmocka_unit_test(test_gradcheck),
      cmocka_unit_test(test_backward_accumulates), cmocka_unit_test(test_setup_validates),
      cmocka_unit_test(test_workspace_contract),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

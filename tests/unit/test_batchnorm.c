/* test_batchnorm.c: the CPU reference batch normalization over the channel
 * axis of an (M, C) view: a case worked by hand, PyTorch's numbers for a
 * small input (train and eval, forward and backward), the running-statistic
 * update, a double-precision naive reference over shapes that cross the
 * channel block and the threading threshold, results that do not depend on
 * the thread count, finite-difference checks of dx, dgamma and dbeta in both
 * modes, accumulation into the gradients, and the rejected arguments. */
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

/* x[i] = ((i * a) mod b - off) / div: a deterministic input that the
 * PyTorch script below reproduces exactly. */
static void fill_pattern(float *x, int n, int a, int b, int off, float div) {
  for (int i = 0; i < n; i++) x[i] = (float)((i * a) % b - off) / div;
}

/* ---- worked by hand ------------------------------------------------------
 * One channel, M = 4, x = 1 2 3 4, gamma 2, beta 1, eps 0, momentum 0.1,
 * running mean 0 and variance 1 before the step:
 *   mean 2.5, biased var 1.25, invstd 1/sqrt(1.25) = 0.894427191
 *   xhat = (-1.5 -0.5 0.5 1.5) * 0.894427191
 *   y = 2 xhat + 1 = -1.68328157 0.10557281 1.89442719 3.68328157
 *   running mean = 0.9*0 + 0.1*2.5 = 0.25
 *   running var  = 0.9*1 + 0.1*(1.25 * 4/3) = 1.06666667
 * Backward with dy = 1 0 0 0: sum(dy) = 1, sum(dy xhat) = -1.34164079,
 *   dx = 2*0.894427191/4 * (4 dy - 1 + 1.34164079 xhat)
 *      = 0.447213595 * (1.2 -1.6 -0.4 0.8)
 *      = 0.53665631 -0.71554175 -0.17888544 0.35777088
 *   dgamma = -1.34164079, dbeta = 1 */
static void test_bn_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = 4, .c = 1, .eps = 0.0f, .momentum = 0.1f};
  const float x[4] = {1, 2, 3, 4}, dy[4] = {1, 0, 0, 0};
  const float gamma[1] = {2}, beta[1] = {1};
  float rm[1] = {0}, rv[1] = {1}, y[4], mean[1], invstd[1];
  float dx[4] = {0}, dg[1] = {0}, db[1] = {0};
  const float want_y[4] = {-1.68328157f, 0.10557281f, 1.89442719f, 3.68328157f};
  const float want_dx[4] = {0.53665631f, -0.71554175f, -0.17888544f, 0.35777088f};
  const float want_mean[1] = {2.5f}, want_invstd[1] = {0.894427191f};
  const float want_rm[1] = {0.25f}, want_rv[1] = {1.06666667f};
  const float want_dg[1] = {-1.34164079f}, want_db[1] = {1.0f};
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, x, gamma, beta, rm, rv, y, mean,
                                                      invstd),
                   GRAFT_OK);
  int ok = tu_check_close("bn hand y", y, want_y, 4, 1e-6, 1.0);
  ok &= tu_check_close("bn hand save_mean", mean, want_mean, 1, 1e-7, 1.0);
  ok &= tu_check_close("bn hand save_invstd", invstd, want_invstd, 1, 1e-7, 1.0);
  ok &= tu_check_close("bn hand running_mean", rm, want_rm, 1, 1e-7, 1.0);
  ok &= tu_check_close("bn hand running_var", rv, want_rv, 1, 1e-7, 1.0);
  assert_int_equal(graft_backend_ref.bn_backward_train(&ctx, &d, x, dy, gamma, mean, invstd, dx,
                                                       dg, db),
                   GRAFT_OK);
  ok &= tu_check_close("bn hand dx", dx, want_dx, 4, 1e-6, 1.0);
  ok &= tu_check_close("bn hand dgamma", dg, want_dg, 1, 1e-6, 1.0);
  ok &= tu_check_close("bn hand dbeta", db, want_db, 1, 1e-7, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- PyTorch's numbers ---------------------------------------------------
 * (M, C) = (6, 3), x = fill_pattern(7, 11, 5, 4), dy = fill_pattern(5, 7, 3, 2),
 * gamma 0.5 1 1.5, beta 0.25 -0.5 0, running mean 0.1 -0.2 0.3 and variance
 * 0.5 1 2, momentum 0.1, eps 1e-5. The want_* arrays are PyTorch 1.13's
 * F.batch_norm output (and autograd gradients) for this input. */
static const float pt_gamma[3] = {0.5f, 1.0f, 1.5f};
static const float pt_beta[3] = {0.25f, -0.5f, 0.0f};
static const float pt_rm[3] = {0.1f, -0.2f, 0.3f};
static const float pt_rv[3] = {0.5f, 1.0f, 2.0f};

static void test_bn_train_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[18] = {-0.775970578f, 0.963809907f, -0.449768215f, 0.762985289f, 0.378285944f, -0.835283816f, 0.609089732f, -0.207238019f, -1.22079945f, 0.455194116f, -0.792761981f, -1.60631502f, 0.301298529f, -1.37828588f, 2.24884105f, 0.147402942f, -1.96380997f, 1.86332536f};
  static const float want_rm[3] = {0.13166666f, -0.192499995f, 0.249166682f};
  static const float want_rv[3] = {0.529166639f, 0.921875f, 1.91354167f};
  static const float want_dx[18] = {-0.445492119f, 0.780795157f, -0.605502069f, -0.623679638f, 2.65443325f, -0.243325308f, -0.267290622f, -3.66926408f, 0.11885152f, 0.0890984237f, -1.79562616f, 0.481028318f, 0.445487469f, 0.0780120268f, -0.0566146523f, 0.801876485f, 1.95165014f, 0.305562139f};
  static const float want_dg[3] = {1.53895593f, 3.07400084f, -6.18966722f};
  static const float want_db[3] = {-1.5f, -0.5f, 0.5f};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = 6, .c = 3, .eps = 1e-5f, .momentum = 0.1f};
  float x[18], dy[18], y[18], rm[3], rv[3], mean[3], invstd[3];
  float dx[18] = {0}, dg[3] = {0}, db[3] = {0};
  fill_pattern(x, 18, 7, 11, 5, 4.0f);
  fill_pattern(dy, 18, 5, 7, 3, 2.0f);
  memcpy(rm, pt_rm, sizeof rm);
  memcpy(rv, pt_rv, sizeof rv);
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, x, pt_gamma, pt_beta, rm, rv, y,
                                                      mean, invstd),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.bn_backward_train(&ctx, &d, x, dy, pt_gamma, mean, invstd,
                                                       dx, dg, db),
                   GRAFT_OK);
  int ok = tu_check_close("bn train y vs PyTorch", y, want_y, 18, 1e-6, 1.0);
  ok &= tu_check_close("bn running_mean vs PyTorch", rm, want_rm, 3, 1e-6, 1.0);
  ok &= tu_check_close("bn running_var vs PyTorch", rv, want_rv, 3, 1e-6, 1.0);
  ok &= tu_check_close("bn train dx vs PyTorch", dx, want_dx, 18, 1e-6, 1.0);
  ok &= tu_check_close("bn train dgamma vs PyTorch", dg, want_dg, 3, 1e-6, 1.0);
  ok &= tu_check_close("bn train dbeta vs PyTorch", db, want_db, 3, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

static void test_bn_eval_matches_pytorch(void **state) {
  (void)state;
  static const float want_y[18] = {-0.704584599f, 0.199996501f, -0.848526001f, 1.06316459f, -0.0500022471f, -1.11369038f, 0.886389732f, -0.300000995f, -1.37885475f, 0.709614754f, -0.549999714f, -1.64401913f, 0.532839894f, -0.799998522f, 1.00762463f, 0.356064945f, -1.04999721f, 0.742460251f};
  static const float want_dx[18] = {-1.06064963f, 0.999994993f, 0.0f, -0.707099736f, 1.49999249f, 0.530328751f, -0.353549868f, -1.49999249f, 1.0606575f, 0.0f, -0.999994993f, 1.59098625f, 0.353549868f, -0.499997497f, -1.59098625f, 0.707099736f, 0.0f, -1.0606575f};
  static const float want_dg[3] = {1.09600472f, 1.27499354f, -4.43708372f};
  static const float want_db[3] = {-1.5f, -0.5f, 0.5f};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = 6, .c = 3, .eps = 1e-5f, .momentum = 0.1f};
  float x[18], dy[18], y[18], dx[18] = {0}, dg[3] = {0}, db[3] = {0};
  fill_pattern(x, 18, 7, 11, 5, 4.0f);
  fill_pattern(dy, 18, 5, 7, 3, 2.0f);
  assert_int_equal(graft_backend_ref.bn_forward_eval(&ctx, &d, x, pt_gamma, pt_beta, pt_rm, pt_rv,
                                                     y),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.bn_backward_eval(&ctx, &d, x, dy, pt_gamma, pt_rm, pt_rv, dx,
                                                      dg, db),
                   GRAFT_OK);
  int ok = tu_check_close("bn eval y vs PyTorch", y, want_y, 18, 1e-6, 1.0);
  ok &= tu_check_close("bn eval dx vs PyTorch", dx, want_dx, 18, 1e-6, 1.0);
  ok &= tu_check_close("bn eval dgamma vs PyTorch", dg, want_dg, 3, 1e-6, 1.0);
  ok &= tu_check_close("bn eval dbeta vs PyTorch", db, want_db, 3, 1e-6, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- a naive reference in double ----------------------------------------- */
typedef struct {
  int64_t m;
  int c;
  float *x, *dy, *gamma, *beta; /* (M, C) (M, C) (C) (C) */
} bn_case;

static void bn_case_init(bn_case *t, int64_t m, int c, uint64_t seed, float offset) {
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  t->m = m;
  t->c = c;
  t->x = malloc(sizeof(float) * (size_t)(m * c));
  t->dy = malloc(sizeof(float) * (size_t)(m * c));
  t->gamma = malloc(sizeof(float) * (size_t)c);
  t->beta = malloc(sizeof(float) * (size_t)c);
  assert_non_null(t->x);
  assert_non_null(t->dy);
  assert_non_null(t->gamma);
  assert_non_null(t->beta);
  /* Channel j has mean offset + j/c and a spread that grows with j. */
  for (int64_t r = 0; r < m; r++)
    for (int j = 0; j < c; j++)
      t->x[r * c + j] = offset + (float)j / (float)c + (0.5f + (float)j / (float)c) * tu_normal(&rng);
  tu_fill_normal(&rng, t->dy, (size_t)(m * c), 1.0f);
  tu_fill_uniform(&rng, t->gamma, (size_t)c, 0.5f, 1.5f);
  tu_fill_uniform(&rng, t->beta, (size_t)c, -0.5f, 0.5f);
}

static void bn_case_free(bn_case *t) {
  free(t->x);
  free(t->dy);
  free(t->gamma);
  free(t->beta);
}

/* Two-pass statistics and the training-mode y and dx, all in double. */
static void naive_train(const bn_case *t, double eps, float *y, float *mean, float *invstd,
                        float *var_unbiased, float *dx) {
  for (int j = 0; j < t->c; j++) {
    double s = 0.0, ss = 0.0, sdy = 0.0, sdyx = 0.0;
    for (int64_t r = 0; r < t->m; r++) s += t->x[r * t->c + j];
    double mu = s / (double)t->m;
    for (int64_t r = 0; r < t->m; r++) {
      double e = t->x[r * t->c + j] - mu;
      ss += e * e;
    }
    double var = ss / (double)t->m, is = 1.0 / sqrt(var + eps);
    mean[j] = (float)mu;
    invstd[j] = (float)is;
    var_unbiased[j] = (float)(ss / (double)(t->m - 1));
    for (int64_t r = 0; r < t->m; r++) {
      double xh = (t->x[r * t->c + j] - mu) * is;
      y[r * t->c + j] = (float)(xh * t->gamma[j] + t->beta[j]);
      sdy += t->dy[r * t->c + j];
      sdyx += t->dy[r * t->c + j] * xh;
    }
    for (int64_t r = 0; r < t->m; r++) {
      double xh = (t->x[r * t->c + j] - mu) * is;
      dx[r * t->c + j] = (float)(t->gamma[j] * is / (double)t->m *
                                 ((double)t->m * t->dy[r * t->c + j] - sdy - xh * sdyx));
    }
  }
}

/* Train forward and backward against the naive reference, and the running
 * statistics after two steps with momentum 0.3: each step is
 * running = 0.7 running + 0.3 batch, with the unbiased variance. The
 * shapes cross the 512-channel block and the threading threshold; one has a
 * mean of 100 against a spread near 1, where the variance would lose digits
 * to cancellation if it were computed from raw sums. */
static void test_bn_train_vs_naive(void **state) {
  (void)state;
  static const struct {
    int64_t m;
    int c;
    float offset;
  } shapes[] = {{2, 3, 0.0f}, {5, 7, 0.5f}, {70, 260, 0.0f}, {4099, 64, 100.0f}, {300, 600, -3.0f}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  int ok = 1;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    bn_case t;
    bn_case_init(&t, shapes[k].m, shapes[k].c, 100 + k, shapes[k].offset);
    int64_t mc = t.m * t.c;
    int c = t.c;
    graft_bn_desc d = {.m = t.m, .c = c, .eps = 1e-5f, .momentum = 0.3f};
    float *y = malloc(sizeof(float) * (size_t)mc), *wy = malloc(sizeof(float) * (size_t)mc);
    float *dx = calloc((size_t)mc, sizeof(float)), *wdx = malloc(sizeof(float) * (size_t)mc);
    float *buf = malloc(sizeof(float) * (size_t)c * 11);
    assert_non_null(y);
    assert_non_null(wy);
    assert_non_null(dx);
    assert_non_null(wdx);
    assert_non_null(buf);
    float *mean = buf, *invstd = buf + c, *wmean = buf + 2 * c, *winvstd = buf + 3 * c;
    float *wvar = buf + 4 * c, *rm = buf + 5 * c, *rv = buf + 6 * c, *wrm = buf + 7 * c;
    float *wrv = buf + 8 * c, *dg = buf + 9 * c, *db = buf + 10 * c;
    for (int j = 0; j < c; j++) {
      rm[j] = 0.5f - 0.01f * (float)j;
      rv[j] = 2.0f + 0.01f * (float)j;
      dg[j] = db[j] = 0.0f;
    }
    naive_train(&t, 1e-5, wy, wmean, winvstd, wvar, wdx);
    for (int j = 0; j < c; j++) {
      double m1 = 0.7 * rm[j] + 0.3 * wmean[j], v1 = 0.7 * rv[j] + 0.3 * wvar[j];
      wrm[j] = (float)(0.7 * m1 + 0.3 * wmean[j]);
      wrv[j] = (float)(0.7 * v1 + 0.3 * wvar[j]);
    }
    for (int step = 0; step < 2; step++)
      assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, t.x, t.gamma, t.beta, rm, rv,
                                                          y, mean, invstd),
                       GRAFT_OK);
    assert_int_equal(graft_backend_ref.bn_backward_train(&ctx, &d, t.x, t.dy, t.gamma, mean,
                                                         invstd, dx, dg, db),
                     GRAFT_OK);
    char label[96];
    printf("bn train vs naive, M %lld C %d mean offset %g\n", (long long)t.m, c,
           (double)shapes[k].offset);
    /* save_mean is a float: at a mean of 100 its rounding alone moves y by
     * up to about 2e-6 of its largest value. */
    snprintf(label, sizeof label, "bn y (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, y, wy, (size_t)mc, 1e-5, 1.0);
    snprintf(label, sizeof label, "bn save_mean (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, mean, wmean, (size_t)c, 1e-6, 1.0);
    snprintf(label, sizeof label, "bn save_invstd (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, invstd, winvstd, (size_t)c, 1e-6, 1.0);
    snprintf(label, sizeof label, "bn running_mean (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, rm, wrm, (size_t)c, 1e-6, 1.0);
    snprintf(label, sizeof label, "bn running_var (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, rv, wrv, (size_t)c, 1e-6, 1.0);
    /* dx is a difference of terms of size gamma * invstd * dy, about 1; with
     * M = 2 it nearly cancels, so its error is measured against 1. */
    snprintf(label, sizeof label, "bn dx (M %lld, C %d)", (long long)t.m, c);
    ok &= tu_check_close(label, dx, wdx, (size_t)mc, 1e-5, 1.0);
    free(y);
    free(wy);
    free(dx);
    free(wdx);
    free(buf);
    bn_case_free(&t);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* With the running statistics set to the batch mean and biased variance,
 * eval mode reproduces training mode; without running statistics, training
 * mode still normalizes and leaves nothing else behind. */
static void test_bn_eval_equals_train_at_batch_stats(void **state) {
  (void)state;
  bn_case t;
  bn_case_init(&t, 37, 19, 7, 1.0f);
  int64_t mc = t.m * t.c;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = t.m, .c = t.c, .eps = 1e-3f, .momentum = 0.1f};
  float *yt = malloc(sizeof(float) * (size_t)mc), *ye = malloc(sizeof(float) * (size_t)mc);
  float mean[19], invstd[19], var[19];
  assert_non_null(yt);
  assert_non_null(ye);
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, t.x, t.gamma, t.beta, NULL, NULL,
                                                      yt, mean, invstd),
                   GRAFT_OK);
  for (int j = 0; j < t.c; j++)
    var[j] = (float)(1.0 / ((double)invstd[j] * invstd[j]) - (double)d.eps);
  assert_int_equal(graft_backend_ref.bn_forward_eval(&ctx, &d, t.x, t.gamma, t.beta, mean, var,
                                                     ye),
                   GRAFT_OK);
  assert_true(tu_check_close("bn eval at batch stats vs train", ye, yt, (size_t)mc, 1e-5, 1.0));
  free(yt);
  free(ye);
  bn_case_free(&t);
  tu_ctx_free(&ctx);
}

/* The sums are reduced over a fixed set of row chunks added in order, so
 * every thread count gives the same bits. */
static void test_bn_thread_count_invariant(void **state) {
  (void)state;
  bn_case t;
  bn_case_init(&t, 600, 600, 11, 0.25f);
  int64_t mc = t.m * t.c;
  graft_bn_desc d = {.m = t.m, .c = t.c, .eps = 1e-5f, .momentum = 0.1f};
  float *y[2], *dx[2], stats[2][4][600];
  for (int k = 0; k < 2; k++) {
    graft_ctx ctx;
    graft_ctx_init_ref(&ctx, k == 0 ? 1 : 3);
    y[k] = malloc(sizeof(float) * (size_t)mc);
    dx[k] = calloc((size_t)mc, sizeof(float));
    assert_non_null(y[k]);
    assert_non_null(dx[k]);
    memset(stats[k][2], 0, sizeof stats[k][2]);
    memset(stats[k][3], 0, sizeof stats[k][3]);
    assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, t.x, t.gamma, t.beta, NULL,
                                                        NULL, y[k], stats[k][0], stats[k][1]),
                     GRAFT_OK);
    assert_int_equal(graft_backend_ref.bn_backward_train(&ctx, &d, t.x, t.dy, t.gamma,
                                                         stats[k][0], stats[k][1], dx[k],
                                                         stats[k][2], stats[k][3]),
                     GRAFT_OK);
  }
  int ok = tu_check_close("bn y, 1 vs 3 threads", y[1], y[0], (size_t)mc, 0.0, 1.0);
  ok &= tu_check_close("bn dx, 1 vs 3 threads", dx[1], dx[0], (size_t)mc, 0.0, 1.0);
  ok &= tu_check_close("bn stats, 1 vs 3 threads", stats[1][0], stats[0][0], 4 * 600, 0.0, 1.0);
  assert_true(ok);
  for (int k = 0; k < 2; k++) {
    free(y[k]);
    free(dx[k]);
  }
  bn_case_free(&t);
}

/* ---- finite differences --------------------------------------------------- */
typedef struct {
  graft_ctx *ctx;
  graft_bn_desc d;
  int train;
  bn_case *t;
  float *rm, *rv, *mean, *invstd; /* (C) each */
} bn_fd;

static void bn_fd_forward(void *user, float *y) {
  bn_fd *f = user;
  graft_status s;
  if (f->train)
    s = graft_backend_ref.bn_forward_train(f->ctx, &f->d, f->t->x, f->t->gamma, f->t->beta, NULL,
                                           NULL, y, f->mean, f->invstd);
  else
    s = graft_backend_ref.bn_forward_eval(f->ctx, &f->d, f->t->x, f->t->gamma, f->t->beta, f->rm,
                                          f->rv, y);
  assert_int_equal(s, GRAFT_OK);
}

/* Gradients of L = sum(y * dy) with respect to x, gamma and beta, against
 * central differences, in training and eval mode. */
static void test_bn_gradcheck(void **state) {
  (void)state;
  static const struct {
    int64_t m;
    int c;
    float eps;
  } shapes[] = {{2, 3, 1e-3f}, {3, 5, 1e-5f}, {7, 4, 1e-5f}, {16, 9, 1e-5f}, {9, 515, 1e-5f}};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  int ok = 1;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    for (int train = 1; train >= 0; train--) {
      bn_case t;
      bn_case_init(&t, shapes[k].m, shapes[k].c, 200 + k, 0.3f);
      int64_t mc = t.m * t.c;
      int c = t.c;
      bn_fd f = {.ctx = &ctx, .train = train, .t = &t};
      f.d = (graft_bn_desc){.m = t.m, .c = c, .eps = shapes[k].eps, .momentum = 0.1f};
      float *y = malloc(sizeof(float) * (size_t)mc), *dx = calloc((size_t)mc, sizeof(float));
      float *buf = calloc((size_t)c * 6, sizeof(float));
      assert_non_null(y);
      assert_non_null(dx);
      assert_non_null(buf);
      f.rm = buf;
      f.rv = buf + c;
      f.mean = buf + 2 * c;
      f.invstd = buf + 3 * c;
      float *dg = buf + 4 * c, *db = buf + 5 * c;
      tu_rng rng;
      tu_rng_seed(&rng, 300 + k);
      for (int j = 0; j < c; j++) {
        f.rm[j] = tu_uniform(&rng, -0.5f, 0.5f);
        f.rv[j] = tu_uniform(&rng, 0.5f, 2.0f);
      }
      bn_fd_forward(&f, y);
      graft_status s =
          train ? graft_backend_ref.bn_backward_train(&ctx, &f.d, t.x, t.dy, t.gamma, f.mean,
                                                      f.invstd, dx, dg, db)
                : graft_backend_ref.bn_backward_eval(&ctx, &f.d, t.x, t.dy, t.gamma, f.rm, f.rv,
                                                     dx, dg, db);
      assert_int_equal(s, GRAFT_OK);
      char name[96];
      const char *mode = train ? "train" : "eval";
      snprintf(name, sizeof name, "bn %s dx (M %lld, C %d)", mode, (long long)t.m, c);
      ok &= tu_gradcheck(name, &f, bn_fd_forward, y, (size_t)mc, t.dy, t.x, (size_t)mc, dx, 1e-2,
                         5e-3) <= 5e-3;
      snprintf(name, sizeof name, "bn %s dgamma (M %lld, C %d)", mode, (long long)t.m, c);
      ok &= tu_gradcheck(name, &f, bn_fd_forward, y, (size_t)mc, t.dy, t.gamma, (size_t)c, dg,
                         1e-2, 5e-3) <= 5e-3;
      snprintf(name, sizeof name, "bn %s dbeta (M %lld, C %d)", mode, (long long)t.m, c);
      ok &= tu_gradcheck(name, &f, bn_fd_forward, y, (size_t)mc, t.dy, t.beta, (size_t)c, db,
                         1e-2, 5e-3) <= 5e-3;
      free(y);
      free(dx);
      free(buf);
      bn_case_free(&t);
    }
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Backward adds: from gradients pre-filled with 1, a full pass and then one
 * pass per non-NULL gradient leave 1 + 2 * gradient. */
static void test_bn_backward_accumulates(void **state) {
  (void)state;
  bn_case t;
  bn_case_init(&t, 9, 5, 21, 0.0f);
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = 9, .c = 5, .eps = 1e-5f, .momentum = 0.1f};
  float y[45], mean[5], invstd[5], rv[5] = {1, 2, 0.5f, 1.5f, 3};
  int ok = 1;
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &d, t.x, t.gamma, t.beta, NULL, NULL,
                                                      y, mean, invstd),
                   GRAFT_OK);
  for (int train = 1; train >= 0; train--) {
    float dx0[45] = {0}, dg0[5] = {0}, db0[5] = {0}, dx[45], dg[5], db[5];
    float wdx[45], wdg[5], wdb[5];
    const float *stat_mean = mean, *stat_var = rv;
#define BN_BACKWARD(dxp, dgp, dbp)                                                              \
  (train ? graft_backend_ref.bn_backward_train(&ctx, &d, t.x, t.dy, t.gamma, mean, invstd, dxp, \
                                               dgp, dbp)                                        \
         : graft_backend_ref.bn_backward_eval(&ctx, &d, t.x, t.dy, t.gamma, stat_mean,          \
                                              stat_var, dxp, dgp, dbp))
    assert_int_equal(BN_BACKWARD(dx0, dg0, db0), GRAFT_OK);
    for (int i = 0; i < 45; i++) {
      dx[i] = 1.0f;
      wdx[i] = 1.0f + 2.0f * dx0[i];
    }
    for (int j = 0; j < 5; j++) {
      dg[j] = db[j] = 1.0f;
      wdg[j] = 1.0f + 2.0f * dg0[j];
      wdb[j] = 1.0f + 2.0f * db0[j];
    }
    assert_int_equal(BN_BACKWARD(dx, dg, db), GRAFT_OK);
    assert_int_equal(BN_BACKWARD(dx, NULL, NULL), GRAFT_OK);
    assert_int_equal(BN_BACKWARD(NULL, dg, NULL), GRAFT_OK);
    assert_int_equal(BN_BACKWARD(NULL, NULL, db), GRAFT_OK);
    assert_int_equal(BN_BACKWARD(NULL, NULL, NULL), GRAFT_OK);
#undef BN_BACKWARD
    const char *mode = train ? "train" : "eval";
    char label[64];
    snprintf(label, sizeof label, "bn %s dx accumulated", mode);
    ok &= tu_check_close(label, dx, wdx, 45, 1e-6, 1.0);
    snprintf(label, sizeof label, "bn %s dgamma accumulated", mode);
    ok &= tu_check_close(label, dg, wdg, 5, 1e-6, 1.0);
    snprintf(label, sizeof label, "bn %s dbeta accumulated", mode);
    ok &= tu_check_close(label, db, wdb, 5, 1e-6, 1.0);
  }
  assert_true(ok);
  bn_case_free(&t);
  tu_ctx_free(&ctx);
}

static void test_bn_rejects(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  float x[8] = {0}, y[8], g[2] = {1, 1}, b[2] = {0}, rm[2] = {0}, rv[2] = {1, 1}, mean[2], inv[2];
  graft_bn_desc one_row = {.m = 1, .c = 2, .eps = 1e-5f, .momentum = 0.1f};
  graft_bn_desc no_channels = {.m = 4, .c = 0, .eps = 1e-5f, .momentum = 0.1f};
  graft_bn_desc negative_eps = {.m = 4, .c = 2, .eps = -1.0f, .momentum = 0.1f};
  graft_bn_desc ok = {.m = 4, .c = 2, .eps = 1e-5f, .momentum = 0.1f};
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &one_row, x, g, b, rm, rv, y, mean,
                                                      inv),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bn_forward_eval(&ctx, &one_row, x, g, b, rm, rv, y),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &no_channels, x, g, b, rm, rv, y,
                                                      mean, inv),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bn_forward_eval(&ctx, &negative_eps, x, g, b, rm, rv, y),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &ok, x, g, b, rm, NULL, y, mean, inv),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bn_forward_train(&ctx, &ok, x, NULL, b, NULL, NULL, y, mean,
                                                      inv),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.bn_backward_train(&ctx, &ok, x, NULL, g, mean, inv, y, NULL,
                                                       NULL),
                   GRAFT_EINVAL);
  graft_log_set_level(level);
  tu_ctx_free(&ctx);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn_hand),
      cmocka_unit_test(test_bn_train_matches_pytorch),
      cmocka_unit_test(test_bn_eval_matches_pytorch),
      cmocka_unit_test(test_bn_train_vs_naive),
      cmocka_unit_test(test_bn_eval_equals_train_at_batch_stats),
      cmocka_unit_test(test_bn_thread_count_invariant),
      cmocka_unit_test(test_bn_gradcheck),
      cmocka_unit_test(test_bn_backward_accumulates),
      cmocka_unit_test(test_bn_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

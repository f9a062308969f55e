/* test_gpu_layers.c: the CUDA backend's batch norm (plain and fused with a
 * residual add and ReLU), 2-D pooling and linear ops against the CPU
 * reference (graft_backend_ref), over sweeps of shapes
 * with N = 1, odd sizes, channel counts that are not multiples of 32,
 * padding and ceil_mode. Gradients start from random values, so the adding
 * into them is checked too, and every output buffer carries sentinel floats
 * after its end that must stay untouched.
 *
 * Tolerances are relative to each tensor's largest value:
 *  - pooling is EXACT: both backends do the same float operations in the
 *    same order (the GPU backward gathers in the reference's scatter order);
 *  - batch norm is STATS (1e-5): the per-channel sums are doubles added in
 *    another order, and one ulp of a mean or a scale shows in every value;
 *  - linear is GEMM (1e-5): cuBLASLt and OpenBLAS sum the fp32 products in
 *    different orders.
 * Batch norm is also run twice and must give the same bits both times. The
 * fused backward starts from the reference's forward output and saved
 * statistics, so that a ReLU mask cannot differ at a value that rounded to
 * zero on one side only.
 * Skipped (exit 77) without a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include <math.h>

#include "core/log.h"
#include "gpu_testutil.h"
#include "ops/ops.h"

#define EXACT 0.0
#define STATS 1e-5
#define GEMM 1e-5

/* ---- batch norm ------------------------------------------------------------ */

typedef struct {
  int64_t m;
  int c;
} bn_case;

static const bn_case bn_cases[] = {
    {2, 1}, {3, 5}, {7, 33}, {64, 17}, {1000, 64}, {4097, 3}, {12544, 96}, {33, 2048}, {5, 5000},
};
#define BN_NCASES (sizeof bn_cases / sizeof bn_cases[0])

/* The inputs of one case, on the host and on the device. */
typedef struct {
  size_t mc;
  float *x, *dy, *gamma, *beta, *rmean, *rvar; /* (M, C) (M, C) then (C) each */
  float *dx0, *dg0, *db0;                      /* (M, C) (C) (C): initial gradients */
  float *dev_x, *dev_dy, *dev_gamma, *dev_beta;
} bn_inputs;

static void bn_inputs_make(graft_ctx *ctx, tu_rng *rng, const bn_case *bc, bn_inputs *in) {
  const size_t mc = (size_t)bc->m * bc->c;
  in->mc = mc;
  /* an offset far from zero exercises the sums about the first row */
  in->x = gt_random(rng, mc, 2.0f, 4.0f);
  in->dy = gt_random(rng, mc, -1.0f, 1.0f);
  in->gamma = gt_random(rng, bc->c, 0.5f, 1.5f);
  in->beta = gt_random(rng, bc->c, -0.5f, 0.5f);
  in->rmean = gt_random(rng, bc->c, 2.5f, 3.5f);
  in->rvar = gt_random(rng, bc->c, 0.05f, 0.5f);
  in->dx0 = gt_random(rng, mc, -1.0f, 1.0f);
  in->dg0 = gt_random(rng, bc->c, -1.0f, 1.0f);
  in->db0 = gt_random(rng, bc->c, -1.0f, 1.0f);
  in->dev_x = gt_upload(ctx, in->x, mc);
  in->dev_dy = gt_upload(ctx, in->dy, mc);
  in->dev_gamma = gt_upload(ctx, in->gamma, bc->c);
  in->dev_beta = gt_upload(ctx, in->beta, bc->c);
}

static void bn_inputs_free(graft_ctx *ctx, bn_inputs *in) {
  gt_free(ctx, in->dev_x), gt_free(ctx, in->dev_dy);
  gt_free(ctx, in->dev_gamma), gt_free(ctx, in->dev_beta);
  free(in->x), free(in->dy), free(in->gamma), free(in->beta), free(in->rmean), free(in->rvar);
  free(in->dx0), free(in->dg0), free(in->db0);
}

/* Training forward, with and without running statistics, then the training
 * backward from the reference's saved statistics. */
static int bn_train_case(graft_ctx *ctx, graft_ctx *ref, const graft_bn_desc *d,
                         const bn_inputs *in) {
  const int c = d->c;
  const size_t mc = in->mc;
  char label[96];
  int ok = 1;
  float *y = gt_zeros(mc), *smean = gt_zeros(c), *sinv = gt_zeros(c);      /* (M,C) (C) (C) */
  float *rm = gt_dup(in->rmean, c), *rv = gt_dup(in->rvar, c);             /* (C) each */
  assert_int_equal(graft_backend_ref.bn_forward_train(ref, d, in->x, in->gamma, in->beta, rm, rv,
                                                      y, smean, sinv),
                   GRAFT_OK);
  for (int with_running = 0; with_running < 2; with_running++) {
    float *dev_y = gt_upload(ctx, NULL, mc);
    float *dev_smean = gt_upload(ctx, NULL, c), *dev_sinv = gt_upload(ctx, NULL, c);
    float *dev_rm = gt_upload(ctx, in->rmean, c), *dev_rv = gt_upload(ctx, in->rvar, c);
    assert_int_equal(graft_backend_gpu.bn_forward_train(
                         ctx, d, in->dev_x, in->dev_gamma, in->dev_beta,
                         with_running ? dev_rm : NULL, with_running ? dev_rv : NULL, dev_y,
                         dev_smean, dev_sinv),
                     GRAFT_OK);
    snprintf(label, sizeof label, "bn train y m=%lld c=%d run=%d", (long long)d->m, c,
             with_running);
    ok &= gt_check(ctx, label, dev_y, y, mc, STATS);
    snprintf(label, sizeof label, "bn train mean m=%lld c=%d", (long long)d->m, c);
    ok &= gt_check(ctx, label, dev_smean, smean, c, STATS);
    snprintf(label, sizeof label, "bn train invstd m=%lld c=%d", (long long)d->m, c);
    ok &= gt_check(ctx, label, dev_sinv, sinv, c, STATS);
    /* without running statistics the buffers are left as they were */
    snprintf(label, sizeof label, "bn running mean m=%lld c=%d run=%d", (long long)d->m, c,
             with_running);
    ok &= gt_check(ctx, label, dev_rm, with_running ? rm : in->rmean, c, STATS);
    snprintf(label, sizeof label, "bn running var m=%lld c=%d run=%d", (long long)d->m, c,
             with_running);
    ok &= gt_check(ctx, label, dev_rv, with_running ? rv : in->rvar, c, STATS);
    if (with_running) {
      /* deterministic: a second run gives the same bits */
      float *first = gt_zeros(mc), *again = gt_zeros(mc); /* (M, C) each */
      ok &= gt_download(ctx, "bn train y (first)", dev_y, first, mc);
      assert_int_equal(graft_backend_gpu.bn_forward_train(ctx, d, in->dev_x, in->dev_gamma,
                                                          in->dev_beta, NULL, NULL, dev_y,
                                                          dev_smean, dev_sinv),
                       GRAFT_OK);
      ok &= gt_download(ctx, "bn train y (again)", dev_y, again, mc);
      if (memcmp(first, again, mc * sizeof(float)) != 0) {
        fprintf(stderr, "bn train m=%lld c=%d: two runs differ\n", (long long)d->m, c);
        ok = 0;
      }
      free(first), free(again);
    }
    gt_free(ctx, dev_y), gt_free(ctx, dev_smean), gt_free(ctx, dev_sinv);
    gt_free(ctx, dev_rm), gt_free(ctx, dev_rv);
  }

  /* backward from the same saved statistics on both sides */
  float *dx = gt_dup(in->dx0, mc), *dg = gt_dup(in->dg0, c), *db = gt_dup(in->db0, c);
  assert_int_equal(graft_backend_ref.bn_backward_train(ref, d, in->x, in->dy, in->gamma, smean,
                                                       sinv, dx, dg, db),
                   GRAFT_OK);
  float *dev_smean = gt_upload(ctx, smean, c), *dev_sinv = gt_upload(ctx, sinv, c);
  float *dev_dx = gt_upload(ctx, in->dx0, mc);
  float *dev_dg = gt_upload(ctx, in->dg0, c), *dev_db = gt_upload(ctx, in->db0, c);
  assert_int_equal(graft_backend_gpu.bn_backward_train(ctx, d, in->dev_x, in->dev_dy,
                                                       in->dev_gamma, dev_smean, dev_sinv, dev_dx,
                                                       dev_dg, dev_db),
                   GRAFT_OK);
  snprintf(label, sizeof label, "bn train dx m=%lld c=%d", (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_dx, dx, mc, STATS);
  snprintf(label, sizeof label, "bn train dgamma m=%lld c=%d", (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_dg, dg, c, STATS);
  snprintf(label, sizeof label, "bn train dbeta m=%lld c=%d", (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_db, db, c, STATS);
  gt_free(ctx, dev_smean), gt_free(ctx, dev_sinv), gt_free(ctx, dev_dx);
  gt_free(ctx, dev_dg), gt_free(ctx, dev_db);
  free(y), free(smean), free(sinv), free(rm), free(rv), free(dx), free(dg), free(db);
  return ok;
}

/* Eval forward, then the eval backward with all gradients and with dx
 * only. */
static int bn_eval_case(graft_ctx *ctx, graft_ctx *ref, const graft_bn_desc *d,
                        const bn_inputs *in) {
  const int c = d->c;
  const size_t mc = in->mc;
  char label[96];
  int ok = 1;
  float *dev_rm = gt_upload(ctx, in->rmean, c), *dev_rv = gt_upload(ctx, in->rvar, c);
  float *y = gt_zeros(mc); /* (M, C) */
  float *dev_y = gt_upload(ctx, NULL, mc);
  assert_int_equal(graft_backend_ref.bn_forward_eval(ref, d, in->x, in->gamma, in->beta,
                                                     in->rmean, in->rvar, y),
                   GRAFT_OK);
  assert_int_equal(graft_backend_gpu.bn_forward_eval(ctx, d, in->dev_x, in->dev_gamma,
                                                     in->dev_beta, dev_rm, dev_rv, dev_y),
                   GRAFT_OK);
  snprintf(label, sizeof label, "bn eval y m=%lld c=%d", (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_y, y, mc, STATS);

  for (int params = 0; params < 2; params++) {
    float *dx = gt_dup(in->dx0, mc), *dg = gt_dup(in->dg0, c), *db = gt_dup(in->db0, c);
    float *dev_dx = gt_upload(ctx, in->dx0, mc);
    float *dev_dg = gt_upload(ctx, in->dg0, c), *dev_db = gt_upload(ctx, in->db0, c);
    assert_int_equal(graft_backend_ref.bn_backward_eval(ref, d, in->x, in->dy, in->gamma,
                                                        in->rmean, in->rvar, dx,
                                                        params ? dg : NULL, params ? db : NULL),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.bn_backward_eval(
                         ctx, d, in->dev_x, in->dev_dy, in->dev_gamma, dev_rm, dev_rv, dev_dx,
                         params ? dev_dg : NULL, params ? dev_db : NULL),
                     GRAFT_OK);
    snprintf(label, sizeof label, "bn eval dx m=%lld c=%d params=%d", (long long)d->m, c, params);
    ok &= gt_check(ctx, label, dev_dx, dx, mc, STATS);
    snprintf(label, sizeof label, "bn eval dgamma m=%lld c=%d params=%d", (long long)d->m, c,
             params);
    ok &= gt_check(ctx, label, dev_dg, dg, c, STATS);
    snprintf(label, sizeof label, "bn eval dbeta m=%lld c=%d params=%d", (long long)d->m, c,
             params);
    ok &= gt_check(ctx, label, dev_db, db, c, STATS);
    gt_free(ctx, dev_dx), gt_free(ctx, dev_dg), gt_free(ctx, dev_db);
    free(dx), free(dg), free(db);
  }
  gt_free(ctx, dev_rm), gt_free(ctx, dev_rv), gt_free(ctx, dev_y);
  free(y);
  return ok;
}

static void test_batchnorm(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 21);
  int ok = 1;
  for (size_t i = 0; i < BN_NCASES; i++) {
    const graft_bn_desc d = {bn_cases[i].m, bn_cases[i].c, 1e-5f, 0.1f};
    bn_inputs in;
    bn_inputs_make(ctx, &rng, &bn_cases[i], &in);
    ok &= bn_train_case(ctx, &ref, &d, &in);
    ok &= bn_eval_case(ctx, &ref, &d, &in);
    bn_inputs_free(ctx, &in);
  }
  assert_true(ok);
}

/* The partial sums live in the workspace; a context with too little is
 * told so rather than written out of bounds. */
static void test_batchnorm_needs_workspace(void **state) {
  graft_ctx ctx = *gt_ctx_of(state);
  ctx.workspace_bytes = 16;
  const graft_bn_desc d = {8, 4, 1e-5f, 0.1f};
  float *dev = gt_upload(&ctx, NULL, 32); /* (8, 4), also used as every (C) operand */
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(
      graft_backend_gpu.bn_forward_train(&ctx, &d, dev, dev, dev, NULL, NULL, dev, dev, dev),
      GRAFT_EWORKSPACE);
  graft_log_set_level(saved);
  gt_free(&ctx, dev);
}

/* ---- batch norm fused with a residual add and an activation --------------- */

/* The fused ops of one case for one activation, with or without residual,
 * in training or eval mode: the forward against the reference, then the
 * backward from the reference's y (and saved statistics) with every
 * gradient, and with dresidual alone. */
static int bn_act_case_run(graft_ctx *ctx, graft_ctx *ref, tu_rng *rng, const graft_bn_desc *d,
                           const bn_inputs *in, graft_act act, int with_res, int train) {
  const int c = d->c;
  const size_t mc = in->mc;
  const char *mode = train ? "train" : "eval";
  char label[128];
  int ok = 1;
  float *r = gt_random(rng, mc, -1.0f, 1.0f), *dr0 = gt_random(rng, mc, -1.0f, 1.0f); /* (M, C) */
  float *dev_r = with_res ? gt_upload(ctx, r, mc) : NULL;
  float *y = gt_zeros(mc), *smean = gt_zeros(c), *sinv = gt_zeros(c);      /* (M,C) (C) (C) */
  float *rm = gt_dup(in->rmean, c), *rv = gt_dup(in->rvar, c);             /* (C) each */
  float *dev_y = gt_upload(ctx, NULL, mc);
  float *dev_rm = gt_upload(ctx, in->rmean, c), *dev_rv = gt_upload(ctx, in->rvar, c);
  float *dev_smean = gt_upload(ctx, NULL, c), *dev_sinv = gt_upload(ctx, NULL, c);
  if (train) {
    assert_int_equal(graft_backend_ref.bn_act_forward_train(ref, d, act, in->x, in->gamma, in->beta,
                                                            rm, rv, with_res ? r : NULL, y, smean,
                                                            sinv),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.bn_act_forward_train(ctx, d, act, in->dev_x, in->dev_gamma,
                                                            in->dev_beta, dev_rm, dev_rv, dev_r,
                                                            dev_y, dev_smean, dev_sinv),
                     GRAFT_OK);
  } else {
    assert_int_equal(graft_backend_ref.bn_act_forward_eval(ref, d, act, in->x, in->gamma, in->beta,
                                                           rm, rv, with_res ? r : NULL, y),
                     GRAFT_OK);
    assert_int_equal(graft_backend_gpu.bn_act_forward_eval(ctx, d, act, in->dev_x, in->dev_gamma,
                                                           in->dev_beta, dev_rm, dev_rv, dev_r,
                                                           dev_y),
                     GRAFT_OK);
  }
  snprintf(label, sizeof label, "bn_act %s y m=%lld c=%d act=%d res=%d", mode, (long long)d->m, c,
           (int)act, with_res);
  ok &= gt_check(ctx, label, dev_y, y, mc, STATS);
  snprintf(label, sizeof label, "bn_act %s running mean m=%lld c=%d", mode, (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_rm, rm, c, STATS);
  snprintf(label, sizeof label, "bn_act %s running var m=%lld c=%d", mode, (long long)d->m, c);
  ok &= gt_check(ctx, label, dev_rv, rv, c, STATS);
  if (train) {
    snprintf(label, sizeof label, "bn_act train mean m=%lld c=%d", (long long)d->m, c);
    ok &= gt_check(ctx, label, dev_smean, smean, c, STATS);
    snprintf(label, sizeof label, "bn_act train invstd m=%lld c=%d", (long long)d->m, c);
    ok &= gt_check(ctx, label, dev_sinv, sinv, c, STATS);
  }
  gt_free(ctx, dev_y), gt_free(ctx, dev_smean), gt_free(ctx, dev_sinv);

  /* backward from the reference's forward, on both sides */
  float *dev_yref = gt_upload(ctx, y, mc);
  float *dev_s1 = gt_upload(ctx, train ? smean : rm, c), *dev_s2 = gt_upload(ctx, train ? sinv : rv, c);
  for (int all = 1; all >= 0; all--) {
    if (!all && !with_res) continue; /* dresidual alone needs a residual */
    float *dx = gt_dup(in->dx0, mc), *dr = gt_dup(dr0, mc);
    float *dg = gt_dup(in->dg0, c), *db = gt_dup(in->db0, c);
    float *dev_dx = gt_upload(ctx, in->dx0, mc), *dev_dr = gt_upload(ctx, dr0, mc);
    float *dev_dg = gt_upload(ctx, in->dg0, c), *dev_db = gt_upload(ctx, in->db0, c);
    float *hdx = all ? dx : NULL, *hdr = with_res ? dr : NULL;
    float *hdg = all ? dg : NULL, *hdb = all ? db : NULL;
    float *ddx = all ? dev_dx : NULL, *ddr = with_res ? dev_dr : NULL;
    float *ddg = all ? dev_dg : NULL, *ddb = all ? dev_db : NULL;
    if (train) {
      assert_int_equal(graft_backend_ref.bn_act_backward_train(ref, d, act, in->x, y, in->dy,
                                                               in->gamma, smean, sinv, hdx, hdr,
                                                               hdg, hdb),
                       GRAFT_OK);
      assert_int_equal(graft_backend_gpu.bn_act_backward_train(ctx, d, act, in->dev_x, dev_yref,
                                                               in->dev_dy, in->dev_gamma, dev_s1,
                                                               dev_s2, ddx, ddr, ddg, ddb),
                       GRAFT_OK);
    } else {
      assert_int_equal(graft_backend_ref.bn_act_backward_eval(ref, d, act, in->x, y, in->dy,
                                                              in->gamma, rm, rv, hdx, hdr, hdg,
                                                              hdb),
                       GRAFT_OK);
      assert_int_equal(graft_backend_gpu.bn_act_backward_eval(ctx, d, act, in->dev_x, dev_yref,
                                                              in->dev_dy, in->dev_gamma, dev_s1,
                                                              dev_s2, ddx, ddr, ddg, ddb),
                       GRAFT_OK);
    }
    const char *what[] = {"dx", "dresidual", "dgamma", "dbeta"};
    float *devs[] = {dev_dx, dev_dr, dev_dg, dev_db}, *wants[] = {dx, dr, dg, db};
    const size_t ns[] = {mc, mc, (size_t)c, (size_t)c};
    for (int k = 0; k < 4; k++) {
      snprintf(label, sizeof label, "bn_act %s %s m=%lld c=%d act=%d res=%d all=%d", mode, what[k],
               (long long)d->m, c, (int)act, with_res, all);
      ok &= gt_check(ctx, label, devs[k], wants[k], ns[k], STATS);
    }
    gt_free(ctx, dev_dx), gt_free(ctx, dev_dr), gt_free(ctx, dev_dg), gt_free(ctx, dev_db);
    free(dx), free(dr), free(dg), free(db);
  }
  gt_free(ctx, dev_yref), gt_free(ctx, dev_s1), gt_free(ctx, dev_s2);
  gt_free(ctx, dev_rm), gt_free(ctx, dev_rv);
  if (dev_r) gt_free(ctx, dev_r);
  free(r), free(dr0), free(y), free(smean), free(sinv), free(rm), free(rv);
  return ok;
}

static void test_bn_act(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 24);
  int ok = 1;
  for (size_t i = 0; i < BN_NCASES; i++) {
    const graft_bn_desc d = {bn_cases[i].m, bn_cases[i].c, 1e-5f, 0.1f};
    bn_inputs in;
    bn_inputs_make(ctx, &rng, &bn_cases[i], &in);
    for (int train = 0; train < 2; train++)
      for (int act = GRAFT_ACT_IDENTITY; act <= GRAFT_ACT_RELU; act++)
        for (int with_res = 0; with_res < 2; with_res++)
          ok &= bn_act_case_run(ctx, &ref, &rng, &d, &in, (graft_act)act, with_res, train);
    bn_inputs_free(ctx, &in);
  }
  assert_true(ok);
}

/* The fused ops share the plain ones' workspace rule, and fuse the
 * identity and ReLU only. */
static void test_bn_act_rejects(void **state) {
  graft_ctx ctx = *gt_ctx_of(state);
  const graft_bn_desc d = {8, 4, 1e-5f, 0.1f};
  float *dev = gt_upload(&ctx, NULL, 32); /* (8, 4), also used as every (C) operand */
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.bn_act_forward_train(&ctx, &d, GRAFT_ACT_SILU, dev, dev, dev,
                                                          NULL, NULL, NULL, dev, dev, dev),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_backend_gpu.bn_act_backward_eval(&ctx, &d, GRAFT_ACT_SIGMOID, dev, dev,
                                                          dev, dev, dev, dev, dev, NULL, NULL,
                                                          NULL),
                   GRAFT_EUNSUPPORTED);
  ctx.workspace_bytes = 16;
  assert_int_equal(graft_backend_gpu.bn_act_forward_train(&ctx, &d, GRAFT_ACT_RELU, dev, dev, dev,
                                                          NULL, NULL, NULL, dev, dev, dev),
                   GRAFT_EWORKSPACE);
  assert_int_equal(graft_backend_gpu.bn_act_backward_train(&ctx, &d, GRAFT_ACT_RELU, dev, dev, dev,
                                                           dev, dev, dev, dev, NULL, NULL, NULL),
                   GRAFT_EWORKSPACE);
  graft_log_set_level(saved);
  gt_free(&ctx, dev);
}

/* ---- pooling ---------------------------------------------------------------- */

typedef struct {
  int n, h, w, c, r, s, sh, sw, ph, pw, ceil_mode, count_include_pad;
} pool_case;

static const pool_case pool_cases[] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1},     /* identity */
    {2, 7, 9, 3, 3, 3, 2, 2, 1, 1, 0, 1},     /* odd sizes, padding */
    {1, 7, 9, 33, 3, 3, 2, 2, 1, 1, 1, 0},    /* ceil_mode, divisor without padding */
    {3, 8, 8, 64, 2, 2, 2, 2, 0, 0, 0, 1},    /* the common 2x2 */
    {2, 13, 11, 5, 3, 2, 2, 3, 1, 1, 1, 1},   /* rectangular, ceil_mode with padding */
    {1, 6, 6, 3, 2, 2, 3, 3, 0, 0, 1, 0},     /* stride past the window: gaps */
    {2, 5, 5, 7, 5, 5, 1, 1, 2, 2, 1, 0},     /* window as large as the input */
    {2, 13, 13, 40, 5, 5, 1, 1, 2, 2, 0, 1},  /* SPP-style stride 1 */
    {1, 112, 112, 64, 3, 3, 2, 2, 1, 1, 0, 1}, /* the ResNet stem */
};
#define POOL_NCASES (sizeof pool_cases / sizeof pool_cases[0])

static void test_pool2d(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 22);
  int ok = 1;
  for (size_t i = 0; i < POOL_NCASES; i++) {
    for (int kind = GRAFT_POOL_MAX; kind <= GRAFT_POOL_AVG; kind++) {
      const pool_case *pc = &pool_cases[i];
      graft_pool2d_desc d = {(graft_pool_kind)kind, pc->n, pc->h, pc->w, pc->c, pc->r, pc->s,
                             pc->sh, pc->sw, pc->ph, pc->pw, pc->ceil_mode,
                             pc->count_include_pad, 0, 0};
      assert_int_equal(graft_pool2d_setup(&d), GRAFT_OK);
      const size_t nx = (size_t)d.n * d.h * d.w * d.c, ny = (size_t)d.n * d.p * d.q * d.c;
      /* values on a coarse grid, so that windows hold ties: the gradient must
       * go to the first maximum */
      float *x = gt_random(&rng, nx, -2.0f, 2.0f); /* (N, H, W, C) */
      for (size_t k = 0; k < nx; k++) x[k] = roundf(x[k] * 2.0f) / 2.0f;
      float *dy = gt_random(&rng, ny, -1.0f, 1.0f); /* (N, P, Q, C) */
      float *dx = gt_random(&rng, nx, -1.0f, 1.0f); /* (N, H, W, C) */
      float *dev_dx = gt_upload(ctx, dx, nx);
      float *y = gt_zeros(ny); /* (N, P, Q, C) */
      float *dev_x = gt_upload(ctx, x, nx), *dev_dy = gt_upload(ctx, dy, ny);
      float *dev_y = gt_upload(ctx, NULL, ny);
      assert_int_equal(graft_backend_ref.pool2d_forward(&ref, &d, x, y), GRAFT_OK);
      assert_int_equal(graft_backend_ref.pool2d_backward(&ref, &d, x, y, dy, dx), GRAFT_OK);
      assert_int_equal(graft_backend_gpu.pool2d_forward(ctx, &d, dev_x, dev_y), GRAFT_OK);
      assert_int_equal(graft_backend_gpu.pool2d_backward(ctx, &d, dev_x, dev_y, dev_dy, dev_dx),
                       GRAFT_OK);
      char label[128];
      snprintf(label, sizeof label, "%s pool forward case %zu (%dx%d -> %dx%d)",
               kind == GRAFT_POOL_MAX ? "max" : "avg", i, d.h, d.w, d.p, d.q);
      ok &= gt_check(ctx, label, dev_y, y, ny, EXACT);
      snprintf(label, sizeof label, "%s pool backward case %zu",
               kind == GRAFT_POOL_MAX ? "max" : "avg", i);
      ok &= gt_check(ctx, label, dev_dx, dx, nx, EXACT);
      gt_free(ctx, dev_x), gt_free(ctx, dev_dy), gt_free(ctx, dev_y), gt_free(ctx, dev_dx);
      free(x), free(dy), free(dx), free(y);
    }
  }
  /* a descriptor that did not go through setup is refused */
  graft_pool2d_desc bad = {GRAFT_POOL_MAX, 1, 4, 4, 1, 2, 2, 2, 2, 0, 0, 0, 1, 3, 3};
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.pool2d_forward(ctx, &bad, NULL, NULL), GRAFT_ESHAPE);
  graft_log_set_level(saved);
  assert_true(ok);
}

/* ---- linear ----------------------------------------------------------------- */

typedef struct {
  int n, in, out;
} linear_case;

static const linear_case linear_cases[] = {
    {1, 1, 1}, {1, 7, 3}, {5, 33, 17}, {257, 31, 65}, {3, 2048, 10}, {64, 512, 1000},
};
#define LINEAR_NCASES (sizeof linear_cases / sizeof linear_cases[0])

/* A device copy of host (n floats) that starts one float past a 256-byte
 * boundary when misalign is set, as a tensor carved out of an arena may;
 * *base is what to free. */
static float *upload_at(graft_ctx *ctx, const float *host, size_t n, int misalign, float **base) {
  if (!misalign) return *base = gt_upload(ctx, host, n);
  float *staging = gt_zeros(n + 1); /* (1 + n) */
  if (host) memcpy(staging + 1, host, n * sizeof(float));
  *base = gt_upload(ctx, staging, n + 1);
  free(staging);
  return *base + 1;
}

static int linear_case_run(graft_ctx *ctx, graft_ctx *ref, tu_rng *rng, const linear_case *lc,
                           int with_bias, int misalign) {
  const graft_linear_desc d = {lc->n, lc->in, lc->out};
  const size_t nx = (size_t)d.n * d.in, nw = (size_t)d.out * d.in, ny = (size_t)d.n * d.out;
  float *x = gt_random(rng, nx, -1, 1), *w = gt_random(rng, nw, -1, 1);     /* (N,in) (out,in) */
  float *b = gt_random(rng, d.out, -1, 1), *dy = gt_random(rng, ny, -1, 1); /* (out) (N,out) */
  float *dx = gt_random(rng, nx, -1, 1), *dw = gt_random(rng, nw, -1, 1);   /* initial */
  float *db = gt_random(rng, d.out, -1, 1);                                 /* initial */
  float *y = gt_zeros(ny);                                                  /* (N, out) */
  float *bx, *bw, *bb, *bdy, *bdx, *bdw, *bdb, *by; /* allocations to free */
  float *dev_x = upload_at(ctx, x, nx, misalign, &bx), *dev_w = upload_at(ctx, w, nw, misalign, &bw);
  float *dev_b = upload_at(ctx, b, d.out, misalign, &bb);
  float *dev_dy = upload_at(ctx, dy, ny, misalign, &bdy);
  float *dev_dx = upload_at(ctx, dx, nx, misalign, &bdx);
  float *dev_dw = upload_at(ctx, dw, nw, misalign, &bdw);
  float *dev_db = upload_at(ctx, db, d.out, misalign, &bdb);
  float *dev_y = upload_at(ctx, NULL, ny, misalign, &by);
  assert_int_equal(graft_backend_ref.linear_forward(ref, &d, x, w, with_bias ? b : NULL, y),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.linear_backward(ref, &d, x, w, dy, dx, dw,
                                                     with_bias ? db : NULL),
                   GRAFT_OK);
  assert_int_equal(
      graft_backend_gpu.linear_forward(ctx, &d, dev_x, dev_w, with_bias ? dev_b : NULL, dev_y),
      GRAFT_OK);
  assert_int_equal(graft_backend_gpu.linear_backward(ctx, &d, dev_x, dev_w, dev_dy, dev_dx,
                                                     dev_dw, with_bias ? dev_db : NULL),
                   GRAFT_OK);
  char label[128];
  int ok = 1;
  const char *what[] = {"y", "dx", "dw", "dbias"};
  float *devs[] = {dev_y, dev_dx, dev_dw, dev_db}, *wants[] = {y, dx, dw, db};
  const size_t ns[] = {ny, nx, nw, (size_t)d.out};
  for (int k = 0; k < 4; k++) {
    snprintf(label, sizeof label, "linear %s n=%d in=%d out=%d bias=%d misaligned=%d", what[k],
             d.n, d.in, d.out, with_bias, misalign);
    ok &= gt_check(ctx, label, devs[k], wants[k], ns[k], GEMM);
  }
  gt_free(ctx, bx), gt_free(ctx, bw), gt_free(ctx, bb), gt_free(ctx, bdy);
  gt_free(ctx, bdx), gt_free(ctx, bdw), gt_free(ctx, bdb), gt_free(ctx, by);
  free(x), free(w), free(b), free(dy), free(dx), free(dw), free(db), free(y);
  return ok;
}

static void test_linear(void **state) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, 23);
  int ok = 1;
  for (size_t i = 0; i < LINEAR_NCASES; i++)
    for (int with_bias = 0; with_bias < 2; with_bias++)
      ok &= linear_case_run(ctx, &ref, &rng, &linear_cases[i], with_bias, 0);
  ok &= linear_case_run(ctx, &ref, &rng, &linear_cases[2], 1, 1);
  ok &= linear_case_run(ctx, &ref, &rng, &linear_cases[5], 1, 1);
  /* an empty batch touches nothing */
  const graft_linear_desc empty = {0, 4, 3};
  assert_int_equal(graft_backend_gpu.linear_forward(ctx, &empty, NULL, NULL, NULL, NULL),
                   GRAFT_OK);
  assert_int_equal(
      graft_backend_gpu.linear_backward(ctx, &empty, NULL, NULL, NULL, NULL, NULL, NULL),
      GRAFT_OK);
  assert_true(ok);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_layers: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_batchnorm),
      cmocka_unit_test(test_batchnorm_needs_workspace),
      cmocka_unit_test(test_bn_act),
      cmocka_unit_test(test_bn_act_rejects),
      cmocka_unit_test(test_pool2d),
      cmocka_unit_test(test_linear),
  };
  return cmocka_run_group_tests(tests, gt_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_layers: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

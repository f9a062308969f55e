/* test_gpu_bf16_bn.c: the CUDA backend's batch norms (bn_forward_train/
 * eval, bn_backward_train/eval and the fused bn_act_* with a residual add
 * and ReLU) with activations stored as bf16 (ctx->act_dtype =
 * GRAFT_DTYPE_BF16, ops.h), against the CPU reference (fp32).
 *
 * The activations (x, residual, dy and the initial dx and dresidual) are
 * made in fp32 and rounded to bf16 on the host, so the reference runs on
 * exactly the values the device loads; gamma, beta, the running and saved
 * statistics and the parameter gradients are fp32 on both sides. bf16
 * results come back widened and are compared element by element
 * (gt_check_bf16, gpu_testutil.h):
 *
 *   |got - want| <= 2^-8 |want| + slack * max|want|
 *
 * 2^-8 is the unit roundoff of bf16 (8 significant bits): the device
 * computes each value in fp32 and rounds it once when it stores, which
 * moves it by at most 2^-8 of itself. slack covers what the fp32 result
 * itself may differ by, measured against the tensor's largest value:
 *  - OUT_SLACK (2e-5) for y: twice STATS, the per-channel sums being
 *    doubles added in another order (test_gpu_layers.c);
 *  - ADDED_SLACK (1e-4) for dx and dresidual, which are added into an
 *    existing gradient (read as bf16, added in fp32, rounded back): the
 *    error of the added term is relative to its own largest value, which
 *    can exceed that of the sum.
 * The fp32 outputs (saved and running statistics, dgamma, dbeta) come from
 * the same inputs as the reference's, so they are held to STATS (1e-5)
 * relative to the tensor's largest value. The backward gets the
 * reference's forward output rounded to bf16 and its saved statistics, on
 * both sides: the ReLU mask is then the same bits. Every bf16 output
 * carries bf16 sentinels after its end that must stay untouched, and every
 * fp32 one the sentinel floats of gpu_testutil.h. Skipped (exit 77)
 * without a GPU. */
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

#define STATS 1e-5       /* fp32 outputs: double sums added in another order */
#define OUT_SLACK 2e-5   /* y: the fp32 value before its rounding */
#define ADDED_SLACK 1e-4 /* dx, dresidual: the fp32 term added before the rounding */

/* ---- the cases -------------------------------------------------------------- */

typedef struct {
  int64_t m;
  int c;
} bn_case;

static const bn_case cases[] = {
    {1, 7},     /* M = 1: eval only */
    {2, 1},     /* the smallest training batch, one channel */
    {5, 33},    /* odd C, one past a 32-channel block of the sums */
    {257, 3},   /* odd M and C */
    {64, 600},  /* C past a 256-thread block of the channel kernels (and the reference's 512) */
    {1000, 64}, /* several row chunks of the sums */
    {4097, 5},  /* many row chunks, odd C */
};
#define NCASES (sizeof cases / sizeof cases[0])

/* Which op of the family runs. */
typedef struct {
  int fused;     /* bn_act_* rather than bn_* */
  graft_act act; /* GRAFT_ACT_IDENTITY for the plain ops */
  int with_res;  /* a residual (fused only) */
  int train;     /* training or eval mode */
} bn_mode;

/* The forward of md on backend be: the reference on host buffers, or the
 * device on device ones. res (fused only) and the saved statistics
 * (training only) are ignored where the op has none. */
static void bn_forward(const graft_backend *be, graft_ctx *c, const graft_bn_desc *d,
                       const bn_mode *md,
                       const float *x,                        /* (M, C) */
                       const float *gamma, const float *beta, /* (C) each */
                       float *rm, float *rv,                  /* (C) each, running */
                       const float *res,                      /* (M, C) or NULL */
                       float *y,                              /* (M, C) */
                       float *smean, float *sinv) {           /* (C) each, saved */
  graft_status st;
  if (md->fused && md->train)
    st = be->bn_act_forward_train(c, d, md->act, x, gamma, beta, rm, rv, res, y, smean, sinv);
  else if (md->fused)
    st = be->bn_act_forward_eval(c, d, md->act, x, gamma, beta, rm, rv, res, y);
  else if (md->train)
    st = be->bn_forward_train(c, d, x, gamma, beta, rm, rv, y, smean, sinv);
  else
    st = be->bn_forward_eval(c, d, x, gamma, beta, rm, rv, y);
  assert_int_equal(st, GRAFT_OK);
}

/* The backward of md on backend be, from the forward output y (fused
 * only) and the statistics st1, st2 (saved in training, running in eval);
 * dresidual is ignored by the plain ops. */
static void bn_backward(const graft_backend *be, graft_ctx *c, const graft_bn_desc *d,
                        const bn_mode *md,
                        const float *x, const float *y, const float *dy,        /* (M, C) each */
                        const float *gamma, const float *st1, const float *st2, /* (C) each */
                        float *dx, float *dres,        /* (M, C) each or NULL */
                        float *dgamma, float *dbeta) { /* (C) each or NULL */
  graft_status st;
  if (md->fused && md->train)
    st = be->bn_act_backward_train(c, d, md->act, x, y, dy, gamma, st1, st2, dx, dres, dgamma,
                                   dbeta);
  else if (md->fused)
    st = be->bn_act_backward_eval(c, d, md->act, x, y, dy, gamma, st1, st2, dx, dres, dgamma,
                                  dbeta);
  else if (md->train)
    st = be->bn_backward_train(c, d, x, dy, gamma, st1, st2, dx, dgamma, dbeta);
  else
    st = be->bn_backward_eval(c, d, x, dy, gamma, st1, st2, dx, dgamma, dbeta);
  assert_int_equal(st, GRAFT_OK);
}

/* One forward of the mode against the reference, then its backward from
 * the reference's rounded y and statistics: with every gradient, and
 * again with dresidual alone (fused with a residual) or dx alone. */
static int bn_bf16_run(graft_ctx *ctx, graft_ctx *ref, tu_rng *rng, const graft_bn_desc *d,
                       const bn_mode *md) {
  const int c = d->c;
  const size_t mc = (size_t)d->m * c;
  const graft_act act = md->act;
  char tag[96], label[160];
  snprintf(tag, sizeof tag, "%s %s m=%lld c=%d act=%d res=%d", md->fused ? "bn_act" : "bn",
           md->train ? "train" : "eval", (long long)d->m, c, (int)act, md->with_res);
  int ok = 1;

  /* activations, bf16 values; x far from zero exercises the sums about the first row */
  float *x = gt_random_bf16(rng, mc, 2.0f, 4.0f);    /* (M, C) */
  float *r = gt_random_bf16(rng, mc, -1.0f, 1.0f);   /* (M, C) residual */
  float *dy = gt_random_bf16(rng, mc, -1.0f, 1.0f);  /* (M, C) */
  float *dx0 = gt_random_bf16(rng, mc, -1.0f, 1.0f); /* (M, C) initial dx */
  float *dr0 = gt_random_bf16(rng, mc, -1.0f, 1.0f); /* (M, C) initial dresidual */
  /* per-channel values, fp32 */
  float *gamma = gt_random(rng, c, 0.5f, 1.5f), *beta = gt_random(rng, c, -0.5f, 0.5f);
  float *rmean0 = gt_random(rng, c, 2.5f, 3.5f), *rvar0 = gt_random(rng, c, 0.05f, 0.5f);
  float *dg0 = gt_random(rng, c, -1.0f, 1.0f), *db0 = gt_random(rng, c, -1.0f, 1.0f);
  const float *res = md->with_res ? r : NULL;

  float *dev_x = gt_upload_bf16(ctx, x, mc), *dev_dy = gt_upload_bf16(ctx, dy, mc);
  float *dev_r = md->with_res ? gt_upload_bf16(ctx, r, mc) : NULL;
  float *dev_gamma = gt_upload(ctx, gamma, c), *dev_beta = gt_upload(ctx, beta, c);

  /* ---- forward ---- */
  float *y = gt_zeros(mc), *smean = gt_zeros(c), *sinv = gt_zeros(c); /* (M,C) (C) (C) */
  float *rm = gt_dup(rmean0, c), *rv = gt_dup(rvar0, c);              /* (C) each */
  float *dev_y = gt_upload_bf16(ctx, NULL, mc);
  float *dev_rm = gt_upload(ctx, rmean0, c), *dev_rv = gt_upload(ctx, rvar0, c);
  float *dev_smean = gt_upload(ctx, NULL, c), *dev_sinv = gt_upload(ctx, NULL, c);
  bn_forward(&graft_backend_ref, ref, d, md, x, gamma, beta, rm, rv, res, y, smean, sinv);
  bn_forward(&graft_backend_gpu, ctx, d, md, dev_x, dev_gamma, dev_beta, dev_rm, dev_rv, dev_r,
             dev_y, dev_smean, dev_sinv);
  snprintf(label, sizeof label, "%s: y", tag);
  ok &= gt_check_bf16(ctx, label, dev_y, y, NULL, mc, OUT_SLACK);
  /* running statistics: updated in training, untouched in eval */
  snprintf(label, sizeof label, "%s: running mean", tag);
  ok &= gt_check(ctx, label, dev_rm, rm, c, STATS);
  snprintf(label, sizeof label, "%s: running var", tag);
  ok &= gt_check(ctx, label, dev_rv, rv, c, STATS);
  if (md->train) {
    snprintf(label, sizeof label, "%s: save_mean", tag);
    ok &= gt_check(ctx, label, dev_smean, smean, c, STATS);
    snprintf(label, sizeof label, "%s: save_invstd", tag);
    ok &= gt_check(ctx, label, dev_sinv, sinv, c, STATS);
  }

  /* ---- backward, from the reference's y rounded to bf16 (the same bits on
   * both sides) and the reference's statistics ---- */
  for (size_t i = 0; i < mc; i++) y[i] = graft_bf16_roundf(y[i]);
  float *dev_yb = gt_upload_bf16(ctx, y, mc);
  const float *st1 = md->train ? smean : rm, *st2 = md->train ? sinv : rv; /* (C) each */
  float *dev_st1 = gt_upload(ctx, st1, c), *dev_st2 = gt_upload(ctx, st2, c);
  for (int all = 1; all >= 0; all--) {
    const int give_dr = md->fused && md->with_res;
    const int give_dx = all || !give_dr;
    float *dx = gt_dup(dx0, mc), *dr = gt_dup(dr0, mc); /* (M, C) each */
    float *dg = gt_dup(dg0, c), *db = gt_dup(db0, c);   /* (C) each */
    float *dev_dx = gt_upload_bf16(ctx, dx0, mc), *dev_dr = gt_upload_bf16(ctx, dr0, mc);
    float *dev_dg = gt_upload(ctx, dg0, c), *dev_db = gt_upload(ctx, db0, c);
    float *hdx = give_dx ? dx : NULL, *hdr = give_dr ? dr : NULL;
    float *hdg = all ? dg : NULL, *hdb = all ? db : NULL;
    float *ddx = give_dx ? dev_dx : NULL, *ddr = give_dr ? dev_dr : NULL;
    float *ddg = all ? dev_dg : NULL, *ddb = all ? dev_db : NULL;
    bn_backward(&graft_backend_ref, ref, d, md, x, y, dy, gamma, st1, st2, hdx, hdr, hdg, hdb);
    bn_backward(&graft_backend_gpu, ctx, d, md, dev_x, dev_yb, dev_dy, dev_gamma, dev_st1, dev_st2,
                ddx, ddr, ddg, ddb);
    /* a gradient not asked for must hold its initial values */
    snprintf(label, sizeof label, "%s all=%d: dx", tag, all);
    ok &= gt_check_bf16(ctx, label, dev_dx, dx, NULL, mc, ADDED_SLACK);
    snprintf(label, sizeof label, "%s all=%d: dresidual", tag, all);
    ok &= gt_check_bf16(ctx, label, dev_dr, dr, NULL, mc, ADDED_SLACK);
    snprintf(label, sizeof label, "%s all=%d: dgamma", tag, all);
    ok &= gt_check(ctx, label, dev_dg, dg, c, STATS);
    snprintf(label, sizeof label, "%s all=%d: dbeta", tag, all);
    ok &= gt_check(ctx, label, dev_db, db, c, STATS);
    gt_free(ctx, dev_dx), gt_free(ctx, dev_dr), gt_free(ctx, dev_dg), gt_free(ctx, dev_db);
    free(dx), free(dr), free(dg), free(db);
  }

  gt_free(ctx, dev_yb), gt_free(ctx, dev_st1), gt_free(ctx, dev_st2);
  gt_free(ctx, dev_y), gt_free(ctx, dev_rm), gt_free(ctx, dev_rv);
  gt_free(ctx, dev_smean), gt_free(ctx, dev_sinv);
  gt_free(ctx, dev_x), gt_free(ctx, dev_dy), gt_free(ctx, dev_gamma), gt_free(ctx, dev_beta);
  if (dev_r) gt_free(ctx, dev_r);
  free(y), free(smean), free(sinv), free(rm), free(rv);
  free(x), free(r), free(dy), free(dx0), free(dr0);
  free(gamma), free(beta), free(rmean0), free(rvar0), free(dg0), free(db0);
  return ok;
}

/* Every case in eval and (with two rows or more) training mode, with the
 * plain ops or the fused ones (identity and ReLU, with and without the
 * residual), inputs drawn from seed; asserts that all agree. */
static void bn_bf16_sweep(void **state, int fused, uint64_t seed) {
  graft_ctx *ctx = gt_ctx_of(state), ref;
  tu_ctx_init(&ref, 0);
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  const int last_act = fused ? GRAFT_ACT_RELU : GRAFT_ACT_IDENTITY;
  int ok = 1;
  for (size_t i = 0; i < NCASES; i++) {
    const graft_bn_desc d = {cases[i].m, cases[i].c, 1e-5f, 0.1f};
    for (int train = 0; train < 2; train++) {
      if (train && d.m < 2) continue; /* training needs two rows */
      for (int act = GRAFT_ACT_IDENTITY; act <= last_act; act++)
        for (int with_res = 0; with_res <= fused; with_res++) {
          const bn_mode md = {fused, (graft_act)act, with_res, train};
          ok &= bn_bf16_run(ctx, &ref, &rng, &d, &md);
        }
    }
  }
  assert_true(ok);
}

/* bn_forward_train/eval and bn_backward_train/eval. */
static void test_bn_bf16(void **state) { bn_bf16_sweep(state, 0, 41); }

/* bn_act_forward_train/eval and bn_act_backward_train/eval, identity and
 * ReLU, with and without the residual. */
static void test_bn_act_bf16(void **state) { bn_bf16_sweep(state, 1, 42); }

/* Activations stored as anything but fp32 or bf16 are refused. */
static void test_bn_other_storage(void **state) {
  graft_ctx ctx = *gt_ctx_of(state);
  ctx.act_dtype = GRAFT_DTYPE_F16;
  const graft_bn_desc d = {8, 4, 1e-5f, 0.1f};
  float *dev = gt_upload(&ctx, NULL, 32); /* (8, 4), also used as every (C) operand */
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.bn_forward_eval(&ctx, &d, dev, dev, dev, dev, dev, dev),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_backend_gpu.bn_act_backward_train(&ctx, &d, GRAFT_ACT_RELU, dev, dev, dev,
                                                           dev, dev, dev, dev, NULL, NULL, NULL),
                   GRAFT_EUNSUPPORTED);
  graft_log_set_level(saved);
  gt_free(&ctx, dev);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_bf16_bn: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn_bf16),
      cmocka_unit_test(test_bn_act_bf16),
      cmocka_unit_test(test_bn_other_storage),
  };
  return cmocka_run_group_tests(tests, gt_bf16_ctx_setup, gt_ctx_teardown);
}

#else

int main(void) {
  printf("test_gpu_bf16_bn: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

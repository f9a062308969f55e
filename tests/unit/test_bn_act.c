/* test_bn_act.c: the CPU reference of batch norm fused with a residual add
 * and an activation (ops.h bn_act_*), and the fused layer built on it.
 *  - a case worked by hand (train, ReLU, residual);
 *  - the fused ops against the unfused composition of the existing ops
 *    (bn, add_forward, act_forward; act_backward, accumulate, bn backward)
 *    over shapes with M = 1 (eval only), odd C and C past the 512-channel
 *    block and the threading threshold, with and without residual, for the
 *    identity and ReLU, in training and eval mode; gradients start from
 *    random values, so the adding is checked too. Fused and unfused do the
 *    same float operations in the same order, so the tolerance (FUSED_TOL,
 *    relative to each tensor's largest value) only leaves room for a
 *    compiler that rounds a product differently;
 *  - that the comparison has teeth: a backward that forgets the ReLU mask
 *    is told apart;
 *  - finite-difference checks of dx, dgamma, dbeta and dresidual;
 *  - each gradient output may be NULL and leaves the others as they were;
 *  - the rejected arguments;
 *  - the layer: a small net of fused layers (one fed the net's input, one
 *    adding the input as residual) against the same net built from
 *    batchnorm, add and activation layers, in training, eval and bn_freeze,
 *    with num_batches_tracked counted the same. */
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
#include "nn/layer.h"
#include "nn/net.h"
#include "ops/math.h"
#include "ops/ops.h"
#include "testutil.h"

#define FUSED_TOL 1e-6

static float *alloc_floats(size_t n) {
  float *p = calloc(n ? n : 1, sizeof(float)); /* (n) */
  assert_non_null(p);
  return p;
}

static float *dup_floats(const float *x, size_t n) {
  float *p = alloc_floats(n); /* (n) */
  memcpy(p, x, n * sizeof(float));
  return p;
}

/* ---- worked by hand --------------------------------------------------------
 * One channel, M = 4, x = 1 2 3 4, gamma 2, beta 1, eps 0, momentum 0.1,
 * residual 1 0 -2 -4, ReLU. bn(x) = -1.68328157 0.10557281 1.89442719
 * 3.68328157 (test_batchnorm.c), plus the residual -0.68328157 0.10557281
 * -0.10557281 -0.31671843, so y = 0 0.10557281 0 0. Backward with dy = 1:
 * dz = dresidual = 0 1 0 0; sum(dz) = 1, sum(dz xhat) = -0.447213595, and
 *   dx = 2*0.894427191/4 * (4 dz - 1 + 0.447213595 xhat)
 *      = 0.447213595 * (-1.6 2.8 -0.8 -0.4)
 *      = -0.715541753 1.25219807 -0.357770876 -0.178885438
 *   dgamma = -0.447213595, dbeta = 1. */
static void test_bn_act_hand(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_bn_desc d = {.m = 4, .c = 1, .eps = 0.0f, .momentum = 0.1f};
  const float x[4] = {1, 2, 3, 4}, r[4] = {1, 0, -2, -4}, dy[4] = {1, 1, 1, 1};
  const float gamma[1] = {2}, beta[1] = {1};
  float rm[1] = {0}, rv[1] = {1}, y[4], mean[1], invstd[1];
  float dx[4] = {0}, dr[4] = {0}, dg[1] = {0}, db[1] = {0};
  const float want_y[4] = {0.0f, 0.10557281f, 0.0f, 0.0f};
  const float want_dx[4] = {-0.715541753f, 1.25219807f, -0.357770876f, -0.178885438f};
  const float want_dr[4] = {0, 1, 0, 0};
  const float want_rm[1] = {0.25f}, want_rv[1] = {1.06666667f};
  const float want_dg[1] = {-0.447213595f}, want_db[1] = {1.0f};
  assert_int_equal(graft_backend_ref.bn_act_forward_train(&ctx, &d, GRAFT_ACT_RELU, x, gamma, beta,
                                                          rm, rv, r, y, mean, invstd),
                   GRAFT_OK);
  assert_int_equal(graft_backend_ref.bn_act_backward_train(&ctx, &d, GRAFT_ACT_RELU, x, y, dy,
                                                           gamma, mean, invstd, dx, dr, dg, db),
                   GRAFT_OK);
  int ok = tu_check_close("bn_act hand y", y, want_y, 4, 1e-6, 1.0);
  ok &= tu_check_close("bn_act hand running_mean", rm, want_rm, 1, 1e-7, 1.0);
  ok &= tu_check_close("bn_act hand running_var", rv, want_rv, 1, 1e-7, 1.0);
  ok &= tu_check_close("bn_act hand dx", dx, want_dx, 4, 1e-6, 1.0);
  ok &= tu_check_close("bn_act hand dresidual", dr, want_dr, 4, 0.0, 1.0);
  ok &= tu_check_close("bn_act hand dgamma", dg, want_dg, 1, 1e-6, 1.0);
  ok &= tu_check_close("bn_act hand dbeta", db, want_db, 1, 1e-7, 1.0);
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* ---- one case's inputs ------------------------------------------------------ */
typedef struct {
  int64_t m;
  int c;
  size_t mc;
  float *x, *r, *dy;          /* (M, C) each */
  float *gamma, *beta;        /* (C) each */
  float *rmean, *rvar;        /* (C) each: running statistics before the op */
  float *dx0, *dr0, *dg0, *db0; /* (M, C) (M, C) (C) (C): initial gradients */
} bn_act_case;

static void case_init(bn_act_case *t, int64_t m, int c, uint64_t seed) {
  tu_rng rng;
  tu_rng_seed(&rng, seed);
  t->m = m;
  t->c = c;
  t->mc = (size_t)m * (size_t)c;
  t->x = alloc_floats(t->mc);
  t->r = alloc_floats(t->mc);
  t->dy = alloc_floats(t->mc);
  t->dx0 = alloc_floats(t->mc);
  t->dr0 = alloc_floats(t->mc);
  t->gamma = alloc_floats((size_t)c);
  t->beta = alloc_floats((size_t)c);
  t->rmean = alloc_floats((size_t)c);
  t->rvar = alloc_floats((size_t)c);
  t->dg0 = alloc_floats((size_t)c);
  t->db0 = alloc_floats((size_t)c);
  /* Channel j has mean 0.3 + j/c and a spread that grows with j. */
  for (int64_t row = 0; row < m; row++)
    for (int j = 0; j < c; j++)
      t->x[row * c + j] = 0.3f + (float)j / (float)c + (0.5f + (float)j / (float)c) * tu_normal(&rng);
  tu_fill_uniform(&rng, t->r, t->mc, -1.0f, 1.0f);
  tu_fill_normal(&rng, t->dy, t->mc, 1.0f);
  tu_fill_uniform(&rng, t->gamma, (size_t)c, 0.5f, 1.5f);
  tu_fill_uniform(&rng, t->beta, (size_t)c, -0.5f, 0.5f);
  tu_fill_uniform(&rng, t->rmean, (size_t)c, 0.0f, 1.0f);
  tu_fill_uniform(&rng, t->rvar, (size_t)c, 0.5f, 2.0f);
  tu_fill_uniform(&rng, t->dx0, t->mc, -1.0f, 1.0f);
  tu_fill_uniform(&rng, t->dr0, t->mc, -1.0f, 1.0f);
  tu_fill_uniform(&rng, t->dg0, (size_t)c, -1.0f, 1.0f);
  tu_fill_uniform(&rng, t->db0, (size_t)c, -1.0f, 1.0f);
}

static void case_free(bn_act_case *t) {
  free(t->x), free(t->r), free(t->dy), free(t->dx0), free(t->dr0);
  free(t->gamma), free(t->beta), free(t->rmean), free(t->rvar), free(t->dg0), free(t->db0);
}

/* What one side (fused or unfused) produces. */
typedef struct {
  float *y, *dx, *dr;                   /* (M, C) each */
  float *mean, *invstd, *rm, *rv, *dg, *db; /* (C) each */
} outputs;

static void outputs_init(outputs *o, const bn_act_case *t) {
  o->y = alloc_floats(t->mc);
  o->dx = dup_floats(t->dx0, t->mc);
  o->dr = dup_floats(t->dr0, t->mc);
  o->mean = alloc_floats((size_t)t->c);
  o->invstd = alloc_floats((size_t)t->c);
  o->rm = dup_floats(t->rmean, (size_t)t->c);
  o->rv = dup_floats(t->rvar, (size_t)t->c);
  o->dg = dup_floats(t->dg0, (size_t)t->c);
  o->db = dup_floats(t->db0, (size_t)t->c);
}

static void outputs_free(outputs *o) {
  free(o->y), free(o->dx), free(o->dr), free(o->mean), free(o->invstd);
  free(o->rm), free(o->rv), free(o->dg), free(o->db);
}

/* The fused ops, forward then backward. */
static void run_fused(graft_ctx *ctx, const graft_bn_desc *d, graft_act act, int train,
                      int with_residual, const bn_act_case *t, outputs *o) {
  const float *r = with_residual ? t->r : NULL;
  float *dr = with_residual ? o->dr : NULL;
  if (train) {
    assert_int_equal(graft_backend_ref.bn_act_forward_train(ctx, d, act, t->x, t->gamma, t->beta,
                                                            o->rm, o->rv, r, o->y, o->mean,
                                                            o->invstd),
                     GRAFT_OK);
    assert_int_equal(graft_backend_ref.bn_act_backward_train(ctx, d, act, t->x, o->y, t->dy,
                                                             t->gamma, o->mean, o->invstd, o->dx,
                                                             dr, o->dg, o->db),
                     GRAFT_OK);
  } else {
    assert_int_equal(graft_backend_ref.bn_act_forward_eval(ctx, d, act, t->x, t->gamma, t->beta,
                                                           o->rm, o->rv, r, o->y),
                     GRAFT_OK);
    assert_int_equal(graft_backend_ref.bn_act_backward_eval(ctx, d, act, t->x, o->y, t->dy,
                                                            t->gamma, o->rm, o->rv, o->dx, dr,
                                                            o->dg, o->db),
                     GRAFT_OK);
  }
}

/* The same with the unfused ops: z = bn(x), s = z + r, y = act(s); then
 * ds = dy * act'(s) into zeros, dr += ds, and the bn backward of ds, whose
 * activation derivative is back_act (act itself, unless a test breaks it
 * on purpose). */
static void run_unfused(graft_ctx *ctx, const graft_bn_desc *d, graft_act act, graft_act back_act,
                        int train, int with_residual, const bn_act_case *t, outputs *o) {
  const graft_backend *be = &graft_backend_ref;
  float *z = alloc_floats(t->mc), *s = alloc_floats(t->mc), *ds = alloc_floats(t->mc);
  if (train)
    assert_int_equal(be->bn_forward_train(ctx, d, t->x, t->gamma, t->beta, o->rm, o->rv, z,
                                          o->mean, o->invstd),
                     GRAFT_OK);
  else
    assert_int_equal(be->bn_forward_eval(ctx, d, t->x, t->gamma, t->beta, o->rm, o->rv, z),
                     GRAFT_OK);
  if (with_residual)
    assert_int_equal(be->add_forward(ctx, (int64_t)t->mc, z, t->r, s), GRAFT_OK);
  else
    memcpy(s, z, t->mc * sizeof(float));
  assert_int_equal(be->act_forward(ctx, act, 0.0f, (int64_t)t->mc, s, o->y), GRAFT_OK);
  assert_int_equal(be->act_backward(ctx, back_act, 0.0f, (int64_t)t->mc, s, o->y, t->dy, ds),
                   GRAFT_OK);
  if (with_residual) assert_int_equal(be->accumulate(ctx, (int64_t)t->mc, ds, o->dr), GRAFT_OK);
  if (train)
    assert_int_equal(be->bn_backward_train(ctx, d, t->x, ds, t->gamma, o->mean, o->invstd, o->dx,
                                           o->dg, o->db),
                     GRAFT_OK);
  else
    assert_int_equal(be->bn_backward_eval(ctx, d, t->x, ds, t->gamma, o->rm, o->rv, o->dx, o->dg,
                                          o->db),
                     GRAFT_OK);
  free(z), free(s), free(ds);
}

/* Every output of the two sides against each other; the label names the
 * case. Returns 1 when all agree to tol. */
static int compare(const char *what, const bn_act_case *t, int train, const outputs *got,
                   const outputs *want, double tol) {
  const size_t c = (size_t)t->c;
  struct {
    const char *name;
    const float *a, *b;
    size_t n;
  } parts[] = {{"y", got->y, want->y, t->mc},
               {"dx", got->dx, want->dx, t->mc},
               {"dresidual", got->dr, want->dr, t->mc},
               {"dgamma", got->dg, want->dg, c},
               {"dbeta", got->db, want->db, c},
               {"save_mean", got->mean, want->mean, train ? c : 0},
               {"save_invstd", got->invstd, want->invstd, train ? c : 0},
               {"running_mean", got->rm, want->rm, c},
               {"running_var", got->rv, want->rv, c}};
  int ok = 1;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    if (!parts[i].n) continue;
    char label[160];
    snprintf(label, sizeof label, "%s %s", what, parts[i].name);
    ok &= tu_check_close(label, parts[i].a, parts[i].b, parts[i].n, tol, 1e-3);
  }
  return ok;
}

static void test_bn_act_vs_unfused(void **state) {
  (void)state;
  static const struct {
    int64_t m;
    int c;
  } shapes[] = {{1, 7}, {2, 1}, {3, 5}, {7, 33}, {64, 17}, {9, 515}, {300, 600}, {2048, 40}};
  static const char *const act_names[2] = {"identity", "relu"};
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  int ok = 1;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    bn_act_case t;
    case_init(&t, shapes[k].m, shapes[k].c, 500 + k);
    const graft_bn_desc d = {.m = t.m, .c = t.c, .eps = 1e-5f, .momentum = 0.1f};
    for (int train = 0; train < 2; train++) {
      if (train && t.m < 2) continue; /* training needs two values per channel */
      for (int a = GRAFT_ACT_IDENTITY; a <= GRAFT_ACT_RELU; a++) {
        for (int res = 0; res < 2; res++) {
          outputs fused, unfused;
          outputs_init(&fused, &t);
          outputs_init(&unfused, &t);
          run_fused(&ctx, &d, (graft_act)a, train, res, &t, &fused);
          run_unfused(&ctx, &d, (graft_act)a, (graft_act)a, train, res, &t, &unfused);
          char what[128];
          snprintf(what, sizeof what, "fused vs unfused (M %lld, C %d, %s, %s, %s)",
                   (long long)t.m, t.c, train ? "train" : "eval", act_names[a],
                   res ? "residual" : "no residual");
          ok &= compare(what, &t, train, &fused, &unfused, FUSED_TOL);
          outputs_free(&fused);
          outputs_free(&unfused);
        }
      }
    }
    case_free(&t);
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* The comparison above would notice a backward that lets the gradient
 * through where ReLU blocked it: against an unfused backward with the
 * identity's derivative, dx and dresidual differ. */
static void test_bn_act_comparison_has_teeth(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  bn_act_case t;
  case_init(&t, 16, 9, 77);
  const graft_bn_desc d = {.m = t.m, .c = t.c, .eps = 1e-5f, .momentum = 0.1f};
  for (int train = 0; train < 2; train++) {
    outputs fused, broken;
    outputs_init(&fused, &t);
    outputs_init(&broken, &t);
    run_fused(&ctx, &d, GRAFT_ACT_RELU, train, 1, &t, &fused);
    run_unfused(&ctx, &d, GRAFT_ACT_RELU, GRAFT_ACT_IDENTITY, train, 1, &t, &broken);
    tu_capture_begin();
    int dx_same = tu_check_close("dx", fused.dx, broken.dx, t.mc, FUSED_TOL, 1e-3);
    int dr_same = tu_check_close("dresidual", fused.dr, broken.dr, t.mc, FUSED_TOL, 1e-3);
    tu_capture_end();
    assert_false(dx_same);
    assert_false(dr_same);
    outputs_free(&fused);
    outputs_free(&broken);
  }
  case_free(&t);
  tu_ctx_free(&ctx);
}

/* ---- finite differences ------------------------------------------------------ */
typedef struct {
  graft_ctx *ctx;
  graft_bn_desc d;
  graft_act act;
  int train;
  const bn_act_case *t;
  const float *r;      /* (M, C) or NULL */
  float *mean, *invstd; /* (C) each: saved by the training forward */
} fd_ctx;

static void fd_forward(void *user, float *y) {
  fd_ctx *f = user;
  const bn_act_case *t = f->t;
  graft_status s =
      f->train ? graft_backend_ref.bn_act_forward_train(f->ctx, &f->d, f->act, t->x, t->gamma,
                                                        t->beta, NULL, NULL, f->r, y, f->mean,
                                                        f->invstd)
               : graft_backend_ref.bn_act_forward_eval(f->ctx, &f->d, f->act, t->x, t->gamma,
                                                       t->beta, t->rmean, t->rvar, f->r, y);
  assert_int_equal(s, GRAFT_OK);
}

/* Moves every pre-activation bn(x) + r at least margin away from ReLU's
 * kink by shifting r, so that no finite-difference step crosses it. */
static void keep_off_kink(graft_ctx *ctx, const graft_bn_desc *d, int train, bn_act_case *t,
                          float margin) {
  float *pre = alloc_floats(t->mc), *mean = alloc_floats((size_t)t->c);
  float *invstd = alloc_floats((size_t)t->c);
  graft_status s =
      train ? graft_backend_ref.bn_act_forward_train(ctx, d, GRAFT_ACT_IDENTITY, t->x, t->gamma,
                                                     t->beta, NULL, NULL, t->r, pre, mean, invstd)
            : graft_backend_ref.bn_act_forward_eval(ctx, d, GRAFT_ACT_IDENTITY, t->x, t->gamma,
                                                    t->beta, t->rmean, t->rvar, t->r, pre);
  assert_int_equal(s, GRAFT_OK);
  for (size_t i = 0; i < t->mc; i++)
    if (fabsf(pre[i]) < margin) t->r[i] += pre[i] >= 0.0f ? 2.0f * margin : -2.0f * margin;
  free(pre), free(mean), free(invstd);
}

/* Gradients of L = sum(y * dy) with respect to x, gamma, beta and the
 * residual against central differences, in training and eval mode, for
 * the identity without and with residual and for ReLU with residual (the
 * residual keeps the pre-activations off the kink). */
static void test_bn_act_gradcheck(void **state) {
  (void)state;
  static const struct {
    int64_t m;
    int c;
  } shapes[] = {{3, 5}, {7, 4}, {16, 9}, {9, 515}};
  static const struct {
    graft_act act;
    int residual;
    const char *name;
  } forms[] = {{GRAFT_ACT_IDENTITY, 0, "identity"},
               {GRAFT_ACT_IDENTITY, 1, "identity + residual"},
               {GRAFT_ACT_RELU, 1, "relu + residual"}};
  const double eps = 1e-2, tol = 5e-3;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  int ok = 1;
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    for (size_t fi = 0; fi < sizeof forms / sizeof forms[0]; fi++) {
      for (int train = 1; train >= 0; train--) {
        bn_act_case t;
        case_init(&t, shapes[k].m, shapes[k].c, 600 + 10 * k + fi);
        const size_t c = (size_t)t.c;
        fd_ctx f = {.ctx = &ctx, .act = forms[fi].act, .train = train, .t = &t};
        f.d = (graft_bn_desc){.m = t.m, .c = t.c, .eps = 1e-5f, .momentum = 0.1f};
        if (forms[fi].act == GRAFT_ACT_RELU) keep_off_kink(&ctx, &f.d, train, &t, 0.25f);
        f.r = forms[fi].residual ? t.r : NULL;
        f.mean = alloc_floats(c);
        f.invstd = alloc_floats(c);
        float *y = alloc_floats(t.mc), *dx = alloc_floats(t.mc), *dr = alloc_floats(t.mc);
        float *dg = alloc_floats(c), *db = alloc_floats(c);
        fd_forward(&f, y);
        graft_status s =
            train ? graft_backend_ref.bn_act_backward_train(&ctx, &f.d, f.act, t.x, y, t.dy,
                                                            t.gamma, f.mean, f.invstd, dx,
                                                            f.r ? dr : NULL, dg, db)
                  : graft_backend_ref.bn_act_backward_eval(&ctx, &f.d, f.act, t.x, y, t.dy,
                                                           t.gamma, t.rmean, t.rvar, dx,
                                                           f.r ? dr : NULL, dg, db);
        assert_int_equal(s, GRAFT_OK);
        char name[160];
        const char *mode = train ? "train" : "eval";
#define FD(label, in, n, analytic)                                                            \
  do {                                                                                        \
    snprintf(name, sizeof name, "bn_act %s %s %s (M %lld, C %d)", mode, forms[fi].name, label, \
             (long long)t.m, t.c);                                                            \
    ok &= tu_gradcheck(name, &f, fd_forward, y, t.mc, t.dy, in, n, analytic, eps, tol) <= tol; \
  } while (0)
        FD("dx", t.x, t.mc, dx);
        FD("dgamma", t.gamma, c, dg);
        FD("dbeta", t.beta, c, db);
        if (f.r) FD("dresidual", t.r, t.mc, dr);
#undef FD
        free(y), free(dx), free(dr), free(dg), free(db), free(f.mean), free(f.invstd);
        case_free(&t);
      }
    }
  }
  assert_true(ok);
  tu_ctx_free(&ctx);
}

/* Each gradient output may be NULL: asked for one at a time, from the same
 * initial values, each comes out as in the full call, and dresidual alone
 * (no dx, dgamma or dbeta) is still written. */
static void test_bn_act_null_outputs(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  bn_act_case t;
  case_init(&t, 13, 6, 88);
  const graft_bn_desc d = {.m = t.m, .c = t.c, .eps = 1e-5f, .momentum = 0.1f};
  const size_t c = (size_t)t.c;
  int ok = 1;
  for (int train = 0; train < 2; train++) {
    outputs full;
    outputs_init(&full, &t);
    run_fused(&ctx, &d, GRAFT_ACT_RELU, train, 1, &t, &full);
    for (int which = 0; which < 4; which++) {
      float *dx = dup_floats(t.dx0, t.mc), *dr = dup_floats(t.dr0, t.mc);
      float *dg = dup_floats(t.dg0, c), *db = dup_floats(t.db0, c);
      float *pdx = which == 0 ? dx : NULL, *pdr = which == 1 ? dr : NULL;
      float *pdg = which == 2 ? dg : NULL, *pdb = which == 3 ? db : NULL;
      graft_status s =
          train ? graft_backend_ref.bn_act_backward_train(&ctx, &d, GRAFT_ACT_RELU, t.x, full.y,
                                                          t.dy, t.gamma, full.mean, full.invstd,
                                                          pdx, pdr, pdg, pdb)
                : graft_backend_ref.bn_act_backward_eval(&ctx, &d, GRAFT_ACT_RELU, t.x, full.y,
                                                         t.dy, t.gamma, t.rmean, t.rvar, pdx, pdr,
                                                         pdg, pdb);
      assert_int_equal(s, GRAFT_OK);
      char label[96];
      const char *mode = train ? "train" : "eval";
      snprintf(label, sizeof label, "bn_act %s, only output %d: dx", mode, which);
      ok &= tu_check_close(label, dx, which == 0 ? full.dx : t.dx0, t.mc, 0.0, 1.0);
      snprintf(label, sizeof label, "bn_act %s, only output %d: dresidual", mode, which);
      ok &= tu_check_close(label, dr, which == 1 ? full.dr : t.dr0, t.mc, 0.0, 1.0);
      snprintf(label, sizeof label, "bn_act %s, only output %d: dgamma", mode, which);
      ok &= tu_check_close(label, dg, which == 2 ? full.dg : t.dg0, c, 0.0, 1.0);
      snprintf(label, sizeof label, "bn_act %s, only output %d: dbeta", mode, which);
      ok &= tu_check_close(label, db, which == 3 ? full.db : t.db0, c, 0.0, 1.0);
      free(dx), free(dr), free(dg), free(db);
    }
    outputs_free(&full);
  }
  /* nothing wanted: nothing to do */
  assert_int_equal(graft_backend_ref.bn_act_backward_train(&ctx, &d, GRAFT_ACT_RELU, t.x, t.x,
                                                           t.dy, t.gamma, t.gamma, t.gamma, NULL,
                                                           NULL, NULL, NULL),
                   GRAFT_OK);
  assert_true(ok);
  case_free(&t);
  tu_ctx_free(&ctx);
}

static void test_bn_act_rejects(void **state) {
  (void)state;
  graft_ctx ctx;
  tu_ctx_init(&ctx, 0);
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  float x[8] = {0}, y[8], g[2] = {1, 1}, b[2] = {0}, rm[2] = {0}, rv[2] = {1, 1}, mean[2], inv[2];
  float dx[8] = {0};
  const graft_bn_desc ok = {.m = 4, .c = 2, .eps = 1e-5f, .momentum = 0.1f};
  const graft_bn_desc one_row = {.m = 1, .c = 2, .eps = 1e-5f, .momentum = 0.1f};
  const graft_backend *be = &graft_backend_ref;
  /* activations other than the identity and ReLU are not fused */
  assert_int_equal(be->bn_act_forward_train(&ctx, &ok, GRAFT_ACT_SILU, x, g, b, rm, rv, NULL, y,
                                            mean, inv),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(be->bn_act_forward_eval(&ctx, &ok, GRAFT_ACT_SIGMOID, x, g, b, rm, rv, NULL, y),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(be->bn_act_backward_train(&ctx, &ok, GRAFT_ACT_LEAKY_RELU, x, y, x, g, mean,
                                             inv, dx, NULL, NULL, NULL),
                   GRAFT_EUNSUPPORTED);
  assert_int_equal(be->bn_act_backward_eval(&ctx, &ok, GRAFT_ACT_MISH, x, y, x, g, rm, rv, dx,
                                            NULL, NULL, NULL),
                   GRAFT_EUNSUPPORTED);
  /* training needs two rows; eval does not */
  assert_int_equal(be->bn_act_forward_train(&ctx, &one_row, GRAFT_ACT_RELU, x, g, b, rm, rv, NULL,
                                            y, mean, inv),
                   GRAFT_EINVAL);
  assert_int_equal(be->bn_act_forward_eval(&ctx, &one_row, GRAFT_ACT_RELU, x, g, b, rm, rv, NULL,
                                           y),
                   GRAFT_OK);
  /* ReLU's backward needs the forward output; the identity's does not */
  assert_int_equal(be->bn_act_backward_train(&ctx, &ok, GRAFT_ACT_RELU, x, NULL, x, g, rm, rv, dx,
                                             NULL, NULL, NULL),
                   GRAFT_EINVAL);
  assert_int_equal(be->bn_act_backward_train(&ctx, &ok, GRAFT_ACT_IDENTITY, x, NULL, x, g, rm, rv,
                                             dx, NULL, NULL, NULL),
                   GRAFT_OK);
  assert_int_equal(be->bn_act_forward_train(&ctx, &ok, GRAFT_ACT_RELU, x, g, b, rm, NULL, NULL, y,
                                            mean, inv),
                   GRAFT_EINVAL);
  graft_log_set_level(level);
  tu_ctx_free(&ctx);
}

/* ---- the layer ------------------------------------------------------------------ */
#define NET_N 2
#define NET_H 4
#define NET_W 3
#define NET_C 3

/* in -> conv a -> va;  bn0(in) -> relu -> vb;  conv b(vb) -> vc;
 * bn1(vc) + va -> relu -> vd;  conv c(vd) -> ve;  bn2(ve) + in -> relu.
 * bn0 reads the net's input (no dx), bn2 adds it (no dresidual). Fused,
 * each batch norm is one batchnorm_act layer; unfused, a batchnorm, an add
 * and an activation layer. The parameters come in the same order under
 * the same names, so both nets start from the same values. */
static void build_net(graft_net *net, int fused) {
  graft_net_init(net, NET_N);
  int64_t dims[4] = {NET_N, NET_H, NET_W, NET_C};
  int in = net->input = graft_net_add_value(net, graft_shape_make(4, dims));
  assert_true(in >= 0);
  int va = graft_conv2d(net, "a", in, 6, 1, 1, 0, 1, 0);
  int vb, vd, out;
  if (fused) {
    vb = graft_batchnorm_act(net, "bn0", in, -1, GRAFT_ACT_RELU);
  } else {
    vb = graft_batchnorm(net, "bn0", in);
    vb = graft_activation(net, "bn0.relu", vb, GRAFT_ACT_RELU, 0.0f);
  }
  int vc = graft_conv2d(net, "b", vb, 6, 3, 1, 1, 1, 0);
  if (fused) {
    vd = graft_batchnorm_act(net, "bn1", vc, va, GRAFT_ACT_RELU);
  } else {
    vd = graft_batchnorm(net, "bn1", vc);
    vd = graft_add(net, "add1", vd, va);
    vd = graft_activation(net, "relu1", vd, GRAFT_ACT_RELU, 0.0f);
  }
  int ve = graft_conv2d(net, "c", vd, NET_C, 1, 1, 0, 1, 0);
  if (fused) {
    out = graft_batchnorm_act(net, "bn2", ve, in, GRAFT_ACT_RELU);
  } else {
    out = graft_batchnorm(net, "bn2", ve);
    out = graft_add(net, "add2", out, in);
    out = graft_activation(net, "relu2", out, GRAFT_ACT_RELU, 0.0f);
  }
  assert_true(va >= 0 && vb >= 0 && vc >= 0 && vd >= 0 && ve >= 0 && out >= 0);
  net->output = out;
  assert_int_equal(graft_net_finalize(net, 42), GRAFT_OK);
  /* batch norm parameters and statistics away from their initial 1 and 0 */
  for (int i = 0; i < net->nparams; i++) {
    if (net->params[i].kind == GRAFT_PARAM_COUNTER || strncmp(net->params[i].name, "bn", 2)) continue;
    float *p = graft_net_param(net, i);
    int is_var = strstr(net->params[i].name, "var") != NULL;
    for (size_t j = 0; j < net->params[i].count; j++)
      p[j] = (is_var ? 1.0f : 0.0f) + 0.5f * graft_hash_uniform(7 + (uint64_t)i, j);
  }
}

/* Output, running statistics, counters and (after a backward from the same
 * output gradient) every weight gradient of the two nets. */
static int nets_agree(graft_net *fused, graft_net *plain, graft_ctx *ctx, const char *what) {
  size_t n = fused->values[fused->output].count;
  int ok = 1;
  char label[128];
  snprintf(label, sizeof label, "%s: output", what);
  ok &= tu_check_close(label, graft_net_act(fused, fused->output), graft_net_act(plain, plain->output),
                       n, FUSED_TOL, 1e-3);
  graft_net *nets[2] = {fused, plain};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(graft_net_zero_grads(nets[k], ctx), GRAFT_OK);
    float *g = graft_net_act_grad(nets[k], nets[k]->output);
    for (size_t i = 0; i < n; i++) g[i] = 2.0f * graft_hash_uniform(99, i) - 1.0f;
    assert_int_equal(graft_net_backward(nets[k], ctx), GRAFT_OK);
  }
  assert_int_equal(fused->nparams, plain->nparams);
  for (int i = 0; i < fused->nparams; i++) {
    const graft_param *p = &fused->params[i];
    int j = graft_net_find_param(plain, p->name);
    assert_int_equal(j, i);
    if (p->kind == GRAFT_PARAM_COUNTER) {
      if (p->counter != plain->params[j].counter) {
        fprintf(stderr, "%s: %s is %lld fused, %lld unfused\n", what, p->name, (long long)p->counter,
                (long long)plain->params[j].counter);
        ok = 0;
      }
      continue;
    }
    snprintf(label, sizeof label, "%s: %s", what, p->name);
    ok &= tu_check_close(label, graft_net_param(fused, i), graft_net_param(plain, j), p->count,
                         FUSED_TOL, 1e-3);
    if (p->kind != GRAFT_PARAM_WEIGHT) continue;
    snprintf(label, sizeof label, "%s: grad %s", what, p->name);
    ok &= tu_check_close(label, graft_net_grad(fused, i), graft_net_grad(plain, j), p->count,
                         FUSED_TOL, 1e-3);
  }
  return ok;
}

static int64_t counter_of(graft_net *net, const char *name) {
  int id = graft_net_find_param(net, name);
  assert_true(id >= 0);
  return net->params[id].counter;
}

static void test_bn_act_layer(void **state) {
  (void)state;
  graft_net fused, plain;
  build_net(&fused, 1);
  build_net(&plain, 0);
  graft_ctx probe, ctx;
  tu_ctx_init(&probe, 0);
  size_t ws = graft_net_workspace_bytes(&fused, &probe);
  size_t ws2 = graft_net_workspace_bytes(&plain, &probe);
  tu_ctx_init(&ctx, ws > ws2 ? ws : ws2);
  size_t nin = fused.values[fused.input].count;
  for (size_t i = 0; i < nin; i++)
    graft_net_act(&fused, fused.input)[i] = graft_net_act(&plain, plain.input)[i] =
        2.0f * graft_hash_uniform(5, i) - 1.0f;
  int ok = 1;
  /* two training steps' forwards (the running statistics move), then eval */
  for (int step = 0; step < 2; step++) {
    assert_int_equal(graft_net_forward(&fused, &ctx, 1), GRAFT_OK);
    assert_int_equal(graft_net_forward(&plain, &ctx, 1), GRAFT_OK);
    ok &= nets_agree(&fused, &plain, &ctx, step ? "train, step 2" : "train, step 1");
  }
  assert_int_equal(counter_of(&fused, "bn1.num_batches_tracked"), 2);
  assert_int_equal(graft_net_forward(&fused, &ctx, 0), GRAFT_OK);
  assert_int_equal(graft_net_forward(&plain, &ctx, 0), GRAFT_OK);
  ok &= nets_agree(&fused, &plain, &ctx, "eval");
  assert_int_equal(counter_of(&fused, "bn1.num_batches_tracked"), 2);
  /* bn_freeze: training mode normalizes with the running statistics, leaves
   * them and the counters alone, and gives the eval output */
  int rm = graft_net_find_param(&fused, "bn2.running_mean");
  float *before = dup_floats(graft_net_param(&fused, rm), NET_C);
  float *eval_out = dup_floats(graft_net_act(&fused, fused.output), fused.values[fused.output].count);
  graft_net_set_bn_frozen(&fused, 1);
  graft_net_set_bn_frozen(&plain, 1);
  assert_int_equal(graft_net_forward(&fused, &ctx, 1), GRAFT_OK);
  assert_int_equal(graft_net_forward(&plain, &ctx, 1), GRAFT_OK);
  ok &= nets_agree(&fused, &plain, &ctx, "frozen");
  ok &= tu_check_close("frozen: bn2.running_mean unchanged", graft_net_param(&fused, rm), before, NET_C,
                       0.0, 1.0);
  ok &= tu_check_close("frozen: output is the eval output", graft_net_act(&fused, fused.output), eval_out,
                       fused.values[fused.output].count, 0.0, 1.0);
  assert_int_equal(counter_of(&fused, "bn0.num_batches_tracked"), 2);
  free(before);
  free(eval_out);
  assert_true(ok);
  graft_net_free(&fused);
  graft_net_free(&plain);
  tu_ctx_free(&ctx);
}

static void test_bn_act_layer_rejects(void **state) {
  (void)state;
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  graft_net net;
  graft_net_init(&net, NET_N);
  int64_t dims[4] = {NET_N, NET_H, NET_W, NET_C};
  int in = net.input = graft_net_add_value(&net, graft_shape_make(4, dims));
  int wide = graft_conv2d(&net, "a", in, 5, 1, 1, 0, 1, 0);
  assert_true(wide >= 0);
  assert_int_equal(graft_batchnorm_act(&net, "bn", in, in, GRAFT_ACT_RELU), -1);       /* x itself */
  assert_int_equal(graft_batchnorm_act(&net, "bn", in, wide, GRAFT_ACT_RELU), -1);     /* shape */
  assert_int_equal(graft_batchnorm_act(&net, "bn", in, -1, GRAFT_ACT_SILU), -1);       /* act */
  assert_int_equal(graft_batchnorm_act(&net, "bn", in, 1000, GRAFT_ACT_RELU), -1);     /* no value */
  assert_true(graft_batchnorm_act(&net, "bn", wide, -1, GRAFT_ACT_IDENTITY) >= 0);
  graft_log_set_level(level);
  graft_net_free(&net);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bn_act_hand),
      cmocka_unit_test(test_bn_act_vs_unfused),
      cmocka_unit_test(test_bn_act_comparison_has_teeth),
      cmocka_unit_test(test_bn_act_gradcheck),
      cmocka_unit_test(test_bn_act_null_outputs),
      cmocka_unit_test(test_bn_act_rejects),
      cmocka_unit_test(test_bn_act_layer),
      cmocka_unit_test(test_bn_act_layer_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

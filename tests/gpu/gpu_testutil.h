/* gpu_testutil.h: what the GPU tests share (CUDA builds only). Device
 * buffers carry GT_GUARD sentinel floats after their end; a download
 * compares the body with the CPU reference's result and checks that every
 * sentinel is bit-for-bit untouched, so an op that writes past its output
 * is caught. Activations stored as bf16 (ctx->act_dtype = GRAFT_DTYPE_BF16,
 * ops.h) go up as their 2-byte bits followed by GT_GUARD bf16 sentinels,
 * and come back widened to fp32 with those sentinels checked the same way.
 * Helpers fail the running cmocka test on an API error. */
#ifndef GRAFT_TESTS_GPU_TESTUTIL_H
#define GRAFT_TESTS_GPU_TESTUTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"
#include "ops/math.h"
#include "testutil.h"

#define GT_GUARD 64
#define GT_SENTINEL 0x7fbadbadu /* a NaN no op produces */
#define GT_BF16_SENTINEL 0x7fbbu /* a signalling NaN: graft_round_bf16 stores quiet ones only */
#define GT_BF16_U (1.0 / 256.0)  /* 2^-8: the largest relative error of one bf16 rounding */

/* A device buffer of n floats plus the guard, the body copied from host
 * (zeros when host is NULL). */
static inline float *gt_upload(graft_ctx *ctx, const float *host, /* (n) or NULL */ size_t n) {
  float *staging = malloc((n + GT_GUARD) * sizeof(float)); /* (n + guard) */
  void *dev = NULL;
  assert_non_null(staging);
  if (host) memcpy(staging, host, n * sizeof(float));
  else memset(staging, 0, n * sizeof(float));
  for (size_t i = 0; i < GT_GUARD; i++) {
    uint32_t s = GT_SENTINEL;
    memcpy(&staging[n + i], &s, sizeof s);
  }
  assert_int_equal(graft_gpu_alloc(ctx, &dev, (n + GT_GUARD) * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_h2d(ctx, dev, staging, (n + GT_GUARD) * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_sync(ctx), GRAFT_OK);
  free(staging);
  return dev;
}

/* Device copy of n bytes of anything (labels); no guard. */
static inline void *gt_upload_bytes(graft_ctx *ctx, const void *host, size_t bytes) {
  void *dev = NULL;
  assert_int_equal(graft_gpu_alloc(ctx, &dev, bytes ? bytes : 1), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_h2d(ctx, dev, host, bytes), GRAFT_OK);
  return dev;
}

/* Waits for the stream, copies the n floats of dev to host and checks the
 * guard; returns 0 (after saying so) when a sentinel was overwritten. */
static inline int gt_download(graft_ctx *ctx, const char *label, const float *dev, float *host,
                              size_t n) {
  uint32_t *guard = malloc(GT_GUARD * sizeof(uint32_t)); /* (guard) */
  assert_non_null(guard);
  assert_int_equal(graft_gpu_copy_d2h(ctx, host, dev, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2h(ctx, guard, dev + n, GT_GUARD * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_sync(ctx), GRAFT_OK);
  int ok = 1;
  for (size_t i = 0; i < GT_GUARD && ok; i++) {
    if (guard[i] != GT_SENTINEL) {
      fprintf(stderr, "GUARD %s: float %zu past the end of %zu was overwritten (0x%08x)\n", label,
              i, n, (unsigned)guard[i]);
      ok = 0;
    }
  }
  free(guard);
  return ok;
}

/* Downloads dev and compares it with want (tu_check_close's measure);
 * returns 1 when both the values and the guard are right. */
static inline int gt_check(graft_ctx *ctx, const char *label, const float *dev,
                           const float *want, /* (n) */ size_t n, double tol) {
  float *got = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(got);
  int ok = gt_download(ctx, label, dev, got, n);
  ok &= tu_check_close(label, got, want, n, tol, 1e-6);
  free(got);
  return ok;
}

static inline void gt_free(graft_ctx *ctx, void *dev) { graft_gpu_free(ctx, dev); }

/* A host copy of n floats. */
static inline float *gt_dup(const float *x, size_t n) {
  float *y = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(y);
  memcpy(y, x, n * sizeof(float));
  return y;
}

/* A host copy of n floats, each rounded to the nearest bf16. */
static inline float *gt_dup_bf16(const float *x, size_t n) {
  float *y = gt_dup(x, n); /* (n) */
  for (size_t i = 0; i < n; i++) y[i] = graft_bf16_roundf(y[i]);
  return y;
}

/* n host floats uniform in [lo, hi). */
static inline float *gt_random(tu_rng *rng, size_t n, float lo, float hi) {
  float *x = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(x);
  tu_fill_uniform(rng, x, n, lo, hi);
  return x;
}

/* n host floats uniform in [lo, hi), each rounded to the nearest bf16. */
static inline float *gt_random_bf16(tu_rng *rng, size_t n, float lo, float hi) {
  float *x = gt_random(rng, n, lo, hi); /* (n) */
  for (size_t i = 0; i < n; i++) x[i] = graft_bf16_roundf(x[i]);
  return x;
}

/* n host zeros. */
static inline float *gt_zeros(size_t n) {
  float *x = calloc(n ? n : 1, sizeof(float)); /* (n) */
  assert_non_null(x);
  return x;
}

/* ---- bf16 activations ------------------------------------------------------ */

/* A device buffer of n bf16 elements plus GT_GUARD bf16 sentinels, the
 * body rounded from host (zeros when host is NULL), returned as the
 * float * the ops take for an activation. */
static inline float *gt_upload_bf16(graft_ctx *ctx, const float *host, /* (n) or NULL */
                                    size_t n) {
  const size_t bytes = (n + GT_GUARD) * sizeof(uint16_t);
  uint16_t *staging = malloc(bytes); /* (n + guard) */
  void *dev = NULL;
  assert_non_null(staging);
  for (size_t i = 0; i < n; i++) staging[i] = host ? graft_round_bf16(host[i]) : 0;
  for (size_t i = 0; i < GT_GUARD; i++) staging[n + i] = (uint16_t)GT_BF16_SENTINEL;
  assert_int_equal(graft_gpu_alloc(ctx, &dev, bytes), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_h2d(ctx, dev, staging, bytes), GRAFT_OK);
  assert_int_equal(graft_gpu_sync(ctx), GRAFT_OK);
  free(staging);
  return dev;
}

/* Waits for the stream, copies the n bf16 elements of dev back widened
 * into host and checks the guard; returns 0 (after saying so) when a
 * sentinel was overwritten. */
static inline int gt_download_bf16(graft_ctx *ctx, const char *label, const float *dev,
                                   float *host, /* (n) */ size_t n) {
  uint16_t *staging = malloc((n + GT_GUARD) * sizeof(uint16_t)); /* (n + guard) */
  assert_non_null(staging);
  assert_int_equal(graft_gpu_copy_d2h(ctx, staging, dev, (n + GT_GUARD) * sizeof(uint16_t)),
                   GRAFT_OK);
  assert_int_equal(graft_gpu_sync(ctx), GRAFT_OK);
  for (size_t i = 0; i < n; i++) host[i] = graft_widen_bf16(staging[i]);
  int ok = 1;
  for (size_t i = 0; i < GT_GUARD && ok; i++) {
    if (staging[n + i] != (uint16_t)GT_BF16_SENTINEL) {
      fprintf(stderr, "GUARD %s: bf16 %zu past the end of %zu was overwritten (0x%04x)\n", label,
              i, n, (unsigned)staging[n + i]);
      ok = 0;
    }
  }
  free(staging);
  return ok;
}

/* Downloads the bf16 tensor dev and checks every element against want:
 *
 *   |got - want| <= 2^-8 B[i] + slack * max|want|
 *
 * with B[i] = mag[i] when mag is given (a bound for chained roundings) and
 * |want[i]| when not. A difference that is NaN (a NaN on either side, or
 * infinities of one sign) counts as infinite. On failure prints the
 * element whose error is largest against its allowance; returns 1 when the
 * values and the guard are right. */
static inline int gt_check_bf16(graft_ctx *ctx, const char *label, const float *dev,
                                const float *want, /* (n) */
                                const float *mag,  /* (n) or NULL */
                                size_t n, double slack) {
  float *got = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(got);
  int ok = gt_download_bf16(ctx, label, dev, got, n);
  double scale = 0.0;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)want[i]) > scale) scale = fabs((double)want[i]);
  double worst = 0.0, worst_err = 0.0, worst_allowed = 0.0; /* worst = err / allowed */
  size_t at = 0;
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    double err = fabs((double)got[i] - (double)want[i]);
    if (isnan(err)) err = INFINITY;
    const double allowed =
        GT_BF16_U * (mag ? fabs((double)mag[i]) : fabs((double)want[i])) + slack * scale;
    const double ratio = err == 0.0 ? 0.0 : allowed > 0.0 ? err / allowed : INFINITY;
    if (ratio > worst) worst = ratio, worst_err = err, worst_allowed = allowed, at = i;
    if (err > allowed) bad = 1;
  }
  if (bad) {
    fprintf(stderr,
            "MISMATCH %s: largest error %.9g at %zu (got %.9g, want %.9g, allowed %.9g, "
            "%.3g times the allowance)\n",
            label, worst_err, at, (double)got[at], (double)want[at], worst_allowed, worst);
    ok = 0;
  }
  free(got);
  return ok;
}

/* ---- activations as ctx stores them ---------------------------------------- */

/* A copy of *base that computes in precision prec and stores activations
 * as that precision does: bf16 in bf16, else fp32. */
static inline graft_ctx gt_ctx_in(const graft_ctx *base, graft_precision prec) {
  graft_ctx ctx = *base;
  ctx.precision = prec;
  ctx.act_dtype = prec == GRAFT_PREC_BF16 ? GRAFT_DTYPE_BF16 : GRAFT_DTYPE_F32;
  return ctx;
}

/* A device buffer of n activations as ctx stores them: gt_upload_bf16's
 * when ctx->act_dtype is bf16, else gt_upload's. */
static inline float *gt_upload_act(graft_ctx *ctx, const float *host, /* (n) or NULL */
                                   size_t n) {
  if (ctx->act_dtype != GRAFT_DTYPE_BF16) return gt_upload(ctx, host, n);
  return gt_upload_bf16(ctx, host, n);
}

/* gt_download_bf16 when ctx stores activations as bf16, else gt_download. */
static inline int gt_download_act(graft_ctx *ctx, const char *label, const float *dev,
                                  float *host, /* (n) */ size_t n) {
  if (ctx->act_dtype != GRAFT_DTYPE_BF16) return gt_download(ctx, label, dev, host, n);
  return gt_download_bf16(ctx, label, dev, host, n);
}

/* ---- the precision modes of a GEMM or convolution -------------------------- */

/* Tolerances relative to the tensor's largest value for a reduction of
 * length l: 1e-2 in tf32 (10 mantissa bits per input), 3e-2 in bf16 (8),
 * each growing as sqrt(l)/16 past l = 256. */
static inline double gt_tf32_tol(int64_t l) { return 1e-2 * fmax(1.0, sqrt((double)l) / 16.0); }
static inline double gt_bf16_tol(int64_t l) { return 3e-2 * fmax(1.0, sqrt((double)l) / 16.0); }

/* tu_check_close, printing the largest error whether or not it passes. */
static inline int gt_close_said(const char *label, const float *got, const float *want, size_t n,
                                double tol) {
  printf("%s: largest error %.3e (tolerance %.1e)\n", label,
         tu_max_rel_err(got, want, n, 1e-6, NULL), tol);
  return tu_check_close(label, got, want, n, tol, 1e-6);
}

/* What gt_check_prec allows an op's outputs (the test's header gives its
 * reasons); each relative to the tensor's largest value. */
typedef struct {
  double fp32;           /* GRAFT_PREC_FP32, against the reference */
  double rounded;        /* bf16, against the reference on bf16-rounded inputs */
  double rounded_stored; /* the same for an output stored as a bf16 activation */
  double min_err;        /* bf16: the least error from the fp32 reference, where it must differ */
  const char *inputs;    /* the inputs the rounded reference rounds, for labels ("w") */
} gt_prec_tol;

/* Downloads dev (guard checked; an activation as ctx stores it when stored,
 * else fp32) and compares it in ctx's precision: against want (the
 * reference with fp32 inputs) with tol->fp32, gt_tf32_tol(l) or
 * gt_bf16_tol(l); in bf16 also against rounded (the reference on bf16-rounded
 * inputs) with tol->rounded or tol->rounded_stored and, when must_differ,
 * for an error from want above tol->min_err, so that a bf16 mode that ran
 * in fp32 fails. Returns 1 when everything holds. */
static inline int gt_check_prec(graft_ctx *ctx, const char *label, const float *dev,
                                const float *want,    /* (n) */
                                const float *rounded, /* (n) */
                                size_t n, int64_t l, int stored, int must_differ,
                                const gt_prec_tol *tol) {
  float *got = malloc((n ? n : 1) * sizeof(float)); /* (n) */
  assert_non_null(got);
  int ok = stored ? gt_download_act(ctx, label, dev, got, n) : gt_download(ctx, label, dev, got, n);
  char what[256];
  switch (ctx->precision) {
    case GRAFT_PREC_TF32:
      ok &= tu_check_close(label, got, want, n, gt_tf32_tol(l), 1e-6);
      break;
    case GRAFT_PREC_BF16:
      ok &= gt_close_said(label, got, want, n, gt_bf16_tol(l));
      snprintf(what, sizeof what, "%s against bf16-rounded %s", label, tol->inputs);
      ok &= gt_close_said(what, got, rounded, n, stored ? tol->rounded_stored : tol->rounded);
      if (must_differ) {
        const double e = tu_max_rel_err(got, want, n, 1e-6, NULL);
        if (e <= tol->min_err) {
          fprintf(stderr, "NOT BF16 %s: largest error %.3e from fp32 <= %.1e\n", label, e,
                  tol->min_err);
          ok = 0;
        }
      }
      break;
    default:
      ok &= tu_check_close(label, got, want, n, tol->fp32, 1e-6);
      break;
  }
  free(got);
  return ok;
}

/* ---- cmocka ----------------------------------------------------------------- */

/* The GPU context gt_ctx_setup left in *state. */
static inline graft_ctx *gt_ctx_of(void **state) { return (graft_ctx *)*state; }

/* cmocka group setup and teardown: a GPU context on device 0 in *state. */
static inline int gt_ctx_setup(void **state) {
  graft_ctx *ctx = malloc(sizeof *ctx);
  if (!ctx || graft_gpu_ctx_init(ctx, 0, (size_t)64 << 20) != GRAFT_OK) {
    free(ctx);
    return -1;
  }
  *state = ctx;
  return 0;
}

static inline int gt_ctx_teardown(void **state) {
  graft_ctx *ctx = *state;
  graft_gpu_ctx_free(ctx);
  free(ctx);
  return 0;
}

/* cmocka group setup: gt_ctx_setup's context with bf16 precision and bf16
 * activations. */
static inline int gt_bf16_ctx_setup(void **state) {
  if (gt_ctx_setup(state) != 0) return -1;
  graft_ctx *ctx = *state;
  *ctx = gt_ctx_in(ctx, GRAFT_PREC_BF16);
  return 0;
}

#endif

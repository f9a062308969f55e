/* gpu_testutil.h: what the GPU tests share (CUDA builds only). Device
 * buffers carry GT_GUARD sentinel floats after their end; a download
 * compares the body with the CPU reference's result and checks that every
 * sentinel is bit-for-bit untouched, so an op that writes past its output
 * is caught. Helpers fail the running cmocka test on an API error. */
#ifndef GRAFT_TESTS_GPU_TESTUTIL_H
#define GRAFT_TESTS_GPU_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/gpu.h"
#include "testutil.h"

#define GT_GUARD 64
#define GT_SENTINEL 0x7fbadbadu /* a NaN no op produces */

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

#endif

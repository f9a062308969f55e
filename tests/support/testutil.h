/* testutil.h: helpers shared by the tests: seeded random fills, error
 * measures that report where the largest error is, a finite-difference
 * gradient checker computed in double, and fixture paths. */
#ifndef GRAFT_TESTUTIL_H
#define GRAFT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"

/* Deterministic generator for test data. */
typedef struct {
  uint64_t s;
} tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
float tu_uniform(tu_rng *r, float lo, float hi);
float tu_normal(tu_rng *r);
void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi);
void tu_fill_normal(tu_rng *r, float *x, size_t n, float scale);

/* Largest |a - b| / (|b| scale) over the tensor: the absolute difference
 * divided by max(max|b|, floor). *where receives the index of the worst
 * element (may be NULL). Scaling by the tensor's largest value keeps tiny
 * elements from dominating and is what the parity and gradient tests use. */
double tu_max_rel_err(const float *a, const float *b, size_t n, double floor, size_t *where);

/* Checks a and b agree to tol under tu_max_rel_err; on failure prints the
 * label, the worst index, both values and the error, and returns 0. */
int tu_check_close(const char *label, const float *a, const float *b, size_t n, double tol,
                   double floor);

/* Finite-difference gradient check of one input.
 * forward(user, y) recomputes the op's output y (ny floats) from the current
 * inputs. The loss is L = sum_i y_i * r_i accumulated in double; the
 * numerical derivative of L with respect to each element of in (nin floats,
 * perturbed in place by +-eps and restored) is compared with analytic
 * (what the op's backward produced for dy = r). Returns the largest error
 * scaled by max(max|analytic|, 1e-3) and prints the worst element when it
 * exceeds tol, labelled with name. */
typedef void (*tu_forward_fn)(void *user, float *y);
double tu_gradcheck(const char *name, void *user, tu_forward_fn forward, float *y, size_t ny,
                    const float *r, float *in, size_t nin, const float *analytic, double eps,
                    double tol);

/* stderr goes to a temporary file between tu_capture_begin and
 * tu_capture_end, which returns what was logged (valid until the next
 * capture). Captures do not nest. */
void tu_capture_begin(void);
const char *tu_capture_end(void);

/* A workspace-backed CPU context; tu_ctx_free releases the workspace. */
void tu_ctx_init(graft_ctx *ctx, size_t workspace_bytes);
void tu_ctx_free(graft_ctx *ctx);

/* $GRAFT_SOURCE_DIR/rel, or under the source tree the build was configured from. */
const char *tu_source_path(const char *rel, char *buf, size_t len);

#endif

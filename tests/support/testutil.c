/* testutil.c: shared test helpers (see testutil.h). */
#define _POSIX_C_SOURCE 200809L /* dup, dup2 */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

void tu_rng_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }

static uint64_t tu_next(tu_rng *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s;
}

float tu_uniform(tu_rng *r, float lo, float hi) {
  double u = (double)(tu_next(r) >> 11) / 9007199254740992.0;
  return (float)(lo + (hi - lo) * u);
}

float tu_normal(tu_rng *r) {
  double u1 = ((double)(tu_next(r) >> 11) + 1.0) / 9007199254740993.0;
  double u2 = (double)(tu_next(r) >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tu_fill_uniform(tu_rng *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

void tu_fill_normal(tu_rng *r, float *x, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = scale * tu_normal(r);
}

double tu_max_rel_err(const float *a, const float *b, size_t n, double floor, size_t *where) {
  double scale = floor;
  for (size_t i = 0; i < n; i++)
    if (fabs((double)b[i]) > scale) scale = fabs((double)b[i]);
  double worst = 0.0;
  size_t wi = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)a[i] - (double)b[i]);
    if (isnan(e)) e = INFINITY;
    if (e > worst) {
      worst = e;
      wi = i;
    }
  }
  if (where) *where = wi;
  return worst / scale;
}

int tu_check_close(const char *label, const float *a, const float *b, size_t n, double tol,
                   double floor) {
  size_t wi = 0;
  double e = tu_max_rel_err(a, b, n, floor, &wi);
  if (e <= tol) return 1;
  fprintf(stderr, "MISMATCH %s: largest error %.3e > tol %.1e at element %zu (got %.8g, want %.8g)\n",
          label, e, tol, wi, n ? (double)a[wi] : 0.0, n ? (double)b[wi] : 0.0);
  return 0;
}

static double weighted_sum(const float *y, const float *r, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)y[i] * (double)r[i];
  return s;
}

double tu_gradcheck(const char *name, void *user, tu_forward_fn forward, float *y, size_t ny,
                    const float *r, float *in, size_t nin, const float *analytic, double eps,
                    double tol) {
  float *numeric = malloc((nin ? nin : 1) * sizeof(float));
  if (!numeric) return INFINITY;
  for (size_t j = 0; j < nin; j++) {
    float saved = in[j];
    in[j] = (float)(saved + eps);
    double hi_in = (double)in[j];
    forward(user, y);
    double lp = weighted_sum(y, r, ny);
    in[j] = (float)(saved - eps);
    double lo_in = (double)in[j];
    forward(user, y);
    double lm = weighted_sum(y, r, ny);
    in[j] = saved;
    /* Divide by the perturbation actually applied after rounding to float. */
    numeric[j] = (float)((lp - lm) / (hi_in - lo_in));
  }
  forward(user, y);
  size_t wi = 0;
  double e = tu_max_rel_err(analytic, numeric, nin, 1e-3, &wi);
  if (e > tol)
    fprintf(stderr,
            "GRADCHECK FAILED %s: largest error %.3e > tol %.1e at element %zu "
            "(backward %.8g, finite difference %.8g)\n",
            name, e, tol, wi, (double)analytic[wi], (double)numeric[wi]);
  else
    printf("gradcheck %s: largest error %.3e (tol %.1e, %zu elements)\n", name, e, tol, nin);
  free(numeric);
  return e;
}

void tu_ctx_init(graft_ctx *ctx, size_t workspace_bytes) {
  graft_ctx_init_ref(ctx, 2);
  if (workspace_bytes) {
    ctx->workspace = malloc(workspace_bytes);
    ctx->workspace_bytes = ctx->workspace ? workspace_bytes : 0;
  }
}

void tu_ctx_free(graft_ctx *ctx) {
  free(ctx->workspace);
  ctx->workspace = NULL;
  ctx->workspace_bytes = 0;
}

const char *tu_source_path(const char *rel, char *buf, size_t len) {
  const char *root = getenv("GRAFT_SOURCE_DIR");
  snprintf(buf, len, "%s/%s", root ? root : GRAFT_DEFAULT_SOURCE_DIR, rel);
  return buf;
}

static FILE *cap_file;
static int cap_saved = -1;
static char cap_text[16384];

void tu_capture_begin(void) {
  cap_file = tmpfile();
  if (!cap_file) return;
  fflush(stderr);
  cap_saved = dup(2);
  dup2(fileno(cap_file), 2);
}

const char *tu_capture_end(void) {
  cap_text[0] = '\0';
  if (!cap_file) return cap_text;
  fflush(stderr);
  dup2(cap_saved, 2);
  close(cap_saved);
  rewind(cap_file);
  size_t n = fread(cap_text, 1, sizeof cap_text - 1, cap_file);
  cap_text[n] = '\0';
  fclose(cap_file);
  cap_file = NULL;
  return cap_text;
}

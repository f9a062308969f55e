/* resample.c: separable antialiased bilinear resampling in fixed point
 * (see resample.h). Weights are Q14 and sum to exactly 1 << 14 at every
 * output position, and all are non-negative, so results never leave
 * 0..255 and need no clamping. */
#include "data/resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define Q 14
#define ONE (1 << Q)
#define HALF (1 << (Q - 1))

void graft_resampler_init(graft_resampler *rs) { memset(rs, 0, sizeof *rs); }

static void axis_free(graft_axis_coefs *c) {
  free(c->coef);
  free(c->first);
  free(c->count);
}

void graft_resampler_free(graft_resampler *rs) {
  if (!rs) return;
  axis_free(&rs->cx);
  axis_free(&rs->cy);
  free(rs->tmp);
  free(rs->acc);
  graft_resampler_init(rs);
}

/* p grown to hold n elements of size sz (p itself when it already does);
 * NULL when out of memory, p then being left as it was. */
static void *grow(void *p, size_t *cap, size_t n, size_t sz) {
  if (n <= *cap && p) return p;
  void *q = realloc(p, (n ? n : 1) * sz);
  if (q) *cap = n;
  return q;
}

static double triangle(double x) {
  x = fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

/* Weights for n outputs along an axis of in source pixels. */
static graft_status axis_coefs(graft_axis_coefs *c, int n, int in, double x0, double s, int flip,
                               int *taps_out) {
  double fs = s > 1.0 ? s : 1.0;
  double support = fs;
  if (!(s > 0.0) || !isfinite(x0) || ceil(support) > 1 << 20)
    GRAFT_FAIL(GRAFT_EINVAL, "resample scale %g / offset %g is not usable", s, x0);
  int taps = (int)ceil(support) * 2 + 1;
  int16_t *coef = grow(c->coef, &c->coef_cap, (size_t)n * taps, sizeof *coef);
  if (coef) c->coef = coef;
  int *first = grow(c->first, &c->first_cap, (size_t)n, sizeof *first);
  if (first) c->first = first;
  int *count = grow(c->count, &c->count_cap, (size_t)n, sizeof *count);
  if (count) c->count = count;
  if (!coef || !first || !count)
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate resampling weights for %d x %d taps", n, taps);
  for (int u = 0; u < n; u++) {
    int uu = flip ? n - 1 - u : u;
    double center = x0 + (uu + 0.5) * s;
    int16_t *w = c->coef + (size_t)u * taps;
    c->first[u] = 0;
    c->count[u] = 0;
    if (!(center >= 0.0 && center < in)) continue;
    int lo = (int)floor(center - support + 0.5), hi = (int)floor(center + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    double sum = 0.0;
    for (int k = lo; k < hi; k++) sum += triangle((k - center + 0.5) / fs);
    int total = 0, big = 0;
    for (int k = lo; k < hi; k++) {
      w[k - lo] = (int16_t)lround(triangle((k - center + 0.5) / fs) / sum * ONE);
      total += w[k - lo];
      if (w[k - lo] > w[big]) big = k - lo;
    }
    w[big] = (int16_t)(w[big] + ONE - total);
    int a = 0, b = hi - lo;
    while (b > a + 1 && w[b - 1] == 0) b--;
    while (a < b - 1 && w[a] == 0) a++;
    if (a) memmove(w, w + a, (size_t)(b - a) * sizeof *w);
    c->first[u] = lo + a;
    c->count[u] = b - a;
  }
  *taps_out = taps;
  return GRAFT_OK;
}

static void horizontal_row(const uint8_t *src, uint8_t *out, int dw, const graft_axis_coefs *c,
                           int taps, uint8_t fill) {
  for (int u = 0; u < dw; u++, out += 3) {
    int n = c->count[u];
    if (n == 0) {
      out[0] = out[1] = out[2] = fill;
      continue;
    }
    const int16_t *w = c->coef + (size_t)u * taps;
    const uint8_t *p = src + (size_t)c->first[u] * 3;
    if (n == 2) { /* every upscaling position: plain bilinear */
      int32_t w0 = w[0], w1 = w[1];
      out[0] = (uint8_t)((HALF + w0 * p[0] + w1 * p[3]) >> Q);
      out[1] = (uint8_t)((HALF + w0 * p[1] + w1 * p[4]) >> Q);
      out[2] = (uint8_t)((HALF + w0 * p[2] + w1 * p[5]) >> Q);
      continue;
    }
    int32_t a0 = HALF, a1 = HALF, a2 = HALF;
    for (int k = 0; k < n; k++, p += 3) {
      a0 += w[k] * p[0];
      a1 += w[k] * p[1];
      a2 += w[k] * p[2];
    }
    out[0] = (uint8_t)(a0 >> Q);
    out[1] = (uint8_t)(a1 >> Q);
    out[2] = (uint8_t)(a2 >> Q);
  }
}

graft_status graft_resample(graft_resampler *rs, const uint8_t *src /* (sh, sw, 3) */, int sw, int sh,
                            size_t src_stride, uint8_t *dst /* (dh, dw, 3) */, int dw, int dh,
                            const graft_resample_map *m) {
  if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
    GRAFT_FAIL(GRAFT_EINVAL, "resample %d x %d -> %d x %d: sizes must be positive", sw, sh, dw, dh);
  GRAFT_TRY(axis_coefs(&rs->cx, dw, sw, m->x0, m->sx, m->flip, &rs->taps_x));
  GRAFT_TRY(axis_coefs(&rs->cy, dh, sh, m->y0, m->sy, 0, &rs->taps_y));
  int r0 = sh, r1 = 0;
  for (int v = 0; v < dh; v++)
    if (rs->cy.count[v]) {
      if (rs->cy.first[v] < r0) r0 = rs->cy.first[v];
      if (rs->cy.first[v] + rs->cy.count[v] > r1) r1 = rs->cy.first[v] + rs->cy.count[v];
    }
  size_t row = (size_t)dw * 3;
  uint8_t *tmp = grow(rs->tmp, &rs->tmp_cap, (size_t)(r1 > r0 ? r1 - r0 : 1) * row, 1);
  if (tmp) rs->tmp = tmp;
  int32_t *acc = grow(rs->acc, &rs->acc_cap, row, sizeof *acc);
  if (acc) rs->acc = acc;
  if (!tmp || !acc)
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate resampling rows (%d x %d)", r1 - r0, dw);
  for (int y = r0; y < r1; y++)
    horizontal_row(src + (size_t)y * src_stride, rs->tmp + (size_t)(y - r0) * row, dw, &rs->cx,
                   rs->taps_x, m->fill);
  for (int v = 0; v < dh; v++) {
    uint8_t *out = dst + (size_t)v * row;
    int n = rs->cy.count[v];
    if (n == 0) {
      memset(out, m->fill, row);
      continue;
    }
    const uint8_t *t = rs->tmp + (size_t)(rs->cy.first[v] - r0) * row;
    if (n == 1) {
      memcpy(out, t, row);
      continue;
    }
    const int16_t *w = rs->cy.coef + (size_t)v * rs->taps_y;
    if (n == 2) {
      const uint8_t *t1 = t + row;
      int32_t w0 = w[0], w1 = w[1];
      for (size_t x = 0; x < row; x++) out[x] = (uint8_t)((HALF + w0 * t[x] + w1 * t1[x]) >> Q);
      continue;
    }
    for (size_t x = 0; x < row; x++) acc[x] = HALF + w[0] * t[x];
    for (int k = 1; k < n; k++) {
      const uint8_t *tk = t + (size_t)k * row;
      int32_t wk = w[k];
      for (size_t x = 0; x < row; x++) acc[x] += wk * tk[x];
    }
    for (size_t x = 0; x < row; x++) out[x] = (uint8_t)(acc[x] >> Q);
  }
  return GRAFT_OK;
}

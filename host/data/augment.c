/* augment.c: classification and detection transforms, colour jitter and
 * normalization (see augment.h). The geometry goes through the resampler;
 * the colour operations work in place on the 8-bit output. */
#include "data/augment.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/log.h"

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

void graft_cls_aug_defaults(graft_cls_aug *a) {
  memset(a, 0, sizeof *a);
  a->size = 224;
  a->resize = 256;
  a->scale[0] = 0.08f;
  a->scale[1] = 1.0f;
  a->ratio[0] = 3.0f / 4.0f;
  a->ratio[1] = 4.0f / 3.0f;
  a->flip = 0.5f;
  memcpy(a->mean, imagenet_mean, sizeof a->mean);
  memcpy(a->std, imagenet_std, sizeof a->std);
}

void graft_det_aug_defaults(graft_det_aug *a) {
  memset(a, 0, sizeof *a);
  a->size = 416;
  a->zoom = 0.5f;
  a->translate = 0.1f;
  a->flip = 0.5f;
  a->hsv_h = 0.015f;
  a->hsv_s = 0.7f;
  a->hsv_v = 0.4f;
  a->fill = 114;
  a->min_side = 2.0f;
  a->min_visible = 0.2f;
  for (int c = 0; c < 3; c++) a->std[c] = 1.0f;
}

graft_crop graft_rrc_params(graft_rng *r, int w, int h, const float scale[2], const float ratio[2]) {
  double area = (double)w * h;
  double log_lo = log(ratio[0]), log_hi = log(ratio[1]);
  for (int attempt = 0; attempt < 10; attempt++) {
    double target = area * graft_rng_uniform(r, scale[0], scale[1]);
    double aspect = exp(graft_rng_uniform(r, log_lo, log_hi));
    /* Python's round() rounds halves to even, as rint() does. */
    int cw = (int)rint(sqrt(target * aspect)), ch = (int)rint(sqrt(target / aspect));
    if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
      int y = (int)graft_rng_below(r, (uint64_t)(h - ch + 1));
      int x = (int)graft_rng_below(r, (uint64_t)(w - cw + 1));
      return (graft_crop){x, y, cw, ch};
    }
  }
  double in_ratio = (double)w / h, lo = fmin(ratio[0], ratio[1]), hi = fmax(ratio[0], ratio[1]);
  int cw = w, ch = h;
  if (in_ratio < lo)
    ch = (int)rint(cw / lo);
  else if (in_ratio > hi)
    cw = (int)rint(ch * hi);
  if (ch > h) ch = h;
  if (cw > w) cw = w;
  return (graft_crop){(w - cw) / 2, (h - ch) / 2, cw, ch};
}

graft_status graft_cls_train(graft_resampler *rs, const graft_image *src, const graft_cls_aug *a,
                             graft_rng *r, uint8_t *dst) {
  graft_crop c = graft_rrc_params(r, src->w, src->h, a->scale, a->ratio);
  int flip = graft_rng_unit(r) < a->flip;
  graft_resample_map m = {0.0, 0.0, (double)c.w / a->size, (double)c.h / a->size, flip, 0};
  const uint8_t *view = src->px + ((size_t)c.y * src->w + c.x) * 3;
  GRAFT_TRY(graft_resample(rs, view, c.w, c.h, (size_t)src->w * 3, dst, a->size, a->size, &m));
  if (a->brightness > 0 || a->contrast > 0 || a->saturation > 0)
    graft_color_jitter(dst, (size_t)a->size * a->size, a->brightness, a->contrast, a->saturation, r);
  return GRAFT_OK;
}

graft_status graft_cls_eval(graft_resampler *rs, const graft_image *src, const graft_cls_aug *a,
                            uint8_t *dst) {
  if (a->resize < a->size)
    GRAFT_FAIL(GRAFT_EINVAL, "resize %d is smaller than the crop %d", a->resize, a->size);
  int w = src->w, h = src->h;
  /* torchvision's Resize(int): the short side becomes resize, the long
   * side int(resize * long / short). */
  int nw, nh;
  if (w <= h) {
    nw = a->resize;
    nh = (int)((double)a->resize * h / w);
  } else {
    nh = a->resize;
    nw = (int)((double)a->resize * w / h);
  }
  double top = rint((nh - a->size) / 2.0), left = rint((nw - a->size) / 2.0);
  double sx = (double)w / nw, sy = (double)h / nh;
  graft_resample_map m = {left * sx, top * sy, sx, sy, 0, 0};
  return graft_resample(rs, src->px, w, h, (size_t)w * 3, dst, a->size, a->size, &m);
}

static uint8_t clamp_q12(int32_t v) {
  if (v <= 0) return 0;
  if (v >= 255 << 12) return 255;
  return (uint8_t)((v + 2048) >> 12);
}

/* Pillow's RGB to L: (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point. */
static inline int luma(const uint8_t *p) { return (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16; }

/* v -> mean + f (v - mean) for every byte, through a table. */
static void blend_lut(uint8_t *px, size_t n, int mean, double f) {
  uint8_t lut[256];
  int32_t fq = (int32_t)lrint(f * 4096);
  for (int v = 0; v < 256; v++) lut[v] = clamp_q12(mean * 4096 + fq * (v - mean));
  for (size_t i = 0; i < n * 3; i++) px[i] = lut[px[i]];
}

void graft_color_jitter(uint8_t *px, size_t n, float brightness, float contrast, float saturation,
                        graft_rng *r) {
  int order[3] = {0, 1, 2};
  for (int i = 2; i > 0; i--) {
    int j = (int)graft_rng_below(r, (uint64_t)i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const float strength[3] = {brightness, contrast, saturation};
  double f[3] = {1, 1, 1};
  for (int k = 0; k < 3; k++)
    if (strength[k] > 0) f[k] = graft_rng_uniform(r, fmax(0.0, 1.0 - strength[k]), 1.0 + strength[k]);
  for (int k = 0; k < 3; k++) {
    int op = order[k];
    if (strength[op] <= 0) continue;
    if (op == 0) {
      blend_lut(px, n, 0, f[0]);
    } else if (op == 1) {
      uint64_t sum = 0;
      for (size_t i = 0; i < n; i++) sum += (uint64_t)luma(px + 3 * i);
      blend_lut(px, n, (int)((double)sum / (double)n + 0.5), f[1]);
    } else {
      int32_t fq = (int32_t)lrint(f[2] * 4096);
      for (size_t i = 0; i < n; i++) {
        uint8_t *p = px + 3 * i;
        int g = luma(p);
        for (int c = 0; c < 3; c++) p[c] = clamp_q12(g * 4096 + fq * (p[c] - g));
      }
    }
  }
}

static uint8_t clamp_round(double v) { return (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : (int)(v + 0.5)); }

void graft_hsv_jitter(uint8_t *px, size_t n, float hsv_h, float hsv_s, float hsv_v, graft_rng *r) {
  double gh = 1 + graft_rng_uniform(r, -1, 1) * hsv_h;
  double gs = 1 + graft_rng_uniform(r, -1, 1) * hsv_s;
  double gv = 1 + graft_rng_uniform(r, -1, 1) * hsv_v;
  uint8_t lut_h[256], lut_s[256], lut_v[256];
  for (int x = 0; x < 256; x++) {
    lut_h[x] = (uint8_t)((int)(x * gh) % 180);
    lut_s[x] = clamp_round(x * gs);
    lut_v[x] = clamp_round(x * gv);
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t *p = px + 3 * i;
    int mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
    int mn = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
    int d = mx - mn;
    double hue = 0;
    if (d) {
      if (mx == p[0]) hue = 60.0 * (p[1] - p[2]) / d;
      else if (mx == p[1]) hue = 120.0 + 60.0 * (p[2] - p[0]) / d;
      else hue = 240.0 + 60.0 * (p[0] - p[1]) / d;
      if (hue < 0) hue += 360.0;
    }
    int h8 = (int)(hue / 2.0 + 0.5) % 180;
    int s8 = mx ? (d * 255 + mx / 2) / mx : 0;
    double hh = lut_h[h8] * 2.0 / 60.0, s = lut_s[s8] / 255.0, v = lut_v[mx];
    int sector = (int)hh % 6;
    double frac = hh - floor(hh);
    double a = v * (1 - s), b = v * (1 - s * frac), c = v * (1 - s * (1 - frac));
    static const int pick[6][3] = {{0, 3, 1}, {2, 0, 1}, {1, 0, 3}, {1, 2, 0}, {3, 1, 0}, {0, 1, 2}};
    double val[4] = {v, a, b, c};
    for (int ch = 0; ch < 3; ch++) p[ch] = clamp_round(val[pick[sector][ch]]);
  }
}

graft_det_geometry graft_det_geometry_make(const graft_det_aug *a, int w, int h, graft_rng *r) {
  int size = a->size;
  double fit = (double)size / (w > h ? w : h);
  graft_det_geometry g;
  memset(&g, 0, sizeof g);
  g.size = size;
  g.map.fill = a->fill;
  if (!r) {
    int nw = (int)lrint(w * fit), nh = (int)lrint(h * fit);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    double sx = (double)w / nw, sy = (double)h / nh;
    g.map.sx = sx;
    g.map.sy = sy;
    g.map.x0 = -((size - nw) / 2) * sx;
    g.map.y0 = -((size - nh) / 2) * sy;
    return g;
  }
  double scale = fit * graft_rng_uniform(r, 1.0 - a->zoom, 1.0 + a->zoom);
  double left = (size - w * scale) / 2 + graft_rng_uniform(r, -a->translate, a->translate) * size;
  double top = (size - h * scale) / 2 + graft_rng_uniform(r, -a->translate, a->translate) * size;
  g.map.flip = graft_rng_unit(r) < a->flip;
  g.map.sx = g.map.sy = 1.0 / scale;
  g.map.x0 = -left / scale;
  g.map.y0 = -top / scale;
  return g;
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

size_t graft_det_boxes(const graft_det_geometry *g, int w, int h, const graft_box *in, size_t n,
                       float min_side, float min_visible, graft_box *out) {
  double S = g->size;
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const graft_box *b = &in[i];
    double u1 = ((b->cx - b->w / 2.0) * w - g->map.x0) / g->map.sx;
    double u2 = ((b->cx + b->w / 2.0) * w - g->map.x0) / g->map.sx;
    double v1 = ((b->cy - b->h / 2.0) * h - g->map.y0) / g->map.sy;
    double v2 = ((b->cy + b->h / 2.0) * h - g->map.y0) / g->map.sy;
    if (g->map.flip) {
      double t = u1;
      u1 = S - u2;
      u2 = S - t;
    }
    double area = (u2 - u1) * (v2 - v1);
    u1 = clampd(u1, 0, S);
    u2 = clampd(u2, 0, S);
    v1 = clampd(v1, 0, S);
    v2 = clampd(v2, 0, S);
    double cw = u2 - u1, ch = v2 - v1;
    if (cw < min_side || ch < min_side || cw * ch < min_visible * area) continue;
    out[kept++] = (graft_box){b->cls, (float)((u1 + u2) / 2 / S), (float)((v1 + v2) / 2 / S),
                              (float)(cw / S), (float)(ch / S)};
  }
  return kept;
}

graft_status graft_det_transform(graft_resampler *rs, const graft_image *src, const graft_det_aug *a,
                                 graft_rng *r, const graft_box *in, size_t n, uint8_t *dst,
                                 graft_box *out, size_t *nout) {
  graft_det_geometry g = graft_det_geometry_make(a, src->w, src->h, r);
  GRAFT_TRY(graft_resample(rs, src->px, src->w, src->h, (size_t)src->w * 3, dst, a->size, a->size, &g.map));
  if (r && (a->hsv_h > 0 || a->hsv_s > 0 || a->hsv_v > 0))
    graft_hsv_jitter(dst, (size_t)a->size * a->size, a->hsv_h, a->hsv_s, a->hsv_v, r);
  *nout = graft_det_boxes(&g, src->w, src->h, in, n, a->min_side, a->min_visible, out);
  return GRAFT_OK;
}

void graft_normalize(const uint8_t *src, size_t n, const float mean[3], const float std[3], float *dst) {
  float scale[12], bias[12];
  for (int k = 0; k < 12; k++) {
    scale[k] = 1.0f / (255.0f * std[k % 3]);
    bias[k] = -mean[k % 3] / std[k % 3];
  }
  size_t m = n * 3, i = 0;
#if defined(__SSE2__)
  /* Batches are large and written once: streaming stores skip reading the
   * destination into the cache first, about twice as fast here. Twelve
   * values (four pixels) a step keep the channel pattern aligned. */
  if (((uintptr_t)dst & 15) == 0) {
    const __m128 s0 = _mm_loadu_ps(scale), s1 = _mm_loadu_ps(scale + 4), s2 = _mm_loadu_ps(scale + 8);
    const __m128 b0 = _mm_loadu_ps(bias), b1 = _mm_loadu_ps(bias + 4), b2 = _mm_loadu_ps(bias + 8);
    const __m128i z = _mm_setzero_si128();
    for (; i + 16 <= m; i += 12) {
      __m128i v = _mm_loadu_si128((const __m128i *)(src + i));
      __m128i lo = _mm_unpacklo_epi8(v, z), hi = _mm_unpackhi_epi8(v, z);
      __m128 f0 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, z));
      __m128 f1 = _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, z));
      __m128 f2 = _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, z));
      _mm_stream_ps(dst + i, _mm_add_ps(_mm_mul_ps(f0, s0), b0));
      _mm_stream_ps(dst + i + 4, _mm_add_ps(_mm_mul_ps(f1, s1), b1));
      _mm_stream_ps(dst + i + 8, _mm_add_ps(_mm_mul_ps(f2, s2), b2));
    }
    _mm_sfence();
  }
#endif
  for (; i < m; i++) dst[i] = src[i] * scale[i % 12] + bias[i % 12];
}

/* test_data_augment.c: the resampler (identity, constants, averaging,
 * flips, fill, and agreement with Pillow's resize when /usr/bin/python3
 * has it), torchvision's RandomResizedCrop sampling and fallback, the
 * one-pass eval resize + centre crop, box transforms against hand-computed
 * cases, colour jitter invariants, and reproducibility from the seed. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "data/augment.h"
#include "data/image_write.h"

static void pattern(graft_image *im, int w, int h, unsigned seed) {
  assert_int_equal(graft_image_alloc(im, w, h), GRAFT_OK);
  for (int i = 0; i < w * h * 3; i++) im->px[i] = (uint8_t)((i * 2654435761u + seed) >> 13);
}

static void test_resample_basics(void **state) {
  (void)state;
  graft_resampler rs;
  graft_resampler_init(&rs);
  graft_image im;
  graft_image_init(&im);
  pattern(&im, 40, 30, 1);
  uint8_t out[20 * 10 * 3];
  /* Scale 1 at an integer offset is an exact crop. */
  graft_resample_map m = {5, 7, 1, 1, 0, 0};
  assert_int_equal(graft_resample(&rs, im.px, 40, 30, 120, out, 20, 10, &m), GRAFT_OK);
  for (int y = 0; y < 10; y++) assert_memory_equal(out + y * 60, im.px + ((y + 7) * 40 + 5) * 3, 60);
  /* Flipped: columns mirror. */
  m.flip = 1;
  assert_int_equal(graft_resample(&rs, im.px, 40, 30, 120, out, 20, 10, &m), GRAFT_OK);
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 20; x++)
      assert_memory_equal(out + (y * 20 + x) * 3, im.px + ((y + 7) * 40 + 5 + 19 - x) * 3, 3);
  /* Halving: the triangle filter is two source pixels wide on each side,
   * so output 0 (centre 1.0) weighs pixels 0, 1, 2 by 0.75, 0.75, 0.25 and
   * output 1 (centre 3.0) pixels 1, 2, 3 by 0.25, 0.75, 0.75. */
  uint8_t two[4 * 1 * 3] = {10, 20, 30, 50, 60, 70, 0, 0, 0, 255, 255, 255}, half[2 * 3];
  graft_resample_map h2 = {0, 0, 2, 1, 0, 0};
  assert_int_equal(graft_resample(&rs, two, 4, 1, 12, half, 2, 1, &h2), GRAFT_OK);
  assert_int_equal(half[0], 26);  /* (7.5 + 37.5) / 1.75 = 25.7 */
  assert_int_equal(half[2], 43);  /* (22.5 + 52.5) / 1.75 = 42.9 */
  assert_int_equal(half[3], 116); /* (12.5 + 191.25) / 1.75 = 116.4 */
  /* A constant image stays constant at any scale; outside is filled. */
  memset(im.px, 77, 40 * 30 * 3);
  uint8_t big[64 * 64 * 3];
  graft_resample_map lb = {-10, 0, 0.7, 0.45, 0, 114};
  assert_int_equal(graft_resample(&rs, im.px, 40, 30, 120, big, 64, 64, &lb), GRAFT_OK);
  int fills = 0;
  for (int i = 0; i < 64 * 64 * 3; i++) {
    assert_true(big[i] == 77 || big[i] == 114);
    fills += big[i] == 114;
  }
  assert_true(fills > 0);
  graft_resampler_free(&rs);
  graft_image_free(&im);
}

/* Pillow's resize with the same box, through /usr/bin/python3 when it has
 * PIL; returns 0 (and checks nothing) when it does not. */
static int pillow_resize(const char *png, int dw, int dh, double x0, double y0, double x1, double y1,
                         uint8_t *out) {
  char cmd[1024], raw[256];
  snprintf(raw, sizeof raw, "%s.raw", png);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"from PIL import Image; import sys; "
           "im=Image.open('%s').convert('RGB'); "
           "open('%s','wb').write(im.resize((%d,%d), Image.BILINEAR, box=(%.17g,%.17g,%.17g,%.17g)).tobytes())\" "
           "2>/dev/null",
           png, raw, dw, dh, x0, y0, x1, y1);
  if (access("/usr/bin/python3", X_OK) != 0 || system(cmd) != 0) return 0;
  FILE *f = fopen(raw, "rb");
  size_t got = f ? fread(out, 1, (size_t)dw * dh * 3, f) : 0;
  if (f) fclose(f);
  unlink(raw);
  return got == (size_t)dw * dh * 3;
}

static void test_resample_matches_pillow(void **state) {
  (void)state;
  char dir[] = "/tmp/graft-aug-XXXXXX", png[64];
  assert_non_null(mkdtemp(dir));
  snprintf(png, sizeof png, "%s/src.png", dir);
  graft_image im;
  graft_image_init(&im);
  pattern(&im, 97, 61, 3);
  for (int i = 0; i < 97 * 61 * 3; i += 7) im.px[i] = (uint8_t)(i % 251);
  assert_int_equal(graft_image_write_png(png, &im), GRAFT_OK);
  static const struct {
    int dw, dh;
    double x0, y0, x1, y1;
  } cases[] = {{224, 224, 10, 5, 60, 45}, {40, 25, 0, 0, 97, 61}, {13, 50, 3.5, 0.25, 90.5, 60},
               {97, 61, 0, 0, 97, 61}};
  graft_resampler rs;
  graft_resampler_init(&rs);
  int checked = 0;
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int dw = cases[k].dw, dh = cases[k].dh;
    uint8_t *want = malloc((size_t)dw * dh * 3), *got = malloc((size_t)dw * dh * 3);
    if (pillow_resize(png, dw, dh, cases[k].x0, cases[k].y0, cases[k].x1, cases[k].y1, want)) {
      graft_resample_map m = {cases[k].x0, cases[k].y0, (cases[k].x1 - cases[k].x0) / dw,
                              (cases[k].y1 - cases[k].y0) / dh, 0, 0};
      assert_int_equal(graft_resample(&rs, im.px, 97, 61, 97 * 3, got, dw, dh, &m), GRAFT_OK);
      int worst = 0;
      for (int i = 0; i < dw * dh * 3; i++) {
        int d = abs(got[i] - want[i]);
        if (d > worst) worst = d;
      }
      printf("resize to %dx%d from box (%g,%g,%g,%g): largest difference from Pillow %d\n", dw, dh,
             cases[k].x0, cases[k].y0, cases[k].x1, cases[k].y1, worst);
      assert_true(worst <= 1);
      checked++;
    }
    free(want);
    free(got);
  }
  if (!checked) printf("Pillow not available: resampler parity not checked\n");
  unlink(png);
  rmdir(dir);
  graft_resampler_free(&rs);
  graft_image_free(&im);
}

static void test_rrc_params(void **state) {
  (void)state;
  const float scale[2] = {0.08f, 1.0f}, ratio[2] = {3.0f / 4.0f, 4.0f / 3.0f};
  graft_rng r;
  graft_rng_seed3(&r, 1, 2, 3);
  for (int i = 0; i < 2000; i++) {
    int w = 50 + i % 300, h = 40 + (i * 7) % 280;
    graft_crop c = graft_rrc_params(&r, w, h, scale, ratio);
    assert_true(c.x >= 0 && c.y >= 0 && c.w > 0 && c.h > 0 && c.x + c.w <= w && c.y + c.h <= h);
  }
  /* Nothing fits: a square of the whole area cannot sit in 200 x 100, so
   * the fallback clamps the ratio and centres the crop. */
  const float all[2] = {1.0f, 1.0f}, square[2] = {1.0f, 1.0f};
  graft_crop c = graft_rrc_params(&r, 200, 100, all, square);
  assert_int_equal(c.w, 100);
  assert_int_equal(c.h, 100);
  assert_int_equal(c.x, 50);
  assert_int_equal(c.y, 0);
  c = graft_rrc_params(&r, 60, 300, all, ratio);
  assert_int_equal(c.w, 60);
  assert_int_equal(c.h, 80);
  assert_int_equal(c.y, 110);
}

static void test_eval_is_resize_then_crop(void **state) {
  (void)state;
  graft_image im;
  graft_image_init(&im);
  pattern(&im, 300, 200, 9);
  graft_cls_aug a;
  graft_cls_aug_defaults(&a);
  graft_resampler rs;
  graft_resampler_init(&rs);
  uint8_t *one = malloc(224 * 224 * 3), *full = malloc(384 * 256 * 3);
  assert_int_equal(graft_cls_eval(&rs, &im, &a, one), GRAFT_OK);
  graft_resample_map m = {0, 0, 300.0 / 384, 200.0 / 256, 0, 0};
  assert_int_equal(graft_resample(&rs, im.px, 300, 200, 900, full, 384, 256, &m), GRAFT_OK);
  for (int y = 0; y < 224; y++) assert_memory_equal(one + y * 224 * 3, full + ((y + 16) * 384 + 80) * 3, 224 * 3);
  free(one);
  free(full);
  graft_resampler_free(&rs);
  graft_image_free(&im);
}

static void check_box(const graft_box *b, int cls, double cx, double cy, double w, double h) {
  printf("box: got %d (%.4f %.4f %.4f %.4f) want %d (%.4f %.4f %.4f %.4f)\n", b->cls, b->cx, b->cy,
         b->w, b->h, cls, cx, cy, w, h);
  assert_int_equal(b->cls, cls);
  assert_true(fabs(b->cx - cx) < 1e-5 && fabs(b->cy - cy) < 1e-5);
  assert_true(fabs(b->w - w) < 1e-5 && fabs(b->h - h) < 1e-5);
}

static void test_boxes_hand_computed(void **state) {
  (void)state;
  graft_det_aug a;
  graft_det_aug_defaults(&a);
  a.size = 100;
  /* 200 x 100 letterboxed into 100 x 100: scale 0.5, 25 rows of grey on top. */
  graft_det_geometry g = graft_det_geometry_make(&a, 200, 100, NULL);
  graft_box in[4] = {{3, 0.5f, 0.5f, 0.5f, 0.5f}, {1, 0.25f, 0.5f, 0.2f, 0.2f}}, out[4];
  assert_int_equal(graft_det_boxes(&g, 200, 100, in, 2, 2, 0.2f, out), 2);
  check_box(&out[0], 3, 0.5, 0.5, 0.5, 0.25);
  /* x 30..70 -> 15..35, y 40..60 -> 45..55 */
  check_box(&out[1], 1, 0.25, 0.5, 0.2, 0.1);
  g.map.flip = 1;
  assert_int_equal(graft_det_boxes(&g, 200, 100, in, 2, 2, 0.2f, out), 2);
  check_box(&out[1], 1, 0.75, 0.5, 0.2, 0.1);

  /* A 100 x 100 image shifted left by 50 pixels at scale 1. */
  graft_det_geometry s = {{50, 0, 1, 1, 0, 114}, 100};
  graft_box cut[4] = {{0, 0.55f, 0.5f, 0.3f, 0.2f},   /* x 40..70 -> -10..20: clipped to 0..20 */
                      {1, 0.2f, 0.5f, 0.2f, 0.2f},    /* x 10..30 -> -40..-20: gone */
                      {2, 0.515f, 0.5f, 0.05f, 0.5f}, /* x 49..54 -> -1..4: 4 px, 80% kept */
                      {3, 0.5f, 0.5f, 0.1f, 0.5f}};   /* x 45..55 -> -5..5: 5 px, 50% kept */
  size_t n = graft_det_boxes(&s, 100, 100, cut, 4, 2, 0.6f, out);
  assert_int_equal(n, 2);
  check_box(&out[0], 0, 0.10, 0.5, 0.2, 0.2);
  check_box(&out[1], 2, 0.02, 0.5, 0.04, 0.5);
  assert_int_equal(graft_det_boxes(&s, 100, 100, cut, 4, 4.5f, 0.0f, out), 2);
  check_box(&out[1], 3, 0.025, 0.5, 0.05, 0.5);
}

static void test_det_transform_consistent(void **state) {
  (void)state;
  /* A white box on black: after a random transform the kept box must
   * cover the white pixels of the output. */
  graft_image im;
  graft_image_init(&im);
  assert_int_equal(graft_image_alloc(&im, 160, 120), GRAFT_OK);
  memset(im.px, 0, 160 * 120 * 3);
  for (int y = 30; y < 90; y++) memset(im.px + (y * 160 + 40) * 3, 255, 60 * 3);
  graft_box in = {0, 70.0f / 160, 60.0f / 120, 60.0f / 160, 60.0f / 120}, out;
  graft_det_aug a;
  graft_det_aug_defaults(&a);
  a.size = 128;
  a.hsv_h = a.hsv_s = a.hsv_v = 0;
  graft_resampler rs;
  graft_resampler_init(&rs);
  uint8_t *dst = malloc(128 * 128 * 3);
  for (int t = 0; t < 20; t++) {
    graft_rng r;
    graft_rng_seed3(&r, 5, 0, (uint64_t)t);
    size_t n;
    assert_int_equal(graft_det_transform(&rs, &im, &a, &r, &in, 1, dst, &out, &n), GRAFT_OK);
    if (!n) continue;
    int x0 = 128, x1 = 0, y0 = 128, y1 = 0;
    for (int y = 0; y < 128; y++)
      for (int x = 0; x < 128; x++)
        if (dst[(y * 128 + x) * 3] > 128) {
          if (x < x0) x0 = x;
          if (x > x1) x1 = x;
          if (y < y0) y0 = y;
          if (y > y1) y1 = y;
        }
    double bx0 = (out.cx - out.w / 2) * 128, bx1 = (out.cx + out.w / 2) * 128;
    double by0 = (out.cy - out.h / 2) * 128, by1 = (out.cy + out.h / 2) * 128;
    assert_true(fabs(bx0 - x0) <= 1.5 && fabs(bx1 - (x1 + 1)) <= 1.5);
    assert_true(fabs(by0 - y0) <= 1.5 && fabs(by1 - (y1 + 1)) <= 1.5);
  }
  free(dst);
  graft_resampler_free(&rs);
  graft_image_free(&im);
}

static void test_colour_and_seeding(void **state) {
  (void)state;
  enum { N = 64 };
  uint8_t gray[N * 3], px[N * 3];
  for (int i = 0; i < N; i++) gray[3 * i] = gray[3 * i + 1] = gray[3 * i + 2] = (uint8_t)(i * 4);
  graft_rng r;
  graft_rng_seed3(&r, 1, 1, 1);
  memcpy(px, gray, sizeof px);
  graft_color_jitter(px, N, 0, 0, 0.9f, &r);
  assert_memory_equal(px, gray, sizeof px);
  memset(px, 90, sizeof px);
  graft_color_jitter(px, N, 0, 0.9f, 0, &r);
  for (int i = 0; i < N * 3; i++) assert_int_equal(px[i], 90);
  memcpy(px, gray, sizeof px);
  graft_hsv_jitter(px, N, 0, 0, 0, &r);
  for (int i = 0; i < N * 3; i++) assert_true(abs(px[i] - gray[i]) <= 1);

  graft_image im;
  graft_image_init(&im);
  pattern(&im, 120, 90, 4);
  graft_cls_aug a;
  graft_cls_aug_defaults(&a);
  a.size = 64;
  a.brightness = a.contrast = a.saturation = 0.4f;
  graft_resampler rs;
  graft_resampler_init(&rs);
  uint8_t x[64 * 64 * 3], y[64 * 64 * 3], z[64 * 64 * 3];
  graft_rng_seed3(&r, 7, 3, 11);
  assert_int_equal(graft_cls_train(&rs, &im, &a, &r, x), GRAFT_OK);
  graft_rng_seed3(&r, 7, 3, 11);
  assert_int_equal(graft_cls_train(&rs, &im, &a, &r, y), GRAFT_OK);
  graft_rng_seed3(&r, 7, 3, 12);
  assert_int_equal(graft_cls_train(&rs, &im, &a, &r, z), GRAFT_OK);
  assert_memory_equal(x, y, sizeof x);
  assert_memory_not_equal(x, z, sizeof x);

  float f[2 * 3];
  const uint8_t two[6] = {0, 128, 255, 255, 0, 51};
  const float mean[3] = {0.5f, 0.5f, 0.5f}, sd[3] = {0.5f, 0.25f, 1.0f};
  graft_normalize(two, 2, mean, sd, f);
  assert_true(fabs(f[0] + 1.0) < 1e-6 && fabs(f[1] - (128 / 255.0 - 0.5) / 0.25) < 1e-5);
  assert_true(fabs(f[2] - 0.5) < 1e-6 && fabs(f[5] + 0.3) < 1e-6);
  /* The vector path (aligned, long rows) and its tail agree with the formula. */
  enum { NP = 1001 };
  uint8_t *many = malloc(NP * 3);
  float *out = aligned_alloc(64, (NP * 3 * sizeof *out + 127) / 64 * 64);
  for (int i = 0; i < NP * 3; i++) many[i] = (uint8_t)(i * 37 + 11);
  for (int shift = 0; shift < 2; shift++) {
    graft_normalize(many, NP, mean, sd, out + shift);
    for (int i = 0; i < NP * 3; i++) {
      double want = (many[i] / 255.0 - mean[i % 3]) / sd[i % 3];
      assert_true(fabs(out[i + shift] - want) < 1e-5);
    }
  }
  free(many);
  free(out);
  graft_resampler_free(&rs);
  graft_image_free(&im);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resample_basics),       cmocka_unit_test(test_resample_matches_pillow),
      cmocka_unit_test(test_rrc_params),            cmocka_unit_test(test_eval_is_resize_then_crop),
      cmocka_unit_test(test_boxes_hand_computed),   cmocka_unit_test(test_det_transform_consistent),
      cmocka_unit_test(test_colour_and_seeding),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

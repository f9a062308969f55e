/* test_data_image.c: the PNG and JPEG decoders. PNGs of every colour type,
 * bit depth and interlacing are generated here with libpng from known
 * samples and must decode to the exactly predicted RGB; JPEGs (RGB, gray,
 * CMYK, progressive) are generated with libjpeg and must decode close to
 * their source. Truncated, corrupt, foreign and oversized inputs must fail
 * with a message naming the file, never crash. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <math.h>

#include "core/log.h"
#include "data/image.h"
#include "data/image_write.h"
#include "testutil.h"

typedef struct {
  uint8_t *data; /* (len) */
  size_t len, cap;
} membuf;

static void membuf_write(png_structp png, png_bytep src, size_t n) {
  membuf *m = png_get_io_ptr(png);
  if (m->len + n > m->cap) {
    m->cap = (m->len + n) * 2;
    m->data = realloc(m->data, m->cap);
    assert_non_null(m->data);
  }
  memcpy(m->data + m->len, src, n);
  m->len += n;
}

static void membuf_flush(png_structp png) { (void)png; }

/* Encodes w x h samples (one uint16 per channel, spp channels a pixel,
 * row-major) as a PNG of the given colour type, depth and interlacing. */
static membuf encode_png(int w, int h, int color, int depth, int interlace, const uint16_t *samples,
                         int spp, const png_color *palette, int npal, const png_byte *trns, int ntrns) {
  membuf m = {NULL, 0, 0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  assert_int_equal(setjmp(png_jmpbuf(png)), 0);
  png_set_write_fn(png, &m, membuf_write, membuf_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color, interlace,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, npal);
  if (trns && color == PNG_COLOR_TYPE_PALETTE) png_set_tRNS(png, info, trns, ntrns, NULL);
  if (trns && color != PNG_COLOR_TYPE_PALETTE) {
    png_color_16 t = {0, 1, 1, 1, 1};
    png_set_tRNS(png, info, NULL, 0, &t);
  }
  png_write_info(png, info);
  if (depth < 8) png_set_packing(png);
  int bps = depth == 16 ? 2 : 1;
  size_t rowlen = (size_t)w * spp * bps;
  png_bytep *rows = calloc((size_t)h, sizeof *rows);
  for (int y = 0; y < h; y++) {
    rows[y] = malloc(rowlen);
    for (int i = 0; i < w * spp; i++) {
      uint16_t v = samples[(size_t)y * w * spp + i];
      if (bps == 2) {
        rows[y][2 * i] = (png_byte)(v >> 8);
        rows[y][2 * i + 1] = (png_byte)(v & 0xFF);
      } else {
        rows[y][i] = (png_byte)v;
      }
    }
  }
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  for (int y = 0; y < h; y++) free(rows[y]);
  free(rows);
  return m;
}

/* The 8-bit value a decoder must give for a sample of the given depth:
 * low depths scale to 0..255, 16-bit keeps the high byte. */
static uint8_t to8(uint16_t v, int depth) {
  if (depth == 16) return (uint8_t)(v >> 8);
  if (depth == 8) return (uint8_t)v;
  return (uint8_t)(v * 255 / ((1 << depth) - 1));
}

static void check_png_case(int color, int depth, int interlace, int with_trns) {
  const int w = 13, h = 9;
  int spp = color == PNG_COLOR_TYPE_RGB ? 3 : color == PNG_COLOR_TYPE_RGB_ALPHA ? 4
          : color == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  tu_rng rng;
  tu_rng_seed(&rng, (uint64_t)(color * 100 + depth * 2 + interlace));
  uint16_t *samples = malloc(sizeof(uint16_t) * w * h * spp);
  int maxv = color == PNG_COLOR_TYPE_PALETTE ? (1 << depth) - 1 : (1 << depth) - 1;
  png_color palette[256];
  png_byte trns[256];
  for (int i = 0; i < 256; i++) {
    palette[i].red = (png_byte)(i * 7 + 3);
    palette[i].green = (png_byte)(255 - i);
    palette[i].blue = (png_byte)(i * 31);
    trns[i] = (png_byte)(i * 5);
  }
  for (int i = 0; i < w * h * spp; i++) samples[i] = (uint16_t)(tu_uniform(&rng, 0, (float)maxv + 0.999f));
  int npal = 1 << depth;
  membuf m = encode_png(w, h, color, depth, interlace, samples, spp,
                        color == PNG_COLOR_TYPE_PALETTE ? palette : NULL, npal, with_trns ? trns : NULL,
                        npal);
  graft_image im;
  graft_image_init(&im);
  assert_int_equal(graft_image_decode_mem(m.data, m.len, "case.png", NULL, &im), GRAFT_OK);
  assert_int_equal(im.w, w);
  assert_int_equal(im.h, h);
  int bad = 0;
  for (int p = 0; p < w * h; p++) {
    const uint16_t *s = samples + (size_t)p * spp;
    uint8_t want[3];
    if (color == PNG_COLOR_TYPE_PALETTE) {
      want[0] = palette[s[0]].red;
      want[1] = palette[s[0]].green;
      want[2] = palette[s[0]].blue;
    } else if (spp <= 2) {
      want[0] = want[1] = want[2] = to8(s[0], depth);
    } else {
      for (int c = 0; c < 3; c++) want[c] = to8(s[c], depth);
    }
    for (int c = 0; c < 3; c++)
      if (im.px[3 * p + c] != want[c] && bad++ < 3)
        fprintf(stderr, "colour %d depth %d interlace %d trns %d: pixel %d ch %d got %d want %d\n",
                color, depth, interlace, with_trns, p, c, im.px[3 * p + c], want[c]);
  }
  assert_int_equal(bad, 0);
  graft_image_free(&im);
  free(m.data);
  free(samples);
}

static void test_png_every_colour_type(void **state) {
  (void)state;
  static const int cases[][2] = {{PNG_COLOR_TYPE_GRAY, 1},    {PNG_COLOR_TYPE_GRAY, 2},
                                 {PNG_COLOR_TYPE_GRAY, 4},    {PNG_COLOR_TYPE_GRAY, 8},
                                 {PNG_COLOR_TYPE_GRAY, 16},   {PNG_COLOR_TYPE_RGB, 8},
                                 {PNG_COLOR_TYPE_RGB, 16},    {PNG_COLOR_TYPE_PALETTE, 1},
                                 {PNG_COLOR_TYPE_PALETTE, 2}, {PNG_COLOR_TYPE_PALETTE, 4},
                                 {PNG_COLOR_TYPE_PALETTE, 8}, {PNG_COLOR_TYPE_GRAY_ALPHA, 8},
                                 {PNG_COLOR_TYPE_GRAY_ALPHA, 16}, {PNG_COLOR_TYPE_RGB_ALPHA, 8},
                                 {PNG_COLOR_TYPE_RGB_ALPHA, 16}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int interlace = 0; interlace < 2; interlace++) {
      check_png_case(cases[i][0], cases[i][1], interlace, 0);
      int alpha = cases[i][0] & PNG_COLOR_MASK_ALPHA;
      if (!alpha) check_png_case(cases[i][0], cases[i][1], interlace, 1);
    }
}

static membuf encode_jpeg(int w, int h, J_COLOR_SPACE cs, int comps, const uint8_t *px, int progressive) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char *out = NULL;
  unsigned long outlen = 0;
  jpeg_mem_dest(&c, &out, &outlen);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = cs;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 98, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  membuf m = {malloc(outlen), outlen, outlen};
  memcpy(m.data, out, outlen);
  free(out);
  return m;
}

/* A smooth test pattern with comps channels (JPEG keeps these close). */
static uint8_t *smooth(int w, int h, int comps) {
  uint8_t *px = malloc((size_t)w * h * comps);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < comps; c++)
        px[((size_t)y * w + x) * comps + c] =
            (uint8_t)(128.0 + 90.0 * sin(x * 0.13 + c) * cos(y * 0.09 + 0.5 * c));
  return px;
}

static int max_diff_rgb(const graft_image *im, const uint8_t *want) {
  int worst = 0;
  for (size_t i = 0; i < (size_t)im->w * im->h * 3; i++) {
    int d = abs((int)im->px[i] - (int)want[i]);
    if (d > worst) worst = d;
  }
  return worst;
}

static void test_jpeg_colour_spaces(void **state) {
  (void)state;
  const int w = 40, h = 24;
  graft_image im;
  graft_image_init(&im);
  for (int prog = 0; prog < 2; prog++) {
    uint8_t *rgb = smooth(w, h, 3);
    membuf m = encode_jpeg(w, h, JCS_RGB, 3, rgb, prog);
    assert_int_equal(graft_image_decode_mem(m.data, m.len, "rgb.jpg", NULL, &im), GRAFT_OK);
    assert_int_equal(im.w, w);
    int d = max_diff_rgb(&im, rgb);
    printf("jpeg rgb progressive=%d: largest difference %d\n", prog, d);
    assert_true(d <= 12);
    free(m.data);
    free(rgb);
  }
  uint8_t *gray = smooth(w, h, 1);
  membuf m = encode_jpeg(w, h, JCS_GRAYSCALE, 1, gray, 0);
  assert_int_equal(graft_image_decode_mem(m.data, m.len, "gray.jpg", NULL, &im), GRAFT_OK);
  uint8_t *gray3 = malloc((size_t)w * h * 3);
  for (int i = 0; i < w * h; i++) gray3[3 * i] = gray3[3 * i + 1] = gray3[3 * i + 2] = gray[i];
  printf("jpeg gray: largest difference %d\n", max_diff_rgb(&im, gray3));
  assert_true(max_diff_rgb(&im, gray3) <= 3);
  free(m.data);
  free(gray);
  free(gray3);

  /* libjpeg writes an Adobe marker with CMYK, so the stored values are the
   * inverted inks and R = C' * K' / 255. */
  uint8_t *cmyk = smooth(w, h, 4);
  m = encode_jpeg(w, h, JCS_CMYK, 4, cmyk, 0);
  assert_int_equal(graft_image_decode_mem(m.data, m.len, "cmyk.jpg", NULL, &im), GRAFT_OK);
  uint8_t *want = malloc((size_t)w * h * 3);
  for (int i = 0; i < w * h; i++)
    for (int c = 0; c < 3; c++) want[3 * i + c] = (uint8_t)((cmyk[4 * i + c] * cmyk[4 * i + 3] + 127) / 255);
  printf("jpeg cmyk: largest difference %d\n", max_diff_rgb(&im, want));
  assert_true(max_diff_rgb(&im, want) <= 6);
  free(m.data);
  free(cmyk);
  free(want);
  graft_image_free(&im);
}

static void test_jpeg_dct_scaling(void **state) {
  (void)state;
  uint8_t *rgb = smooth(64, 48, 3);
  membuf m = encode_jpeg(64, 48, JCS_RGB, 3, rgb, 0);
  graft_image im;
  graft_image_init(&im);
  graft_decode_opts o = {0, 16, 10, NULL, 0};
  assert_int_equal(graft_image_decode_mem(m.data, m.len, "s.jpg", &o, &im), GRAFT_OK);
  assert_int_equal(im.w, 16);
  assert_int_equal(im.h, 12);
  o.min_w = 33;
  assert_int_equal(graft_image_decode_mem(m.data, m.len, "s.jpg", &o, &im), GRAFT_OK);
  assert_int_equal(im.w, 64);
  graft_image_free(&im);
  free(m.data);
  free(rgb);
}

/* Every prefix of a valid file must fail cleanly (or, for the last few
 * bytes that carry only the end marker, decode the complete image). */
static void check_truncations(const membuf *m, const char *name, size_t tail_ok) {
  char err[512];
  graft_decode_opts o = {0, 0, 0, err, sizeof err};
  graft_image im;
  graft_image_init(&im);
  size_t fails = 0;
  for (size_t cut = 0; cut < m->len; cut++) {
    err[0] = 0;
    graft_status s = graft_image_decode_mem(m->data, cut, name, &o, &im);
    if (cut + tail_ok < m->len) {
      if (s == GRAFT_OK) fprintf(stderr, "%s cut at %zu of %zu decoded\n", name, cut, m->len);
      assert_int_not_equal(s, GRAFT_OK);
      assert_non_null(strstr(err, name));
      assert_null(im.px);
    }
    fails += s != GRAFT_OK;
  }
  printf("%s: %zu of %zu truncations rejected; last message: %s\n", name, fails, m->len, err);
  graft_image_free(&im);
}

static void test_truncated(void **state) {
  (void)state;
  uint16_t samples[32 * 20 * 3];
  for (int i = 0; i < 32 * 20 * 3; i++) samples[i] = (uint16_t)((i * 37) & 0xFF);
  membuf png = encode_png(32, 20, PNG_COLOR_TYPE_RGB, 8, 1, samples, 3, NULL, 0, NULL, 0);
  check_truncations(&png, "cut.png", 12);
  uint8_t *rgb = smooth(32, 20, 3);
  for (int prog = 0; prog < 2; prog++) {
    membuf jpg = encode_jpeg(32, 20, JCS_RGB, 3, rgb, prog);
    check_truncations(&jpg, prog ? "cut-progressive.jpg" : "cut.jpg", 2);
    free(jpg.data);
  }
  free(rgb);
  free(png.data);
}

static void test_corrupt_bytes(void **state) {
  (void)state;
  uint16_t samples[24 * 24 * 3];
  for (int i = 0; i < 24 * 24 * 3; i++) samples[i] = (uint16_t)((i * 13) & 0xFF);
  membuf png = encode_png(24, 24, PNG_COLOR_TYPE_RGB, 8, 0, samples, 3, NULL, 0, NULL, 0);
  uint8_t *rgb = smooth(24, 24, 3);
  membuf jpg = encode_jpeg(24, 24, JCS_RGB, 3, rgb, 1);
  tu_rng rng;
  tu_rng_seed(&rng, 7);
  char err[512];
  graft_decode_opts o = {0, 0, 0, err, sizeof err};
  graft_image im;
  graft_image_init(&im);
  int rejected[2] = {0, 0};
  for (int trial = 0; trial < 400; trial++) {
    membuf *src = trial % 2 ? &jpg : &png;
    uint8_t *copy = malloc(src->len);
    memcpy(copy, src->data, src->len);
    for (int k = 0; k < 1 + trial % 4; k++) {
      size_t at = (size_t)tu_uniform(&rng, 0, (float)src->len - 0.5f);
      copy[at] ^= (uint8_t)(1 + (int)tu_uniform(&rng, 0, 254.9f));
    }
    graft_status s = graft_image_decode_mem(copy, src->len, "flipped", &o, &im);
    if (s != GRAFT_OK) rejected[trial % 2]++;
    if (s == GRAFT_OK) assert_true(im.w > 0 && im.h > 0);
    free(copy);
  }
  printf("corrupted files rejected: png %d/200 (CRC-protected), jpeg %d/200\n", rejected[0], rejected[1]);
  assert_true(rejected[0] >= 190);
  graft_image_free(&im);
  free(png.data);
  free(jpg.data);
  free(rgb);
}

static void test_limits_and_foreign(void **state) {
  (void)state;
  char err[512];
  graft_decode_opts o = {0, 0, 0, err, sizeof err};
  graft_image im;
  graft_image_init(&im);
  uint16_t samples[8 * 8];
  memset(samples, 0, sizeof samples);
  membuf png = encode_png(8, 8, PNG_COLOR_TYPE_GRAY, 8, 0, samples, 1, NULL, 0, NULL, 0);
  o.max_pixels = 63;
  assert_int_equal(graft_image_decode_mem(png.data, png.len, "bomb.png", &o, &im), GRAFT_EUNSUPPORTED);
  printf("limit: %s\n", err);
  assert_non_null(strstr(err, "bomb.png"));
  o.max_pixels = 64;
  assert_int_equal(graft_image_decode_mem(png.data, png.len, "bomb.png", &o, &im), GRAFT_OK);
  o.max_pixels = 0;

  /* A JPEG whose frame header claims 60000 x 60000. */
  uint8_t *rgb = smooth(16, 16, 3);
  membuf jpg = encode_jpeg(16, 16, JCS_RGB, 3, rgb, 0);
  for (size_t i = 0; i + 9 < jpg.len; i++)
    if (jpg.data[i] == 0xFF && jpg.data[i + 1] == 0xC0) {
      jpg.data[i + 5] = 0xEA, jpg.data[i + 6] = 0x60, jpg.data[i + 7] = 0xEA, jpg.data[i + 8] = 0x60;
      break;
    }
  assert_int_equal(graft_image_decode_mem(jpg.data, jpg.len, "bomb.jpg", &o, &im), GRAFT_EUNSUPPORTED);
  printf("limit: %s\n", err);

  static const uint8_t gif[] = "GIF89a\x01\x00\x01\x00";
  assert_int_equal(graft_image_decode_mem(gif, sizeof gif - 1, "x.png", &o, &im), GRAFT_EUNSUPPORTED);
  assert_non_null(strstr(err, "GIF"));
  static const uint8_t text[] = "hello world";
  assert_int_equal(graft_image_decode_mem(text, sizeof text - 1, "t.jpg", &o, &im), GRAFT_EFORMAT);
  assert_int_equal(graft_image_decode_mem(text, 0, "empty.jpg", &o, &im), GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_image_decode_file("/nonexistent/graft/x.png", &o, &im), GRAFT_EIO);
  assert_non_null(strstr(err, "/nonexistent/graft/x.png"));
  assert_int_equal(graft_image_decode_file("/", &o, &im), GRAFT_EIO);
  free(png.data);
  free(jpg.data);
  free(rgb);
  graft_image_free(&im);
}

static void test_write_roundtrip(void **state) {
  (void)state;
  char dir[] = "/tmp/graft-image-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  graft_image a, b;
  graft_image_init(&a);
  graft_image_init(&b);
  assert_int_equal(graft_image_alloc(&a, 17, 11), GRAFT_OK);
  uint8_t *src = smooth(17, 11, 3);
  memcpy(a.px, src, 17 * 11 * 3);
  snprintf(path, sizeof path, "%s/a.jpeg", dir);
  /* The extension lies: the content decides. */
  assert_int_equal(graft_image_write_png(path, &a), GRAFT_OK);
  assert_int_equal(graft_image_decode_file(path, NULL, &b), GRAFT_OK);
  assert_memory_equal(a.px, b.px, 17 * 11 * 3);
  unlink(path);
  snprintf(path, sizeof path, "%s/b.png", dir);
  assert_int_equal(graft_image_write_jpeg(path, &a, 95), GRAFT_OK);
  assert_int_equal(graft_image_decode_file(path, NULL, &b), GRAFT_OK);
  assert_true(max_diff_rgb(&b, src) <= 16);
  unlink(path);
  rmdir(dir);
  free(src);
  graft_image_free(&a);
  graft_image_free(&b);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_png_every_colour_type), cmocka_unit_test(test_jpeg_colour_spaces),
      cmocka_unit_test(test_jpeg_dct_scaling),      cmocka_unit_test(test_truncated),
      cmocka_unit_test(test_corrupt_bytes),         cmocka_unit_test(test_limits_and_foreign),
      cmocka_unit_test(test_write_roundtrip),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

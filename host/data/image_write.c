/* image_write.c: writing 8-bit RGB images as PNG or JPEG files, for
 * looking at what the augmentation produced, for generated datasets in
 * tests and benchmarks, and for tools. Not on the training path. */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>

#include "core/log.h"
#include "data/image.h"
#include "data/image_write.h"

typedef struct {
  char msg[256];
} png_write_state;

static void on_write_error(png_structp png, png_const_charp msg) {
  png_write_state *st = png_get_error_ptr(png);
  snprintf(st->msg, sizeof st->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_write_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static graft_status write_png_rows(png_structp png, png_infop info, png_write_state *st, FILE *f,
                                   const graft_image *im, const char *path) {
  if (setjmp(png_jmpbuf(png))) GRAFT_FAIL(GRAFT_EIO, "%s: cannot write PNG: %s", path, st->msg);
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < im->h; y++) png_write_row(png, im->px + (size_t)y * im->w * 3);
  png_write_end(png, NULL);
  return GRAFT_OK;
}

graft_status graft_image_write_png(const char *path, const graft_image *im) {
  FILE *f = fopen(path, "wb");
  if (!f) GRAFT_FAIL(GRAFT_EIO, "%s: cannot create", path);
  png_write_state st = {{0}};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, on_write_error, on_write_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  graft_status s = GRAFT_ENOMEM;
  if (info)
    s = write_png_rows(png, info, &st, f, im, path);
  else
    GRAFT_ERROR("%s: cannot set up libpng", path);
  png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
  if (fclose(f) != 0 && s == GRAFT_OK) GRAFT_FAIL(GRAFT_EIO, "%s: cannot finish writing", path);
  return s;
}

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
} jpeg_write_state;

static void on_jpeg_write_error(j_common_ptr c) {
  jpeg_write_state *st = (jpeg_write_state *)c->err;
  c->err->format_message(c, st->msg);
  longjmp(st->jump, 1);
}

static graft_status write_jpeg_rows(struct jpeg_compress_struct *c, jpeg_write_state *st, FILE *f,
                                    const graft_image *im, int quality, const char *path) {
  if (setjmp(st->jump)) GRAFT_FAIL(GRAFT_EIO, "%s: cannot write JPEG: %s", path, st->msg);
  jpeg_create_compress(c);
  jpeg_stdio_dest(c, f);
  c->image_width = (JDIMENSION)im->w;
  c->image_height = (JDIMENSION)im->h;
  c->input_components = 3;
  c->in_color_space = JCS_RGB;
  jpeg_set_defaults(c);
  jpeg_set_quality(c, quality, TRUE);
  jpeg_start_compress(c, TRUE);
  while (c->next_scanline < c->image_height) {
    JSAMPROW row = im->px + (size_t)c->next_scanline * im->w * 3;
    jpeg_write_scanlines(c, &row, 1);
  }
  jpeg_finish_compress(c);
  return GRAFT_OK;
}

graft_status graft_image_write_jpeg(const char *path, const graft_image *im, int quality) {
  if (quality < 1 || quality > 100) GRAFT_FAIL(GRAFT_EINVAL, "JPEG quality %d is not in 1..100", quality);
  FILE *f = fopen(path, "wb");
  if (!f) GRAFT_FAIL(GRAFT_EIO, "%s: cannot create", path);
  jpeg_write_state st;
  memset(&st, 0, sizeof st);
  struct jpeg_compress_struct c;
  memset(&c, 0, sizeof c);
  c.err = jpeg_std_error(&st.pub);
  st.pub.error_exit = on_jpeg_write_error;
  graft_status s = write_jpeg_rows(&c, &st, f, im, quality, path);
  jpeg_destroy_compress(&c);
  if (fclose(f) != 0 && s == GRAFT_OK) GRAFT_FAIL(GRAFT_EIO, "%s: cannot finish writing", path);
  return s;
}

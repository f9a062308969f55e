/* image_png.c: PNG decoding through libpng, from a memory buffer, to 8-bit
 * RGB. libpng's transforms do the conversion: palettes expand to RGB, low
 * bit depths widen to 8, 16-bit samples keep their high byte (as Pillow
 * does), gray becomes RGB, alpha and transparency are dropped, and Adam7
 * interlacing is undone. libpng reports errors by longjmp; everything that
 * changes after setjmp lives in a png_state the caller owns, so nothing is
 * lost or leaked on the way out. */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "data/datautil.h"
#include "data/image_codec.h"

/* Bounds libpng applies to the ancillary chunks it keeps in memory. */
#define PNG_CHUNK_MAX_BYTES ((png_alloc_size_t)8 << 20)
#define PNG_SIDE_MAX 1000000u

typedef struct {
  const graft_codec_job *job;
  size_t pos;     /* read cursor into job->buf */
  char msg[256];  /* libpng's last error message */
  uint8_t *px;    /* (h, w, 3) uint8, owned until handed to the image */
  png_bytep *rows; /* (h) row pointers into px */
} png_state;

static void on_png_error(png_structp png, png_const_charp msg) {
  png_state *st = png_get_error_ptr(png);
  snprintf(st->msg, sizeof st->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_png_read(png_structp png, png_bytep dst, size_t n) {
  png_state *st = png_get_io_ptr(png);
  const graft_codec_job *job = st->job;
  if (n > job->len - st->pos) png_error(png, "file is truncated");
  memcpy(dst, job->buf + st->pos, n);
  st->pos += n;
}

/* Sets the transforms that turn any PNG into 8-bit RGB; returns 0 when the
 * result is not 3 bytes a pixel (which would be a libpng surprise). */
static int set_rgb8_transforms(png_structp png, png_infop info) {
  int color = png_get_color_type(png, info);
  int depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  return png_get_channels(png, info) == 3 && png_get_bit_depth(png, info) == 8 &&
         png_get_rowbytes(png, info) == (size_t)png_get_image_width(png, info) * 3;
}

static graft_status decode(png_state *st, png_structp png, png_infop info, graft_image *out) {
  const graft_codec_job *job = st->job;
  if (setjmp(png_jmpbuf(png)))
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EFORMAT, "%s: unreadable PNG: %s",
                             job->name, st->msg);
  png_set_read_fn(png, st, on_png_read);
  png_set_user_limits(png, PNG_SIDE_MAX, PNG_SIDE_MAX);
  png_set_chunk_malloc_max(png, PNG_CHUNK_MAX_BYTES);
  png_read_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if ((uint64_t)w * h > job->max_pixels)
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EUNSUPPORTED,
                             "%s: PNG of %u x %u pixels is over the limit of %zu pixels "
                             "(decompression bomb guard; raise max_pixels to allow it)",
                             job->name, (unsigned)w, (unsigned)h, job->max_pixels);
  if (!set_rgb8_transforms(png, info))
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EUNSUPPORTED,
                             "%s: PNG colour type %d depth %d does not convert to 8-bit RGB",
                             job->name, png_get_color_type(png, info), png_get_bit_depth(png, info));
  st->px = malloc((size_t)w * h * 3);
  st->rows = malloc((size_t)h * sizeof *st->rows);
  if (!st->px || !st->rows)
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_ENOMEM,
                             "%s: cannot allocate a %u x %u image", job->name, (unsigned)w, (unsigned)h);
  for (png_uint_32 y = 0; y < h; y++) st->rows[y] = st->px + (size_t)y * w * 3;
  png_read_image(png, st->rows);
  out->px = st->px;
  out->w = (int)w;
  out->h = (int)h;
  st->px = NULL;
  return GRAFT_OK;
}

graft_status graft_png_decode(const graft_codec_job *job, graft_image *out) {
  png_state st = {job, 0, {0}, NULL, NULL};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, on_png_error, on_png_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  graft_status s;
  if (!info)
    s = GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_ENOMEM, "%s: cannot set up libpng", job->name);
  else
    s = decode(&st, png, info, out);
  png_destroy_read_struct(png ? &png : NULL, info ? &info : NULL, NULL);
  free(st.px);
  free(st.rows);
  return s;
}

/* image_jpeg.c: JPEG decoding through libjpeg-turbo (libjpeg API), from a
 * memory buffer, to 8-bit RGB. Grayscale and YCbCr convert in libjpeg;
 * CMYK and YCCK (Adobe) files are read as CMYK and converted here the way
 * Pillow does. A file that ends early is an error (libjpeg would only warn
 * and pad with gray), and a progressive file with an absurd number of scans
 * is refused. libjpeg reports errors by longjmp; what changes after setjmp
 * lives in a jpeg_state the caller owns. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "data/datautil.h"
#include "data/image_codec.h"

/* A real progressive JPEG has about ten scans; thousands are a CPU bomb. */
#define JPEG_MAX_SCANS 500

typedef struct {
  struct jpeg_error_mgr pub;
  struct jpeg_progress_mgr progress;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX + 64];
  const graft_codec_job *job;
  uint8_t *px;   /* (h, w, 3) uint8, owned until handed to the image */
  uint8_t *cmyk; /* (w, 4) uint8 row for CMYK files */
} jpeg_state;

static void on_jpeg_error(j_common_ptr c) {
  jpeg_state *st = (jpeg_state *)c->err;
  c->err->format_message(c, st->msg);
  longjmp(st->jump, 1);
}

static void on_jpeg_message(j_common_ptr c, int level) {
  jpeg_state *st = (jpeg_state *)c->err;
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) {
    snprintf(st->msg, sizeof st->msg, "file is truncated");
    longjmp(st->jump, 1);
  }
}

static void on_jpeg_progress(j_common_ptr c) {
  jpeg_state *st = (jpeg_state *)c->err;
  if (!c->is_decompressor) return;
  if (((j_decompress_ptr)c)->input_scan_number > JPEG_MAX_SCANS) {
    snprintf(st->msg, sizeof st->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
    longjmp(st->jump, 1);
  }
}

/* The largest DCT downscale (1/8, 1/4, 1/2) that keeps both sides at
 * least min_w x min_h. */
static unsigned pick_scale_denom(unsigned w, unsigned h, int min_w, int min_h) {
  if (min_w <= 0 && min_h <= 0) return 1;
  for (unsigned d = 8; d > 1; d /= 2)
    if ((w + d - 1) / d >= (unsigned)min_w && (h + d - 1) / d >= (unsigned)min_h) return d;
  return 1;
}

/* Pillow's CMYK to RGB: R = (255 - C) * (255 - K) / 255. Adobe files store
 * the channels inverted, so there the stored values are 255 - C, 255 - K. */
static void cmyk_to_rgb(const uint8_t *src, uint8_t *dst, unsigned w, int inverted) {
  for (unsigned x = 0; x < w; x++) {
    unsigned k = inverted ? src[4 * x + 3] : 255u - src[4 * x + 3];
    for (int c = 0; c < 3; c++) {
      unsigned v = inverted ? src[4 * x + c] : 255u - src[4 * x + c];
      dst[3 * x + c] = (uint8_t)((v * k + 127) / 255);
    }
  }
}

static graft_status decode(jpeg_state *st, struct jpeg_decompress_struct *c, graft_image *out) {
  const graft_codec_job *job = st->job;
  if (setjmp(st->jump))
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EFORMAT, "%s: unreadable JPEG: %s",
                             job->name, st->msg);
  jpeg_create_decompress(c);
  c->progress = &st->progress;
  jpeg_mem_src(c, job->buf, (unsigned long)job->len);
  jpeg_read_header(c, TRUE);
  if ((uint64_t)c->image_width * c->image_height > job->max_pixels)
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EUNSUPPORTED,
                             "%s: JPEG of %u x %u pixels is over the limit of %zu pixels "
                             "(decompression bomb guard; raise max_pixels to allow it)",
                             job->name, c->image_width, c->image_height, job->max_pixels);
  int cmyk = 0;
  switch (c->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB: c->out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK:
      c->out_color_space = JCS_CMYK;
      cmyk = 1;
      break;
    default:
      return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_EUNSUPPORTED,
                               "%s: JPEG colour space %d is not supported", job->name,
                               (int)c->jpeg_color_space);
  }
  c->scale_num = 1;
  c->scale_denom = pick_scale_denom(c->image_width, c->image_height, job->min_w, job->min_h);
  jpeg_start_decompress(c);
  unsigned w = c->output_width, h = c->output_height;
  st->px = malloc((size_t)w * h * 3);
  if (cmyk) st->cmyk = malloc((size_t)w * 4);
  if (!st->px || (cmyk && !st->cmyk))
    return GRAFT_DATA_REPORT(job->err, job->err_len, GRAFT_ENOMEM,
                             "%s: cannot allocate a %u x %u image", job->name, w, h);
  while (c->output_scanline < h) {
    uint8_t *row = st->px + (size_t)c->output_scanline * w * 3;
    JSAMPROW dst = cmyk ? st->cmyk : row;
    if (jpeg_read_scanlines(c, &dst, 1) != 1) {
      snprintf(st->msg, sizeof st->msg, "no scanline returned");
      longjmp(st->jump, 1);
    }
    if (cmyk) cmyk_to_rgb(st->cmyk, row, w, c->saw_Adobe_marker);
  }
  out->px = st->px;
  out->w = (int)w;
  out->h = (int)h;
  st->px = NULL;
  return GRAFT_OK;
}

graft_status graft_jpeg_decode(const graft_codec_job *job, graft_image *out) {
  jpeg_state st;
  memset(&st, 0, sizeof st);
  st.job = job;
  struct jpeg_decompress_struct c;
  memset(&c, 0, sizeof c);
  c.err = jpeg_std_error(&st.pub);
  st.pub.error_exit = on_jpeg_error;
  st.pub.emit_message = on_jpeg_message;
  st.progress.progress_monitor = on_jpeg_progress;
  graft_status s = decode(&st, &c, out);
  jpeg_destroy_decompress(&c);
  free(st.px);
  free(st.cmyk);
  return s;
}

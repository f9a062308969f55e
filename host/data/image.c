/* image.c: the decoder front door: image buffers, format sniffing by magic
 * bytes, limits, and reading files before handing them to the PNG or JPEG
 * wrapper (image_png.c, image_jpeg.c). */
#include "data/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/datautil.h"
#include "data/image_codec.h"

void graft_image_init(graft_image *im) {
  im->px = NULL;
  im->w = im->h = 0;
}

void graft_image_free(graft_image *im) {
  if (!im) return;
  free(im->px);
  graft_image_init(im);
}

graft_status graft_image_alloc(graft_image *im, int w, int h) {
  if (w <= 0 || h <= 0) GRAFT_FAIL(GRAFT_EINVAL, "image size %d x %d is not positive", w, h);
  size_t bytes = (size_t)w * (size_t)h * 3;
  if (im->px && (size_t)im->w * (size_t)im->h * 3 == bytes) {
    im->w = w;
    im->h = h;
    return GRAFT_OK;
  }
  uint8_t *px = malloc(bytes);
  if (!px) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate a %d x %d image", w, h);
  free(im->px);
  im->px = px;
  im->w = w;
  im->h = h;
  return GRAFT_OK;
}

graft_image_format graft_image_sniff(const uint8_t *buf, size_t len) {
  static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (len >= 8 && memcmp(buf, png_magic, 8) == 0) return GRAFT_IMAGE_PNG;
  if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return GRAFT_IMAGE_JPEG;
  return GRAFT_IMAGE_UNKNOWN;
}

/* A name for common formats graft does not read, to make the error useful. */
static const char *foreign_format(const uint8_t *buf, size_t len) {
  if (len >= 6 && (!memcmp(buf, "GIF87a", 6) || !memcmp(buf, "GIF89a", 6))) return "a GIF";
  if (len >= 2 && !memcmp(buf, "BM", 2)) return "a BMP";
  if (len >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4)) return "a WebP";
  if (len >= 4 && (!memcmp(buf, "II*\0", 4) || !memcmp(buf, "MM\0*", 4))) return "a TIFF";
  if (len == 0) return "an empty";
  return NULL;
}

graft_status graft_image_decode_mem(const uint8_t *buf, size_t len, const char *name,
                                    const graft_decode_opts *opts, graft_image *out) {
  graft_image_free(out);
  graft_codec_job job = {buf, len, name ? name : "<memory>", GRAFT_IMAGE_MAX_PIXELS_DEFAULT,
                         0, 0, NULL, 0};
  if (opts) {
    if (opts->max_pixels) job.max_pixels = opts->max_pixels;
    job.min_w = opts->min_w;
    job.min_h = opts->min_h;
    job.err = opts->err;
    job.err_len = opts->err_len;
  }
  switch (graft_image_sniff(buf, len)) {
    case GRAFT_IMAGE_PNG: return graft_png_decode(&job, out);
    case GRAFT_IMAGE_JPEG: return graft_jpeg_decode(&job, out);
    default: break;
  }
  const char *what = foreign_format(buf, len);
  if (what)
    return GRAFT_DATA_REPORT(job.err, job.err_len, GRAFT_EUNSUPPORTED,
                             "%s: is %s file; graft reads PNG and JPEG", job.name, what);
  return GRAFT_DATA_REPORT(job.err, job.err_len, GRAFT_EFORMAT,
                           "%s: not a PNG or JPEG file (unrecognized first bytes)", job.name);
}

graft_status graft_image_decode_file(const char *path, const graft_decode_opts *opts,
                                     graft_image *out) {
  graft_image_free(out);
  size_t max_pixels = opts && opts->max_pixels ? opts->max_pixels : GRAFT_IMAGE_MAX_PIXELS_DEFAULT;
  /* Even an uncompressed 16-bit RGBA PNG needs no more than 8 bytes a pixel. */
  size_t max_bytes = max_pixels > ((size_t)1 << 40) ? ((size_t)1 << 43) : max_pixels * 8 + (1u << 20);
  uint8_t *buf = NULL;
  size_t len = 0;
  graft_status s =
      graft_read_file(path, max_bytes, &buf, &len, opts ? opts->err : NULL, opts ? opts->err_len : 0);
  if (s != GRAFT_OK) return s;
  s = graft_image_decode_mem(buf, len, path, opts, out);
  free(buf);
  return s;
}

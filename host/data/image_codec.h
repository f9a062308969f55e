/* image_codec.h: the private seam between image.c (sniffing, limits, file
 * reading) and the two codec wrappers, image_png.c and image_jpeg.c. */
#ifndef GRAFT_DATA_IMAGE_CODEC_H
#define GRAFT_DATA_IMAGE_CODEC_H

#include "data/image.h"

/* What a codec needs: the bytes, the name for messages and resolved
 * limits. On failure the codec reports through GRAFT_DATA_REPORT with
 * err/err_len and leaves out empty. */
typedef struct {
  const uint8_t *buf; /* (len) the whole file */
  size_t len;
  const char *name;
  size_t max_pixels;
  int min_w, min_h;
  char *err;
  size_t err_len;
} graft_codec_job;

graft_status graft_png_decode(const graft_codec_job *job, graft_image *out);
graft_status graft_jpeg_decode(const graft_codec_job *job, graft_image *out);

#endif

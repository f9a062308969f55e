/* image.h: decoding PNG and JPEG files into 8-bit RGB pixels.
 * The format is sniffed from the magic bytes, never from the file name.
 * Every decode is bounded (a pixel-count limit guards against decompression
 * bombs, a file-size limit against huge inputs) and a corrupt or truncated
 * file is an error naming it, never a crash or a leak. */
#ifndef GRAFT_DATA_IMAGE_H
#define GRAFT_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Pillow's decompression-bomb warning threshold, so both stop at the same size. */
#define GRAFT_IMAGE_MAX_PIXELS_DEFAULT ((size_t)89478485)

typedef enum { GRAFT_IMAGE_UNKNOWN, GRAFT_IMAGE_PNG, GRAFT_IMAGE_JPEG } graft_image_format;

typedef struct {
  uint8_t *px; /* (h, w, 3) uint8 RGB, rows packed */
  int w, h;
} graft_image;

void graft_image_init(graft_image *im);
void graft_image_free(graft_image *im);
/* (Re)allocates px for a w x h image; the contents are undefined. */
graft_status graft_image_alloc(graft_image *im, int w, int h);

typedef struct {
  size_t max_pixels; /* 0 means GRAFT_IMAGE_MAX_PIXELS_DEFAULT */
  /* A JPEG may be decoded at 1/2, 1/4 or 1/8 scale (in its DCT, which is
   * much cheaper) as long as both sides stay at least min_w x min_h.
   * 0 keeps the full size. PNG ignores these. */
  int min_w, min_h;
  /* When err is set, a failure's message is written there instead of being
   * logged, so a caller that skips bad files can report them its own way. */
  char *err;
  size_t err_len;
} graft_decode_opts;

graft_image_format graft_image_sniff(const uint8_t *buf, size_t len);

/* Decodes buf (len bytes, a PNG or JPEG file) into out; name is the file
 * name used in messages. opts may be NULL. out is freed and reset first. */
graft_status graft_image_decode_mem(const uint8_t *buf /* (len) */, size_t len, const char *name,
                                    const graft_decode_opts *opts, graft_image *out);
graft_status graft_image_decode_file(const char *path, const graft_decode_opts *opts,
                                     graft_image *out);

#endif

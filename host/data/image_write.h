/* image_write.h: saving 8-bit RGB images as PNG or JPEG (for inspection,
 * generated datasets and tools; training never writes images). */
#ifndef GRAFT_DATA_IMAGE_WRITE_H
#define GRAFT_DATA_IMAGE_WRITE_H

#include "core/status.h"
#include "data/image.h"

graft_status graft_image_write_png(const char *path, const graft_image *im);
/* quality in 1..100 */
graft_status graft_image_write_jpeg(const char *path, const graft_image *im, int quality);

#endif

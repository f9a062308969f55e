/* cache.h: decoded images kept so a dataset is not decoded every epoch.
 * Images are stored shrunk to what training needs (classification: the
 * shorter side at the eval resize, 256; detection: the longer side at the
 * letterbox size), as 8-bit RGB. Two forms:
 *   - cache=ram: the loader fills it during the first epoch (loader.c);
 *   - a cache file written once by `graft prepare` and memory-mapped by
 *     every later run. Its header records each source file's path, size
 *     and modification time and the target size, so a cache that no longer
 *     matches its dataset is refused with the first file that changed.
 * File layout (little-endian): a 64-byte header, then one 48-byte entry a
 * sample, then the paths, then the pixels from a 4096-aligned offset. */
#ifndef GRAFT_DATA_CACHE_H
#define GRAFT_DATA_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/dataset.h"
#include "data/image.h"
#include "data/resample.h"

/* The side cached images are shrunk to: the shorter side for
 * classification, the longer side for detection. */
int graft_cache_target(graft_task task, int cls_resize, int det_size);

/* out (initialized by the caller) = src shrunk so its controlling side is
 * target (never enlarged). Also gives the JPEG decoder its scale hint. */
graft_status graft_cache_shrink(graft_resampler *rs, const graft_image *src, graft_task task, int target,
                                graft_image *out);
/* The smallest decode that still shrinks to target (graft_decode_opts). */
void graft_cache_decode_hint(graft_task task, int target, int *min_w, int *min_h);

typedef struct graft_cache_entry graft_cache_entry;

typedef struct {
  uint8_t *map; /* (map_len) the whole file, read-only */
  size_t map_len;
  const graft_cache_entry *entries; /* (count) */
  size_t count;
  const char *paths;
  const uint8_t *pixels;
  int task, target;
  size_t *slot; /* (slots) open-addressing table from path hash to entry + 1 */
  size_t slots;
} graft_cache_file;

typedef struct {
  int threads; /* decode threads */
  graft_bad_image on_bad_image;
  size_t max_pixels;
} graft_cache_write_opts;

/* Decodes every sample of ds (train, then val) and writes the cache file
 * at path (through a temporary file, fsync and rename). Bad images are an
 * error, or with GRAFT_BAD_IMAGE_SKIP are recorded as bad and counted in
 * *bad (may be NULL). */
graft_status graft_cache_write(const char *path, const graft_dataset *ds, int target,
                               const graft_cache_write_opts *o, size_t *bad);

void graft_cache_file_init(graft_cache_file *cf);
void graft_cache_file_free(graft_cache_file *cf);
/* Maps the file and checks its structure (every offset and size bounded). */
graft_status graft_cache_open(graft_cache_file *cf, const char *path);
/* Checks that cf covers every sample of split (listed under root) for
 * this task and target, and that no source file changed since;
 * entry_of (split->n) receives each sample's entry. Errors name the first
 * file that differs and count the others. */
graft_status graft_cache_match(const graft_cache_file *cf, const char *root, const graft_split *split,
                               graft_task task, int target, size_t *entry_of);
/* A view of entry e: im->px points into the mapping (never free it).
 * Returns GRAFT_EFORMAT for an image recorded as bad at prepare time. */
graft_status graft_cache_image(const graft_cache_file *cf, size_t e, graft_image *im);
const char *graft_cache_path(const graft_cache_file *cf, size_t e);

#endif

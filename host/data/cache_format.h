/* cache_format.h: the on-disk records of a cache file (see cache.h),
 * shared by the writer (cache_write.c) and the reader (cache.c). */
#ifndef GRAFT_DATA_CACHE_FORMAT_H
#define GRAFT_DATA_CACHE_FORMAT_H

#include <stdint.h>

#define GRAFT_CACHE_MAGIC "GRAFTC01"
#define GRAFT_CACHE_VERSION 1u
#define GRAFT_CACHE_ALIGN 4096u
#define GRAFT_CACHE_BAD 1u /* entry flag: the image could not be decoded */

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t task;       /* graft_task */
  uint32_t target;     /* side the images were shrunk to */
  uint32_t entry_size; /* sizeof(graft_cache_entry) */
  uint64_t count;      /* entries */
  uint64_t paths_off, paths_len; /* NUL-terminated paths, relative to the dataset root */
  uint64_t pixels_off; /* start of the pixel data, GRAFT_CACHE_ALIGN-aligned */
  uint64_t file_len;
} graft_cache_header;

struct graft_cache_entry {
  uint64_t path_off; /* into the paths */
  uint32_t path_len; /* bytes, not counting the NUL */
  uint32_t flags;
  uint32_t w, h;     /* cached image size */
  int64_t src_size;  /* source file size and modification time, for staleness */
  int64_t src_mtime_ns;
  uint64_t pix_off;  /* (h, w, 3) uint8 at pixels_off + pix_off */
};

_Static_assert(sizeof(graft_cache_header) == 64, "cache header layout");
_Static_assert(sizeof(struct graft_cache_entry) == 48, "cache entry layout");

#endif

/* cache.c: shrinking images for caching, and reading cache files: mapping,
 * structural validation (a cache file is untrusted input like any other),
 * path lookup and staleness checks against the dataset (see cache.h). */
#define _POSIX_C_SOURCE 200809L
#include "data/cache.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "data/cache_format.h"
#include "data/datautil.h"

int graft_cache_target(graft_task task, int cls_resize, int det_size) {
  return task == GRAFT_TASK_CLASSIFY ? cls_resize : det_size;
}

void graft_cache_decode_hint(graft_task task, int target, int *min_w, int *min_h) {
  (void)task;
  *min_w = *min_h = target;
}

graft_status graft_cache_shrink(graft_resampler *rs, const graft_image *src, graft_task task, int target,
                                graft_image *out) {
  int w = src->w, h = src->h, nw = w, nh = h;
  int shorter = w < h ? w : h, longer = w < h ? h : w;
  if (task == GRAFT_TASK_CLASSIFY && shorter > target) {
    /* torchvision's Resize(int) sizes, so the eval crop needs no resampling. */
    int other = (int)((double)target * longer / shorter);
    nw = w <= h ? target : other;
    nh = w <= h ? other : target;
  } else if (task == GRAFT_TASK_DETECT && longer > target) {
    double s = (double)target / longer;
    nw = (int)lrint(w * s);
    nh = (int)lrint(h * s);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
  }
  GRAFT_TRY(graft_image_alloc(out, nw, nh));
  if (nw == w && nh == h) {
    memcpy(out->px, src->px, (size_t)w * h * 3);
    return GRAFT_OK;
  }
  graft_resample_map m = {0, 0, (double)w / nw, (double)h / nh, 0, 0};
  return graft_resample(rs, src->px, w, h, (size_t)w * 3, out->px, nw, nh, &m);
}

void graft_cache_file_init(graft_cache_file *cf) { memset(cf, 0, sizeof *cf); }

void graft_cache_file_free(graft_cache_file *cf) {
  if (!cf) return;
  if (cf->map) munmap(cf->map, cf->map_len);
  free(cf->slot);
  graft_cache_file_init(cf);
}

const char *graft_cache_path(const graft_cache_file *cf, size_t e) { return cf->paths + cf->entries[e].path_off; }

static size_t find_entry(const graft_cache_file *cf, const char *rel) {
  size_t len = strlen(rel);
  for (size_t k = graft_content_hash(rel, len) & (cf->slots - 1);; k = (k + 1) & (cf->slots - 1)) {
    if (!cf->slot[k]) return (size_t)-1;
    size_t e = cf->slot[k] - 1;
    if (cf->entries[e].path_len == len && !memcmp(graft_cache_path(cf, e), rel, len)) return e;
  }
}

/* Checks every count, offset and size of the mapped file. */
static graft_status validate(graft_cache_file *cf, const char *path) {
  const graft_cache_header *h = (const graft_cache_header *)cf->map;
  if (cf->map_len < sizeof *h || memcmp(h->magic, GRAFT_CACHE_MAGIC, 8))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: not a graft cache file", path);
  if (h->version != GRAFT_CACHE_VERSION || h->entry_size != sizeof(graft_cache_entry))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: cache version %u is not %u; run graft prepare again", path,
               h->version, GRAFT_CACHE_VERSION);
  uint64_t len = cf->map_len;
  if (h->file_len != len || h->count > (len - sizeof *h) / sizeof(graft_cache_entry) ||
      h->paths_off < sizeof *h + h->count * sizeof(graft_cache_entry) || h->paths_off > len ||
      h->paths_len > len - h->paths_off || h->pixels_off > len || h->paths_len == 0 ||
      cf->map[h->paths_off + h->paths_len - 1] != 0)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: cache file is truncated or corrupt (header)", path);
  cf->entries = (const graft_cache_entry *)(cf->map + sizeof *h);
  cf->count = (size_t)h->count;
  cf->paths = (const char *)cf->map + h->paths_off;
  cf->pixels = cf->map + h->pixels_off;
  cf->task = (int)h->task;
  cf->target = (int)h->target;
  uint64_t pix_len = len - h->pixels_off;
  for (size_t e = 0; e < cf->count; e++) {
    const graft_cache_entry *en = &cf->entries[e];
    int bad_path = en->path_off >= h->paths_len || en->path_len >= h->paths_len - en->path_off ||
                   cf->paths[en->path_off + en->path_len] != 0 ||
                   memchr(cf->paths + en->path_off, 0, en->path_len);
    uint64_t bytes = (uint64_t)en->w * en->h * 3;
    int bad_pix = !(en->flags & GRAFT_CACHE_BAD) &&
                  (en->w == 0 || en->h == 0 || en->w > 65535 || en->h > 65535 || en->pix_off > pix_len ||
                   bytes > pix_len - en->pix_off);
    if (bad_path || bad_pix)
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: cache file is corrupt (entry %zu)", path, e);
  }
  return GRAFT_OK;
}

static graft_status build_index(graft_cache_file *cf, const char *path) {
  cf->slots = 16;
  while (cf->slots < cf->count * 2) cf->slots *= 2;
  cf->slot = calloc(cf->slots, sizeof *cf->slot);
  if (!cf->slot) GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory indexing %zu entries", path, cf->count);
  for (size_t e = 0; e < cf->count; e++) {
    const char *p = graft_cache_path(cf, e);
    if (find_entry(cf, p) != (size_t)-1) GRAFT_FAIL(GRAFT_EFORMAT, "%s: '%s' appears twice", path, p);
    size_t k = graft_content_hash(p, cf->entries[e].path_len) & (cf->slots - 1);
    while (cf->slot[k]) k = (k + 1) & (cf->slots - 1);
    cf->slot[k] = e + 1;
  }
  return GRAFT_OK;
}

graft_status graft_cache_open(graft_cache_file *cf, const char *path) {
  graft_cache_file_init(cf);
  int fd = open(path, O_RDONLY);
  if (fd < 0) GRAFT_FAIL(GRAFT_EIO, "%s: cannot open cache file: %s (write it with graft prepare)", path,
                         strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < (off_t)sizeof(graft_cache_header)) {
    close(fd);
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: not a graft cache file (too short)", path);
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (map == MAP_FAILED) GRAFT_FAIL(GRAFT_EIO, "%s: cannot map the cache: %s", path, strerror(errno));
  cf->map = map;
  cf->map_len = (size_t)st.st_size;
  graft_status s = validate(cf, path);
  if (s == GRAFT_OK) s = build_index(cf, path);
  if (s != GRAFT_OK) graft_cache_file_free(cf);
  return s;
}

graft_status graft_cache_match(const graft_cache_file *cf, const char *root, const graft_split *split,
                               graft_task task, int target, size_t *entry_of) {
  if (cf->task != (int)task || cf->target != target)
    GRAFT_FAIL(GRAFT_EINVAL, "the cache was prepared for %s images of %d pixels, this run needs %s at %d; "
               "run graft prepare again", cf->task == GRAFT_TASK_CLASSIFY ? "classification" : "detection",
               cf->target, task == GRAFT_TASK_CLASSIFY ? "classification" : "detection", target);
  size_t stale = 0;
  const char *first = NULL;
  for (size_t i = 0; i < split->n; i++) {
    const char *rel = graft_path_rel(root, split->s[i].path);
    size_t e = find_entry(cf, rel);
    struct stat st;
    int changed = e == (size_t)-1 || stat(split->s[i].path, &st) != 0;
    if (!changed) {
      int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
      changed = st.st_size != cf->entries[e].src_size || mtime != cf->entries[e].src_mtime_ns;
    }
    if (changed && !stale++) first = split->s[i].path;
    entry_of[i] = e;
  }
  if (stale)
    GRAFT_FAIL(GRAFT_EINVAL, "the cache is stale: %s is new or changed since graft prepare (%zu files "
               "differ); run graft prepare again", first, stale);
  return GRAFT_OK;
}

graft_status graft_cache_image(const graft_cache_file *cf, size_t e, graft_image *im) {
  const graft_cache_entry *en = &cf->entries[e];
  if (en->flags & GRAFT_CACHE_BAD) return GRAFT_EFORMAT;
  im->px = (uint8_t *)(cf->pixels + en->pix_off);
  im->w = (int)en->w;
  im->h = (int)en->h;
  return GRAFT_OK;
}

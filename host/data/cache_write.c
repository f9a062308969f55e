/* cache_write.c: writing a cache file (see cache.h): every sample of the
 * dataset decoded and shrunk in parallel, a chunk at a time, and written in
 * order behind a header that records where each source file came from.
 * The file appears under its name only when complete (temporary file,
 * fsync, rename). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/log.h"
#include "data/cache.h"
#include "data/cache_format.h"
#include "data/datautil.h"

#define CHUNK_PER_THREAD 16

typedef struct {
  graft_image img; /* decoded, shrunk */
  graft_status s;
  char err[512];
} job_result;

static const graft_sample *nth_sample(const graft_dataset *ds, size_t k) {
  return k < ds->train.n ? &ds->train.s[k] : &ds->val.s[k - ds->train.n];
}

static graft_status write_all(FILE *f, const void *p, size_t n, const char *path) {
  if (n && fwrite(p, 1, n, f) != n) GRAFT_FAIL(GRAFT_EIO, "%s: write failed: %s", path, strerror(errno));
  return GRAFT_OK;
}

/* The header, entries and paths; pixels follow at h->pixels_off. */
static graft_status write_head(FILE *f, const char *path, const graft_cache_header *h,
                               const graft_cache_entry *entries, const char *paths) {
  if (fseek(f, 0, SEEK_SET) != 0) GRAFT_FAIL(GRAFT_EIO, "%s: seek failed", path);
  GRAFT_TRY(write_all(f, h, sizeof *h, path));
  GRAFT_TRY(write_all(f, entries, (size_t)h->count * sizeof *entries, path));
  return write_all(f, paths, (size_t)h->paths_len, path);
}

/* Decodes and shrinks samples [k0, k1) of ds into results, in parallel. */
static void decode_chunk(const graft_dataset *ds, size_t k0, size_t k1, int target,
                         const graft_cache_write_opts *o, graft_resampler *rs, job_result *res) {
  int threads = o->threads > 0 ? o->threads : 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (long k = (long)k0; k < (long)k1; k++) {
    job_result *r = &res[k - (long)k0];
    graft_image full;
    graft_image_init(&full);
    graft_decode_opts d = {o->max_pixels, 0, 0, r->err, sizeof r->err};
    graft_cache_decode_hint(ds->task, target, &d.min_w, &d.min_h);
    r->s = graft_image_decode_file(nth_sample(ds, (size_t)k)->path, &d, &full);
    if (r->s == GRAFT_OK) {
      int t = 0;
#ifdef _OPENMP
      t = omp_get_thread_num();
#endif
      r->s = graft_cache_shrink(&rs[t], &full, ds->task, target, &r->img);
    }
    graft_image_free(&full);
  }
}

static graft_status write_pixels(FILE *f, const char *tmp, const graft_dataset *ds, int target,
                                 const graft_cache_write_opts *o, graft_cache_header *h,
                                 graft_cache_entry *entries, size_t *bad) {
  int threads = o->threads > 0 ? o->threads : 1;
  size_t chunk = (size_t)threads * CHUNK_PER_THREAD, n = (size_t)h->count;
  job_result *res = calloc(chunk, sizeof *res);
  graft_resampler *rs = calloc((size_t)threads, sizeof *rs);
  if (!res || !rs) {
    free(res);
    free(rs);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory preparing the cache");
  }
  graft_status s = GRAFT_OK;
  uint64_t off = 0;
  for (size_t k0 = 0; k0 < n && s == GRAFT_OK; k0 += chunk) {
    size_t k1 = k0 + chunk < n ? k0 + chunk : n;
    for (size_t j = 0; j < k1 - k0; j++) graft_image_init(&res[j].img);
    decode_chunk(ds, k0, k1, target, o, rs, res);
    for (size_t k = k0; k < k1; k++) {
      job_result *r = &res[k - k0];
      graft_cache_entry *e = &entries[k];
      if (s == GRAFT_OK && r->s != GRAFT_OK) {
        if (o->on_bad_image == GRAFT_BAD_IMAGE_ERROR || r->s == GRAFT_ENOMEM) {
          GRAFT_ERROR("%s", r->err);
          s = r->s;
        } else {
          GRAFT_WARN("skipping a bad image (on_bad_image=skip): %s", r->err);
          e->flags |= GRAFT_CACHE_BAD;
          if (bad) (*bad)++;
        }
      } else if (s == GRAFT_OK) {
        e->w = (uint32_t)r->img.w;
        e->h = (uint32_t)r->img.h;
        e->pix_off = off;
        size_t bytes = (size_t)r->img.w * r->img.h * 3;
        s = write_all(f, r->img.px, bytes, tmp);
        off += bytes;
      }
      graft_image_free(&r->img);
    }
    if (s == GRAFT_OK && k1 < n) GRAFT_INFO("prepare: %zu of %zu images", k1, n);
  }
  h->file_len = h->pixels_off + off;
  for (int t = 0; t < threads; t++) graft_resampler_free(&rs[t]);
  free(rs);
  free(res);
  return s;
}

/* Entries with their paths and source sizes and times; *paths receives
 * the NUL-terminated relative paths back to back. */
static graft_status describe_sources(const graft_dataset *ds, graft_cache_header *h,
                                     graft_cache_entry *entries, char **paths) {
  size_t n = (size_t)h->count, total = 0;
  for (size_t k = 0; k < n; k++) total += strlen(graft_path_rel(ds->root, nth_sample(ds, k)->path)) + 1;
  *paths = malloc(total ? total : 1);
  if (!*paths) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory listing %zu cache paths", n);
  size_t at = 0;
  for (size_t k = 0; k < n; k++) {
    const char *full = nth_sample(ds, k)->path, *rel = graft_path_rel(ds->root, full);
    size_t len = strlen(rel);
    struct stat st;
    if (stat(full, &st) != 0) GRAFT_FAIL(GRAFT_EIO, "%s: cannot stat: %s", full, strerror(errno));
    entries[k] = (graft_cache_entry){at, (uint32_t)len, 0, 0, 0, (int64_t)st.st_size,
                                     (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec, 0};
    memcpy(*paths + at, rel, len + 1);
    at += len + 1;
  }
  h->paths_len = at;
  return GRAFT_OK;
}

graft_status graft_cache_write(const char *path, const graft_dataset *ds, int target,
                               const graft_cache_write_opts *o, size_t *bad) {
  if (target < 8) GRAFT_FAIL(GRAFT_EINVAL, "cache target size %d is too small", target);
  size_t n = ds->train.n + ds->val.n;
  graft_cache_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, GRAFT_CACHE_MAGIC, 8);
  h.version = GRAFT_CACHE_VERSION;
  h.task = (uint32_t)ds->task;
  h.target = (uint32_t)target;
  h.entry_size = sizeof(graft_cache_entry);
  h.count = n;
  h.paths_off = sizeof h + n * sizeof(graft_cache_entry);
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
    GRAFT_FAIL(GRAFT_EINVAL, "cache path is too long");
  graft_cache_entry *entries = calloc(n ? n : 1, sizeof *entries);
  char *paths = NULL;
  FILE *f = NULL;
  graft_status s = entries ? describe_sources(ds, &h, entries, &paths) : GRAFT_ENOMEM;
  if (s == GRAFT_OK) {
    h.pixels_off = (h.paths_off + h.paths_len + GRAFT_CACHE_ALIGN - 1) / GRAFT_CACHE_ALIGN * GRAFT_CACHE_ALIGN;
    f = fopen(tmp, "wb");
    if (!f) {
      s = GRAFT_EIO;
      GRAFT_ERROR("%s: cannot create: %s", tmp, strerror(errno));
    }
  }
  if (s == GRAFT_OK && fseek(f, (long)h.pixels_off, SEEK_SET) != 0) {
    s = GRAFT_EIO;
    GRAFT_ERROR("%s: seek failed", tmp);
  }
  if (s == GRAFT_OK) s = write_pixels(f, tmp, ds, target, o, &h, entries, bad);
  if (s == GRAFT_OK) s = write_head(f, tmp, &h, entries, paths);
  if (s == GRAFT_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0)) {
    s = GRAFT_EIO;
    GRAFT_ERROR("%s: cannot flush: %s", tmp, strerror(errno));
  }
  if (f && fclose(f) != 0 && s == GRAFT_OK) {
    s = GRAFT_EIO;
    GRAFT_ERROR("%s: cannot close: %s", tmp, strerror(errno));
  }
  if (s == GRAFT_OK && rename(tmp, path) != 0) {
    s = GRAFT_EIO;
    GRAFT_ERROR("%s: cannot rename into place: %s", path, strerror(errno));
  }
  if (s != GRAFT_OK && f) unlink(tmp);
  free(entries);
  free(paths);
  return s;
}

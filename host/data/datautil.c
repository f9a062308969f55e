/* datautil.c: file reads, directory listings, string lists, hashing and
 * error reporting for the data pipeline (see datautil.h). */
#define _POSIX_C_SOURCE 200809L
#include "data/datautil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

graft_status graft_data_report(char *err, size_t err_len, graft_status s, const char *file,
                               int line, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (err && err_len)
    snprintf(err, err_len, "%s", msg);
  else
    graft_log(GRAFT_LOG_ERROR, file, line, "%s", msg);
  return s;
}

graft_status graft_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len,
                             char *err, size_t err_len) {
  *buf = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    return GRAFT_DATA_REPORT(err, err_len, GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  graft_status s = GRAFT_OK;
  uint8_t *data = NULL;
  if (fstat(fd, &st) != 0) {
    s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EIO, "%s: cannot stat: %s", path, strerror(errno));
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EIO, "%s: not a regular file", path);
    goto fail;
  }
  if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
    s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EUNSUPPORTED, "%s: %lld bytes, over the limit of %zu",
                          path, (long long)st.st_size, max_bytes);
    goto fail;
  }
  size_t size = (size_t)st.st_size;
  data = malloc(size + 1);
  if (!data) {
    s = GRAFT_DATA_REPORT(err, err_len, GRAFT_ENOMEM, "%s: cannot allocate %zu bytes", path, size);
    goto fail;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EIO, "%s: read failed: %s", path, strerror(errno));
      goto fail;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  data[got] = 0;
  close(fd);
  *buf = data;
  *len = got;
  return GRAFT_OK;
fail:
  free(data);
  close(fd);
  return s;
}

char *graft_path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la > 1 && a[la - 1] == '/') la--;
  char *p = malloc(la + lb + 2);
  if (!p) return NULL;
  memcpy(p, a, la);
  p[la] = '/';
  memcpy(p + la + 1, b, lb + 1);
  return p;
}

const char *graft_path_rel(const char *root, const char *path) {
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  if (strncmp(path, root, n) != 0) return path;
  return path[n] == '/' ? path + n + 1 : path;
}

int graft_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int graft_is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with_ci(const char *name, const char *ext) {
  size_t ln = strlen(name), le = strlen(ext);
  return ln >= le && strcasecmp(name + ln - le, ext) == 0;
}

int graft_has_image_ext(const char *name) {
  return ends_with_ci(name, ".png") || ends_with_ci(name, ".jpg") || ends_with_ci(name, ".jpeg");
}

int graft_has_foreign_image_ext(const char *name) {
  static const char *const exts[] = {".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"};
  for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
    if (ends_with_ci(name, exts[i])) return 1;
  return 0;
}

void graft_strlist_init(graft_strlist *l) {
  l->items = NULL;
  l->count = l->cap = 0;
}

void graft_strlist_free(graft_strlist *l) {
  if (!l) return;
  for (size_t i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  graft_strlist_init(l);
}

graft_status graft_strlist_push_owned(graft_strlist *l, char *s) {
  if (!s) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory building a name list");
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    char **items = realloc(l->items, cap * sizeof *items);
    if (!items) {
      free(s);
      GRAFT_FAIL(GRAFT_ENOMEM, "out of memory building a name list of %zu", cap);
    }
    l->items = items;
    l->cap = cap;
  }
  l->items[l->count++] = s;
  return GRAFT_OK;
}

graft_status graft_strlist_push(graft_strlist *l, const char *s) {
  return graft_strlist_push_owned(l, strdup(s));
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void graft_strlist_sort(graft_strlist *l) {
  if (l->count > 1) qsort(l->items, l->count, sizeof *l->items, cmp_str);
}

graft_status graft_list_dir(const char *dir, graft_list_kind kind, graft_strlist *out) {
  graft_strlist_init(out);
  DIR *d = opendir(dir);
  if (!d) GRAFT_FAIL(GRAFT_EIO, "%s: cannot open directory: %s", dir, strerror(errno));
  graft_status s = GRAFT_OK;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *full = graft_path_join(dir, e->d_name);
    if (!full) {
      s = GRAFT_ENOMEM;
      GRAFT_ERROR("out of memory listing %s", dir);
      goto fail;
    }
    int keep = kind == GRAFT_LIST_DIRS ? graft_is_dir(full) : graft_is_file(full);
    free(full);
    if (!keep) continue;
    s = graft_strlist_push(out, e->d_name);
    if (s != GRAFT_OK) goto fail;
  }
  closedir(d);
  graft_strlist_sort(out);
  return GRAFT_OK;
fail:
  closedir(d);
  graft_strlist_free(out);
  return s;
}

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint64_t mix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

uint64_t graft_content_hash(const void *data, size_t len) {
  const uint8_t *p = data;
  uint64_t a = 0x243F6A8885A308D3ull ^ len, b = 0x13198A2E03707344ull;
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    a = (a ^ load64(p + i)) * 0x9E3779B97F4A7C15ull;
    b = (b ^ load64(p + i + 8)) * 0xC2B2AE3D27D4EB4Full;
    a = (a << 31) | (a >> 33);
    b = (b << 29) | (b >> 35);
  }
  uint8_t tail[16] = {0};
  memcpy(tail, p + i, len - i);
  a ^= load64(tail) * 0x165667B19E3779F9ull;
  b ^= load64(tail + 8) * 0x27D4EB2F165667C5ull;
  return mix64(a ^ mix64(b));
}

/* run_dir.c: run folders and their append-only logs. */
#define _POSIX_C_SOURCE 200809L
#include "train/run_dir.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

graft_status graft_mkdirs(const char *path) {
  char buf[4096];
  if (strlen(path) >= sizeof buf) GRAFT_FAIL(GRAFT_EINVAL, "path too long: %s", path);
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0755) && errno != EEXIST) GRAFT_FAIL(GRAFT_EIO, "cannot create folder %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, 0755) && errno != EEXIST) GRAFT_FAIL(GRAFT_EIO, "cannot create folder %s: %s", buf, strerror(errno));
  return GRAFT_OK;
}

graft_status graft_run_dir_create(const char *parent, const char *name, char *out, size_t len) {
  GRAFT_TRY(graft_mkdirs(parent));
  for (int i = 1; i < 10000; i++) {
    int n = i == 1 ? snprintf(out, len, "%s/%s", parent, name) : snprintf(out, len, "%s/%s-%d", parent, name, i);
    if (n < 0 || (size_t)n >= len) GRAFT_FAIL(GRAFT_EINVAL, "run folder path too long under %s", parent);
    if (mkdir(out, 0755) == 0) return GRAFT_OK;
    if (errno != EEXIST) GRAFT_FAIL(GRAFT_EIO, "cannot create run folder %s: %s", out, strerror(errno));
  }
  GRAFT_FAIL(GRAFT_EIO, "no free run folder name for %s under %s", name, parent);
}

graft_status graft_run_append(const char *dir, const char *file, const char *text) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "a");
  if (!f) GRAFT_FAIL(GRAFT_EIO, "cannot open %s: %s", path, strerror(errno));
  int bad = fputs(text, f) < 0;
  bad |= fclose(f) != 0;
  if (bad) GRAFT_FAIL(GRAFT_EIO, "cannot append to %s: %s", path, strerror(errno));
  return GRAFT_OK;
}

graft_status graft_run_keep_lines(const char *dir, const char *file, int64_t lines) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return GRAFT_OK;
    GRAFT_FAIL(GRAFT_EIO, "cannot open %s: %s", path, strerror(errno));
  }
  off_t keep = 0, pos = 0;
  for (int64_t n = 0; n < lines;) {
    int c = getc(f);
    if (c == EOF) break;
    pos++;
    if (c == '\n') {
      n++;
      keep = pos;
    }
  }
  struct stat st;
  int bad = ferror(f) || fstat(fileno(f), &st) != 0;
  fclose(f);
  if (bad) GRAFT_FAIL(GRAFT_EIO, "cannot read %s", path);
  if (st.st_size <= keep) return GRAFT_OK;
  if (truncate(path, keep) != 0) GRAFT_FAIL(GRAFT_EIO, "cannot truncate %s: %s", path, strerror(errno));
  GRAFT_INFO("%s: dropped %lld bytes logged after the checkpoint", path, (long long)(st.st_size - keep));
  return GRAFT_OK;
}

/* "<something>.tmp.<digits>": the name graft_atomic_open gives a file. */
static int is_temp_name(const char *name) {
  const char *t = strstr(name, ".tmp.");
  if (!t || t == name) return 0;
  const char *p = t + 5;
  if (!*p) return 0;
  for (; *p; p++)
    if (*p < '0' || *p > '9') return is_temp_name(t + 1);
  return 1;
}

int graft_run_remove_temps(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (!is_temp_name(e->d_name)) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (unlink(path) == 0) {
      GRAFT_INFO("removed %s, left by an interrupted write", path);
      removed++;
    }
  }
  closedir(d);
  return removed;
}

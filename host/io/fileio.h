/* fileio.h: whole-file reads with a size cap, and atomic file replacement.
 * A checkpoint must never be half written: graft_atomic_file streams into
 * "<path>.tmp.<pid>" beside the target, and only commit (fsync the file,
 * rename it over the target, fsync the directory) makes it visible. Any
 * failure removes the temporary file and leaves the old target as it was.
 * Every error names the path and the system's reason. */
#ifndef GRAFT_FILEIO_H
#define GRAFT_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Reads all of path into a malloc'd buffer (*out, *size bytes, followed by
 * one NUL byte that *size does not count, so text can be parsed in place).
 * A file larger than max_bytes is refused with GRAFT_EFORMAT before it is
 * read; open and read failures return GRAFT_EIO. Free *out with free(). */
graft_status graft_file_read(const char *path, size_t max_bytes, uint8_t **out, size_t *size);

typedef struct {
  int fd;            /* temporary file, -1 once closed */
  char *path;        /* the target */
  char *tmp_path;    /* "<path>.tmp.<pid>" */
  uint8_t *buf;      /* (buf_cap) bytes staged before a write() */
  size_t buf_len;
  size_t buf_cap;
  graft_status err;  /* first failure; later calls return it */
} graft_atomic_file;

/* Creates the temporary file next to path. On failure af is left so that
 * graft_atomic_abort is safe (and a no-op). */
graft_status graft_atomic_open(graft_atomic_file *af, const char *path);

/* Appends n bytes. After a failure the temporary file is already gone and
 * every later write and the commit return the same status. */
graft_status graft_atomic_write(graft_atomic_file *af, const void *data, size_t n);

/* Flushes, fsyncs, renames over the target and fsyncs the directory. Always
 * releases af; on failure the temporary file is removed and the previous
 * target is untouched. */
graft_status graft_atomic_commit(graft_atomic_file *af);

/* Drops the temporary file and releases af. Safe on an object that failed
 * to open, failed a write, or was already committed. */
void graft_atomic_abort(graft_atomic_file *af);

#endif

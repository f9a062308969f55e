/* fileio.c: capped whole-file reads and the temporary-file-then-rename
 * writer behind every checkpoint (see fileio.h). POSIX calls only. */
#define _POSIX_C_SOURCE 200809L

#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* Writes smaller than this are gathered before reaching the kernel, so a
 * checkpoint of many small tensors costs few system calls. */
#define ATOMIC_BUF_BYTES ((size_t)1 << 20)

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

graft_status graft_file_read(const char *path, size_t max_bytes, uint8_t **out, size_t *size) {
  *out = NULL;
  *size = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) GRAFT_FAIL(GRAFT_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    GRAFT_ERROR("%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return GRAFT_EIO;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    GRAFT_FAIL(GRAFT_EIO, "%s: cannot read: %s", path, strerror(EISDIR));
  }
  if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > (uint64_t)max_bytes) {
    close(fd);
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: file is %lld bytes, over the limit of %zu", path,
               (long long)st.st_size, max_bytes);
  }
  /* The size from fstat is only a first guess: pipes report 0 and a file
   * can grow while it is read, so the loop grows the buffer as needed. */
  size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
  size_t len = 0;
  uint8_t *buf = malloc(cap);
  graft_status s = GRAFT_OK;
  if (!buf) {
    GRAFT_ERROR("%s: cannot allocate %zu bytes", path, cap);
    s = GRAFT_ENOMEM;
  }
  while (s == GRAFT_OK) {
    if (len == cap) {
      size_t ncap = cap > max_bytes / 2 ? max_bytes + 1 : cap * 2;
      if (ncap <= cap) ncap = cap + 1;
      uint8_t *nbuf = realloc(buf, ncap);
      if (!nbuf) {
        GRAFT_ERROR("%s: cannot allocate %zu bytes", path, ncap);
        s = GRAFT_ENOMEM;
        break;
      }
      buf = nbuf;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      GRAFT_ERROR("%s: read failed: %s", path, strerror(errno));
      s = GRAFT_EIO;
    } else if (r == 0) {
      break;
    } else {
      len += (size_t)r;
      if (len > max_bytes) {
        GRAFT_ERROR("%s: file is over the limit of %zu bytes", path, max_bytes);
        s = GRAFT_EFORMAT;
      }
    }
  }
  close(fd);
  if (s == GRAFT_OK && len == cap) {
    uint8_t *nbuf = realloc(buf, cap + 1);
    if (!nbuf) {
      GRAFT_ERROR("%s: cannot allocate %zu bytes", path, cap + 1);
      s = GRAFT_ENOMEM;
    } else {
      buf = nbuf;
    }
  }
  if (s != GRAFT_OK) {
    free(buf);
    return s;
  }
  buf[len] = 0;
  *out = buf;
  *size = len;
  return GRAFT_OK;
}

/* Writes all n bytes; returns 0 or the errno of the failure. */
static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void atomic_release(graft_atomic_file *af) {
  if (af->fd >= 0) {
    close(af->fd);
    af->fd = -1;
    unlink(af->tmp_path);
  }
  free(af->path);
  free(af->tmp_path);
  free(af->buf);
  af->path = af->tmp_path = NULL;
  af->buf = NULL;
  af->buf_len = af->buf_cap = 0;
}

/* Logs what failed, discards the temporary file and makes the failure
 * sticky. The target itself is never touched here. */
static graft_status atomic_fail(graft_atomic_file *af, const char *what, int err) {
  GRAFT_ERROR("%s: %s failed (temporary file %s): %s", af->path, what, af->tmp_path,
              strerror(err));
  if (af->fd >= 0) close(af->fd);
  af->fd = -1;
  unlink(af->tmp_path);
  af->err = GRAFT_EIO;
  return GRAFT_EIO;
}

graft_status graft_atomic_open(graft_atomic_file *af, const char *path) {
  memset(af, 0, sizeof *af);
  af->fd = -1;
  size_t tmp_len = strlen(path) + 32;
  af->path = dup_str(path);
  af->tmp_path = malloc(tmp_len);
  af->buf = malloc(ATOMIC_BUF_BYTES);
  if (!af->path || !af->tmp_path || !af->buf) {
    atomic_release(af);
    af->err = GRAFT_ENOMEM;
    GRAFT_FAIL(GRAFT_ENOMEM, "%s: cannot allocate the write buffer", path);
  }
  af->buf_cap = ATOMIC_BUF_BYTES;
  snprintf(af->tmp_path, tmp_len, "%s.tmp.%ld", path, (long)getpid());
  /* O_TRUNC rather than O_EXCL: a container restarts with the same pid, so
   * a temporary left by a killed run must not block the next one. */
  af->fd = open(af->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (af->fd < 0) {
    int e = errno;
    GRAFT_ERROR("%s: cannot create temporary file %s: %s", path, af->tmp_path, strerror(e));
    atomic_release(af);
    af->err = GRAFT_EIO;
    return GRAFT_EIO;
  }
  return GRAFT_OK;
}

static graft_status atomic_flush(graft_atomic_file *af) {
  int e = write_all(af->fd, af->buf, af->buf_len);
  af->buf_len = 0;
  return e ? atomic_fail(af, "write", e) : GRAFT_OK;
}

graft_status graft_atomic_write(graft_atomic_file *af, const void *data, size_t n) {
  if (af->err != GRAFT_OK) return af->err;
  if (af->fd < 0) GRAFT_FAIL(GRAFT_EINVAL, "write to an atomic file that is not open");
  if (n == 0) return GRAFT_OK;
  if (af->buf_len + n <= af->buf_cap) {
    memcpy(af->buf + af->buf_len, data, n);
    af->buf_len += n;
    return GRAFT_OK;
  }
  GRAFT_TRY(atomic_flush(af));
  if (n >= af->buf_cap) {
    int e = write_all(af->fd, data, n);
    return e ? atomic_fail(af, "write", e) : GRAFT_OK;
  }
  memcpy(af->buf, data, n);
  af->buf_len = n;
  return GRAFT_OK;
}

/* The directory holding path: "." for a bare name, "/" for a file at the
 * root. Returns NULL when out of memory. */
static char *parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return dup_str(".");
  size_t n = slash == path ? 1 : (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = 0;
  return d;
}

/* Makes the rename durable. Filesystems that cannot sync a directory say
 * EINVAL; that is not an error of ours. */
static graft_status sync_dir(const char *path) {
  char *dir = parent_dir(path);
  if (!dir) GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory", path);
  graft_status s = GRAFT_OK;
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    GRAFT_ERROR("%s: written, but cannot open directory %s to sync it: %s", path, dir,
                strerror(errno));
    s = GRAFT_EIO;
  } else {
    if (fsync(dfd) != 0 && errno != EINVAL) {
      GRAFT_ERROR("%s: written, but syncing directory %s failed: %s", path, dir, strerror(errno));
      s = GRAFT_EIO;
    }
    close(dfd);
  }
  free(dir);
  return s;
}

graft_status graft_atomic_commit(graft_atomic_file *af) {
  graft_status s = af->err;
  if (s == GRAFT_OK && af->fd < 0) {
    GRAFT_ERROR("commit of an atomic file that is not open");
    s = GRAFT_EINVAL;
  }
  if (s == GRAFT_OK) s = atomic_flush(af);
  if (s == GRAFT_OK && fsync(af->fd) != 0) s = atomic_fail(af, "fsync", errno);
  if (s == GRAFT_OK) {
    int rc = close(af->fd);
    af->fd = -1;
    if (rc != 0) s = atomic_fail(af, "close", errno);
  }
  if (s == GRAFT_OK && rename(af->tmp_path, af->path) != 0) s = atomic_fail(af, "rename", errno);
  if (s == GRAFT_OK) s = sync_dir(af->path);
  atomic_release(af);
  return s;
}

void graft_atomic_abort(graft_atomic_file *af) { atomic_release(af); }

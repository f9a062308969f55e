/* test_fileio.c: capped whole-file reads and atomic file replacement.
 * Failures are real kernel failures, not simulated ones: a write cut off
 * by RLIMIT_FSIZE (EFBIG, the same path ENOSPC takes), a directory that
 * does not exist, a target that is a directory (rename fails), a symlink
 * planted at the temporary name, and a read-only directory when not root.
 * After each, the previous target must be intact and no temporary file
 * left behind. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "io/fileio.h"
#include "testutil.h"

static char dir[256];

static int make_dir(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/graft_fileio_XXXXXX", base ? base : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", dir, dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", dir, name);
  return buf;
}

static void put_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void assert_file_is(const char *path, const char *text) {
  uint8_t *b = NULL;
  size_t n = 0;
  assert_int_equal(graft_file_read(path, 1 << 20, &b, &n), GRAFT_OK);
  assert_int_equal(n, strlen(text));
  assert_memory_equal(b, text, n);
  free(b);
}

/* Number of names in dir containing ".tmp.". */
static int count_temps(const char *where) {
  DIR *d = opendir(where);
  assert_non_null(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (strstr(e->d_name, ".tmp.")) n++;
  closedir(d);
  return n;
}

/* What was logged meanwhile, also printed for the test's output. */
static const char *capture_end(void) {
  const char *text = tu_capture_end();
  printf("logged: %s", text);
  return text;
}

/* ---- graft_file_read ----------------------------------------------------- */

static void test_read(void **state) {
  (void)state;
  char path[512];
  uint8_t *b = NULL;
  size_t n = 0;
  put_file(in_dir("hello.txt", path, sizeof path), "hello, world");
  assert_int_equal(graft_file_read(path, 100, &b, &n), GRAFT_OK);
  assert_int_equal(n, 12);
  assert_string_equal((char *)b, "hello, world");
  free(b);

  assert_int_equal(graft_file_read(path, 12, &b, &n), GRAFT_OK);
  free(b);
  tu_capture_begin();
  graft_status s = graft_file_read(path, 11, &b, &n);
  const char *log = capture_end();
  assert_int_equal(s, GRAFT_EFORMAT);
  assert_null(b);
  assert_non_null(strstr(log, path));

  put_file(in_dir("empty", path, sizeof path), "");
  assert_int_equal(graft_file_read(path, 0, &b, &n), GRAFT_OK);
  assert_int_equal(n, 0);
  assert_non_null(b);
  assert_int_equal(b[0], 0);
  free(b);
}

static void test_read_errors(void **state) {
  (void)state;
  char path[512];
  uint8_t *b = NULL;
  size_t n = 0;
  tu_capture_begin();
  graft_status s = graft_file_read(in_dir("absent", path, sizeof path), 100, &b, &n);
  const char *log = capture_end();
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, path));
  assert_non_null(strstr(log, "No such file or directory"));

  tu_capture_begin();
  s = graft_file_read(dir, 100, &b, &n);
  log = capture_end();
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, "Is a directory"));
}

/* Files in /proc report size 0, so the read grows its buffer as it goes. */
static void test_read_unsized(void **state) {
  (void)state;
  const char *path = "/proc/self/status";
  if (access(path, R_OK) != 0) {
    printf("no %s here; the unsized read is not exercised\n", path);
    return;
  }
  uint8_t *b = NULL;
  size_t n = 0;
  assert_int_equal(graft_file_read(path, 1 << 20, &b, &n), GRAFT_OK);
  assert_true(n > 16);
  assert_int_equal(strlen((char *)b), n);
  free(b);
  tu_capture_begin();
  graft_status s = graft_file_read(path, 16, &b, &n);
  capture_end();
  assert_int_equal(s, GRAFT_EFORMAT);
}

/* ---- graft_atomic_file --------------------------------------------------- */

static void test_atomic_write(void **state) {
  (void)state;
  char path[512];
  in_dir("ckpt.bin", path, sizeof path);
  put_file(path, "old contents");

  /* Small writes gather in the buffer, a large one goes straight out. */
  size_t big = 3 << 20;
  uint8_t *data = malloc(big);
  assert_non_null(data);
  for (size_t i = 0; i < big; i++) data[i] = (uint8_t)(i * 131 + 7);
  graft_atomic_file af;
  assert_int_equal(graft_atomic_open(&af, path), GRAFT_OK);
  assert_int_equal(count_temps(dir), 1);
  assert_int_equal(graft_atomic_write(&af, data, 10), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, data + 10, 0), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, data + 10, big - 20), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, data + big - 10, 10), GRAFT_OK);
  assert_file_is(path, "old contents"); /* nothing visible before commit */
  assert_int_equal(graft_atomic_commit(&af), GRAFT_OK);
  graft_atomic_abort(&af); /* safe after a commit */

  uint8_t *b = NULL;
  size_t n = 0;
  assert_int_equal(graft_file_read(path, big, &b, &n), GRAFT_OK);
  assert_int_equal(n, big);
  assert_memory_equal(b, data, big);
  free(b);
  free(data);
  assert_int_equal(count_temps(dir), 0);
}

static void test_atomic_abort(void **state) {
  (void)state;
  char path[512];
  in_dir("aborted.bin", path, sizeof path);
  graft_atomic_file af;
  assert_int_equal(graft_atomic_open(&af, path), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, "partial", 7), GRAFT_OK);
  graft_atomic_abort(&af);
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(count_temps(dir), 0);
}

/* The file size limit makes write() fail part way, exactly as a full disk
 * does; the old checkpoint must survive and the temporary must go. */
static void test_atomic_write_fails_midway(void **state) {
  (void)state;
  char path[512];
  in_dir("full.bin", path, sizeof path);
  put_file(path, "the previous checkpoint");

  struct rlimit old;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 256 << 10;
  void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);

  size_t chunk = 100 << 10;
  uint8_t *data = calloc(1, chunk);
  assert_non_null(data);
  graft_atomic_file af;
  graft_status s = graft_atomic_open(&af, path);
  int writes_ok = 0;
  tu_capture_begin();
  for (int i = 0; i < 40 && s == GRAFT_OK; i++) {
    s = graft_atomic_write(&af, data, chunk);
    if (s == GRAFT_OK) writes_ok++;
  }
  graft_status after = graft_atomic_write(&af, data, 1);
  int temps_at_failure = count_temps(dir);
  graft_status c = graft_atomic_commit(&af);
  const char *log = capture_end();
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  free(data);

  printf("%d writes of %zu bytes went through before the failure\n", writes_ok, chunk);
  assert_int_equal(s, GRAFT_EIO);
  assert_int_equal(after, GRAFT_EIO);
  assert_int_equal(c, GRAFT_EIO);
  assert_int_equal(temps_at_failure, 0);
  assert_non_null(strstr(log, path));
  assert_non_null(strstr(log, "File too large"));
  assert_file_is(path, "the previous checkpoint");
  assert_int_equal(count_temps(dir), 0);
}

static void test_atomic_missing_dir(void **state) {
  (void)state;
  char path[512];
  in_dir("no/such/dir/ckpt.bin", path, sizeof path);
  graft_atomic_file af;
  tu_capture_begin();
  graft_status s = graft_atomic_open(&af, path);
  const char *log = capture_end();
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, path));
  assert_non_null(strstr(log, "No such file or directory"));
  assert_int_equal(graft_atomic_write(&af, "x", 1), GRAFT_EIO);
  assert_int_equal(graft_atomic_commit(&af), GRAFT_EIO);
  graft_atomic_abort(&af);
}

/* rename() cannot replace a directory: commit fails after every byte was
 * written and synced, and must still clean up. */
static void test_atomic_rename_fails(void **state) {
  (void)state;
  char path[512], inner[600];
  in_dir("a_directory", path, sizeof path);
  assert_int_equal(mkdir(path, 0755), 0);
  snprintf(inner, sizeof inner, "%s/kept", path);
  put_file(inner, "kept");
  graft_atomic_file af;
  assert_int_equal(graft_atomic_open(&af, path), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, "data", 4), GRAFT_OK);
  tu_capture_begin();
  graft_status s = graft_atomic_commit(&af);
  const char *log = capture_end();
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, "rename"));
  assert_file_is(inner, "kept");
  assert_int_equal(count_temps(dir), 0);
}

/* A stale temporary from an earlier run with the same pid is overwritten;
 * a symlink planted at the temporary name is never followed. */
static void test_atomic_temp_name_taken(void **state) {
  (void)state;
  char path[512], tmp[600], victim[512];
  in_dir("ckpt2.bin", path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  put_file(tmp, "stale leftovers from a killed run");
  graft_atomic_file af;
  assert_int_equal(graft_atomic_open(&af, path), GRAFT_OK);
  assert_int_equal(graft_atomic_write(&af, "fresh", 5), GRAFT_OK);
  assert_int_equal(graft_atomic_commit(&af), GRAFT_OK);
  assert_file_is(path, "fresh");

  put_file(in_dir("victim", victim, sizeof victim), "must not change");
  assert_int_equal(symlink(victim, tmp), 0);
  tu_capture_begin();
  graft_status s = graft_atomic_open(&af, path);
  capture_end();
  assert_int_equal(s, GRAFT_EIO);
  graft_atomic_abort(&af);
  assert_file_is(victim, "must not change");
  assert_file_is(path, "fresh");
  assert_int_equal(unlink(tmp), 0);
}

static void test_atomic_bare_name(void **state) {
  (void)state;
  char cwd[512], path[512];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(dir), 0);
  graft_atomic_file af;
  graft_status s = graft_atomic_open(&af, "bare.bin");
  if (s == GRAFT_OK) s = graft_atomic_write(&af, "bare", 4);
  if (s == GRAFT_OK) s = graft_atomic_commit(&af);
  assert_int_equal(chdir(cwd), 0);
  assert_int_equal(s, GRAFT_OK);
  assert_file_is(in_dir("bare.bin", path, sizeof path), "bare");
}

static void test_atomic_read_only_dir(void **state) {
  (void)state;
  if (geteuid() == 0) {
    printf("running as root, which writes into read-only directories; not exercised\n");
    return;
  }
  char ro[512], path[600];
  in_dir("read_only", ro, sizeof ro);
  assert_int_equal(mkdir(ro, 0555), 0);
  snprintf(path, sizeof path, "%s/ckpt.bin", ro);
  graft_atomic_file af;
  tu_capture_begin();
  graft_status s = graft_atomic_open(&af, path);
  const char *log = capture_end();
  graft_atomic_abort(&af);
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, "Permission denied"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read),
      cmocka_unit_test(test_read_errors),
      cmocka_unit_test(test_read_unsized),
      cmocka_unit_test(test_atomic_write),
      cmocka_unit_test(test_atomic_abort),
      cmocka_unit_test(test_atomic_write_fails_midway),
      cmocka_unit_test(test_atomic_missing_dir),
      cmocka_unit_test(test_atomic_rename_fails),
      cmocka_unit_test(test_atomic_temp_name_taken),
      cmocka_unit_test(test_atomic_bare_name),
      cmocka_unit_test(test_atomic_read_only_dir),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}

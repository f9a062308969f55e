/* test_config.c: the configuration system. Defaults and typed getters;
 * the INI syntax (sections, comments, quotes, CRLF, a byte order mark);
 * every error class, each checked for the file, the line, the key and the
 * suggested fix in the logged message; precedence of files and command-line
 * overrides; the required-key check; a write -> read round trip that
 * reproduces every key; the help listing; and the shipped configs/ files. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "core/log.h"
#include "testutil.h"

static char dir[256];

static int make_dir(void **state) {
  (void)state;
  graft_log_set_level(GRAFT_LOG_INFO);
  const char *base = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/graft_config_XXXXXX", base ? base : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
  (void)state;
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", dir, name);
  return buf;
}

static void put_bytes(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

static void put_file(const char *path, const char *text) { put_bytes(path, text, strlen(text)); }

/* Checks that log holds every one of the NULL-terminated needles; prints
 * the message and the first missing needle when not. */
static int has_all(const char *log, const char *const *needles) {
  for (int i = 0; needles[i]; i++)
    if (!strstr(log, needles[i])) {
      fprintf(stderr, "message '%s' lacks '%s'\n", log, needles[i]);
      return 0;
    }
  return 1;
}

/* ---- defaults and getters ------------------------------------------------ */

static void test_defaults(void **state) {
  (void)state;
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  int i;
  int64_t i64;
  float f;
  const char *s;
  const float *fl;
  const int *il;
  int n;
  assert_int_equal(graft_config_int(&cfg, "epochs", &i), GRAFT_OK);
  assert_int_equal(i, 10);
  assert_int_equal(graft_config_int(&cfg, "image_size", &i), GRAFT_OK);
  assert_int_equal(i, 224);
  assert_int_equal(graft_config_int64(&cfg, "seed", &i64), GRAFT_OK);
  assert_int_equal(i64, 0);
  assert_int_equal(graft_config_float(&cfg, "lr", &f), GRAFT_OK);
  assert_true(f == 0.01f);
  assert_int_equal(graft_config_float(&cfg, "eps", &f), GRAFT_OK);
  assert_true(f == 1e-8f);
  assert_int_equal(graft_config_bool(&cfg, "no_decay_bias_norm", &i), GRAFT_OK);
  assert_int_equal(i, 1);
  assert_int_equal(graft_config_str(&cfg, "optimizer", &s), GRAFT_OK);
  assert_string_equal(s, "sgd");
  assert_int_equal(graft_config_str(&cfg, "model", &s), GRAFT_OK);
  assert_string_equal(s, "resnet18");
  assert_int_equal(graft_config_str(&cfg, "weights", &s), GRAFT_OK);
  assert_null(s); /* empty reads as NULL */
  assert_int_equal(graft_config_str(&cfg, "data", &s), GRAFT_OK);
  assert_null(s);
  assert_int_equal(graft_config_str(&cfg, "lr", &s), GRAFT_OK); /* any key's text */
  assert_string_equal(s, "0.01");
  assert_int_equal(graft_config_floats(&cfg, "mean", &fl, &n), GRAFT_OK);
  assert_int_equal(n, 3);
  assert_true(fl[0] == 0.485f && fl[1] == 0.456f && fl[2] == 0.406f);
  assert_int_equal(graft_config_floats(&cfg, "ratio", &fl, &n), GRAFT_OK);
  assert_int_equal(n, 2);
  assert_true(fl[0] == 0.75f && fl[1] == 4.0f / 3.0f);
  assert_int_equal(graft_config_ints(&cfg, "widths", &il, &n), GRAFT_OK);
  assert_int_equal(n, 0);
  assert_int_equal(graft_config_is_set(&cfg, "lr"), 0);
  assert_int_equal(graft_config_is_set(&cfg, "no_such_key"), -1);

  /* Set is not the same as changed: values compare as values. */
  static const struct {
    const char *arg;
    int is_default;
  } sets[] = {{"lr=0.010", 1},       {"nesterov=no", 1},       {"optimizer=sgd", 1},
              {"mean=0.485, 0.456,0.406", 1}, {"weights=", 1}, {"seed=0", 1},
              {"lr=0.02", 0},        {"nesterov=on", 0},       {"optimizer=adamw", 0},
              {"mean=0.5,0.456,0.406", 0},    {"weights=w.safetensors", 0}, {"widths=16", 0}};
  for (size_t c = 0; c < sizeof sets / sizeof sets[0]; c++) {
    graft_config one;
    assert_int_equal(graft_config_init(&one), GRAFT_OK);
    assert_int_equal(graft_config_set(&one, sets[c].arg), GRAFT_OK);
    char key[64];
    snprintf(key, sizeof key, "%.*s", (int)strcspn(sets[c].arg, "="), sets[c].arg);
    if (graft_config_is_default(&one, key) != sets[c].is_default)
      fprintf(stderr, "%s: is_default %d\n", sets[c].arg, graft_config_is_default(&one, key));
    assert_int_equal(graft_config_is_default(&one, key), sets[c].is_default);
    assert_int_equal(graft_config_is_set(&one, key), 1);
    graft_config_free(&one);
  }
  assert_int_equal(graft_config_is_default(&cfg, "epochs"), 1);
  assert_int_equal(graft_config_is_default(&cfg, "no_such_key"), -1);
  graft_config_free(&cfg);
  graft_config_free(&cfg); /* safe twice: free leaves a zeroed object */
}

static void test_getter_misuse(void **state) {
  (void)state;
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  int i;
  float f;
  tu_capture_begin();
  graft_status s1 = graft_config_int(&cfg, "lr", &i);
  graft_status s2 = graft_config_float(&cfg, "lrr", &f);
  const char *log = tu_capture_end();
  assert_int_equal(s1, GRAFT_EINVAL);
  assert_int_equal(s2, GRAFT_ENOTFOUND);
  assert_true(has_all(log, (const char *const[]){"'lr' is not an integer", "no key 'lrr'",
                                                 "did you mean 'lr'?", NULL}));
  graft_config_free(&cfg);
}

/* ---- INI syntax ------------------------------------------------------------ */

static void test_ini_syntax(void **state) {
  (void)state;
  char path[512];
  put_file(in_dir("syntax.ini", path, sizeof path),
           "# a comment\n"
           "; another comment\n"
           "epochs = 3\n" /* before any section: accepted */
           "\n"
           "  [ output ]  # a header with a comment\n"
           "name = \"my run # 1\"   # a quoted value keeps its comment characters\n"
           "out = runs # an inline comment after a blank\n"
           "\t quiet\t=\tyes\n"
           "[data]\n"
           "data = a#b;c\n" /* no blank before # or ;: part of the value */
           "cache_file =   ; empty, then a comment\n"
           "data.image_size = 96\n" /* section.key inside its own section */
           "[augment]\n"
           "mean = 0.5 , 0.25,0.125\n");
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_load(&cfg, path), GRAFT_OK);
  const char *s;
  int i;
  const float *fl;
  assert_int_equal(graft_config_int(&cfg, "epochs", &i), GRAFT_OK);
  assert_int_equal(i, 3);
  assert_int_equal(graft_config_str(&cfg, "name", &s), GRAFT_OK);
  assert_string_equal(s, "my run # 1");
  assert_int_equal(graft_config_str(&cfg, "out", &s), GRAFT_OK);
  assert_string_equal(s, "runs");
  assert_int_equal(graft_config_bool(&cfg, "quiet", &i), GRAFT_OK);
  assert_int_equal(i, 1);
  assert_int_equal(graft_config_str(&cfg, "data", &s), GRAFT_OK);
  assert_string_equal(s, "a#b;c");
  assert_int_equal(graft_config_str(&cfg, "cache_file", &s), GRAFT_OK);
  assert_null(s);
  assert_int_equal(graft_config_int(&cfg, "image_size", &i), GRAFT_OK);
  assert_int_equal(i, 96);
  assert_int_equal(graft_config_floats(&cfg, "mean", &fl, &i), GRAFT_OK);
  assert_int_equal(i, 3);
  assert_true(fl[0] == 0.5f && fl[1] == 0.25f && fl[2] == 0.125f);
  assert_int_equal(graft_config_is_set(&cfg, "epochs"), 1);
  graft_config_free(&cfg);

  /* CRLF line ends, a UTF-8 byte order mark, no newline at the end. */
  put_file(path, "\xEF\xBB\xBF[schedule]\r\nepochs = 7\r\n[optimizer]\r\noptimizer = adamw");
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_load(&cfg, path), GRAFT_OK);
  assert_int_equal(graft_config_int(&cfg, "epochs", &i), GRAFT_OK);
  assert_int_equal(i, 7);
  assert_int_equal(graft_config_str(&cfg, "optimizer", &s), GRAFT_OK);
  assert_string_equal(s, "adamw");
  graft_config_free(&cfg);
}

/* ---- every error class ------------------------------------------------------ */

typedef struct {
  int line;               /* of the error */
  graft_status want;
  const char *text;       /* the file */
  const char *needles[4]; /* must all be in the message, after "FILE:LINE: " */
} bad_file;

static const bad_file bad_files[] = {
    /* unknown key */
    {3, GRAFT_EINVAL, "[optimizer]\nlr = 0.1\nmomentun = 0.9\n",
     {"unknown key 'momentun' in [optimizer]", "did you mean 'momentum'?"}},
    /* unknown key, nothing near */
    {2, GRAFT_EINVAL, "[optimizer]\nwibblewobble = 1\n",
     {"unknown key 'wibblewobble'"}},
    /* unknown section */
    {1, GRAFT_EINVAL, "[optimiser]\nlr = 0.1\n",
     {"unknown section [optimiser]", "did you mean [optimizer]?"}},
    /* key in the wrong section */
    {2, GRAFT_EINVAL, "[model]\nlr = 0.1\n",
     {"key 'lr' belongs in [optimizer], not [model]"}},
    /* not an integer */
    {2, GRAFT_EINVAL, "[schedule]\nepochs = ten\n",
     {"epochs = ten", "expected an integer"}},
    /* integer with a fraction */
    {3, GRAFT_EINVAL, "[schedule]\n\nepochs = 2.5\n",
     {"epochs = 2.5", "expected an integer"}},
    /* not a number */
    {2, GRAFT_EINVAL, "[optimizer]\nlr = fast\n",
     {"lr = fast", "expected a number"}},
    /* beyond a float */
    {2, GRAFT_EINVAL, "[optimizer]\nlr = 1e39\n",
     {"lr = 1e39", "expected a number"}},
    /* not finite */
    {2, GRAFT_EINVAL, "[optimizer]\nlr = inf\n",
     {"lr = inf", "expected a number"}},
    /* below an open minimum */
    {2, GRAFT_EINVAL, "[optimizer]\nlr = 0\n",
     {"lr = 0", "must be greater than 0"}},
    /* below a minimum */
    {2, GRAFT_EINVAL, "[schedule]\nepochs = 0\n",
     {"epochs = 0", "must be at least 1"}},
    /* above an open maximum */
    {2, GRAFT_EINVAL, "[optimizer]\nmomentum = 1\n",
     {"momentum = 1", "must be less than 1"}},
    /* above a maximum */
    {2, GRAFT_EINVAL, "[augment]\nflip = 1.5\n",
     {"flip = 1.5", "must be at most 1"}},
    /* bad choice, near one */
    {2, GRAFT_EINVAL, "[optimizer]\noptimizer = adam\n",
     {"optimizer = adam", "expected one of sgd|adamw", "did you mean 'adamw'?"}},
    /* bad choice */
    {2, GRAFT_EINVAL, "[data]\ncache = disk\n",
     {"cache = disk", "expected one of none|ram|file"}},
    /* bad switch */
    {2, GRAFT_EINVAL, "[optimizer]\nnesterov = maybe\n",
     {"nesterov = maybe", "expected 0 or 1"}},
    /* list too short */
    {2, GRAFT_EINVAL, "[augment]\nmean = 0.5, 0.5\n",
     {"mean = 0.5, 0.5", "expected 3 numbers separated by commas"}},
    /* list too long */
    {2, GRAFT_EINVAL, "[model]\nwidths = 1,2,3,4,5\n",
     {"widths = 1,2,3,4,5", "expected at most 4 integers"}},
    /* list element */
    {2, GRAFT_EINVAL, "[augment]\nstd = 0.2, x, 0.2\n",
     {"std", "'x' is not a number"}},
    /* list element range */
    {2, GRAFT_EINVAL, "[augment]\nstd = 0.2, 0, 0.2\n",
     {"std", "must be greater than 0"}},
    /* duplicate key */
    {4, GRAFT_EINVAL, "[optimizer]\nlr = 0.1\nmomentum = 0.8\nlr = 0.2\n",
     {"duplicate key 'lr'", "first set on line 2"}},
    /* not key = value */
    {2, GRAFT_EFORMAT, "[model]\nmodel resnet50\n",
     {"expected 'key = value' or '[section]'", "model resnet50"}},
    /* no key */
    {2, GRAFT_EFORMAT, "[model]\n = resnet50\n",
     {"no key before '='"}},
    /* unclosed header */
    {1, GRAFT_EFORMAT, "[model\nmodel = resnet50\n",
     {"expected '[section]'", "[model"}},
    /* text after a header */
    {1, GRAFT_EFORMAT, "[model] model = resnet50\n",
     {"expected '[section]'"}},
    /* unmatched quote */
    {2, GRAFT_EFORMAT, "[output]\nname = \"my run\n",
     {"name", "unmatched '\"' or text after the closing quote"}},
    /* text after a quote */
    {2, GRAFT_EFORMAT, "[output]\nname = \"my\" run\n",
     {"name", "unmatched '\"'"}},
};

static void test_file_errors(void **state) {
  (void)state;
  char path[512];
  in_dir("bad.ini", path, sizeof path);
  int failures = 0;
  for (size_t c = 0; c < sizeof bad_files / sizeof bad_files[0]; c++) {
    const bad_file *b = &bad_files[c];
    put_file(path, b->text);
    graft_config cfg;
    assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
    tu_capture_begin();
    graft_status s = graft_config_load(&cfg, path);
    const char *log = tu_capture_end();
    char where[600];
    snprintf(where, sizeof where, "%s:%d: ", path, b->line);
    const char *needles[6] = {where};
    for (int i = 0; i < 4 && b->needles[i]; i++) needles[i + 1] = b->needles[i];
    if (s != b->want || !has_all(log, needles)) {
      fprintf(stderr, "file '%s': status %s, want %s\n", b->text, graft_status_name(s),
              graft_status_name(b->want));
      failures++;
    }
    graft_config_free(&cfg);
  }
  assert_int_equal(failures, 0);
}

static void test_file_limits(void **state) {
  (void)state;
  char path[512];
  in_dir("limits.ini", path, sizeof path);
  graft_config cfg;
  /* A NUL byte: not a text file. */
  put_bytes(path, "[model]\nmodel = res\0net18\n", 26);
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  tu_capture_begin();
  graft_status s = graft_config_load(&cfg, path);
  const char *log = tu_capture_end();
  assert_int_equal(s, GRAFT_EFORMAT);
  assert_non_null(strstr(log, ":2: NUL byte"));
  graft_config_free(&cfg);
  /* A line over the limit. */
  static char big[10000];
  memcpy(big, "[output]\nname = ", 16);
  memset(big + 16, 'x', 9000);
  put_bytes(path, big, 16 + 9000);
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  tu_capture_begin();
  s = graft_config_load(&cfg, path);
  log = tu_capture_end();
  assert_int_equal(s, GRAFT_EFORMAT);
  assert_non_null(strstr(log, ":2: line longer than"));
  graft_config_free(&cfg);
  /* A missing file names the path. */
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  tu_capture_begin();
  s = graft_config_load(&cfg, in_dir("absent.ini", path, sizeof path));
  log = tu_capture_end();
  assert_int_equal(s, GRAFT_EIO);
  assert_non_null(strstr(log, "absent.ini"));
  graft_config_free(&cfg);
}

static void test_command_line_errors(void **state) {
  (void)state;
  static const struct {
    const char *arg;
    const char *needles[4];
  } cases[] = {
      {"lrr=0.1", {"command line: unknown key 'lrr'", "did you mean 'lr'?"}},
      {"epochs=0", {"command line: epochs = 0: must be at least 1"}},
      {"optimizer=adamx", {"command line: optimizer = adamx", "did you mean 'adamw'?"}},
      {"model.lr=0.1", {"command line: key 'lr' belongs in [optimizer], not [model]"}},
      {"optimiser.lr=0.1",
       {"command line: unknown section [optimiser]", "did you mean [optimizer]?"}},
      {"=3", {"command line: expected key=value"}},
      {"name=a\nb", {"command line: name: value contains a control character"}},
      {"name= \"x\" ", {"command line: name", "cannot also contain '\"'"}},
  };
  int failures = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    graft_config cfg;
    assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
    tu_capture_begin();
    graft_status s = graft_config_set(&cfg, cases[c].arg);
    const char *log = tu_capture_end();
    if (s != GRAFT_EINVAL || !has_all(log, cases[c].needles)) {
      fprintf(stderr, "case '%s': status %s\n", cases[c].arg, graft_status_name(s));
      failures++;
    }
    graft_config_free(&cfg);
  }
  assert_int_equal(failures, 0);
}

static void test_required(void **state) {
  (void)state;
  char path[512];
  put_file(in_dir("nodata.ini", path, sizeof path), "[optimizer]\nlr = 0.1\n");
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_load(&cfg, path), GRAFT_OK);
  tu_capture_begin();
  graft_status s = graft_config_check(&cfg);
  const char *log = tu_capture_end();
  assert_int_equal(s, GRAFT_EINVAL);
  assert_true(
      has_all(log, (const char *const[]){path, "required key 'data' is not set", "under [data]",
                                         "data=... on the command line", NULL}));
  /* An empty value does not count as set. */
  assert_int_equal(graft_config_set(&cfg, "data="), GRAFT_OK);
  tu_capture_begin();
  s = graft_config_check(&cfg);
  tu_capture_end();
  assert_int_equal(s, GRAFT_EINVAL);
  assert_int_equal(graft_config_set(&cfg, "data=some/folder"), GRAFT_OK);
  assert_int_equal(graft_config_check(&cfg), GRAFT_OK);
  graft_config_free(&cfg);
}

/* ---- precedence ---------------------------------------------------------------- */

static void test_precedence(void **state) {
  (void)state;
  char a[512], b[512];
  put_file(in_dir("a.ini", a, sizeof a),
           "[optimizer]\nlr = 0.1\nmomentum = 0.8\n[schedule]\nepochs = 5\n");
  put_file(in_dir("b.ini", b, sizeof b), "[optimizer]\nlr = 0.2\n[data]\nbatch = 16\n");
  /* Overrides win over every file, wherever they stand; a later file wins
   * over an earlier one; section.key is accepted. */
  char *argv[] = {"lr=0.3", "-c", a, "img1.png", "--config", b, "schedule.epochs=6", "img2.png"};
  const char *pos[4];
  int npos = -1;
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_args(&cfg, 8, argv, pos, 4, &npos), GRAFT_OK);
  float f;
  int i;
  assert_int_equal(graft_config_float(&cfg, "lr", &f), GRAFT_OK);
  assert_true(f == 0.3f);
  assert_int_equal(graft_config_float(&cfg, "momentum", &f), GRAFT_OK);
  assert_true(f == 0.8f);
  assert_int_equal(graft_config_int(&cfg, "epochs", &i), GRAFT_OK);
  assert_int_equal(i, 6);
  assert_int_equal(graft_config_int(&cfg, "batch", &i), GRAFT_OK);
  assert_int_equal(i, 16);
  assert_int_equal(npos, 2);
  assert_string_equal(pos[0], "img1.png");
  assert_string_equal(pos[1], "img2.png");
  /* The same key twice on the command line: the last wins. */
  assert_int_equal(graft_config_set(&cfg, "lr=0.4"), GRAFT_OK);
  assert_int_equal(graft_config_set(&cfg, "optimizer.lr=0.5"), GRAFT_OK);
  assert_int_equal(graft_config_float(&cfg, "lr", &f), GRAFT_OK);
  assert_true(f == 0.5f);
  graft_config_free(&cfg);

  /* The same key in two files is not a duplicate: the later file wins. */
  char *argv2[] = {"-c", b};
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_args(&cfg, 2, argv2, NULL, 0, NULL), GRAFT_OK);
  assert_int_equal(graft_config_load(&cfg, a), GRAFT_OK);
  assert_int_equal(graft_config_float(&cfg, "lr", &f), GRAFT_OK);
  assert_true(f == 0.1f);
  graft_config_free(&cfg);

  /* A positional argument where the command takes none; -c without a file. */
  char *argv3[] = {"stray"};
  char *argv4[] = {"-c"};
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  tu_capture_begin();
  graft_status s3 = graft_config_args(&cfg, 1, argv3, NULL, 0, NULL);
  graft_status s4 = graft_config_args(&cfg, 1, argv4, NULL, 0, NULL);
  const char *log = tu_capture_end();
  assert_int_equal(s3, GRAFT_EINVAL);
  assert_int_equal(s4, GRAFT_EINVAL);
  assert_true(has_all(
      log, (const char *const[]){"unexpected argument 'stray'", "-c needs a file name", NULL}));
  graft_config_free(&cfg);
}

/* ---- write -> read -------------------------------------------------------------- */

/* The file's key lines with their origin comments cut, so two writes of
 * the same values compare equal whatever files they came from. */
static char *key_lines(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char out[65536];
  size_t len = 0;
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') continue;
    char *c = strstr(line, "  # ");
    if (c) strcpy(c, "\n");
    size_t n = strlen(line);
    assert_true(len + n < sizeof out);
    memcpy(out + len, line, n);
    len += n;
  }
  out[len] = '\0';
  fclose(f);
  return strdup(out);
}

static void test_round_trip(void **state) {
  (void)state;
  char in[512], out1[512], out2[512];
  put_file(in_dir("in.ini", in, sizeof in),
           "[output]\nname = \"  spaced # name  \"\n[augment]\nscale = 0.25,1\n"
           "[optimizer]\noptimizer = adamw\nlr = 3e-4\n");
  graft_config cfg;
  assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
  assert_int_equal(graft_config_load(&cfg, in), GRAFT_OK);
  const char *sets[] = {"data=data/my pets", "out=;odd",         "widths=16,32,64",
                        "seed=123456789012", "nesterov=true",    "precision=bf16",
                        "resume=runs/old",   "mean=0.1,0.2,0.3", "weights=w.safetensors"};
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
    assert_int_equal(graft_config_set(&cfg, sets[i]), GRAFT_OK);
  assert_int_equal(graft_config_write(&cfg, in_dir("out1.ini", out1, sizeof out1)), GRAFT_OK);

  graft_config back;
  assert_int_equal(graft_config_init(&back), GRAFT_OK);
  assert_int_equal(graft_config_load(&back, out1), GRAFT_OK);
  assert_int_equal(graft_config_write(&back, in_dir("out2.ini", out2, sizeof out2)), GRAFT_OK);
  char *k1 = key_lines(out1), *k2 = key_lines(out2);
  if (strcmp(k1, k2)) fprintf(stderr, "first write:\n%s\nsecond write:\n%s\n", k1, k2);
  assert_string_equal(k1, k2);
  free(k1);
  free(k2);

  const char *s;
  int64_t i64;
  int n;
  const int *w;
  assert_int_equal(graft_config_str(&back, "name", &s), GRAFT_OK);
  assert_string_equal(s, "  spaced # name  ");
  assert_int_equal(graft_config_str(&back, "data", &s), GRAFT_OK);
  assert_string_equal(s, "data/my pets");
  assert_int_equal(graft_config_str(&back, "out", &s), GRAFT_OK);
  assert_string_equal(s, ";odd");
  assert_int_equal(graft_config_int64(&back, "seed", &i64), GRAFT_OK);
  assert_int_equal(i64, 123456789012LL);
  assert_int_equal(graft_config_ints(&back, "widths", &w, &n), GRAFT_OK);
  assert_int_equal(n, 3);
  assert_true(w[0] == 16 && w[1] == 32 && w[2] == 64);
  assert_int_equal(graft_config_str(&back, "lr", &s), GRAFT_OK);
  assert_string_equal(s, "3e-4");
  /* resume belongs to one invocation: never written back. */
  assert_int_equal(graft_config_str(&back, "resume", &s), GRAFT_OK);
  assert_null(s);
  /* Every key is written, so the file does not depend on today's defaults;
   * read back, the keys left at their defaults are given but still equal
   * to them. */
  assert_int_equal(graft_config_is_set(&back, "label_smoothing"), 1);
  assert_int_equal(graft_config_is_default(&back, "label_smoothing"), 1);
  assert_int_equal(graft_config_is_default(&back, "optimizer"), 0);
  assert_int_equal(graft_config_check(&back), GRAFT_OK);
  graft_config_free(&back);
  graft_config_free(&cfg);
}

/* ---- help and the shipped configs ------------------------------------------------ */

static void test_help(void **state) {
  (void)state;
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  graft_config_print_help(f);
  fclose(f);
  static const char *const needles[] = {
      "[model]", "[data]", "[augment]", "[optimizer]", "[schedule]", "[regularization]",
      "[transfer]", "[task]", "[output]", "[device]",
      "lr = 0.01", "(number > 0)", "optimizer = sgd", "(sgd|adamw)", "data =", "(required)",
      "epochs = 10", "(integer >= 1, <= 1000000)", "mean = 0.485,0.456,0.406", "(3 numbers)",
      "backbone_lr_mult", "label_smoothing", "nan_policy", "early_stop_metric", NULL};
  assert_true(has_all(text, needles));
  free(text);
}

static void test_shipped_configs(void **state) {
  (void)state;
  static const char *const files[] = {"configs/resnet50-finetune.ini",
                                      "configs/fmnist-resnet20.ini"};
  for (int i = 0; i < 2; i++) {
    char path[1024];
    graft_config cfg;
    assert_int_equal(graft_config_init(&cfg), GRAFT_OK);
    assert_int_equal(graft_config_load(&cfg, tu_source_path(files[i], path, sizeof path)),
                     GRAFT_OK);
    assert_int_equal(graft_config_set(&cfg, "data=somewhere"), GRAFT_OK);
    assert_int_equal(graft_config_check(&cfg), GRAFT_OK);
    const char *model;
    int size;
    assert_int_equal(graft_config_str(&cfg, "model", &model), GRAFT_OK);
    assert_int_equal(graft_config_int(&cfg, "image_size", &size), GRAFT_OK);
    printf("%s: %s at %d px\n", files[i], model, size);
    assert_string_equal(model, i == 0 ? "resnet50" : "resnet20");
    assert_int_equal(size, i == 0 ? 224 : 32);
    graft_config_free(&cfg);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),        cmocka_unit_test(test_getter_misuse),
      cmocka_unit_test(test_ini_syntax),      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_file_limits),     cmocka_unit_test(test_command_line_errors),
      cmocka_unit_test(test_required),        cmocka_unit_test(test_precedence),
      cmocka_unit_test(test_round_trip),      cmocka_unit_test(test_help),
      cmocka_unit_test(test_shipped_configs),
  };
  return cmocka_run_group_tests(tests, make_dir, remove_dir);
}

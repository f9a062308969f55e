/* test_data_inspect.c: the inspect report on generated datasets with
 * planted problems: a duplicate inside train, the same image under two
 * classes, a val image copied from train, a corrupt file and a 6:1
 * imbalance must each be counted and grouped; a clean dataset must have no
 * problems; the JSON must parse and agree. (tests/scripts/test_inspect.sh
 * checks the same through the command line.) */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "data/image_write.h"
#include "data/inspect.h"

static char root[64];

static void path_of(const char *rel, char *out, size_t n) {
  snprintf(out, n, "%s/%s", root, rel);
  for (char *p = out + strlen(root) + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(out, 0755);
      *p = '/';
    }
}

static void make_png(const char *rel, unsigned seed) {
  char path[256];
  path_of(rel, path, sizeof path);
  graft_image im;
  graft_image_init(&im);
  assert_int_equal(graft_image_alloc(&im, 12 + (int)seed % 5, 10), GRAFT_OK);
  for (int i = 0; i < im.w * im.h * 3; i++) im.px[i] = (uint8_t)(i * 7 + seed * 31);
  assert_int_equal(graft_image_write_png(path, &im), GRAFT_OK);
  graft_image_free(&im);
}

static void copy_file(const char *from_rel, const char *to_rel) {
  char from[256], to[256], buf[4096];
  path_of(from_rel, from, sizeof from);
  path_of(to_rel, to, sizeof to);
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  assert_non_null(a);
  assert_non_null(b);
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
  fclose(a);
  fclose(b);
}

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/graft-inspect-XXXXXX");
  return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static void test_planted_problems(void **state) {
  (void)state;
  char rel[128];
  for (unsigned i = 0; i < 5; i++) {
    snprintf(rel, sizeof rel, "p/train/cat/%u.png", i);
    make_png(rel, i);
  }
  copy_file("p/train/cat/0.png", "p/train/cat/copy.png");
  make_png("p/train/dog/a.png", 20);
  copy_file("p/train/cat/1.png", "p/train/dog/cat_again.png");
  make_png("p/val/cat/v.png", 30);
  copy_file("p/train/cat/2.png", "p/val/cat/leak.png");
  char bad[256];
  path_of("p/val/dog/bad.png", bad, sizeof bad);
  FILE *f = fopen(bad, "wb");
  fputs("\x89PNG\r\n\x1a\nnope", f);
  fclose(f);

  char dir[128];
  snprintf(dir, sizeof dir, "%s/p", root);
  graft_inspect_opts o;
  graft_inspect_opts_defaults(&o);
  graft_inspect_report r;
  assert_int_equal(graft_inspect_run(dir, &o, &r), GRAFT_OK);
  assert_int_equal(r.split[0].n, 8);
  assert_int_equal(r.split[0].per_class[0], 6);
  assert_int_equal(r.split[0].per_class[1], 2);
  assert_true(r.split[0].imbalance == 3.0);
  assert_int_equal(r.split[1].unreadable, 1);
  assert_int_equal(r.split[0].dup_groups, 2);
  assert_int_equal(r.split[0].dup_extra, 2);
  assert_int_equal(r.leak_groups, 1);
  assert_int_equal(r.leak_val_files, 1);
  assert_int_equal(r.conflict_groups, 1);
  assert_int_equal(r.ngroups, 3);
  assert_int_equal(r.split[0].w_min, 12);
  assert_int_equal(r.split[0].w_max, 16);
  /* unreadable + 2 duplicate groups + leak + conflict; imbalance 3 < 5 */
  assert_int_equal(graft_inspect_problems(&r), 5);
  r.opts.imbalance_warn = 2.5;
  assert_int_equal(graft_inspect_problems(&r), 6);
  graft_inspect_print(&r, stdout);

  char *json = graft_inspect_json(&r);
  assert_non_null(json);
  cJSON *j = cJSON_Parse(json);
  assert_non_null(j);
  assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "leakage"), "val_images")->valueint, 1);
  assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "duplicates")), 3);
  cJSON *unreadable = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "unreadable"), 0);
  assert_string_equal(cJSON_GetObjectItem(unreadable, "path")->valuestring, "val/dog/bad.png");
  assert_int_equal(cJSON_GetObjectItem(j, "problems")->valueint, 6);
  cJSON_Delete(j);
  free(json);
  graft_inspect_free(&r);
}

static void test_clean_dataset(void **state) {
  (void)state;
  char rel[128], dir[128];
  for (unsigned c = 0; c < 2; c++)
    for (unsigned i = 0; i < 4; i++) {
      snprintf(rel, sizeof rel, "clean/c%u/%u.png", c, i);
      make_png(rel, 100 + c * 10 + i);
    }
  snprintf(dir, sizeof dir, "%s/clean", root);
  graft_inspect_opts o;
  graft_inspect_opts_defaults(&o);
  o.val_ratio = 0.25;
  graft_inspect_report r;
  assert_int_equal(graft_inspect_run(dir, &o, &r), GRAFT_OK);
  assert_int_equal(r.split[0].n, 6);
  assert_int_equal(r.split[1].n, 2);
  assert_int_equal(graft_inspect_problems(&r), 0);
  graft_inspect_free(&r);
  snprintf(dir, sizeof dir, "%s/missing", root);
  assert_int_equal(graft_inspect_run(dir, &o, &r), GRAFT_ENOTFOUND);
  graft_inspect_free(&r);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_planted_problems),
      cmocka_unit_test(test_clean_dataset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

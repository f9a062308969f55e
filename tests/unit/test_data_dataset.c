/* test_data_dataset.c: dataset listing. Class and file order on a tree of
 * awkward names must equal torchvision's ImageFolder (a list recorded from
 * torchvision 0.14.1, and the live torchvision when /usr/bin/python3 has
 * it); the seeded stratified hold-out, train/val folders, and the YOLO
 * layouts with missing, empty and malformed label files. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "data/dataset.h"
#include "data/sampler.h"

static char tmp_root[64];

/* Creates root/rel with the given content, making parent folders. */
static void put_file(const char *rel, const char *content) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", tmp_root, rel);
  for (char *p = path + strlen(tmp_root) + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
}

static int setup_tmp(void **state) {
  (void)state;
  snprintf(tmp_root, sizeof tmp_root, "/tmp/graft-ds-XXXXXX");
  return mkdtemp(tmp_root) ? 0 : -1;
}

static int teardown_tmp(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
  return system(cmd) == 0 ? 0 : -1;
}

static const char *const tricky_classes[] = {"B", "a", "a b", "a-b", "a_b", "a.b", "Z9", "10", "9",
                                             "\xC3\xA4", ".hidden"};
static const char *const tricky_files_a[] = {"img10.png", "img2.PNG", "img1.jpg", "x.JPEG",
                                             "y.bmp", "notes.txt", "sub/z.png", "sub b/q.png",
                                             "sub-1/r.png", "sub/deeper/w.png", "sub/deeper/v.jpeg",
                                             "Sub/u.png"};

/* torchvision 0.14.1 ImageFolder on that tree (classes, then label and
 * path of each sample), less a/y.bmp, which graft cannot decode and leaves
 * out with a warning. */
static const char *const tv_classes[] = {".hidden", "10", "9", "B", "Z9", "a", "a b", "a-b", "a.b",
                                         "a_b", "\xC3\xA4"};
static const char *const tv_samples[] = {
    "0 .hidden/0.png",     "1 10/0.png",        "2 9/0.png",          "3 B/0.png",
    "4 Z9/0.png",          "5 a/img1.jpg",      "5 a/img10.png",      "5 a/img2.PNG",
    "5 a/x.JPEG",          "5 a/Sub/u.png",     "5 a/sub/z.png",      "5 a/sub b/q.png",
    "5 a/sub-1/r.png",     "5 a/sub/deeper/v.jpeg", "5 a/sub/deeper/w.png", "6 a b/0.png",
    "7 a-b/0.png",         "8 a.b/0.png",       "9 a_b/0.png",        "10 \xC3\xA4/0.png"};

static void make_tricky_tree(void) {
  char rel[512];
  for (size_t c = 0; c < sizeof tricky_classes / sizeof *tricky_classes; c++) {
    if (!strcmp(tricky_classes[c], "a")) {
      for (size_t f = 0; f < sizeof tricky_files_a / sizeof *tricky_files_a; f++) {
        snprintf(rel, sizeof rel, "tricky/train/a/%s", tricky_files_a[f]);
        put_file(rel, "");
      }
    } else {
      snprintf(rel, sizeof rel, "tricky/train/%s/0.png", tricky_classes[c]);
      put_file(rel, "");
    }
  }
}

/* "label relative/path" lines of a split, relative to base. */
static char **describe(const graft_split *sp, const char *base) {
  char **out = calloc(sp->n, sizeof *out);
  for (size_t i = 0; i < sp->n; i++) {
    out[i] = malloc(1024);
    snprintf(out[i], 1024, "%d %s", sp->s[i].label, sp->s[i].path + strlen(base) + 1);
  }
  return out;
}

static void free_lines(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static void test_folder_order_matches_torchvision(void **state) {
  (void)state;
  make_tricky_tree();
  char root[256], train[300];
  snprintf(root, sizeof root, "%s/tricky", tmp_root);
  snprintf(train, sizeof train, "%s/train", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_OK);
  assert_int_equal(ds.task, GRAFT_TASK_CLASSIFY);
  assert_int_equal(ds.classes.count, sizeof tv_classes / sizeof *tv_classes);
  for (size_t c = 0; c < ds.classes.count; c++) assert_string_equal(ds.classes.items[c], tv_classes[c]);
  assert_int_equal(ds.train.n, sizeof tv_samples / sizeof *tv_samples);
  assert_int_equal(ds.foreign_files, 1);
  char **got = describe(&ds.train, train);
  for (size_t i = 0; i < ds.train.n; i++) assert_string_equal(got[i], tv_samples[i]);

  /* The same tree through the torchvision that is installed, if any. */
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import os,sys\n"
           "from torchvision.datasets import ImageFolder\n"
           "d=ImageFolder(sys.argv[1],loader=lambda p:p)\n"
           "print('\\n'.join('%%d %%s'%%(l,os.path.relpath(p,sys.argv[1])) for p,l in d.samples "
           "if not p.endswith('.bmp')))\" '%s' 2>/dev/null",
           train);
  FILE *py = access("/usr/bin/python3", X_OK) == 0 ? popen(cmd, "r") : NULL;
  size_t n = 0;
  char line[1024];
  int live = 0;
  while (py && fgets(line, sizeof line, py)) {
    line[strcspn(line, "\n")] = 0;
    assert_true(n < ds.train.n);
    assert_string_equal(got[n], line);
    n++;
    live = 1;
  }
  int rc = py ? pclose(py) : -1;
  if (live && rc == 0) {
    assert_int_equal(n, ds.train.n);
    printf("live torchvision ImageFolder agrees on %zu samples\n", n);
  } else {
    printf("torchvision not available: checked against the recorded list only\n");
  }
  free_lines(got, ds.train.n);
  graft_dataset_free(&ds);
}

static void test_holdout_is_stratified_and_seeded(void **state) {
  (void)state;
  const int per_class[3] = {10, 20, 5};
  char rel[256];
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < per_class[c]; i++) {
      snprintf(rel, sizeof rel, "flat/c%d/%03d.png", c, i);
      put_file(rel, "");
    }
  char root[256];
  snprintf(root, sizeof root, "%s/flat", tmp_root);
  graft_dataset_opts o = {0.2, 42, NULL, 0};
  graft_dataset a, b, c;
  assert_int_equal(graft_dataset_open(&a, root, &o), GRAFT_OK);
  assert_true(a.split_by_ratio);
  int val_per_class[3] = {0, 0, 0};
  for (size_t i = 0; i < a.val.n; i++) val_per_class[a.val.s[i].label]++;
  assert_int_equal(val_per_class[0], 2);
  assert_int_equal(val_per_class[1], 4);
  assert_int_equal(val_per_class[2], 1);
  assert_int_equal(a.train.n + a.val.n, 35);
  assert_int_equal(graft_dataset_open(&b, root, &o), GRAFT_OK);
  for (size_t i = 0; i < a.val.n; i++) assert_string_equal(a.val.s[i].path, b.val.s[i].path);
  o.seed = 43;
  assert_int_equal(graft_dataset_open(&c, root, &o), GRAFT_OK);
  int same = 1;
  for (size_t i = 0; i < a.val.n; i++) same &= !strcmp(a.val.s[i].path, c.val.s[i].path);
  assert_false(same);
  /* No sample is in both splits. */
  for (size_t i = 0; i < a.val.n; i++)
    for (size_t j = 0; j < a.train.n; j++) assert_string_not_equal(a.val.s[i].path, a.train.s[j].path);
  graft_dataset_free(&a);
  graft_dataset_free(&b);
  graft_dataset_free(&c);
}

/* Cross-validation folds built from a listed dataset: each fold's val
 * split holds its samples, with their labels, and the folds partition it. */
static void test_kfold_splits(void **state) {
  (void)state;
  char root[256];
  snprintf(root, sizeof root, "%s/flat", tmp_root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_OK);
  size_t n = ds.train.n;
  int *labels = malloc(n * sizeof *labels), *fold = malloc(n * sizeof *fold);
  size_t *val_idx = malloc(n * sizeof *val_idx), *tr_idx = malloc(n * sizeof *tr_idx);
  for (size_t i = 0; i < n; i++) labels[i] = ds.train.s[i].label;
  assert_int_equal(graft_kfold_assign(labels, n, 5, 7, fold), GRAFT_OK);
  size_t covered = 0;
  for (int f = 0; f < 5; f++) {
    size_t nv = 0, nt = 0;
    for (size_t i = 0; i < n; i++) {
      if (fold[i] == f)
        val_idx[nv++] = i;
      else
        tr_idx[nt++] = i;
    }
    graft_split val, train;
    assert_int_equal(graft_split_select(&val, &ds.train, val_idx, nv), GRAFT_OK);
    assert_int_equal(graft_split_select(&train, &ds.train, tr_idx, nt), GRAFT_OK);
    assert_int_equal(val.n + train.n, n);
    assert_int_equal(val.n, 7);
    int per[3] = {0, 0, 0};
    for (size_t i = 0; i < val.n; i++) {
      assert_string_equal(val.s[i].path, ds.train.s[val_idx[i]].path);
      per[val.s[i].label]++;
    }
    assert_int_equal(per[0], 2);
    assert_int_equal(per[1], 4);
    assert_int_equal(per[2], 1);
    covered += val.n;
    graft_split_free(&val);
    graft_split_free(&train);
  }
  assert_int_equal(covered, n);
  free(labels);
  free(fold);
  free(val_idx);
  free(tr_idx);
  graft_dataset_free(&ds);
}

static void test_train_val_folders(void **state) {
  (void)state;
  put_file("tv/train/cat/1.png", "");
  put_file("tv/train/dog/1.jpg", "");
  put_file("tv/valid/dog/2.jpg", "");
  char root[256];
  snprintf(root, sizeof root, "%s/tv", tmp_root);
  graft_dataset ds;
  graft_dataset_opts o = {0.5, 1, NULL, 0};
  assert_int_equal(graft_dataset_open(&ds, root, &o), GRAFT_OK);
  assert_false(ds.split_by_ratio);
  assert_int_equal(ds.train.n, 2);
  assert_int_equal(ds.val.n, 1);
  assert_int_equal(ds.val.s[0].label, 1);
  graft_dataset_free(&ds);
  put_file("tv/valid/cow/3.jpg", "");
  assert_int_equal(graft_dataset_open(&ds, root, &o), GRAFT_EFORMAT);
  put_file("empty/train/cat/1.png", "");
  put_file("empty/train/dog/readme.txt", "");
  snprintf(root, sizeof root, "%s/empty", tmp_root);
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_EFORMAT);
  snprintf(root, sizeof root, "%s/does-not-exist", tmp_root);
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_ENOTFOUND);
}

static void test_yolo_layouts(void **state) {
  (void)state;
  put_file("yolo/classes.txt", "person\ncar\n\n");
  put_file("yolo/images/train/a.jpg", "");
  put_file("yolo/images/train/b.png", "");
  put_file("yolo/images/train/c.png", "");
  put_file("yolo/images/val/d.jpg", "");
  put_file("yolo/labels/train/a.txt", "0 0.5 0.5 0.2 0.2\r\n1 0.1 0.9 0.05 0.1\n");
  put_file("yolo/labels/train/b.txt", "\n");
  put_file("yolo/labels/val/d.txt", "1 0.5 0.5 1 1");
  char root[256];
  snprintf(root, sizeof root, "%s/yolo", tmp_root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_OK);
  assert_int_equal(ds.task, GRAFT_TASK_DETECT);
  assert_int_equal(ds.classes.count, 2);
  assert_int_equal(ds.train.n, 3);
  assert_int_equal(ds.val.n, 1);
  assert_int_equal(ds.train.s[0].nbox, 2);
  assert_int_equal(ds.train.boxes.v[ds.train.s[0].box0 + 1].cls, 1);
  assert_true(ds.train.boxes.v[1].cy > 0.89f && ds.train.boxes.v[1].cy < 0.91f);
  assert_int_equal(ds.train.s[1].nbox, 0);
  assert_int_equal(ds.train.empty_labels, 1);
  assert_int_equal(ds.train.missing_labels, 1);
  assert_int_equal(ds.val.s[0].nbox, 1);
  graft_dataset_free(&ds);

  put_file("yolo/labels/train/c.txt", "0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n");
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_EFORMAT);
  graft_dataset_opts o = {0, 0, NULL, 1};
  assert_int_equal(graft_dataset_open(&ds, root, &o), GRAFT_OK);
  assert_int_equal(ds.label_stats.bad_class, 1);
  assert_int_equal(ds.label_stats.bad_coords, 1);
  assert_int_equal(ds.train.s[2].nbox, 1);
  graft_dataset_free(&ds);
  put_file("yolo/labels/train/c.txt", "0 0.5 0.5 0.2\n");
  assert_int_equal(graft_dataset_open(&ds, root, &o), GRAFT_OK);
  assert_int_equal(ds.label_stats.bad_files, 1);
  graft_dataset_free(&ds);

  /* Roboflow layout, one split, held out by ratio. */
  put_file("robo/obj.names", "a\nb\n");
  for (int i = 0; i < 10; i++) {
    char rel[128];
    snprintf(rel, sizeof rel, "robo/train/images/%d.jpg", i);
    put_file(rel, "");
    snprintf(rel, sizeof rel, "robo/train/labels/%d.txt", i);
    put_file(rel, "1 0.5 0.5 0.5 0.5\n");
  }
  snprintf(root, sizeof root, "%s/robo", tmp_root);
  o.val_ratio = 0.3;
  assert_int_equal(graft_dataset_open(&ds, root, &o), GRAFT_OK);
  assert_int_equal(ds.train.n, 7);
  assert_int_equal(ds.val.n, 3);
  for (size_t i = 0; i < ds.val.n; i++) {
    assert_int_equal(ds.val.s[i].nbox, 1);
    assert_int_equal(ds.val.boxes.v[ds.val.s[i].box0].cls, 1);
  }
  graft_dataset_free(&ds);
  snprintf(root, sizeof root, "%s/nonames", tmp_root);
  put_file("nonames/images/x.png", "");
  put_file("nonames/labels/x.txt", "");
  assert_int_equal(graft_dataset_open(&ds, root, NULL), GRAFT_ENOTFOUND);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_folder_order_matches_torchvision),
      cmocka_unit_test(test_holdout_is_stratified_and_seeded),
      cmocka_unit_test(test_kfold_splits),
      cmocka_unit_test(test_train_val_folders),
      cmocka_unit_test(test_yolo_layouts),
  };
  return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}

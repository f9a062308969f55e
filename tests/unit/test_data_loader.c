/* test_data_loader.c: the threaded loader end to end on generated PNG and
 * JPEG datasets: every sample once per epoch, batches independent of the
 * number of workers, rank shards, class-balanced epochs of an imbalanced
 * split (seeded draws, rank shards, repeats augmented apart, the eval
 * order kept, detection refused), a corrupt image under both on_bad_image
 * policies (the error names the file), RAM and file caches giving the same
 * batches as decoding, stale and corrupt cache files refused, detection
 * batches with boxes, the allocator hook, and stopping mid-epoch. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "data/cache.h"
#include "data/image_write.h"
#include "data/loader.h"
#include "data/sampler.h"

static char root[64];

static void make_image(const char *rel, int w, int h, unsigned seed) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  for (char *p = path + strlen(root) + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  graft_image im;
  graft_image_init(&im);
  assert_int_equal(graft_image_alloc(&im, w, h), GRAFT_OK);
  for (int i = 0; i < w * h * 3; i++) im.px[i] = (uint8_t)((i / 3 % w) * 3 + (i / 3 / w) * 2 + seed * 40 + i % 3 * 60);
  size_t n = strlen(path);
  if (!strcmp(path + n - 4, ".jpg"))
    assert_int_equal(graft_image_write_jpeg(path, &im, 90), GRAFT_OK);
  else
    assert_int_equal(graft_image_write_png(path, &im), GRAFT_OK);
  graft_image_free(&im);
}

static void write_text(const char *rel, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(root, sizeof root, "/tmp/graft-loader-XXXXXX");
  if (!mkdtemp(root)) return -1;
  char rel[128];
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 7; i++) {
      snprintf(rel, sizeof rel, "cls/c%d/%d.%s", c, i, i % 2 ? "jpg" : "png");
      make_image(rel, 40 + 7 * i, 30 + 5 * c, (unsigned)(c * 7 + i));
    }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

static graft_loader_opts small_opts(int workers) {
  graft_loader_opts o;
  graft_loader_opts_defaults(&o, GRAFT_TASK_CLASSIFY);
  o.batch = 4;
  o.workers = workers;
  o.depth = 3;
  o.seed = 17;
  o.cls.size = 32;
  o.cls.resize = 36;
  o.cls.brightness = o.cls.contrast = o.cls.saturation = 0.3f;
  return o;
}

/* Runs one epoch and returns the concatenated pixels (and index order). */
static float *run_epoch(graft_loader *l, int epoch, size_t n, size_t *idx, size_t *batches) {
  assert_int_equal(graft_loader_start_epoch(l, epoch), GRAFT_OK);
  float *all = NULL;
  size_t rows = 0;
  *batches = 0;
  const graft_batch *b;
  for (;;) {
    assert_int_equal(graft_loader_next(l, &b), GRAFT_OK);
    if (!b) break;
    size_t px = (size_t)b->size * b->size * 3;
    all = realloc(all, (rows + (size_t)b->n) * px * sizeof *all);
    memcpy(all + rows * px, b->x, (size_t)b->n * px * sizeof *all);
    for (int i = 0; i < b->n; i++) idx[rows + (size_t)i] = b->index[i];
    rows += (size_t)b->n;
    (*batches)++;
  }
  assert_int_equal(rows, n);
  return all;
}

static void test_epochs_and_workers(void **state) {
  (void)state;
  char dir[128];
  snprintf(dir, sizeof dir, "%s/cls", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, dir, NULL), GRAFT_OK);
  size_t n = ds.train.n, idx1[32], idx3[32], nb;
  graft_loader_opts o1 = small_opts(1), o3 = small_opts(3);
  graft_loader a, b;
  graft_loader_init(&a);
  graft_loader_init(&b);
  assert_int_equal(graft_loader_open(&a, &ds.train, &o1), GRAFT_OK);
  assert_int_equal(graft_loader_open(&b, &ds.train, &o3), GRAFT_OK);
  for (int epoch = 0; epoch < 2; epoch++) {
    float *x1 = run_epoch(&a, epoch, n, idx1, &nb);
    assert_int_equal(nb, 6);
    float *x3 = run_epoch(&b, epoch, n, idx3, &nb);
    assert_memory_equal(idx1, idx3, n * sizeof *idx1);
    assert_memory_equal(x1, x3, n * 32 * 32 * 3 * sizeof(float));
    char seen[32] = {0};
    for (size_t i = 0; i < n; i++) seen[idx1[i]]++;
    for (size_t i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    free(x1);
    free(x3);
  }
  printf("21 samples, batch 4: 6 batches per epoch, identical with 1 and 3 workers\n");
  graft_loader_free(&a);
  graft_loader_free(&b);

  /* drop_last, eval order, and two ranks covering the split. */
  graft_loader_opts e = small_opts(2);
  e.train = 0;
  e.drop_last = 1;
  assert_int_equal(graft_loader_open(&a, &ds.train, &e), GRAFT_OK);
  assert_int_equal(graft_loader_batches(&a), 5);
  assert_int_equal(graft_loader_start_epoch(&a, 0), GRAFT_OK);
  const graft_batch *bt;
  size_t row = 0;
  while (graft_loader_next(&a, &bt) == GRAFT_OK && bt) {
    for (int i = 0; i < bt->n; i++, row++) {
      assert_int_equal(bt->index[i], row);
      assert_int_equal(bt->y[i], ds.train.s[row].label);
    }
  }
  assert_int_equal(row, 20);
  graft_loader_free(&a);
  char hits[32] = {0};
  for (int r = 0; r < 2; r++) {
    graft_loader_opts s = small_opts(2);
    s.rank = r;
    s.world = 2;
    assert_int_equal(graft_loader_open(&a, &ds.train, &s), GRAFT_OK);
    size_t got = graft_shard_count(n, r, 2);
    float *x = run_epoch(&a, 3, got, idx1, &nb);
    for (size_t i = 0; i < got; i++) hits[idx1[i]]++;
    free(x);
    graft_loader_free(&a);
  }
  for (size_t i = 0; i < n; i++) assert_int_equal(hits[i], 1);
  graft_dataset_free(&ds);
}

/* A balanced loader over split, one rank of world. */
static void open_balanced(graft_loader *l, const graft_split *split, int workers, int rank, int world) {
  graft_loader_opts o = small_opts(workers);
  o.balanced = 1;
  o.rank = rank;
  o.world = world;
  assert_int_equal(graft_loader_open(l, split, &o), GRAFT_OK);
}

/* Rows of one epoch that hold the same sample must differ in pixels. */
static size_t check_repeats_differ(const size_t *idx, const float *x, size_t n) {
  size_t px = 32 * 32 * 3, pairs = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++)
      if (idx[i] == idx[j]) {
        assert_memory_not_equal(x + i * px, x + j * px, px * sizeof *x);
        pairs++;
      }
  return pairs;
}

static void test_balanced_epochs(void **state) {
  (void)state;
  enum { EPOCHS = 30, PX = 32 * 32 * 3 };
  static const int per_class[3] = {9, 2, 1};
  char rel[128], dir[128];
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < per_class[c]; i++) {
      snprintf(rel, sizeof rel, "imb/c%d/%d.png", c, i);
      make_image(rel, 36 + 3 * i, 34 + 4 * c, (unsigned)(c * 9 + i));
    }
  snprintf(dir, sizeof dir, "%s/imb", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, dir, NULL), GRAFT_OK);
  size_t n = ds.train.n, idx1[16], idx3[16], want[16], first[16], nb, drawn[3] = {0}, pairs = 0;
  int labels[16];
  assert_int_equal(n, 12);
  for (size_t i = 0; i < n; i++) labels[i] = ds.train.s[i].label;
  graft_loader a, b;
  graft_loader_init(&a);
  graft_loader_init(&b);
  open_balanced(&a, &ds.train, 1, 0, 1);
  open_balanced(&b, &ds.train, 3, 0, 1);
  float *x0 = NULL;
  for (int epoch = 0; epoch < EPOCHS; epoch++) {
    float *x1 = run_epoch(&a, epoch, n, idx1, &nb);
    float *x3 = run_epoch(&b, epoch, n, idx3, &nb);
    assert_memory_equal(idx1, idx3, n * sizeof *idx1);
    assert_memory_equal(x1, x3, n * PX * sizeof(float));
    assert_int_equal(graft_balanced_order(labels, n, 17, epoch, want), GRAFT_OK);
    assert_memory_equal(idx1, want, n * sizeof *idx1);
    if (epoch == 1) assert_memory_not_equal(idx1, first, n * sizeof *idx1);
    for (size_t i = 0; i < n; i++) drawn[labels[idx1[i]]]++;
    pairs += check_repeats_differ(idx1, x1, n);
    if (epoch == 0) {
      memcpy(first, idx1, sizeof first);
      x0 = x1;
    } else {
      free(x1);
    }
    free(x3);
  }
  double total = (double)n * EPOCHS;
  printf("9/2/1 images, %d balanced epochs: classes drawn %.3f %.3f %.3f (want 1/3 +- 0.1), same with 1 and 3 "
         "workers, %zu pairs of rows with one sample, all augmented apart\n",
         EPOCHS, drawn[0] / total, drawn[1] / total, drawn[2] / total, pairs);
  for (int c = 0; c < 3; c++) assert_true(fabs(drawn[c] / total - 1.0 / 3.0) < 0.1);
  assert_true(pairs > 0);
  float *again = run_epoch(&a, 0, n, idx1, &nb);
  assert_memory_equal(idx1, first, n * sizeof *idx1);
  assert_memory_equal(again, x0, n * PX * sizeof(float));
  free(again);
  graft_loader_free(&a);
  graft_loader_free(&b);

  /* Two ranks take alternate rows of epoch 0's draw, pixels included. */
  int taken[16] = {0};
  for (int r = 0; r < 2; r++) {
    open_balanced(&a, &ds.train, 2, r, 2);
    size_t got = graft_shard_count(n, r, 2);
    float *x = run_epoch(&a, 0, got, idx1, &nb);
    for (size_t i = 0; i < got; i++) {
      size_t pos = (size_t)r + 2 * i;
      taken[pos]++;
      assert_int_equal(idx1[i], first[pos]);
      assert_memory_equal(x + i * PX, x0 + pos * PX, PX * sizeof(float));
    }
    free(x);
    graft_loader_free(&a);
  }
  for (size_t i = 0; i < n; i++) assert_int_equal(taken[i], 1);
  free(x0);

  /* An eval loader keeps its fixed order; detection has no class to draw by. */
  graft_loader_opts e = small_opts(2);
  e.balanced = 1;
  e.train = 0;
  assert_int_equal(graft_loader_open(&a, &ds.train, &e), GRAFT_OK);
  float *x = run_epoch(&a, 0, n, idx1, &nb);
  for (size_t i = 0; i < n; i++) assert_int_equal(idx1[i], i);
  free(x);
  graft_loader_free(&a);
  graft_loader_opts_defaults(&e, GRAFT_TASK_DETECT);
  e.balanced = 1;
  assert_int_equal(graft_loader_open(&a, &ds.train, &e), GRAFT_EINVAL);
  graft_dataset_free(&ds);
}

static void test_bad_image_policies(void **state) {
  (void)state;
  char rel[128], dir[128];
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 5; i++) {
      snprintf(rel, sizeof rel, "bad/c%d/%d.png", c, i);
      make_image(rel, 33, 27, (unsigned)i);
    }
  write_text("bad/c1/broken.png", "\x89PNG\r\n\x1a\nthis is not a png");
  snprintf(dir, sizeof dir, "%s/bad", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, dir, NULL), GRAFT_OK);
  assert_int_equal(ds.train.n, 11);
  graft_loader l;
  graft_loader_init(&l);
  graft_loader_opts o = small_opts(2);
  assert_int_equal(graft_loader_open(&l, &ds.train, &o), GRAFT_OK);
  assert_int_equal(graft_loader_start_epoch(&l, 0), GRAFT_OK);
  const graft_batch *b;
  graft_status s;
  while ((s = graft_loader_next(&l, &b)) == GRAFT_OK && b) {
  }
  assert_int_equal(s, GRAFT_EFORMAT);
  printf("on_bad_image=error: %s\n", graft_loader_error(&l));
  assert_non_null(strstr(graft_loader_error(&l), "broken.png"));
  assert_int_equal(graft_loader_start_epoch(&l, 1), GRAFT_EFORMAT);
  graft_loader_free(&l);

  o.on_bad_image = GRAFT_BAD_IMAGE_SKIP;
  assert_int_equal(graft_loader_open(&l, &ds.train, &o), GRAFT_OK);
  for (int epoch = 0; epoch < 3; epoch++) {
    assert_int_equal(graft_loader_start_epoch(&l, epoch), GRAFT_OK);
    size_t rows = 0;
    while ((s = graft_loader_next(&l, &b)) == GRAFT_OK && b) {
      for (int i = 0; i < b->n; i++) assert_null(strstr(ds.train.s[b->index[i]].path, "broken"));
      rows += (size_t)b->n;
    }
    assert_int_equal(s, GRAFT_OK);
    assert_int_equal(rows, 11);
  }
  graft_loader_stats st = graft_loader_get_stats(&l);
  printf("on_bad_image=skip: %zu bad file (%s), %zu rows replaced over 3 epochs\n", st.bad_files,
         st.first_bad, st.replaced);
  assert_int_equal(st.bad_files, 1);
  assert_int_equal(st.replaced, 3);
  assert_non_null(strstr(st.first_bad, "broken.png"));
  graft_loader_free(&l);
  graft_dataset_free(&ds);
}

static void test_caches_match_decoding(void **state) {
  (void)state;
  char dir[128], cache[160];
  snprintf(dir, sizeof dir, "%s/cls", root);
  snprintf(cache, sizeof cache, "%s/cls.cache", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, dir, NULL), GRAFT_OK);
  size_t n = ds.train.n, idx[32], nb;
  graft_loader_opts plain = small_opts(2), ram = small_opts(2), file = small_opts(2);
  /* Images up to 82 pixels and resize 90: caching keeps them as they are. */
  plain.cls.resize = ram.cls.resize = file.cls.resize = 90;
  ram.cache = GRAFT_CACHE_RAM;
  file.cache = GRAFT_CACHE_FILE;
  file.cache_path = cache;
  file.data_root = dir;
  graft_cache_write_opts wo = {2, GRAFT_BAD_IMAGE_ERROR, 0};
  size_t bad = 0;
  assert_int_equal(graft_cache_write(cache, &ds, 90, &wo, &bad), GRAFT_OK);
  assert_int_equal(bad, 0);
  graft_loader a, b, c;
  graft_loader_init(&a);
  graft_loader_init(&b);
  graft_loader_init(&c);
  assert_int_equal(graft_loader_open(&a, &ds.train, &plain), GRAFT_OK);
  assert_int_equal(graft_loader_open(&b, &ds.train, &ram), GRAFT_OK);
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_OK);
  for (int epoch = 0; epoch < 2; epoch++) {
    float *xa = run_epoch(&a, epoch, n, idx, &nb);
    float *xb = run_epoch(&b, epoch, n, idx, &nb);
    float *xc = run_epoch(&c, epoch, n, idx, &nb);
    assert_memory_equal(xa, xb, n * 32 * 32 * 3 * sizeof(float));
    assert_memory_equal(xa, xc, n * 32 * 32 * 3 * sizeof(float));
    free(xa);
    free(xb);
    free(xc);
  }
  printf("cache=ram and the prepared cache file give the decoded batches exactly\n");
  graft_loader_free(&a);
  graft_loader_free(&b);
  graft_loader_free(&c);

  /* Shrinking: a cache at 24 pixels holds images whose shorter side is 24. */
  graft_cache_file cf;
  assert_int_equal(graft_cache_write(cache, &ds, 24, &wo, &bad), GRAFT_OK);
  assert_int_equal(graft_cache_open(&cf, cache), GRAFT_OK);
  assert_int_equal(cf.count, n);
  graft_image v;
  assert_int_equal(graft_cache_image(&cf, 0, &v), GRAFT_OK);
  assert_int_equal(v.w < v.h ? v.w : v.h, 24);
  graft_cache_file_free(&cf);

  /* A run that wants another size, a changed file, a corrupt cache. */
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_EINVAL);
  assert_int_equal(graft_cache_write(cache, &ds, 90, &wo, &bad), GRAFT_OK);
  make_image("cls/c2/3.jpg", 50, 50, 99);
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_EINVAL);
  assert_int_equal(graft_cache_write(cache, &ds, 90, &wo, &bad), GRAFT_OK);
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_OK);
  graft_loader_free(&c);
  assert_int_equal(truncate(cache, 5000), 0);
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_EFORMAT);
  write_text("cls.cache", "GRAFTC01 and nothing else of a header, repeated to pass the minimum length check...");
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_EFORMAT);
  unlink(cache);
  assert_int_equal(graft_loader_open(&c, &ds.train, &file), GRAFT_EIO);
  graft_dataset_free(&ds);
}

typedef struct {
  int live;
  size_t bytes;
} counting_alloc;

static void *count_alloc(void *user, size_t bytes) {
  counting_alloc *c = user;
  c->live++;
  c->bytes += bytes;
  return malloc(bytes);
}

static void count_free(void *user, void *p) {
  counting_alloc *c = user;
  c->live--;
  free(p);
}

static void test_detection_and_allocator(void **state) {
  (void)state;
  make_image("det/images/train/a.png", 80, 40, 1);
  make_image("det/images/train/b.jpg", 30, 60, 2);
  make_image("det/images/train/c.png", 50, 50, 3);
  char path[160];
  snprintf(path, sizeof path, "%s/det/labels", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/det/labels/train", root);
  mkdir(path, 0755);
  write_text("det/classes.txt", "cat\ndog\n");
  write_text("det/labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.1\n1 0.9 0.9 0.2 0.2\n");
  write_text("det/labels/train/b.txt", "1 0.5 0.5 1 1\n");
  char dir[128];
  snprintf(dir, sizeof dir, "%s/det", root);
  graft_dataset ds;
  assert_int_equal(graft_dataset_open(&ds, dir, NULL), GRAFT_OK);
  graft_loader_opts o;
  graft_loader_opts_defaults(&o, GRAFT_TASK_DETECT);
  o.batch = 2;
  o.train = 0;
  o.det.size = 64;
  o.output_u8 = 1;
  counting_alloc ca = {0, 0};
  o.alloc = (graft_host_allocator){count_alloc, count_free, &ca};
  graft_loader l;
  graft_loader_init(&l);
  assert_int_equal(graft_loader_open(&l, &ds.train, &o), GRAFT_OK);
  assert_true(ca.live > 0);
  assert_int_equal(graft_loader_start_epoch(&l, 0), GRAFT_OK);
  const graft_batch *b;
  assert_int_equal(graft_loader_next(&l, &b), GRAFT_OK);
  assert_non_null(b);
  assert_null(b->x);
  assert_non_null(b->x_u8);
  assert_int_equal(b->max_boxes, 3);
  assert_int_equal(b->nbox[0], 3);
  /* a.png, 80 x 40 letterboxed into 64: 16 grey rows above and below. */
  const graft_box *bx = b->boxes;
  printf("det eval box: %d %.4f %.4f %.4f %.4f\n", bx[0].cls, bx[0].cx, bx[0].cy, bx[0].w, bx[0].h);
  assert_true(bx[0].cls == 0 && bx[0].w == 0.5f && bx[0].h == 0.25f);
  assert_int_equal(b->x_u8[0], 114);
  assert_int_equal(b->nbox[1], 1);
  assert_int_equal(graft_loader_next(&l, &b), GRAFT_OK);
  assert_int_equal(b->n, 1);
  assert_int_equal(b->nbox[0], 0);
  /* Stop mid-epoch: a new epoch starts cleanly, then free with work queued. */
  assert_int_equal(graft_loader_start_epoch(&l, 1), GRAFT_OK);
  assert_int_equal(graft_loader_next(&l, &b), GRAFT_OK);
  assert_int_equal(graft_loader_start_epoch(&l, 2), GRAFT_OK);
  graft_loader_free(&l);
  assert_int_equal(ca.live, 0);
  graft_loader_free(&l);
  graft_dataset_free(&ds);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epochs_and_workers),
      cmocka_unit_test(test_balanced_epochs),
      cmocka_unit_test(test_bad_image_policies),
      cmocka_unit_test(test_caches_match_decoding),
      cmocka_unit_test(test_detection_and_allocator),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

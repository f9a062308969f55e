/* test_data_sampler.c: epoch shuffles are seeded permutations, rank shards
 * cover every sample exactly once, class-balanced draws give every class
 * an equal share of an imbalanced split, and stratified k-fold spreads
 * every class evenly over the folds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/sampler.h"

static void test_epoch_order(void **state) {
  (void)state;
  enum { N = 1000 };
  size_t a[N], b[N], c[N];
  graft_epoch_order(N, 5, 0, 1, a);
  graft_epoch_order(N, 5, 0, 1, b);
  graft_epoch_order(N, 5, 1, 1, c);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  char seen[N] = {0};
  for (int i = 0; i < N; i++) seen[a[i]]++;
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  graft_epoch_order(N, 5, 3, 0, a);
  for (int i = 0; i < N; i++) assert_int_equal(a[i], i);
}

static void test_shards_cover_once(void **state) {
  (void)state;
  static const size_t ns[] = {0, 1, 7, 64, 1001};
  static const int worlds[] = {1, 2, 3, 8};
  for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++)
    for (size_t wi = 0; wi < sizeof worlds / sizeof *worlds; wi++) {
      size_t n = ns[ni];
      int world = worlds[wi];
      int *hits = calloc(n + 1, sizeof *hits);
      size_t *idx = malloc((n + 1) * sizeof *idx);
      size_t total = 0, lo = n, hi = 0;
      for (int r = 0; r < world; r++) {
        size_t cnt = 0;
        assert_int_equal(graft_shard_indices(n, 9, 2, 1, r, world, idx, &cnt), GRAFT_OK);
        assert_int_equal(cnt, graft_shard_count(n, r, world));
        for (size_t i = 0; i < cnt; i++) hits[idx[i]]++;
        total += cnt;
        if (cnt < lo) lo = cnt;
        if (cnt > hi) hi = cnt;
      }
      assert_int_equal(total, n);
      for (size_t i = 0; i < n; i++) assert_int_equal(hits[i], 1);
      assert_true(hi - lo <= 1);
      free(hits);
      free(idx);
    }
  size_t idx[4], cnt;
  assert_int_equal(graft_shard_indices(4, 1, 0, 1, 2, 2, idx, &cnt), GRAFT_EINVAL);
  printf("shards of n in {0,1,7,64,1001} over 1,2,3,8 ranks: every sample exactly once\n");
}

enum { SPLIT = 100, CLASSES = 4 };

/* 90 / 9 / 1 samples in classes 0, 1, 2, or with gap in 0, 2, 3. */
static void imbalanced_labels(int *labels, int gap) {
  for (int i = 0; i < SPLIT; i++) labels[i] = (i < 90 ? 0 : i < 99 ? 1 : 2) + (gap && i >= 90);
}

/* Draws `epochs` balanced epochs of labels (SPLIT): share receives each
 * class's share of all draws, hits how often each sample came up. */
static void balanced_shares(const int *labels, int epochs, double share[CLASSES], size_t hits[SPLIT]) {
  size_t order[SPLIT], per[CLASSES] = {0};
  memset(hits, 0, SPLIT * sizeof *hits);
  for (int e = 0; e < epochs; e++) {
    assert_int_equal(graft_balanced_order(labels, SPLIT, 3, e, order), GRAFT_OK);
    for (int i = 0; i < SPLIT; i++) {
      per[labels[order[i]]]++;
      hits[order[i]]++;
    }
  }
  for (int c = 0; c < CLASSES; c++) share[c] = (double)per[c] / ((double)epochs * SPLIT);
}

static void test_balanced_shares(void **state) {
  (void)state;
  /* 90 / 9 / 1 samples, then the same with class 1 left empty. */
  enum { EPOCHS = 2000 };
  const double tol = 0.01;
  int labels[SPLIT];
  double share[CLASSES];
  size_t hits[SPLIT];
  for (int layout = 0; layout < 2; layout++) {
    imbalanced_labels(labels, layout);
    balanced_shares(labels, EPOCHS, share, hits);
    printf("90/9/1 %s, %d epochs of %d draws: class shares %.4f %.4f %.4f %.4f (want 1/3 +- %.2f)\n",
           layout ? "in classes 0, 2, 3" : "in classes 0, 1, 2", EPOCHS, SPLIT, share[0], share[1], share[2],
           share[3], tol);
    for (int c = 0; c < CLASSES; c++) {
      int present = c == 0 || c == 1 + layout || c == 2 + layout;
      assert_true(present ? fabs(share[c] - 1.0 / 3.0) < tol : share[c] == 0.0);
    }
  }
  /* Within a class every sample is as likely: class 0's 90 samples each
   * come up about EPOCHS * SPLIT / 3 / 90 times. */
  double want = EPOCHS * SPLIT / 3.0 / 90.0, worst = 0;
  for (int i = 0; i < 90; i++) worst = fmax(worst, fabs((double)hits[i] - want) / want);
  printf("class 0 samples drawn %.0f times each, largest deviation %.1f%%\n", want, 100 * worst);
  assert_true(worst < 0.2);
}

static void test_balanced_seeded(void **state) {
  (void)state;
  int labels[SPLIT];
  size_t a[SPLIT], b[SPLIT], c[SPLIT];
  imbalanced_labels(labels, 0);
  assert_int_equal(graft_balanced_order(labels, SPLIT, 5, 4, a), GRAFT_OK);
  assert_int_equal(graft_balanced_order(labels, SPLIT, 5, 4, b), GRAFT_OK);
  assert_memory_equal(a, b, sizeof a);
  assert_int_equal(graft_balanced_order(labels, SPLIT, 5, 5, c), GRAFT_OK);
  assert_memory_not_equal(a, c, sizeof a);
  assert_int_equal(graft_balanced_order(labels, SPLIT, 6, 4, c), GRAFT_OK);
  assert_memory_not_equal(a, c, sizeof a);
  assert_int_equal(graft_balanced_order(labels, 0, 5, 4, c), GRAFT_OK);
  labels[7] = -1;
  assert_int_equal(graft_balanced_order(labels, SPLIT, 5, 4, c), GRAFT_EINVAL);
}

static void test_balanced_shards(void **state) {
  (void)state;
  static const int worlds[] = {1, 2, 3, 8};
  int labels[SPLIT];
  size_t order[SPLIT], mine[SPLIT], again[SPLIT], joined[SPLIT];
  imbalanced_labels(labels, 0);
  assert_int_equal(graft_balanced_order(labels, SPLIT, 9, 2, order), GRAFT_OK);
  for (size_t wi = 0; wi < sizeof worlds / sizeof *worlds; wi++) {
    int world = worlds[wi];
    int taken[SPLIT] = {0};
    for (int r = 0; r < world; r++) {
      size_t cnt = graft_shard_take(order, SPLIT, r, world, mine);
      assert_int_equal(cnt, graft_shard_count(SPLIT, r, world));
      for (size_t i = 0; i < cnt; i++) {
        size_t pos = (size_t)r + i * (size_t)world;
        taken[pos]++;
        joined[pos] = mine[i];
      }
      memcpy(again, order, sizeof order);
      assert_int_equal(graft_shard_take(again, SPLIT, r, world, again), cnt);
      assert_memory_equal(again, mine, cnt * sizeof *mine);
    }
    for (int i = 0; i < SPLIT; i++) assert_int_equal(taken[i], 1);
    assert_memory_equal(joined, order, sizeof order);
  }
  printf("a balanced draw of %d over 1,2,3,8 ranks: every position once, together the whole draw\n", SPLIT);
}

static void test_kfold_stratified(void **state) {
  (void)state;
  enum { N = 103, K = 5, C = 4 };
  int labels[N], fold[N], fold2[N];
  for (int i = 0; i < N; i++) labels[i] = i < 50 ? 0 : i < 80 ? 1 : i < 97 ? 2 : 3;
  assert_int_equal(graft_kfold_assign(labels, N, K, 11, fold), GRAFT_OK);
  assert_int_equal(graft_kfold_assign(labels, N, K, 11, fold2), GRAFT_OK);
  assert_memory_equal(fold, fold2, sizeof fold);
  int per[C][K], size[K];
  memset(per, 0, sizeof per);
  memset(size, 0, sizeof size);
  for (int i = 0; i < N; i++) {
    assert_true(fold[i] >= 0 && fold[i] < K);
    per[labels[i]][fold[i]]++;
    size[fold[i]]++;
  }
  for (int c = 0; c < C; c++) {
    int lo = N, hi = 0;
    for (int f = 0; f < K; f++) {
      if (per[c][f] < lo) lo = per[c][f];
      if (per[c][f] > hi) hi = per[c][f];
    }
    printf("class %d: per-fold counts %d..%d\n", c, lo, hi);
    assert_true(hi - lo <= 1);
  }
  int lo = N, hi = 0;
  for (int f = 0; f < K; f++) {
    if (size[f] < lo) lo = size[f];
    if (size[f] > hi) hi = size[f];
  }
  assert_true(hi - lo <= 1);
  assert_int_equal(graft_kfold_assign(labels, N, K, 12, fold2), GRAFT_OK);
  assert_memory_not_equal(fold, fold2, sizeof fold);
  assert_int_equal(graft_kfold_assign(labels, N, 1, 11, fold2), GRAFT_EINVAL);
  labels[3] = -1;
  assert_int_equal(graft_kfold_assign(labels, N, K, 11, fold2), GRAFT_EINVAL);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_epoch_order),
      cmocka_unit_test(test_shards_cover_once),
      cmocka_unit_test(test_balanced_shares),
      cmocka_unit_test(test_balanced_seeded),
      cmocka_unit_test(test_balanced_shards),
      cmocka_unit_test(test_kfold_stratified),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

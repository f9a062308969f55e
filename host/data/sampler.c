/* sampler.c: epoch orders, rank shards and stratified folds (see sampler.h). */
#include "data/sampler.h"

#include <stdlib.h>

#include "core/log.h"

/* Stream tags, so the shuffle or draw of an epoch and the deal of a fold
 * never share random numbers with augmentation. */
#define TAG_EPOCH 0x45504F4348ull
#define TAG_BALANCED 0x42414C414E4345ull
#define TAG_FOLD 0x464F4C44ull

void graft_shuffle(size_t *v, size_t n, graft_rng *r) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)graft_rng_below(r, i);
    size_t t = v[i - 1];
    v[i - 1] = v[j];
    v[j] = t;
  }
}

void graft_epoch_order(size_t n, uint64_t seed, int epoch, int shuffle, size_t *order) {
  for (size_t i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return;
  graft_rng r;
  graft_rng_seed3(&r, seed, TAG_EPOCH, (uint64_t)epoch);
  graft_shuffle(order, n, &r);
}

size_t graft_shard_count(size_t n, int rank, int world) {
  if (world <= 0 || rank < 0 || rank >= world || (size_t)rank >= n) return 0;
  return (n - (size_t)rank + (size_t)world - 1) / (size_t)world;
}

size_t graft_shard_take(const size_t *order, size_t n, int rank, int world, size_t *out) {
  size_t m = graft_shard_count(n, rank, world);
  for (size_t i = 0; i < m; i++) out[i] = order[(size_t)rank + i * (size_t)world];
  return m;
}

graft_status graft_shard_indices(size_t n, uint64_t seed, int epoch, int shuffle, int rank,
                                 int world, size_t *out, size_t *count) {
  *count = 0;
  if (world <= 0 || rank < 0 || rank >= world)
    GRAFT_FAIL(GRAFT_EINVAL, "rank %d is not in a world of %d", rank, world);
  size_t *order = malloc((n ? n : 1) * sizeof *order);
  if (!order) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate an order of %zu samples", n);
  graft_epoch_order(n, seed, epoch, shuffle, order);
  *count = graft_shard_take(order, n, rank, world, out);
  free(order);
  return GRAFT_OK;
}

/* Groups the samples by class, keeping their order (a counting sort):
 * *members (n) lists class 0's samples, then class 1's, and so on; class c
 * ends there at (*end)[c], for c below *classes (the largest label + 1). */
static graft_status group_by_class(const int *labels, size_t n, size_t **members, size_t **end, int *classes) {
  int max_label = -1;
  for (size_t i = 0; i < n; i++) {
    if (labels[i] < 0) GRAFT_FAIL(GRAFT_EINVAL, "sample %zu has no class (label %d)", i, labels[i]);
    if (labels[i] > max_label) max_label = labels[i];
  }
  size_t *m = malloc((n ? n : 1) * sizeof *m);
  size_t *e = calloc((size_t)max_label + 2, sizeof *e);
  if (!m || !e) {
    free(m);
    free(e);
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot group %zu samples by class", n);
  }
  for (size_t i = 0; i < n; i++) e[labels[i] + 1]++;
  for (int c = 0; c <= max_label; c++) e[c + 1] += e[c];
  for (size_t i = 0; i < n; i++) m[e[labels[i]]++] = i;
  *members = m;
  *end = e;
  *classes = max_label + 1;
  return GRAFT_OK;
}

graft_status graft_balanced_order(const int *labels, size_t n, uint64_t seed, int epoch, size_t *order) {
  size_t *members, *end;
  int classes, live = 0;
  GRAFT_TRY(group_by_class(labels, n, &members, &end, &classes));
  /* Keep the ends of the classes that have samples; each of them begins
   * where the one kept before it ends. */
  for (int c = 0; c < classes; c++)
    if (end[c] > (live ? end[live - 1] : 0)) end[live++] = end[c];
  graft_rng r;
  graft_rng_seed3(&r, seed, TAG_BALANCED, (uint64_t)epoch);
  for (size_t i = 0; i < n; i++) {
    size_t c = (size_t)graft_rng_below(&r, (uint64_t)live);
    size_t begin = c ? end[c - 1] : 0;
    order[i] = members[begin + graft_rng_below(&r, end[c] - begin)];
  }
  free(end);
  free(members);
  return GRAFT_OK;
}

graft_status graft_kfold_assign(const int *labels, size_t n, int k, uint64_t seed, int *fold_of) {
  if (k < 2) GRAFT_FAIL(GRAFT_EINVAL, "k-fold needs at least 2 folds, got %d", k);
  if ((size_t)k > n) GRAFT_FAIL(GRAFT_EINVAL, "%d folds for only %zu samples", k, n);
  size_t *members, *end;
  int classes;
  GRAFT_TRY(group_by_class(labels, n, &members, &end, &classes));
  size_t next = 0, begin = 0;
  for (int c = 0; c < classes; c++) {
    size_t m = end[c] - begin;
    graft_rng r;
    graft_rng_seed3(&r, seed, TAG_FOLD, (uint64_t)c);
    graft_shuffle(members + begin, m, &r);
    for (size_t j = 0; j < m; j++) fold_of[members[begin + j]] = (int)(next++ % (size_t)k);
    begin = end[c];
  }
  free(end);
  free(members);
  return GRAFT_OK;
}

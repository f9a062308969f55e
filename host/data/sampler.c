/* sampler.c: epoch orders, rank shards and stratified folds (see sampler.h). */
#include "data/sampler.h"

#include <stdlib.h>

#include "core/log.h"

/* Stream tags, so the shuffle of an epoch and the deal of a fold never
 * share random numbers with augmentation. */
#define TAG_EPOCH 0x45504F4348ull
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

graft_status graft_shard_indices(size_t n, uint64_t seed, int epoch, int shuffle, int rank,
                                 int world, size_t *out, size_t *count) {
  *count = 0;
  if (world <= 0 || rank < 0 || rank >= world)
    GRAFT_FAIL(GRAFT_EINVAL, "rank %d is not in a world of %d", rank, world);
  size_t *order = malloc((n ? n : 1) * sizeof *order);
  if (!order) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate an order of %zu samples", n);
  graft_epoch_order(n, seed, epoch, shuffle, order);
  size_t m = 0;
  for (size_t i = (size_t)rank; i < n; i += (size_t)world) out[m++] = order[i];
  free(order);
  *count = m;
  return GRAFT_OK;
}

graft_status graft_kfold_assign(const int *labels, size_t n, int k, uint64_t seed, int *fold_of) {
  if (k < 2) GRAFT_FAIL(GRAFT_EINVAL, "k-fold needs at least 2 folds, got %d", k);
  if ((size_t)k > n) GRAFT_FAIL(GRAFT_EINVAL, "%d folds for only %zu samples", k, n);
  int max_label = -1;
  for (size_t i = 0; i < n; i++) {
    if (labels[i] < 0) GRAFT_FAIL(GRAFT_EINVAL, "sample %zu has no class (label %d)", i, labels[i]);
    if (labels[i] > max_label) max_label = labels[i];
  }
  size_t *members = malloc(n * sizeof *members);
  size_t *start = calloc((size_t)max_label + 2, sizeof *start);
  if (!members || !start) {
    free(members);
    free(start);
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate k-fold indices for %zu samples", n);
  }
  /* Group the samples by class (a counting sort that keeps their order). */
  for (size_t i = 0; i < n; i++) start[labels[i] + 1]++;
  for (int c = 0; c <= max_label; c++) start[c + 1] += start[c];
  for (size_t i = 0; i < n; i++) members[start[labels[i]]++] = i;
  size_t next = 0, begin = 0;
  for (int c = 0; c <= max_label; c++) {
    size_t m = start[c] - begin;
    graft_rng r;
    graft_rng_seed3(&r, seed, TAG_FOLD, (uint64_t)c);
    graft_shuffle(members + begin, m, &r);
    for (size_t j = 0; j < m; j++) fold_of[members[begin + j]] = (int)(next++ % (size_t)k);
    begin = start[c];
  }
  free(start);
  free(members);
  return GRAFT_OK;
}

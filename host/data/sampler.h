/* sampler.h: which samples a rank sees, in what order: seeded per-epoch
 * shuffles or class-balanced draws, disjoint sharding across ranks, and
 * stratified k-fold assignment for cross-validation. Pure index arithmetic: the same seed
 * gives the same order on every machine and every rank. */
#ifndef GRAFT_DATA_SAMPLER_H
#define GRAFT_DATA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/rng.h"

/* Fisher-Yates shuffle of v (n). */
void graft_shuffle(size_t *v, size_t n, graft_rng *r);

/* order (n) receives a permutation of 0..n-1 for this epoch: shuffled by
 * (seed, epoch), or the identity when shuffle is 0. Every rank computes the
 * same permutation. */
void graft_epoch_order(size_t n, uint64_t seed, int epoch, int shuffle, size_t *order);

/* order (n) receives this epoch's class-balanced draw, seeded by (seed,
 * epoch): n draws with replacement, each a class chosen uniformly among
 * the classes that have samples, then one of its samples uniformly. Every
 * class is drawn equally often in expectation, as with torch's
 * WeightedRandomSampler(1 / count(class of sample), n, replacement=True).
 * labels (n) are class indices >= 0. */
graft_status graft_balanced_order(const int *labels, size_t n, uint64_t seed, int epoch, size_t *order);

/* How many of n positions rank takes when world ranks share them: rank
 * takes positions rank, rank + world, ... so ranks are disjoint, together
 * cover all n, and their counts differ by at most one. */
size_t graft_shard_count(size_t n, int rank, int world);

/* Copies rank's positions of an epoch order (n) to out, in order, and
 * returns their number, graft_shard_count(n, rank, world). out may be
 * order itself. */
size_t graft_shard_take(const size_t *order, size_t n, int rank, int world, size_t *out);

/* The sample indices rank handles this epoch, in order: its positions of
 * graft_epoch_order. out holds graft_shard_count(n, rank, world) entries;
 * *count receives that number. */
graft_status graft_shard_indices(size_t n, uint64_t seed, int epoch, int shuffle, int rank,
                                 int world, size_t *out, size_t *count);

/* Stratified k-fold: fold_of (n) receives a fold in [0, k) for each
 * sample. Each class is shuffled by seed and dealt round robin, continuing
 * from where the previous class stopped, so every class is spread evenly
 * over the folds and fold sizes differ by at most one. labels (n) are
 * class indices >= 0. */
graft_status graft_kfold_assign(const int *labels, size_t n, int k, uint64_t seed, int *fold_of);

#endif

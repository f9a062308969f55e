/* rng.h: the small deterministic generator behind every random choice of
 * the data pipeline (shuffles, splits, folds, augmentation).
 * Streams are derived by hashing (seed, epoch, index) with splitmix64, so a
 * sample's augmentation depends only on those numbers and never on which
 * worker thread handled it or when. */
#ifndef GRAFT_DATA_RNG_H
#define GRAFT_DATA_RNG_H

#include <stdint.h>

typedef struct {
  uint64_t s[2]; /* xorshift128+ state, never all zero */
} graft_rng;

static inline uint64_t graft_splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/* A stream for (seed, a, b): for example (seed, epoch, sample index). */
static inline void graft_rng_seed3(graft_rng *r, uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t h = graft_splitmix64(seed ^ 0x6772616674ull);
  h = graft_splitmix64(h ^ a);
  h = graft_splitmix64(h ^ (b * 0xD1342543DE82EF95ull));
  r->s[0] = graft_splitmix64(h);
  r->s[1] = graft_splitmix64(h + 1) | 1;
}

static inline uint64_t graft_rng_next(graft_rng *r) {
  uint64_t x = r->s[0], y = r->s[1];
  r->s[0] = y;
  x ^= x << 23;
  r->s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
  return r->s[1] + y;
}

/* Uniform in [0, 1) with 53 random bits. */
static inline double graft_rng_unit(graft_rng *r) {
  return (double)(graft_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double graft_rng_uniform(graft_rng *r, double lo, double hi) {
  return lo + (hi - lo) * graft_rng_unit(r);
}

/* Uniform integer in [0, n) for n >= 1 (the modulo bias is below n / 2^64). */
static inline uint64_t graft_rng_below(graft_rng *r, uint64_t n) { return graft_rng_next(r) % n; }

#endif

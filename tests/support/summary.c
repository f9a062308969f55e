/* summary.c: tensor summaries matching tools/hashinit.py. */
#include "summary.h"

#include <math.h>

#include "ops/math.h"

#define PROJ_SEED 0x5EEDull
#define SAMPLE_SEED 0xA11CEull

void summary_compute(const float *t, size_t n, double out[SUMMARY_LEN]) {
  double sq = 0.0, mx = 0.0;
  for (size_t i = 0; i < n; i++) {
    sq += (double)t[i] * (double)t[i];
    if (fabs((double)t[i]) > mx) mx = fabs((double)t[i]);
  }
  out[0] = sqrt(sq);
  out[1] = mx;
  for (int j = 0; j < SUMMARY_NPROJ; j++) {
    uint64_t seed = graft_hash64(PROJ_SEED, (uint64_t)j);
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)t[i] * (double)(2.0f * graft_hash_uniform(seed, i) - 1.0f);
    out[2 + j] = s;
  }
  for (int k = 0; k < SUMMARY_NSAMPLE; k++)
    out[2 + SUMMARY_NPROJ + k] = n ? (double)t[graft_hash64(SAMPLE_SEED, (uint64_t)k) % n] : 0.0;
}

double summary_error(const double got[SUMMARY_LEN], const float want[SUMMARY_LEN]) {
  double norm = fmax((double)want[0], 1e-12), mx = fmax((double)want[1], 1e-12);
  double e = fabs(got[0] - (double)want[0]) / norm;
  for (int j = 0; j < SUMMARY_NPROJ; j++) e = fmax(e, fabs(got[2 + j] - (double)want[2 + j]) / norm);
  for (int k = 0; k < SUMMARY_NSAMPLE; k++) {
    int i = 2 + SUMMARY_NPROJ + k;
    e = fmax(e, fabs(got[i] - (double)want[i]) / mx);
  }
  return e;
}

/* summary.h: the tensor summary of tools/hashinit.py, computed in C, so a
 * parity test can compare a 25-million-element gradient with PyTorch's
 * through 42 numbers: L2 norm, largest magnitude, 8 projections onto hashed
 * +-1 patterns and 32 hashed samples, over the tensor in PyTorch's layout. */
#ifndef GRAFT_SUMMARY_H
#define GRAFT_SUMMARY_H

#include <stddef.h>

#define SUMMARY_NPROJ 8
#define SUMMARY_NSAMPLE 32
#define SUMMARY_LEN (2 + SUMMARY_NPROJ + SUMMARY_NSAMPLE)

void summary_compute(const float *t, size_t n, double out[SUMMARY_LEN]);

/* Error of a summary against a reference, scaled as the parity tests do:
 * the norm relative to the reference norm, projections relative to the
 * reference norm, samples relative to the reference's largest magnitude.
 * Returns the largest of the three. */
double summary_error(const double got[SUMMARY_LEN], const float want[SUMMARY_LEN]);

#endif

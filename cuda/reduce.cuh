/* reduce.cuh: deterministic sums for the loss kernels (CUDA only). A loss
 * is a sum of per-item terms divided by a sum of per-item weights. Stage 1,
 * the loss's own kernel, leaves one (numerator, denominator) pair of
 * doubles per block in the context's workspace; stage 2,
 * graft_reduce_finish, adds the pairs in one block and writes
 * numerator / denominator as the float loss. The number of stage-1 blocks
 * depends only on the problem size, so the order of the additions, and
 * with it the result, is the same on every run. Sums are made with CUB's
 * BlockReduce. */
#ifndef GRAFT_CUDA_REDUCE_CUH
#define GRAFT_CUDA_REDUCE_CUH

#include <cub/block/block_reduce.cuh>

#include "gpu_impl.h"

#define GRAFT_REDUCE_THREADS 256
#define GRAFT_REDUCE_PARTS 256 /* stage-1 blocks at most */
/* Workspace bytes of the reduction: the numerators, then the denominators. */
#define GRAFT_REDUCE_WORKSPACE (2 * GRAFT_REDUCE_PARTS * sizeof(double))

typedef cub::BlockReduce<double, GRAFT_REDUCE_THREADS> graft_block_sum;

/* Stage-1 blocks for items that a block takes per_block at a time. */
static inline int graft_reduce_parts(int64_t items, int64_t per_block) {
  int64_t parts = (items + per_block - 1) / per_block;
  if (parts < 1) parts = 1;
  return (int)(parts < GRAFT_REDUCE_PARTS ? parts : GRAFT_REDUCE_PARTS);
}

/* Stage 1 for a mean over n items: block b writes the sum of term(i) over
 * its grid-strided share of the items to num[b]. Term is a device functor
 * float operator()(int64_t i) const. */
template <class Term>
__global__ void graft_sum_terms_kernel(int64_t n, Term term,
                                       double *__restrict__ num) /* (parts) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  double s = 0.0;
  GRAFT_GRID_STRIDE_LOOP(i, n) s += (double)term(i);
  const double total = graft_block_sum(tmp).Sum(s);
  if (threadIdx.x == 0) num[blockIdx.x] = total;
}

/* Checks the workspace holds the reduction and points num and den into it. */
graft_status graft_reduce_workspace(graft_ctx *ctx, const char *op, double **num, double **den);

/* Stage 2: *out = (sum of num[0..parts)) / (sum of den[0..parts)), or over
 * den_const when den is NULL. */
graft_status graft_reduce_finish(graft_ctx *ctx, int parts, const double *num, const double *den,
                                 double den_const, float *out);

#endif

/* metrics.cu: metric accumulation on the device, so an epoch costs the host
 * one read of a few hundred bytes. Classification: one thread per sample
 * ranks its label with the rule of metrics/metrics_math.h (the CPU
 * reference's own code) and adds to the confusion matrix and the top-5
 * count with 64-bit atomics; integer sums do not depend on their order.
 * Regression: squared and absolute errors in double through a fixed
 * two-stage reduction (per-block partial sums in the workspace, then one
 * block adds them in order), so the sums are the same on every run. */
#include <math.h>

#include "metrics/metrics_math.h"
#include "ops_gpu.h"
#include "reduce.cuh"

static_assert(sizeof(unsigned long long) == sizeof(uint64_t),
              "64-bit atomics on uint64_t counters");
static_assert(GRAFT_REDUCE_PARTS <= GRAFT_REDUCE_THREADS, "stage 2 has a thread per partial sum");

static __global__ void metrics_update_kernel(
    int n, int k,
    const float *__restrict__ logits,        /* (N, K) */
    const int32_t *__restrict__ labels,      /* (N) */
    unsigned long long *__restrict__ counts) /* (K*K + 2) accumulated */
{
  const int64_t kk = (int64_t)k * k;
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    const int label = labels[i];
    if (label < 0 || label >= k) {
      atomicAdd(&counts[kk + 1], 1ULL);
      continue;
    }
    int pred;
    const int rank = graft_metrics_rank(logits + i * k, k, label, &pred);
    atomicAdd(&counts[(int64_t)label * k + pred], 1ULL);
    if (rank < GRAFT_METRICS_TOPK) atomicAdd(&counts[kk], 1ULL);
  }
}

/* Stage 1: block b writes its share's squared and absolute error sums. */
static __global__ void regression_partial_kernel(int64_t n,
                                                 const float *__restrict__ pred,   /* (N) */
                                                 const float *__restrict__ target, /* (N) */
                                                 double *__restrict__ sq,  /* (gridDim.x) */
                                                 double *__restrict__ ab)  /* (gridDim.x) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  double s = 0.0, a = 0.0;
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    const double e = (double)pred[i] - (double)target[i];
    s += e * e;
    a += fabs(e);
  }
  const double bs = graft_block_sum(tmp).Sum(s);
  __syncthreads();
  const double ba = graft_block_sum(tmp).Sum(a);
  if (threadIdx.x == 0) {
    sq[blockIdx.x] = bs;
    ab[blockIdx.x] = ba;
  }
}

/* Stage 2, one block of GRAFT_REDUCE_THREADS >= parts threads: adds the
 * partial sums and the sample count to the accumulators. */
static __global__ void regression_finish_kernel(int parts, double n,
                                                const double *__restrict__ sq, /* (parts) */
                                                const double *__restrict__ ab, /* (parts) */
                                                double *__restrict__ sums)     /* (3) accumulated */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  const int t = threadIdx.x;
  const double s = graft_block_sum(tmp).Sum(t < parts ? sq[t] : 0.0);
  __syncthreads();
  const double a = graft_block_sum(tmp).Sum(t < parts ? ab[t] : 0.0);
  if (t == 0) {
    sums[0] += s;
    sums[1] += a;
    sums[2] += n;
  }
}

extern "C" graft_status graft_metrics_update_gpu(graft_ctx *ctx, int n, int k,
                                                 const float *logits,   /* (N, K) */
                                                 const int32_t *labels, /* (N) */
                                                 uint64_t *counts)      /* (K*K + 2) accumulated */
{
  if (n < 0 || k < 1) GRAFT_FAIL(GRAFT_EINVAL, "metrics_update: bad sizes n=%d k=%d", n, k);
  if (!counts || (n > 0 && (!logits || !labels)))
    GRAFT_FAIL(GRAFT_EINVAL, "metrics_update: NULL tensor");
  if (n == 0) return GRAFT_OK;
  graft_gpu *g = graft_gpu_of(ctx);
  metrics_update_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
      n, k, logits, labels, reinterpret_cast<unsigned long long *>(counts));
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_metrics_update_regression_gpu(graft_ctx *ctx, int64_t n,
                                                            const float *pred,   /* (N) */
                                                            const float *target, /* (N) */
                                                            double *sums) /* (3) accumulated */
{
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "metrics_update_regression: negative n %lld", (long long)n);
  if (!sums || (n > 0 && (!pred || !target)))
    GRAFT_FAIL(GRAFT_EINVAL, "metrics_update_regression: NULL tensor");
  if (n == 0) return GRAFT_OK;
  double *sq, *ab;
  GRAFT_TRY(graft_reduce_workspace(ctx, "metrics_update_regression", &sq, &ab));
  graft_gpu *g = graft_gpu_of(ctx);
  const int parts = graft_reduce_parts(n, GRAFT_REDUCE_THREADS);
  regression_partial_kernel<<<parts, GRAFT_REDUCE_THREADS, 0, g->stream>>>(n, pred, target, sq, ab);
  GRAFT_LAUNCH_CHECK(g);
  regression_finish_kernel<<<1, GRAFT_REDUCE_THREADS, 0, g->stream>>>(parts, (double)n, sq, ab,
                                                                      sums);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

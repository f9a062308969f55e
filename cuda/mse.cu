/* mse.cu: mean squared error over n elements on the device: the squared
 * differences summed in double through the two-stage reduction of
 * reduce.cuh, and the gradient 2 * dloss / n * (pred - target). */
#include "ops_gpu.h"
#include "ops/math.h"
#include "reduce.cuh"

struct mse_term {
  const float *p; /* (n) predictions */
  const float *t; /* (n) targets */
  __device__ double operator()(int64_t i) const { return graft_mse_term(p[i], t[i]); }
};

static __global__ void mse_backward_kernel(int64_t n,
                                           const float *__restrict__ p,     /* (n) */
                                           const float *__restrict__ t,     /* (n) */
                                           const float *__restrict__ dloss, /* (1) */
                                           float *__restrict__ dp)          /* (n) accumulated */
{
  const float scale = 2.0f * *dloss / (float)n;
  GRAFT_GRID_STRIDE_LOOP(i, n) dp[i] += graft_mul_rn(scale, p[i] - t[i]);
}

static graft_status pair_check(const char *op, int64_t n, const float *a, const float *b) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (n > 0 && (!a || !b)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

extern "C" graft_status graft_mse_forward_gpu(graft_ctx *ctx, int64_t n,
                                              const float *pred,   /* (n) */
                                              const float *target, /* (n) */
                                              float *loss)         /* (1) */
{
  GRAFT_TRY(pair_check("mse_forward", n, pred, target));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "mse_forward: NULL loss");
  double *num, *den;
  GRAFT_TRY(graft_reduce_workspace(ctx, "mse_forward", &num, &den));
  graft_gpu *g = graft_gpu_of(ctx);
  const int parts = graft_reduce_parts(n, GRAFT_REDUCE_THREADS);
  mse_term term = {pred, target};
  graft_sum_terms_kernel<<<parts, GRAFT_REDUCE_THREADS, 0, g->stream>>>(n, term, num);
  GRAFT_LAUNCH_CHECK(g);
  /* An empty input gives 0/0 = NaN, as PyTorch's mean of nothing does. */
  return graft_reduce_finish(ctx, parts, num, NULL, (double)n, loss);
}

extern "C" graft_status graft_mse_backward_gpu(graft_ctx *ctx, int64_t n,
                                               const float *pred,   /* (n) */
                                               const float *target, /* (n) */
                                               const float *dloss,  /* (1) */
                                               float *dpred)        /* (n) accumulated, or NULL */
{
  GRAFT_TRY(pair_check("mse_backward", n, pred, target));
  if (!dpred || n == 0) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "mse_backward: NULL dloss");
  graft_gpu *g = graft_gpu_of(ctx);
  mse_backward_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, pred, target, dloss,
                                                                       dpred);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

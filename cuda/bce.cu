/* bce.cu: binary cross-entropy with logits, mean over n elements, on the
 * device. Per element, in the form that cannot overflow:
 *   max(x, 0) - x*t + log(1 + exp(-|x|)),
 * summed in double through the two-stage reduction of reduce.cuh. The
 * gradient is (sigmoid(x) - t) * dloss / n with math.h's sigmoid. */
#include "ops/math.h"
#include "ops_gpu.h"
#include "reduce.cuh"

struct bce_term {
  const float *x; /* (n) logits */
  const float *t; /* (n) targets */
  __device__ double operator()(int64_t i) const { return graft_bce_term(x[i], t[i]); }
};

static __global__ void bce_backward_kernel(int64_t n,
                                           const float *__restrict__ x,     /* (n) */
                                           const float *__restrict__ t,     /* (n) */
                                           const float *__restrict__ dloss, /* (1) */
                                           float *__restrict__ dx)          /* (n) accumulated */
{
  const float scale = *dloss / (float)n;
  GRAFT_GRID_STRIDE_LOOP(i, n) dx[i] += graft_mul_rn(scale, graft_sigmoidf(x[i]) - t[i]);
}

static graft_status pair_check(const char *op, int64_t n, const float *a, const float *b) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: negative element count %lld", op, (long long)n);
  if (n > 0 && (!a || !b)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

extern "C" graft_status graft_bce_forward_gpu(graft_ctx *ctx, int64_t n,
                                              const float *logits,  /* (n) */
                                              const float *targets, /* (n) */
                                              float *loss)          /* (1) */
{
  GRAFT_TRY(pair_check("bce_forward", n, logits, targets));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "bce_forward: NULL loss");
  double *num, *den;
  GRAFT_TRY(graft_reduce_workspace(ctx, "bce_forward", &num, &den));
  graft_gpu *g = graft_gpu_of(ctx);
  const int parts = graft_reduce_parts(n, GRAFT_REDUCE_THREADS);
  bce_term term = {logits, targets};
  graft_sum_terms_kernel<<<parts, GRAFT_REDUCE_THREADS, 0, g->stream>>>(n, term, num);
  GRAFT_LAUNCH_CHECK(g);
  /* An empty input gives 0/0 = NaN, as PyTorch's mean of nothing does. */
  return graft_reduce_finish(ctx, parts, num, NULL, (double)n, loss);
}

extern "C" graft_status graft_bce_backward_gpu(graft_ctx *ctx, int64_t n,
                                               const float *logits,  /* (n) */
                                               const float *targets, /* (n) */
                                               const float *dloss,   /* (1) */
                                               float *dlogits)       /* (n) accumulated, or NULL */
{
  GRAFT_TRY(pair_check("bce_backward", n, logits, targets));
  if (!dlogits || n == 0) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "bce_backward: NULL dloss");
  graft_gpu *g = graft_gpu_of(ctx);
  bce_backward_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(n, logits, targets, dloss,
                                                                       dlogits);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* xent.cu: softmax cross-entropy fused into one pass per row, on the
 * device, with PyTorch's class weights, ignore_index and label smoothing.
 * With log-softmax lp, weights w (1 without), smoothing eps, K classes and
 * the non-ignored rows S (the formula of the CPU reference):
 *   loss = sum_{i in S} [(1-eps) w[t_i] (-lp[i][t_i]) + eps/K sum_c w[c] (-lp[i][c])]
 *          / sum_{i in S} w[t_i]
 *   dz[i][j] += dloss / W * [(1-eps) w[t_i] (p_j - [j == t_i]) + eps/K (p_j Sw - w[j])]
 * where W is the denominator and Sw the sum of the class weights.
 * A block owns a row at a time: it finds the row's maximum and
 * log-sum-exp with CUB block reductions and never writes the softmax out.
 * The forward leaves per-block sums for reduce.cuh's stage 2. A label
 * outside [0, K) that is not ignore_index cannot be reported from the
 * device without a synchronization, so it turns the loss and its row's
 * gradient into NaN, which the training loop's non-finite check catches. */
#include <math.h>


#include "ops_gpu.h"
#include "reduce.cuh"

typedef cub::BlockReduce<float, GRAFT_REDUCE_THREADS> row_max_reduce;

/* The larger of two floats, as a reduction operator. fmaxf passes over a
 * NaN; a NaN logit still makes the row's loss NaN through the exp sum. */
struct fmax_op {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

/* The row's log-sum-exp, known to every thread of the block. */
static __device__ double row_logsumexp(const float *__restrict__ z, /* (K) */ int k) {
  __shared__ typename row_max_reduce::TempStorage tmax;
  __shared__ typename graft_block_sum::TempStorage tsum;
  __shared__ float s_max;
  __shared__ double s_lse;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < k; c += blockDim.x) m = fmaxf(m, z[c]);
  const float bm = row_max_reduce(tmax).Reduce(m, fmax_op{});
  if (threadIdx.x == 0) s_max = bm;
  __syncthreads();
  const float mx = s_max;
  double s = 0.0;
  for (int c = threadIdx.x; c < k; c += blockDim.x) s += exp((double)z[c] - (double)mx); /* as loss_ref.c */
  const double bs = graft_block_sum(tsum).Sum(s);
  if (threadIdx.x == 0) s_lse = (double)mx + log(bs);
  __syncthreads();
  return s_lse;
}

static __device__ float class_weight(const float *__restrict__ cw, int c) {
  return cw ? cw[c] : 1.0f;
}

static __global__ void xent_forward_kernel(int n, int k, int ignore, float eps,
                                           const float *__restrict__ cw,     /* (K) or NULL */
                                           const float *__restrict__ logits, /* (N, K) */
                                           const int32_t *__restrict__ labels, /* (N) */
                                           double *__restrict__ num,  /* (gridDim.x) */
                                           double *__restrict__ den)  /* (gridDim.x) */
{
  __shared__ typename graft_block_sum::TempStorage tsmooth;
  double bnum = 0.0, bden = 0.0; /* meaningful in thread 0 */
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const int t = labels[r];
    if (t == ignore) continue;
    if (t < 0 || t >= k) {
      bnum = NAN;
      continue;
    }
    const float *z = logits + (int64_t)r * k; /* (K) */
    const double lse = row_logsumexp(z, k);
    double smooth = 0.0;
    if (eps > 0.0f) {
      double s = 0.0;
      for (int c = threadIdx.x; c < k; c += blockDim.x)
        s += (double)class_weight(cw, c) * (lse - (double)z[c]);
      smooth = graft_block_sum(tsmooth).Sum(s);
      __syncthreads();
    }
    const double wt = class_weight(cw, t);
    bnum += (1.0 - eps) * wt * (lse - (double)z[t]) + (double)eps / k * smooth;
    bden += wt;
  }
  if (threadIdx.x == 0) {
    num[blockIdx.x] = bnum;
    den[blockIdx.x] = bden;
  }
}

/* tot[0] = W, the summed weight of the non-ignored labels; tot[1] = Sw. */
static __global__ void xent_totals_kernel(int n, int k, int ignore,
                                          const float *__restrict__ cw,       /* (K) or NULL */
                                          const int32_t *__restrict__ labels, /* (N) */
                                          double *__restrict__ tot)           /* (2) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  double w = 0.0, sw = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const int t = labels[i];
    if (t != ignore && t >= 0 && t < k) w += class_weight(cw, t);
  }
  for (int c = threadIdx.x; c < k; c += blockDim.x) sw += class_weight(cw, c);
  const double bw = graft_block_sum(tmp).Sum(w);
  __syncthreads();
  const double bsw = graft_block_sum(tmp).Sum(sw);
  if (threadIdx.x == 0) {
    tot[0] = bw;
    tot[1] = bsw;
  }
}

static __global__ void xent_backward_kernel(int n, int k, int ignore, float eps,
                                            const float *__restrict__ cw,       /* (K) or NULL */
                                            const float *__restrict__ logits,   /* (N, K) */
                                            const int32_t *__restrict__ labels, /* (N) */
                                            const float *__restrict__ dloss,    /* (1) */
                                            const double *__restrict__ tot,     /* (2) */
                                            float *__restrict__ dlogits) /* (N, K) accumulated */
{
  const double g = *dloss;
  const double a = g * (1.0 - eps) / tot[0]; /* scale of the target term */
  const double b = g * eps / k / tot[0];     /* scale of the smoothing term */
  const double sw = tot[1];
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const int t = labels[r];
    if (t == ignore) continue;
    float *dz = dlogits + (int64_t)r * k; /* (K) */
    if (t < 0 || t >= k) {
      for (int j = threadIdx.x; j < k; j += blockDim.x) dz[j] = NAN;
      continue;
    }
    const float *z = logits + (int64_t)r * k; /* (K) */
    const double lse = row_logsumexp(z, k);
    const double wt = class_weight(cw, t);
    for (int j = threadIdx.x; j < k; j += blockDim.x) {
      const double p = exp((double)z[j] - lse);
      double gj = a * wt * (p - (j == t ? 1.0 : 0.0));
      if (eps > 0.0f) gj += b * (p * sw - (double)class_weight(cw, j));
      dz[j] += (float)gj;
    }
  }
}

static graft_status xent_check(const char *op, const graft_xent_desc *d, const float *logits,
                               const int32_t *labels) {
  if (!d) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL descriptor", op);
  if (d->n < 0 || d->k < 1) GRAFT_FAIL(GRAFT_EINVAL, "%s: bad shape n=%d k=%d", op, d->n, d->k);
  if (!(d->label_smoothing >= 0.0f && d->label_smoothing <= 1.0f))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: label smoothing %g is outside [0, 1]", op,
               (double)d->label_smoothing);
  if (d->n > 0 && (!logits || !labels)) GRAFT_FAIL(GRAFT_EINVAL, "%s: NULL tensor", op);
  return GRAFT_OK;
}

extern "C" graft_status graft_xent_forward_gpu(graft_ctx *ctx, const graft_xent_desc *d,
                                               const float *logits,   /* (N, K) */
                                               const int32_t *labels, /* (N) */
                                               float *loss)           /* (1) */
{
  GRAFT_TRY(xent_check("xent_forward", d, logits, labels));
  if (!loss) GRAFT_FAIL(GRAFT_EINVAL, "xent_forward: NULL loss");
  double *num, *den;
  GRAFT_TRY(graft_reduce_workspace(ctx, "xent_forward", &num, &den));
  graft_gpu *g = graft_gpu_of(ctx);
  const int parts = graft_reduce_parts(d->n, 1);
  xent_forward_kernel<<<parts, GRAFT_REDUCE_THREADS, 0, g->stream>>>(
      d->n, d->k, d->ignore_index, d->label_smoothing, d->class_weight, logits, labels, num, den);
  GRAFT_LAUNCH_CHECK(g);
  /* When every row is ignored the mean is 0/0 = NaN, as in PyTorch. */
  return graft_reduce_finish(ctx, parts, num, den, 0.0, loss);
}

extern "C" graft_status graft_xent_backward_gpu(
    graft_ctx *ctx, const graft_xent_desc *d,
    const float *logits,   /* (N, K) */
    const int32_t *labels, /* (N) */
    const float *dloss,    /* (1) */
    float *dlogits)        /* (N, K) accumulated, or NULL */
{
  GRAFT_TRY(xent_check("xent_backward", d, logits, labels));
  if (!dlogits || d->n == 0) return GRAFT_OK;
  if (!dloss) GRAFT_FAIL(GRAFT_EINVAL, "xent_backward: NULL dloss");
  double *tot, *unused;
  GRAFT_TRY(graft_reduce_workspace(ctx, "xent_backward", &tot, &unused));
  graft_gpu *g = graft_gpu_of(ctx);
  xent_totals_kernel<<<1, GRAFT_REDUCE_THREADS, 0, g->stream>>>(d->n, d->k, d->ignore_index,
                                                                d->class_weight, labels, tot);
  GRAFT_LAUNCH_CHECK(g);
  const unsigned rows = (unsigned)(d->n < GRAFT_GRID_CAP ? d->n : GRAFT_GRID_CAP);
  xent_backward_kernel<<<rows, GRAFT_REDUCE_THREADS, 0, g->stream>>>(
      d->n, d->k, d->ignore_index, d->label_smoothing, d->class_weight, logits, labels, dloss, tot,
      dlogits);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

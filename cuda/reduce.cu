/* reduce.cu: stage 2 of the loss reductions (see reduce.cuh): one block
 * adds the per-block partial sums and writes the loss. */
#include "reduce.cuh"

static __global__ void reduce_finish_kernel(int parts,
                                            const double *__restrict__ num, /* (parts) */
                                            const double *__restrict__ den, /* (parts) or NULL */
                                            double den_const,
                                            float *__restrict__ out)        /* (1) */
{
  __shared__ typename graft_block_sum::TempStorage tmp;
  double a = 0.0, b = 0.0;
  for (int i = threadIdx.x; i < parts; i += blockDim.x) {
    a += num[i];
    if (den) b += den[i];
  }
  const double sa = graft_block_sum(tmp).Sum(a);
  __syncthreads();
  const double sb = graft_block_sum(tmp).Sum(b);
  if (threadIdx.x == 0) *out = (float)(sa / (den ? sb : den_const));
}

graft_status graft_reduce_workspace(graft_ctx *ctx, const char *op, double **num, double **den) {
  if (!ctx->workspace || ctx->workspace_bytes < GRAFT_REDUCE_WORKSPACE)
    GRAFT_FAIL(GRAFT_EWORKSPACE, "%s: needs %zu bytes of workspace, the context has %zu", op,
               (size_t)GRAFT_REDUCE_WORKSPACE, ctx->workspace_bytes);
  *num = (double *)ctx->workspace;
  *den = *num + GRAFT_REDUCE_PARTS;
  return GRAFT_OK;
}

graft_status graft_reduce_finish(graft_ctx *ctx, int parts, const double *num, const double *den,
                                 double den_const, float *out) {
  graft_gpu *g = graft_gpu_of(ctx);
  reduce_finish_kernel<<<1, GRAFT_REDUCE_THREADS, 0, g->stream>>>(parts, num, den, den_const, out);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* cast.cu: the fp32 <-> bf16 conversion kernels of cast.h. Each is an
 * elementwise grid-stride loop; narrowing runs graft_round_bf16 (the
 * host's rounding, ops/math.h, also behind act_io.cuh's act_st) and
 * widening is exact (__bfloat162float, act_ld). */
#include <cuda_bf16.h>

#include "act_io.cuh"
#include "cast.h"
#include "gpu_impl.h"
#include "ops/math.h"

static __global__ void cast_f32_to_bf16_kernel(int64_t n, const float *__restrict__ src, /* (n) */
                                               __nv_bfloat16 *__restrict__ dst)          /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    __nv_bfloat16_raw r;
    r.x = graft_round_bf16(src[i]);
    dst[i] = r;
  }
}

static __global__ void cast_bf16_to_f32_kernel(int64_t n, int k,
                                               const __nv_bfloat16 *__restrict__ src, /* (n) */
                                               const float *__restrict__ bias, /* (k) or NULL */
                                               float *__restrict__ dst)        /* (n) */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) {
    const float v = __bfloat162float(src[i]);
    dst[i] = bias ? v + bias[i % k] : v;
  }
}

static __global__ void add_bf16_to_f32_kernel(int64_t n, const __nv_bfloat16 *__restrict__ src,
                                              float *__restrict__ dst) /* (n) accumulated */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) dst[i] += __bfloat162float(src[i]);
}

/* y (M, K) bf16 = y + bias (K) in fp32, rounded once; n = M*K. */
static __global__ void bias_add_bf16_kernel(int64_t n, int k,
                                            const float *__restrict__ bias, /* (K) */
                                            graft_bf16 *__restrict__ y)     /* (M, K) in place */
{
  GRAFT_GRID_STRIDE_LOOP(i, n) act_st(y, i, act_ld(y, i) + bias[i % k]);
}

extern "C" graft_status graft_cast_f32_to_bf16(graft_ctx *ctx, int64_t n, const float *src,
                                               uint16_t *dst) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (n <= 0) return GRAFT_OK;
  cast_f32_to_bf16_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
      n, src, reinterpret_cast<__nv_bfloat16 *>(dst));
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_cast_bf16_to_f32(graft_ctx *ctx, int64_t n, const uint16_t *src,
                                               const float *bias, int k, float *dst) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (n <= 0) return GRAFT_OK;
  if (bias && k < 1) GRAFT_FAIL(GRAFT_EINVAL, "bf16 to fp32: a bias over %d channels", k);
  cast_bf16_to_f32_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
      n, k, reinterpret_cast<const __nv_bfloat16 *>(src), bias, dst);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_add_bf16_to_f32(graft_ctx *ctx, int64_t n, const uint16_t *src,
                                              float *dst) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (n <= 0) return GRAFT_OK;
  add_bf16_to_f32_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
      n, reinterpret_cast<const __nv_bfloat16 *>(src), dst);
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" graft_status graft_bias_add_bf16(graft_ctx *ctx, int64_t n, int k, const float *bias,
                                            uint16_t *y) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (n <= 0) return GRAFT_OK;
  if (k < 1) GRAFT_FAIL(GRAFT_EINVAL, "bf16 bias add: a bias over %d channels", k);
  bias_add_bf16_kernel<<<graft_grid_1d(n), GRAFT_BLOCK, 0, g->stream>>>(
      n, k, bias, reinterpret_cast<graft_bf16 *>(y));
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

/* ---- the backend's act_from_f32 / act_to_f32 (ops.h) ------------------- */

extern "C" graft_status graft_act_from_f32_gpu(graft_ctx *ctx, int64_t n, const float *src, float *dst_act) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "conversion of %lld elements", (long long)n);
  if (ctx->act_dtype == GRAFT_DTYPE_F32) return graft_gpu_copy_d2d(ctx, dst_act, src, (size_t)n * sizeof(float));
  if (ctx->act_dtype != GRAFT_DTYPE_BF16) GRAFT_FAIL(GRAFT_EUNSUPPORTED, "activations stored as %s", graft_dtype_name(ctx->act_dtype));
  return graft_cast_f32_to_bf16(ctx, n, src, reinterpret_cast<uint16_t *>(dst_act));
}

extern "C" graft_status graft_act_to_f32_gpu(graft_ctx *ctx, int64_t n, const float *src_act, float *dst) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "conversion of %lld elements", (long long)n);
  if (ctx->act_dtype == GRAFT_DTYPE_F32) return graft_gpu_copy_d2d(ctx, dst, src_act, (size_t)n * sizeof(float));
  if (ctx->act_dtype != GRAFT_DTYPE_BF16) GRAFT_FAIL(GRAFT_EUNSUPPORTED, "activations stored as %s", graft_dtype_name(ctx->act_dtype));
  return graft_cast_bf16_to_f32(ctx, n, reinterpret_cast<const uint16_t *>(src_act), NULL, 0, dst);
}

/* act_io.cuh: reading and writing activations in the storage type of the
 * context (ops.h: fp32, or bf16 in the bf16 precision mode). Kernels that
 * touch activations are templates over the element type T (float or
 * __nv_bfloat16); they load through act_ld, compute in fp32, and store
 * through act_st, which rounds with graft_round_bf16 (ops/math.h), the
 * rounding the host computes. GRAFT_ACT_DISPATCH picks the instantiation
 * from ctx->act_dtype at the launch site. */
#ifndef GRAFT_CUDA_ACT_IO_CUH
#define GRAFT_CUDA_ACT_IO_CUH

#include <cuda_bf16.h>

#include "gpu_impl.h"
#include "ops/math.h"

typedef __nv_bfloat16 graft_bf16;

static __device__ __forceinline__ float act_ld(const float *p, int64_t i) { return p[i]; }
static __device__ __forceinline__ float act_ld(const graft_bf16 *p, int64_t i) { return __bfloat162float(p[i]); }

static __device__ __forceinline__ void act_st(float *p, int64_t i, float v) { p[i] = v; }
static __device__ __forceinline__ void act_st(graft_bf16 *p, int64_t i, float v) {
  __nv_bfloat16_raw r;
  r.x = graft_round_bf16(v);
  p[i] = r;
}

/* A float * of ops.h seen as the context's storage type. */
template <typename T> static __host__ __device__ __forceinline__ T *act_ptr(float *p) {
  return reinterpret_cast<T *>(p);
}
template <typename T> static __host__ __device__ __forceinline__ const T *act_ptr(const float *p) {
  return reinterpret_cast<const T *>(p);
}

/* Runs the statement with `T` bound to the element type of ctx's
 * activations; an unknown storage type makes the enclosing function
 * return GRAFT_EUNSUPPORTED. Usage:
 *   GRAFT_ACT_DISPATCH(ctx, { my_kernel<T><<<...>>>(act_ptr<T>(x), ...); }); */
#define GRAFT_ACT_DISPATCH(ctx, ...)                                                         \
  do {                                                                                       \
    if ((ctx)->act_dtype == GRAFT_DTYPE_F32) {                                               \
      typedef float T;                                                                       \
      __VA_ARGS__                                                                            \
    } else if ((ctx)->act_dtype == GRAFT_DTYPE_BF16) {                                       \
      typedef graft_bf16 T;                                                                  \
      __VA_ARGS__                                                                            \
    } else {                                                                                 \
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "activations stored as %s",                             \
                 graft_dtype_name((ctx)->act_dtype));                                        \
    }                                                                                        \
  } while (0)

#endif

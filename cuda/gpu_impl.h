/* gpu_impl.h: what the CUDA backend's own files share and host code never
 * sees: the library headers, the state behind ctx->device, and (in CUDA
 * files) the launch geometry of the elementwise kernels. cuDNN's
 * deprecation warnings are switched on here so that a legacy call fails the
 * -Werror build. */
#ifndef GRAFT_CUDA_GPU_IMPL_H
#define GRAFT_CUDA_GPU_IMPL_H

#include <stdint.h>

#include <cuda_runtime.h>
#ifndef CUDNN_WARN_DEPRECATED
#define CUDNN_WARN_DEPRECATED
#endif
#include <cublasLt.h>
#include <cudnn.h>

#include "check.h"
#include "gpu.h"

struct graft_gpu {
  int device;            /* CUDA ordinal */
  int sync_launches;     /* GRAFT_CUDA_SYNC=1: synchronize after every launch */
  int capturing;         /* a CUDA graph is being captured on stream: no syncs, no timing */
  cudaStream_t stream;   /* every op and copy of the context runs here */
  cudnnHandle_t cudnn;   /* bound to stream */
  cublasLtHandle_t cublaslt;
  void *workspace;       /* (workspace_bytes) device scratch, also ctx->workspace */
  size_t workspace_bytes;
  struct graft_conv_plans *conv_plans; /* conv_plan_cache.h: made on first use */
};

static inline graft_gpu *graft_gpu_of(const graft_ctx *ctx) { return (graft_gpu *)ctx->device; }

#ifdef __CUDACC__
/* Elementwise kernels run GRAFT_BLOCK threads per block over a grid-stride
 * loop; the grid is capped so that huge tensors reuse blocks rather than
 * launching millions of them. */
#define GRAFT_BLOCK 256
#define GRAFT_GRID_CAP 65536

static inline unsigned graft_grid_1d(int64_t n) {
  int64_t blocks = (n + GRAFT_BLOCK - 1) / GRAFT_BLOCK;
  if (blocks < 1) blocks = 1;
  return (unsigned)(blocks < GRAFT_GRID_CAP ? blocks : GRAFT_GRID_CAP);
}

#define GRAFT_GRID_STRIDE_LOOP(i, n)                                                    \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);             \
       i += (int64_t)gridDim.x * blockDim.x)
#endif

#endif

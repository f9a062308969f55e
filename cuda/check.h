/* check.h: the one way the CUDA backend checks a library call. Every CUDA
 * runtime, cuDNN, cuBLAS/cuBLASLt and NCCL status goes through
 * GRAFT_GPU_CHECK_OR, which logs the failing statement, the library's own
 * message, the file and the line, and then runs the caller's failure action.
 * The short forms return GRAFT_EDEVICE from the calling function; the _OR
 * forms take the action (a `goto fail`, say) as their second argument.
 * GRAFT_LAUNCH_CHECK follows every kernel launch: it reports launch errors
 * and, when the context was built with GRAFT_CUDA_SYNC=1, waits for the
 * kernel so that a fault is reported at the launch that caused it.
 *
 * Usable from C and CUDA. The NCCL forms name ncclSuccess and
 * ncclGetErrorString only where they are expanded, so only files that use
 * them need nccl.h. */
#ifndef GRAFT_CUDA_CHECK_H
#define GRAFT_CUDA_CHECK_H

/* The host headers carry no C++ linkage guards of their own. */
#ifdef __cplusplus
extern "C" {
#endif
#include "core/log.h"
#include "core/status.h"
#ifdef __cplusplus
}
#endif

#define GRAFT_GPU_CHECK_OR(type, ok, strfn, lib, expr, on_fail)                              \
  do {                                                                                       \
    type graft_chk_status_ = (expr);                                                         \
    if (graft_chk_status_ != (ok)) {                                                         \
      graft_log(GRAFT_LOG_ERROR, __FILE__, __LINE__, "%s error %d (%s) in `%s`", lib,        \
                (int)graft_chk_status_, strfn(graft_chk_status_), #expr);                    \
      on_fail;                                                                               \
    }                                                                                        \
  } while (0)

/* A failed runtime call also leaves the thread's "last error" set, which
 * the next launch check would report as its own: it is read off here. */
#define GRAFT_CUDA_CHECK_OR(expr, on_fail) \
  GRAFT_GPU_CHECK_OR(cudaError_t, cudaSuccess, cudaGetErrorString, "CUDA", expr, \
                     (void)cudaGetLastError(); on_fail)
#define GRAFT_CUDNN_CHECK_OR(expr, on_fail)                                                   \
  GRAFT_GPU_CHECK_OR(cudnnStatus_t, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, "cuDNN", expr, \
                     on_fail)
#define GRAFT_CUBLAS_CHECK_OR(expr, on_fail)                                              \
  GRAFT_GPU_CHECK_OR(cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, "cuBLAS", \
                     expr, on_fail)
#define GRAFT_NCCL_CHECK_OR(expr, on_fail) \
  GRAFT_GPU_CHECK_OR(ncclResult_t, ncclSuccess, ncclGetErrorString, "NCCL", expr, on_fail)

#define GRAFT_CUDA_CHECK(expr) GRAFT_CUDA_CHECK_OR(expr, return GRAFT_EDEVICE)
#define GRAFT_CUDNN_CHECK(expr) GRAFT_CUDNN_CHECK_OR(expr, return GRAFT_EDEVICE)
#define GRAFT_CUBLAS_CHECK(expr) GRAFT_CUBLAS_CHECK_OR(expr, return GRAFT_EDEVICE)
#define GRAFT_NCCL_CHECK(expr) GRAFT_NCCL_CHECK_OR(expr, return GRAFT_EDEVICE)

#ifdef __cplusplus
extern "C" {
#endif

struct graft_gpu;

/* Reports the launch error of the kernel just launched (cudaGetLastError)
 * and, when gpu->sync_launches is set, synchronizes gpu's stream and
 * reports the kernel's execution error. where names the launching function.
 * Returns GRAFT_OK or GRAFT_EDEVICE. */
graft_status graft_gpu_launch_status(const struct graft_gpu *gpu, const char *where,
                                     const char *file, int line);

#ifdef __cplusplus
}
#endif

#define GRAFT_LAUNCH_CHECK(gpu) \
  GRAFT_TRY(graft_gpu_launch_status((gpu), __func__, __FILE__, __LINE__))

#endif

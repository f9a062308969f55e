/* context.cu: the GPU execution context (stream, cuDNN and cuBLASLt
 * handles, device workspace, the GRAFT_CUDA_SYNC debug switch), the device
 * and pinned memory helpers of gpu.h, and the launch check behind
 * GRAFT_LAUNCH_CHECK. While the stream is captured into a CUDA graph
 * (graph.cu) nothing here synchronizes or allocates: sync and the memory
 * helpers refuse, the launch check skips its debug synchronization. */
#include <stdlib.h>
#include <string.h>

#include "conv_plan_cache.h"
#include "gpu_impl.h"

extern "C" graft_status graft_gpu_launch_status(const graft_gpu *gpu, const char *where,
                                                const char *file, int line) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    graft_log(GRAFT_LOG_ERROR, file, line, "CUDA error %d (%s) launching a kernel in %s", (int)e,
              cudaGetErrorString(e), where);
    return GRAFT_EDEVICE;
  }
  /* A synchronization would invalidate a capture in progress; the replay's
   * launch (graph_launch) is checked instead. */
  if (gpu->sync_launches && !gpu->capturing) {
    e = cudaStreamSynchronize(gpu->stream);
    if (e != cudaSuccess) {
      graft_log(GRAFT_LOG_ERROR, file, line, "CUDA error %d (%s) running a kernel of %s",
                (int)e, cudaGetErrorString(e), where);
      return GRAFT_EDEVICE;
    }
  }
  return GRAFT_OK;
}

static int sync_switch_from_env(void) {
  const char *v = getenv("GRAFT_CUDA_SYNC");
  return v && strcmp(v, "1") == 0;
}

extern "C" void graft_gpu_ctx_free(graft_ctx *ctx) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (!g) return;
  /* The handles and memory belong to g's device, whichever is current on
   * the calling thread. */
  GRAFT_CUDA_CHECK_OR(cudaSetDevice(g->device), (void)0);
  if (g->capturing) {
    /* A capture left open: end it and drop the recording, so the stream
     * can be waited for and destroyed. */
    GRAFT_WARN("freeing a GPU context during a CUDA graph capture; the capture is discarded");
    cudaGraph_t cg = NULL;
    GRAFT_CUDA_CHECK_OR(cudaStreamEndCapture(g->stream, &cg), cudaGetLastError());
    if (cg) GRAFT_CUDA_CHECK_OR(cudaGraphDestroy(cg), cudaGetLastError());
    g->capturing = 0;
  }
  if (g->stream) GRAFT_CUDA_CHECK_OR(cudaStreamSynchronize(g->stream), (void)0);
  graft_conv_plans_free(g);
  if (g->workspace) GRAFT_CUDA_CHECK_OR(cudaFree(g->workspace), (void)0);
  if (g->cublaslt) GRAFT_CUBLAS_CHECK_OR(cublasLtDestroy(g->cublaslt), (void)0);
  if (g->cudnn) GRAFT_CUDNN_CHECK_OR(cudnnDestroy(g->cudnn), (void)0);
  if (g->stream) GRAFT_CUDA_CHECK_OR(cudaStreamDestroy(g->stream), (void)0);
  free(g);
  ctx->device = NULL;
  ctx->backend = NULL;
  ctx->workspace = NULL;
  ctx->workspace_bytes = 0;
  ctx->base_workspace = NULL;
  ctx->base_workspace_bytes = 0;
}

extern "C" graft_status graft_gpu_ctx_init(graft_ctx *ctx, int device, size_t workspace_bytes) {
  graft_status st = GRAFT_EDEVICE;
  memset(ctx, 0, sizeof *ctx);
  int count = graft_gpu_device_count();
  if (device < 0 || device >= count) {
    GRAFT_ERROR("GPU %d requested but %d CUDA device%s usable", device, count,
                count == 1 ? " is" : "s are");
    return count == 0 ? GRAFT_EDEVICE : GRAFT_EINVAL;
  }
  graft_gpu *g = (graft_gpu *)calloc(1, sizeof *g);
  if (!g) GRAFT_FAIL(GRAFT_ENOMEM, "out of host memory for the GPU context");
  ctx->device = g;
  g->device = device;
  g->sync_launches = sync_switch_from_env();
  const size_t bytes =
      workspace_bytes > GRAFT_GPU_MIN_WORKSPACE ? workspace_bytes : GRAFT_GPU_MIN_WORKSPACE;

  GRAFT_CUDA_CHECK_OR(cudaSetDevice(device), goto fail);
  GRAFT_CUDA_CHECK_OR(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking), goto fail);
  GRAFT_CUDNN_CHECK_OR(cudnnCreate(&g->cudnn), goto fail);
  GRAFT_CUDNN_CHECK_OR(cudnnSetStream(g->cudnn, g->stream), goto fail);
  GRAFT_CUBLAS_CHECK_OR(cublasLtCreate(&g->cublaslt), goto fail);
  if (cudaMalloc(&g->workspace, bytes) != cudaSuccess) {
    cudaGetLastError();
    g->workspace = NULL;
    GRAFT_ERROR("cannot allocate a %zu-byte GPU workspace on device %d", bytes, device);
    st = GRAFT_ENOMEM;
    goto fail;
  }
  g->workspace_bytes = bytes;

  ctx->backend = &graft_backend_gpu;
  ctx->threads = 1;
  ctx->workspace = g->workspace;
  ctx->workspace_bytes = bytes;
  ctx->base_workspace = g->workspace;
  ctx->base_workspace_bytes = bytes;
  ctx->precision = GRAFT_PREC_FP32; /* graft_ctx_open sets the mode asked for */
  ctx->act_dtype = GRAFT_DTYPE_F32;
  if (g->sync_launches) GRAFT_INFO("GRAFT_CUDA_SYNC=1: synchronizing after every kernel launch");
  return GRAFT_OK;

fail:
  graft_gpu_ctx_free(ctx);
  return st;
}

extern "C" graft_status graft_gpu_sync(graft_ctx *ctx) {
  graft_gpu *g = graft_gpu_of(ctx);
  /* Waiting for a stream that is being captured is an error that would
   * also invalidate the capture: refuse before asking CUDA. */
  if (g->capturing)
    GRAFT_FAIL(GRAFT_EINVAL, "cannot wait for GPU %d's stream while a CUDA graph is being "
               "captured on it; end the capture (graph_end) first", g->device);
  GRAFT_CUDA_CHECK(cudaStreamSynchronize(g->stream));
  return GRAFT_OK;
}

/* ---- device memory ------------------------------------------------------ */

extern "C" graft_status graft_gpu_alloc(graft_ctx *ctx, void **ptr, size_t bytes) {
  *ptr = NULL;
  if (bytes == 0) return GRAFT_OK;
  /* cudaMalloc is not recorded by a capture and breaks it. */
  if (graft_gpu_of(ctx)->capturing)
    GRAFT_FAIL(GRAFT_EINVAL, "cannot allocate %zu bytes on GPU %d while a CUDA graph is being "
               "captured; allocate before graph_begin", bytes, graft_gpu_of(ctx)->device);
  if (cudaMalloc(ptr, bytes) != cudaSuccess) {
    cudaGetLastError();
    *ptr = NULL;
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    cudaGetLastError();
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate %zu bytes on GPU %d (%zu of %zu bytes free)", bytes,
               graft_gpu_of(ctx)->device, free_b, total_b);
  }
  return GRAFT_OK;
}

extern "C" void graft_gpu_free(graft_ctx *ctx, void *ptr) {
  if (!ptr) return;
  /* cudaFree waits for the device, which a capture forbids; the buffer
   * stays allocated rather than the capture being broken. */
  const graft_gpu *g = ctx ? graft_gpu_of(ctx) : NULL;
  if (g && g->capturing) {
    GRAFT_ERROR("device buffer %p not freed: GPU %d's stream is capturing a CUDA graph; free it "
                "after graph_end", ptr, g->device);
    return;
  }
  GRAFT_CUDA_CHECK_OR(cudaFree(ptr), (void)0);
}

static graft_status copy_async(graft_ctx *ctx, void *dst, const void *src, size_t bytes,
                               cudaMemcpyKind kind) {
  if (bytes == 0) return GRAFT_OK;
  if (!dst || !src) GRAFT_FAIL(GRAFT_EINVAL, "copy of %zu bytes with a NULL pointer", bytes);
  GRAFT_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, kind, graft_gpu_of(ctx)->stream));
  return GRAFT_OK;
}

extern "C" graft_status graft_gpu_copy_h2d(graft_ctx *ctx, void *dst, const void *src,
                                         size_t bytes) {
  return copy_async(ctx, dst, src, bytes, cudaMemcpyHostToDevice);
}

extern "C" graft_status graft_gpu_copy_d2h(graft_ctx *ctx, void *dst, const void *src,
                                         size_t bytes) {
  return copy_async(ctx, dst, src, bytes, cudaMemcpyDeviceToHost);
}

extern "C" graft_status graft_gpu_copy_d2d(graft_ctx *ctx, void *dst, const void *src,
                                         size_t bytes) {
  return copy_async(ctx, dst, src, bytes, cudaMemcpyDeviceToDevice);
}

extern "C" graft_status graft_gpu_memset(graft_ctx *ctx, void *dst, int byte, size_t bytes) {
  if (bytes == 0) return GRAFT_OK;
  if (!dst) GRAFT_FAIL(GRAFT_EINVAL, "memset of %zu bytes at NULL", bytes);
  GRAFT_CUDA_CHECK(cudaMemsetAsync(dst, byte, bytes, graft_gpu_of(ctx)->stream));
  return GRAFT_OK;
}

extern "C" graft_status graft_gpu_zero(graft_ctx *ctx, void *dst, size_t bytes) {
  return graft_gpu_memset(ctx, dst, 0, bytes);
}

/* ---- pinned host memory ------------------------------------------------- */

extern "C" graft_status graft_gpu_host_alloc(void **ptr, size_t bytes) {
  *ptr = NULL;
  if (bytes == 0) return GRAFT_OK;
  if (cudaHostAlloc(ptr, bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    *ptr = NULL;
    GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate %zu bytes of pinned host memory", bytes);
  }
  return GRAFT_OK;
}

extern "C" void graft_gpu_host_free(void *ptr) {
  if (ptr) GRAFT_CUDA_CHECK_OR(cudaFreeHost(ptr), (void)0);
}

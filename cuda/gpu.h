/* gpu.h: the C face of the CUDA backend. Host code includes this header
 * (no CUDA headers come with it) to build a GPU execution context, move
 * memory between host and device, reach the GPU backend table and run the
 * fused optimizer step.
 *
 * A GPU context owns one stream, a cuDNN handle, a cuBLASLt handle and a
 * device workspace, all kept behind ctx->device. Every op and every copy
 * here is enqueued on that stream and returns without waiting; only
 * graft_gpu_sync waits. The thread that drives a context must have its
 * device current: graft_gpu_ctx_init makes it current for the calling
 * thread (one process per GPU keeps this true). */
#ifndef GRAFT_CUDA_GPU_H
#define GRAFT_CUDA_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"

/* The host headers carry no C++ linkage guards of their own, so this
 * block gives them C linkage when a CUDA file includes them. */
#ifdef __cplusplus
extern "C" {
#endif

#include "core/ctx.h"
#include "core/status.h"
#include "ops/ops.h"
#include "optim/optim.h"

typedef struct graft_gpu graft_gpu; /* the backend-private state behind ctx->device */

/* The GPU backend's op table. */
extern const graft_backend graft_backend_gpu;

/* Every GPU context's workspace holds at least this many bytes: the losses'
 * and batch norms' partial sums live there, so a context can always run
 * them, whatever else reserved. */
#define GRAFT_GPU_MIN_WORKSPACE ((size_t)4 << 20)

/* Builds a context on device (0-based) with a device workspace of at least
 * workspace_bytes (at least GRAFT_GPU_MIN_WORKSPACE): ctx->backend is
 * &graft_backend_gpu, ctx->workspace the device workspace. Reads
 * GRAFT_CUDA_SYNC once: when it is 1, every kernel launch through this
 * context is followed by a stream synchronization, so a fault is reported
 * at the launch that caused it (for debugging; not while a CUDA graph is
 * being captured). On failure everything built so far is released and ctx
 * is left empty. */
graft_status graft_gpu_ctx_init(graft_ctx *ctx, int device, size_t workspace_bytes);

/* Releases whatever graft_gpu_ctx_init built, after waiting for the stream;
 * safe on a context that failed half way, and twice. A capture still open
 * is ended and discarded. */
void graft_gpu_ctx_free(graft_ctx *ctx);

/* Waits until everything enqueued on ctx's stream has run; reports any
 * error a kernel raised on the way. Refused (GRAFT_EINVAL, nothing waited
 * for) while a CUDA graph is being captured on the stream. */
graft_status graft_gpu_sync(graft_ctx *ctx);

/* ---- capturing a training step as a CUDA graph (graph.cu) --------------- */
/* graft_gpu_graph_begin starts recording ctx's stream: ops and copies
 * enqueued from then on are recorded, not run. The capture is thread-local:
 * the calling thread must also end it, and other threads are not affected.
 * While it lasts, graft_gpu_sync, graft_gpu_alloc and graft_gpu_free refuse
 * (a wait or an allocation would break the capture), GRAFT_CUDA_SYNC does
 * not synchronize, and copies to or from the host need pinned memory.
 * graft_gpu_graph_end stops recording and returns the executable graph in
 * *graph (NULL on failure). It ends the capture whatever went wrong in it,
 * so the stream runs ops again even after a failed capture (only a call
 * from another thread is refused and leaves the capture running).
 * graft_gpu_graph_launch enqueues a replay on ctx's stream: the recorded
 * kernels and copies, with the same pointers and by-value arguments,
 * reading what the buffers hold when the replay runs.
 * graft_gpu_graph_free releases a graph; NULL is fine. */
graft_status graft_gpu_graph_begin(graft_ctx *ctx);
graft_status graft_gpu_graph_end(graft_ctx *ctx, void **graph);
graft_status graft_gpu_graph_launch(graft_ctx *ctx, void *graph);
void graft_gpu_graph_free(void *graph);

/* ---- device memory (ctx's device) --------------------------------------- */
graft_status graft_gpu_alloc(graft_ctx *ctx, void **ptr, size_t bytes);
void graft_gpu_free(graft_ctx *ctx, void *ptr);
/* Copies and fills, enqueued on ctx's stream. A copy from or to host
 * memory overlaps the host only when that memory is pinned
 * (graft_gpu_host_alloc); read a copied-back host buffer after
 * graft_gpu_sync. */
graft_status graft_gpu_copy_h2d(graft_ctx *ctx, void *dst, const void *src, size_t bytes);
graft_status graft_gpu_copy_d2h(graft_ctx *ctx, void *dst, const void *src, size_t bytes);
graft_status graft_gpu_copy_d2d(graft_ctx *ctx, void *dst, const void *src, size_t bytes);
graft_status graft_gpu_memset(graft_ctx *ctx, void *dst, int byte, size_t bytes);
graft_status graft_gpu_zero(graft_ctx *ctx, void *dst, size_t bytes);

/* ---- pinned host memory (usable by every device) ------------------------ */
graft_status graft_gpu_host_alloc(void **ptr, size_t bytes);
void graft_gpu_host_free(void *ptr);

/* ---- the fused optimizer step ------------------------------------------- */
/* graft_optim_step_ref on the device: params, grads and state are device
 * arenas, slots stay in host memory and their steps are counted on the
 * host. One kernel updates every slot that is not frozen (a few launches
 * when there are more slots than one launch's table holds). */
graft_status graft_optim_step_gpu(graft_ctx *ctx, const graft_optim_cfg *cfg,
                                  graft_param_slot *slots, int nslots,
                                  float *params,      /* (total) */
                                  const float *grads, /* (total) */
                                  float *state,       /* (planes * total) */
                                  size_t total);

#ifdef __cplusplus
}
#endif

#endif

/* ctx.h: the execution context every op takes. It names the backend, and
 * carries what an op may use but must not create: the workspace (scratch
 * memory sized at build time), the thread count, and the backend's private
 * state (on the GPU: stream, cuDNN/cuBLAS handles, plan cache). There are no
 * globals: two contexts can run side by side. */
#ifndef GRAFT_CTX_H
#define GRAFT_CTX_H

#include <stddef.h>

#include "core/status.h"
#include "core/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct graft_backend;

/* Arithmetic of the GPU backend's convolutions and GEMMs. The CPU
 * reference always computes in fp32. */
typedef enum {
  GRAFT_PREC_FP32, /* fp32 inputs, fp32 math: no TF32 tensor-core engines */
  GRAFT_PREC_TF32, /* fp32 storage, TF32 tensor-core math allowed */
  GRAFT_PREC_BF16, /* bf16 activations and convolution/GEMM inputs, fp32 accumulation */
  GRAFT_PREC_COUNT
} graft_precision;

/* "fp32", "tf32", "bf16". */
const char *graft_precision_name(graft_precision p);
/* Parses a name; returns -1 when it is none of them. */
int graft_precision_parse(const char *name);

typedef struct graft_ctx {
  const struct graft_backend *backend;
  int threads;           /* CPU threads for our loops and OpenBLAS */
  void *workspace;       /* (workspace_bytes) scratch, owned by the caller */
  size_t workspace_bytes;
  void *base_workspace;  /* the backend's own workspace (NULL on the CPU), */
  size_t base_workspace_bytes; /* which release_workspace gives back to ctx */
  void *device;          /* backend-private state; NULL for the CPU reference */
  graft_precision precision; /* GPU arithmetic; the CPU reference ignores it */
  /* How activations are stored (see ops.h): GRAFT_DTYPE_F32, or
   * GRAFT_DTYPE_BF16 on a GPU context with precision bf16. */
  graft_dtype act_dtype;
} graft_ctx;

/* A CPU reference context with the given threads and no workspace. */
void graft_ctx_init_ref(graft_ctx *ctx, int threads);

/* Makes ctx's workspace at least bytes: when it is smaller, allocates a new
 * buffer in the backend's memory (ctx->backend->mem_alloc), gives it to ctx
 * and returns it in *owned for the caller to release with mem_free (after
 * which ctx must not run ops); else *owned is NULL. */
graft_status graft_ctx_reserve_workspace(graft_ctx *ctx, size_t bytes, void **owned);
/* Frees what reserve_workspace returned in owned (NULL: nothing), after
 * giving ctx back the backend's own workspace. Reservations do not nest:
 * one owner (a trainer, an evaluation) reserves at a time. */
void graft_ctx_release_workspace(graft_ctx *ctx, void *owned);

/* ---- opening a context by name (what the commands' device= key does) --- */
/* The GPU backend's context constructor (graft_gpu_ctx_init). The host
 * library does not link the CUDA backend, so a program built with it
 * registers the constructor once at start-up; without one, device=gpu is
 * refused with a message saying the build has no CUDA backend. */
typedef graft_status (*graft_gpu_opener)(graft_ctx *ctx, int device, size_t workspace_bytes);
typedef int (*graft_gpu_counter)(void); /* usable devices; 0 when none */
void graft_ctx_register_gpu(graft_gpu_opener open, graft_gpu_counter count);
/* device is "cpu", "gpu" (GPU 0), "gpu:N", or "auto" (GPU 0 when there is
 * one, else the CPU). threads applies to the CPU; precision to the GPU (a
 * CPU context with precision other than fp32 is an error, since the
 * reference computes in fp32 only). */
graft_status graft_ctx_open(graft_ctx *ctx, const char *device, int threads, graft_precision precision);
/* Releases what graft_ctx_open made (nothing for the CPU); safe twice. */
void graft_ctx_close(graft_ctx *ctx);

#ifdef __cplusplus
}
#endif

#endif

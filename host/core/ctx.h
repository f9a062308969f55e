/* ctx.h: the execution context every op takes. It names the backend, and
 * carries what an op may use but must not create: the workspace (scratch
 * memory sized at build time), the thread count, and the backend's private
 * state (on the GPU: stream, cuDNN/cuBLAS handles, plan cache). There are no
 * globals: two contexts can run side by side. */
#ifndef GRAFT_CTX_H
#define GRAFT_CTX_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct graft_backend;

typedef struct graft_ctx {
  const struct graft_backend *backend;
  int threads;           /* CPU threads for our loops and OpenBLAS */
  void *workspace;       /* (workspace_bytes) scratch, owned by the caller */
  size_t workspace_bytes;
  void *device;          /* backend-private state; NULL for the CPU reference */
} graft_ctx;

/* A CPU reference context with the given threads and no workspace. */
void graft_ctx_init_ref(graft_ctx *ctx, int threads);

/* Makes ctx's workspace at least bytes: when it is smaller, allocates a new
 * host buffer, gives it to ctx and returns it in *owned for the caller to
 * free (after which ctx must not run ops); else *owned is NULL. */
graft_status graft_ctx_reserve_workspace(graft_ctx *ctx, size_t bytes, void **owned);

#ifdef __cplusplus
}
#endif

#endif

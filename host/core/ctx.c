/* ctx.c: construction of the CPU reference context. */
#include "core/ctx.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "core/log.h"

#include "ops/ops.h"

void graft_ctx_init_ref(graft_ctx *ctx, int threads) {
  /* A thread count applies to our OpenMP loops and to OpenBLAS alike; 0
   * keeps what the environment chose (OMP_NUM_THREADS, or every core). */
  if (threads > 0) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
  }
  ctx->backend = &graft_backend_ref;
  ctx->threads = threads > 0 ? threads : omp_get_max_threads();
  ctx->workspace = NULL;
  ctx->workspace_bytes = 0;
  ctx->device = NULL;
}

graft_status graft_ctx_reserve_workspace(graft_ctx *ctx, size_t bytes, void **owned) {
  *owned = NULL;
  if (bytes <= ctx->workspace_bytes) return GRAFT_OK;
  void *p = malloc(bytes);
  if (!p) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate %zu bytes of workspace", bytes);
  ctx->workspace = p;
  ctx->workspace_bytes = bytes;
  *owned = p;
  return GRAFT_OK;
}

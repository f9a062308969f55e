/* ctx.c: construction of the CPU reference context. */
#include "core/ctx.h"

#include <cblas.h>
#include <omp.h>

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

/* ctx.c: construction of the CPU reference context. */
#include "core/ctx.h"

#include "ops/ops.h"

void graft_ctx_init_ref(graft_ctx *ctx, int threads) {
  ctx->backend = &graft_backend_ref;
  ctx->threads = threads > 0 ? threads : 1;
  ctx->workspace = NULL;
  ctx->workspace_bytes = 0;
  ctx->device = NULL;
}

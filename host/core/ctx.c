/* ctx.c: construction of the CPU reference context, opening a context by
 * device name, and the precision names. */
#include "core/ctx.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

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
  ctx->base_workspace = NULL;
  ctx->base_workspace_bytes = 0;
  ctx->device = NULL;
  ctx->precision = GRAFT_PREC_FP32;
  ctx->act_dtype = GRAFT_DTYPE_F32;
}

graft_status graft_ctx_reserve_workspace(graft_ctx *ctx, size_t bytes, void **owned) {
  *owned = NULL;
  if (bytes <= ctx->workspace_bytes) return GRAFT_OK;
  void *p = NULL;
  GRAFT_TRY(ctx->backend->mem_alloc(ctx, &p, bytes));
  ctx->workspace = p;
  ctx->workspace_bytes = bytes;
  *owned = p;
  return GRAFT_OK;
}

void graft_ctx_release_workspace(graft_ctx *ctx, void *owned) {
  if (!owned) return;
  if (ctx->workspace == owned) {
    ctx->workspace = ctx->base_workspace;
    ctx->workspace_bytes = ctx->base_workspace_bytes;
  }
  ctx->backend->mem_free(ctx, owned);
}

static const char *const precision_names[GRAFT_PREC_COUNT] = {"fp32", "tf32", "bf16"};

const char *graft_precision_name(graft_precision p) {
  return p >= 0 && p < GRAFT_PREC_COUNT ? precision_names[p] : "?";
}

int graft_precision_parse(const char *name) {
  for (int i = 0; i < GRAFT_PREC_COUNT; i++)
    if (name && !strcmp(name, precision_names[i])) return i;
  return -1;
}

/* Set once by a program linked with the CUDA backend (host/cli/main.c);
 * read-only afterwards. It is configuration of the build, not state. */
static graft_gpu_opener gpu_opener;
static graft_gpu_counter gpu_counter;

void graft_ctx_register_gpu(graft_gpu_opener open, graft_gpu_counter count) {
  gpu_opener = open;
  gpu_counter = count;
}

graft_status graft_ctx_open(graft_ctx *ctx, const char *device, int threads, graft_precision precision) {
  memset(ctx, 0, sizeof *ctx);
  if (device && !strcmp(device, "auto")) {
    int gpus = gpu_counter ? gpu_counter() : 0;
    if (gpus == 0 && precision != GRAFT_PREC_FP32)
      GRAFT_FAIL(GRAFT_EINVAL, "precision=%s needs a GPU and %s", graft_precision_name(precision),
                 gpu_opener ? "none is usable here" : "this build of graft has no CUDA backend");
    device = gpus > 0 ? "gpu" : "cpu";
    GRAFT_INFO("device=auto: %s", gpus > 0 ? "training on GPU 0" : "no GPU found, running on the CPU");
  }
  if (!device || !strcmp(device, "cpu")) {
    if (precision != GRAFT_PREC_FP32)
      GRAFT_FAIL(GRAFT_EINVAL, "precision=%s needs device=gpu: the CPU backend computes in fp32",
                 graft_precision_name(precision));
    graft_ctx_init_ref(ctx, threads);
    return GRAFT_OK;
  }
  int ordinal = 0;
  if (!strcmp(device, "gpu")) {
    ordinal = 0;
  } else if (!strncmp(device, "gpu:", 4)) {
    char *end = NULL;
    long v = strtol(device + 4, &end, 10);
    if (end == device + 4 || *end || v < 0 || v > 1024)
      GRAFT_FAIL(GRAFT_EINVAL, "device=%s: expected cpu, gpu or gpu:N", device);
    ordinal = (int)v;
  } else {
    GRAFT_FAIL(GRAFT_EINVAL, "device=%s: expected cpu, gpu or gpu:N", device);
  }
  if (!gpu_opener)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "device=%s: this build of graft has no CUDA backend (rebuild with nvcc present, "
               "or GRAFT_CUDA=ON)", device);
  GRAFT_TRY(gpu_opener(ctx, ordinal, 0));
  ctx->threads = threads > 0 ? threads : 1;
  ctx->precision = precision;
  ctx->act_dtype = precision == GRAFT_PREC_BF16 ? GRAFT_DTYPE_BF16 : GRAFT_DTYPE_F32;
  return GRAFT_OK;
}

void graft_ctx_close(graft_ctx *ctx) {
  if (ctx->backend && ctx->backend->ctx_free) ctx->backend->ctx_free(ctx);
  ctx->backend = NULL;
  ctx->device = NULL;
}

/* memory_ref.c: the CPU reference's memory, stream and arena entries.
 * Backend memory is host memory here, so copies are memcpy, the stream is
 * the calling thread (sync has nothing to wait for), and there is no graph
 * capture. The weight average and gradient clipping are the loops the GPU
 * kernels mirror. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ops/math.h"
#include "ops/ops.h"

graft_status graft_mem_alloc_ref(graft_ctx *ctx, void **ptr, size_t bytes) {
  (void)ctx;
  *ptr = NULL;
  if (bytes == 0) return GRAFT_OK;
  /* 64-byte aligned, like the arenas, so vector loops see the same
   * alignment whether their memory came from an arena or from here. */
  *ptr = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!*ptr) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate %zu bytes", bytes);
  return GRAFT_OK;
}

void graft_mem_free_ref(graft_ctx *ctx, void *ptr) {
  (void)ctx;
  free(ptr);
}

graft_status graft_mem_copy_ref(graft_ctx *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes == 0) return GRAFT_OK;
  if (!dst || !src) GRAFT_FAIL(GRAFT_EINVAL, "copy of %zu bytes with a NULL pointer", bytes);
  if (dst != src) memmove(dst, src, bytes);
  return GRAFT_OK;
}

graft_status graft_mem_zero_ref(graft_ctx *ctx, void *dst, size_t bytes) {
  (void)ctx;
  if (bytes == 0) return GRAFT_OK;
  if (!dst) GRAFT_FAIL(GRAFT_EINVAL, "fill of %zu bytes at NULL", bytes);
  memset(dst, 0, bytes);
  return GRAFT_OK;
}

graft_status graft_sync_ref(graft_ctx *ctx) {
  (void)ctx;
  return GRAFT_OK;
}

/* The reference's ops compute on fp32 activations only, but its
 * conversions also know bf16 storage (rounded as the GPU's cast kernels
 * round), so the network's staging of bf16 inputs can be tested here. */
static graft_status act_convert(graft_ctx *ctx, int64_t n, const float *src, float *dst, int to_act) {
  if (n < 0) GRAFT_FAIL(GRAFT_EINVAL, "conversion of %lld elements", (long long)n);
  if (ctx->act_dtype == GRAFT_DTYPE_F32) return graft_mem_copy_ref(ctx, dst, src, (size_t)n * sizeof(float));
  if (ctx->act_dtype != GRAFT_DTYPE_BF16)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "activations stored as %s", graft_dtype_name(ctx->act_dtype));
  if (to_act) {
    uint16_t *b = (uint16_t *)dst; /* (n) bf16 */
    for (int64_t i = 0; i < n; i++) b[i] = graft_round_bf16(src[i]);
  } else {
    const uint16_t *b = (const uint16_t *)src; /* (n) bf16 */
    for (int64_t i = 0; i < n; i++) dst[i] = graft_widen_bf16(b[i]);
  }
  return GRAFT_OK;
}

graft_status graft_act_from_f32_ref(graft_ctx *ctx, int64_t n, const float *src, float *dst) {
  return act_convert(ctx, n, src, dst, 1);
}

graft_status graft_act_to_f32_ref(graft_ctx *ctx, int64_t n, const float *src, float *dst) {
  return act_convert(ctx, n, src, dst, 0);
}

graft_status graft_host_alloc_ref(void **ptr, size_t bytes) { return graft_mem_alloc_ref(NULL, ptr, bytes); }

void graft_ctx_free_ref(graft_ctx *ctx) { (void)ctx; }

void graft_host_free_ref(void *ptr) { free(ptr); }

graft_status graft_ema_update_ref(graft_ctx *ctx, int64_t n, const float *p, float decay, float *e) {
  (void)ctx;
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (int64_t i = 0; i < n; i++) e[i] = graft_ema_value(e[i], p[i], decay);
  return GRAFT_OK;
}

graft_status graft_clip_grad_norm_ref(graft_ctx *ctx, const graft_param_slot *slots, int nslots,
                                      float *grads, float max_norm) {
  (void)ctx;
  if (!(max_norm > 0.0f)) GRAFT_FAIL(GRAFT_EINVAL, "clip_grad_norm: max_norm %g must be positive", (double)max_norm);
  double sq = 0.0;
  for (int i = 0; i < nslots; i++) {
    if (slots[i].frozen) continue;
    const float *g = grads + slots[i].offset;
    for (size_t j = 0; j < slots[i].count; j++) sq += (double)g[j] * g[j];
  }
  const double norm = sqrt(sq);
  if (!(norm > max_norm)) return GRAFT_OK;
  const float scale = (float)(max_norm / (norm + 1e-6));
  for (int i = 0; i < nslots; i++) {
    if (slots[i].frozen) continue;
    float *g = grads + slots[i].offset;
    for (size_t j = 0; j < slots[i].count; j++) g[j] *= scale;
  }
  return GRAFT_OK;
}

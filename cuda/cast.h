/* cast.h: element type conversions on the device between fp32 and bf16,
 * for the bf16 precision mode: the bf16 copies of fp32 tensors it stages
 * in the workspace (convolution and linear weights, linear's dy), the bf16
 * results it widens into fp32 (a convolution's dw), and the bf16
 * activations it keeps in place (ops.h), to which a convolution's fp32
 * bias is added. A bf16 tensor is passed as its uint16_t bits, so this
 * header needs no CUDA type. Narrowing rounds with graft_round_bf16
 * (ops/math.h): to nearest even, the same bits the host computes. Each
 * call enqueues one kernel on ctx's stream, checks the launch and
 * returns; nothing allocates or waits. */
#ifndef GRAFT_CUDA_CAST_H
#define GRAFT_CUDA_CAST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "core/ctx.h"
#include "core/status.h"

/* dst = bf16(src) over n elements. */
graft_status graft_cast_f32_to_bf16(graft_ctx *ctx, int64_t n,
                                    const float *src, /* (n) */
                                    uint16_t *dst);   /* (n) bf16 */

/* dst = float(src) (+ bias[i % k] when bias is not NULL) over n elements:
 * a bf16 result back to fp32, with an fp32 per-channel bias added after
 * the widening. */
graft_status graft_cast_bf16_to_f32(graft_ctx *ctx, int64_t n,
                                    const uint16_t *src, /* (n) bf16 */
                                    const float *bias,   /* (k) or NULL */
                                    int k, float *dst);  /* (n) */

/* dst += float(src) over n elements: a bf16 gradient added into an fp32
 * one, as the backward ops add into their gradients. */
graft_status graft_add_bf16_to_f32(graft_ctx *ctx, int64_t n,
                                   const uint16_t *src, /* (n) bf16 */
                                   float *dst);         /* (n) accumulated */

/* y[i] = bf16(float(y[i]) + bias[i % k]) over n elements: an fp32
 * per-channel bias added in fp32 to a bf16 tensor in place, one rounding
 * of the sum (a convolution's bf16 y, (M, K) with k = K). */
graft_status graft_bias_add_bf16(graft_ctx *ctx, int64_t n, int k,
                                 const float *bias, /* (k) */
                                 uint16_t *y);      /* (n) bf16, in place */

#ifdef __cplusplus
}
#endif

#endif

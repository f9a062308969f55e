/* ops_gpu.h: the CUDA backend's op entry points, one per graft_backend
 * entry, with the signatures and rules of ops.h (device pointers, NHWC,
 * backward ops add into their gradients, nothing allocates or waits).
 * backend_gpu.c gathers them into graft_backend_gpu; each op family's
 * kernels live in their own .cu file. */
#ifndef GRAFT_CUDA_OPS_GPU_H
#define GRAFT_CUDA_OPS_GPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "ops/ops.h"

/* conv_exec.cu: convolution through cuDNN backend plans (conv_plan_cache.h) */
size_t graft_conv2d_workspace_gpu(const graft_conv2d_desc *d);
graft_status graft_conv2d_forward_gpu(graft_ctx *, const graft_conv2d_desc *, const float *,
                                      const float *, const float *, float *);
graft_status graft_conv2d_backward_gpu(graft_ctx *, const graft_conv2d_desc *, const float *,
                                       const float *, const float *, float *, float *, float *);
/* batchnorm.cu */
graft_status graft_bn_forward_train_gpu(graft_ctx *, const graft_bn_desc *, const float *,
                                        const float *, const float *, float *, float *, float *,
                                        float *, float *);
graft_status graft_bn_forward_eval_gpu(graft_ctx *, const graft_bn_desc *, const float *,
                                       const float *, const float *, const float *,
                                       const float *, float *);
graft_status graft_bn_backward_train_gpu(graft_ctx *, const graft_bn_desc *, const float *,
                                         const float *, const float *, const float *,
                                         const float *, float *, float *, float *);
graft_status graft_bn_backward_eval_gpu(graft_ctx *, const graft_bn_desc *, const float *,
                                        const float *, const float *, const float *,
                                        const float *, float *, float *, float *);
/* bn_act.cu */
graft_status graft_bn_act_forward_train_gpu(graft_ctx *, const graft_bn_desc *, graft_act,
                                            const float *, const float *, const float *, float *,
                                            float *, const float *, float *, float *, float *);
graft_status graft_bn_act_forward_eval_gpu(graft_ctx *, const graft_bn_desc *, graft_act,
                                           const float *, const float *, const float *,
                                           const float *, const float *, const float *, float *);
graft_status graft_bn_act_backward_train_gpu(graft_ctx *, const graft_bn_desc *, graft_act,
                                             const float *, const float *, const float *,
                                             const float *, const float *, const float *, float *,
                                             float *, float *, float *);
graft_status graft_bn_act_backward_eval_gpu(graft_ctx *, const graft_bn_desc *, graft_act,
                                            const float *, const float *, const float *,
                                            const float *, const float *, const float *, float *,
                                            float *, float *, float *);
/* pool.cu */
graft_status graft_pool2d_forward_gpu(graft_ctx *, const graft_pool2d_desc *, const float *,
                                      float *);
graft_status graft_pool2d_backward_gpu(graft_ctx *, const graft_pool2d_desc *, const float *,
                                       const float *, const float *, float *);
/* linear.cu */
/* Bytes at the start of the workspace that linear stages its bf16 operands
 * in under precision prec (0 outside bf16); host/nn/layer_linear.c
 * reserves the same. */
size_t graft_linear_workspace_gpu(const graft_linear_desc *d, graft_precision prec);
graft_status graft_linear_forward_gpu(graft_ctx *, const graft_linear_desc *, const float *,
                                      const float *, const float *, float *);
graft_status graft_linear_backward_gpu(graft_ctx *, const graft_linear_desc *, const float *,
                                       const float *, const float *, float *, float *, float *);

/* act.cu */
graft_status graft_act_forward_gpu(graft_ctx *, graft_act, float, int64_t, const float *, float *);
graft_status graft_act_backward_gpu(graft_ctx *, graft_act, float, int64_t, const float *,
                                    const float *, const float *, float *);
/* avgpool.cu */
graft_status graft_global_avgpool_forward_gpu(graft_ctx *, int, int, int, const float *, float *);
graft_status graft_global_avgpool_backward_gpu(graft_ctx *, int, int, int, const float *, float *);
/* add.cu */
graft_status graft_add_forward_gpu(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_accumulate_gpu(graft_ctx *, int64_t, const float *, float *);
/* concat.cu */
graft_status graft_concat_forward_gpu(graft_ctx *, int64_t, int, const float *const *,
                                      const int *, float *);
graft_status graft_concat_backward_gpu(graft_ctx *, int64_t, int, const float *, const int *,
                                       float *const *);
/* upsample.cu */
graft_status graft_upsample_forward_gpu(graft_ctx *, int, int, int, int, int, int,
                                        const float *, float *);
graft_status graft_upsample_backward_gpu(graft_ctx *, int, int, int, int, int, int,
                                         const float *, float *);
/* dropout.cu */
graft_status graft_dropout_forward_gpu(graft_ctx *, int64_t, float, uint64_t, const float *,
                                       float *);
graft_status graft_dropout_backward_gpu(graft_ctx *, int64_t, float, uint64_t, const float *,
                                        float *);
/* xent.cu */
graft_status graft_xent_forward_gpu(graft_ctx *, const graft_xent_desc *, const float *,
                                    const int32_t *, float *);
graft_status graft_xent_backward_gpu(graft_ctx *, const graft_xent_desc *, const float *,
                                     const int32_t *, const float *, float *);
/* bce.cu */
graft_status graft_bce_forward_gpu(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_bce_backward_gpu(graft_ctx *, int64_t, const float *, const float *,
                                    const float *, float *);
/* mse.cu */
graft_status graft_mse_forward_gpu(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_mse_backward_gpu(graft_ctx *, int64_t, const float *, const float *,
                                    const float *, float *);

/* metrics.cu */
graft_status graft_metrics_update_gpu(graft_ctx *, int, int, const float *, const int32_t *, uint64_t *);
graft_status graft_metrics_update_regression_gpu(graft_ctx *, int64_t, const float *, const float *, double *);

/* ema_clip.cu: the weight average and gradient clipping over the arenas */
graft_status graft_ema_update_gpu(graft_ctx *, int64_t, const float *, float, float *);
graft_status graft_clip_grad_norm_gpu(graft_ctx *, const graft_param_slot *, int, float *, float);

/* cast.cu: the backend's act_from_f32 and act_to_f32 */
graft_status graft_act_from_f32_gpu(graft_ctx *, int64_t, const float *, float *);
graft_status graft_act_to_f32_gpu(graft_ctx *, int64_t, const float *, float *);

#ifdef __cplusplus
}
#endif

#endif

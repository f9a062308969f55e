/* backend_gpu.c: the CUDA backend's op table. Each entry is implemented in
 * its op family's file (see ops_gpu.h); the families still to come return
 * GRAFT_EUNSUPPORTED from unsupported.c. */
#include "gpu.h"
#include "ops_gpu.h"

const graft_backend graft_backend_gpu = {
    .name = "cuda",
    .conv2d_workspace = graft_conv2d_workspace_gpu,
    .conv2d_forward = graft_conv2d_forward_gpu,
    .conv2d_backward = graft_conv2d_backward_gpu,
    .bn_forward_train = graft_bn_forward_train_gpu,
    .bn_forward_eval = graft_bn_forward_eval_gpu,
    .bn_backward_train = graft_bn_backward_train_gpu,
    .bn_backward_eval = graft_bn_backward_eval_gpu,
    .act_forward = graft_act_forward_gpu,
    .act_backward = graft_act_backward_gpu,
    .pool2d_forward = graft_pool2d_forward_gpu,
    .pool2d_backward = graft_pool2d_backward_gpu,
    .global_avgpool_forward = graft_global_avgpool_forward_gpu,
    .global_avgpool_backward = graft_global_avgpool_backward_gpu,
    .linear_forward = graft_linear_forward_gpu,
    .linear_backward = graft_linear_backward_gpu,
    .add_forward = graft_add_forward_gpu,
    .accumulate = graft_accumulate_gpu,
    .concat_forward = graft_concat_forward_gpu,
    .concat_backward = graft_concat_backward_gpu,
    .upsample_forward = graft_upsample_forward_gpu,
    .upsample_backward = graft_upsample_backward_gpu,
    .dropout_forward = graft_dropout_forward_gpu,
    .dropout_backward = graft_dropout_backward_gpu,
    .xent_forward = graft_xent_forward_gpu,
    .xent_backward = graft_xent_backward_gpu,
    .bce_forward = graft_bce_forward_gpu,
    .bce_backward = graft_bce_backward_gpu,
    .mse_forward = graft_mse_forward_gpu,
    .mse_backward = graft_mse_backward_gpu,
    .metrics_update = graft_metrics_update_gpu,
    .metrics_update_regression = graft_metrics_update_regression_gpu,
};

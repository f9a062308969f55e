/* ops.h: the backend seam. Every numeric operation the network needs, as
 * one descriptor type per op family and one table of function pointers per
 * backend (graft_backend_ref here, the CUDA one in cuda/). Layers call
 * ctx->backend->op(...) and never know which backend runs.
 *
 * Rules every implementation follows:
 *  - Activations are NHWC; convolution weights are (K, R, S, C/groups)
 *    (OHWI); linear weights are (out, in) as in PyTorch.
 *  - Pointers live in the backend's memory (host for _ref, device for _gpu).
 *  - Forward ops overwrite their outputs. Backward ops ADD into every
 *    gradient output (dx, dw, dbias, ...), any of which may be NULL when it
 *    is not wanted; the caller zeroes gradients before a backward pass. This
 *    makes fan-out in a graph free and maps onto cuDNN/cuBLAS beta = 1.
 *  - Ops never allocate and never synchronize. Scratch memory comes from
 *    ctx->workspace; graft_*_workspace_ref() says how many bytes are needed
 *    and an op given too little returns GRAFT_EWORKSPACE. One exception:
 *    the GPU convolution picks its cuDNN plan at the first call for each
 *    shape, timing candidates on buffers of its own (it allocates and
 *    waits then, never again for that shape). A first training step run
 *    eagerly does it for every convolution; graph capture relies on that.
 *  - Outputs never alias inputs.
 *  - Activations (the x, y, dx, dy, residual and dresidual of the ops
 *    below; the x and dx of linear) are stored as ctx->act_dtype: fp32,
 *    or bf16 on a GPU context with precision bf16, where each such float *
 *    addresses 2-byte bf16 elements and the op reads and computes in fp32.
 *    Everything else is always fp32: parameters and their gradients,
 *    statistics, linear's y and dy (the logits), losses and targets. The
 *    CPU reference stores fp32 only.
 *  - Scalars that flow through training (a loss, its upstream gradient)
 *    are pointers into backend memory, so a GPU step needs no copy back. */
#ifndef GRAFT_OPS_H
#define GRAFT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"
#include "core/status.h"
#include "optim/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- 2-D convolution ---------------------------------------------------- */
typedef struct {
  int n, h, w, c;  /* input (N, H, W, C) */
  int k, r, s;     /* output channels, kernel height, kernel width */
  int stride_h, stride_w;
  int pad_h, pad_w; /* zero padding on both sides, as PyTorch's padding= */
  int dil_h, dil_w;
  int groups;       /* C and K are multiples of groups; groups == C is depthwise */
  int p, q;         /* output height and width: set by graft_conv2d_setup */
} graft_conv2d_desc;

/* Validates the descriptor (positive sizes, divisible groups, an output of
 * at least 1x1) and fills p and q. */
graft_status graft_conv2d_setup(graft_conv2d_desc *d);

/* ---- batch normalization over the channel (last) axis ------------------- */
typedef struct {
  int64_t m;      /* rows: N*H*W (or N for a 2-D input) */
  int c;          /* channels */
  float eps;      /* PyTorch default 1e-5 */
  float momentum; /* PyTorch default 0.1: running = (1-m)*running + m*batch */
} graft_bn_desc;

/* ---- activations -------------------------------------------------------- */
typedef enum {
  GRAFT_ACT_IDENTITY,
  GRAFT_ACT_RELU,
  GRAFT_ACT_LEAKY_RELU, /* uses slope */
  GRAFT_ACT_SILU,
  GRAFT_ACT_MISH,
  GRAFT_ACT_SIGMOID,
  GRAFT_ACT_COUNT
} graft_act;

/* ---- 2-D pooling -------------------------------------------------------- */
typedef enum { GRAFT_POOL_MAX, GRAFT_POOL_AVG } graft_pool_kind;

typedef struct {
  graft_pool_kind kind;
  int n, h, w, c; /* input (N, H, W, C) */
  int r, s;       /* window height, width */
  int stride_h, stride_w;
  int pad_h, pad_w; /* implicit -inf (max) or zero (avg) padding */
  int ceil_mode;    /* PyTorch's ceil_mode */
  int count_include_pad; /* average pool: PyTorch's count_include_pad */
  int p, q;         /* output height and width: set by graft_pool2d_setup */
} graft_pool2d_desc;

graft_status graft_pool2d_setup(graft_pool2d_desc *d);

/* ---- linear ------------------------------------------------------------- */
typedef struct {
  int n;   /* rows */
  int in;  /* input features */
  int out; /* output features */
} graft_linear_desc;

/* ---- softmax cross-entropy (PyTorch's F.cross_entropy, mean reduction) -- */
typedef struct {
  int n, k;              /* logits (N, K) */
  float label_smoothing; /* 0 for none */
  int ignore_index;      /* a label to skip; -100 as in PyTorch */
  const float *class_weight; /* (K) in backend memory, or NULL */
} graft_xent_desc;

/* ---- metric accumulation ------------------------------------------------ */
/* The classification counters metrics_update adds to, one buffer of
 * GRAFT_METRICS_COUNTS(K) uint64: the confusion matrix (K, K), row = true
 * class, column = predicted class (the first largest logit, as
 * torch.argmax), then the top-5 hits, then the samples left out because
 * their label is outside [0, K) (-1 marks "no label"). */
#define GRAFT_METRICS_COUNTS(k) ((size_t)(k) * (size_t)(k) + 2)
/* The regression sums metrics_update_regression adds to, one buffer of
 * GRAFT_METRICS_SUMS doubles: squared errors, absolute errors, samples. */
#define GRAFT_METRICS_SUMS 3

/* ---- the backend table -------------------------------------------------- */
typedef struct graft_backend {
  const char *name;

  /* ---- memory, the stream, and the context ----
   * Backend memory is host memory for the CPU reference (host_memory = 1)
   * and device memory on a GPU. Copies and fills are enqueued in order
   * with the ops; a host buffer filled by download may be read only after
   * sync. host_alloc gives host memory that copies can overlap with (pinned
   * on a GPU). */
  int host_memory;
  graft_status (*mem_alloc)(graft_ctx *ctx, void **ptr, size_t bytes);
  void (*mem_free)(graft_ctx *ctx, void *ptr);
  graft_status (*upload)(graft_ctx *ctx, void *dst, const void *host_src, size_t bytes);
  graft_status (*download)(graft_ctx *ctx, void *host_dst, const void *src, size_t bytes);
  graft_status (*copy)(graft_ctx *ctx, void *dst, const void *src, size_t bytes);
  graft_status (*zero)(graft_ctx *ctx, void *dst, size_t bytes);
  graft_status (*sync)(graft_ctx *ctx);
  graft_status (*host_alloc)(void **ptr, size_t bytes);
  void (*host_free)(void *ptr);
  void (*ctx_free)(graft_ctx *ctx); /* releases what the backend's init made */
  /* Between fp32 (backend memory) and the activation storage of ctx:
   * dst = src converted over n elements (a copy when act_dtype is fp32). */
  graft_status (*act_from_f32)(graft_ctx *ctx, int64_t n, const float *src, float *dst_act);
  graft_status (*act_to_f32)(graft_ctx *ctx, int64_t n, const float *src_act, float *dst);

  /* ---- capturing a training step (NULL where the backend cannot) ----
   * Between graph_begin and graph_end the context's ops are recorded, not
   * run; graph_launch replays them with the same pointers and the same
   * by-value arguments. */
  graft_status (*graph_begin)(graft_ctx *ctx);
  graft_status (*graph_end)(graft_ctx *ctx, void **graph);
  graft_status (*graph_launch)(graft_ctx *ctx, void *graph);
  void (*graph_free)(void *graph);

  size_t (*conv2d_workspace)(const graft_conv2d_desc *d);
  graft_status (*conv2d_forward)(graft_ctx *ctx, const graft_conv2d_desc *d,
                                 const float *x,    /* (N, H, W, C) */
                                 const float *w,    /* (K, R, S, C/groups) */
                                 const float *bias, /* (K) or NULL */
                                 float *y);         /* (N, P, Q, K) */
  graft_status (*conv2d_backward)(graft_ctx *ctx, const graft_conv2d_desc *d,
                                  const float *x,  /* (N, H, W, C) */
                                  const float *w,  /* (K, R, S, C/groups) */
                                  const float *dy, /* (N, P, Q, K) */
                                  float *dx,       /* (N, H, W, C) or NULL */
                                  float *dw,       /* (K, R, S, C/groups) or NULL */
                                  float *dbias);   /* (K) or NULL */

  /* Training mode: normalizes with the batch mean and biased variance, saves
   * mean and 1/sqrt(var+eps) for backward, and, when running_mean is not
   * NULL, updates the running statistics with the unbiased variance. */
  graft_status (*bn_forward_train)(graft_ctx *ctx, const graft_bn_desc *d,
                                   const float *x,      /* (M, C) */
                                   const float *gamma,  /* (C) */
                                   const float *beta,   /* (C) */
                                   float *running_mean, /* (C) in/out or NULL */
                                   float *running_var,  /* (C) in/out or NULL */
                                   float *y,            /* (M, C) */
                                   float *save_mean,    /* (C) */
                                   float *save_invstd); /* (C) */
  graft_status (*bn_forward_eval)(graft_ctx *ctx, const graft_bn_desc *d,
                                  const float *x, const float *gamma, const float *beta,
                                  const float *running_mean, const float *running_var,
                                  float *y);
  graft_status (*bn_backward_train)(graft_ctx *ctx, const graft_bn_desc *d,
                                    const float *x,  /* (M, C) */
                                    const float *dy, /* (M, C) */
                                    const float *gamma, const float *save_mean,
                                    const float *save_invstd,
                                    float *dx,      /* (M, C) or NULL */
                                    float *dgamma,  /* (C) or NULL */
                                    float *dbeta);  /* (C) or NULL */
  /* Backward of the eval-mode transform (frozen statistics). */
  graft_status (*bn_backward_eval)(graft_ctx *ctx, const graft_bn_desc *d,
                                   const float *x, const float *dy, const float *gamma,
                                   const float *running_mean, const float *running_var,
                                   float *dx, float *dgamma, float *dbeta);

  /* Batch norm fused with what follows it in a ResNet: y = act(bn(x) +
   * residual), the residual add skipped when residual is NULL. act is
   * GRAFT_ACT_IDENTITY or GRAFT_ACT_RELU (others give GRAFT_EUNSUPPORTED).
   * The statistics, saved values and running updates are those of
   * bn_forward_train; the result is that of bn_forward_train, add_forward
   * and act_forward run one after the other with fp32 storage (with bf16
   * storage the fused op rounds y once where the three would round
   * twice). */
  graft_status (*bn_act_forward_train)(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                       const float *x,        /* (M, C) */
                                       const float *gamma,    /* (C) */
                                       const float *beta,     /* (C) */
                                       float *running_mean,   /* (C) in/out or NULL */
                                       float *running_var,    /* (C) in/out or NULL */
                                       const float *residual, /* (M, C) or NULL */
                                       float *y,              /* (M, C) */
                                       float *save_mean,      /* (C) */
                                       float *save_invstd);   /* (C) */
  graft_status (*bn_act_forward_eval)(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                      const float *x, const float *gamma, const float *beta,
                                      const float *running_mean, const float *running_var,
                                      const float *residual, /* (M, C) or NULL */
                                      float *y);
  /* Backward of bn_act_forward_train from its output y: dz = dy * act'
   * (for ReLU, dy where y > 0), dresidual += dz, then bn_backward_train
   * with dz. dx and dresidual must not alias each other. */
  graft_status (*bn_act_backward_train)(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                        const float *x,  /* (M, C) */
                                        const float *y,  /* (M, C) the forward output */
                                        const float *dy, /* (M, C) */
                                        const float *gamma, const float *save_mean,
                                        const float *save_invstd,
                                        float *dx,        /* (M, C) or NULL */
                                        float *dresidual, /* (M, C) or NULL */
                                        float *dgamma,    /* (C) or NULL */
                                        float *dbeta);    /* (C) or NULL */
  /* Backward of bn_act_forward_eval (frozen statistics). */
  graft_status (*bn_act_backward_eval)(graft_ctx *ctx, const graft_bn_desc *d, graft_act act,
                                       const float *x, const float *y, const float *dy,
                                       const float *gamma, const float *running_mean,
                                       const float *running_var, float *dx, float *dresidual,
                                       float *dgamma, float *dbeta);

  graft_status (*act_forward)(graft_ctx *ctx, graft_act act, float slope, int64_t n,
                              const float *x, float *y);
  /* Gets both the input and the output of the forward pass. */
  graft_status (*act_backward)(graft_ctx *ctx, graft_act act, float slope, int64_t n,
                               const float *x, const float *y, const float *dy, float *dx);

  graft_status (*pool2d_forward)(graft_ctx *ctx, const graft_pool2d_desc *d,
                                 const float *x, /* (N, H, W, C) */
                                 float *y);      /* (N, P, Q, C) */
  /* Max pool routes each gradient to the first maximum of its window in
   * row-major window order (recomputed from x; nothing is stored). */
  graft_status (*pool2d_backward)(graft_ctx *ctx, const graft_pool2d_desc *d,
                                  const float *x, const float *y, const float *dy, float *dx);
  graft_status (*global_avgpool_forward)(graft_ctx *ctx, int n, int hw, int c,
                                         const float *x, /* (N, HW, C) */
                                         float *y);      /* (N, C) */
  graft_status (*global_avgpool_backward)(graft_ctx *ctx, int n, int hw, int c,
                                          const float *dy, /* (N, C) */
                                          float *dx);      /* (N, HW, C) */

  graft_status (*linear_forward)(graft_ctx *ctx, const graft_linear_desc *d,
                                 const float *x,    /* (N, in) */
                                 const float *w,    /* (out, in) */
                                 const float *bias, /* (out) or NULL */
                                 float *y);         /* (N, out) */
  graft_status (*linear_backward)(graft_ctx *ctx, const graft_linear_desc *d,
                                  const float *x, const float *w, const float *dy,
                                  float *dx, float *dw, float *dbias);

  /* y = a + b over n elements (residual connections). */
  graft_status (*add_forward)(graft_ctx *ctx, int64_t n, const float *a, const float *b, float *y);
  /* dst += src over n elements: the backward of add, and fan-out sums. */
  graft_status (*accumulate)(graft_ctx *ctx, int64_t n, const float *src, float *dst);

  /* Concatenation along channels of count tensors with m = N*H*W rows. */
  graft_status (*concat_forward)(graft_ctx *ctx, int64_t m, int count,
                                 const float *const *xs, /* count x (M, cs[i]) */
                                 const int *cs,          /* (count) host memory */
                                 float *y);              /* (M, sum cs) */
  graft_status (*concat_backward)(graft_ctx *ctx, int64_t m, int count,
                                  const float *dy, const int *cs,
                                  float *const *dxs); /* entries may be NULL */

  /* Nearest-neighbour upsampling by integer factors. */
  graft_status (*upsample_forward)(graft_ctx *ctx, int n, int h, int w, int c, int fh, int fw,
                                   const float *x, /* (N, H, W, C) */
                                   float *y);      /* (N, H*fh, W*fw, C) */
  graft_status (*upsample_backward)(graft_ctx *ctx, int n, int h, int w, int c, int fh, int fw,
                                    const float *dy, float *dx);

  /* Inverted dropout: element i is kept when graft_dropout_keep(seed, i, p)
   * and then scaled by 1/(1-p); backward regenerates the same mask. */
  graft_status (*dropout_forward)(graft_ctx *ctx, int64_t n, float p, uint64_t seed,
                                  const float *x, float *y);
  graft_status (*dropout_backward)(graft_ctx *ctx, int64_t n, float p, uint64_t seed,
                                   const float *dy, float *dx);

  graft_status (*xent_forward)(graft_ctx *ctx, const graft_xent_desc *d,
                               const float *logits,   /* (N, K) */
                               const int32_t *labels, /* (N) */
                               float *loss);          /* (1) mean loss */
  graft_status (*xent_backward)(graft_ctx *ctx, const graft_xent_desc *d,
                                const float *logits, const int32_t *labels,
                                const float *dloss, /* (1) */
                                float *dlogits);    /* (N, K) */
  /* Binary cross-entropy with logits, mean over n elements. */
  graft_status (*bce_forward)(graft_ctx *ctx, int64_t n, const float *logits,
                              const float *targets, float *loss);
  graft_status (*bce_backward)(graft_ctx *ctx, int64_t n, const float *logits,
                               const float *targets, const float *dloss, float *dlogits);
  /* Mean squared error, mean over n elements. */
  graft_status (*mse_forward)(graft_ctx *ctx, int64_t n, const float *pred,
                              const float *target, float *loss);
  graft_status (*mse_backward)(graft_ctx *ctx, int64_t n, const float *pred,
                               const float *target, const float *dloss, float *dpred);

  /* Add a batch to counters the caller zeroes once per epoch; the host reads
   * them back once per epoch (metrics/metrics.h turns them into figures). */
  graft_status (*metrics_update)(graft_ctx *ctx, int n, int k,
                                 const float *logits,   /* (N, K) */
                                 const int32_t *labels, /* (N) */
                                 uint64_t *counts);     /* (K*K + 2) accumulated */
  graft_status (*metrics_update_regression)(graft_ctx *ctx, int64_t n,
                                            const float *pred,   /* (N) */
                                            const float *target, /* (N) */
                                            double *sums);       /* (3) accumulated */

  /* ---- the parameter arena ---- */
  /* optim/optim.h's step over the arenas in backend memory (slots in host
   * memory; their step counts advance on the host). */
  graft_status (*optim_step)(graft_ctx *ctx, const graft_optim_cfg *cfg, graft_param_slot *slots,
                             int nslots, float *params, const float *grads, float *state,
                             size_t total);
  /* e = graft_ema_value(e, p, decay) over n floats: the weight average. */
  graft_status (*ema_update)(graft_ctx *ctx, int64_t n, const float *p, float decay, float *e);
  /* torch.nn.utils.clip_grad_norm_ over the slots that are not frozen:
   * when the gradients' global L2 norm exceeds max_norm, scales them by
   * max_norm / (norm + 1e-6). Decided on the device: nothing is read back. */
  graft_status (*clip_grad_norm)(graft_ctx *ctx, const graft_param_slot *slots, int nslots,
                                 float *grads, float max_norm);
} graft_backend;

extern const graft_backend graft_backend_ref;

/* The CPU reference implementations (host/ops/, one file per op family), one per entry. */
size_t graft_conv2d_workspace_ref(const graft_conv2d_desc *d);
graft_status graft_conv2d_forward_ref(graft_ctx *, const graft_conv2d_desc *, const float *,
                                      const float *, const float *, float *);
graft_status graft_conv2d_backward_ref(graft_ctx *, const graft_conv2d_desc *, const float *,
                                       const float *, const float *, float *, float *, float *);
graft_status graft_bn_forward_train_ref(graft_ctx *, const graft_bn_desc *, const float *,
                                        const float *, const float *, float *, float *, float *,
                                        float *, float *);
graft_status graft_bn_forward_eval_ref(graft_ctx *, const graft_bn_desc *, const float *,
                                       const float *, const float *, const float *,
                                       const float *, float *);
graft_status graft_bn_backward_train_ref(graft_ctx *, const graft_bn_desc *, const float *,
                                         const float *, const float *, const float *,
                                         const float *, float *, float *, float *);
graft_status graft_bn_backward_eval_ref(graft_ctx *, const graft_bn_desc *, const float *,
                                        const float *, const float *, const float *,
                                        const float *, float *, float *, float *);
graft_status graft_act_forward_ref(graft_ctx *, graft_act, float, int64_t, const float *, float *);
graft_status graft_act_backward_ref(graft_ctx *, graft_act, float, int64_t, const float *,
                                    const float *, const float *, float *);
graft_status graft_pool2d_forward_ref(graft_ctx *, const graft_pool2d_desc *, const float *, float *);
graft_status graft_pool2d_backward_ref(graft_ctx *, const graft_pool2d_desc *, const float *,
                                       const float *, const float *, float *);
graft_status graft_global_avgpool_forward_ref(graft_ctx *, int, int, int, const float *, float *);
graft_status graft_global_avgpool_backward_ref(graft_ctx *, int, int, int, const float *, float *);
graft_status graft_linear_forward_ref(graft_ctx *, const graft_linear_desc *, const float *,
                                      const float *, const float *, float *);
graft_status graft_linear_backward_ref(graft_ctx *, const graft_linear_desc *, const float *,
                                       const float *, const float *, float *, float *, float *);
graft_status graft_add_forward_ref(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_accumulate_ref(graft_ctx *, int64_t, const float *, float *);
graft_status graft_concat_forward_ref(graft_ctx *, int64_t, int, const float *const *,
                                      const int *, float *);
graft_status graft_concat_backward_ref(graft_ctx *, int64_t, int, const float *, const int *,
                                       float *const *);
graft_status graft_upsample_forward_ref(graft_ctx *, int, int, int, int, int, int,
                                        const float *, float *);
graft_status graft_upsample_backward_ref(graft_ctx *, int, int, int, int, int, int,
                                         const float *, float *);
graft_status graft_dropout_forward_ref(graft_ctx *, int64_t, float, uint64_t, const float *, float *);
graft_status graft_dropout_backward_ref(graft_ctx *, int64_t, float, uint64_t, const float *, float *);
graft_status graft_xent_forward_ref(graft_ctx *, const graft_xent_desc *, const float *,
                                    const int32_t *, float *);
graft_status graft_xent_backward_ref(graft_ctx *, const graft_xent_desc *, const float *,
                                     const int32_t *, const float *, float *);
graft_status graft_bce_forward_ref(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_bce_backward_ref(graft_ctx *, int64_t, const float *, const float *,
                                    const float *, float *);
graft_status graft_mse_forward_ref(graft_ctx *, int64_t, const float *, const float *, float *);
graft_status graft_mse_backward_ref(graft_ctx *, int64_t, const float *, const float *,
                                    const float *, float *);
/* host/ops/memory_ref.c: the CPU reference's memory, stream and arena entries */
graft_status graft_mem_alloc_ref(graft_ctx *, void **, size_t);
void graft_mem_free_ref(graft_ctx *, void *);
graft_status graft_mem_copy_ref(graft_ctx *, void *, const void *, size_t);
graft_status graft_mem_zero_ref(graft_ctx *, void *, size_t);
graft_status graft_sync_ref(graft_ctx *);
graft_status graft_act_from_f32_ref(graft_ctx *, int64_t, const float *, float *);
graft_status graft_act_to_f32_ref(graft_ctx *, int64_t, const float *, float *);
graft_status graft_host_alloc_ref(void **, size_t);
void graft_host_free_ref(void *);
void graft_ctx_free_ref(graft_ctx *);
graft_status graft_ema_update_ref(graft_ctx *, int64_t, const float *, float, float *);
graft_status graft_clip_grad_norm_ref(graft_ctx *, const graft_param_slot *, int, float *, float);
/* host/metrics/metrics_ref.c */
graft_status graft_metrics_update_ref(graft_ctx *, int, int, const float *, const int32_t *,
                                      uint64_t *);
graft_status graft_metrics_update_regression_ref(graft_ctx *, int64_t, const float *,
                                                 const float *, double *);
/* host/ops/bn_act_ref.c */
graft_status graft_bn_act_forward_train_ref(graft_ctx *, const graft_bn_desc *, graft_act,
                                            const float *, const float *, const float *, float *,
                                            float *, const float *, float *, float *, float *);
graft_status graft_bn_act_forward_eval_ref(graft_ctx *, const graft_bn_desc *, graft_act,
                                           const float *, const float *, const float *,
                                           const float *, const float *, const float *, float *);
graft_status graft_bn_act_backward_train_ref(graft_ctx *, const graft_bn_desc *, graft_act,
                                             const float *, const float *, const float *,
                                             const float *, const float *, const float *, float *,
                                             float *, float *, float *);
graft_status graft_bn_act_backward_eval_ref(graft_ctx *, const graft_bn_desc *, graft_act,
                                            const float *, const float *, const float *,
                                            const float *, const float *, const float *, float *,
                                            float *, float *, float *);

#ifdef __cplusplus
}
#endif

#endif

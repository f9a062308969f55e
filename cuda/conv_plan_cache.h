/* conv_plan_cache.h: cuDNN execution plans for the convolutions of a GPU
 * context, chosen once per shape and kept in a table that the context
 * owns (gpu->conv_plans; no globals).
 *
 * A plan is found by its key: the convolution, the direction, the element
 * type of x, w and y, whether the forward adds a fused bias, and whether
 * TF32 engines may serve fp32 tensors. On a miss the plan is made: the
 * graph of conv_graph.h; engine configs from the heuristics
 * (CUDNN_HEUR_MODE_A, then CUDNN_HEUR_MODE_FALLBACK when mode A yields no
 * usable plan); a plan finalized for each config in order, keeping those
 * whose engine passes the precision filter and whose workspace fits the
 * budget, until GRAFT_CONV_TUNE_CANDIDATES are kept; then each candidate
 * runs once untimed and once timed with CUDA events on scratch tensors,
 * and the fastest stays. cuDNN 9.19 deprecates the handle attributes of
 * operation graphs and plans: the handle reaches the heuristics and the
 * plans through a device-property descriptor made from it, and execution
 * through cudnnBackendExecute.
 *
 * Making a plan allocates scratch tensors, synchronizes the stream and may
 * compile kernels, so it belongs to setup, outside the training step and
 * outside CUDA graph capture: graft_conv_plan_get on every convolution of
 * a model before its first step makes each later lookup a hit. A miss
 * inside an op still works, at the cost of that one call.
 *
 * Workspace contract: graft_conv_workspace_limit(d) bytes, which needs no
 * handle (ops.h's conv2d_workspace takes none), is the most any plan for d
 * may use; plans are chosen among those needing at most the smaller of
 * that limit and the context's workspace, so a context whose workspace
 * holds the limit gets the full choice and a smaller one only narrows it.
 * Each plan reports its own need in workspace. */
#ifndef GRAFT_CUDA_CONV_PLAN_CACHE_H
#define GRAFT_CUDA_CONV_PLAN_CACHE_H

#include "conv_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Candidates timed per plan: the first ones the heuristics rank best. */
#define GRAFT_CONV_TUNE_CANDIDATES 4
/* Engine configs read from one heuristics query at most. */
#define GRAFT_CONV_HEUR_CONFIGS 32
/* A convolution's workspace limit is at least this many bytes. */
#define GRAFT_CONV_WORKSPACE_FLOOR ((size_t)16 << 20)

typedef struct {
  graft_conv2d_desc desc; /* p and q filled */
  graft_conv_dir dir;
  graft_dtype io;   /* x, w, y: GRAFT_DTYPE_F32, F16 or BF16 */
  int with_bias;    /* forward only: the graph adds a per-channel bias */
  int allow_tf32;   /* fp32 tensors may go through TF32 tensor-core engines */
} graft_conv_key;

typedef struct {
  graft_conv_key key;
  graft_conv_graph graph;        /* kept alive as long as the plan */
  cudnnBackendDescriptor_t plan; /* NULL: no engine serves the key (cached, not retried) */
  size_t workspace;              /* bytes of ctx->workspace the plan uses */
  int64_t engine;                /* cuDNN's global engine index, for logs */
  float ms;                      /* the timed run */
} graft_conv_plan;

/* Bytes of workspace a plan for d may use: max(GRAFT_CONV_WORKSPACE_FLOOR,
 * the fp32 size of the larger of x and y). */
size_t graft_conv_workspace_limit(const graft_conv2d_desc *d);

/* The plan of key, made on a miss (see above) and owned by ctx's table.
 * *out stays valid until the context is freed; (*out)->plan is NULL when
 * no engine serves the key, which is not an error here (a fused bias has
 * an unfused fallback). Errors: GRAFT_EDEVICE for a CUDA or cuDNN
 * failure, GRAFT_ENOMEM, GRAFT_EINVAL for a bad key. */
graft_status graft_conv_plan_get(graft_ctx *ctx, const graft_conv_key *key,
                                 const graft_conv_plan **out);

/* Enqueues plan on ctx's stream with ctx->workspace. x, w, y are the
 * tensors of the key's direction: forward x, w, y; backward data dx, w,
 * dy; backward filter x, dw, dy. bias is the forward's (K) fp32 bias when
 * the key has one, else NULL. GRAFT_EWORKSPACE when ctx's workspace is
 * smaller than the plan's need. */
graft_status graft_conv_plan_execute(graft_ctx *ctx, const graft_conv_plan *p, const void *x,
                                     const void *w, const void *y, const void *bias);

/* Destroys gpu's table and every plan in it (graft_gpu_ctx_free). */
void graft_conv_plans_free(struct graft_gpu *gpu);

#ifdef __cplusplus
}
#endif

#endif

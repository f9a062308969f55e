/* conv_plan_cache.h: cuDNN execution plans for the convolutions of a GPU
 * context, chosen once per shape and kept in a table that the context
 * owns (gpu->conv_plans; no globals).
 *
 * A plan is found by its key: the convolution, the direction, the
 * precision mode, the element type of x, w and y, whether the forward adds
 * a fused bias, and whether the graph accumulates into its output; fp32,
 * tf32 and bf16 plans of one shape are different entries. On a miss the
 * plan is made: the graph of conv_graph.h; engine configs from the
 * heuristics (CUDNN_HEUR_MODE_A, then CUDNN_HEUR_MODE_FALLBACK when mode A
 * yields no usable plan); the configs whose engine passes the precision
 * filter, tensor-core engines first where the mode prefers them, each
 * finalized in that order, keeping those whose workspace fits the budget
 * until GRAFT_CONV_TUNE_CANDIDATES are kept; then each candidate runs once
 * untimed and once timed with CUDA events on scratch tensors, and the
 * fastest stays. cuDNN 9.19 deprecates the handle attributes of operation
 * graphs and plans: the handle reaches the heuristics and the plans
 * through a device-property descriptor made from it, and execution
 * through cudnnBackendExecute.
 *
 * The precision filter reads each engine's numerical notes. No mode takes
 * an engine that converts its inputs down (DOWN_CONVERT_INPUTS) or reduces
 * in less than fp32 (REDUCED_PRECISION_REDUCTION). fp32 takes no
 * tensor-core engine either, as for fp32 tensors that means TF32; tf32
 * takes them and puts them first; bf16 (bf16 tensors, fp32 compute type)
 * puts tensor-core engines first (graft_conv_engine_tier).
 *
 * Timing allocates scratch tensors and synchronizes the stream, so it
 * belongs to setup, outside the training step: graft_conv_plan_get on
 * every convolution of a model before its first step makes each later
 * lookup a hit. A miss inside an op still works, at the cost of that one
 * call. While a CUDA graph is being captured on the context's stream
 * (gpu->capturing) a miss times nothing: no scratch, no events, no
 * synchronization; the first candidate that fits is kept (and logged at
 * debug level as untimed). Finalizing that plan is cuDNN's own work and may
 * still compile kernels on the host.
 *
 * Workspace contract: graft_conv_workspace_limit(d) bytes, which needs no
 * handle (ops.h's conv2d_workspace takes none), is the most any plan for d
 * may use; plans are chosen among those needing at most the smaller of
 * that limit and the workspace of the context passed in, so a context
 * whose workspace holds the limit gets the full choice and a smaller one
 * only narrows it. Each plan reports its own need in workspace. A caller
 * that keeps a staging buffer of its own in front of the workspace (the
 * bf16 copy of w or dw in conv_exec.cu) passes a context whose workspace
 * is what remains behind it; conv2d_workspace counts both. */
#ifndef GRAFT_CUDA_CONV_PLAN_CACHE_H
#define GRAFT_CUDA_CONV_PLAN_CACHE_H

#include "conv_graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Candidates timed per plan: the first ones the heuristics rank best. */
#define GRAFT_CONV_TUNE_CANDIDATES 4
/* Engine configs read from one heuristics query at most. */
#define GRAFT_CONV_HEUR_CONFIGS 128 /* mode A ranks tensor-core engines first; fp32 needs the rest */
/* A convolution's workspace limit is at least this many bytes. */
#define GRAFT_CONV_WORKSPACE_FLOOR ((size_t)16 << 20)

typedef struct {
  graft_conv2d_desc desc; /* p and q filled */
  graft_conv_dir dir;
  graft_precision prec; /* the precision mode: which engines may serve the key */
  graft_dtype io;       /* x, w, y: GRAFT_DTYPE_F32, F16 or BF16 */
  int with_bias;        /* forward only: the graph adds a per-channel bias */
  int accumulate;       /* the graph adds into its output (beta 1) */
} graft_conv_key;

/* The key with which the GPU convolution entries (conv_exec.cu) run d in
 * direction dir under precision prec. Needs no GPU.
 *   fp32, tf32  x, w, y fp32 (io F32): the caller's tensors; the forward
 *               overwrites y, backward data and backward filter add into
 *               dx and dw (accumulate 1).
 *   bf16        x, w, y bf16 (io BF16), the activations in place (ops.h:
 *               bf16 storage) and w a bf16 copy: the forward overwrites
 *               the bf16 y, backward data adds into the caller's bf16 dx
 *               (accumulate 1: one rounding of dx + the result), and
 *               backward filter overwrites a bf16 dw in the workspace
 *               (accumulate 0), which the caller adds into the fp32 dw.
 *               (For sm_90, cuDNN 9.19 offers no engine for bf16 x and
 *               dy with an fp32 dw, nor for a bf16 convolution fused with
 *               an fp32 bias; test_cudnn_graph.c counts the latter.)
 * with_bias asks for a fused bias on the forward (fp32 and tf32 only).
 * GRAFT_EINVAL for an unknown precision or direction, or a bias on a
 * backward direction or in bf16. */
graft_status graft_conv_key_init(graft_conv_key *key, const graft_conv2d_desc *d,
                                 graft_conv_dir dir, graft_precision prec, int with_bias);

typedef struct {
  graft_conv_key key;
  graft_conv_graph graph;        /* kept alive as long as the plan */
  cudnnBackendDescriptor_t plan; /* NULL: no engine serves the key within budget (retried
                                    only when a later call has a larger budget) */
  size_t workspace;              /* bytes of ctx->workspace the plan uses */
  size_t budget;                 /* the workspace bytes the choice was made under */
  int64_t engine;                /* cuDNN's global engine index, for logs */
  float ms;                      /* the timed run; -1 when kept untimed (during capture) */
} graft_conv_plan;

/* The preference tier of an engine whose numerical notes are
 * notes[0..count) for key's precision: 0 (taken first), 1 (taken after
 * every tier-0 engine), 2 (nondeterministic engines, taken last), or -1
 * when the precision filter above rejects it.
 * Needs no GPU: an engine config from the heuristics names its engine,
 * whose notes can be read. */
int graft_conv_engine_tier(const graft_conv_key *key, const cudnnBackendNumericalNote_t *notes,
                           int64_t count);

/* Bytes of workspace a plan for d may use, in every precision:
 * max(GRAFT_CONV_WORKSPACE_FLOOR, the fp32 size of the larger of x and y). */
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

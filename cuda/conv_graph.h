/* conv_graph.h: a 2-D convolution as a cuDNN backend (graph API) operation
 * graph: NHWC tensor descriptors, the convolution descriptor made from a
 * graft_conv2d_desc, one forward, backward-data or backward-filter
 * operation (the forward optionally followed by a fused bias add), and the
 * operation graph, each finalized, with fp32 as the compute type for every
 * element type of the tensors. Building needs no cuDNN handle and no
 * GPU, so the graphs of every convolution of a model can be built and
 * checked on a machine without one; engine heuristics, execution plans and
 * execution (which do need the GPU) start from graph->graph.
 *
 * cuDNN sees every tensor with its dimensions in N, C, H, W order and the
 * strides of the layout graft stores: activations NHWC, filters KRSC
 * (OHWI). Groups are implied by the filter: its second dimension is
 * C/groups, and cuDNN takes groups = C / (C/groups). */
#ifndef GRAFT_CUDA_CONV_GRAPH_H
#define GRAFT_CUDA_CONV_GRAPH_H

#include "gpu_impl.h"

#ifdef __cplusplus
extern "C" {
#endif

#include "core/tensor.h"
#include "ops/ops.h"

typedef enum {
  GRAFT_CONV_FORWARD,       /* y = conv(x, w) (+ bias) */
  GRAFT_CONV_BACKWARD_DATA, /* dx += conv_transpose(dy, w) */
  GRAFT_CONV_BACKWARD_FILTER /* dw += correlation of x and dy */
} graft_conv_dir;

/* Unique ids of the graph's tensors: the keys of a variant pack. */
enum {
  GRAFT_CONV_UID_X = 1,    /* x, or dx */
  GRAFT_CONV_UID_W = 2,    /* w, or dw */
  GRAFT_CONV_UID_Y = 3,    /* y, or dy */
  GRAFT_CONV_UID_BIAS = 4, /* the forward's bias */
  GRAFT_CONV_UID_ACC = 5   /* the forward's convolution result before the bias (virtual) */
};

typedef struct {
  cudnnBackendDescriptor_t x;       /* (N, C, H, W) dims, NHWC strides: x, or dx */
  cudnnBackendDescriptor_t w;       /* (K, C/groups, R, S) dims, KRSC strides: w, or dw */
  cudnnBackendDescriptor_t y;       /* (N, K, P, Q) dims, NHWC strides: y, or dy */
  cudnnBackendDescriptor_t bias;    /* (1, K, 1, 1) fp32, or NULL */
  cudnnBackendDescriptor_t acc;     /* (N, K, P, Q) virtual fp32 before the bias, or NULL */
  cudnnBackendDescriptor_t conv;    /* the convolution descriptor */
  cudnnBackendDescriptor_t add;     /* the pointwise add descriptor, or NULL */
  cudnnBackendDescriptor_t op;      /* the convolution operation */
  cudnnBackendDescriptor_t bias_op; /* the bias add operation, or NULL */
  cudnnBackendDescriptor_t graph;   /* the finalized operation graph */
  cudnnStatus_t status; /* the last cuDNN status; after a failure, the failing one */
} graft_conv_graph;

/* Builds the graph of direction dir for the convolution d (p and q as
 * graft_conv2d_setup filled them; they are passed to cuDNN as given, so a
 * wrong output shape is cuDNN's to reject). io is the element type of x, w
 * and y: GRAFT_DTYPE_F32, F16 or BF16; the compute type is fp32 whatever
 * io is (fp32 accumulation). accumulate adds the result into the output
 * tensor (beta 1: y, dx or dw; cuDNN reads the old output in io, adds in
 * fp32 and rounds once), else the output is overwritten (beta 0): the
 * backward directions that write the caller's gradients (fp32 dx and dw,
 * the bf16 dx of bf16 storage) accumulate, as ops.h asks, while the
 * forward and an output staged in the workspace (a bf16 dw added into the
 * fp32 one afterwards) overwrite (see graft_conv_key_init). with_bias adds a
 * per-channel fp32 bias to the forward's result (ignored by the backward
 * directions). On failure g is released and g->status tells the cuDNN
 * status that stopped it. */
graft_status graft_conv_graph_build(graft_conv_graph *g, const graft_conv2d_desc *d,
                                    graft_conv_dir dir, graft_dtype io, int with_bias,
                                    int accumulate);

/* Destroys every descriptor that was made; safe on a graph that failed half
 * way, and twice. Keeps g->status. */
void graft_conv_graph_free(graft_conv_graph *g);

#ifdef __cplusplus
}
#endif

#endif

/* trainer.h: one training step of a classifier, shared by `graft step`,
 * `graft bench` and `graft train`: training-mode forward, softmax
 * cross-entropy, backward into freshly zeroed gradients, and the optimizer
 * update over the parameter arena. Owns the optimizer state, the label and
 * loss buffers and the op workspace, all sized once at init, all in the
 * memory of the context's backend (device memory on a GPU, where the host
 * keeps copies of the optimizer state and weight average for checkpoints).
 *
 * On a backend that can capture (the GPU), graft_trainer_enable_graph
 * records the forward, loss and backward of one step as a CUDA graph and
 * replays it for every later step: one launch instead of hundreds. */
#ifndef GRAFT_TRAINER_H
#define GRAFT_TRAINER_H

#include <stdint.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "nn/net.h"
#include "ops/ops.h"
#include "optim/optim.h"

typedef struct {
  graft_net *net;
  graft_ctx *ctx;
  graft_optim_cfg opt;
  graft_arena state;    /* (planes * trainable floats) host copy of the optimizer state */
  float *state_run;     /* the same, where the optimizer runs (state.data on the CPU) */
  graft_xent_desc xent; /* class_weight, when set, is in backend memory */
  int32_t *labels;      /* (N) backend memory */
  float *targets;       /* (N) backend memory: regression targets */
  float *scalars;       /* (2) backend memory: loss, dloss (= 1) */
  float *class_weight;  /* (K) backend memory, or NULL */
  void *workspace;      /* given to ctx when ctx has less; backend memory */
  float ema_decay;      /* 0: no weight average */
  graft_arena ema_param;  /* (param floats) host copy of the parameters' average */
  graft_arena ema_buffer; /* (buffer floats) host copy of the buffers' average */
  float *ema_param_run, *ema_buffer_run; /* the averages where they are updated */
  /* CUDA-graph replay (graft_trainer_enable_graph) */
  int graph_wanted;        /* capture at the next step */
  int graph_steps;         /* eager steps run since graph mode was asked for */
  void *graph;             /* the captured forward/loss/backward, or NULL */
  int graph_regression;    /* which loss the graph holds */
  int64_t *counter_delta;  /* (nparams) what one forward adds to each counter */
  uint64_t graph_frozen;   /* the frozen slots the graph was captured with */
} graft_trainer;

/* Places net on ctx's device (graft_net_place) when it is not there yet,
 * and sizes everything the steps need. */
graft_status graft_trainer_init(graft_trainer *t, graft_net *net, graft_ctx *ctx, const graft_optim_cfg *opt,
                                float label_smoothing);
/* Frees what init made; ctx must still be open. */
void graft_trainer_free(graft_trainer *t);

/* Per-class loss weights (K floats in host memory), copied to the backend. */
graft_status graft_trainer_set_class_weight(graft_trainer *t, const float *weights);

/* Images must already be in the net's input (graft_net_write_act). Runs
 * forward (training mode), the loss, and backward; *loss receives the mean
 * loss when loss is not NULL (on a GPU that waits for the step; pass NULL
 * to let steps queue up). Labels are host memory, copied to the device
 * asynchronously: they must stay unchanged until the step has run (a loss
 * read or the backend's sync). */
graft_status graft_trainer_forward_backward(graft_trainer *t, const int32_t *labels, float *loss);
/* Regression (a head of one output): mean squared error against targets. */
graft_status graft_trainer_forward_backward_mse(graft_trainer *t, const float *targets, float *loss);

/* Applies the optimizer to the gradients of the last backward pass, then
 * moves the weight average (when enabled) towards the new weights. */
graft_status graft_trainer_update(graft_trainer *t);
/* Gradient-norm clipping before the update (see ops.h clip_grad_norm). */
graft_status graft_trainer_clip(graft_trainer *t, float max_norm);

/* Keeps an exponential moving average of the parameters and buffers, with
 * decay per optimizer step, starting from the current weights. */
graft_status graft_trainer_enable_ema(graft_trainer *t, float decay);
/* Exchanges the net's weights with their average (call again to undo), so
 * the average can be evaluated and saved with the ordinary functions. No
 * training step may run between the two calls (a captured step holds the
 * weights' device pointers). */
void graft_trainer_swap_ema(graft_trainer *t);

/* Asks for CUDA-graph replay: the next step runs eagerly (which picks and
 * caches every convolution plan), the one after is captured, and later
 * steps replay it. Refused where the backend cannot capture, and for nets
 * with dropout (whose mask seed changes every step). A capture that fails
 * is reported and the trainer goes on eagerly. When the set of frozen
 * slots changes (unfreeze_epoch), the graph, which skips the frozen part of
 * backward, is dropped and captured again. */
graft_status graft_trainer_enable_graph(graft_trainer *t);

/* Copy the optimizer state and weight average between backend memory and
 * the host copies (for checkpoints); pull waits. Nothing to do on the CPU. */
graft_status graft_trainer_pull(graft_trainer *t);
graft_status graft_trainer_push(graft_trainer *t);

#endif

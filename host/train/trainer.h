/* trainer.h: one training step of a classifier, shared by `graft step`,
 * `graft bench` and `graft train`: training-mode forward, softmax
 * cross-entropy, backward into freshly zeroed gradients, and the optimizer
 * update over the parameter arena. Owns the optimizer state, the label and
 * loss buffers and the op workspace, all sized once at init. */
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
  graft_arena state;   /* (planes * trainable floats) optimizer state */
  graft_xent_desc xent;
  int32_t *labels;     /* (N) */
  float *targets;      /* (N) regression targets */
  float *scalars;      /* (2): loss, dloss */
  void *workspace;     /* given to ctx when ctx has less */
  float ema_decay;     /* 0: no weight average */
  graft_arena ema_param;  /* (param floats) average of the parameters */
  graft_arena ema_buffer; /* (buffer floats) average of the buffers */
} graft_trainer;

graft_status graft_trainer_init(graft_trainer *t, graft_net *net, graft_ctx *ctx, const graft_optim_cfg *opt,
                                float label_smoothing);
void graft_trainer_free(graft_trainer *t);

/* Images must already be in graft_net_act(net, net->input). Runs forward
 * (training mode), the loss, and backward; *loss receives the mean loss.
 * Classification: softmax cross-entropy against labels. */
graft_status graft_trainer_forward_backward(graft_trainer *t, const int32_t *labels, float *loss);
/* Regression (a head of one output): mean squared error against targets. */
graft_status graft_trainer_forward_backward_mse(graft_trainer *t, const float *targets, float *loss);

/* Applies the optimizer to the gradients of the last backward pass, then
 * moves the weight average (when enabled) towards the new weights. */
graft_status graft_trainer_update(graft_trainer *t);

/* Keeps an exponential moving average of the parameters and buffers, with
 * decay per optimizer step, starting from the current weights. */
graft_status graft_trainer_enable_ema(graft_trainer *t, float decay);
/* Exchanges the net's weights with their average (call again to undo), so
 * the average can be evaluated and saved with the ordinary functions. */
void graft_trainer_swap_ema(graft_trainer *t);

#endif

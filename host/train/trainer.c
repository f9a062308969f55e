/* trainer.c: forward, loss, backward and update for one batch. */
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ops/math.h"

void graft_trainer_free(graft_trainer *t) {
  if (!t) return;
  if (t->ctx && t->workspace && t->ctx->workspace == t->workspace) {
    t->ctx->workspace = NULL;
    t->ctx->workspace_bytes = 0;
  }
  free(t->workspace);
  free(t->labels);
  free(t->targets);
  free(t->scalars);
  graft_arena_free(&t->state);
  graft_arena_free(&t->ema_param);
  graft_arena_free(&t->ema_buffer);
  memset(t, 0, sizeof *t);
}

graft_status graft_trainer_init(graft_trainer *t, graft_net *net, graft_ctx *ctx, const graft_optim_cfg *opt,
                                float label_smoothing) {
  memset(t, 0, sizeof *t);
  t->net = net;
  t->ctx = ctx;
  t->opt = *opt;
  GRAFT_TRY(graft_optim_cfg_check(opt));
  if (label_smoothing < 0.0f || label_smoothing > 1.0f)
    GRAFT_FAIL(GRAFT_EINVAL, "label_smoothing=%g: expected a value in [0, 1]", (double)label_smoothing);
  size_t total = net->param.cap;
  graft_status s = graft_arena_init(&t->state, (size_t)graft_optim_state_planes(opt) * total);
  if (s != GRAFT_OK) goto fail;
  t->labels = calloc((size_t)net->batch, sizeof *t->labels);
  t->targets = calloc((size_t)net->batch, sizeof *t->targets);
  t->scalars = calloc(2, sizeof *t->scalars);
  if (!t->labels || !t->targets || !t->scalars) {
    s = GRAFT_ENOMEM;
    goto fail;
  }
  s = graft_ctx_reserve_workspace(ctx, graft_net_workspace_bytes(net, ctx), &t->workspace);
  if (s != GRAFT_OK) goto fail;
  t->xent = (graft_xent_desc){.n = net->batch, .k = net->num_classes, .label_smoothing = label_smoothing,
                              .ignore_index = -100, .class_weight = NULL};
  return GRAFT_OK;
fail:
  GRAFT_ERROR("cannot set up training: %s", graft_status_str(s));
  graft_trainer_free(t);
  return s;
}

/* Forward, the loss (cross-entropy, or MSE when regression), backward. */
static graft_status forward_backward(graft_trainer *t, int regression, float *loss) {
  graft_net *net = t->net;
  graft_ctx *ctx = t->ctx;
  GRAFT_TRY(graft_net_forward(net, ctx, 1));
  const float *out = graft_net_act(net, net->output);
  int64_t n = (int64_t)net->values[net->output].count;
  if (regression) GRAFT_TRY(ctx->backend->mse_forward(ctx, n, out, t->targets, &t->scalars[0]));
  else GRAFT_TRY(ctx->backend->xent_forward(ctx, &t->xent, out, t->labels, &t->scalars[0]));
  GRAFT_TRY(graft_net_zero_grads(net, ctx));
  t->scalars[1] = 1.0f;
  float *dout = graft_net_act_grad(net, net->output);
  if (regression) GRAFT_TRY(ctx->backend->mse_backward(ctx, n, out, t->targets, &t->scalars[1], dout));
  else GRAFT_TRY(ctx->backend->xent_backward(ctx, &t->xent, out, t->labels, &t->scalars[1], dout));
  GRAFT_TRY(graft_net_backward(net, ctx));
  if (loss) *loss = t->scalars[0];
  return GRAFT_OK;
}

graft_status graft_trainer_forward_backward(graft_trainer *t, const int32_t *labels, float *loss) {
  memcpy(t->labels, labels, (size_t)t->net->batch * sizeof *labels);
  return forward_backward(t, 0, loss);
}

graft_status graft_trainer_forward_backward_mse(graft_trainer *t, const float *targets, float *loss) {
  if (t->net->num_classes != 1) GRAFT_FAIL(GRAFT_ESHAPE, "a regression loss needs a head of one output");
  memcpy(t->targets, targets, (size_t)t->net->batch * sizeof *targets);
  return forward_backward(t, 1, loss);
}

static void ema_towards(float *e, const float *p, size_t n, float decay) {
#pragma omp parallel for schedule(static) if (n >= 65536)
  for (size_t i = 0; i < n; i++) e[i] = graft_ema_value(e[i], p[i], decay);
}

graft_status graft_trainer_update(graft_trainer *t) {
  graft_net *net = t->net;
  GRAFT_TRY(graft_optim_step_ref(t->ctx, &t->opt, net->slots, net->nslots, net->param.data, net->grad.data,
                                 t->state.data, net->param.cap));
  if (t->ema_decay > 0.0f) {
    ema_towards(t->ema_param.data, net->param.data, net->param.cap, t->ema_decay);
    ema_towards(t->ema_buffer.data, net->buffer.data, net->buffer.cap, t->ema_decay);
  }
  return GRAFT_OK;
}

graft_status graft_trainer_enable_ema(graft_trainer *t, float decay) {
  if (!(decay > 0.0f && decay < 1.0f)) GRAFT_FAIL(GRAFT_EINVAL, "ema_decay=%g: expected a value in (0, 1)", (double)decay);
  graft_net *net = t->net;
  GRAFT_TRY(graft_arena_init(&t->ema_param, net->param.cap));
  GRAFT_TRY(graft_arena_init(&t->ema_buffer, net->buffer.cap));
  memcpy(t->ema_param.data, net->param.data, net->param.cap * sizeof(float));
  memcpy(t->ema_buffer.data, net->buffer.data, net->buffer.cap * sizeof(float));
  t->ema_decay = decay;
  return GRAFT_OK;
}

void graft_trainer_swap_ema(graft_trainer *t) {
  float *p = t->net->param.data, *b = t->net->buffer.data;
  t->net->param.data = t->ema_param.data;
  t->net->buffer.data = t->ema_buffer.data;
  t->ema_param.data = p;
  t->ema_buffer.data = b;
}

/* trainer.c: forward, loss, backward and update for one batch, on whatever
 * backend the context names, and the CUDA-graph replay of a step. */
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nn/layer.h"

/* Backend memory of bytes, or NULL for zero bytes. */
static graft_status backend_alloc(graft_trainer *t, void **p, size_t bytes) {
  return t->ctx->backend->mem_alloc(t->ctx, p, bytes);
}

static void backend_free(graft_trainer *t, void *p) {
  if (p) t->ctx->backend->mem_free(t->ctx, p);
}

/* Where a host arena's data is used by the ops: the arena itself on a
 * host-memory backend, else a device copy made from it. */
static graft_status run_copy(graft_trainer *t, const graft_arena *host, float **run) {
  *run = NULL;
  if (t->ctx->backend->host_memory) {
    *run = host->data;
    return GRAFT_OK;
  }
  GRAFT_TRY(backend_alloc(t, (void **)run, host->cap * sizeof(float)));
  return t->ctx->backend->upload(t->ctx, *run, host->data, host->cap * sizeof(float));
}

static void run_release(graft_trainer *t, float **run) {
  if (*run && !t->ctx->backend->host_memory) backend_free(t, *run);
  *run = NULL;
}

void graft_trainer_free(graft_trainer *t) {
  if (!t) return;
  if (t->ctx) {
    if (t->graph && t->ctx->backend->graph_free) t->ctx->backend->graph_free(t->graph);
    graft_ctx_release_workspace(t->ctx, t->workspace);
    backend_free(t, t->labels);
    backend_free(t, t->targets);
    backend_free(t, t->scalars);
    backend_free(t, t->class_weight);
    run_release(t, &t->state_run);
    run_release(t, &t->ema_param_run);
    run_release(t, &t->ema_buffer_run);
  }
  free(t->counter_delta);
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
  graft_status s = net->placed || ctx->backend->host_memory ? GRAFT_OK : graft_net_place(net, ctx);
  size_t total = net->param.cap;
  if (s == GRAFT_OK) s = graft_arena_init(&t->state, (size_t)graft_optim_state_planes(opt) * total);
  if (s == GRAFT_OK) s = run_copy(t, &t->state, &t->state_run);
  if (s == GRAFT_OK) s = backend_alloc(t, (void **)&t->labels, (size_t)net->batch * sizeof *t->labels);
  if (s == GRAFT_OK) s = backend_alloc(t, (void **)&t->targets, (size_t)net->batch * sizeof *t->targets);
  if (s == GRAFT_OK) s = backend_alloc(t, (void **)&t->scalars, 2 * sizeof *t->scalars);
  if (s == GRAFT_OK) {
    const float init[2] = {0.0f, 1.0f}; /* the loss, and d(loss)/d(loss) */
    s = ctx->backend->upload(ctx, t->scalars, init, sizeof init);
  }
  if (s == GRAFT_OK) s = graft_ctx_reserve_workspace(ctx, graft_net_workspace_bytes(net, ctx), &t->workspace);
  if (s == GRAFT_OK) s = ctx->backend->sync(ctx);
  if (s != GRAFT_OK) goto fail;
  t->xent = (graft_xent_desc){.n = net->batch, .k = net->num_classes, .label_smoothing = label_smoothing,
                              .ignore_index = -100, .class_weight = NULL};
  return GRAFT_OK;
fail:
  GRAFT_ERROR("cannot set up training: %s", graft_status_str(s));
  graft_trainer_free(t);
  return s;
}

/* Drops a captured step (it holds pointers and the loss descriptor by
 * value); the next steps run eagerly once and capture again. */
static void drop_graph(graft_trainer *t) {
  if (!t->graph) return;
  t->ctx->backend->graph_free(t->graph);
  t->graph = NULL;
  free(t->counter_delta);
  t->counter_delta = NULL;
  t->graph_steps = 0;
}

graft_status graft_trainer_set_class_weight(graft_trainer *t, const float *weights) {
  drop_graph(t);
  size_t bytes = (size_t)t->net->num_classes * sizeof(float);
  if (!t->class_weight) GRAFT_TRY(backend_alloc(t, (void **)&t->class_weight, bytes));
  GRAFT_TRY(t->ctx->backend->upload(t->ctx, t->class_weight, weights, bytes));
  t->xent.class_weight = t->class_weight;
  return t->ctx->backend->sync(t->ctx);
}

/* Forward, the loss (cross-entropy, or MSE when regression), backward: the
 * part of a step a CUDA graph holds. */
static graft_status step_ops(graft_trainer *t, int regression) {
  graft_net *net = t->net;
  graft_ctx *ctx = t->ctx;
  GRAFT_TRY(graft_net_forward(net, ctx, 1));
  const float *out = graft_net_act(net, net->output);
  int64_t n = (int64_t)net->values[net->output].count;
  if (regression) GRAFT_TRY(ctx->backend->mse_forward(ctx, n, out, t->targets, &t->scalars[0]));
  else GRAFT_TRY(ctx->backend->xent_forward(ctx, &t->xent, out, t->labels, &t->scalars[0]));
  GRAFT_TRY(graft_net_zero_grads(net, ctx));
  float *dout = graft_net_act_grad(net, net->output);
  if (regression) GRAFT_TRY(ctx->backend->mse_backward(ctx, n, out, t->targets, &t->scalars[1], dout));
  else GRAFT_TRY(ctx->backend->xent_backward(ctx, &t->xent, out, t->labels, &t->scalars[1], dout));
  return graft_net_backward(net, ctx);
}

/* A replay runs no host code, so what a forward does on the host (the
 * batch-norm counters, the count of training forwards) is applied here. */
static void replay_host_effects(graft_trainer *t) {
  graft_net *net = t->net;
  for (int i = 0; i < net->nparams; i++) net->params[i].counter += t->counter_delta[i];
  net->train_forwards++;
}

/* A fingerprint of which slots are frozen (FNV-1a over the flags). */
static uint64_t frozen_signature(const graft_net *net) {
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < net->nslots; i++) h = (h ^ (uint64_t)(net->slots[i].frozen != 0)) * 1099511628211ull;
  return h;
}

/* Captures step_ops; on success the graph holds it and has not run yet. */
static graft_status capture(graft_trainer *t, int regression) {
  graft_net *net = t->net;
  graft_ctx *ctx = t->ctx;
  t->counter_delta = calloc((size_t)(net->nparams ? net->nparams : 1), sizeof *t->counter_delta);
  if (!t->counter_delta) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for the step graph");
  for (int i = 0; i < net->nparams; i++) t->counter_delta[i] = net->params[i].counter;
  int64_t forwards = net->train_forwards;
  GRAFT_TRY(ctx->backend->graph_begin(ctx));
  graft_status s = step_ops(t, regression);
  void *graph = NULL;
  graft_status e = ctx->backend->graph_end(ctx, &graph);
  if (s == GRAFT_OK) s = e;
  /* Capturing recorded the host effects once; they belong to the replays. */
  for (int i = 0; i < net->nparams; i++) {
    int64_t before = t->counter_delta[i];
    t->counter_delta[i] = net->params[i].counter - before;
    net->params[i].counter = before;
  }
  net->train_forwards = forwards;
  if (s != GRAFT_OK) {
    if (graph) ctx->backend->graph_free(graph);
    return s;
  }
  t->graph = graph;
  t->graph_regression = regression;
  t->graph_frozen = frozen_signature(net);
  return GRAFT_OK;
}

static graft_status forward_backward(graft_trainer *t, int regression, float *loss) {
  graft_ctx *ctx = t->ctx;
  if (t->graph && t->graph_regression != regression)
    GRAFT_FAIL(GRAFT_EINVAL, "the captured step holds the other loss; one trainer runs one task");
  /* Which layers run backward changed: capture again after an eager step. */
  if (t->graph && t->graph_frozen != frozen_signature(t->net)) drop_graph(t);
  if (t->graph_wanted && !t->graph && t->graph_steps >= 1 && t->graph_frozen != frozen_signature(t->net))
    t->graph_steps = 0; /* the eager step ran another backward: run the new one eagerly first */
  if (t->graph_wanted && !t->graph && t->graph_steps >= 1) {
    graft_status s = capture(t, regression);
    if (s != GRAFT_OK) {
      GRAFT_WARN("cannot capture the training step as a CUDA graph (%s); running it eagerly", graft_status_str(s));
      t->graph_wanted = 0;
      free(t->counter_delta);
      t->counter_delta = NULL;
    }
  }
  if (t->graph) {
    GRAFT_TRY(ctx->backend->graph_launch(ctx, t->graph));
    replay_host_effects(t);
  } else {
    GRAFT_TRY(step_ops(t, regression));
    if (t->graph_wanted) {
      t->graph_steps++;
      t->graph_frozen = frozen_signature(t->net); /* what the eager step ran */
    }
  }
  if (loss) {
    GRAFT_TRY(ctx->backend->download(ctx, loss, &t->scalars[0], sizeof *loss));
    GRAFT_TRY(ctx->backend->sync(ctx));
  }
  return GRAFT_OK;
}

graft_status graft_trainer_forward_backward(graft_trainer *t, const int32_t *labels, float *loss) {
  GRAFT_TRY(t->ctx->backend->upload(t->ctx, t->labels, labels, (size_t)t->net->batch * sizeof *labels));
  return forward_backward(t, 0, loss);
}

graft_status graft_trainer_forward_backward_mse(graft_trainer *t, const float *targets, float *loss) {
  if (t->net->num_classes != 1) GRAFT_FAIL(GRAFT_ESHAPE, "a regression loss needs a head of one output");
  GRAFT_TRY(t->ctx->backend->upload(t->ctx, t->targets, targets, (size_t)t->net->batch * sizeof *targets));
  return forward_backward(t, 1, loss);
}

graft_status graft_trainer_clip(graft_trainer *t, float max_norm) {
  graft_net *net = t->net;
  if (!t->ctx->backend->clip_grad_norm)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "the %s backend cannot clip gradients", t->ctx->backend->name);
  return t->ctx->backend->clip_grad_norm(t->ctx, net->slots, net->nslots, net->run.grad, max_norm);
}

graft_status graft_trainer_update(graft_trainer *t) {
  graft_net *net = t->net;
  graft_ctx *ctx = t->ctx;
  GRAFT_TRY(ctx->backend->optim_step(ctx, &t->opt, net->slots, net->nslots, net->run.param, net->run.grad,
                                     t->state_run, net->param.cap));
  if (t->ema_decay > 0.0f) {
    if (!ctx->backend->ema_update)
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "the %s backend cannot keep a weight average", ctx->backend->name);
    GRAFT_TRY(ctx->backend->ema_update(ctx, (int64_t)net->param.cap, net->run.param, t->ema_decay, t->ema_param_run));
    GRAFT_TRY(ctx->backend->ema_update(ctx, (int64_t)net->buffer.cap, net->run.buffer, t->ema_decay,
                                       t->ema_buffer_run));
  }
  return GRAFT_OK;
}

graft_status graft_trainer_enable_ema(graft_trainer *t, float decay) {
  if (!(decay > 0.0f && decay < 1.0f)) GRAFT_FAIL(GRAFT_EINVAL, "ema_decay=%g: expected a value in (0, 1)", (double)decay);
  graft_net *net = t->net;
  GRAFT_TRY(graft_net_pull(net, GRAFT_NET_WEIGHTS));
  GRAFT_TRY(graft_arena_init(&t->ema_param, net->param.cap));
  GRAFT_TRY(graft_arena_init(&t->ema_buffer, net->buffer.cap));
  memcpy(t->ema_param.data, net->param.data, net->param.cap * sizeof(float));
  memcpy(t->ema_buffer.data, net->buffer.data, net->buffer.cap * sizeof(float));
  GRAFT_TRY(run_copy(t, &t->ema_param, &t->ema_param_run));
  GRAFT_TRY(run_copy(t, &t->ema_buffer, &t->ema_buffer_run));
  t->ema_decay = decay;
  return t->ctx->backend->sync(t->ctx);
}

static void swap_ptr(float **a, float **b) {
  float *x = *a;
  *a = *b;
  *b = x;
}

void graft_trainer_swap_ema(graft_trainer *t) {
  graft_net *net = t->net;
  /* Host copies and the memory the ops use change places together, so a
   * pull or a file write after the swap sees the average. */
  swap_ptr(&net->param.data, &t->ema_param.data);
  swap_ptr(&net->buffer.data, &t->ema_buffer.data);
  swap_ptr(&net->run.param, &t->ema_param_run);
  swap_ptr(&net->run.buffer, &t->ema_buffer_run);
}

graft_status graft_trainer_enable_graph(graft_trainer *t) {
  const graft_backend *be = t->ctx->backend;
  if (!be->graph_begin || !be->graph_end || !be->graph_launch || !be->graph_free)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "cuda_graph=1: the %s backend cannot capture a step (use device=gpu)", be->name);
  for (int i = 0; i < t->net->nlayers; i++)
    if (!strcmp(t->net->layers[i]->type->kind, "dropout"))
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "cuda_graph=1 with dropout: the dropout mask changes every step and a "
                                     "captured step would repeat one mask; set dropout=0 or cuda_graph=0");
  t->graph_wanted = 1;
  t->graph_steps = 0;
  return GRAFT_OK;
}

graft_status graft_trainer_pull(graft_trainer *t) {
  graft_ctx *ctx = t->ctx;
  if (ctx->backend->host_memory) return GRAFT_OK;
  const graft_backend *be = ctx->backend;
  GRAFT_TRY(be->download(ctx, t->state.data, t->state_run, t->state.cap * sizeof(float)));
  if (t->ema_decay > 0.0f) {
    GRAFT_TRY(be->download(ctx, t->ema_param.data, t->ema_param_run, t->ema_param.cap * sizeof(float)));
    GRAFT_TRY(be->download(ctx, t->ema_buffer.data, t->ema_buffer_run, t->ema_buffer.cap * sizeof(float)));
  }
  return be->sync(ctx);
}

graft_status graft_trainer_push(graft_trainer *t) {
  graft_ctx *ctx = t->ctx;
  if (ctx->backend->host_memory) return GRAFT_OK;
  const graft_backend *be = ctx->backend;
  GRAFT_TRY(be->upload(ctx, t->state_run, t->state.data, t->state.cap * sizeof(float)));
  if (t->ema_decay > 0.0f) {
    GRAFT_TRY(be->upload(ctx, t->ema_param_run, t->ema_param.data, t->ema_param.cap * sizeof(float)));
    GRAFT_TRY(be->upload(ctx, t->ema_buffer_run, t->ema_buffer.data, t->ema_buffer.cap * sizeof(float)));
  }
  return be->sync(ctx);
}

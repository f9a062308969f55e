/* layer_bn.c: batch normalization over channels (PyTorch nn.BatchNorm2d and
 * BatchNorm1d). Owns <name>.weight and <name>.bias (trainable), the buffers
 * <name>.running_mean and <name>.running_var, the counter
 * <name>.num_batches_tracked, and scratch for the saved batch mean and
 * inverse standard deviation. A layer can be frozen (bn_freeze): it then
 * uses the running statistics in training too, and leaves them alone.
 *
 * The fused layer "batchnorm_act" is the same batch norm, under the same
 * names, followed by an optional residual add and an activation (identity
 * or ReLU): y = act(bn(x) + residual), one backend op each way (ops.h
 * bn_act_*), which is how a ResNet block ends. */
#include <stdio.h>

#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  graft_bn_desc d;
  int weight, bias, mean, var, tracked; /* param ids */
  size_t save;                          /* scratch offset of (2, C): mean, invstd */
  int used_batch_stats;                 /* the last forward normalized with batch statistics */
  int frozen;                           /* bn_freeze: always use the running statistics */
  graft_act act;                        /* batchnorm_act: the activation after the add */
} bn_priv;

static graft_status bn_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  bn_priv *b = l->priv;
  const float *x = graft_net_act(net, l->in[0]);
  float *y = graft_net_act(net, l->out);
  b->used_batch_stats = train && !b->frozen;
  if (!b->used_batch_stats)
    return ctx->backend->bn_forward_eval(ctx, &b->d, x, graft_net_param(net, b->weight),
                                         graft_net_param(net, b->bias), graft_net_param(net, b->mean),
                                         graft_net_param(net, b->var), y);
  float *save = graft_net_scratch(net, b->save);
  net->params[b->tracked].counter++;
  return ctx->backend->bn_forward_train(ctx, &b->d, x, graft_net_param(net, b->weight),
                                        graft_net_param(net, b->bias), graft_net_param(net, b->mean),
                                        graft_net_param(net, b->var), y, save, save + b->d.c);
}

static graft_status bn_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  bn_priv *b = l->priv;
  const float *x = graft_net_act(net, l->in[0]);
  const float *dy = graft_net_act_grad(net, l->out);
  float *dx = graft_net_input_grad(net, l->in[0]); /* NULL: nothing before trains */
  if (!b->used_batch_stats)
    return ctx->backend->bn_backward_eval(ctx, &b->d, x, dy, graft_net_param(net, b->weight),
                                          graft_net_param(net, b->mean), graft_net_param(net, b->var),
                                          dx, graft_net_grad(net, b->weight), graft_net_grad(net, b->bias));
  const float *save = graft_net_scratch(net, b->save);
  return ctx->backend->bn_backward_train(ctx, &b->d, x, dy, graft_net_param(net, b->weight), save,
                                         save + b->d.c, dx, graft_net_grad(net, b->weight),
                                         graft_net_grad(net, b->bias));
}

static const graft_layer_type bn_type = {"batchnorm", bn_forward, bn_backward, NULL};

/* The fused layer: in[0] is x, in[1] (when nin is 2) the residual. */
static graft_status bn_act_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  bn_priv *b = l->priv;
  const float *x = graft_net_act(net, l->in[0]);
  const float *r = l->nin > 1 ? graft_net_act(net, l->in[1]) : NULL;
  float *y = graft_net_act(net, l->out);
  b->used_batch_stats = train && !b->frozen;
  if (!b->used_batch_stats)
    return ctx->backend->bn_act_forward_eval(ctx, &b->d, b->act, x, graft_net_param(net, b->weight),
                                             graft_net_param(net, b->bias), graft_net_param(net, b->mean),
                                             graft_net_param(net, b->var), r, y);
  float *save = graft_net_scratch(net, b->save);
  net->params[b->tracked].counter++;
  return ctx->backend->bn_act_forward_train(ctx, &b->d, b->act, x, graft_net_param(net, b->weight),
                                            graft_net_param(net, b->bias), graft_net_param(net, b->mean),
                                            graft_net_param(net, b->var), r, y, save, save + b->d.c);
}

static graft_status bn_act_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  bn_priv *b = l->priv;
  const float *x = graft_net_act(net, l->in[0]);
  const float *y = graft_net_act(net, l->out);
  const float *dy = graft_net_act_grad(net, l->out);
  /* NULL where nothing before that input trains (the images, a frozen branch) */
  float *dx = graft_net_input_grad(net, l->in[0]);
  float *dr = l->nin > 1 ? graft_net_input_grad(net, l->in[1]) : NULL;
  if (!b->used_batch_stats)
    return ctx->backend->bn_act_backward_eval(ctx, &b->d, b->act, x, y, dy, graft_net_param(net, b->weight),
                                              graft_net_param(net, b->mean), graft_net_param(net, b->var),
                                              dx, dr, graft_net_grad(net, b->weight),
                                              graft_net_grad(net, b->bias));
  const float *save = graft_net_scratch(net, b->save);
  return ctx->backend->bn_act_backward_train(ctx, &b->d, b->act, x, y, dy, graft_net_param(net, b->weight),
                                             save, save + b->d.c, dx, dr, graft_net_grad(net, b->weight),
                                             graft_net_grad(net, b->bias));
}

static const graft_layer_type bn_act_type = {"batchnorm_act", bn_act_forward, bn_act_backward, NULL};

void graft_net_set_bn_frozen(graft_net *net, int frozen) {
  for (int i = 0; i < net->nlayers; i++) {
    const graft_layer_type *t = net->layers[i]->type;
    if (t == &bn_type || t == &bn_act_type) ((bn_priv *)net->layers[i]->priv)->frozen = frozen;
  }
}

/* A batch-norm layer of either type over in[0]: the descriptor, the
 * parameters under PyTorch's names, the saved statistics. */
static int bn_build(graft_net *net, const graft_layer_type *type, const char *name, const int *ins,
                    int nin, graft_act act) {
  const graft_shape *in = &net->values[ins[0]].shape;
  int c = (int)in->dim[in->ndim - 1];
  graft_layer *l = graft_layer_new(type, name, sizeof(bn_priv));
  if (!l) return -1;
  bn_priv *b = l->priv;
  b->act = act;
  b->d.m = graft_shape_numel(in) / c;
  b->d.c = c;
  b->d.eps = 1e-5f;
  b->d.momentum = 0.1f;
  static const struct {
    const char *suffix;
    graft_init init;
    graft_param_kind kind;
  } regs[5] = {{"weight", GRAFT_INIT_ONE, GRAFT_PARAM_WEIGHT},
               {"bias", GRAFT_INIT_ZERO, GRAFT_PARAM_WEIGHT},
               {"running_mean", GRAFT_INIT_ZERO, GRAFT_PARAM_BUFFER},
               {"running_var", GRAFT_INIT_ONE, GRAFT_PARAM_BUFFER},
               {"num_batches_tracked", GRAFT_INIT_ZERO, GRAFT_PARAM_COUNTER}};
  int *ids[5] = {&b->weight, &b->bias, &b->mean, &b->var, &b->tracked};
  int64_t cdims[1] = {c};
  for (int i = 0; i < 5; i++) {
    char pname[GRAFT_NAME_MAX + 24];
    snprintf(pname, sizeof pname, "%s.%s", name, regs[i].suffix);
    graft_shape shape = regs[i].kind == GRAFT_PARAM_COUNTER ? graft_shape_make(0, NULL)
                                                            : graft_shape_make(1, cdims);
    *ids[i] = graft_net_add_param(net, pname, shape, GRAFT_LAYOUT_PLAIN, regs[i].init, regs[i].kind);
    if (*ids[i] < 0) goto fail;
  }
  b->save = graft_arena_plan_reserve(&net->scratch_plan, 2 * (size_t)c);
  return graft_layer_attach(net, l, ins, nin, *in);
fail:
  GRAFT_ERROR("cannot build batch norm %s", name);
  graft_layer_discard(l);
  return -1;
}

int graft_batchnorm(graft_net *net, const char *name, int x) {
  return bn_build(net, &bn_type, name, &x, 1, GRAFT_ACT_IDENTITY);
}

int graft_batchnorm_act(graft_net *net, const char *name, int x, int residual, int act) {
  if (x < 0 || x >= net->nvalues || residual < -1 || residual >= net->nvalues) {
    GRAFT_ERROR("%s: no value %d or %d in the network", name, x, residual);
    return -1;
  }
  if (act != GRAFT_ACT_IDENTITY && act != GRAFT_ACT_RELU) {
    GRAFT_ERROR("%s: activation %d cannot follow a fused batch norm (identity or ReLU only)", name, act);
    return -1;
  }
  if (residual >= 0 && !graft_shape_equal(&net->values[x].shape, &net->values[residual].shape)) {
    GRAFT_ERROR("%s: the residual's shape differs from the batch norm's input", name);
    return -1;
  }
  /* Both gradients would land in one buffer, which the op does not allow. */
  if (residual == x) {
    GRAFT_ERROR("%s: the residual is the batch norm's own input", name);
    return -1;
  }
  int ins[2] = {x, residual};
  return bn_build(net, &bn_act_type, name, ins, residual >= 0 ? 2 : 1, (graft_act)act);
}

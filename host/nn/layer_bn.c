/* layer_bn.c: batch normalization over channels (PyTorch nn.BatchNorm2d and
 * BatchNorm1d). Owns <name>.weight and <name>.bias (trainable), the buffers
 * <name>.running_mean and <name>.running_var, the counter
 * <name>.num_batches_tracked, and scratch for the saved batch mean and
 * inverse standard deviation. A layer can be frozen (bn_freeze): it then
 * uses the running statistics in training too, and leaves them alone. */
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
  float *save = net->scratch.data + b->save;
  net->params[b->tracked].counter++;
  return ctx->backend->bn_forward_train(ctx, &b->d, x, graft_net_param(net, b->weight),
                                        graft_net_param(net, b->bias), graft_net_param(net, b->mean),
                                        graft_net_param(net, b->var), y, save, save + b->d.c);
}

static graft_status bn_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  bn_priv *b = l->priv;
  const float *x = graft_net_act(net, l->in[0]);
  const float *dy = graft_net_act_grad(net, l->out);
  float *dx = l->in[0] == net->input ? NULL : graft_net_act_grad(net, l->in[0]);
  if (!b->used_batch_stats)
    return ctx->backend->bn_backward_eval(ctx, &b->d, x, dy, graft_net_param(net, b->weight),
                                          graft_net_param(net, b->mean), graft_net_param(net, b->var),
                                          dx, graft_net_grad(net, b->weight), graft_net_grad(net, b->bias));
  const float *save = net->scratch.data + b->save;
  return ctx->backend->bn_backward_train(ctx, &b->d, x, dy, graft_net_param(net, b->weight), save,
                                         save + b->d.c, dx, graft_net_grad(net, b->weight),
                                         graft_net_grad(net, b->bias));
}

static const graft_layer_type bn_type = {"batchnorm", bn_forward, bn_backward, NULL};

void graft_net_set_bn_frozen(graft_net *net, int frozen) {
  for (int i = 0; i < net->nlayers; i++)
    if (net->layers[i]->type == &bn_type) ((bn_priv *)net->layers[i]->priv)->frozen = frozen;
}

int graft_batchnorm(graft_net *net, const char *name, int x) {
  const graft_shape *in = &net->values[x].shape;
  int c = (int)in->dim[in->ndim - 1];
  graft_layer *l = graft_layer_new(&bn_type, name, sizeof(bn_priv));
  if (!l) return -1;
  bn_priv *b = l->priv;
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
  return graft_layer_attach(net, l, &x, 1, *in);
fail:
  GRAFT_ERROR("cannot build batch norm %s", name);
  graft_layer_discard(l);
  return -1;
}

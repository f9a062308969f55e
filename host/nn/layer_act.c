/* layer_act.c: elementwise activation layer (ReLU, LeakyReLU, SiLU, Mish,
 * sigmoid). No parameters. */
#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  graft_act act;
  float slope;
  int64_t n;
} act_priv;

static graft_status act_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  act_priv *a = l->priv;
  (void)train;
  return ctx->backend->act_forward(ctx, a->act, a->slope, a->n, graft_net_act(net, l->in[0]),
                                   graft_net_act(net, l->out));
}

static graft_status act_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  act_priv *a = l->priv;
  float *dx = graft_net_input_grad(net, l->in[0]);
  if (!dx) return GRAFT_OK; /* nothing before this layer trains */
  return ctx->backend->act_backward(ctx, a->act, a->slope, a->n, graft_net_act(net, l->in[0]),
                                    graft_net_act(net, l->out), graft_net_act_grad(net, l->out), dx);
}

static const graft_layer_type act_type = {"activation", act_forward, act_backward, NULL};

int graft_activation(graft_net *net, const char *name, int x, int act, float slope) {
  if (act < 0 || act >= GRAFT_ACT_COUNT) {
    GRAFT_ERROR("%s: unknown activation %d", name, act);
    return -1;
  }
  graft_layer *l = graft_layer_new(&act_type, name, sizeof(act_priv));
  if (!l) return -1;
  act_priv *a = l->priv;
  a->act = (graft_act)act;
  a->slope = slope;
  a->n = (int64_t)net->values[x].count;
  return graft_layer_attach(net, l, &x, 1, net->values[x].shape);
}

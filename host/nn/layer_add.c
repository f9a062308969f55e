/* layer_add.c: elementwise sum of two values of one shape (the residual
 * connection). No parameters. */
#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  int64_t n;
} add_priv;

static graft_status add_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  add_priv *a = l->priv;
  (void)train;
  return ctx->backend->add_forward(ctx, a->n, graft_net_act(net, l->in[0]), graft_net_act(net, l->in[1]),
                                   graft_net_act(net, l->out));
}

static graft_status add_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  add_priv *a = l->priv;
  const float *dy = graft_net_act_grad(net, l->out);
  for (int i = 0; i < 2; i++) {
    float *dx = graft_net_input_grad(net, l->in[i]); /* NULL: that branch does not train */
    if (dx) GRAFT_TRY(ctx->backend->accumulate(ctx, a->n, dy, dx));
  }
  return GRAFT_OK;
}

static const graft_layer_type add_type = {"add", add_forward, add_backward, NULL};

int graft_add(graft_net *net, const char *name, int a, int b) {
  if (!graft_shape_equal(&net->values[a].shape, &net->values[b].shape)) {
    GRAFT_ERROR("%s: adding values of different shapes", name);
    return -1;
  }
  graft_layer *l = graft_layer_new(&add_type, name, sizeof(add_priv));
  if (!l) return -1;
  ((add_priv *)l->priv)->n = (int64_t)net->values[a].count;
  int in[2] = {a, b};
  return graft_layer_attach(net, l, in, 2, net->values[a].shape);
}

/* layer_pool.c: max pooling (nn.MaxPool2d) and global average pooling
 * (nn.AdaptiveAvgPool2d(1) followed by flatten). No parameters. */
#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  graft_pool2d_desc d;
} pool_priv;

static graft_status pool_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  pool_priv *p = l->priv;
  (void)train;
  return ctx->backend->pool2d_forward(ctx, &p->d, graft_net_act(net, l->in[0]), graft_net_act(net, l->out));
}

static graft_status pool_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  pool_priv *p = l->priv;
  float *dx = graft_net_input_grad(net, l->in[0]);
  if (!dx) return GRAFT_OK; /* nothing before this layer trains */
  return ctx->backend->pool2d_backward(ctx, &p->d, graft_net_act(net, l->in[0]), graft_net_act(net, l->out),
                                       graft_net_act_grad(net, l->out), dx);
}

static const graft_layer_type pool_type = {"maxpool", pool_forward, pool_backward, NULL};

int graft_maxpool(graft_net *net, const char *name, int x, int kernel, int stride, int pad) {
  const graft_shape *in = &net->values[x].shape;
  graft_layer *l = graft_layer_new(&pool_type, name, sizeof(pool_priv));
  if (!l) return -1;
  pool_priv *p = l->priv;
  p->d = (graft_pool2d_desc){.kind = GRAFT_POOL_MAX, .n = (int)in->dim[0], .h = (int)in->dim[1],
                             .w = (int)in->dim[2], .c = (int)in->dim[3], .r = kernel, .s = kernel,
                             .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad};
  if (graft_pool2d_setup(&p->d) != GRAFT_OK) {
    GRAFT_ERROR("cannot build max pool %s", name);
    graft_layer_discard(l);
    return -1;
  }
  int64_t odims[4] = {p->d.n, p->d.p, p->d.q, p->d.c};
  return graft_layer_attach(net, l, &x, 1, graft_shape_make(4, odims));
}

typedef struct {
  int n, hw, c;
} gap_priv;

static graft_status gap_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  gap_priv *g = l->priv;
  (void)train;
  return ctx->backend->global_avgpool_forward(ctx, g->n, g->hw, g->c, graft_net_act(net, l->in[0]),
                                              graft_net_act(net, l->out));
}

static graft_status gap_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  gap_priv *g = l->priv;
  float *dx = graft_net_input_grad(net, l->in[0]);
  if (!dx) return GRAFT_OK; /* nothing before this layer trains */
  return ctx->backend->global_avgpool_backward(ctx, g->n, g->hw, g->c, graft_net_act_grad(net, l->out), dx);
}

static const graft_layer_type gap_type = {"global_avgpool", gap_forward, gap_backward, NULL};

int graft_global_avgpool(graft_net *net, const char *name, int x) {
  const graft_shape *in = &net->values[x].shape;
  graft_layer *l = graft_layer_new(&gap_type, name, sizeof(gap_priv));
  if (!l) return -1;
  gap_priv *g = l->priv;
  g->n = (int)in->dim[0];
  g->hw = (int)(in->dim[1] * in->dim[2]);
  g->c = (int)in->dim[3];
  int64_t odims[2] = {g->n, g->c};
  return graft_layer_attach(net, l, &x, 1, graft_shape_make(2, odims));
}

/* layer_conv.c: 2-D convolution layer (PyTorch nn.Conv2d). Owns the
 * parameters <name>.weight, file layout (K, C/groups, R, S) and graft
 * layout (K, R, S, C/groups), and optional <name>.bias (K). */
#include <stdio.h>

#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  graft_conv2d_desc d;
  int weight, bias; /* param ids; bias -1 when absent */
} conv_priv;

static graft_status conv_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  conv_priv *c = l->priv;
  (void)train;
  return ctx->backend->conv2d_forward(ctx, &c->d, graft_net_act(net, l->in[0]),
                                      graft_net_param(net, c->weight),
                                      c->bias >= 0 ? graft_net_param(net, c->bias) : NULL,
                                      graft_net_act(net, l->out));
}

static graft_status conv_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  conv_priv *c = l->priv;
  /* No data gradient where nothing before the layer trains (the images,
   * a frozen backbone); no weight gradient while the weight is frozen. */
  float *dx = graft_net_input_grad(net, l->in[0]);
  return ctx->backend->conv2d_backward(ctx, &c->d, graft_net_act(net, l->in[0]),
                                       graft_net_param(net, c->weight), graft_net_act_grad(net, l->out),
                                       dx, graft_net_grad(net, c->weight),
                                       c->bias >= 0 ? graft_net_grad(net, c->bias) : NULL);
}

static size_t conv_workspace(const graft_layer *l, const graft_ctx *ctx) {
  const conv_priv *c = l->priv;
  return ctx->backend->conv2d_workspace(&c->d);
}

static const graft_layer_type conv_type = {"conv2d", conv_forward, conv_backward, conv_workspace};

int graft_conv2d(graft_net *net, const char *name, int x, int out_ch, int kernel, int stride,
                 int pad, int groups, int bias) {
  const graft_shape *in = &net->values[x].shape;
  if (in->ndim != 4) {
    GRAFT_ERROR("%s: convolution needs an (N, H, W, C) input", name);
    return -1;
  }
  graft_layer *l = graft_layer_new(&conv_type, name, sizeof(conv_priv));
  if (!l) return -1;
  conv_priv *c = l->priv;
  c->d = (graft_conv2d_desc){.n = (int)in->dim[0], .h = (int)in->dim[1], .w = (int)in->dim[2],
                             .c = (int)in->dim[3], .k = out_ch, .r = kernel, .s = kernel,
                             .stride_h = stride, .stride_w = stride, .pad_h = pad, .pad_w = pad,
                             .dil_h = 1, .dil_w = 1, .groups = groups};
  char pname[GRAFT_NAME_MAX + 8];
  if (graft_conv2d_setup(&c->d) != GRAFT_OK) goto fail;
  snprintf(pname, sizeof pname, "%s.weight", name);
  int64_t wdims[4] = {out_ch, c->d.c / groups, kernel, kernel};
  c->weight = graft_net_add_param(net, pname, graft_shape_make(4, wdims), GRAFT_LAYOUT_OIHW,
                                  GRAFT_INIT_KAIMING_FAN_OUT, GRAFT_PARAM_WEIGHT);
  if (c->weight < 0) goto fail;
  c->bias = -1;
  if (bias) {
    snprintf(pname, sizeof pname, "%s.bias", name);
    int64_t bdims[1] = {out_ch};
    c->bias = graft_net_add_param(net, pname, graft_shape_make(1, bdims), GRAFT_LAYOUT_PLAIN,
                                  GRAFT_INIT_LINEAR_UNIFORM, GRAFT_PARAM_WEIGHT);
    if (c->bias < 0) goto fail;
    net->params[c->bias].fan_in = net->params[c->weight].fan_in;
  }
  int64_t odims[4] = {c->d.n, c->d.p, c->d.q, c->d.k};
  return graft_layer_attach(net, l, &x, 1, graft_shape_make(4, odims));
fail:
  GRAFT_ERROR("cannot build convolution %s", name);
  graft_layer_discard(l);
  return -1;
}

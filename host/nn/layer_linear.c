/* layer_linear.c: fully connected layer (nn.Linear) on an (N, in) input.
 * Owns <name>.weight (out, in) and <name>.bias (out), in PyTorch's layout. */
#include <stdio.h>

#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

typedef struct {
  graft_linear_desc d;
  int weight, bias;
} linear_priv;

static graft_status linear_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  linear_priv *p = l->priv;
  (void)train;
  return ctx->backend->linear_forward(ctx, &p->d, graft_net_act(net, l->in[0]), graft_net_param(net, p->weight),
                                      graft_net_param(net, p->bias), graft_net_act(net, l->out));
}

static graft_status linear_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  linear_priv *p = l->priv;
  float *dx = l->in[0] == net->input ? NULL : graft_net_act_grad(net, l->in[0]);
  return ctx->backend->linear_backward(ctx, &p->d, graft_net_act(net, l->in[0]),
                                       graft_net_param(net, p->weight), graft_net_act_grad(net, l->out), dx,
                                       graft_net_grad(net, p->weight), graft_net_grad(net, p->bias));
}

/* Bytes of ctx workspace the linear op needs: none, except on the GPU in
 * bf16, which stages bf16 copies of w (out, in) and dy (N, out) at the
 * start of the workspace, each rounded up to 256 bytes (x and dx are bf16
 * activations already; graft_linear_workspace_gpu, cuda/linear.cu, which
 * this matches). */
static size_t linear_workspace(const graft_layer *l, const graft_ctx *ctx) {
  const linear_priv *p = l->priv;
  if (ctx->precision != GRAFT_PREC_BF16) return 0;
  const size_t align = 256, bf16 = 2;
  const size_t elems[2] = {(size_t)p->d.out * p->d.in, (size_t)p->d.n * p->d.out};
  size_t bytes = 0;
  for (int i = 0; i < 2; i++) bytes += (elems[i] * bf16 + align - 1) / align * align;
  return bytes;
}

static const graft_layer_type linear_type = {"linear", linear_forward, linear_backward,
                                             linear_workspace};

int graft_linear(graft_net *net, const char *name, int x, int out_features) {
  const graft_shape *in = &net->values[x].shape;
  if (in->ndim != 2) {
    GRAFT_ERROR("%s: linear needs an (N, features) input", name);
    return -1;
  }
  graft_layer *l = graft_layer_new(&linear_type, name, sizeof(linear_priv));
  if (!l) return -1;
  linear_priv *p = l->priv;
  p->d = (graft_linear_desc){.n = (int)in->dim[0], .in = (int)in->dim[1], .out = out_features};
  char pname[GRAFT_NAME_MAX + 8];
  snprintf(pname, sizeof pname, "%s.weight", name);
  int64_t wdims[2] = {out_features, in->dim[1]};
  p->weight = graft_net_add_param(net, pname, graft_shape_make(2, wdims), GRAFT_LAYOUT_PLAIN,
                                  GRAFT_INIT_LINEAR_UNIFORM, GRAFT_PARAM_WEIGHT);
  snprintf(pname, sizeof pname, "%s.bias", name);
  int64_t bdims[1] = {out_features};
  p->bias = p->weight < 0 ? -1
                          : graft_net_add_param(net, pname, graft_shape_make(1, bdims), GRAFT_LAYOUT_PLAIN,
                                                GRAFT_INIT_LINEAR_UNIFORM, GRAFT_PARAM_WEIGHT);
  if (p->bias >= 0) net->params[p->bias].fan_in = net->params[p->weight].fan_in;
  int64_t odims[2] = {in->dim[0], out_features};
  if (p->bias < 0) {
    GRAFT_ERROR("cannot build linear %s", name);
    graft_layer_discard(l);
    return -1;
  }
  return graft_layer_attach(net, l, &x, 1, graft_shape_make(2, odims));
}

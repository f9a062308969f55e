/* layer.h: what every layer type provides. A layer type is a const table
 * (kind name, forward, backward, free) in its own file; the net runs
 * layers through this table and has no switch over kinds. A layer's own
 * settings live behind `priv`, a struct private to its file. */
#ifndef GRAFT_LAYER_H
#define GRAFT_LAYER_H

#include "core/ctx.h"
#include "core/status.h"
#include "nn/net.h"

#define GRAFT_LAYER_MAX_IN 4

typedef struct graft_layer graft_layer;

typedef struct {
  const char *kind;
  graft_status (*forward)(graft_layer *l, graft_net *net, graft_ctx *ctx, int train);
  graft_status (*backward)(graft_layer *l, graft_net *net, graft_ctx *ctx);
  /* Bytes of ctx workspace the layer's ops need (NULL: none). */
  size_t (*workspace)(const graft_layer *l, const graft_ctx *ctx);
} graft_layer_type;

struct graft_layer {
  const graft_layer_type *type;
  char name[GRAFT_NAME_MAX]; /* PyTorch module path, e.g. "layer1.0.bn2" */
  int in[GRAFT_LAYER_MAX_IN];
  int nin;
  int out;
  int train_mode_seen; /* set by forward(train=1), for layers that care */
  void *priv;          /* the type's own settings; freed with free() */
};

/* Allocates a layer with a zeroed private struct of priv_size bytes. */
graft_layer *graft_layer_new(const graft_layer_type *type, const char *name, size_t priv_size);
/* Frees a layer that was not attached. */
void graft_layer_discard(graft_layer *l);
/* Gives l its inputs and a new output value of shape out, and appends it to
 * the net. Returns the output value id; on failure logs, discards l and
 * returns -1. */
int graft_layer_attach(graft_net *net, graft_layer *l, const int *in, int nin, graft_shape out);

/* ---- builders: each adds one layer and returns its output value id, or
 * -1 after logging why. `name` is the PyTorch module path. ---- */
int graft_conv2d(graft_net *net, const char *name, int x, int out_ch, int kernel, int stride,
                 int pad, int groups, int bias);
int graft_batchnorm(graft_net *net, const char *name, int x);
/* Batch norm `name` (PyTorch's parameter names, as graft_batchnorm) fused
 * with what follows it: y = act(bn(x) + residual). residual is a value of
 * x's shape other than x, or -1 for none; act is GRAFT_ACT_IDENTITY or
 * GRAFT_ACT_RELU. */
int graft_batchnorm_act(graft_net *net, const char *name, int x, int residual, int act);
int graft_activation(graft_net *net, const char *name, int x, int act, float slope);
int graft_maxpool(graft_net *net, const char *name, int x, int kernel, int stride, int pad);
int graft_global_avgpool(graft_net *net, const char *name, int x);
int graft_linear(graft_net *net, const char *name, int x, int out_features);
int graft_add(graft_net *net, const char *name, int a, int b);
int graft_dropout(graft_net *net, const char *name, int x, float p);

/* bn_freeze: every batch-norm layer, fused or not, normalizes with its
 * running statistics even in training, and leaves them unchanged. */
void graft_net_set_bn_frozen(graft_net *net, int frozen);

#endif

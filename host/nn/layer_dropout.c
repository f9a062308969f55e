/* layer_dropout.c: inverted dropout (nn.Dropout). The mask of a training
 * forward is a function of the net's training-forward count, so a resumed
 * run draws the same masks; evaluation passes values through. */
#include "core/log.h"
#include "nn/layer.h"
#include "ops/math.h"
#include "ops/ops.h"

typedef struct {
  float p;
  int64_t n;
  uint64_t seed;  /* of the last forward */
  float used_p;   /* p of the last forward: 0 in evaluation */
} dropout_priv;

static graft_status dropout_forward(graft_layer *l, graft_net *net, graft_ctx *ctx, int train) {
  dropout_priv *d = l->priv;
  d->seed = graft_hash64(0xD80F0u, (uint64_t)net->train_forwards);
  d->used_p = train ? d->p : 0.0f;
  return ctx->backend->dropout_forward(ctx, d->n, d->used_p, d->seed, graft_net_act(net, l->in[0]),
                                       graft_net_act(net, l->out));
}

static graft_status dropout_backward(graft_layer *l, graft_net *net, graft_ctx *ctx) {
  dropout_priv *d = l->priv;
  float *dx = graft_net_input_grad(net, l->in[0]);
  if (!dx) return GRAFT_OK; /* nothing before this layer trains */
  return ctx->backend->dropout_backward(ctx, d->n, d->used_p, d->seed, graft_net_act_grad(net, l->out), dx);
}

static const graft_layer_type dropout_type = {"dropout", dropout_forward, dropout_backward, NULL};

int graft_dropout(graft_net *net, const char *name, int x, float p) {
  if (!(p >= 0.0f && p < 1.0f)) {
    GRAFT_ERROR("%s: dropout probability %g is outside [0, 1)", name, (double)p);
    return -1;
  }
  graft_layer *l = graft_layer_new(&dropout_type, name, sizeof(dropout_priv));
  if (!l) return -1;
  dropout_priv *d = l->priv;
  d->p = p;
  d->n = (int64_t)net->values[x].count;
  return graft_layer_attach(net, l, &x, 1, net->values[x].shape);
}

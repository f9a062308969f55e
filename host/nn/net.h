/* net.h: the network graph. A net is a list of layers in topological order
 * (builders add a layer only after its inputs exist), the values flowing
 * between them, and a registry of parameters and buffers under PyTorch's
 * names and file layouts.
 *
 * Memory is planned once at build time: every value has a slot in the
 * activation arena and one in the activation-gradient arena; parameters,
 * their gradients and optimizer state live in three arenas with equal
 * offsets; buffers (batch-norm running statistics) in a fourth; per-layer
 * saved state (batch-norm mean and invstd) in a scratch arena. Forward and
 * backward then allocate nothing. */
#ifndef GRAFT_NET_H
#define GRAFT_NET_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/ctx.h"
#include "core/tensor.h"
#include "optim/optim.h"

#define GRAFT_NAME_MAX 96

/* How a parameter is stored in graft versus in a PyTorch file. */
typedef enum {
  GRAFT_LAYOUT_PLAIN, /* identical */
  GRAFT_LAYOUT_OIHW,  /* file (K, C, R, S); graft (K, R, S, C) */
} graft_layout;

/* How a freshly built or re-initialized parameter is filled, mirroring
 * torchvision's ResNet initialization. */
typedef enum {
  GRAFT_INIT_ZERO,
  GRAFT_INIT_ONE,
  GRAFT_INIT_KAIMING_FAN_OUT, /* normal, std sqrt(2 / fan_out) */
  GRAFT_INIT_LINEAR_UNIFORM,  /* uniform +-1/sqrt(fan_in) (nn.Linear's default) */
} graft_init;

typedef enum {
  GRAFT_PARAM_WEIGHT,  /* trainable: has a gradient and an optimizer slot */
  GRAFT_PARAM_BUFFER,  /* running_mean/var: saved and loaded, not trained */
  GRAFT_PARAM_COUNTER, /* num_batches_tracked: an int64 kept on the host */
} graft_param_kind;

typedef struct {
  char name[GRAFT_NAME_MAX]; /* "layer1.0.conv1.weight" */
  graft_shape shape;         /* PyTorch's shape, as in the file */
  graft_layout layout;
  graft_init init;
  int64_t fan_in, fan_out;
  graft_param_kind kind;
  int64_t counter;           /* value of a GRAFT_PARAM_COUNTER */
  size_t offset;             /* floats into the param (or buffer) arena */
  size_t count;
  int slot;                  /* index into net->slots; -1 unless a weight */
  int group;                 /* 0 backbone, 1 head (for lr multipliers and freezing) */
} graft_param;

typedef struct {
  graft_shape shape; /* (N, H, W, C) or (N, C) */
  size_t offset;     /* floats into the activation arenas */
  size_t count;
} graft_value;

struct graft_layer;

typedef struct graft_net {
  struct graft_layer **layers;
  int nlayers, cap_layers;
  graft_value *values;
  int nvalues, cap_values;
  graft_param *params;
  int nparams, cap_params;
  graft_param_slot *slots; /* one per trainable parameter, for the optimizer */
  int nslots;

  int batch;        /* N the net was built for */
  int input;        /* value id of the input images (N, H, W, C) */
  int output;       /* value id of the logits (N, K) */
  int num_classes;

  graft_arena_plan act_plan, param_plan, buffer_plan, scratch_plan;
  graft_arena act, act_grad, param, grad, buffer, scratch;
  int64_t train_forwards; /* training-mode forward passes: seeds dropout */
} graft_net;

void graft_net_init(graft_net *net, int batch);
void graft_net_free(graft_net *net);

/* ---- building ---- */
/* A new value of the given shape; returns its id or -1 when out of memory. */
int graft_net_add_value(graft_net *net, graft_shape shape);
/* Registers a parameter, buffer or counter under its PyTorch name; returns
 * its id or -1 (and logs) on failure. */
int graft_net_add_param(graft_net *net, const char *name, graft_shape file_shape,
                        graft_layout layout, graft_init init, graft_param_kind kind);
graft_status graft_net_add_layer(graft_net *net, struct graft_layer *layer);
/* Allocates the arenas once every layer is added and fills parameters with
 * their initial values from seed. */
graft_status graft_net_finalize(graft_net *net, uint64_t seed);

/* ---- running ---- */
float *graft_net_act(graft_net *net, int value);      /* (value shape) */
float *graft_net_act_grad(graft_net *net, int value); /* (value shape) */
float *graft_net_param(graft_net *net, int param);    /* graft layout; NULL for counters */
float *graft_net_grad(graft_net *net, int param);     /* graft layout; NULL unless a weight */
int graft_net_find_param(const graft_net *net, const char *name);

graft_status graft_net_forward(graft_net *net, graft_ctx *ctx, int train);
/* A backward pass: graft_net_zero_grads, then the caller seeds the
 * act_grad of net->output (the loss backward adds into it), then
 * graft_net_backward runs every layer's backward in reverse order. Layers
 * add into activation and parameter gradients, as ops do. */
graft_status graft_net_zero_grads(graft_net *net, graft_ctx *ctx);
graft_status graft_net_backward(graft_net *net, graft_ctx *ctx);

/* Re-initializes one parameter as a fresh build would (seeded). */
void graft_net_init_param(graft_net *net, int param, uint64_t seed);

/* Largest workspace any layer needs on ctx's backend, in bytes. */
size_t graft_net_workspace_bytes(const graft_net *net, const graft_ctx *ctx);

/* Number of trainable floats, for summaries. */
size_t graft_net_trainable_count(const graft_net *net);

#endif

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
 * backward then allocate nothing. On a GPU the arenas live in device
 * memory and the host keeps mirrors of the parameters, buffers and
 * gradients for reading and writing files (graft_net_place). */
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
  int layer;                 /* index of the layer that owns it (builders register
                                a layer's parameters just before attaching it) */
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
  /* Host arenas. param, buffer and grad are always here: files are read
   * into and written from them. act, act_grad and scratch are released
   * when the net is placed on a device, which then holds them. */
  graft_arena act, act_grad, param, grad, buffer, scratch;
  /* Where the layers' ops read and write: the host arenas above for a
   * host-memory backend, device arenas once graft_net_place put the net on
   * a GPU. Each points at the arena of the same name's size. */
  struct {
    float *act, *act_grad, *param, *grad, *buffer, *scratch;
    float *stage; /* (input floats) fp32 staging for a device storing bf16 activations */
  } run;
  graft_ctx *placed;      /* owns run.* when they are not the host arenas; else NULL */
  size_t *act_at;         /* (nvalues) byte offsets of the values in run.act and
                             run.act_grad once placed: each value in its own
                             storage type (the output's logits are fp32) */
  size_t act_bytes;       /* bytes of run.act and of run.act_grad once placed */
  /* (nvalues) whether backward must produce the value's gradient: some
   * layer at or before it has a parameter that is not frozen. Worked out
   * by every graft_net_backward from the slots' frozen flags. */
  unsigned char *needs_grad;
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

/* ---- placement ---- */
/* Puts the net in the memory of ctx's backend. On a host-memory backend
 * (the CPU reference) there is nothing to do. Otherwise it
 * allocates the activation, gradient, parameter, buffer and scratch arenas
 * in backend memory, uploads the parameters and buffers, and frees the
 * host act, act_grad and scratch arenas. Call it once, after the weights
 * are loaded; free the net before closing ctx. */
graft_status graft_net_place(graft_net *net, graft_ctx *ctx);
/* What graft_net_pull copies back to the host arenas. */
enum { GRAFT_NET_WEIGHTS = 1, /* parameters and buffers */
       GRAFT_NET_GRADS = 2 };
/* Copies the placed net's parameters and buffers (and/or gradients) into
 * the host arenas and waits for them, so files can be written. Nothing to
 * do when the net is not placed. */
graft_status graft_net_pull(graft_net *net, int what);
/* Copies the host parameters and buffers to the placed net (after a file
 * was read into them). Nothing to do when not placed. */
graft_status graft_net_push(graft_net *net);
/* Fills value from host memory (count floats, at most the value's size),
 * and reads a value into host memory (waits). Both convert to and from the
 * activation storage of the placed context (bf16 in the GPU's bf16 mode;
 * the output logits are always fp32). On a device the upload may still be
 * running when write_act returns: src must stay unchanged until the next
 * wait on the context (read_act, a loss read, the backend's sync). */
graft_status graft_net_write_act(graft_net *net, int value, const float *src, size_t count);
graft_status graft_net_read_act(graft_net *net, int value, float *dst, size_t count);

/* ---- running: pointers in the memory the ops run on ---- */
float *graft_net_act(graft_net *net, int value);      /* (value shape) */
float *graft_net_act_grad(graft_net *net, int value); /* (value shape) */
float *graft_net_param(graft_net *net, int param);    /* graft layout; NULL for counters */
/* graft layout; NULL unless a weight, and NULL while its slot is frozen
 * (a frozen parameter's gradient is not computed). */
float *graft_net_grad(graft_net *net, int param);
/* Where a layer's backward adds the gradient of its input value: NULL
 * when nothing before it trains (the images, a frozen backbone), so the
 * layer can skip that work. */
float *graft_net_input_grad(graft_net *net, int value);
/* The host copies, for files and initialization (see graft_net_pull). */
float *graft_net_param_host(graft_net *net, int param);
float *graft_net_grad_host(graft_net *net, int param);
float *graft_net_scratch(graft_net *net, size_t offset); /* a layer's saved state, planned in scratch_plan */
int graft_net_find_param(const graft_net *net, const char *name);

graft_status graft_net_forward(graft_net *net, graft_ctx *ctx, int train);
/* A backward pass: graft_net_zero_grads, then the caller seeds the
 * act_grad of net->output (the loss backward adds into it), then
 * graft_net_backward runs the layers' backwards in reverse order. Layers
 * add into activation and parameter gradients, as ops do. A layer whose
 * output needs no gradient (everything up to it is frozen) is skipped:
 * with freeze=backbone only the head runs backward. */
graft_status graft_net_zero_grads(graft_net *net, graft_ctx *ctx);
graft_status graft_net_backward(graft_net *net, graft_ctx *ctx);

/* Re-initializes one parameter as a fresh build would (seeded). */
void graft_net_init_param(graft_net *net, int param, uint64_t seed);

/* Largest workspace any layer needs on ctx's backend, in bytes. */
size_t graft_net_workspace_bytes(const graft_net *net, const graft_ctx *ctx);

/* Number of trainable floats, for summaries. */
size_t graft_net_trainable_count(const graft_net *net);

#endif

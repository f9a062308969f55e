/* net.c: the graph container: values, parameters, layers, arena planning,
 * parameter initialization, and the forward and backward sweeps. */
#include "nn/net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nn/layer.h"
#include "ops/math.h"
#include "ops/ops.h"

static void graft_net_unplace(graft_net *net);

void graft_net_init(graft_net *net, int batch) {
  memset(net, 0, sizeof *net);
  net->batch = batch;
  net->input = -1;
  net->output = -1;
}

void graft_net_free(graft_net *net) {
  if (!net) return;
  for (int i = 0; i < net->nlayers; i++) {
    if (!net->layers[i]) continue;
    free(net->layers[i]->priv);
    free(net->layers[i]);
  }
  free(net->layers);
  free(net->values);
  free(net->params);
  free(net->slots);
  free(net->needs_grad);
  graft_net_unplace(net);
  free(net->act_at);
  graft_arena_free(&net->act);
  graft_arena_free(&net->act_grad);
  graft_arena_free(&net->param);
  graft_arena_free(&net->grad);
  graft_arena_free(&net->buffer);
  graft_arena_free(&net->scratch);
  memset(net, 0, sizeof *net);
}

/* The run arenas point at the host arenas: the state of an unplaced net. */
static void run_on_host(graft_net *net) {
  net->run.act = net->act.data;
  net->run.act_grad = net->act_grad.data;
  net->run.param = net->param.data;
  net->run.grad = net->grad.data;
  net->run.buffer = net->buffer.data;
  net->run.scratch = net->scratch.data;
}

/* Frees the device arenas of a placed net; the net keeps its host
 * mirrors of the parameters, buffers and gradients. */
static void graft_net_unplace(graft_net *net) {
  graft_ctx *ctx = net->placed;
  if (!ctx) return;
  float **runs[7] = {&net->run.act, &net->run.act_grad, &net->run.param,   &net->run.grad,
                     &net->run.buffer, &net->run.scratch, &net->run.stage};
  for (int i = 0; i < 7; i++) {
    ctx->backend->mem_free(ctx, *runs[i]);
    *runs[i] = NULL;
  }
  net->placed = NULL;
}

/* Grows an array of elements of size elem to hold one more. */
static int grow(void **arr, int *cap, int n, size_t elem) {
  if (n < *cap) return 1;
  int ncap = *cap ? *cap * 2 : 32;
  void *p = realloc(*arr, (size_t)ncap * elem);
  if (!p) return 0;
  *arr = p;
  *cap = ncap;
  return 1;
}

int graft_net_add_value(graft_net *net, graft_shape shape) {
  if (!grow((void **)&net->values, &net->cap_values, net->nvalues, sizeof(graft_value))) {
    GRAFT_ERROR("out of memory adding a value");
    return -1;
  }
  graft_value *v = &net->values[net->nvalues];
  v->shape = shape;
  v->count = (size_t)graft_shape_numel(&shape);
  v->offset = graft_arena_plan_reserve(&net->act_plan, v->count);
  return net->nvalues++;
}

int graft_net_add_param(graft_net *net, const char *name, graft_shape file_shape,
                        graft_layout layout, graft_init init, graft_param_kind kind) {
  if (strlen(name) >= GRAFT_NAME_MAX) {
    GRAFT_ERROR("parameter name too long: %s", name);
    return -1;
  }
  if (graft_net_find_param(net, name) >= 0) {
    GRAFT_ERROR("duplicate parameter name %s", name);
    return -1;
  }
  if (!grow((void **)&net->params, &net->cap_params, net->nparams, sizeof(graft_param))) {
    GRAFT_ERROR("out of memory adding parameter %s", name);
    return -1;
  }
  graft_param *p = &net->params[net->nparams];
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->shape = file_shape;
  p->layout = layout;
  p->init = init;
  p->kind = kind;
  p->count = kind == GRAFT_PARAM_COUNTER ? 0 : (size_t)graft_shape_numel(&file_shape);
  p->slot = -1;
  p->layer = net->nlayers;
  /* fan_in / fan_out as torch.nn.init computes them: dim 1 and dim 0 times
   * the receptive field. */
  int64_t receptive = 1;
  for (int i = 2; i < file_shape.ndim; i++) receptive *= file_shape.dim[i];
  p->fan_out = file_shape.ndim >= 1 ? file_shape.dim[0] * receptive : 1;
  p->fan_in = file_shape.ndim >= 2 ? file_shape.dim[1] * receptive : p->fan_out;
  if (kind != GRAFT_PARAM_COUNTER)
    p->offset = graft_arena_plan_reserve(kind == GRAFT_PARAM_BUFFER ? &net->buffer_plan : &net->param_plan,
                                         p->count);
  return net->nparams++;
}

graft_status graft_net_add_layer(graft_net *net, graft_layer *layer) {
  if (!grow((void **)&net->layers, &net->cap_layers, net->nlayers, sizeof(graft_layer *)))
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory adding layer %s", layer->name);
  net->layers[net->nlayers++] = layer;
  return GRAFT_OK;
}

graft_layer *graft_layer_new(const graft_layer_type *type, const char *name, size_t priv_size) {
  graft_layer *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  l->type = type;
  snprintf(l->name, sizeof l->name, "%s", name);
  l->priv = calloc(1, priv_size ? priv_size : 1);
  if (!l->priv) {
    free(l);
    return NULL;
  }
  return l;
}

void graft_layer_discard(graft_layer *l) {
  if (!l) return;
  free(l->priv);
  free(l);
}

int graft_layer_attach(graft_net *net, graft_layer *l, const int *in, int nin, graft_shape out) {
  for (int i = 0; i < nin && i < GRAFT_LAYER_MAX_IN; i++) l->in[i] = in[i];
  l->nin = nin;
  l->out = graft_net_add_value(net, out);
  if (l->out < 0 || graft_net_add_layer(net, l) != GRAFT_OK) {
    GRAFT_ERROR("cannot add layer %s", l->name);
    graft_layer_discard(l);
    return -1;
  }
  return l->out;
}

/* Standard normal from two hashed uniforms (Box-Muller). */
static float hashed_normal(uint64_t seed, uint64_t i) {
  double u1 = ((double)(graft_hash64(seed, 2 * i) >> 11) + 1.0) / 9007199254740993.0;
  double u2 = (double)(graft_hash64(seed, 2 * i + 1) >> 11) / 9007199254740992.0;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void graft_net_init_param(graft_net *net, int id, uint64_t seed) {
  graft_param *p = &net->params[id];
  if (p->kind == GRAFT_PARAM_COUNTER) {
    p->counter = 0;
    return;
  }
  float *dst = graft_net_param_host(net, id);
  uint64_t s = graft_hash64(seed, (uint64_t)id);
  switch (p->init) {
    case GRAFT_INIT_ZERO:
      memset(dst, 0, p->count * sizeof(float));
      break;
    case GRAFT_INIT_ONE:
      for (size_t i = 0; i < p->count; i++) dst[i] = 1.0f;
      break;
    case GRAFT_INIT_KAIMING_FAN_OUT: {
      float std = (float)sqrt(2.0 / (double)p->fan_out);
      for (size_t i = 0; i < p->count; i++) dst[i] = std * hashed_normal(s, i);
      break;
    }
    case GRAFT_INIT_LINEAR_UNIFORM: {
      float bound = (float)(1.0 / sqrt((double)p->fan_in));
      for (size_t i = 0; i < p->count; i++) dst[i] = bound * (2.0f * graft_hash_uniform(s, i) - 1.0f);
      break;
    }
  }
}

graft_status graft_net_finalize(graft_net *net, uint64_t seed) {
  if (net->input < 0 || net->output < 0)
    GRAFT_FAIL(GRAFT_EINVAL, "network has no input or output");
  GRAFT_TRY(graft_arena_init(&net->act, net->act_plan.used));
  GRAFT_TRY(graft_arena_init(&net->act_grad, net->act_plan.used));
  GRAFT_TRY(graft_arena_init(&net->param, net->param_plan.used));
  GRAFT_TRY(graft_arena_init(&net->grad, net->param_plan.used));
  GRAFT_TRY(graft_arena_init(&net->buffer, net->buffer_plan.used));
  GRAFT_TRY(graft_arena_init(&net->scratch, net->scratch_plan.used));
  net->slots = calloc((size_t)(net->nparams ? net->nparams : 1), sizeof *net->slots);
  net->needs_grad = calloc((size_t)(net->nvalues ? net->nvalues : 1), 1);
  if (!net->slots || !net->needs_grad) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for optimizer slots");
  net->nslots = 0;
  for (int i = 0; i < net->nparams; i++) {
    graft_param *p = &net->params[i];
    if (p->kind != GRAFT_PARAM_WEIGHT) continue;
    graft_param_slot *s = &net->slots[net->nslots];
    s->offset = p->offset;
    s->count = p->count;
    s->lr_mult = 1.0f;
    s->decay = 1;
    s->frozen = 0;
    s->step = 0;
    p->slot = net->nslots++;
  }
  run_on_host(net);
  for (int i = 0; i < net->nparams; i++) graft_net_init_param(net, i, seed);
  return GRAFT_OK;
}

graft_status graft_net_place(graft_net *net, graft_ctx *ctx) {
  if (ctx->backend->host_memory) return GRAFT_OK;
  if (net->placed) GRAFT_FAIL(GRAFT_EINVAL, "the network is already placed on a device");
  const graft_backend *be = ctx->backend;
  graft_arena *host[6] = {&net->act, &net->act_grad, &net->param, &net->grad, &net->buffer, &net->scratch};
  float **runs[6] = {&net->run.act, &net->run.act_grad, &net->run.param,
                     &net->run.grad, &net->run.buffer, &net->run.scratch};
  static const char *const what[6] = {"activations", "activation gradients", "parameters",
                                      "gradients", "buffers", "saved statistics"};
  for (int i = 0; i < 6; i++) *runs[i] = NULL;
  net->run.stage = NULL;
  if (ctx->act_dtype != GRAFT_DTYPE_F32) {
    /* The loss ops read fp32 logits and linear writes fp32 (ops.h): the
     * output must come from a linear layer, and no other linear may feed
     * a layer that reads the context's storage type. */
    int maker = -1;
    for (int i = 0; i < net->nlayers; i++) {
      const graft_layer *l = net->layers[i];
      if (l->out == net->output) maker = i;
      else if (!strcmp(l->type->kind, "linear"))
        GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s activations: linear layer %s must make the network's output",
                   graft_dtype_name(ctx->act_dtype), l->name);
    }
    if (maker < 0 || strcmp(net->layers[maker]->type->kind, "linear"))
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s activations need a network that ends in a linear layer",
                 graft_dtype_name(ctx->act_dtype));
  }
  /* Byte layout of the device activation arenas: values in order, each
   * 256-byte aligned, in its storage type. */
  free(net->act_at);
  net->act_at = malloc((size_t)(net->nvalues ? net->nvalues : 1) * sizeof *net->act_at);
  if (!net->act_at) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory placing the network");
  net->act_bytes = 0;
  for (int v = 0; v < net->nvalues; v++) {
    size_t elem = v == net->output ? sizeof(float) : graft_dtype_size(ctx->act_dtype);
    net->act_at[v] = net->act_bytes;
    net->act_bytes += (net->values[v].count * elem + 255) / 256 * 256;
  }
  net->placed = ctx;
  graft_status s = GRAFT_OK;
  size_t total = 0;
  for (int i = 0; i < 6 && s == GRAFT_OK; i++) {
    size_t bytes = i < 2 ? net->act_bytes : host[i]->cap * sizeof(float);
    s = be->mem_alloc(ctx, (void **)runs[i], bytes);
    if (s != GRAFT_OK) GRAFT_ERROR("cannot place the network's %s (%zu bytes) on %s", what[i], bytes, be->name);
    else s = be->zero(ctx, *runs[i], bytes);
    total += bytes;
  }
  if (s == GRAFT_OK && ctx->act_dtype != GRAFT_DTYPE_F32)
    s = be->mem_alloc(ctx, (void **)&net->run.stage, net->values[net->input].count * sizeof(float));
  if (s == GRAFT_OK) s = graft_net_push(net);
  if (s == GRAFT_OK) s = be->sync(ctx);
  if (s != GRAFT_OK) {
    graft_net_unplace(net);
    run_on_host(net);
    return s;
  }
  /* The device holds the activations from now on. */
  graft_arena_free(&net->act);
  graft_arena_free(&net->act_grad);
  graft_arena_free(&net->scratch);
  GRAFT_DEBUG("network placed on %s: %.1f MiB", be->name, (double)total / 1048576.0);
  return GRAFT_OK;
}

graft_status graft_net_pull(graft_net *net, int what) {
  graft_ctx *ctx = net->placed;
  if (!ctx) return GRAFT_OK;
  const graft_backend *be = ctx->backend;
  if (what & GRAFT_NET_WEIGHTS) {
    GRAFT_TRY(be->download(ctx, net->param.data, net->run.param, net->param.cap * sizeof(float)));
    GRAFT_TRY(be->download(ctx, net->buffer.data, net->run.buffer, net->buffer.cap * sizeof(float)));
  }
  if (what & GRAFT_NET_GRADS)
    GRAFT_TRY(be->download(ctx, net->grad.data, net->run.grad, net->grad.cap * sizeof(float)));
  return be->sync(ctx);
}

graft_status graft_net_push(graft_net *net) {
  graft_ctx *ctx = net->placed;
  if (!ctx) return GRAFT_OK;
  GRAFT_TRY(ctx->backend->upload(ctx, net->run.param, net->param.data, net->param.cap * sizeof(float)));
  return ctx->backend->upload(ctx, net->run.buffer, net->buffer.data, net->buffer.cap * sizeof(float));
}

static graft_status act_range(const graft_net *net, int value, size_t count) {
  if (value < 0 || value >= net->nvalues) GRAFT_FAIL(GRAFT_EINVAL, "no value %d in the network", value);
  if (count > net->values[value].count)
    GRAFT_FAIL(GRAFT_ESHAPE, "%zu floats for a value of %zu", count, net->values[value].count);
  return GRAFT_OK;
}

/* Whether value is stored in another type than fp32 and fits the fp32
 * stage it is converted through. */
static int staged(const graft_net *net, int value, size_t count) {
  return net->placed && net->placed->act_dtype != GRAFT_DTYPE_F32 && value != net->output &&
         count <= net->values[net->input].count;
}

graft_status graft_net_write_act(graft_net *net, int value, const float *src, size_t count) {
  GRAFT_TRY(act_range(net, value, count));
  float *dst = graft_net_act(net, value);
  graft_ctx *ctx = net->placed;
  if (!ctx) {
    memcpy(dst, src, count * sizeof(float));
    return GRAFT_OK;
  }
  if (ctx->act_dtype == GRAFT_DTYPE_F32 || value == net->output)
    return ctx->backend->upload(ctx, dst, src, count * sizeof(float));
  if (!staged(net, value, count))
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "writing %zu floats into a %s value larger than the input", count,
               graft_dtype_name(ctx->act_dtype));
  GRAFT_TRY(ctx->backend->upload(ctx, net->run.stage, src, count * sizeof(float)));
  return ctx->backend->act_from_f32(ctx, (int64_t)count, net->run.stage, dst);
}

graft_status graft_net_read_act(graft_net *net, int value, float *dst, size_t count) {
  GRAFT_TRY(act_range(net, value, count));
  const float *src = graft_net_act(net, value);
  graft_ctx *ctx = net->placed;
  if (!ctx) {
    memcpy(dst, src, count * sizeof(float));
    return GRAFT_OK;
  }
  if (ctx->act_dtype != GRAFT_DTYPE_F32 && value != net->output) {
    if (!staged(net, value, count))
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "reading %zu floats of a %s value larger than the input", count,
                 graft_dtype_name(ctx->act_dtype));
    GRAFT_TRY(ctx->backend->act_to_f32(ctx, (int64_t)count, src, net->run.stage));
    src = net->run.stage;
  }
  GRAFT_TRY(ctx->backend->download(ctx, dst, src, count * sizeof(float)));
  return ctx->backend->sync(ctx);
}

/* A value in an activation arena: at its planned float offset in a host
 * arena, at its placed byte offset on a device (act_at: bf16 values take
 * half the bytes, the fp32 logits their full size). */
static float *act_at(const graft_net *net, float *base, int value) {
  if (net->placed) return (float *)((char *)base + net->act_at[value]);
  return base + net->values[value].offset;
}

float *graft_net_act(graft_net *net, int value) { return act_at(net, net->run.act, value); }

float *graft_net_act_grad(graft_net *net, int value) { return act_at(net, net->run.act_grad, value); }

float *graft_net_param(graft_net *net, int id) {
  graft_param *p = &net->params[id];
  if (p->kind == GRAFT_PARAM_COUNTER) return NULL;
  return (p->kind == GRAFT_PARAM_BUFFER ? net->run.buffer : net->run.param) + p->offset;
}

float *graft_net_grad(graft_net *net, int id) {
  graft_param *p = &net->params[id];
  if (p->kind != GRAFT_PARAM_WEIGHT || (p->slot >= 0 && net->slots && net->slots[p->slot].frozen)) return NULL;
  return net->run.grad + p->offset;
}

float *graft_net_input_grad(graft_net *net, int value) {
  if (value == net->input || (net->needs_grad && !net->needs_grad[value])) return NULL;
  return act_at(net, net->run.act_grad, value);
}

float *graft_net_param_host(graft_net *net, int id) {
  graft_param *p = &net->params[id];
  if (p->kind == GRAFT_PARAM_COUNTER) return NULL;
  return (p->kind == GRAFT_PARAM_BUFFER ? net->buffer.data : net->param.data) + p->offset;
}

float *graft_net_grad_host(graft_net *net, int id) {
  graft_param *p = &net->params[id];
  return p->kind == GRAFT_PARAM_WEIGHT ? net->grad.data + p->offset : NULL;
}

float *graft_net_scratch(graft_net *net, size_t offset) { return net->run.scratch + offset; }

int graft_net_find_param(const graft_net *net, const char *name) {
  for (int i = 0; i < net->nparams; i++)
    if (!strcmp(net->params[i].name, name)) return i;
  return -1;
}

size_t graft_net_trainable_count(const graft_net *net) {
  size_t n = 0;
  for (int i = 0; i < net->nparams; i++)
    if (net->params[i].kind == GRAFT_PARAM_WEIGHT) n += net->params[i].count;
  return n;
}

size_t graft_net_workspace_bytes(const graft_net *net, const graft_ctx *ctx) {
  size_t most = 0;
  for (int i = 0; i < net->nlayers; i++) {
    const graft_layer *l = net->layers[i];
    if (!l->type->workspace) continue;
    size_t b = l->type->workspace(l, ctx);
    if (b > most) most = b;
  }
  return most;
}

graft_status graft_net_forward(graft_net *net, graft_ctx *ctx, int train) {
  for (int i = 0; i < net->nlayers; i++) {
    graft_layer *l = net->layers[i];
    graft_status s = l->type->forward(l, net, ctx, train);
    if (s != GRAFT_OK) GRAFT_FAIL(s, "forward of %s (%s) failed: %s", l->name, l->type->kind, graft_status_str(s));
  }
  if (train) net->train_forwards++;
  return GRAFT_OK;
}

graft_status graft_net_zero_grads(graft_net *net, graft_ctx *ctx) {
  GRAFT_TRY(ctx->backend->zero(ctx, net->run.act_grad,
                                net->placed ? net->act_bytes : net->act_plan.used * sizeof(float)));
  return ctx->backend->zero(ctx, net->run.grad, net->grad.cap * sizeof(float));
}

/* needs_grad of every value from the frozen flags: a layer's output
 * needs a gradient when the layer has a parameter that trains or one of
 * its inputs needs one. */
static void plan_grads(graft_net *net) {
  memset(net->needs_grad, 0, (size_t)net->nvalues);
  for (int i = 0; i < net->nparams; i++) {
    const graft_param *p = &net->params[i];
    if (p->slot >= 0 && !net->slots[p->slot].frozen && p->layer < net->nlayers)
      net->needs_grad[net->layers[p->layer]->out] = 1;
  }
  for (int i = 0; i < net->nlayers; i++) {
    const graft_layer *l = net->layers[i];
    for (int k = 0; k < l->nin; k++)
      if (l->in[k] != net->input && net->needs_grad[l->in[k]]) net->needs_grad[l->out] = 1;
  }
}

graft_status graft_net_backward(graft_net *net, graft_ctx *ctx) {
  plan_grads(net);
  for (int i = net->nlayers - 1; i >= 0; i--) {
    graft_layer *l = net->layers[i];
    if (!net->needs_grad[l->out]) continue;
    graft_status s = l->type->backward(l, net, ctx);
    if (s != GRAFT_OK) GRAFT_FAIL(s, "backward of %s (%s) failed: %s", l->name, l->type->kind, graft_status_str(s));
  }
  return GRAFT_OK;
}

/* model_args.h: the keys shared by every command that builds a model
 * (model, num_classes, widths, weights, strict, seed), an optimizer
 * (optimizer, lr, momentum, nesterov, weight_decay, betas, eps), or a
 * context (device, threads, precision). */
#ifndef GRAFT_MODEL_ARGS_H
#define GRAFT_MODEL_ARGS_H

#include <stdint.h>

#include "cli/args.h"
#include "nn/net.h"
#include "optim/optim.h"

typedef struct {
  const char *model;   /* resnet18, resnet50, resnet20, ... */
  int num_classes;
  const char *widths;  /* stage widths override, or NULL */
  const char *weights; /* file, "hash:SEED", or NULL for a fresh init */
  int strict;
  uint64_t seed;
  float dropout;       /* before the classifier head */
} graft_model_args;

graft_status graft_model_args_get(graft_args *a, graft_model_args *m);
/* Builds the ResNet for (net->batch, h, w, c) inputs and loads weights. */
graft_status graft_model_build(graft_net *net, const graft_model_args *m, int h, int w, int c);

graft_status graft_optim_args_get(graft_args *a, graft_optim_cfg *cfg);

/* device=cpu|gpu|gpu:N|auto (default def_device), threads=N,
 * precision=fp32|tf32|bf16: what graft_ctx_open takes (core/ctx.h). */
typedef struct {
  const char *device;
  int threads;
  graft_precision precision;
} graft_ctx_args;

graft_status graft_ctx_args_get(graft_args *a, const char *def_device, graft_ctx_args *c);

#endif

/* model_args.c: reading model and optimizer keys, and building the model. */
#include "cli/model_args.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "nn/resnet.h"
#include "nn/weights.h"

graft_status graft_model_args_get(graft_args *a, graft_model_args *m) {
  m->model = graft_args_str(a, "model", "resnet18");
  m->widths = graft_args_str(a, "widths", NULL);
  m->weights = graft_args_str(a, "weights", NULL);
  GRAFT_TRY(graft_args_int(a, "num_classes", 10, &m->num_classes));
  GRAFT_TRY(graft_args_bool(a, "strict", 0, &m->strict));
  GRAFT_TRY(graft_args_u64(a, "seed", 0, &m->seed));
  GRAFT_TRY(graft_args_float(a, "dropout", 0.0f, &m->dropout));
  if (m->num_classes < 1) GRAFT_FAIL(GRAFT_EINVAL, "num_classes=%d: expected at least 1", m->num_classes);
  return GRAFT_OK;
}

graft_status graft_model_build(graft_net *net, const graft_model_args *m, int h, int w, int c) {
  graft_resnet_spec spec;
  GRAFT_TRY(graft_resnet_spec_from_name(m->model, &spec));
  if (m->widths) GRAFT_TRY(graft_resnet_spec_set_widths(&spec, m->widths));
  spec.head_dropout = m->dropout;
  GRAFT_TRY(graft_resnet_build(net, &spec, h, w, c, m->num_classes, m->seed));
  if (!m->weights) return GRAFT_OK;
  graft_load_opts opts = {.strict = m->strict};
  return graft_weights_load(net, m->weights, &opts, NULL);
}

graft_status graft_optim_args_get(graft_args *a, graft_optim_cfg *cfg) {
  static const char *const kinds[] = {"sgd", "adamw", NULL};
  int kind = 0;
  GRAFT_TRY(graft_args_choice(a, "optimizer", kinds, 0, &kind));
  graft_optim_cfg_default(cfg, kind == 0 ? GRAFT_OPTIM_SGD : GRAFT_OPTIM_ADAMW);
  GRAFT_TRY(graft_args_float(a, "lr", cfg->lr, &cfg->lr));
  GRAFT_TRY(graft_args_float(a, "momentum", cfg->momentum, &cfg->momentum));
  GRAFT_TRY(graft_args_bool(a, "nesterov", cfg->nesterov, &cfg->nesterov));
  GRAFT_TRY(graft_args_float(a, "weight_decay", cfg->weight_decay, &cfg->weight_decay));
  GRAFT_TRY(graft_args_float(a, "beta1", cfg->beta1, &cfg->beta1));
  GRAFT_TRY(graft_args_float(a, "beta2", cfg->beta2, &cfg->beta2));
  GRAFT_TRY(graft_args_float(a, "eps", cfg->eps, &cfg->eps));
  const char *betas = graft_args_str(a, "betas", NULL);
  if (betas) {
    char *end = NULL;
    double b1 = strtod(betas, &end);
    double b2 = *end == ',' ? strtod(end + 1, &end) : -1.0;
    if (*end || b2 < 0.0) GRAFT_FAIL(GRAFT_EINVAL, "betas=%s: expected two numbers like 0.9,0.999", betas);
    cfg->beta1 = (float)b1;
    cfg->beta2 = (float)b2;
  }
  return graft_optim_cfg_check(cfg);
}

graft_status graft_ctx_args_get(graft_args *a, const char *def_device, graft_ctx_args *c) {
  static const char *const precisions[] = {"fp32", "tf32", "bf16", NULL}; /* graft_precision order */
  int precision = GRAFT_PREC_FP32;
  c->device = graft_args_str(a, "device", def_device);
  GRAFT_TRY(graft_args_int(a, "threads", 0, &c->threads));
  GRAFT_TRY(graft_args_choice(a, "precision", precisions, GRAFT_PREC_FP32, &precision));
  if (c->threads < 0) GRAFT_FAIL(GRAFT_EINVAL, "threads=%d: expected 0 (every core) or more", c->threads);
  c->precision = (graft_precision)precision;
  return GRAFT_OK;
}

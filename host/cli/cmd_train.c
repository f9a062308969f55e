/* cmd_train.c: `graft train`, the command users live in. Reads the
 * configuration (INI files with -c, then key=value overrides; resume=DIR
 * starts from DIR/config.ini), turns it into graft_train_opts and runs the
 * loop. Keys of features this build does not have yet are refused when set
 * to anything but their default, rather than silently ignored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"
#include "core/log.h"
#include "train/train.h"

#define GET(kind, key, ...)                                          \
  do {                                                               \
    graft_status get_s_ = graft_config_##kind(cfg, key, __VA_ARGS__); \
    if (get_s_ != GRAFT_OK) return get_s_;                           \
  } while (0)

/* Index of value in choices (NULL-terminated), or -1. */
static int choice(const char *value, const char *const *choices) {
  for (int i = 0; value && choices[i]; i++)
    if (!strcmp(value, choices[i])) return i;
  return -1;
}

static graft_status opts_from_config(const graft_config *cfg, graft_train_opts *o) {
  static const char *const optimizers[] = {"sgd", "adamw", NULL};
  static const char *const schedules[] = {"cosine", "step", "constant", NULL};
  static const char *const caches[] = {"none", "ram", "file", NULL};
  static const char *const freezes[] = {"none", "layer1", "layer2", "layer3", "layer4", "backbone", NULL};
  const char *s = NULL;
  graft_train_opts_defaults(o);
  GET(str, "model", &o->model.model);
  GET(str, "task", &s);
  o->regression = s && !strcmp(s, "regression");
  GET(int, "num_classes", &o->model.num_classes);
  GET(str, "widths", &o->model.widths);
  GET(str, "weights", &o->model.weights);
  GET(bool, "strict", &o->model.strict);
  GET(float, "dropout", &o->model.dropout);
  GET(str, "data", &o->data);
  GET(int, "image_size", &o->image_size);
  GET(int, "batch", &o->batch);
  GET(int, "workers", &o->workers);
  GET(str, "cache", &s);
  o->cache = (graft_cache_mode)choice(s, caches);
  GET(str, "cache_file", &o->cache_file);
  GET(int, "resize", &o->aug.resize);
  GET(float, "flip", &o->aug.flip);
  GET(float, "brightness", &o->aug.brightness);
  GET(float, "contrast", &o->aug.contrast);
  GET(float, "saturation", &o->aug.saturation);
  const float *v = NULL;
  int n = 0;
  GET(floats, "scale", &v, &n);
  memcpy(o->aug.scale, v, 2 * sizeof(float));
  GET(floats, "ratio", &v, &n);
  memcpy(o->aug.ratio, v, 2 * sizeof(float));
  GET(floats, "mean", &v, &n);
  memcpy(o->aug.mean, v, 3 * sizeof(float));
  GET(floats, "std", &v, &n);
  memcpy(o->aug.std, v, 3 * sizeof(float));
  GET(str, "on_bad_image", &s);
  o->on_bad_image = s && !strcmp(s, "skip") ? GRAFT_BAD_IMAGE_SKIP : GRAFT_BAD_IMAGE_ERROR;
  float val_split = 0.2f;
  GET(float, "val_split", &val_split);
  o->val_ratio = val_split;
  int64_t seed = 0;
  GET(int64, "seed", &seed);
  o->seed = (uint64_t)seed;
  o->model.seed = (uint64_t)seed;
  GET(str, "class_weights", &s);
  o->balanced_loss = s && !strcmp(s, "balanced");
  GET(str, "sampler", &s);
  o->balanced_sampler = s && !strcmp(s, "balanced");
  GET(str, "optimizer", &s);
  graft_optim_cfg_default(&o->optim, choice(s, optimizers) == 1 ? GRAFT_OPTIM_ADAMW : GRAFT_OPTIM_SGD);
  GET(float, "lr", &o->optim.lr);
  GET(float, "momentum", &o->optim.momentum);
  GET(bool, "nesterov", &o->optim.nesterov);
  GET(float, "weight_decay", &o->optim.weight_decay);
  GET(float, "beta1", &o->optim.beta1);
  GET(float, "beta2", &o->optim.beta2);
  GET(float, "eps", &o->optim.eps);
  GET(bool, "no_decay_bias_norm", &o->no_decay_bias_norm);
  GET(float, "backbone_lr_mult", &o->backbone_lr_mult);
  GET(float, "clip_grad_norm", &o->clip_grad_norm);
  GET(int, "epochs", &o->epochs);
  GET(str, "schedule", &s);
  o->schedule = (graft_sched_kind)choice(s, schedules);
  GET(float, "warmup_epochs", &o->warmup_epochs);
  GET(int, "step_size", &o->step_size);
  GET(float, "gamma", &o->gamma);
  GET(float, "min_lr", &o->min_lr);
  GET(float, "label_smoothing", &o->label_smoothing);
  int ema = 0;
  GET(bool, "ema", &ema);
  GET(float, "ema_decay", &o->ema_decay);
  if (!ema) o->ema_decay = 0.0f;
  GET(str, "freeze", &s);
  o->freeze = choice(s, freezes);
  if (o->freeze < 0) o->freeze = 0;
  GET(int, "unfreeze_epoch", &o->unfreeze_epoch);
  GET(bool, "bn_freeze", &o->bn_freeze);
  GET(str, "out", &o->out);
  GET(str, "name", &o->name);
  GET(str, "resume", &o->resume);
  GET(int, "save_every", &o->save_every);
  GET(str, "best_metric", &o->best_metric);
  GET(str, "early_stop_metric", &o->early_stop_metric);
  GET(int, "early_stop_patience", &o->early_stop_patience);
  GET(int, "log_every", &o->log_every);
  GET(bool, "quiet", &o->quiet);
  GET(str, "nan_policy", &s);
  o->nan_skip = s && !strcmp(s, "skip");
  GET(int, "threads", &o->threads);
  GET(str, "device", &o->device);
  GET(str, "precision", &s);
  o->precision = graft_precision_parse(s);
  if (o->precision < 0) o->precision = GRAFT_PREC_FP32;
  GET(bool, "cuda_graph", &o->cuda_graph);
  if (!o->data) GRAFT_FAIL(GRAFT_EINVAL, "train needs data=FOLDER (in a config file or on the command line)");
  return GRAFT_OK;
}

/* Reads -c files and key=value overrides into cfg (resume=DIR first loads
 * DIR/config.ini) and fills o. On failure returns the exit status. */
static int read_config(int argc, char **argv, graft_config *cfg, graft_train_opts *o) {
  graft_status s = graft_config_init(cfg);
  for (int i = 0; i < argc && s == GRAFT_OK; i++) {
    if (!strncmp(argv[i], "resume=", 7)) {
      char path[4096];
      snprintf(path, sizeof path, "%s/config.ini", argv[i] + 7);
      s = graft_config_load(cfg, path);
    }
  }
  if (s == GRAFT_OK) s = graft_config_args(cfg, argc, argv, NULL, 0, NULL);
  if (s == GRAFT_OK) s = graft_config_check(cfg);
  if (s == GRAFT_OK) s = opts_from_config(cfg, o);
  if (s == GRAFT_OK) return 0;
  graft_config_free(cfg);
  return 2; /* every failure here is a usage or configuration error */
}

static int wants_help(int argc, char **argv, const char *usage) {
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      printf("%s\n\n", usage);
      graft_config_print_help(stdout);
      return 1;
    }
  }
  return 0;
}

int graft_cmd_train(int argc, char **argv) {
  if (wants_help(argc, argv, "usage: graft train [-c FILE.ini ...] [key=value ...]")) return 0;
  graft_config cfg;
  graft_train_opts o;
  int rc = read_config(argc, argv, &cfg, &o);
  if (rc) return rc;
  o.config = &cfg; /* o points into cfg: it lives until the run ends */
  graft_status s = graft_train_run(&o);
  graft_config_free(&cfg);
  if (s == GRAFT_EINTERRUPTED) return GRAFT_EXIT_INTERRUPTED;
  return s == GRAFT_OK ? 0 : 1;
}

/* `graft eval -c RUN/config.ini weights=RUN/best.safetensors [json=1]`: the
 * training keys describe the model and data; json is the one key of its own. */
int graft_cmd_eval(int argc, char **argv) {
  if (wants_help(argc, argv, "usage: graft eval [-c FILE.ini ...] weights=FILE [json=1] [key=value ...]")) return 0;
  int json = 0;
  char **rest = malloc((size_t)(argc > 0 ? argc : 1) * sizeof *rest);
  if (!rest) return 1;
  int n = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "json=1") || !strcmp(argv[i], "--json")) json = 1;
    else if (strcmp(argv[i], "json=0")) rest[n++] = argv[i];
  }
  graft_config cfg;
  graft_train_opts o;
  int rc = read_config(n, rest, &cfg, &o);
  free(rest);
  if (rc) return rc;
  graft_status s = graft_eval_run(&o, json);
  graft_config_free(&cfg);
  return s == GRAFT_OK ? 0 : 1;
}

/* train.h: `graft train`, the training loop of a classifier: dataset and
 * loaders, the model with pre-trained weights, transfer-learning controls,
 * the optimizer and schedule, per-epoch validation metrics, the run folder
 * (config, log, metrics.jsonl, checkpoints, report) and exact resume. The
 * command-line layer fills graft_train_opts from the config. */
#ifndef GRAFT_TRAIN_H
#define GRAFT_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "cli/model_args.h"
#include "config/config.h"
#include "core/status.h"
#include "data/loader.h"
#include "optim/optim.h"
#include "train/schedule.h"

/* Exit status of a run stopped by SIGINT, SIGTERM or SIGUSR1 after it
 * saved its checkpoint (EX_TEMPFAIL: resume it later). */
#define GRAFT_EXIT_INTERRUPTED 75

typedef struct {
  graft_model_args model;
  int regression;       /* task=regression: one output, MSE, train.csv/val.csv targets */
  /* data */
  const char *data;
  int image_size, batch, workers;
  graft_cache_mode cache;
  const char *cache_file; /* cache=file: written by graft prepare */
  graft_bad_image on_bad_image;
  double val_ratio;
  uint64_t seed;
  int balanced_loss;    /* class_weights=balanced */
  int balanced_sampler; /* sampler=balanced: classes drawn equally often */
  graft_cls_aug aug;    /* size is image_size; resize 0 means image_size * 8/7 */
  /* optimization */
  graft_optim_cfg optim;
  float backbone_lr_mult;
  int no_decay_bias_norm;
  float clip_grad_norm; /* 0: off */
  int epochs;
  graft_sched_kind schedule;
  float warmup_epochs;
  int step_size;
  float gamma;
  float min_lr;
  float label_smoothing;
  float ema_decay;      /* weight average per step; 0: none */
  /* transfer learning */
  int freeze;           /* 0 none; 1..4 stem and layer1..layerN; 5 whole backbone */
  int unfreeze_epoch;   /* epoch (1-based) from which nothing is frozen; 0 never */
  int bn_freeze;
  /* output */
  const char *out;      /* parent of run folders */
  const char *name;     /* run folder name; NULL: the data folder's name */
  const char *resume;   /* a run folder to continue */
  const char *best_metric; /* "accuracy", "macro_f1", "loss", ..., "auto" */
  const char *early_stop_metric; /* as best_metric; "auto": best_metric */
  int early_stop_patience; /* 0: off */
  int save_every;       /* epochs between last.safetensors and checkpoint writes; 0: the end only */
  int log_every;
  int quiet;
  int nan_skip;         /* nan_policy=skip; else stop */
  int threads;
  const char *device;   /* "auto", "cpu", "gpu" (core/ctx.h graft_ctx_open) */
  int precision;        /* graft_precision */
  int cuda_graph;       /* replay each training step as a captured CUDA graph */
  const graft_config *config; /* resolved config, stored as config.ini in the run (may be NULL) */
} graft_train_opts;

void graft_train_opts_defaults(graft_train_opts *o);

/* Runs training; the final metrics are printed and written. Returns
 * GRAFT_EINTERRUPTED after a signal checkpoint. */
graft_status graft_train_run(const graft_train_opts *o);

/* `graft eval`: the model of o (weights must fit strictly) on the
 * validation split of o->data; prints the metrics table, or JSON. */
graft_status graft_eval_run(const graft_train_opts *o, int json);

#endif

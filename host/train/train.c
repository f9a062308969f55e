/* train.c: the training loop. One net (built for the batch size) serves
 * training and validation; validation pads a short last batch and counts
 * only its real rows (batch norm in evaluation mode treats rows
 * independently). Everything random is a function of (seed, epoch, index,
 * step), so a run resumed from its checkpoint continues bit for bit. */
#define _POSIX_C_SOURCE 200809L
#include "train/train.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "data/dataset.h"
#include "nn/layer.h"
#include "nn/weights.h"
#include "train/checkpoint.h"
#include "train/evaluate.h"
#include "io/fileio.h"
#include "train/regression.h"
#include "train/run_dir.h"
#include "train/trainer.h"

/* The one piece of process state: which stop signal arrived. A signal
 * handler can do nothing else safely. */
static volatile sig_atomic_t stop_signal = 0;

static void on_stop_signal(int sig) { stop_signal = sig; }

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

void graft_train_opts_defaults(graft_train_opts *o) {
  memset(o, 0, sizeof *o);
  o->model.model = "resnet18";
  o->model.num_classes = 0;
  o->image_size = 224;
  o->batch = 32;
  o->workers = 2;
  o->val_ratio = 0.1;
  graft_cls_aug_defaults(&o->aug);
  o->aug.resize = 0;
  graft_optim_cfg_default(&o->optim, GRAFT_OPTIM_SGD);
  o->backbone_lr_mult = 1.0f;
  o->epochs = 10;
  o->schedule = GRAFT_SCHED_COSINE;
  o->gamma = 0.1f;
  o->step_size = 30;
  o->out = "runs";
  o->best_metric = "auto";
  o->early_stop_metric = "auto";
  o->save_every = 1;
  o->log_every = 50;
}

static const char *early_stop_metric(const graft_train_opts *o) {
  return !o->early_stop_metric || !strcmp(o->early_stop_metric, "auto") ? o->best_metric : o->early_stop_metric;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Stage of a parameter for freezing: 0 stem (conv1/bn1), 1..4 layerN,
 * 5 head and anything after the backbone. */
static int param_stage(const graft_param *p) {
  if (p->group == 1) return 5;
  if (!strncmp(p->name, "layer", 5) && p->name[5] >= '1' && p->name[5] <= '9') return p->name[5] - '0';
  return 0;
}

/* Learning-rate multipliers, weight-decay switches and freezing. */
static void configure_slots(graft_net *net, const graft_train_opts *o, int frozen_upto) {
  for (int i = 0; i < net->nparams; i++) {
    const graft_param *p = &net->params[i];
    if (p->slot < 0) continue;
    graft_param_slot *s = &net->slots[p->slot];
    s->lr_mult = p->group == 1 ? 1.0f : o->backbone_lr_mult;
    s->decay = !(o->no_decay_bias_norm && p->shape.ndim <= 1);
    s->frozen = frozen_upto > 0 && param_stage(p) < 5 && (frozen_upto == 5 || param_stage(p) <= frozen_upto);
  }
}

typedef struct {
  const graft_train_opts *o;
  char dir[4096];
  graft_dataset ds;            /* classification */
  graft_regression_data reg;   /* regression */
  const graft_split *train_split, *val_split; /* of ds or reg */
  const char *const *names;    /* class names; NULL for regression */
  float *batch_targets;        /* (batch) regression targets of a batch */
  graft_loader train_loader, val_loader;
  graft_net net;
  graft_ctx ctx;
  graft_trainer tr;
  graft_schedule sched;
  graft_progress pr;
  float *class_weight; /* (K) or NULL */
  graft_st_meta meta[9];
  char meta_vals[8][512];
  char *class_list; /* the class names, one per line: the "classes" metadata */
  size_t n_meta;
  int tty;
  cJSON *best_json; /* figures of the best epoch */
  FILE *log;        /* the run's train.log */
} run_state;

static void run_free(run_state *r) {
  graft_loader_free(&r->train_loader);
  graft_loader_free(&r->val_loader);
  graft_trainer_free(&r->tr);
  graft_net_free(&r->net);
  graft_ctx_close(&r->ctx);
  graft_dataset_free(&r->ds);
  graft_regression_free(&r->reg);
  free(r->batch_targets);
  free(r->class_weight);
  cJSON_Delete(r->best_json);
  free(r->class_list);
  if (r->log) {
    graft_log_set_file(NULL);
    fclose(r->log);
  }
}

/* After a resume, the best epoch's figures come back from report.json so the
 * final report keeps them. */
static void restore_best(run_state *r) {
  char path[4200];
  snprintf(path, sizeof path, "%s/report.json", r->dir);
  uint8_t *text = NULL;
  size_t len = 0;
  if (graft_file_read(path, 64u << 20, &text, &len) != GRAFT_OK) return;
  cJSON *root = cJSON_ParseWithLength((const char *)text, len);
  cJSON *best = cJSON_GetObjectItemCaseSensitive(root, "best_metrics");
  if (best) r->best_json = cJSON_Duplicate(best, 1);
  cJSON_Delete(root);
  free(text);
}

/* Metadata stored in every weights file of the run, so eval and predict
 * can rebuild the model and its input transform from the file alone. */
static graft_status build_meta(run_state *r) {
  const graft_train_opts *o = r->o;
  const graft_cls_aug *a = &o->aug;
  size_t len = 1;
  for (size_t i = 0; i < r->ds.classes.count; i++) len += strlen(r->ds.classes.items[i]) + 1;
  r->class_list = calloc(len, 1);
  if (!r->class_list) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for class names");
  for (size_t i = 0; i < r->ds.classes.count; i++) {
    if (i) strcat(r->class_list, "\n");
    strcat(r->class_list, r->ds.classes.items[i]);
  }
  static const char *const keys[] = {"model", "num_classes", "widths", "image_size", "resize", "mean", "std",
                                     "task", "classes"};
  snprintf(r->meta_vals[0], 512, "%s", o->model.model);
  snprintf(r->meta_vals[1], 512, "%d", r->net.num_classes);
  snprintf(r->meta_vals[2], 512, "%s", o->model.widths ? o->model.widths : "");
  snprintf(r->meta_vals[3], 512, "%d", o->image_size);
  snprintf(r->meta_vals[4], 512, "%d", a->resize > 0 ? a->resize : o->image_size * 8 / 7);
  snprintf(r->meta_vals[5], 512, "%.9g,%.9g,%.9g", (double)a->mean[0], (double)a->mean[1], (double)a->mean[2]);
  snprintf(r->meta_vals[6], 512, "%.9g,%.9g,%.9g", (double)a->std[0], (double)a->std[1], (double)a->std[2]);
  snprintf(r->meta_vals[7], 512, "%s", o->regression ? "regression" : "classification");
  r->n_meta = 9;
  for (size_t i = 0; i < r->n_meta; i++) r->meta[i] = (graft_st_meta){keys[i], i < 8 ? r->meta_vals[i] : r->class_list};
  return GRAFT_OK;
}

static graft_status save_weights(run_state *r, const char *file) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", r->dir, file);
  return graft_weights_save(&r->net, path, r->meta, r->n_meta);
}

/* Evaluates the weight average and writes it to ema.safetensors. */
/* The validation pass of the run's task. */
static graft_status evaluate(run_state *r, graft_metrics *out) {
  if (r->o->regression) return graft_evaluate_regression(&r->net, &r->ctx, &r->val_loader, r->reg.val_y, out);
  return graft_evaluate(&r->net, &r->ctx, &r->val_loader, &r->tr.xent, out);
}

static graft_status evaluate_ema(run_state *r, graft_metrics *out) {
  graft_trainer_swap_ema(&r->tr);
  graft_status s = evaluate(r, out);
  if (s == GRAFT_OK) s = save_weights(r, "ema.safetensors");
  graft_trainer_swap_ema(&r->tr);
  return s;
}

static graft_status save_checkpoint(run_state *r) {
  char path[4200];
  snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->dir);
  return graft_checkpoint_save(path, &r->net, &r->tr, &r->pr, r->meta, r->n_meta);
}

static void *pinned_alloc(void *user, size_t bytes) {
  const graft_ctx *ctx = user;
  void *p = NULL;
  return ctx->backend->host_alloc(&p, bytes) == GRAFT_OK ? p : NULL;
}

static void pinned_free(void *user, void *ptr) {
  const graft_ctx *ctx = user;
  ctx->backend->host_free(ptr);
}

/* Opens the dataset and the validation loader, and the training loader
 * unless only evaluating. */
static graft_status open_data(run_state *r, int with_train) {
  const graft_train_opts *o = r->o;
  if (o->regression) {
    if (o->balanced_loss || o->balanced_sampler)
      GRAFT_FAIL(GRAFT_EINVAL, "class_weights and sampler=balanced need classes; task=regression has none");
    GRAFT_TRY(graft_regression_open(&r->reg, o->data));
    r->train_split = &r->reg.train;
    r->val_split = &r->reg.val;
    r->batch_targets = calloc((size_t)o->batch, sizeof *r->batch_targets);
    if (!r->batch_targets) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for targets");
  } else {
    graft_dataset_opts dopts = {.val_ratio = o->val_ratio, .seed = o->seed};
    GRAFT_TRY(graft_dataset_open(&r->ds, o->data, &dopts));
    if (r->ds.task != GRAFT_TASK_CLASSIFY)
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s is a detection dataset; graft train handles classification", o->data);
    r->train_split = &r->ds.train;
    r->val_split = &r->ds.val;
    r->names = (const char *const *)r->ds.classes.items;
  }
  if (with_train && r->train_split->n < (size_t)o->batch)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: the training split has %zu images, fewer than batch=%d", o->data,
               r->train_split->n, o->batch);
  if (r->val_split->n == 0) GRAFT_FAIL(GRAFT_EINVAL, "%s: no validation images (add val/ or set val_split)", o->data);
  graft_loader_opts lo;
  graft_loader_opts_defaults(&lo, GRAFT_TASK_CLASSIFY);
  lo.batch = o->batch;
  lo.workers = o->workers;
  lo.seed = o->seed;
  lo.on_bad_image = o->on_bad_image;
  lo.cache = o->cache;
  lo.cache_path = o->cache_file;
  lo.data_root = o->data;
  lo.cls = o->aug;
  lo.cls.size = o->image_size;
  if (lo.cls.resize <= 0) lo.cls.resize = o->image_size * 8 / 7;
  lo.train = 1;
  lo.drop_last = 1;
  lo.balanced = o->balanced_sampler;
  if (!r->ctx.backend->host_memory) {
    /* Batches in pinned memory copy to the device without staging. */
    lo.alloc.alloc = pinned_alloc;
    lo.alloc.free = pinned_free;
    lo.alloc.user = &r->ctx;
  }
  if (with_train) GRAFT_TRY(graft_loader_open(&r->train_loader, r->train_split, &lo));
  lo.train = 0;
  lo.drop_last = 0;
  return graft_loader_open(&r->val_loader, r->val_split, &lo);
}

/* Inverse-frequency class weights (class_weights=balanced), normalized to
 * mean 1 over the classes present. */
static graft_status make_class_weights(run_state *r) {
  int k = r->net.num_classes;
  r->class_weight = calloc((size_t)k, sizeof(float));
  size_t *count = calloc((size_t)k, sizeof(size_t));
  if (!r->class_weight || !count) {
    free(count);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for class weights");
  }
  for (size_t i = 0; i < r->ds.train.n; i++) count[r->ds.train.s[i].label]++;
  for (int c = 0; c < k; c++)
    r->class_weight[c] = count[c] ? (float)((double)r->ds.train.n / ((double)k * (double)count[c])) : 0.0f;
  free(count);
  return graft_trainer_set_class_weight(&r->tr, r->class_weight);
}

static void progress_line(run_state *r, int epoch, size_t batch, size_t nbatches, double loss, double ips,
                          double eta) {
  const graft_train_opts *o = r->o;
  if (o->quiet) return;
  if (r->tty) {
    fprintf(stderr, "\repoch %d/%d  step %zu/%zu  loss %.4f  %.1f img/s  ETA %.0fs   ", epoch, o->epochs, batch,
            nbatches, loss, ips, eta);
    fflush(stderr);
  } else if (o->log_every > 0 && (batch % (size_t)o->log_every == 0 || batch == nbatches)) {
    fprintf(stderr, "epoch %d/%d step %zu/%zu loss %.4f %.1f img/s ETA %.0fs\n", epoch, o->epochs, batch, nbatches,
            loss, ips, eta);
  }
}

/* One training epoch; stops early (GRAFT_EINTERRUPTED) on a stop signal
 * after saving a checkpoint. */
static graft_status train_epoch(run_state *r, int epoch) {
  const graft_train_opts *o = r->o;
  size_t nb = graft_loader_batches(&r->train_loader);
  GRAFT_TRY(graft_loader_start_epoch(&r->train_loader, epoch));
  double t0 = now_seconds();
  size_t timed = 0;
  for (size_t b = 0;; b++) {
    const graft_batch *batch = NULL;
    GRAFT_TRY(graft_loader_next(&r->train_loader, &batch));
    if (!batch) break;
    if (b < (size_t)r->pr.batch) continue; /* resumed mid-epoch: these are done */
    GRAFT_TRY(graft_net_write_act(&r->net, r->net.input, batch->x, r->net.values[r->net.input].count));
    r->tr.opt.lr = (float)graft_schedule_lr(&r->sched, r->pr.step);
    float loss = 0.0f;
    if (o->regression) {
      for (int i = 0; i < batch->n; i++) r->batch_targets[i] = r->reg.train_y[batch->index[i]];
      GRAFT_TRY(graft_trainer_forward_backward_mse(&r->tr, r->batch_targets, &loss));
    } else {
      GRAFT_TRY(graft_trainer_forward_backward(&r->tr, batch->y, &loss));
    }
    if (!isfinite(loss)) {
      if (!o->nan_skip)
        GRAFT_FAIL(GRAFT_ENUMERIC,
                   "loss is %f at epoch %d step %zu (optimizer step %lld); stopping with the last good checkpoint "
                   "%s/checkpoint.safetensors kept (nan_policy=skip would skip such steps)",
                   (double)loss, epoch + 1, b + 1, (long long)r->pr.step, r->dir);
      r->pr.skipped++;
      GRAFT_WARN("loss is %f at epoch %d step %zu: step skipped (%lld so far)", (double)loss, epoch + 1, b + 1,
                 (long long)r->pr.skipped);
    } else {
      if (o->clip_grad_norm > 0.0f) GRAFT_TRY(graft_trainer_clip(&r->tr, o->clip_grad_norm));
      GRAFT_TRY(graft_trainer_update(&r->tr));
      r->pr.loss_sum += loss;
      r->pr.loss_count++;
    }
    r->pr.step++;
    r->pr.batch = (int64_t)(b + 1);
    timed++;
    double dt = now_seconds() - t0;
    double ips = dt > 0 ? (double)timed * o->batch / dt : 0.0;
    double eta = timed ? dt / (double)timed * (double)(nb - b - 1) : 0.0;
    progress_line(r, epoch + 1, b + 1, nb, r->pr.loss_count ? r->pr.loss_sum / (double)r->pr.loss_count : 0.0, ips,
                  eta);
    if (stop_signal) {
      if (r->tty && !o->quiet) fputc('\n', stderr);
      GRAFT_TRY(save_checkpoint(r));
      GRAFT_INFO("signal %d: checkpoint saved at epoch %d step %zu in %s; continue with resume=%s", (int)stop_signal,
                 epoch + 1, b + 1, r->dir, r->dir);
      return GRAFT_EINTERRUPTED;
    }
  }
  if (r->tty && !o->quiet) fputc('\n', stderr);
  return GRAFT_OK;
}

/* A metric the task has, checked before any training. */
static graft_status check_metric(const graft_train_opts *o, const char *key, const char *name) {
  static const char *const regression[] = {"auto", "loss", "mse", "mae", NULL};
  static const char *const classification[] = {"auto", "loss", "accuracy", "top5", "macro_f1", "weighted_f1", "macro_recall", NULL};
  const char *const *ok = o->regression ? regression : classification;
  for (int i = 0; ok[i]; i++)
    if (!strcmp(name, ok[i])) return GRAFT_OK;
  GRAFT_FAIL(GRAFT_EINVAL, "%s=%s is not a figure of task=%s", key, name, o->regression ? "regression" : "classification");
}

static graft_status setup(run_state *r) {
  const graft_train_opts *o = r->o;
  GRAFT_TRY(check_metric(o, "best_metric", o->best_metric));
  GRAFT_TRY(check_metric(o, "early_stop_metric", o->early_stop_metric ? o->early_stop_metric : "auto"));
  /* The device first: the loaders put their batches in its pinned memory. */
  GRAFT_TRY(graft_ctx_open(&r->ctx, o->device, o->threads, (graft_precision)o->precision));
  GRAFT_TRY(open_data(r, 1));
  graft_net_init(&r->net, o->batch);
  graft_model_args m = o->model;
  int k = o->regression ? 1 : graft_dataset_num_classes(&r->ds);
  if (m.num_classes > 0 && m.num_classes != k)
    GRAFT_FAIL(GRAFT_EINVAL, "num_classes=%d but %s %s %d", m.num_classes, o->data,
               o->regression ? "is a regression task: outputs" : "has classes:", k);
  m.num_classes = k;
  if (o->resume) m.weights = NULL; /* the checkpoint brings every weight */
  GRAFT_TRY(graft_model_build(&r->net, &m, o->image_size, o->image_size, 3));
  graft_net_set_bn_frozen(&r->net, o->bn_freeze);
  GRAFT_TRY(graft_trainer_init(&r->tr, &r->net, &r->ctx, &o->optim, o->label_smoothing));
  if (o->cuda_graph) GRAFT_TRY(graft_trainer_enable_graph(&r->tr));
  if (o->balanced_loss) GRAFT_TRY(make_class_weights(r));
  if (o->ema_decay > 0.0f) GRAFT_TRY(graft_trainer_enable_ema(&r->tr, o->ema_decay));
  size_t nb = graft_loader_batches(&r->train_loader);
  r->sched = (graft_schedule){.kind = o->schedule,
                              .base_lr = o->optim.lr,
                              .min_lr = o->min_lr,
                              .warmup_steps = (int64_t)(o->warmup_epochs * (double)nb + 0.5),
                              .total_steps = (int64_t)nb * o->epochs,
                              .steps_per_epoch = (int64_t)nb,
                              .step_size = o->step_size,
                              .gamma = o->gamma};
  r->pr = (graft_progress){.best_epoch = -1, .best = NAN, .es_best = NAN};
  return build_meta(r);
}

graft_status graft_train_run(const graft_train_opts *o) {
  run_state *r = calloc(1, sizeof *r);
  if (!r) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory");
  r->o = o;
  r->tty = isatty(STDERR_FILENO);
  graft_dataset_init(&r->ds);
  graft_loader_init(&r->train_loader);
  graft_loader_init(&r->val_loader);
  graft_net_init(&r->net, 0);
  char path[4200];
  /* The data and the model first: a run that cannot start leaves no folder. */
  graft_status s = setup(r);
  if (s != GRAFT_OK) goto done;
  if (o->resume) {
    snprintf(r->dir, sizeof r->dir, "%s", o->resume);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", r->dir);
    s = graft_checkpoint_load(path, &r->net, &r->tr, &r->pr);
    if (s == GRAFT_OK) s = graft_run_keep_lines(r->dir, "metrics.jsonl", r->pr.epoch);
    graft_run_remove_temps(r->dir);
    if (s != GRAFT_OK) goto done;
    GRAFT_INFO("resuming %s at epoch %lld, batch %lld (optimizer step %lld)", r->dir, (long long)r->pr.epoch + 1,
               (long long)r->pr.batch, (long long)r->pr.step);
  } else {
    const char *name = o->name;
    if (!name) {
      const char *slash = strrchr(o->data, '/');
      name = slash && slash[1] ? slash + 1 : o->data;
    }
    s = graft_run_dir_create(o->out, name, r->dir, sizeof r->dir);
    if (s == GRAFT_OK && o->config) {
      snprintf(path, sizeof path, "%s/config.ini", r->dir);
      s = graft_config_write(o->config, path);
    }
    if (s != GRAFT_OK) goto done;
  }
  snprintf(path, sizeof path, "%s/train.log", r->dir);
  r->log = fopen(path, "a");
  if (!r->log) GRAFT_WARN("cannot open %s; logging to the terminal only", path);
  graft_log_set_file(r->log);
  if (o->resume) restore_best(r);
  if (r->pr.epoch >= o->epochs)
    GRAFT_INFO("%s already finished its %d epochs; raise epochs= to train on", r->dir, o->epochs);
  GRAFT_INFO("run folder %s: %s on %zu training / %zu validation images, %d classes, %zu trainable parameters",
             r->dir, o->model.model, r->train_split->n, r->val_split->n, r->net.num_classes,
             graft_net_trainable_count(&r->net));
  install_signals();
  const char *const *names = r->names;
  for (int epoch = (int)r->pr.epoch; epoch < o->epochs; epoch++) {
    int frozen = o->freeze;
    if (o->unfreeze_epoch > 0 && epoch + 1 >= o->unfreeze_epoch) frozen = 0;
    configure_slots(&r->net, o, frozen);
    double t0 = now_seconds();
    s = train_epoch(r, epoch);
    if (s != GRAFT_OK) goto done;
    graft_metrics m;
    graft_metrics_init(&m);
    s = evaluate(r, &m);
    double train_loss = r->pr.loss_count ? r->pr.loss_sum / (double)r->pr.loss_count : NAN;
    double score = NAN, es_score = NAN;
    int higher = 1, es_higher = 1;
    if (s == GRAFT_OK) s = graft_metrics_value(&m, o->best_metric, &score, &higher);
    if (s == GRAFT_OK) s = graft_metrics_value(&m, early_stop_metric(o), &es_score, &es_higher);
    if (s != GRAFT_OK) {
      graft_metrics_free(&m);
      goto done;
    }
    r->pr.epoch = epoch + 1;
    r->pr.batch = 0;
    r->pr.loss_sum = 0.0;
    r->pr.loss_count = 0;
    int improved = isnan(r->pr.best) || (higher ? score > r->pr.best : score < r->pr.best);
    if (improved) {
      r->pr.best = score;
      r->pr.best_epoch = epoch + 1;
      cJSON_Delete(r->best_json);
      r->best_json = NULL;
      s = graft_metrics_to_json(&m, names, GRAFT_METRICS_JSON_PER_CLASS, &r->best_json);
    }
    if (isnan(r->pr.es_best) || (es_higher ? es_score > r->pr.es_best : es_score < r->pr.es_best)) {
      r->pr.es_best = es_score;
      r->pr.bad_epochs = 0;
    } else {
      r->pr.bad_epochs++;
    }
    graft_metrics ema;
    graft_metrics_init(&ema);
    if (s == GRAFT_OK && o->ema_decay > 0.0f) s = evaluate_ema(r, &ema);
    double seconds = now_seconds() - t0;
    if (!o->quiet) {
      printf("epoch %d/%d: train loss %.4f, val loss %.4f, %s %.4f%s (%.1f s)\n", epoch + 1, o->epochs, train_loss,
             m.loss, o->best_metric, score, improved ? " (best)" : "", seconds);
      graft_metrics_print(stdout, &m, names, 20);
      if (o->ema_decay > 0.0f) printf("weight average (ema.safetensors): accuracy %.4f, loss %.4f\n", ema.accuracy, ema.loss);
      fflush(stdout);
    }
    if (s == GRAFT_OK)
      s = graft_eval_append_jsonl(r->dir, &m, o->ema_decay > 0.0f ? &ema : NULL, names, epoch + 1, train_loss,
                                  (double)r->tr.opt.lr, seconds);
    graft_metrics_free(&ema);
    int last_epoch = epoch + 1 == o->epochs;
    int stopping = o->early_stop_patience > 0 && r->pr.bad_epochs >= o->early_stop_patience;
    int periodic = o->save_every > 0 && (epoch + 1) % o->save_every == 0;
    if (s == GRAFT_OK && improved) s = save_weights(r, "best.safetensors");
    if (s == GRAFT_OK && (periodic || last_epoch || stopping)) s = save_weights(r, "last.safetensors");
    if (s == GRAFT_OK && (periodic || last_epoch || stopping)) s = save_checkpoint(r);
    if (s == GRAFT_OK)
      s = graft_eval_write_report(r->dir, o->best_metric, r->pr.best, (int)r->pr.best_epoch, r->best_json, &m, names,
                                  epoch + 1);
    graft_metrics_free(&m);
    if (s != GRAFT_OK) goto done;
    if (stopping) {
      GRAFT_INFO("early stop: %s has not improved for %d epochs", early_stop_metric(o), o->early_stop_patience);
      break;
    }
    if (stop_signal && !last_epoch) {
      if (!(periodic || stopping)) s = save_checkpoint(r);
      if (s == GRAFT_OK) {
        GRAFT_INFO("signal %d: checkpoint saved after epoch %d in %s; continue with resume=%s", (int)stop_signal,
                   epoch + 1, r->dir, r->dir);
        s = GRAFT_EINTERRUPTED;
      }
      goto done;
    }
  }
  if (r->pr.skipped) GRAFT_WARN("%lld steps were skipped for a non-finite loss", (long long)r->pr.skipped);
  GRAFT_INFO("done: best %s %.4f at epoch %lld; weights in %s/best.safetensors", o->best_metric, r->pr.best,
             (long long)r->pr.best_epoch, r->dir);
done:
  run_free(r);
  free(r);
  return s;
}

graft_status graft_eval_run(const graft_train_opts *o, int json) {
  run_state *r = calloc(1, sizeof *r);
  if (!r) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory");
  r->o = o;
  graft_dataset_init(&r->ds);
  graft_loader_init(&r->train_loader);
  graft_loader_init(&r->val_loader);
  graft_net_init(&r->net, o->batch);
  graft_model_args m = o->model;
  m.strict = 1;
  graft_metrics mt;
  graft_metrics_init(&mt);
  graft_status s = graft_ctx_open(&r->ctx, o->device, o->threads, (graft_precision)o->precision);
  if (s == GRAFT_OK) s = open_data(r, 0);
  if (s == GRAFT_OK) {
    m.num_classes = o->regression ? 1 : graft_dataset_num_classes(&r->ds);
    s = graft_model_build(&r->net, &m, o->image_size, o->image_size, 3);
  }
  graft_xent_desc xent = {.n = o->batch, .k = r->net.num_classes, .label_smoothing = o->label_smoothing,
                          .ignore_index = -100, .class_weight = NULL};
  void *workspace = NULL;
  if (s == GRAFT_OK) s = graft_net_place(&r->net, &r->ctx);
  if (s == GRAFT_OK) s = graft_ctx_reserve_workspace(&r->ctx, graft_net_workspace_bytes(&r->net, &r->ctx), &workspace);
  r->tr.xent = xent;
  if (s == GRAFT_OK) s = evaluate(r, &mt);
  if (s == GRAFT_OK) {
    const char *const *names = r->names;
    if (json) {
      cJSON *obj = NULL;
      s = graft_metrics_to_json(&mt, names, GRAFT_METRICS_JSON_PER_CLASS | GRAFT_METRICS_JSON_CONFUSION, &obj);
      char *text = s == GRAFT_OK ? cJSON_Print(obj) : NULL;
      if (text) printf("%s\n", text);
      cJSON_free(text);
      cJSON_Delete(obj);
    } else {
      printf("%s on %zu validation images of %s\n", o->model.weights ? o->model.weights : "(fresh weights)",
             r->val_split->n, o->data);
      graft_metrics_print(stdout, &mt, names, 50);
    }
  }
  graft_metrics_free(&mt);
  graft_ctx_release_workspace(&r->ctx, workspace);
  run_free(r);
  free(r);
  return s;
}

/* evaluate.c: evaluation passes and the run's JSON outputs. */
#include "train/evaluate.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/fileio.h"
#include "train/run_dir.h"

/* Reduces one batch's outputs (the first b->n rows of the net's output). */
typedef graft_status (*batch_fn)(void *acc, graft_net *net, graft_ctx *ctx, const graft_batch *b);

/* Runs the loader's fixed-order epoch through net in evaluation mode,
 * padding a short last batch, and hands each batch to reduce. */
static graft_status eval_pass(graft_net *net, graft_ctx *ctx, graft_loader *loader, batch_fn reduce, void *acc) {
  size_t row = net->values[net->input].count / (size_t)net->batch;
  graft_status s = graft_loader_start_epoch(loader, 0);
  while (s == GRAFT_OK) {
    const graft_batch *b = NULL;
    s = graft_loader_next(loader, &b);
    if (s != GRAFT_OK || !b) break;
    if (b->n > net->batch)
      GRAFT_FAIL(GRAFT_ESHAPE, "evaluation batch of %d rows for a net built for %d", b->n, net->batch);
    memcpy(graft_net_act(net, net->input), b->x, (size_t)b->n * row * sizeof(float));
    s = graft_net_forward(net, ctx, 0);
    if (s == GRAFT_OK) s = reduce(acc, net, ctx, b);
  }
  return s;
}

typedef struct {
  const graft_xent_desc *xent;
  uint64_t *counts; /* (K*K + 2) */
  double loss_sum;
  size_t seen;
} cls_acc;

static graft_status cls_batch(void *p, graft_net *net, graft_ctx *ctx, const graft_batch *b) {
  cls_acc *a = p;
  const float *logits = graft_net_act(net, net->output);
  GRAFT_TRY(ctx->backend->metrics_update(ctx, b->n, net->num_classes, logits, b->y, a->counts));
  graft_xent_desc d = *a->xent;
  d.n = b->n;
  float loss = 0.0f;
  GRAFT_TRY(ctx->backend->xent_forward(ctx, &d, logits, b->y, &loss));
  a->loss_sum += (double)loss * b->n;
  a->seen += (size_t)b->n;
  return GRAFT_OK;
}

graft_status graft_evaluate(graft_net *net, graft_ctx *ctx, graft_loader *loader, const graft_xent_desc *xent,
                            graft_metrics *out) {
  int k = net->num_classes;
  cls_acc a = {.xent = xent, .counts = calloc(GRAFT_METRICS_COUNTS(k), sizeof(uint64_t))};
  if (!a.counts) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for metric counters");
  graft_status s = eval_pass(net, ctx, loader, cls_batch, &a);
  if (s == GRAFT_OK) s = graft_metrics_classification(out, k, a.counts, a.seen ? a.loss_sum / (double)a.seen : NAN);
  free(a.counts);
  return s;
}

typedef struct {
  const float *ys; /* targets by sample index */
  float *target;   /* (batch) */
  double sums[GRAFT_METRICS_SUMS];
} reg_acc;

static graft_status reg_batch(void *p, graft_net *net, graft_ctx *ctx, const graft_batch *b) {
  reg_acc *a = p;
  for (int i = 0; i < b->n; i++) a->target[i] = a->ys[b->index[i]];
  return ctx->backend->metrics_update_regression(ctx, b->n, graft_net_act(net, net->output), a->target, a->sums);
}

graft_status graft_evaluate_regression(graft_net *net, graft_ctx *ctx, graft_loader *loader, const float *ys,
                                       graft_metrics *out) {
  reg_acc a = {.ys = ys, .target = malloc((size_t)net->batch * sizeof(float))};
  if (!a.target) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for regression targets");
  graft_status s = eval_pass(net, ctx, loader, reg_batch, &a);
  /* The loss of a regression head is its mean squared error. */
  if (s == GRAFT_OK) s = graft_metrics_regression(out, a.sums, a.sums[2] > 0 ? a.sums[0] / a.sums[2] : NAN);
  free(a.target);
  return s;
}

static graft_status append_json_line(const char *dir, const char *file, cJSON *obj) {
  char *text = cJSON_PrintUnformatted(obj);
  if (!text) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory writing %s", file);
  size_t n = strlen(text);
  char *line = malloc(n + 2);
  graft_status s = GRAFT_ENOMEM;
  if (line) {
    memcpy(line, text, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    s = graft_run_append(dir, file, line);
  }
  free(line);
  cJSON_free(text);
  return s;
}

graft_status graft_eval_append_jsonl(const char *dir, const graft_metrics *m, const graft_metrics *ema,
                                     const char *const *names, int epoch, double train_loss, double lr,
                                     double seconds) {
  cJSON *obj = NULL, *ema_obj = NULL;
  GRAFT_TRY(graft_metrics_to_json(m, names, GRAFT_METRICS_JSON_PER_CLASS, &obj));
  if (ema && graft_metrics_to_json(ema, names, 0, &ema_obj) == GRAFT_OK) cJSON_AddItemToObject(obj, "ema", ema_obj);
  cJSON_AddNumberToObject(obj, "epoch", epoch);
  if (isfinite(train_loss)) cJSON_AddNumberToObject(obj, "train_loss", train_loss);
  cJSON_AddNumberToObject(obj, "lr", lr);
  cJSON_AddNumberToObject(obj, "seconds", seconds);
  graft_status s = append_json_line(dir, "metrics.jsonl", obj);
  cJSON_Delete(obj);
  return s;
}

graft_status graft_eval_write_report(const char *dir, const char *metric, double best, int best_epoch,
                                     const cJSON *best_json, const graft_metrics *last,
                                     const char *const *names, int epochs_done) {
  cJSON *root = cJSON_CreateObject(), *b = cJSON_CreateObject(), *lastj = NULL;
  graft_status s = root && b ? graft_metrics_to_json(last, names, GRAFT_METRICS_JSON_PER_CLASS | GRAFT_METRICS_JSON_CONFUSION, &lastj)
                             : GRAFT_ENOMEM;
  if (s == GRAFT_OK) {
    cJSON_AddStringToObject(b, "metric", metric);
    cJSON_AddNumberToObject(b, "value", best);
    cJSON_AddNumberToObject(b, "epoch", best_epoch);
    cJSON_AddItemToObject(root, "best", b);
    b = NULL;
    cJSON_AddNumberToObject(root, "epochs", epochs_done);
    if (best_json) cJSON_AddItemToObject(root, "best_metrics", cJSON_Duplicate(best_json, 1));
    cJSON_AddItemToObject(root, "last_metrics", lastj);
    lastj = NULL;
    char *text = cJSON_Print(root);
    char path[4200];
    snprintf(path, sizeof path, "%s/report.json", dir);
    graft_atomic_file af;
    s = text ? graft_atomic_open(&af, path) : GRAFT_ENOMEM;
    if (s == GRAFT_OK) s = graft_atomic_write(&af, text, strlen(text));
    if (s == GRAFT_OK) s = graft_atomic_write(&af, "\n", 1);
    if (s == GRAFT_OK) s = graft_atomic_commit(&af);
    else if (text) graft_atomic_abort(&af);
    cJSON_free(text);
  }
  cJSON_Delete(b);
  cJSON_Delete(lastj);
  cJSON_Delete(root);
  return s;
}

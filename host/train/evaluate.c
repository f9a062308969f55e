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

graft_status graft_evaluate(graft_net *net, graft_ctx *ctx, graft_loader *loader, const graft_xent_desc *xent,
                            graft_metrics *out) {
  int k = net->num_classes;
  size_t ncounts = GRAFT_METRICS_COUNTS(k);
  uint64_t *counts = calloc(ncounts, sizeof *counts);
  if (!counts) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for metric counters");
  double loss_sum = 0.0;
  size_t seen = 0;
  size_t row = net->values[net->input].count / (size_t)net->batch;
  graft_status s = graft_loader_start_epoch(loader, 0);
  while (s == GRAFT_OK) {
    const graft_batch *b = NULL;
    s = graft_loader_next(loader, &b);
    if (s != GRAFT_OK || !b) break;
    if (b->n > net->batch) {
      s = GRAFT_ESHAPE;
      GRAFT_ERROR("evaluation batch of %d rows for a net built for %d", b->n, net->batch);
      break;
    }
    memcpy(graft_net_act(net, net->input), b->x, (size_t)b->n * row * sizeof(float));
    s = graft_net_forward(net, ctx, 0);
    const float *logits = graft_net_act(net, net->output);
    if (s == GRAFT_OK) s = ctx->backend->metrics_update(ctx, b->n, k, logits, b->y, counts);
    if (s == GRAFT_OK) {
      graft_xent_desc d = *xent;
      d.n = b->n;
      float loss = 0.0f;
      s = ctx->backend->xent_forward(ctx, &d, logits, b->y, &loss);
      loss_sum += (double)loss * b->n;
      seen += (size_t)b->n;
    }
  }
  if (s == GRAFT_OK) s = graft_metrics_classification(out, k, counts, seen ? loss_sum / (double)seen : NAN);
  free(counts);
  return s;
}

graft_status graft_evaluate_regression(graft_net *net, graft_ctx *ctx, graft_loader *loader, const float *ys,
                                       graft_metrics *out) {
  double sums[GRAFT_METRICS_SUMS] = {0.0, 0.0, 0.0};
  float *target = malloc((size_t)net->batch * sizeof *target);
  if (!target) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for regression targets");
  size_t row = net->values[net->input].count / (size_t)net->batch;
  graft_status s = graft_loader_start_epoch(loader, 0);
  while (s == GRAFT_OK) {
    const graft_batch *b = NULL;
    s = graft_loader_next(loader, &b);
    if (s != GRAFT_OK || !b) break;
    if (b->n > net->batch) {
      s = GRAFT_ESHAPE;
      GRAFT_ERROR("evaluation batch of %d rows for a net built for %d", b->n, net->batch);
      break;
    }
    memcpy(graft_net_act(net, net->input), b->x, (size_t)b->n * row * sizeof(float));
    for (int i = 0; i < b->n; i++) target[i] = ys[b->index[i]];
    s = graft_net_forward(net, ctx, 0);
    if (s == GRAFT_OK)
      s = ctx->backend->metrics_update_regression(ctx, b->n, graft_net_act(net, net->output), target, sums);
  }
  /* The loss of a regression head is its mean squared error. */
  if (s == GRAFT_OK) s = graft_metrics_regression(out, sums, sums[2] > 0 ? sums[0] / sums[2] : NAN);
  free(target);
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

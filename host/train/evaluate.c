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

/* Reduces one batch's outputs (the first b->n rows of the net's output);
 * i counts the batches of the pass. */
typedef graft_status (*batch_fn)(void *acc, graft_net *net, graft_ctx *ctx, const graft_batch *b, size_t i);

/* Runs the loader's fixed-order epoch through net in evaluation mode,
 * padding a short last batch, and hands each batch to reduce. */
static graft_status eval_pass(graft_net *net, graft_ctx *ctx, graft_loader *loader, batch_fn reduce, void *acc) {
  size_t row = net->values[net->input].count / (size_t)net->batch;
  graft_status s = graft_loader_start_epoch(loader, 0);
  for (size_t i = 0; s == GRAFT_OK; i++) {
    const graft_batch *b = NULL;
    s = graft_loader_next(loader, &b);
    if (s != GRAFT_OK || !b) break;
    if (b->n > net->batch)
      GRAFT_FAIL(GRAFT_ESHAPE, "evaluation batch of %d rows for a net built for %d", b->n, net->batch);
    s = graft_net_write_act(net, net->input, b->x, (size_t)b->n * row);
    if (s == GRAFT_OK) s = graft_net_forward(net, ctx, 0);
    if (s == GRAFT_OK) s = reduce(acc, net, ctx, b, i);
    /* The batch's memory goes back to the loader at the next call: its
     * copies to the device must have finished. */
    if (s == GRAFT_OK) s = ctx->backend->sync(ctx);
  }
  return s;
}

/* Buffers of one pass in the backend's memory: on a GPU the counters and
 * per-batch losses stay on the device until the pass ends, when one copy
 * brings them back. */
typedef struct {
  graft_ctx *ctx;
  void *ptr[4];
} pass_mem;

static graft_status pass_alloc(pass_mem *m, int which, size_t bytes, void **out) {
  GRAFT_TRY(m->ctx->backend->mem_alloc(m->ctx, &m->ptr[which], bytes ? bytes : 1));
  *out = m->ptr[which];
  return m->ctx->backend->zero(m->ctx, *out, bytes);
}

static void pass_free(pass_mem *m) {
  for (int i = 0; i < 4; i++)
    if (m->ptr[i]) m->ctx->backend->mem_free(m->ctx, m->ptr[i]);
}

typedef struct {
  const graft_xent_desc *xent;
  uint64_t *counts; /* (K*K + 2) backend memory */
  int32_t *labels;  /* (N) backend memory */
  float *losses;    /* (batches) backend memory: each batch's mean loss */
  int *rows;        /* (batches) host: each batch's rows */
  size_t batches;
} cls_acc;

static graft_status cls_batch(void *p, graft_net *net, graft_ctx *ctx, const graft_batch *b, size_t i) {
  cls_acc *a = p;
  if (i >= a->batches) GRAFT_FAIL(GRAFT_EINVAL, "evaluation loader gave more batches than it announced");
  const float *logits = graft_net_act(net, net->output);
  GRAFT_TRY(ctx->backend->upload(ctx, a->labels, b->y, (size_t)b->n * sizeof *a->labels));
  GRAFT_TRY(ctx->backend->metrics_update(ctx, b->n, net->num_classes, logits, a->labels, a->counts));
  graft_xent_desc d = *a->xent;
  d.n = b->n;
  a->rows[i] = b->n;
  return ctx->backend->xent_forward(ctx, &d, logits, a->labels, &a->losses[i]);
}

graft_status graft_evaluate(graft_net *net, graft_ctx *ctx, graft_loader *loader, const graft_xent_desc *xent,
                            graft_metrics *out) {
  int k = net->num_classes;
  size_t ncounts = GRAFT_METRICS_COUNTS(k), nb = graft_loader_batches(loader);
  pass_mem mem = {.ctx = ctx};
  cls_acc a = {.xent = xent, .batches = nb, .rows = calloc(nb ? nb : 1, sizeof(int))};
  uint64_t *counts = calloc(ncounts, sizeof(uint64_t));
  float *losses = calloc(nb ? nb : 1, sizeof(float));
  graft_status s = a.rows && counts && losses ? GRAFT_OK : GRAFT_ENOMEM;
  if (s != GRAFT_OK) GRAFT_ERROR("out of memory for metric counters");
  if (s == GRAFT_OK) s = pass_alloc(&mem, 0, ncounts * sizeof(uint64_t), (void **)&a.counts);
  if (s == GRAFT_OK) s = pass_alloc(&mem, 1, (size_t)net->batch * sizeof(int32_t), (void **)&a.labels);
  if (s == GRAFT_OK) s = pass_alloc(&mem, 2, nb * sizeof(float), (void **)&a.losses);
  if (s == GRAFT_OK) s = eval_pass(net, ctx, loader, cls_batch, &a);
  if (s == GRAFT_OK) s = ctx->backend->download(ctx, counts, a.counts, ncounts * sizeof(uint64_t));
  if (s == GRAFT_OK) s = ctx->backend->download(ctx, losses, a.losses, nb * sizeof(float));
  if (s == GRAFT_OK) s = ctx->backend->sync(ctx);
  if (s == GRAFT_OK) {
    double loss_sum = 0.0;
    size_t seen = 0;
    for (size_t i = 0; i < nb; i++) {
      loss_sum += (double)losses[i] * a.rows[i];
      seen += (size_t)a.rows[i];
    }
    s = graft_metrics_classification(out, k, counts, seen ? loss_sum / (double)seen : NAN);
  }
  pass_free(&mem);
  free(a.rows);
  free(counts);
  free(losses);
  return s;
}

typedef struct {
  const float *ys;     /* targets by sample index */
  float *host_target;  /* (batch) host */
  float *target;       /* (batch) backend memory */
  double *sums;        /* (GRAFT_METRICS_SUMS) backend memory */
} reg_acc;

static graft_status reg_batch(void *p, graft_net *net, graft_ctx *ctx, const graft_batch *b, size_t i) {
  (void)i;
  reg_acc *a = p;
  for (int j = 0; j < b->n; j++) a->host_target[j] = a->ys[b->index[j]];
  GRAFT_TRY(ctx->backend->upload(ctx, a->target, a->host_target, (size_t)b->n * sizeof(float)));
  return ctx->backend->metrics_update_regression(ctx, b->n, graft_net_act(net, net->output), a->target, a->sums);
}

graft_status graft_evaluate_regression(graft_net *net, graft_ctx *ctx, graft_loader *loader, const float *ys,
                                       graft_metrics *out) {
  pass_mem mem = {.ctx = ctx};
  reg_acc a = {.ys = ys, .host_target = malloc((size_t)net->batch * sizeof(float))};
  double sums[GRAFT_METRICS_SUMS] = {0};
  graft_status s = a.host_target ? GRAFT_OK : GRAFT_ENOMEM;
  if (s != GRAFT_OK) GRAFT_ERROR("out of memory for regression targets");
  if (s == GRAFT_OK) s = pass_alloc(&mem, 0, (size_t)net->batch * sizeof(float), (void **)&a.target);
  if (s == GRAFT_OK) s = pass_alloc(&mem, 1, sizeof sums, (void **)&a.sums);
  if (s == GRAFT_OK) s = eval_pass(net, ctx, loader, reg_batch, &a);
  if (s == GRAFT_OK) s = ctx->backend->download(ctx, sums, a.sums, sizeof sums);
  if (s == GRAFT_OK) s = ctx->backend->sync(ctx);
  /* The loss of a regression head is its mean squared error. */
  if (s == GRAFT_OK) s = graft_metrics_regression(out, sums, sums[2] > 0 ? sums[0] / sums[2] : NAN);
  pass_free(&mem);
  free(a.host_target);
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

/* evaluate.h: a pass over a validation loader in evaluation mode. Logits
 * are reduced into the backend's metric counters batch by batch; the host
 * reads the counters once at the end and derives the figures. Also writes
 * the run's metrics.jsonl lines and report.json. */
#ifndef GRAFT_EVALUATE_H
#define GRAFT_EVALUATE_H

#include "core/ctx.h"
#include "data/loader.h"
#include "metrics/metrics.h"
#include "nn/net.h"
#include "ops/ops.h"

struct cJSON;

/* Runs the whole of loader's (fixed-order) epoch through net. The net's
 * batch size bounds the loader's; a short last batch is padded and only its
 * real rows count. xent supplies label smoothing and class weights for the
 * reported loss. */
graft_status graft_evaluate(graft_net *net, graft_ctx *ctx, graft_loader *loader, const graft_xent_desc *xent,
                            graft_metrics *out);

/* The same for a regression head: *out gets MSE, MAE and the loss, with
 * targets ys indexed by the loader's sample index. */
graft_status graft_evaluate_regression(graft_net *net, graft_ctx *ctx, graft_loader *loader, const float *ys,
                                       graft_metrics *out);

/* Appends one JSON line {"epoch", "train_loss", "lr", "seconds", ...figures,
 * "ema": {...figures of the weight average}} to dir/metrics.jsonl; ema may
 * be NULL. */
graft_status graft_eval_append_jsonl(const char *dir, const graft_metrics *m, const graft_metrics *ema,
                                     const char *const *names, int epoch, double train_loss, double lr,
                                     double seconds);

/* Writes dir/report.json atomically: the best epoch by metric with its
 * figures (best_json, owned by the caller) and the last epoch's figures. */
graft_status graft_eval_write_report(const char *dir, const char *metric, double best, int best_epoch,
                                     const struct cJSON *best_json, const graft_metrics *last,
                                     const char *const *names, int epochs_done);

#endif

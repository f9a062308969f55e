/* checkpoint.h: the resume file of a training run. One safetensors file
 * holds everything a resumed run needs to continue bit for bit: the model
 * ("model.<PyTorch name>"), the optimizer state arena and per-parameter
 * step counts, the weight average when there is one ("ema.param",
 * "ema.buffer"), and the progress counters. Data order, augmentation and
 * dropout are functions of (seed, epoch, index, step), so no generator
 * state is stored. Written atomically: a kill during the write leaves the
 * previous checkpoint as it was. */
#ifndef GRAFT_CHECKPOINT_H
#define GRAFT_CHECKPOINT_H

#include <stdint.h>

#include "core/status.h"
#include "io/safetensors.h"
#include "nn/net.h"
#include "train/trainer.h"

typedef struct {
  int64_t epoch;      /* epochs completed */
  int64_t batch;      /* batches done in the current epoch; 0 at a boundary */
  int64_t step;       /* optimizer steps so far */
  int64_t best_epoch; /* epoch of the best validation metric (-1: none yet) */
  int64_t bad_epochs; /* epochs since es_best improved (early stopping) */
  int64_t skipped;    /* steps skipped for a non-finite loss */
  double best;        /* best value of best_metric */
  double es_best;     /* best value of early_stop_metric */
  double loss_sum;    /* training loss summed over this epoch's batches so far */
  int64_t loss_count; /* ... and how many */
} graft_progress;

graft_status graft_checkpoint_save(const char *path, graft_net *net, graft_trainer *tr,
                                   const graft_progress *pr, const graft_st_meta *meta, size_t n_meta);
/* Restores net, the trainer's optimizer state and slot steps, and pr. The
 * net must be built exactly as the run that wrote the file. */
graft_status graft_checkpoint_load(const char *path, graft_net *net, graft_trainer *tr, graft_progress *pr);

#endif

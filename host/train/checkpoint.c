/* checkpoint.c: saving and restoring a run's resume state. */
#include "train/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/st_list.h"
#include "nn/weights.h"

#define PROGRESS_INTS 8

graft_status graft_checkpoint_save(const char *path, graft_net *net, graft_trainer *tr,
                                   const graft_progress *pr, const graft_st_meta *meta, size_t n_meta) {
  graft_st_list l;
  graft_st_list_init(&l);
  int64_t *steps = malloc((size_t)(net->nslots ? net->nslots : 1) * sizeof *steps);
  /* The optimizer state and average come back from the device first
   * (the weights do inside graft_weights_append). */
  graft_status s = steps ? graft_trainer_pull(tr) : GRAFT_ENOMEM;
  if (s == GRAFT_OK) s = graft_weights_append(net, &l, GRAFT_PART_STATE, "model.");
  if (s == GRAFT_OK && tr->state.cap) {
    int64_t d[1] = {(int64_t)tr->state.cap};
    s = graft_st_list_add(&l, "optim.state", GRAFT_DTYPE_F32, graft_shape_make(1, d), tr->state.data);
  }
  if (s == GRAFT_OK && tr->ema_decay > 0.0f) {
    int64_t dp[1] = {(int64_t)tr->ema_param.cap}, db[1] = {(int64_t)tr->ema_buffer.cap};
    s = graft_st_list_add(&l, "ema.param", GRAFT_DTYPE_F32, graft_shape_make(1, dp), tr->ema_param.data);
    if (s == GRAFT_OK)
      s = graft_st_list_add(&l, "ema.buffer", GRAFT_DTYPE_F32, graft_shape_make(1, db), tr->ema_buffer.data);
  }
  if (s == GRAFT_OK) {
    for (int i = 0; i < net->nslots; i++) steps[i] = net->slots[i].step;
    int64_t d[1] = {net->nslots};
    s = graft_st_list_add(&l, "optim.step", GRAFT_DTYPE_I64, graft_shape_make(1, d), steps);
  }
  if (s == GRAFT_OK) {
    int64_t ints[PROGRESS_INTS] = {pr->epoch,   pr->batch,      pr->step,          pr->best_epoch,
                                   pr->bad_epochs, pr->skipped, pr->loss_count, net->train_forwards};
    int64_t d[1] = {PROGRESS_INTS};
    s = graft_st_list_add(&l, "train.progress", GRAFT_DTYPE_I64, graft_shape_make(1, d), ints);
  }
  if (s == GRAFT_OK) {
    double vals[3] = {pr->best, pr->loss_sum, pr->es_best};
    int64_t d[1] = {3};
    s = graft_st_list_add(&l, "train.values", GRAFT_DTYPE_F64, graft_shape_make(1, d), vals);
  }
  if (s == GRAFT_OK) s = graft_st_list_write(&l, path, meta, n_meta);
  if (s != GRAFT_OK) GRAFT_ERROR("cannot write checkpoint %s; the previous one is kept", path);
  free(steps);
  graft_st_list_free(&l);
  return s;
}

/* Reads a whole tensor of known length, or fails naming it. */
static graft_status read_exact(const graft_st_file *f, const char *name, graft_dtype want, size_t count, void *out) {
  const graft_st_tensor *t = graft_st_find(f, name);
  if (!t || graft_shape_numel(&t->shape) != (int64_t)count)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: '%s' is missing or does not fit this run (expected %zu values)", f->label, name,
               count);
  if (want == GRAFT_DTYPE_I64) return graft_st_read_i64(f, t, out, count);
  if (want == GRAFT_DTYPE_F32) return graft_st_read_f32(f, t, out, count);
  if (t->dtype != GRAFT_DTYPE_F64) GRAFT_FAIL(GRAFT_EFORMAT, "%s: '%s' must be F64", f->label, name);
  memcpy(out, t->data, count * sizeof(double));
  return GRAFT_OK;
}

graft_status graft_checkpoint_load(const char *path, graft_net *net, graft_trainer *tr, graft_progress *pr) {
  graft_st_file f;
  graft_status s = graft_st_load(&f, path);
  if (s != GRAFT_OK) return s;
  graft_load_opts opts = {.strict = 1, .prefix = "model.", .quiet = 1};
  int64_t *steps = malloc((size_t)(net->nslots ? net->nslots : 1) * sizeof *steps);
  int64_t ints[PROGRESS_INTS];
  double vals[3];
  s = steps ? graft_weights_load_st(net, &f, &opts, NULL) : GRAFT_ENOMEM;
  if (s == GRAFT_OK && tr->state.cap) s = read_exact(&f, "optim.state", GRAFT_DTYPE_F32, tr->state.cap, tr->state.data);
  if (s == GRAFT_OK && tr->ema_decay > 0.0f) {
    s = read_exact(&f, "ema.param", GRAFT_DTYPE_F32, tr->ema_param.cap, tr->ema_param.data);
    if (s == GRAFT_OK) s = read_exact(&f, "ema.buffer", GRAFT_DTYPE_F32, tr->ema_buffer.cap, tr->ema_buffer.data);
  }
  if (s == GRAFT_OK) s = read_exact(&f, "optim.step", GRAFT_DTYPE_I64, (size_t)net->nslots, steps);
  if (s == GRAFT_OK) s = read_exact(&f, "train.progress", GRAFT_DTYPE_I64, PROGRESS_INTS, ints);
  if (s == GRAFT_OK) s = read_exact(&f, "train.values", GRAFT_DTYPE_F64, 3, vals);
  if (s == GRAFT_OK) s = graft_trainer_push(tr);
  if (s == GRAFT_OK) {
    for (int i = 0; i < net->nslots; i++) net->slots[i].step = steps[i];
    *pr = (graft_progress){.epoch = ints[0], .batch = ints[1], .step = ints[2], .best_epoch = ints[3],
                           .bad_epochs = ints[4], .skipped = ints[5], .loss_count = ints[6],
                           .best = vals[0], .loss_sum = vals[1], .es_best = vals[2]};
    net->train_forwards = ints[7];
  } else {
    GRAFT_ERROR("cannot resume from %s", path);
  }
  free(steps);
  graft_st_free(&f);
  return s;
}

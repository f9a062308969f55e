/* loader_sample.c: one batch row from one sample: find the pixels (cache
 * file, RAM cache or a fresh decode), replace the sample when its image is
 * bad and the policy allows, augment with the sample's own random stream,
 * and write pixels, label and boxes into the row. Runs on worker threads;
 * shared state is touched only under the loader's mutex. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/loader_impl.h"

/* Consecutive bad images tolerated before a row gives up. */
#define MAX_REPLACEMENTS 16

static void mark_bad(struct graft_loader_state *st, size_t i, const char *msg) {
  pthread_mutex_lock(&st->mu);
  if (!st->bad[i]) {
    st->bad[i] = 1;
    st->bad_files++;
    if (!st->first_bad) st->first_bad = strdup(st->split->s[i].path);
    GRAFT_WARN("skipping a bad image (on_bad_image=skip): %s", msg);
  }
  pthread_mutex_unlock(&st->mu);
}

static int is_bad(struct graft_loader_state *st, size_t i) {
  pthread_mutex_lock(&st->mu);
  int bad = st->bad[i];
  pthread_mutex_unlock(&st->mu);
  return bad;
}

static graft_status decode(graft_loader_worker *w, size_t i, int hint) {
  struct graft_loader_state *st = w->st;
  graft_decode_opts d = {st->o.max_pixels, 0, 0, w->err, sizeof w->err};
  if (hint) graft_cache_decode_hint(st->o.task, st->cache_target, &d.min_w, &d.min_h);
  return graft_image_decode_file(st->split->s[i].path, &d, &w->img);
}

/* view receives sample i's pixels; it borrows them and is never freed. */
static graft_status source_image(graft_loader_worker *w, size_t i, graft_image *view) {
  struct graft_loader_state *st = w->st;
  if (st->o.cache == GRAFT_CACHE_FILE) {
    graft_status s = graft_cache_image(&st->cf, st->entry_of[i], view);
    if (s != GRAFT_OK)
      snprintf(w->err, sizeof w->err, "%s: recorded as unreadable when the cache was prepared",
               st->split->s[i].path);
    return s;
  }
  if (st->o.cache == GRAFT_CACHE_NONE) {
    GRAFT_TRY(decode(w, i, 0));
    *view = w->img;
    return GRAFT_OK;
  }
  pthread_mutex_lock(&st->mu);
  *view = st->ram[i];
  pthread_mutex_unlock(&st->mu);
  if (view->px) return GRAFT_OK;
  GRAFT_TRY(decode(w, i, 1));
  graft_image small;
  graft_image_init(&small);
  graft_status s = graft_cache_shrink(&w->rs, &w->img, st->o.task, st->cache_target, &small);
  if (s != GRAFT_OK) {
    snprintf(w->err, sizeof w->err, "%s: cannot shrink for the RAM cache", st->split->s[i].path);
    return s;
  }
  pthread_mutex_lock(&st->mu);
  if (!st->ram[i].px) {
    st->ram[i] = small;
    graft_image_init(&small);
  }
  *view = st->ram[i];
  pthread_mutex_unlock(&st->mu);
  graft_image_free(&small);
  return GRAFT_OK;
}

/* The sample to use for position pos: its own, or the next good one of
 * the epoch when its image is bad and bad images are skipped. */
static graft_status pick_sample(graft_loader_worker *w, size_t pos, size_t *sample, graft_image *view) {
  struct graft_loader_state *st = w->st;
  size_t i = st->order[pos];
  for (int t = 0;; t++) {
    if (!is_bad(st, i)) {
      graft_status s = source_image(w, i, view);
      if (s == GRAFT_OK) break;
      if (s == GRAFT_ENOMEM || st->o.on_bad_image == GRAFT_BAD_IMAGE_ERROR) return s;
      mark_bad(st, i, w->err);
    }
    if (t == MAX_REPLACEMENTS) {
      snprintf(w->err, sizeof w->err, "%d bad images in a row after %s; is the dataset readable?",
               MAX_REPLACEMENTS + 1, st->split->s[st->order[pos]].path);
      return GRAFT_EFORMAT;
    }
    i = st->order[(pos + (size_t)t + 1) % st->norder];
  }
  if (i != st->order[pos]) {
    pthread_mutex_lock(&st->mu);
    st->replaced++;
    pthread_mutex_unlock(&st->mu);
  }
  *sample = i;
  return GRAFT_OK;
}

/* The row's augmentation stream: its sample's, or with balanced draws its
 * draw's (the position in the whole epoch's draw), so a sample drawn twice
 * is augmented twice. Neither depends on the worker or its timing. */
static uint64_t aug_stream(const struct graft_loader_state *st, size_t pos, size_t i) {
  if (!st->labels) return i;
  return (uint64_t)st->o.rank + (uint64_t)pos * (uint64_t)st->o.world;
}

graft_status graft_loader_fill_row(graft_loader_worker *w, graft_loader_slot *slot, size_t row, size_t pos) {
  struct graft_loader_state *st = w->st;
  const graft_loader_opts *o = &st->o;
  size_t i = 0;
  graft_image view;
  graft_image_init(&view);
  GRAFT_TRY(pick_sample(w, pos, &i, &view));
  const graft_sample *smp = &st->split->s[i];
  graft_rng r;
  graft_rng_seed3(&r, o->seed, (uint64_t)st->epoch, aug_stream(st, pos, i));
  graft_batch *b = &slot->b;
  uint8_t *dst = o->output_u8 ? b->x_u8 + row * st->pix : w->tile;
  graft_status s;
  if (o->task == GRAFT_TASK_CLASSIFY) {
    s = o->train ? graft_cls_train(&w->rs, &view, &o->cls, &r, dst) : graft_cls_eval(&w->rs, &view, &o->cls, dst);
    b->nbox[row] = 0;
  } else {
    size_t kept = 0;
    s = graft_det_transform(&w->rs, &view, &o->det, o->train ? &r : NULL, st->split->boxes.v + smp->box0,
                            smp->nbox, dst, b->boxes + row * (size_t)st->max_boxes, &kept);
    b->nbox[row] = (int32_t)kept;
  }
  if (s != GRAFT_OK) {
    snprintf(w->err, sizeof w->err, "%s: augmentation failed", smp->path);
    return s;
  }
  if (!o->output_u8) {
    const float *mean = o->task == GRAFT_TASK_CLASSIFY ? o->cls.mean : o->det.mean;
    const float *sd = o->task == GRAFT_TASK_CLASSIFY ? o->cls.std : o->det.std;
    graft_normalize(dst, (size_t)st->size * st->size, mean, sd, b->x + row * st->pix);
  }
  b->y[row] = smp->label;
  b->index[row] = i;
  return GRAFT_OK;
}

/* loader.c: the loader's threads and ring (see loader.h). Rows are handed
 * out in epoch order under one mutex; a worker may claim a row of batch b
 * only while b is within `depth` batches of the oldest one the caller
 * still holds, so slots are reused only after the caller gave them back.
 * The caller gives a batch back by asking for the next one. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/loader_impl.h"
#include "data/sampler.h"

void graft_loader_opts_defaults(graft_loader_opts *o, graft_task task) {
  memset(o, 0, sizeof *o);
  o->task = task;
  o->batch = 32;
  o->workers = 2;
  o->depth = 4;
  o->train = 1;
  o->world = 1;
  o->on_bad_image = GRAFT_BAD_IMAGE_ERROR;
  o->cache = GRAFT_CACHE_NONE;
  graft_cls_aug_defaults(&o->cls);
  graft_det_aug_defaults(&o->det);
}

void graft_loader_init(graft_loader *l) { l->st = NULL; }

static void *host_alloc(const graft_host_allocator *a, size_t bytes) {
  if (a->alloc) return a->alloc(a->user, bytes);
  return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

static void host_free(const graft_host_allocator *a, void *p) {
  if (!p) return;
  if (a->free)
    a->free(a->user, p);
  else
    free(p);
}

static int claimable(const struct graft_loader_state *st) {
  return !st->shutdown && st->epoch_active && st->fail == GRAFT_OK && st->next_row < st->total_rows &&
         st->next_row / (size_t)st->o.batch < st->consumed + (size_t)st->o.depth;
}

static void *worker_main(void *arg) {
  graft_loader_worker *w = arg;
  struct graft_loader_state *st = w->st;
  size_t B = (size_t)st->o.batch;
  pthread_mutex_lock(&st->mu);
  for (;;) {
    while (!st->shutdown && !claimable(st)) pthread_cond_wait(&st->work, &st->mu);
    if (st->shutdown) break;
    size_t k = st->next_row++, batch = k / B, row = k % B;
    graft_loader_slot *slot = &st->slots[batch % (size_t)st->o.depth];
    if (row == 0) {
      slot->done = 0;
      slot->rows = st->total_rows - k < B ? st->total_rows - k : B;
      slot->b.n = (int)slot->rows;
      slot->b.number = batch;
    }
    st->busy++;
    pthread_mutex_unlock(&st->mu);
    graft_status s = graft_loader_fill_row(w, slot, row, k);
    pthread_mutex_lock(&st->mu);
    st->busy--;
    if (s != GRAFT_OK && st->fail == GRAFT_OK) {
      st->fail = s;
      memcpy(st->fail_msg, w->err, sizeof st->fail_msg);
    }
    slot->done++;
    pthread_cond_broadcast(&st->ready);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

static graft_status alloc_slots(struct graft_loader_state *st) {
  size_t B = (size_t)st->o.batch, mb = st->max_boxes > 0 ? (size_t)st->max_boxes : 1;
  const graft_host_allocator *a = &st->o.alloc;
  for (int d = 0; d < st->o.depth; d++) {
    graft_batch *b = &st->slots[d].b;
    b->size = st->size;
    b->max_boxes = st->max_boxes;
    if (st->o.output_u8)
      b->x_u8 = host_alloc(a, B * st->pix);
    else
      b->x = host_alloc(a, B * st->pix * sizeof(float));
    b->y = host_alloc(a, B * sizeof *b->y);
    b->nbox = host_alloc(a, B * sizeof *b->nbox);
    b->boxes = host_alloc(a, B * mb * sizeof *b->boxes);
    b->index = malloc(B * sizeof *b->index);
    if (!(b->x || b->x_u8) || !b->y || !b->nbox || !b->boxes || !b->index)
      GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate batch slot %d (%zu samples of %d x %d)", d, B,
                 st->size, st->size);
  }
  return GRAFT_OK;
}

static graft_status check_opts(const graft_loader_opts *o) {
  if (o->batch < 1 || o->workers < 1 || o->workers > 256 || o->depth < 2)
    GRAFT_FAIL(GRAFT_EINVAL, "loader needs batch >= 1, 1..256 workers and depth >= 2 (got %d, %d, %d)",
               o->batch, o->workers, o->depth);
  if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
    GRAFT_FAIL(GRAFT_EINVAL, "rank %d is not in a world of %d", o->rank, o->world);
  int size = o->task == GRAFT_TASK_CLASSIFY ? o->cls.size : o->det.size;
  if (size < 8 || size > 8192) GRAFT_FAIL(GRAFT_EINVAL, "image size %d is not in 8..8192", size);
  if (o->cache == GRAFT_CACHE_FILE && (!o->cache_path || !o->data_root))
    GRAFT_FAIL(GRAFT_EINVAL, "cache=file needs the file written by graft prepare and the dataset root");
  if (o->balanced && o->task != GRAFT_TASK_CLASSIFY)
    GRAFT_FAIL(GRAFT_EINVAL, "balanced sampling draws by class; detection splits have no class per image");
  return GRAFT_OK;
}

/* Keeps each sample's class, which balanced draws pick by. */
static graft_status copy_labels(struct graft_loader_state *st) {
  st->labels = malloc((st->split->n ? st->split->n : 1) * sizeof *st->labels);
  if (!st->labels) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory keeping %zu labels", st->split->n);
  for (size_t i = 0; i < st->split->n; i++) st->labels[i] = st->split->s[i].label;
  return GRAFT_OK;
}

/* Maps the cache file and ties each sample to its entry. */
static graft_status open_cache_file(struct graft_loader_state *st) {
  GRAFT_TRY(graft_cache_open(&st->cf, st->o.cache_path));
  st->entry_of = malloc((st->split->n ? st->split->n : 1) * sizeof *st->entry_of);
  if (!st->entry_of) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory matching the cache");
  return graft_cache_match(&st->cf, st->o.data_root, st->split, st->o.task, st->cache_target,
                           st->entry_of);
}

graft_status graft_loader_open(graft_loader *l, const graft_split *split, const graft_loader_opts *o) {
  l->st = NULL;
  GRAFT_TRY(check_opts(o));
  graft_status s = GRAFT_OK;
  struct graft_loader_state *st = calloc(1, sizeof *st);
  if (!st) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory creating a loader");
  l->st = st;
  st->o = *o;
  st->split = split;
  st->size = o->task == GRAFT_TASK_CLASSIFY ? o->cls.size : o->det.size;
  st->pix = (size_t)st->size * st->size * 3;
  st->cache_target = graft_cache_target(o->task, o->cls.resize, o->det.size);
  graft_cache_file_init(&st->cf);
  for (size_t i = 0; i < split->n; i++)
    if ((int)split->s[i].nbox > st->max_boxes) st->max_boxes = (int)split->s[i].nbox;
  st->norder = graft_shard_count(split->n, o->rank, o->world);
  st->nbatches = o->drop_last ? st->norder / (size_t)o->batch : (st->norder + (size_t)o->batch - 1) / (size_t)o->batch;
  size_t n = split->n ? split->n : 1;
  st->order = malloc(n * sizeof *st->order);
  st->bad = calloc(n, 1);
  st->slots = calloc((size_t)o->depth, sizeof *st->slots);
  st->workers = calloc((size_t)o->workers, sizeof *st->workers);
  if (o->cache == GRAFT_CACHE_RAM) st->ram = calloc(n, sizeof *st->ram);
  if (!st->order || !st->bad || !st->slots || !st->workers || (o->cache == GRAFT_CACHE_RAM && !st->ram)) {
    GRAFT_ERROR("out of memory creating a loader for %zu samples", split->n);
    goto fail_nomem;
  }
  s = alloc_slots(st);
  if (s == GRAFT_OK && o->cache == GRAFT_CACHE_FILE) s = open_cache_file(st);
  if (s == GRAFT_OK && o->balanced && o->train) s = copy_labels(st);
  if (s != GRAFT_OK) goto fail;
  if (pthread_mutex_init(&st->mu, NULL) != 0) goto fail_nomem;
  if (pthread_cond_init(&st->work, NULL) != 0) {
    pthread_mutex_destroy(&st->mu);
    goto fail_nomem;
  }
  if (pthread_cond_init(&st->ready, NULL) != 0) {
    pthread_cond_destroy(&st->work);
    pthread_mutex_destroy(&st->mu);
    goto fail_nomem;
  }
  st->sync_ok = 1;
  for (int t = 0; t < o->workers; t++) {
    graft_loader_worker *w = &st->workers[t];
    w->st = st;
    graft_image_init(&w->img);
    graft_resampler_init(&w->rs);
    w->tile = malloc(st->pix);
    if (!w->tile) goto fail_nomem;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
      GRAFT_ERROR("cannot start loader worker %d", t);
      goto fail_nomem;
    }
    w->started = 1;
  }
  return GRAFT_OK;
fail_nomem:
  s = GRAFT_ENOMEM;
fail:
  graft_loader_free(l);
  return s;
}

size_t graft_loader_batches(const graft_loader *l) { return l->st ? l->st->nbatches : 0; }

/* This rank's share of the epoch: of a shuffle (or the fixed order), or of
 * a class-balanced draw. */
static graft_status draw_epoch(struct graft_loader_state *st, int epoch) {
  const graft_loader_opts *o = &st->o;
  size_t n = st->split->n;
  if (!st->labels)
    return graft_shard_indices(n, o->seed, epoch, o->train, o->rank, o->world, st->order, &st->norder);
  GRAFT_TRY(graft_balanced_order(st->labels, n, o->seed, epoch, st->order));
  st->norder = graft_shard_take(st->order, n, o->rank, o->world, st->order);
  return GRAFT_OK;
}

graft_status graft_loader_start_epoch(graft_loader *l, int epoch) {
  struct graft_loader_state *st = l->st;
  if (!st) GRAFT_FAIL(GRAFT_EINVAL, "loader is not open");
  pthread_mutex_lock(&st->mu);
  st->epoch_active = 0;
  while (st->busy) pthread_cond_wait(&st->ready, &st->mu);
  graft_status fail = st->fail;
  if (fail == GRAFT_OK) {
    size_t B = (size_t)st->o.batch;
    graft_status s = draw_epoch(st, epoch);
    if (s != GRAFT_OK) {
      pthread_mutex_unlock(&st->mu);
      return s;
    }
    st->nbatches = st->o.drop_last ? st->norder / B : (st->norder + B - 1) / B;
    st->total_rows = st->o.drop_last ? st->nbatches * B : st->norder;
    st->epoch = epoch;
    st->next_row = st->returned = st->consumed = 0;
    st->epoch_active = 1;
    pthread_cond_broadcast(&st->work);
  }
  pthread_mutex_unlock(&st->mu);
  if (fail != GRAFT_OK) GRAFT_FAIL(fail, "loader stopped earlier: %s", st->fail_msg);
  return GRAFT_OK;
}

graft_status graft_loader_next(graft_loader *l, const graft_batch **out) {
  *out = NULL;
  struct graft_loader_state *st = l->st;
  if (!st) GRAFT_FAIL(GRAFT_EINVAL, "loader is not open");
  pthread_mutex_lock(&st->mu);
  if (!st->epoch_active) {
    pthread_mutex_unlock(&st->mu);
    GRAFT_FAIL(GRAFT_EINVAL, "loader: call graft_loader_start_epoch first");
  }
  if (st->consumed < st->returned) {
    st->consumed = st->returned;
    pthread_cond_broadcast(&st->work);
  }
  graft_loader_slot *slot = &st->slots[st->returned % (size_t)st->o.depth];
  int end = st->returned == st->nbatches;
  while (!end && st->fail == GRAFT_OK &&
         !(st->next_row > st->returned * (size_t)st->o.batch && slot->b.number == st->returned &&
           slot->done == slot->rows))
    pthread_cond_wait(&st->ready, &st->mu);
  graft_status fail = st->fail;
  if (!end && fail == GRAFT_OK) {
    st->returned++;
    *out = &slot->b;
  }
  pthread_mutex_unlock(&st->mu);
  if (fail != GRAFT_OK) GRAFT_FAIL(fail, "%s", st->fail_msg);
  return GRAFT_OK;
}

graft_loader_stats graft_loader_get_stats(const graft_loader *l) {
  graft_loader_stats s = {0, 0, NULL};
  struct graft_loader_state *st = l->st;
  if (!st) return s;
  pthread_mutex_lock(&st->mu);
  s.bad_files = st->bad_files;
  s.replaced = st->replaced;
  s.first_bad = st->first_bad;
  pthread_mutex_unlock(&st->mu);
  return s;
}

const char *graft_loader_error(const graft_loader *l) {
  struct graft_loader_state *st = l->st;
  if (!st) return NULL;
  pthread_mutex_lock(&st->mu);
  const char *msg = st->fail != GRAFT_OK ? st->fail_msg : NULL;
  pthread_mutex_unlock(&st->mu);
  return msg;
}

void graft_loader_free(graft_loader *l) {
  struct graft_loader_state *st = l ? l->st : NULL;
  if (!st) return;
  if (st->sync_ok) {
    pthread_mutex_lock(&st->mu);
    st->shutdown = 1;
    pthread_cond_broadcast(&st->work);
    pthread_mutex_unlock(&st->mu);
  }
  for (int t = 0; st->workers && t < st->o.workers; t++) {
    graft_loader_worker *w = &st->workers[t];
    if (w->started) pthread_join(w->thread, NULL);
    graft_image_free(&w->img);
    graft_resampler_free(&w->rs);
    free(w->tile);
  }
  if (st->sync_ok) {
    pthread_cond_destroy(&st->ready);
    pthread_cond_destroy(&st->work);
    pthread_mutex_destroy(&st->mu);
  }
  for (int d = 0; st->slots && d < st->o.depth; d++) {
    graft_batch *b = &st->slots[d].b;
    host_free(&st->o.alloc, b->x);
    host_free(&st->o.alloc, b->x_u8);
    host_free(&st->o.alloc, b->y);
    host_free(&st->o.alloc, b->nbox);
    host_free(&st->o.alloc, b->boxes);
    free(b->index);
  }
  for (size_t i = 0; st->ram && i < st->split->n; i++) graft_image_free(&st->ram[i]);
  free(st->ram);
  graft_cache_file_free(&st->cf);
  free(st->entry_of);
  free(st->order);
  free(st->labels);
  free(st->bad);
  free(st->first_bad);
  free(st->slots);
  free(st->workers);
  free(st);
  l->st = NULL;
}

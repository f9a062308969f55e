/* loader_impl.h: the loader's private state, shared by loader.c (threads,
 * the ring of batches, the epoch) and loader_sample.c (turning one sample
 * into one batch row: cache, decode, augment, bad-image handling). */
#ifndef GRAFT_DATA_LOADER_IMPL_H
#define GRAFT_DATA_LOADER_IMPL_H

#include <pthread.h>

#include "data/cache.h"
#include "data/loader.h"

typedef struct {
  graft_batch b;
  size_t rows; /* rows the batch in this slot has */
  size_t done; /* rows finished */
} graft_loader_slot;

/* What one worker thread owns. */
typedef struct {
  struct graft_loader_state *st;
  pthread_t thread;
  int started;
  graft_image img;      /* decode buffer */
  graft_resampler rs;
  uint8_t *tile;        /* (size, size, 3) augmented pixels before normalization */
  char err[512];
} graft_loader_worker;

struct graft_loader_state {
  graft_loader_opts o;
  const graft_split *split;
  int size;           /* output side */
  size_t pix;         /* size * size * 3 */
  int max_boxes;
  int cache_target;

  pthread_mutex_t mu;
  pthread_cond_t work;  /* workers wait here for rows to claim */
  pthread_cond_t ready; /* the main thread waits here for rows to finish */
  int sync_ok;          /* mutex and conditions were created */
  graft_loader_worker *workers; /* (o.workers) */
  graft_loader_slot *slots;     /* (o.depth) */

  size_t *order;      /* (split->n) this rank's samples this epoch, in order */
  int *labels;        /* (split->n) each sample's class for balanced draws, else NULL */
  size_t norder, nbatches, total_rows;
  int epoch, epoch_active;
  size_t next_row;    /* next row to hand out, as batch * batch_size + row */
  size_t returned;    /* batches given to the caller this epoch */
  size_t consumed;    /* batches the caller has given back */
  int busy;           /* rows being worked on */
  int shutdown;
  graft_status fail;  /* first worker failure (sticky) */
  char fail_msg[512];

  uint8_t *bad;       /* (split->n) 1 for images found bad */
  size_t bad_files, replaced;
  char *first_bad;
  graft_image *ram;   /* (split->n) cache=ram, filled as images are first decoded */
  graft_cache_file cf;
  size_t *entry_of;   /* (split->n) cache file entry of each sample */
};

/* Fills row `row` of slot with the sample at position pos of the epoch
 * order (or, when that image is bad and the policy allows, a replacement).
 * On failure the message is in w->err. */
graft_status graft_loader_fill_row(graft_loader_worker *w, graft_loader_slot *slot, size_t row, size_t pos);

#endif

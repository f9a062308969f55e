/* loader.h: the prefetching batch loader. Worker threads decode and
 * augment samples into a ring of batch slots, so the next batches are
 * ready while the current one trains. Work is handed out a sample at a
 * time in epoch order, a shuffle or (balanced) a class-balanced draw with
 * replacement; the main thread takes batches in order. Each row's
 * augmentation is seeded from (seed, epoch, sample index), or in a
 * balanced draw from (seed, epoch, draw) so that a sample drawn twice is
 * augmented twice; either way a batch is the same whatever the number of
 * workers or their timing.
 * Batch memory comes from a caller-supplied allocator (the CUDA backend
 * passes pinned host memory so copies to the device can be asynchronous).
 * A bad image is an error that reaches the caller with the file's name, or
 * with on_bad_image=skip is replaced by the next sample of the epoch,
 * counted, and never decoded again. */
#ifndef GRAFT_DATA_LOADER_H
#define GRAFT_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/augment.h"
#include "data/dataset.h"

typedef struct {
  void *(*alloc)(void *user, size_t bytes); /* NULL: 64-byte aligned malloc */
  void (*free)(void *user, void *ptr);
  void *user;
} graft_host_allocator;

typedef enum { GRAFT_CACHE_NONE, GRAFT_CACHE_RAM, GRAFT_CACHE_FILE } graft_cache_mode;

typedef struct {
  graft_task task;
  int batch;          /* samples per batch */
  int workers;        /* decode and augment threads (>= 1) */
  int depth;          /* batch slots in the ring (>= 2) */
  int train;          /* 1: shuffle and augment randomly; 0: fixed order, eval transform */
  int drop_last;      /* leave out a last, partial batch */
  int balanced;       /* classification: train on class-balanced draws with
                         replacement (graft_balanced_order) instead of a
                         shuffle; ignored when train is 0 */
  uint64_t seed;
  int rank, world;    /* this process's share of the split */
  graft_bad_image on_bad_image;
  graft_cache_mode cache;
  const char *cache_path; /* GRAFT_CACHE_FILE: written by graft prepare */
  const char *data_root;  /* GRAFT_CACHE_FILE: the dataset root its paths are relative to */
  size_t max_pixels;  /* decode limit; 0 = default */
  int output_u8;      /* batches carry 8-bit pixels (normalize on the device) */
  graft_cls_aug cls;
  graft_det_aug det;
  graft_host_allocator alloc;
} graft_loader_opts;

/* Defaults: batch 32, 2 workers, depth 4, training, one rank, errors on bad
 * images, no cache, torchvision/YOLO augmentation defaults. */
void graft_loader_opts_defaults(graft_loader_opts *o, graft_task task);

typedef struct {
  int n;             /* samples in this batch (the last may be short) */
  int size;          /* image side: H = W */
  float *x;          /* (batch, size, size, 3) normalized, NHWC; NULL with output_u8 */
  uint8_t *x_u8;     /* (batch, size, size, 3) with output_u8, else NULL */
  int32_t *y;        /* (batch) class indices; -1 for detection */
  graft_box *boxes;  /* (batch, max_boxes) detection boxes, row i holds nbox[i] */
  int32_t *nbox;     /* (batch) */
  int max_boxes;
  size_t *index;     /* (batch) the split's sample index of each row */
  size_t number;     /* batch number within the epoch */
} graft_batch;

typedef struct {
  size_t bad_files;     /* distinct images found bad so far */
  size_t replaced;      /* batch rows filled by a replacement sample */
  const char *first_bad; /* the first bad file's path, or NULL */
} graft_loader_stats;

struct graft_loader_state;
typedef struct {
  struct graft_loader_state *st;
} graft_loader;

void graft_loader_init(graft_loader *l);
/* Starts the workers over split (which must outlive the loader). */
graft_status graft_loader_open(graft_loader *l, const graft_split *split, const graft_loader_opts *o);
/* Batches this rank gets per epoch. */
size_t graft_loader_batches(const graft_loader *l);
/* Begins an epoch (stopping whatever is left of the previous one). */
graft_status graft_loader_start_epoch(graft_loader *l, int epoch);
/* The next batch, valid until the next call; *out is NULL at the end of
 * the epoch. A worker's failure comes back here as its status, logged
 * with the file it concerns. */
graft_status graft_loader_next(graft_loader *l, const graft_batch **out);
graft_loader_stats graft_loader_get_stats(const graft_loader *l);
/* The message of the failure that stopped the loader (it names the file),
 * or NULL while none has. */
const char *graft_loader_error(const graft_loader *l);
/* Stops and joins the workers and frees everything; safe on a loader that
 * was only initialized or whose open failed. */
void graft_loader_free(graft_loader *l);

#endif

/* cmd_bench_data.c: `graft bench-data DIR`, the data pipeline benchmark.
 * Over the first n images under DIR it measures, on one thread, decode +
 * the torchvision training transform (RandomResizedCrop, flip, normalize
 * to float), the same work tools/bench_data.py times for Pillow +
 * torchvision; then the loader with cache=ram on `workers` threads, after
 * a first epoch that fills the cache. Prints one line per figure. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/args.h"
#include "core/log.h"
#include "data/data_cli.h"
#include "data/loader.h"

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

static graft_status bench_one_thread(const graft_split *sp, const graft_cls_aug *a, double *rate) {
  graft_image im;
  graft_image_init(&im);
  graft_resampler rs;
  graft_resampler_init(&rs);
  size_t pix = (size_t)a->size * a->size;
  uint8_t *tile = malloc(pix * 3);
  float *out = malloc(pix * 3 * sizeof *out);
  graft_status s = tile && out ? GRAFT_OK : GRAFT_ENOMEM;
  double t0 = now_s();
  for (size_t i = 0; i < sp->n && s == GRAFT_OK; i++) {
    s = graft_image_decode_file(sp->s[i].path, NULL, &im);
    graft_rng r;
    graft_rng_seed3(&r, 1, 0, i);
    if (s == GRAFT_OK) s = graft_cls_train(&rs, &im, a, &r, tile);
    if (s == GRAFT_OK) graft_normalize(tile, pix, a->mean, a->std, out);
  }
  *rate = (double)sp->n / (now_s() - t0);
  free(tile);
  free(out);
  graft_resampler_free(&rs);
  graft_image_free(&im);
  return s;
}

/* Rate of one epoch of the loader, in images per second. */
static graft_status time_epoch(graft_loader *l, int epoch, double *rate) {
  GRAFT_TRY(graft_loader_start_epoch(l, epoch));
  double t0 = now_s();
  size_t rows = 0;
  const graft_batch *b;
  for (;;) {
    GRAFT_TRY(graft_loader_next(l, &b));
    if (!b) break;
    rows += (size_t)b->n;
  }
  *rate = (double)rows / (now_s() - t0);
  return GRAFT_OK;
}

/* *cpu_ms: process CPU time per image over the warm epochs, which on a
 * shared machine tells what the workers would do with their cores to
 * themselves. */
static graft_status bench_loader(const graft_split *sp, const graft_cls_aug *a, int workers, int epochs,
                                 double *first, double *warm, double *cpu_ms) {
  graft_loader_opts o;
  graft_loader_opts_defaults(&o, GRAFT_TASK_CLASSIFY);
  o.cls = *a;
  o.batch = 64;
  o.workers = workers;
  o.depth = 2 * workers + 2;
  o.cache = GRAFT_CACHE_RAM;
  graft_loader l;
  graft_loader_init(&l);
  graft_status s = graft_loader_open(&l, sp, &o);
  if (s == GRAFT_OK) s = time_epoch(&l, 0, first);
  double total = 0, cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
  for (int e = 1; e <= epochs && s == GRAFT_OK; e++) {
    double r = 0;
    s = time_epoch(&l, e, &r);
    total += 1.0 / r;
  }
  *warm = epochs / total;
  *cpu_ms = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0) * 1e3 / ((double)sp->n * epochs);
  graft_loader_free(&l);
  return s;
}

static int run(graft_args *args) {
  int n, size, workers, epochs;
  if (args->npositional != 1) {
    GRAFT_ERROR("usage: graft bench-data DIR [n=1000] [size=224] [workers=2] [epochs=3]");
    return 2;
  }
  if (graft_args_int(args, "n", 1000, &n) || graft_args_int(args, "size", 224, &size) ||
      graft_args_int(args, "workers", 2, &workers) || graft_args_int(args, "epochs", 3, &epochs) ||
      graft_args_finish(args))
    return 2;
  if (n < 1 || epochs < 1 || workers < 1 || size < 8) {
    GRAFT_ERROR("bench-data: n, epochs and workers must be positive and size at least 8");
    return 2;
  }
  graft_strlist paths;
  graft_strlist_init(&paths);
  graft_split sp;
  graft_split_init(&sp);
  graft_status s = graft_list_images(args->positional[0], &paths, NULL);
  for (size_t i = 0; i < paths.count && i < (size_t)n && s == GRAFT_OK; i++)
    s = graft_split_add(&sp, paths.items[i], 0);
  graft_strlist_free(&paths);
  if (s == GRAFT_OK && sp.n == 0) {
    GRAFT_ERROR("%s: no images", args->positional[0]);
    s = GRAFT_ENOTFOUND;
  }
  graft_cls_aug a;
  graft_cls_aug_defaults(&a);
  a.size = size;
  a.resize = size * 8 / 7;
  double one = 0, first = 0, warm = 0, cpu_ms = 0;
  if (s == GRAFT_OK) s = bench_one_thread(&sp, &a, &one);
  if (s == GRAFT_OK)
    printf("graft decode+augment: %zu images, 1 thread, %dx%d: %.1f img/s\n", sp.n, size, size, one);
  if (s == GRAFT_OK) s = bench_loader(&sp, &a, workers, epochs, &first, &warm, &cpu_ms);
  if (s == GRAFT_OK)
    printf("graft loader cache=ram: %d workers, %dx%d, %d epochs after the first: %.1f img/s "
           "(%.3f ms CPU per image; first epoch, decoding: %.1f img/s)\n",
           workers, size, size, epochs, warm, cpu_ms, first);
  graft_split_free(&sp);
  return s == GRAFT_OK ? 0 : 1;
}

int graft_cmd_bench_data(int argc, char **argv) {
  graft_args args;
  if (graft_args_parse(&args, argc, argv) != GRAFT_OK) return 2;
  return run(&args);
}

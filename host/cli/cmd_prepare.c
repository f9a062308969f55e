/* cmd_prepare.c: `graft prepare DATA cache=FILE`, which decodes every image
 * of a dataset once and writes the memory-mappable cache file that
 * cache=file runs read (cache.h). size= is the side images are shrunk to:
 * the eval resize for classification (default 256, for 224 crops), the
 * letterbox size for detection (default 416); it must match the run's. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "core/log.h"
#include "data/cache.h"
#include "data/data_cli.h"

static int usage(void) {
  GRAFT_ERROR("usage: graft prepare DATA cache=FILE [size=N] [threads=2] [on_bad_image=error|skip] "
              "[max_pixels=N]");
  return 2;
}

int graft_cmd_prepare(int argc, char **argv) {
  static const char *const policies[] = {"error", "skip", NULL};
  graft_args args;
  if (graft_args_parse(&args, argc, argv) != GRAFT_OK) return 2;
  if (args.npositional > 1) return usage();
  const char *data = graft_args_str(&args, "data", args.npositional ? args.positional[0] : NULL);
  const char *cache = graft_args_str(&args, "cache", NULL);
  int size, threads, policy;
  uint64_t max_pixels;
  if (graft_args_int(&args, "size", 0, &size) || graft_args_int(&args, "threads", 2, &threads) ||
      graft_args_choice(&args, "on_bad_image", policies, 0, &policy) ||
      graft_args_u64(&args, "max_pixels", 0, &max_pixels) || graft_args_finish(&args))
    return 2;
  if (!data || !cache) return usage();
  /* Every image goes in, train and val alike, so how a run later splits
   * the data does not matter here. */
  graft_dataset ds;
  if (graft_dataset_open(&ds, data, NULL) != GRAFT_OK) return 1;
  if (size == 0) size = ds.task == GRAFT_TASK_CLASSIFY ? 256 : 416;
  graft_cache_write_opts o = {threads, policy ? GRAFT_BAD_IMAGE_SKIP : GRAFT_BAD_IMAGE_ERROR, (size_t)max_pixels};
  size_t bad = 0;
  graft_status s = graft_cache_write(cache, &ds, size, &o, &bad);
  if (s == GRAFT_OK)
    GRAFT_INFO("prepare: wrote %s: %zu images shrunk to %d pixels (%s side)", cache,
               ds.train.n + ds.val.n, size, ds.task == GRAFT_TASK_CLASSIFY ? "shorter" : "longer");
  if (s == GRAFT_OK && bad) GRAFT_WARN("prepare: %zu unreadable images were recorded as bad", bad);
  graft_dataset_free(&ds);
  return s == GRAFT_OK ? 0 : 1;
}

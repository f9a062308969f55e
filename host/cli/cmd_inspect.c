/* cmd_inspect.c: `graft inspect DATA [--json] [--strict] [key=value ...]`,
 * the dataset report of inspect.h, as a table or as JSON on stdout. Exits
 * 0 when the report was made (1 with --strict when it found problems). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/log.h"
#include "data/data_cli.h"
#include "data/inspect.h"

static int usage(void) {
  GRAFT_ERROR("usage: graft inspect DATA [--json] [--strict] [imbalance_warn=5] [val_ratio=0] [seed=0] "
              "[threads=2] [max_pixels=N]");
  return 2;
}

int graft_cmd_inspect(int argc, char **argv) {
  graft_args args;
  if (graft_args_parse(&args, argc, argv) != GRAFT_OK) return 2;
  const char *data = NULL;
  int json = 0, strict = 0;
  for (int i = 0; i < args.npositional; i++) {
    if (!strcmp(args.positional[i], "--json"))
      json = 1;
    else if (!strcmp(args.positional[i], "--strict"))
      strict = 1;
    else if (!data && args.positional[i][0] != '-')
      data = args.positional[i];
    else
      return usage();
  }
  data = graft_args_str(&args, "data", data);
  graft_inspect_opts o;
  graft_inspect_opts_defaults(&o);
  float warn, ratio;
  uint64_t max_pixels;
  if (graft_args_float(&args, "imbalance_warn", (float)o.imbalance_warn, &warn) ||
      graft_args_float(&args, "val_ratio", 0.0f, &ratio) || graft_args_u64(&args, "seed", 0, &o.seed) ||
      graft_args_int(&args, "threads", o.threads, &o.threads) ||
      graft_args_u64(&args, "max_pixels", 0, &max_pixels) || graft_args_finish(&args))
    return 2;
  if (!data) return usage();
  o.imbalance_warn = warn;
  o.val_ratio = ratio;
  o.max_pixels = (size_t)max_pixels;
  graft_inspect_report r;
  graft_status s = graft_inspect_run(data, &o, &r);
  if (s != GRAFT_OK) {
    graft_inspect_free(&r);
    return 1;
  }
  if (json) {
    char *text = graft_inspect_json(&r);
    if (!text) {
      GRAFT_ERROR("out of memory writing the JSON report");
      graft_inspect_free(&r);
      return 1;
    }
    printf("%s\n", text);
    free(text);
  } else {
    graft_inspect_print(&r, stdout);
  }
  size_t problems = graft_inspect_problems(&r);
  graft_inspect_free(&r);
  return strict && problems ? 1 : 0;
}

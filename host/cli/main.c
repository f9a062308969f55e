/* main.c: the graft command line. Dispatches to subcommands; the only place
 * that exits. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/log.h"
#include "data/data_cli.h"
#ifdef GRAFT_HAVE_CUDA
#include "gpu.h"
#endif

typedef struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *help;
} command;

static const command commands[] = {
    {"train", graft_cmd_train, "fine-tune a classifier on a dataset (graft train --help lists every key)"},
    {"eval", graft_cmd_eval, "metrics of a checkpoint on the validation split"},
    {"predict", graft_cmd_predict, "top-k classes with probabilities for each image"},
    {"inspect", graft_cmd_inspect, "dataset report: counts, imbalance, unreadable files, duplicates, leakage"},
    {"prepare", graft_cmd_prepare, "decode a dataset once into a cache file"},
    {"step", graft_cmd_step, "one training step on a given batch, written out for parity checks"},
    {"bench", graft_cmd_bench, "training throughput of a model on random data"},
    {"bench-data", graft_cmd_bench_data, "data pipeline throughput"},
    {"weights", graft_cmd_weights, "list or validate a safetensors weights file"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: graft <command> [key=value ...]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv) {
#ifdef GRAFT_HAVE_CUDA
  /* device=gpu reaches the CUDA backend through this (see core/ctx.h). */
  graft_ctx_register_gpu(graft_gpu_ctx_init, graft_gpu_device_count);
#endif
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
    printf("graft 0.1.0\n");
    return 0;
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 2, argv + 2);
  GRAFT_ERROR("unknown command '%s'", cmd);
  usage(stderr);
  return 2;
}

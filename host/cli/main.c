/* main.c: the graft command line. Dispatches to subcommands; the only place
 * that exits. */
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: graft <command> [key=value ...]\n"
          "commands:\n"
          "  version    print the version\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    printf("graft 0.1.0\n");
    return 0;
  }
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return 0;
  }
  GRAFT_ERROR("unknown command '%s'", argv[1]);
  usage(stderr);
  return 2;
}

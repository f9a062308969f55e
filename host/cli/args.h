/* args.h: `key=value` command-line arguments. Every getter records the key
 * it was asked for, so graft_args_finish can reject keys nobody asked for
 * and suggest the closest known one. Bad values name the key and value. */
#ifndef GRAFT_ARGS_H
#define GRAFT_ARGS_H

#include <stdint.h>

#include "core/status.h"

#define GRAFT_ARGS_MAX 128

typedef struct {
  const char *key[GRAFT_ARGS_MAX];   /* points into argv */
  int key_len[GRAFT_ARGS_MAX];
  const char *value[GRAFT_ARGS_MAX]; /* points into argv */
  int used[GRAFT_ARGS_MAX];
  int n;
  const char *known[GRAFT_ARGS_MAX]; /* keys the command asked for */
  int nknown;
  const char *positional[GRAFT_ARGS_MAX]; /* arguments without '=' */
  int npositional;
} graft_args;

/* Splits argv (without the program and command names). Arguments without
 * '=' are kept as positional; an empty key is an error. */
graft_status graft_args_parse(graft_args *a, int argc, char **argv);

const char *graft_args_str(graft_args *a, const char *key, const char *def);
graft_status graft_args_int(graft_args *a, const char *key, int def, int *out);
graft_status graft_args_u64(graft_args *a, const char *key, uint64_t def, uint64_t *out);
graft_status graft_args_float(graft_args *a, const char *key, float def, float *out);
/* 0/1, true/false, yes/no, on/off. */
graft_status graft_args_bool(graft_args *a, const char *key, int def, int *out);
/* One of the names in choices (NULL-terminated); *out gets its index. */
graft_status graft_args_choice(graft_args *a, const char *key, const char *const *choices, int def, int *out);

/* Errors on any key given but never asked for, suggesting the nearest
 * known key by edit distance. */
graft_status graft_args_finish(const graft_args *a);

/* Levenshtein distance, also used for config keys. */
int graft_edit_distance(const char *a, const char *b);

#endif

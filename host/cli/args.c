/* args.c: key=value parsing with typed getters and unknown-key checks. */
#include "cli/args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

graft_status graft_args_parse(graft_args *a, int argc, char **argv) {
  memset(a, 0, sizeof *a);
  for (int i = 0; i < argc; i++) {
    const char *eq = strchr(argv[i], '=');
    if (!eq) {
      if (a->npositional == GRAFT_ARGS_MAX) GRAFT_FAIL(GRAFT_EINVAL, "too many arguments");
      a->positional[a->npositional++] = argv[i];
      continue;
    }
    if (eq == argv[i]) GRAFT_FAIL(GRAFT_EINVAL, "argument '%s' has no key before '='", argv[i]);
    if (a->n == GRAFT_ARGS_MAX) GRAFT_FAIL(GRAFT_EINVAL, "too many key=value arguments");
    a->key[a->n] = argv[i];
    a->key_len[a->n] = (int)(eq - argv[i]);
    a->value[a->n] = eq + 1;
    a->n++;
  }
  return GRAFT_OK;
}

/* Index of the last occurrence of key (later arguments win), or -1. */
static int lookup(graft_args *a, const char *key) {
  int known = 0;
  for (int i = 0; i < a->nknown; i++)
    if (!strcmp(a->known[i], key)) known = 1;
  if (!known && a->nknown < GRAFT_ARGS_MAX) a->known[a->nknown++] = key;
  int found = -1;
  size_t len = strlen(key);
  for (int i = 0; i < a->n; i++) {
    if ((size_t)a->key_len[i] == len && !strncmp(a->key[i], key, len)) {
      a->used[i] = 1;
      found = i;
    }
  }
  return found;
}

const char *graft_args_str(graft_args *a, const char *key, const char *def) {
  int i = lookup(a, key);
  return i < 0 ? def : a->value[i];
}

graft_status graft_args_int(graft_args *a, const char *key, int def, int *out) {
  int i = lookup(a, key);
  if (i < 0) {
    *out = def;
    return GRAFT_OK;
  }
  char *end = NULL;
  errno = 0;
  long v = strtol(a->value[i], &end, 10);
  if (end == a->value[i] || *end || errno || v < -2147483647L || v > 2147483647L)
    GRAFT_FAIL(GRAFT_EINVAL, "%s=%s: expected an integer", key, a->value[i]);
  *out = (int)v;
  return GRAFT_OK;
}

graft_status graft_args_u64(graft_args *a, const char *key, uint64_t def, uint64_t *out) {
  int i = lookup(a, key);
  if (i < 0) {
    *out = def;
    return GRAFT_OK;
  }
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(a->value[i], &end, 10);
  if (end == a->value[i] || *end || errno || a->value[i][0] == '-')
    GRAFT_FAIL(GRAFT_EINVAL, "%s=%s: expected a non-negative integer", key, a->value[i]);
  *out = (uint64_t)v;
  return GRAFT_OK;
}

graft_status graft_args_float(graft_args *a, const char *key, float def, float *out) {
  int i = lookup(a, key);
  if (i < 0) {
    *out = def;
    return GRAFT_OK;
  }
  char *end = NULL;
  errno = 0;
  double v = strtod(a->value[i], &end);
  if (end == a->value[i] || *end || errno || !isfinite(v))
    GRAFT_FAIL(GRAFT_EINVAL, "%s=%s: expected a finite number", key, a->value[i]);
  *out = (float)v;
  return GRAFT_OK;
}

graft_status graft_args_bool(graft_args *a, const char *key, int def, int *out) {
  static const char *const names[] = {"0", "1", "false", "true", "no", "yes", "off", "on", NULL};
  int idx = 0;
  GRAFT_TRY(graft_args_choice(a, key, names, def ? 1 : 0, &idx));
  *out = idx % 2;
  return GRAFT_OK;
}

graft_status graft_args_choice(graft_args *a, const char *key, const char *const *choices, int def, int *out) {
  int i = lookup(a, key);
  if (i < 0) {
    *out = def;
    return GRAFT_OK;
  }
  for (int c = 0; choices[c]; c++) {
    if (!strcmp(a->value[i], choices[c])) {
      *out = c;
      return GRAFT_OK;
    }
  }
  char list[256] = "";
  for (int c = 0; choices[c]; c++) {
    if (c) strncat(list, "|", sizeof list - strlen(list) - 1);
    strncat(list, choices[c], sizeof list - strlen(list) - 1);
  }
  GRAFT_FAIL(GRAFT_EINVAL, "%s=%s: expected one of %s", key, a->value[i], list);
}

int graft_edit_distance(const char *s, const char *t) {
  size_t n = strlen(s), m = strlen(t);
  if (n > 64 || m > 64) return 1000;
  int row[65];
  for (size_t j = 0; j <= m; j++) row[j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= m; j++) {
      int up = row[j];
      int best = diag + (s[i - 1] != t[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

graft_status graft_args_finish(const graft_args *a) {
  for (int i = 0; i < a->n; i++) {
    if (a->used[i]) continue;
    char key[80];
    int len = a->key_len[i] < (int)sizeof key - 1 ? a->key_len[i] : (int)sizeof key - 1;
    memcpy(key, a->key[i], (size_t)len);
    key[len] = '\0';
    const char *best = NULL;
    int best_d = 1000;
    for (int k = 0; k < a->nknown; k++) {
      int d = graft_edit_distance(key, a->known[k]);
      if (d < best_d) {
        best_d = d;
        best = a->known[k];
      }
    }
    if (best && best_d <= 3) GRAFT_FAIL(GRAFT_EINVAL, "unknown key '%s' (did you mean '%s'?)", key, best);
    GRAFT_FAIL(GRAFT_EINVAL, "unknown key '%s'", key);
  }
  return GRAFT_OK;
}

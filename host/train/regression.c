/* regression.c: reading a regression dataset's CSV lists. */
#include "train/regression.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/fileio.h"

#define CSV_MAX_BYTES (256u << 20)

void graft_regression_init(graft_regression_data *d) {
  memset(d, 0, sizeof *d);
  graft_split_init(&d->train);
  graft_split_init(&d->val);
}

void graft_regression_free(graft_regression_data *d) {
  graft_split_free(&d->train);
  graft_split_free(&d->val);
  free(d->train_y);
  free(d->val_y);
  memset(d, 0, sizeof *d);
}

/* Parses one CSV list into sp and *ys. */
static graft_status read_list(const char *root, const char *name, graft_split *sp, float **ys) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, name);
  uint8_t *text = NULL;
  size_t len = 0;
  GRAFT_TRY(graft_file_read(path, CSV_MAX_BYTES, &text, &len));
  size_t cap = 0, line = 0;
  graft_status s = GRAFT_OK;
  char *next = (char *)text;
  while (next && *next && s == GRAFT_OK) {
    char *row = next;
    next = strchr(row, '\n');
    if (next) *next++ = '\0';
    line++;
    size_t n = strlen(row);
    if (n && row[n - 1] == '\r') row[--n] = '\0';
    if (n == 0) continue;
    char *comma = strrchr(row, ',');
    if (!comma) {
      s = GRAFT_EFORMAT;
      GRAFT_ERROR("%s:%zu: expected 'path,value'", path, line);
      break;
    }
    *comma = '\0';
    char *end = NULL;
    errno = 0;
    double v = strtod(comma + 1, &end);
    if (end == comma + 1 || *end || errno || !isfinite(v) || !isfinite((float)v)) {
      if (line == 1 && sp->n == 0) continue; /* a header */
      s = GRAFT_EFORMAT;
      GRAFT_ERROR("%s:%zu: '%s' is not a finite number", path, line, comma + 1);
      break;
    }
    if (sp->n == cap) {
      cap = cap ? 2 * cap : 256;
      float *grown = realloc(*ys, cap * sizeof **ys);
      if (!grown) {
        s = GRAFT_ENOMEM;
        break;
      }
      *ys = grown;
    }
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", root, row);
    (*ys)[sp->n] = (float)v;
    s = graft_split_add(sp, full, 0);
  }
  free(text);
  if (s == GRAFT_OK && sp->n == 0) GRAFT_FAIL(GRAFT_EFORMAT, "%s lists no images", path);
  return s;
}

graft_status graft_regression_open(graft_regression_data *d, const char *root) {
  GRAFT_TRY(read_list(root, "train.csv", &d->train, &d->train_y));
  return read_list(root, "val.csv", &d->val, &d->val_y);
}

/* regression.h: the dataset of a regression head (task=regression): images
 * with one number each, listed in ROOT/train.csv and ROOT/val.csv as lines
 * `relative/path.png,value` (an optional first line `path,target` is a
 * header). Paths are relative to ROOT. The samples go into ordinary splits
 * (so the loader reads them as it reads classification data) and the
 * targets into arrays indexed like the splits. */
#ifndef GRAFT_REGRESSION_H
#define GRAFT_REGRESSION_H

#include "core/status.h"
#include "data/dataset.h"

typedef struct {
  graft_split train, val;
  float *train_y; /* (train.n) */
  float *val_y;   /* (val.n) */
} graft_regression_data;

void graft_regression_init(graft_regression_data *d);
void graft_regression_free(graft_regression_data *d);
/* Reads ROOT/train.csv and ROOT/val.csv; errors name the file and line. */
graft_status graft_regression_open(graft_regression_data *d, const char *root);

#endif

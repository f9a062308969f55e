/* inspect.h: what `graft inspect` finds out about a dataset before anyone
 * spends GPU hours on it: counts per class and split, class imbalance,
 * image sizes, files that do not decode, exact duplicates (by content)
 * within a split, the same image in train and val (leakage) or under two
 * classes, and for detection the label problems (out-of-range lines,
 * empty, missing and malformed label files) and boxes per class.
 * Every image is read and decoded once, on several threads. */
#ifndef GRAFT_DATA_INSPECT_H
#define GRAFT_DATA_INSPECT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "data/dataset.h"

typedef struct {
  double val_ratio;   /* passed to graft_dataset_open (0: report one split) */
  uint64_t seed;
  double imbalance_warn; /* warn when largest / smallest class exceeds this */
  int threads;
  size_t max_pixels;
} graft_inspect_opts;

void graft_inspect_opts_defaults(graft_inspect_opts *o);

/* What was learned about one image file. */
typedef struct {
  uint64_t hash;   /* of the file's bytes */
  uint64_t bytes;
  int w, h;        /* 0 when unreadable */
  int split;       /* 0 train, 1 val */
  size_t index;    /* in its split */
  char *error;     /* why it does not decode, or NULL */
} graft_inspect_file;

/* Files with identical content. */
typedef struct {
  size_t *members; /* (n) indices into files */
  size_t n;
  int leak;        /* in both train and val */
  int label_conflict; /* under more than one class */
} graft_inspect_group;

typedef struct {
  size_t n;             /* images */
  size_t *per_class;    /* (num_classes) images (classification) or boxes (detection) */
  size_t unreadable;
  int w_min, w_max, w_median, h_min, h_max, h_median;
  double imbalance;     /* largest / smallest per_class; 0 when a class is empty */
  int largest, smallest;
  size_t dup_groups, dup_extra; /* duplicate groups within the split, copies beyond the first */
} graft_inspect_split;

typedef struct {
  graft_dataset ds;
  graft_inspect_opts opts;
  graft_inspect_file *files; /* (nfiles) train then val */
  size_t nfiles;
  graft_inspect_split split[2];
  graft_inspect_group *groups; /* (ngroups) every set of identical files */
  size_t ngroups;
  size_t leak_groups, leak_val_files, conflict_groups;
} graft_inspect_report;

void graft_inspect_init(graft_inspect_report *r);
void graft_inspect_free(graft_inspect_report *r);
graft_status graft_inspect_run(const char *root, const graft_inspect_opts *o, graft_inspect_report *r);

/* Number of problems worth a warning (unreadable files, duplicates,
 * leakage, conflicting labels, imbalance past the threshold, label file
 * problems). */
size_t graft_inspect_problems(const graft_inspect_report *r);

/* The report as a table for people. */
void graft_inspect_print(const graft_inspect_report *r, FILE *f);
/* The report as JSON (malloc'd string; NULL when out of memory). */
char *graft_inspect_json(const graft_inspect_report *r);

#endif

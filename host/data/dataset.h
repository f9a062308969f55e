/* dataset.h: what a dataset folder holds, found and listed once at start:
 * the task, the class names and, per split, the image files with their
 * class (classification) or boxes (detection). Nothing is decoded here.
 *
 * Layouts, detected in this order under the root:
 *   images/ + labels/          YOLO; images/train + images/val (and the same
 *                              under labels/) or one folder to split
 *   train/images, val/images   YOLO, Roboflow style (val may be "valid")
 *   train/<class>/, val/<class>/   ImageFolder with a validation folder
 *   <class>/                   ImageFolder, one folder split by val_ratio
 * ImageFolder classes are the sorted sub-folder names and files are listed
 * exactly as torchvision's ImageFolder lists them (os.walk, sorted), so
 * class indices and sample order agree with PyTorch on the same tree. */
#ifndef GRAFT_DATA_DATASET_H
#define GRAFT_DATA_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/datautil.h"
#include "data/labels.h"

typedef enum { GRAFT_TASK_CLASSIFY, GRAFT_TASK_DETECT } graft_task;

/* What to do with an image that cannot be decoded. */
typedef enum { GRAFT_BAD_IMAGE_ERROR, GRAFT_BAD_IMAGE_SKIP } graft_bad_image;

typedef struct {
  char *path;   /* the image file (malloc'd) */
  int label;    /* class index; -1 for detection */
  size_t box0;  /* detection: first box in the split's boxes */
  uint32_t nbox; /* detection: number of boxes */
} graft_sample;

typedef struct {
  graft_sample *s; /* (n) */
  size_t n, cap;
  graft_boxes boxes;     /* detection: every sample's boxes, by box0/nbox */
  size_t missing_labels; /* detection: images with no label file */
  size_t empty_labels;   /* detection: label files with no boxes */
} graft_split;

typedef struct {
  graft_task task;
  char *root;
  graft_strlist classes; /* (num_classes) names; the index is the class id */
  graft_split train, val;
  int split_by_ratio;    /* 1 when val was carved out of train by val_ratio */
  size_t foreign_files;  /* image files of formats graft cannot read, left out */
  graft_label_stats label_stats; /* lenient mode: label lines dropped */
} graft_dataset;

typedef struct {
  double val_ratio; /* share of each class held out when there is no val folder */
  uint64_t seed;    /* for that split */
  const char *names_file; /* detection class names; NULL: classes.txt, obj.names, names.txt */
  int lenient_labels;     /* count out-of-range label lines instead of failing (inspect) */
} graft_dataset_opts;

void graft_split_init(graft_split *sp);
void graft_split_free(graft_split *sp);
/* Appends a sample without boxes (path copied). */
graft_status graft_split_add(graft_split *sp, const char *path, int label);
/* Appends a copy of src's sample i (and its boxes) to dst. */
graft_status graft_split_push_from(graft_split *dst, const graft_split *src, size_t i);
/* dst (initialized here) gets src's samples idx[0..n), in that order. */
graft_status graft_split_select(graft_split *dst, const graft_split *src, const size_t *idx, size_t n);

void graft_dataset_init(graft_dataset *ds);
void graft_dataset_free(graft_dataset *ds);
/* Finds the layout under root and lists it. o may be NULL (no split). */
graft_status graft_dataset_open(graft_dataset *ds, const char *root, const graft_dataset_opts *o);
int graft_dataset_num_classes(const graft_dataset *ds);

/* Lists image files under dir the way torchvision's ImageFolder does:
 * every folder below dir (links followed), the folder paths sorted, and in
 * each folder the file names sorted; only .png/.jpg/.jpeg (any case) are
 * kept, and files of other image formats are counted in *foreign. */
graft_status graft_list_images(const char *dir, graft_strlist *paths, size_t *foreign);

#endif

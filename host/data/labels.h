/* labels.h: the two small text formats of a detection dataset, parsed
 * strictly: the class-names file (one name a line; darknet's obj.names,
 * Ultralytics' classes.txt) and YOLO label files (`class cx cy w h` a line,
 * coordinates normalized to the image). Both come from strangers, so every
 * problem is an error naming the file and the line. */
#ifndef GRAFT_DATA_LABELS_H
#define GRAFT_DATA_LABELS_H

#include <stddef.h>

#include "core/status.h"
#include "data/datautil.h"

#define GRAFT_MAX_CLASSES 65536
#define GRAFT_MAX_CLASS_NAME 255

/* One object: class and a box normalized to the image, centre and size. */
typedef struct {
  int cls;
  float cx, cy, w, h;
} graft_box;

typedef struct {
  graft_box *v; /* (n) */
  size_t n, cap;
} graft_boxes;

void graft_boxes_init(graft_boxes *b);
void graft_boxes_free(graft_boxes *b);
graft_status graft_boxes_push(graft_boxes *b, graft_box box);

/* Parses a class-names file (text, len bytes) into names (initialized
 * here). Surrounding white space and a UTF-8 byte-order mark are removed;
 * blank lines may only trail. Empty files, blank lines in the middle (they
 * would shift every later index), duplicates, control characters and
 * over-long names are errors. err as in graft_data_report. */
graft_status graft_parse_class_names(const char *text, size_t len, const char *name,
                                     graft_strlist *names, char *err, size_t err_len);

/* Problems that lenient parsing counts instead of failing on. */
typedef struct {
  size_t bad_class;  /* class index outside [0, num_classes) */
  size_t bad_coords; /* centre outside [0, 1] or size outside (0, 1] */
  size_t bad_files;  /* whole files with syntax errors (dataset listing only) */
} graft_label_stats;

/* Parses a YOLO label file and appends its boxes to out. Each non-blank
 * line must be exactly five fields: an integer class in [0, num_classes)
 * and four finite numbers, the centre in [0, 1] and the size in (0, 1].
 * Syntax errors always fail. With lenient set, range errors are counted
 * there and the line is dropped; without it they fail too. */
graft_status graft_parse_yolo_labels(const char *text, size_t len, const char *name, int num_classes,
                                     graft_label_stats *lenient, graft_boxes *out, char *err,
                                     size_t err_len);

#endif

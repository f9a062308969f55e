/* fuzz_yolo_labels.c: libFuzzer target for the strict YOLO label parser,
 * in strict and lenient mode. Whatever it accepts must be a box within the
 * documented ranges; a failure must leave no boxes behind and a message.
 * Built and run by tests/scripts/test_fuzz_data.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "data/labels.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  graft_log_set_level(GRAFT_LOG_SILENT);
  return 0;
}

static void check(const graft_boxes *b, int num_classes) {
  for (size_t i = 0; i < b->n; i++) {
    const graft_box *x = &b->v[i];
    if (x->cls < 0 || x->cls >= num_classes || !(x->cx >= 0 && x->cx <= 1) || !(x->cy >= 0 && x->cy <= 1) ||
        !(x->w > 0 && x->w <= 1) || !(x->h > 0 && x->h <= 1))
      abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const int num_classes = 80;
  char err[512] = "";
  graft_boxes b;
  graft_boxes_init(&b);
  graft_status s = graft_parse_yolo_labels((const char *)data, size, "fuzz.txt", num_classes, NULL, &b, err, sizeof err);
  if (s == GRAFT_OK)
    check(&b, num_classes);
  else if (b.n || !err[0])
    abort();
  graft_boxes_free(&b);
  graft_label_stats st = {0, 0, 0};
  s = graft_parse_yolo_labels((const char *)data, size, "fuzz.txt", num_classes, &st, &b, err, sizeof err);
  if (s == GRAFT_OK) check(&b, num_classes);
  graft_boxes_free(&b);
  return 0;
}

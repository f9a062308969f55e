/* fuzz_classnames.c: libFuzzer target for the class-names file parser.
 * Accepted names must be non-empty, bounded, free of control characters
 * and unique; a failure must leave no names and a message. Built and run
 * by tests/scripts/test_fuzz_data.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512] = "";
  graft_strlist names;
  graft_status s = graft_parse_class_names((const char *)data, size, "fuzz.names", &names, err, sizeof err);
  if (s != GRAFT_OK) {
    if (names.count || !err[0]) abort();
    return 0;
  }
  if (names.count == 0 || names.count > GRAFT_MAX_CLASSES) abort();
  for (size_t i = 0; i < names.count; i++) {
    size_t n = strlen(names.items[i]);
    if (n == 0 || n > GRAFT_MAX_CLASS_NAME) abort();
    for (size_t k = 0; k < n; k++)
      if ((unsigned char)names.items[i][k] < 0x20 || names.items[i][k] == 0x7F) abort();
    for (size_t j = 0; j < i && names.count < 2000; j++)
      if (!strcmp(names.items[i], names.items[j])) abort();
  }
  graft_strlist_free(&names);
  return 0;
}

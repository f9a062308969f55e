/* fuzz_image.c: libFuzzer target for the image decoder front door
 * (graft_image_decode_mem: sniffing, the PNG and JPEG wrappers, limits).
 * Any input must either decode to a plausible image or fail cleanly; the
 * sanitizers catch everything else. Odd-length inputs also try JPEG DCT
 * downscaling. Built and run by tests/scripts/test_fuzz_data.sh. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/log.h"
#include "data/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  graft_log_set_level(GRAFT_LOG_SILENT);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  graft_decode_opts o = {(size_t)1 << 22, 0, 0, err, sizeof err};
  if (size & 1) o.min_w = o.min_h = 8;
  graft_image im;
  graft_image_init(&im);
  if (graft_image_decode_mem(data, size, "fuzz-input", &o, &im) == GRAFT_OK) {
    if (im.w <= 0 || im.h <= 0 || (size_t)im.w * (size_t)im.h > o.max_pixels || !im.px) abort();
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)im.w * (size_t)im.h * 3; i++) sum += im.px[i];
    if (sum == 0xFFFFFFFFu) abort();
  } else if (im.px || !err[0]) {
    abort();
  }
  graft_image_free(&im);
  return 0;
}

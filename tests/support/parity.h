/* parity.h: one PyTorch fixture checked through `graft step` (parity.c). */
#ifndef GRAFT_TEST_PARITY_H
#define GRAFT_TEST_PARITY_H

/* Runs `graft step` with the arguments stored in
 * tests/fixtures/resnet/<name>.safetensors plus extra (e.g. "device=gpu";
 * NULL for none) and compares its output with the fixture. Prints the
 * worst tensor of each kind; returns 1 when every tensor is within
 * max(ratio x PyTorch float32's error, floor x floor_scale). */
int parity_check_fixture(const char *name, const char *extra, double ratio, double floor_scale);

#endif

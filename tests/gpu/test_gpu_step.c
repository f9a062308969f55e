/* test_gpu_step.c: whole training steps on the GPU against the PyTorch
 * fixtures that the CPU parity test uses (tests/support/parity.c): `graft
 * step device=gpu` on ResNet-18, ResNet-50 and ResNet-20 with SGD,
 * Nesterov and AdamW, two steps, in each precision mode, and once with the
 * second step replayed from a captured CUDA graph.
 *
 * Tolerances per mode. fp32 must meet the CPU's bar: 4x PyTorch float32's
 * own error against float64. TF32 rounds convolution inputs to 10 mantissa
 * bits (relative 2^-11, about 5e-4) and bf16 to 7 (2^-8, about 4e-3); the
 * floors are scaled by 100 and 1000 so that those roundings, grown through
 * a ResNet-50's depth, pass while a wrong gradient (an error of order 1)
 * does not. They are first guesses, to be tightened on the first GPU run
 * from the worst errors this test prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "core/ctx.h"
#include "cuda/gpu.h"
#include "parity.h"

#define RATIO 4.0

static const char *const fixtures[] = {"resnet18_sgd",      "resnet18_adamw_ls", "resnet50_nesterov",
                                       "resnet50_adamw",    "resnet20_sgd",      "resnet20_narrow_adamw"};
#define NFIXTURES (sizeof fixtures / sizeof fixtures[0])

static void check_all(const char *extra, double floor_scale) {
  int ok = 1;
  for (size_t i = 0; i < NFIXTURES; i++) ok &= parity_check_fixture(fixtures[i], extra, RATIO, floor_scale);
  assert_true(ok);
}

static void test_fp32(void **state) {
  (void)state;
  check_all("device=gpu precision=fp32", 1.0);
}

static void test_fp32_cuda_graph(void **state) {
  (void)state;
  check_all("device=gpu precision=fp32 cuda_graph=1", 1.0);
}

static void test_tf32(void **state) {
  (void)state;
  check_all("device=gpu precision=tf32", 100.0);
}

static void test_bf16(void **state) {
  (void)state;
  check_all("device=gpu precision=bf16", 1000.0);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_step: skipped, no CUDA device\n");
    return 77;
  }
  graft_ctx_register_gpu(graft_gpu_ctx_init, graft_gpu_device_count);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fp32),
      cmocka_unit_test(test_fp32_cuda_graph),
      cmocka_unit_test(test_tf32),
      cmocka_unit_test(test_bf16),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  printf("test_gpu_step: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

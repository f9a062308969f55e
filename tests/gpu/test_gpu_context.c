/* test_gpu_context.c: the GPU context and memory helpers of cuda/gpu.h:
 * init and free (twice, and after a refused device), the workspace floor,
 * host -> device -> device -> host round trips through pageable and pinned
 * memory, memset, and the GRAFT_CUDA_SYNC switch (a context built with it
 * still runs ops). Skipped (exit 77) without a GPU. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "core/log.h"
#include "gpu_testutil.h"

static void test_init_free(void **state) {
  (void)state;
  graft_ctx ctx;
  assert_int_equal(graft_gpu_ctx_init(&ctx, 0, 0), GRAFT_OK);
  assert_ptr_equal(ctx.backend, &graft_backend_gpu);
  assert_non_null(ctx.device);
  assert_non_null(ctx.workspace);
  assert_true(ctx.workspace_bytes >= GRAFT_GPU_MIN_WORKSPACE);
  graft_gpu_ctx_free(&ctx);
  assert_null(ctx.device);
  graft_gpu_ctx_free(&ctx);

  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_gpu_ctx_init(&ctx, graft_gpu_device_count(), 0), GRAFT_EINVAL);
  assert_int_equal(graft_gpu_ctx_init(&ctx, -1, 0), GRAFT_EINVAL);
  graft_log_set_level(saved);
  assert_null(ctx.device);
  graft_gpu_ctx_free(&ctx);
}

static void test_round_trip(void **state) {
  (void)state;
  graft_ctx ctx;
  assert_int_equal(graft_gpu_ctx_init(&ctx, 0, (size_t)1 << 20), GRAFT_OK);
  const size_t n = 100003;
  float *src = malloc(n * sizeof(float)), *back = malloc(n * sizeof(float)); /* (n) each */
  float *pinned = NULL;                                                        /* (n) */
  assert_non_null(src);
  assert_non_null(back);
  assert_int_equal(graft_gpu_host_alloc((void **)&pinned, n * sizeof(float)), GRAFT_OK);
  for (size_t i = 0; i < n; i++) src[i] = (float)i * 0.5f - 7.0f;
  void *a = NULL, *b = NULL;
  assert_int_equal(graft_gpu_alloc(&ctx, &a, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_alloc(&ctx, &b, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_h2d(&ctx, a, src, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2d(&ctx, b, a, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2h(&ctx, pinned, b, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_memset(&ctx, a, 0, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_copy_d2h(&ctx, back, a, n * sizeof(float)), GRAFT_OK);
  assert_int_equal(graft_gpu_sync(&ctx), GRAFT_OK);
  assert_memory_equal(pinned, src, n * sizeof(float));
  for (size_t i = 0; i < n; i++) assert_true(back[i] == 0.0f);
  void *none = &ctx;
  assert_int_equal(graft_gpu_alloc(&ctx, &none, 0), GRAFT_OK);
  assert_null(none);
  graft_gpu_free(&ctx, a);
  graft_gpu_free(&ctx, b);
  graft_gpu_host_free(pinned);
  free(src), free(back);
  graft_gpu_ctx_free(&ctx);
}

/* With GRAFT_CUDA_SYNC=1 every launch is followed by a synchronization; the
 * ops still run and agree with a context built without it. */
static void test_sync_switch(void **state) {
  (void)state;
  graft_ctx ctx;
  setenv("GRAFT_CUDA_SYNC", "1", 1);
  assert_int_equal(graft_gpu_ctx_init(&ctx, 0, 0), GRAFT_OK);
  unsetenv("GRAFT_CUDA_SYNC");
  const float x[5] = {-2, -1, 0, 1, 2}, want[5] = {0, 0, 0, 1, 2};
  float *dev_x = gt_upload(&ctx, x, 5), *dev_y = gt_upload(&ctx, NULL, 5);
  assert_int_equal(graft_backend_gpu.act_forward(&ctx, GRAFT_ACT_RELU, 0.0f, 5, dev_x, dev_y),
                   GRAFT_OK);
  assert_true(gt_check(&ctx, "relu with GRAFT_CUDA_SYNC=1", dev_y, want, 5, 0.0));
  gt_free(&ctx, dev_x), gt_free(&ctx, dev_y);
  graft_gpu_ctx_free(&ctx);
}

/* An op handed NULL tensors refuses them before anything is launched,
 * and the context stays usable. */
static void test_unsupported(void **state) {
  (void)state;
  graft_ctx ctx;
  assert_int_equal(graft_gpu_ctx_init(&ctx, 0, 0), GRAFT_OK);
  graft_linear_desc d = {1, 1, 1};
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_backend_gpu.linear_forward(&ctx, &d, NULL, NULL, NULL, NULL), GRAFT_EINVAL);
  graft_log_set_level(saved);
  assert_int_equal(graft_gpu_sync(&ctx), GRAFT_OK);
  graft_gpu_ctx_free(&ctx);
}

int main(void) {
  if (graft_gpu_device_count() == 0) {
    printf("test_gpu_context: skipped, no CUDA device\n");
    return 77;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_free),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_sync_switch),
      cmocka_unit_test(test_unsupported),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  printf("test_gpu_context: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

/* test_resnet_parity.c: `graft step` on the CPU against PyTorch on the
 * committed fixtures (tools/gen_resnet_fixtures.py): ResNet-18, ResNet-50
 * and the CIFAR-style ResNet-20, SGD (momentum, Nesterov) and AdamW, two
 * steps. The comparison and its tolerances are in tests/support/parity.c:
 * graft must stay within 4x PyTorch float32's own error against float64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "parity.h"

#define RATIO 4.0

static void check_fixture(const char *name) { assert_true(parity_check_fixture(name, NULL, RATIO, 1.0)); }

static void test_resnet18_sgd(void **state) { (void)state; check_fixture("resnet18_sgd"); }
static void test_resnet18_adamw_ls(void **state) { (void)state; check_fixture("resnet18_adamw_ls"); }
static void test_resnet50_nesterov(void **state) { (void)state; check_fixture("resnet50_nesterov"); }
static void test_resnet50_adamw(void **state) { (void)state; check_fixture("resnet50_adamw"); }
static void test_resnet20_sgd(void **state) { (void)state; check_fixture("resnet20_sgd"); }
static void test_resnet20_narrow_adamw(void **state) { (void)state; check_fixture("resnet20_narrow_adamw"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_resnet18_sgd),      cmocka_unit_test(test_resnet18_adamw_ls),
      cmocka_unit_test(test_resnet50_nesterov), cmocka_unit_test(test_resnet50_adamw),
      cmocka_unit_test(test_resnet20_sgd),      cmocka_unit_test(test_resnet20_narrow_adamw),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

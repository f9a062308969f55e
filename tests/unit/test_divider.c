/* test_divider.c: the division by a launch-fixed divisor of ops/math.h
 * (graft_divider), which the GPU's batch-norm kernels use for the channel
 * of each element. It must equal / and % exactly for every numerator below
 * 2^31: checked for every divisor up to 4096 against numerators around
 * every multiple's edges and a sweep, and for random and extreme divisors
 * against random and extreme numerators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ops/math.h"
#include "testutil.h"

#define LIMIT 0x80000000u /* numerators below 2^31 */

static void check(uint32_t d, uint32_t n) {
  graft_divider v = graft_divider_make(d);
  uint32_t q = graft_divider_div(v, n), r = graft_divider_mod(v, n);
  if (q != n / d || r != n % d)
    fail_msg("%u / %u: got %u rem %u, want %u rem %u (m %u, s %u)", n, d, q, r, n / d, n % d, v.m, v.s);
}

static void test_small_divisors(void **state) {
  (void)state;
  for (uint32_t d = 1; d <= 4096; d++) {
    for (uint32_t n = 0; n < 3 * d + 5; n++) check(d, n);
    /* the edges of multiples near the top of the range */
    uint32_t top = (LIMIT - 1) / d * d;
    for (uint32_t k = 0; k < 4 && top >= k * d; k++) {
      uint32_t base = top - k * d;
      check(d, base);
      if (base > 0) check(d, base - 1);
      if (base + d - 1 < LIMIT) check(d, base + d - 1);
    }
    check(d, LIMIT - 1);
  }
}

static void test_random_divisors(void **state) {
  (void)state;
  tu_rng rng;
  tu_rng_seed(&rng, 2024);
  const uint32_t extremes[] = {1, 2, 3, 7, 64, 255, 256, 257, 1000, 2047, 2048, 2049, 65535, 65536, 65537,
                               (1u << 30) - 1, 1u << 30, (1u << 30) + 1, LIMIT - 2, LIMIT - 1};
  for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; i++)
    for (size_t j = 0; j < sizeof extremes / sizeof extremes[0]; j++) check(extremes[i], extremes[j]);
  for (int i = 0; i < 200000; i++) {
    uint32_t d = 1 + (uint32_t)(tu_uniform(&rng, 0.0f, 1.0f) * (float)(LIMIT - 2));
    uint32_t n = (uint32_t)(tu_uniform(&rng, 0.0f, 1.0f) * (float)(LIMIT - 1));
    if (d == 0 || d >= LIMIT) d = 1;
    if (n >= LIMIT) n = LIMIT - 1;
    check(d, n);
    check(1 + (uint32_t)(tu_uniform(&rng, 0.0f, 4096.0f)), n);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_small_divisors),
      cmocka_unit_test(test_random_divisors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

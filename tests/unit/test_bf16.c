/* test_bf16.c: the fp32 -> bf16 rounding of ops/math.h, which the device
 * casts of the bf16 precision mode (cuda/cast.cu) run, so the GPU tests can
 * compute on the host the very bf16 inputs a convolution or GEMM sees.
 * Hand-picked bit patterns (ties to even on both sides, the largest finite
 * values, infinities, NaNs with payloads only in the low bits, subnormals),
 * then a stride through all 2^32 patterns against an independent rule
 * (the nearer of the two neighbouring bf16 values, computed in double, ties
 * to the even one) and against core/tensor.h's graft_f32_to_bf16.
 *
 * In CUDA builds it also checks, without a GPU, the workspace the bf16
 * path stages its operands in (activations are bf16 already; weights and
 * linear's fp32 dy are cast): a linear layer reserves exactly
 * graft_linear_workspace_gpu in bf16 and nothing otherwise, and
 * conv2d_workspace covers the bf16 copy of w on top of the plans' limit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/tensor.h"
#include "ops/math.h"

#ifdef GRAFT_HAVE_CUDA
#include "cuda/conv_plan_cache.h"
#include "cuda/ops_gpu.h"
#include "nn/layer.h"
#include "nn/net.h"
#endif

static float from_bits(uint32_t u) {
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
}

/* The bf16 nearest to the finite x, ties to the even mantissa, from the
 * two bf16 values around it compared in double. */
static uint16_t nearest_bf16(uint32_t u) {
  const uint16_t lo = (uint16_t)(u >> 16);       /* toward zero */
  const uint16_t hi = (uint16_t)(lo + 1);        /* away from zero (may be infinity) */
  const double x = fabs((double)from_bits(u));
  const double a = fabs((double)from_bits((uint32_t)lo << 16));
  const double b = fabs((double)from_bits((uint32_t)hi << 16));
  if ((u & 0xffffu) == 0) return lo;
  if ((hi & 0x7fffu) == 0x7f80u) { /* above the largest finite bf16: its half ulp decides */
    const double half_ulp = ldexp(1.0, 127 - 8);
    return x - a < half_ulp || (x - a == half_ulp && (lo & 1) == 0) ? lo : hi;
  }
  if (x - a < b - x) return lo;
  if (x - a > b - x) return hi;
  return (lo & 1) ? hi : lo;
}

typedef struct {
  uint32_t in;
  uint16_t out;
  const char *what;
} bf16_case;

static void test_hand_picked(void **state) {
  (void)state;
  static const bf16_case cases[] = {
      {0x3f800000u, 0x3f80, "1 exactly"},
      {0x00000000u, 0x0000, "+0"},
      {0x80000000u, 0x8000, "-0"},
      {0x3f808000u, 0x3f80, "1 + half ulp: tie, even below"},
      {0x3f818000u, 0x3f82, "tie with an odd mantissa rounds up"},
      {0x3f808001u, 0x3f81, "just above the tie"},
      {0x3f807fffu, 0x3f80, "just below the tie"},
      {0xbf818000u, 0xbf82, "negative tie rounds away to even"},
      {0xbf808000u, 0xbf80, "negative tie, even toward zero"},
      {0x7f7f7fffu, 0x7f7f, "below the largest bf16's tie"},
      {0x7f7f8000u, 0x7f80, "tie above the largest bf16: infinity"},
      {0x7f7fffffu, 0x7f80, "FLT_MAX: infinity"},
      {0xff7fffffu, 0xff80, "-FLT_MAX: -infinity"},
      {0x7f800000u, 0x7f80, "infinity"},
      {0xff800000u, 0xff80, "-infinity"},
      {0x7fc00000u, 0x7fc0, "quiet NaN"},
      {0x7f800001u, 0x7fc0, "NaN with a low payload stays NaN"},
      {0xff800001u, 0xffc0, "negative NaN stays negative NaN"},
      {0x7fffffffu, 0x7fff, "NaN with every payload bit"},
      {0x00000001u, 0x0000, "smallest subnormal rounds to 0"},
      {0x00008000u, 0x0000, "subnormal tie, even below"},
      {0x00018000u, 0x0002, "subnormal tie, odd rounds up"},
      {0x00008001u, 0x0001, "subnormal above the tie"},
      {0x007fffffu, 0x0080, "largest subnormal rounds to the smallest normal"},
  };
  int failures = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const uint16_t got = graft_round_bf16(from_bits(cases[i].in));
    if (got != cases[i].out) {
      fprintf(stderr, "MISMATCH %s: 0x%08x -> 0x%04x, want 0x%04x\n", cases[i].what,
              (unsigned)cases[i].in, (unsigned)got, (unsigned)cases[i].out);
      failures++;
    }
  }
  assert_int_equal(failures, 0);
  assert_true(graft_widen_bf16(0x3f80) == 1.0f);
  assert_true(graft_widen_bf16(0xc040) == -3.0f);
  assert_true(isinf(graft_widen_bf16(0xff80)) && graft_widen_bf16(0xff80) < 0.0f);
  assert_true(isnan(graft_widen_bf16(0x7fc0)));
  assert_true(graft_bf16_roundf(1.00390625f) == 1.0f); /* 1 + 2^-8: a tie */
  assert_true(graft_bf16_roundf(0.1f) == 0.10009765625f);
}

/* Every 251st bit pattern (all exponents, signs and low-bit phases). */
static void test_stride_all_patterns(void **state) {
  (void)state;
  uint64_t checked = 0, failures = 0;
  for (uint64_t v = 0; v < ((uint64_t)1 << 32); v += 251) {
    const uint32_t u = (uint32_t)v;
    const float x = from_bits(u);
    const uint16_t got = graft_round_bf16(x);
    uint16_t want;
    if (isnan(x)) {
      want = (uint16_t)((u >> 16) | 0x40);
    } else {
      want = nearest_bf16(u);
    }
    const uint16_t host = graft_f32_to_bf16(x);
    const float r = graft_bf16_roundf(x);
    const int ok = got == want && host == want &&
                   (isnan(x) ? isnan(r) : r == graft_widen_bf16(got) && graft_bf16_roundf(r) == r);
    if (!ok && failures++ < 8)
      fprintf(stderr, "MISMATCH 0x%08x: graft_round_bf16 0x%04x, nearest 0x%04x, tensor.h 0x%04x\n",
              (unsigned)u, (unsigned)got, (unsigned)want, (unsigned)host);
    checked++;
  }
  printf("bf16: %llu fp32 patterns rounded as the nearest-even rule says\n",
         (unsigned long long)(checked - failures));
  assert_int_equal(failures, 0);
}

#ifdef GRAFT_HAVE_CUDA

/* A linear layer's workspace under each precision is what the GPU linear
 * stages in that precision. */
static void test_linear_workspace(void **state) {
  (void)state;
  const int shapes[][3] = {{1, 1, 1}, {7, 2048, 1000}, {256, 512, 10}, {3, 5, 7}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    graft_net net;
    graft_net_init(&net, shapes[i][0]);
    int64_t dims[2] = {shapes[i][0], shapes[i][1]};
    net.input = graft_net_add_value(&net, graft_shape_make(2, dims));
    assert_true(net.input >= 0);
    assert_true(graft_linear(&net, "fc", net.input, shapes[i][2]) >= 0);
    const graft_linear_desc d = {shapes[i][0], shapes[i][1], shapes[i][2]};
    for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
      graft_ctx ctx;
      graft_ctx_init_ref(&ctx, 1);
      ctx.precision = (graft_precision)prec;
      const size_t want = graft_linear_workspace_gpu(&d, (graft_precision)prec);
      assert_int_equal(graft_net_workspace_bytes(&net, &ctx), want);
      if (prec == GRAFT_PREC_BF16)
        assert_true(want >= 2 * ((size_t)d.out * d.in + (size_t)d.n * d.out));
      else
        assert_int_equal(want, 0);
    }
    graft_net_free(&net);
  }
}

/* conv2d_workspace holds the bf16 copy of w and, behind it, the most a
 * plan may use. */
static void test_conv_workspace(void **state) {
  (void)state;
  const int shapes[][8] = {/* n, h, w, c, k, r, stride, groups */
                           {2, 224, 224, 3, 64, 7, 2, 1},
                           {1, 5, 3, 3, 7, 1, 1, 1},
                           {2, 28, 28, 64, 64, 3, 1, 64},
                           {256, 56, 56, 256, 512, 1, 2, 1}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const int *s = shapes[i];
    graft_conv2d_desc d = {.n = s[0], .h = s[1], .w = s[2], .c = s[3], .k = s[4], .r = s[5],
                           .s = s[5], .stride_h = s[6], .stride_w = s[6], .pad_h = s[5] / 2,
                           .pad_w = s[5] / 2, .dil_h = 1, .dil_w = 1, .groups = s[7]};
    assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
    const size_t bf16 = 2 * ((size_t)d.k * d.r * d.s * (d.c / d.groups));
    assert_true(graft_conv2d_workspace_gpu(&d) >= bf16 + graft_conv_workspace_limit(&d));
  }
}

#endif

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_picked),
      cmocka_unit_test(test_stride_all_patterns),
#ifdef GRAFT_HAVE_CUDA
      cmocka_unit_test(test_linear_workspace),
      cmocka_unit_test(test_conv_workspace),
#endif
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

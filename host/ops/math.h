/* math.h: elementwise arithmetic shared by the CPU reference and the CUDA
 * kernels. Everything here is static inline and compiles as host and device
 * code, so the CPU tests cover the very arithmetic the kernels run. */
#ifndef GRAFT_MATH_H
#define GRAFT_MATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define GRAFT_HD __host__ __device__ __forceinline__
#else
#define GRAFT_HD static inline
#endif

GRAFT_HD float graft_sigmoidf(float x) {
  /* Stable on both tails: exp of a non-positive number only. */
  if (x >= 0.0f) {
    float e = expf(-x);
    return 1.0f / (1.0f + e);
  }
  float e = expf(x);
  return e / (1.0f + e);
}

/* log(1 + exp(x)) without overflow, with PyTorch's threshold of 20. */
GRAFT_HD float graft_softplusf(float x) {
  return x > 20.0f ? x : log1pf(expf(x));
}

/* Activation value; act is a graft_act (ops.h), passed as int so this header
 * stands alone. */
GRAFT_HD float graft_act_value(int act, float slope, float x) {
  switch (act) {
    case 1: return x > 0.0f ? x : 0.0f;                /* ReLU */
    case 2: return x > 0.0f ? x : x * slope;           /* LeakyReLU */
    case 3: return x * graft_sigmoidf(x);              /* SiLU */
    case 4: return x * tanhf(graft_softplusf(x));      /* Mish */
    case 5: return graft_sigmoidf(x);                  /* sigmoid */
    default: return x;                                 /* identity */
  }
}

/* d act / d x at input x (y is the forward output). At 0, ReLU and
 * LeakyReLU take the left derivative, as PyTorch does. */
GRAFT_HD float graft_act_grad(int act, float slope, float x, float y) {
  switch (act) {
    case 1: return x > 0.0f ? 1.0f : 0.0f;
    case 2: return x > 0.0f ? 1.0f : slope;
    case 3: {
      float s = graft_sigmoidf(x);
      return s * (1.0f + x * (1.0f - s));
    }
    case 4: {
      float sp = graft_softplusf(x);
      float t = tanhf(sp);
      float s = graft_sigmoidf(x);
      return t + x * s * (1.0f - t * t);
    }
    case 5: return y * (1.0f - y);
    default: return 1.0f;
  }
}

/* A counter-based hash (splitmix64 finalizer): the same (seed, index) gives
 * the same bits on every backend and thread layout. */
GRAFT_HD uint64_t graft_hash64(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Uniform float in [0, 1) from the top 24 bits of the hash. */
GRAFT_HD float graft_hash_uniform(uint64_t seed, uint64_t index) {
  return (float)(graft_hash64(seed, index) >> 40) * (1.0f / 16777216.0f);
}

/* Dropout mask: element index is kept with probability 1 - p. */
GRAFT_HD int graft_dropout_keep(uint64_t seed, uint64_t index, float p) {
  return graft_hash_uniform(seed, index) >= p;
}

/* a * b rounded on its own, never fused into an add that follows: nvcc
 * contracts a multiply and an add into one FMA unless the multiply is
 * __fmul_rn. (The host build is ISO C, where GCC does not contract.) */
GRAFT_HD float graft_mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

/* Division by a divisor fixed for a whole launch, without a divide
 * instruction: the channel of an NHWC element (index % C) costs a 64-bit
 * remainder, tens of instructions, in kernels that otherwise do a handful
 * per element. For 1 <= d < 2^31 pick s = ceil(log2 d) and
 * m = floor(2^32 (2^s - d) / d) + 1, which fits 32 bits; then for every
 * n < 2^31, n / d = (hi32(n m) + n) >> s, and the sum cannot overflow
 * because hi32(n m) < n. */
typedef struct {
  uint32_t d; /* the divisor */
  uint32_t m; /* the multiplier */
  uint32_t s; /* the shift */
} graft_divider;

GRAFT_HD graft_divider graft_divider_make(uint32_t d) {
  graft_divider v;
  v.d = d;
  v.s = 0;
  while (v.s < 31 && ((uint32_t)1 << v.s) < d) v.s++;
  v.m = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << v.s) - d)) / d + 1);
  return v;
}

/* n / v.d and n % v.d for n < 2^31. */
GRAFT_HD uint32_t graft_divider_div(graft_divider v, uint32_t n) {
#ifdef __CUDA_ARCH__
  const uint32_t hi = __umulhi(n, v.m);
#else
  const uint32_t hi = (uint32_t)(((uint64_t)n * v.m) >> 32);
#endif
  return (hi + n) >> v.s;
}

GRAFT_HD uint32_t graft_divider_mod(graft_divider v, uint32_t n) { return n - graft_divider_div(v, n) * v.d; }

/* The optimizer updates below round exactly as PyTorch's CPU kernels do on
 * an AVX2 or AVX-512 machine (what its fixtures are made on): every
 * `x.add(y, alpha=a)` is one fused multiply-add fmaf(a, y, x), `addcmul`
 * fuses its last multiply, while `mul_` and `addcdiv` round each operation. */

/* One element's term of the mean losses, in double on both backends:
 * binary cross-entropy with logits (the stable form PyTorch uses) and the
 * squared error. */
GRAFT_HD double graft_bce_term(double x, double t) {
  return (x > 0.0 ? x : 0.0) - x * t + log1p(exp(-fabs(x)));
}

GRAFT_HD double graft_mse_term(double p, double t) {
  const double e = p - t;
  return e * e;
}

/* One element of an exponential moving average of weights, as timm's
 * ModelEmaV2: e = decay * e + (1 - decay) * p. Both products are rounded
 * before the sum so that nvcc cannot fuse them into a multiply-add and the
 * GPU gives the CPU's bits. */
GRAFT_HD float graft_ema_value(float e, float p, float decay) {
  return graft_mul_rn(decay, e) + graft_mul_rn(1.0f - decay, p);
}

/* One element of torch.optim.SGD (dampening 0). g is the gradient, wd the
 * weight decay (0 when the parameter is not decayed), first is 1 on the
 * parameter's first step (the momentum buffer starts as a copy of g). */
GRAFT_HD void graft_sgd_update(float *p, float *buf, float g, float lr, float momentum,
                               float wd, int nesterov, int first) {
  if (wd != 0.0f) g = fmaf(wd, *p, g);
  if (momentum != 0.0f) {
    float b = first ? g : graft_mul_rn(momentum, *buf) + g;
    *buf = b;
    g = nesterov ? fmaf(momentum, b, g) : b;
  }
  *p = fmaf(-lr, g, *p);
}

/* One element of torch.optim.AdamW. The host computes, in double as PyTorch
 * does, for the parameter's step t: decay = 1 - lr*wd,
 * step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t). first is 1
 * on the parameter's first step: the moments start from zero whatever the
 * state arena held, as PyTorch creates them on the first update. */
GRAFT_HD void graft_adamw_update(float *p, float *m, float *v, float g, float beta1, float beta2,
                                 float eps, float decay, float step_size, float bc2_sqrt,
                                 int first) {
  float m0 = first ? 0.0f : *m;
  float v0 = first ? 0.0f : *v;
  *p = graft_mul_rn(*p, decay);
  *m = fmaf(1.0f - beta1, g, m0 * beta1);
  *v = fmaf((1.0f - beta2) * g, g, v0 * beta2);
  float denom = sqrtf(*v) / bc2_sqrt + eps;
  *p = *p + (-step_size) * *m / denom;
}

/* ---- bf16 -----------------------------------------------------------------
 * bfloat16 is the upper half of an fp32: sign, the same 8 exponent bits, 7
 * mantissa bits. Narrowing rounds to nearest, ties to even (what
 * __float2bfloat16_rn and PyTorch's .to(torch.bfloat16) do); a value past
 * the largest bf16 rounds to infinity, subnormals round like any other
 * value (no flush to zero), and a NaN stays a NaN of the same sign (made
 * quiet, so it cannot round into an infinity). Widening is exact. The
 * device casts (cuda/cast.cu) run this very function, so the host can
 * compute the bits a bf16 convolution or GEMM sees; core/tensor.h's
 * graft_f32_to_bf16, for weight files, follows the same rule. */
GRAFT_HD uint16_t graft_round_bf16(float x) {
  uint32_t u;
#ifdef __CUDA_ARCH__
  u = __float_as_uint(x);
#else
  memcpy(&u, &x, sizeof u);
#endif
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

GRAFT_HD float graft_widen_bf16(uint16_t b) {
  const uint32_t u = (uint32_t)b << 16;
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float x;
  memcpy(&x, &u, sizeof x);
  return x;
#endif
}

/* x rounded to the nearest bf16, as an fp32. */
GRAFT_HD float graft_bf16_roundf(float x) { return graft_widen_bf16(graft_round_bf16(x)); }

#endif

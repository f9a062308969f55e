/* tensor.c: dtype table, shape helpers and 16-bit float conversions. */
#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/math.h"

static const struct {
  const char *name;
  size_t size;
} dtype_info[] = {
#define GRAFT_DTYPE_INFO(name, str, size) {str, size},
    GRAFT_DTYPE_MAP(GRAFT_DTYPE_INFO)
#undef GRAFT_DTYPE_INFO
};

size_t graft_dtype_size(graft_dtype t) {
  return (unsigned)t < GRAFT_DTYPE_COUNT ? dtype_info[t].size : 0;
}

const char *graft_dtype_name(graft_dtype t) {
  return (unsigned)t < GRAFT_DTYPE_COUNT ? dtype_info[t].name : "?";
}

graft_status graft_dtype_from_name(const char *name, graft_dtype *out) {
  for (int i = 0; i < GRAFT_DTYPE_COUNT; i++) {
    if (!strcmp(name, dtype_info[i].name)) {
      *out = (graft_dtype)i;
      return GRAFT_OK;
    }
  }
  return GRAFT_EUNSUPPORTED;
}

graft_shape graft_shape_make(int ndim, const int64_t *dims) {
  graft_shape s;
  memset(&s, 0, sizeof s);
  s.ndim = ndim;
  for (int i = 0; i < ndim && i < GRAFT_MAX_DIMS; i++) s.dim[i] = dims[i];
  return s;
}

int64_t graft_shape_numel(const graft_shape *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->dim[i];
  return n;
}

int graft_shape_equal(const graft_shape *a, const graft_shape *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->dim[i] != b->dim[i]) return 0;
  return 1;
}

const char *graft_shape_str(const graft_shape *s, char *buf, size_t len) {
  size_t off = 0;
  if (len == 0) return buf;
  buf[0] = '\0';
  off += (size_t)snprintf(buf + off, len - off, "(");
  for (int i = 0; i < s->ndim && off < len; i++)
    off += (size_t)snprintf(buf + off, len - off, i ? ", %lld" : "%lld", (long long)s->dim[i]);
  if (off < len) snprintf(buf + off, len - off, ")");
  return buf;
}

static uint32_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static float bits_f32(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}

/* The rounding rule lives in ops/math.h, shared with the GPU's cast
 * kernels, so files and the bf16 precision mode round alike. */
float graft_bf16_to_f32(uint16_t v) { return graft_widen_bf16(v); }

uint16_t graft_f32_to_bf16(float f) { return graft_round_bf16(f); }

float graft_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  if (exp == 0) {
    float v = ldexpf((float)man, -24);
    return sign ? -v : v;
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
  return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t graft_f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
  if (isnan(f)) return (uint16_t)(sign | 0x7e00);
  float a = fabsf(f);
  if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00);
  if (a < 6.103515625e-05f) {
    /* subnormal: value = man * 2^-24, rounded to nearest even */
    float m = a * 16777216.0f;
    float r = nearbyintf(m);
    return (uint16_t)(sign | (uint16_t)r);
  }
  uint32_t exp = ((u >> 23) & 0xff) - 112;
  uint32_t man = u & 0x7fffff;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rest = man & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
  return (uint16_t)(sign | h);
}

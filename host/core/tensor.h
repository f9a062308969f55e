/* tensor.h: element types and shapes.
 * Activations are NHWC on every backend; a tensor here is a typed view
 * (data pointer, dtype, shape), never an owner. Sizes are int64 so a shape
 * read from a file cannot overflow int arithmetic. */
#ifndef GRAFT_TENSOR_H
#define GRAFT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GRAFT_MAX_DIMS 8

/* X(enum suffix, safetensors name, element size in bytes) */
#define GRAFT_DTYPE_MAP(X) \
  X(F32, "F32", 4)         \
  X(F16, "F16", 2)         \
  X(BF16, "BF16", 2)       \
  X(F64, "F64", 8)         \
  X(I64, "I64", 8)         \
  X(I32, "I32", 4)         \
  X(I16, "I16", 2)         \
  X(I8, "I8", 1)           \
  X(U8, "U8", 1)           \
  X(BOOL, "BOOL", 1)

typedef enum {
#define GRAFT_DTYPE_ENUM(name, str, size) GRAFT_DTYPE_##name,
  GRAFT_DTYPE_MAP(GRAFT_DTYPE_ENUM)
#undef GRAFT_DTYPE_ENUM
  GRAFT_DTYPE_COUNT
} graft_dtype;

size_t graft_dtype_size(graft_dtype t);
const char *graft_dtype_name(graft_dtype t);
/* Parse a safetensors dtype name ("F32", "BF16", ...). */
graft_status graft_dtype_from_name(const char *name, graft_dtype *out);

typedef struct {
  int ndim;
  int64_t dim[GRAFT_MAX_DIMS];
} graft_shape;

graft_shape graft_shape_make(int ndim, const int64_t *dims);
/* Number of elements; 1 for a scalar (ndim 0). */
int64_t graft_shape_numel(const graft_shape *s);
int graft_shape_equal(const graft_shape *a, const graft_shape *b);
/* Writes "(2, 3, 4)" into buf. */
const char *graft_shape_str(const graft_shape *s, char *buf, size_t len);

typedef struct {
  void *data;
  graft_dtype dtype;
  graft_shape shape;
} graft_tensor;

/* bfloat16 and half conversions on the host (round to nearest even). */
float graft_bf16_to_f32(uint16_t v);
uint16_t graft_f32_to_bf16(float f);
float graft_f16_to_f32(uint16_t v);
uint16_t graft_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif

#endif

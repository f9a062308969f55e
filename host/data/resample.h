/* resample.h: the one image resampler behind every resize, crop and
 * letterbox of the pipeline. It is separable, antialiased bilinear
 * filtering as Pillow's resize does it (the triangle filter widens with the
 * downscale factor, so shrinking averages instead of aliasing), in 14-bit
 * fixed point: a horizontal pass over just the source rows needed, then a
 * vertical pass. Each output pixel centre maps to a source position
 * x0 + (u + 0.5) * sx; pixels that map outside the source get a fill value
 * (letterbox borders) and taps are renormalized at the source edges.
 * A resampler keeps its scratch buffers between calls (one per thread). */
#ifndef GRAFT_DATA_RESAMPLE_H
#define GRAFT_DATA_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct {
  double x0, y0; /* source position of the output's top-left corner */
  double sx, sy; /* source pixels per output pixel */
  int flip;      /* mirror the output horizontally */
  uint8_t fill;  /* value of output pixels that map outside the source */
} graft_resample_map;

typedef struct {
  int16_t *coef;     /* (n, taps) Q14 weights of one axis */
  int *first, *count; /* (n) first source index and number of taps; count 0 = fill */
  size_t coef_cap, first_cap, count_cap;
} graft_axis_coefs;

typedef struct {
  graft_axis_coefs cx, cy;
  int taps_x, taps_y;
  uint8_t *tmp;  /* (rows, dw, 3) horizontally resampled rows */
  int32_t *acc;  /* (dw * 3) vertical accumulator */
  size_t tmp_cap, acc_cap;
} graft_resampler;

void graft_resampler_init(graft_resampler *rs);
void graft_resampler_free(graft_resampler *rs);

/* dst (dh, dw, 3) uint8 from src (sh, sw, 3) uint8 whose rows are
 * src_stride bytes apart (a crop is a view into a larger image). */
graft_status graft_resample(graft_resampler *rs, const uint8_t *src /* (sh, sw, 3) */, int sw, int sh,
                            size_t src_stride, uint8_t *dst /* (dh, dw, 3) */, int dw, int dh,
                            const graft_resample_map *m);

#endif

/* arena.h: one contiguous float buffer per role (parameters, gradients,
 * optimizer state). Slots are carved at build time and never freed one by
 * one, so a whole role is one pointer: one all-reduce, one memset, one
 * checkpoint write, one fused optimizer kernel. */
#ifndef GRAFT_ARENA_H
#define GRAFT_ARENA_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Every slot starts on a multiple of this many floats (256 bytes), which
 * keeps vector loads and GPU transactions aligned. */
#define GRAFT_ARENA_ALIGN 64

typedef struct {
  size_t used; /* floats reserved so far, including alignment padding */
} graft_arena_plan;

/* Reserve count floats in a plan; returns the slot's offset in floats. */
size_t graft_arena_plan_reserve(graft_arena_plan *plan, size_t count);

typedef struct {
  float *data; /* (cap) */
  size_t cap;  /* floats */
} graft_arena;

/* Host allocation, zero-filled and 64-byte aligned. */
graft_status graft_arena_init(graft_arena *a, size_t cap);
void graft_arena_free(graft_arena *a);

#ifdef __cplusplus
}
#endif

#endif

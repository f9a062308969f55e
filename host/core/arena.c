/* arena.c: planning and host allocation of float arenas. */
#include "core/arena.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

size_t graft_arena_plan_reserve(graft_arena_plan *plan, size_t count) {
  size_t off = (plan->used + GRAFT_ARENA_ALIGN - 1) / GRAFT_ARENA_ALIGN * GRAFT_ARENA_ALIGN;
  plan->used = off + count;
  return off;
}

graft_status graft_arena_init(graft_arena *a, size_t cap) {
  a->data = NULL;
  a->cap = 0;
  size_t bytes = (cap ? cap : 1) * sizeof(float);
  bytes = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, bytes);
  if (!p) GRAFT_FAIL(GRAFT_ENOMEM, "cannot allocate an arena of %zu floats", cap);
  memset(p, 0, bytes);
  a->data = p;
  a->cap = cap;
  return GRAFT_OK;
}

void graft_arena_free(graft_arena *a) {
  if (!a) return;
  free(a->data);
  a->data = NULL;
  a->cap = 0;
}

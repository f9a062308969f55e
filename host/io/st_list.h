/* st_list.h: a growable list of safetensors entries that owns copies of
 * their names and data, for building an output file piece by piece (a
 * checkpoint, or graft step's report) and writing it in one call. */
#ifndef GRAFT_ST_LIST_H
#define GRAFT_ST_LIST_H

#include <stddef.h>

#include "core/status.h"
#include "io/safetensors.h"

typedef struct {
  graft_st_entry *entries; /* (n) */
  size_t n, cap;
} graft_st_list;

void graft_st_list_init(graft_st_list *l);
void graft_st_list_free(graft_st_list *l);
/* Appends name with a copy of numel(shape) elements of dtype from data. */
graft_status graft_st_list_add(graft_st_list *l, const char *name, graft_dtype dtype, graft_shape shape,
                               const void *data);
/* Writes the list atomically (graft_st_write). */
graft_status graft_st_list_write(const graft_st_list *l, const char *path, const graft_st_meta *meta,
                                 size_t n_meta);

#endif

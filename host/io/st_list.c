/* st_list.c: owned safetensors entry lists. */
#include "io/st_list.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void graft_st_list_init(graft_st_list *l) { memset(l, 0, sizeof *l); }

void graft_st_list_free(graft_st_list *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free((void *)l->entries[i].name);
    free((void *)l->entries[i].data);
  }
  free(l->entries);
  memset(l, 0, sizeof *l);
}

graft_status graft_st_list_add(graft_st_list *l, const char *name, graft_dtype dtype, graft_shape shape,
                               const void *data) {
  if (l->n == l->cap) {
    size_t ncap = l->cap ? 2 * l->cap : 64;
    graft_st_entry *e = realloc(l->entries, ncap * sizeof *e);
    if (!e) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory listing tensor %s", name);
    l->entries = e;
    l->cap = ncap;
  }
  size_t bytes = (size_t)graft_shape_numel(&shape) * graft_dtype_size(dtype);
  size_t nlen = strlen(name) + 1;
  char *n = malloc(nlen);
  if (n) memcpy(n, name, nlen);
  void *d = malloc(bytes ? bytes : 1);
  if (!n || !d) {
    free(n);
    free(d);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory copying tensor %s", name);
  }
  if (bytes) memcpy(d, data, bytes);
  l->entries[l->n++] = (graft_st_entry){.name = n, .dtype = dtype, .shape = shape, .data = d};
  return GRAFT_OK;
}

graft_status graft_st_list_write(const graft_st_list *l, const char *path, const graft_st_meta *meta,
                                 size_t n_meta) {
  return graft_st_write(path, l->entries, l->n, meta, n_meta);
}

/* cmd_weights.c: `graft weights FILE`, a look inside a safetensors file.
 * Lists the metadata and every tensor's name, dtype and shape in the order
 * their data lies; --check only validates; --write OUT re-writes the file
 * through graft's own writer (atomically, aligned, metadata kept), which
 * is also how the tests hand a graft-written file to Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/log.h"
#include "io/safetensors.h"

static void weights_usage(FILE *out) {
  fprintf(out,
          "usage: graft weights FILE [--check] [--write OUT]\n"
          "  lists the metadata and tensors of a safetensors file\n"
          "  --check      only validate the file\n"
          "  --write OUT  re-write the tensors and metadata to OUT with graft's writer\n");
}

static void list_file(const graft_st_file *f) {
  char nb[512], vb[4096], sb[160];
  printf("%s: %zu tensors, %llu bytes of data\n", f->label, f->n_tensors,
         (unsigned long long)f->data_bytes);
  if (f->n_meta) printf("metadata:\n");
  for (size_t i = 0; i < f->n_meta; i++)
    printf("  %s = %s\n", graft_st_name_str(f->meta[i].key, nb, sizeof nb),
           graft_st_name_str(f->meta[i].value, vb, sizeof vb));
  int width = 0;
  for (size_t i = 0; i < f->n_tensors; i++) {
    int len = (int)strlen(graft_st_name_str(f->tensors[i].name, nb, sizeof nb));
    if (len > width) width = len < 60 ? len : 60;
  }
  if (f->n_tensors) printf("tensors:\n");
  for (size_t i = 0; i < f->n_tensors; i++) {
    const graft_st_tensor *t = &f->tensors[i];
    printf("  %-*s  %-4s  %s\n", width, graft_st_name_str(t->name, nb, sizeof nb),
           graft_dtype_name(t->dtype), graft_shape_str(&t->shape, sb, sizeof sb));
  }
}

static graft_status rewrite_file(const graft_st_file *f, const char *out) {
  graft_st_entry *e = calloc(f->n_tensors + 1, sizeof *e);
  if (!e) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory re-writing %s", f->label);
  for (size_t i = 0; i < f->n_tensors; i++) {
    e[i].name = f->tensors[i].name;
    e[i].dtype = f->tensors[i].dtype;
    e[i].shape = f->tensors[i].shape;
    e[i].data = f->tensors[i].data;
  }
  graft_status s = graft_st_write(out, e, f->n_tensors, f->meta, f->n_meta);
  free(e);
  return s;
}

int graft_cmd_weights(int argc, char **argv) {
  const char *path = NULL, *out = NULL;
  int check = 0;
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      weights_usage(stdout);
      return 0;
    } else if (!strcmp(argv[i], "--check")) {
      check = 1;
    } else if (!strcmp(argv[i], "--write") && i + 1 < argc) {
      out = argv[++i];
    } else if (argv[i][0] != '-' && !path) {
      path = argv[i];
    } else {
      GRAFT_ERROR("weights: unexpected argument '%s'", argv[i]);
      weights_usage(stderr);
      return 2;
    }
  }
  if (!path) {
    weights_usage(stderr);
    return 2;
  }
  graft_st_file f;
  graft_status s = graft_st_load(&f, path);
  if (s != GRAFT_OK) {
    GRAFT_ERROR("weights: %s is not a usable safetensors file (%s)", path, graft_status_str(s));
    return 1;
  }
  if (out) {
    s = rewrite_file(&f, out);
    if (s == GRAFT_OK) printf("%s: wrote %zu tensors to %s\n", path, f.n_tensors, out);
  } else if (check) {
    printf("%s: ok, %zu tensors, %llu bytes of data\n", path, f.n_tensors,
           (unsigned long long)f.data_bytes);
  } else {
    list_file(&f);
  }
  graft_st_free(&f);
  return s == GRAFT_OK ? 0 : 1;
}

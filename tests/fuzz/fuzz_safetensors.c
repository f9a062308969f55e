/* fuzz_safetensors.c: libFuzzer target for the safetensors reader.
 * Every input goes through graft_st_parse. When one parses, the target
 * checks what the reader promises (tensors tile the data section in order,
 * data pointers stay inside the input, every name and metadata key is
 * found again, typed reads succeed), then writes the file back out with
 * graft_st_write and parses that, which must give the same tensors, bytes
 * and metadata: any name the reader accepts, the writer must escape right.
 * Built and run by tests/scripts/test_fuzz_safetensors.sh; files go to
 * $TMPDIR (the script points it at a RAM disk where there is one). */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "io/safetensors.h"

static char out_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  graft_log_set_level(GRAFT_LOG_SILENT);
  const char *dir = getenv("TMPDIR");
  snprintf(out_path, sizeof out_path, "%s/fuzz_st_%ld.safetensors", dir ? dir : "/tmp",
           (long)getpid());
  return 0;
}

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "fuzz_safetensors: check failed: %s (line %d)\n", #cond, __LINE__); \
      abort();                                                          \
    }                                                                   \
  } while (0)

static void check_reads(const graft_st_file *f, const graft_st_tensor *t) {
  size_t n = (size_t)graft_shape_numel(&t->shape);
  if (n > (1u << 20)) return;
  void *buf = malloc((n ? n : 1) * sizeof(int64_t));
  CHECK(buf);
  graft_status a = graft_st_read_f32(f, t, buf, n);
  graft_status b = graft_st_read_i64(f, t, buf, n);
  /* exactly one of the two kinds fits each dtype */
  CHECK((a == GRAFT_OK) != (b == GRAFT_OK));
  free(buf);
}

static void check_same(const graft_st_file *a, const graft_st_file *b) {
  CHECK(a->n_tensors == b->n_tensors && a->n_meta == b->n_meta);
  for (size_t i = 0; i < a->n_tensors; i++) {
    const graft_st_tensor *x = &a->tensors[i];
    const graft_st_tensor *y = graft_st_find(b, x->name);
    CHECK(y && y->dtype == x->dtype && graft_shape_equal(&y->shape, &x->shape));
    CHECK(y->nbytes == x->nbytes && (x->nbytes == 0 || !memcmp(x->data, y->data, x->nbytes)));
  }
  for (size_t i = 0; i < a->n_meta; i++) {
    const char *v = graft_st_meta_get(b, a->meta[i].key);
    CHECK(v && !strcmp(v, a->meta[i].value));
  }
}

static void round_trip(const graft_st_file *f) {
  graft_st_entry *e = calloc(f->n_tensors + 1, sizeof *e);
  CHECK(e);
  for (size_t i = 0; i < f->n_tensors; i++)
    e[i] = (graft_st_entry){f->tensors[i].name, f->tensors[i].dtype, f->tensors[i].shape,
                            f->tensors[i].data};
  CHECK(graft_st_write(out_path, e, f->n_tensors, f->meta, f->n_meta) == GRAFT_OK);
  free(e);
  graft_st_file g;
  CHECK(graft_st_load(&g, out_path) == GRAFT_OK);
  check_same(f, &g);
  graft_st_free(&g);
  unlink(out_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  graft_st_file f;
  if (graft_st_parse(&f, data, size, "fuzz") != GRAFT_OK) {
    CHECK(f.tensors == NULL && f.n_tensors == 0);
    return 0;
  }
  uint64_t pos = 0;
  for (size_t i = 0; i < f.n_tensors; i++) {
    const graft_st_tensor *t = &f.tensors[i];
    CHECK(t->begin == pos);
    pos += t->nbytes;
    CHECK(t->data >= data && t->data + t->nbytes <= data + size);
    CHECK(graft_st_find(&f, t->name) == t);
    check_reads(&f, t);
  }
  CHECK(pos == f.data_bytes);
  for (size_t i = 0; i < f.n_meta; i++)
    CHECK(graft_st_meta_get(&f, f.meta[i].key) == f.meta[i].value);
  round_trip(&f);
  graft_st_free(&f);
  return 0;
}

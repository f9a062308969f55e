/* safetensors.h: reading and writing the safetensors weight format.
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * optionally "__metadata__": {string: string}}), then the data section,
 * which the tensors must cover exactly, without gaps or overlaps.
 * Weights come from strangers, so the reader checks every field, every
 * size and every offset and names the file and the problem when one is
 * wrong. The writer streams through graft_atomic_file, so a checkpoint is
 * either wholly written or not there at all. */
#ifndef GRAFT_SAFETENSORS_H
#define GRAFT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

/* The reference implementation refuses headers over 100 MB; so do we. */
#define GRAFT_ST_MAX_HEADER 100000000ull
/* Far more than any image model holds; bounds what a header can ask for. */
#define GRAFT_ST_MAX_TENSORS 100000
/* graft_st_load refuses larger files before reading them. */
#define GRAFT_ST_MAX_FILE ((uint64_t)1 << 40)

typedef struct {
  const char *name;    /* NUL-terminated, owned by the graft_st_file */
  graft_dtype dtype;
  graft_shape shape;
  uint64_t begin;      /* byte offset in the data section */
  uint64_t nbytes;     /* numel * dtype size */
  const uint8_t *data; /* (nbytes) inside the parsed buffer; not aligned */
} graft_st_tensor;

typedef struct {
  const char *key;
  const char *value;
} graft_st_meta;

typedef struct {
  char *label;               /* the path, or the label given to parse */
  uint8_t *owned;            /* the file's bytes when graft_st_load read them */
  graft_st_tensor *tensors;  /* (n_tensors) in the order their data lies */
  size_t n_tensors;
  graft_st_meta *meta;       /* (n_meta) sorted by key */
  size_t n_meta;
  const graft_st_tensor **by_name; /* (n_tensors) sorted by name */
  char *strings;             /* names, keys and values, one block */
  uint64_t data_bytes;       /* size of the data section */
} graft_st_file;

/* Parses a whole safetensors file held in memory. buf is borrowed and must
 * outlive f. label names the source in error messages. Malformed input is
 * GRAFT_EFORMAT; a dtype graft does not know, more than GRAFT_MAX_DIMS
 * dims or more than GRAFT_ST_MAX_TENSORS tensors is GRAFT_EUNSUPPORTED.
 * On failure f is left empty (graft_st_free is safe either way). */
graft_status graft_st_parse(graft_st_file *f, const void *buf, size_t size, const char *label);

/* Reads path into memory and parses it; f owns the bytes. */
graft_status graft_st_load(graft_st_file *f, const char *path);

void graft_st_free(graft_st_file *f);

/* The tensor called name, or NULL. */
const graft_st_tensor *graft_st_find(const graft_st_file *f, const char *name);

/* The metadata value for key, or NULL. */
const char *graft_st_meta_get(const graft_st_file *f, const char *key);

/* Writes name into buf for a message or a listing: control bytes become
 * \xNN and a name too long for buf ends in "...". Returns buf. */
const char *graft_st_name_str(const char *name, char *buf, size_t len);

/* Copy t's elements into out, which holds count elements; count must be
 * the tensor's numel (GRAFT_ESHAPE otherwise). read_f32 converts F32, F16,
 * BF16 and F64; read_i64 converts I64, I32, I16, I8, U8 and BOOL (as 0/1).
 * Another dtype is GRAFT_EUNSUPPORTED. */
graft_status graft_st_read_f32(const graft_st_file *f, const graft_st_tensor *t, float *out,
                               size_t count);
graft_status graft_st_read_i64(const graft_st_file *f, const graft_st_tensor *t, int64_t *out,
                               size_t count);

/* One tensor to write. data holds numel * dtype size bytes in the host's
 * (little-endian) order and may be NULL only when that is zero. */
typedef struct {
  const char *name;
  graft_dtype dtype;
  graft_shape shape;
  const void *data;
} graft_st_entry;

/* Writes entries and optional metadata (n_meta may be 0) to path,
 * atomically. Data is laid out by element size, largest first, keeping
 * the order given among equal sizes, so every tensor starts aligned to its
 * element size; the header is padded with spaces to a multiple of 8.
 * Bad entries (duplicate or invalid UTF-8 names, negative dims, ...) are
 * GRAFT_EINVAL; I/O failures are GRAFT_EIO. */
graft_status graft_st_write(const char *path, const graft_st_entry *entries, size_t n_entries,
                            const graft_st_meta *meta, size_t n_meta);

#endif

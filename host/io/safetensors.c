/* safetensors.c: the safetensors reader and writer (see safetensors.h).
 * Reading is three steps: a byte scan of the header for what cJSON lets
 * through but the format forbids (invalid UTF-8, control characters, bad
 * or NUL escapes, numbers that are not plain integers), the JSON parse, and a
 * check of every entry and of how the entries cover the data section.
 * The rules follow the reference implementation, and are stricter where
 * it is lenient: a name or metadata key given twice (it keeps the last), a
 * NUL in a name (a C string cannot hold it) and a shape whose non-zero
 * dims overflow 64 bits next to a zero dim are refused. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "io/fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and graft copies it as is"
#endif

/* 2^53: a double holds every integer below it exactly. */
#define JSON_INT_LIMIT 9007199254740992.0

#define NAME_BUF 96

/* ---- shared helpers ------------------------------------------------------ */

/* Length of the UTF-8 sequence at p (n bytes available), or 0 when it is
 * not valid UTF-8: overlong forms, surrogates and code points past
 * U+10FFFF are refused, as the reference implementation's decoder does. */
static size_t utf8_seq_len(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  size_t len;
  uint8_t lo = 0x80, hi = 0xbf;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (n < len || p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (p[i] < 0x80 || p[i] > 0xbf) return 0;
  return len;
}

static int utf8_valid(const char *s) {
  const uint8_t *p = (const uint8_t *)s;
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq_len(p + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

const char *graft_st_name_str(const char *name, char *buf, size_t len) {
  if (len == 0) return buf;
  const unsigned char *p = (const unsigned char *)name;
  size_t o = 0;
  for (; *p; p++) {
    char piece[8];
    size_t k = 1;
    if (*p < 0x20 || *p == 0x7f)
      k = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p);
    else
      piece[0] = (char)*p;
    if (o + k + 4 > len) break;
    memcpy(buf + o, piece, k);
    o += k;
  }
  if (*p && o + 4 <= len) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o < len ? o : len - 1] = '\0';
  return buf;
}

/* Bytes a tensor of this dtype and shape takes, with the checks both the
 * reader and the writer need: no negative dim and no overflow. The product
 * of the non-zero dims must fit int64 even when another dim is zero, so
 * graft_shape_numel can never overflow on a shape that passed here.
 * Returns NULL when fine, else what is wrong. */
static const char *shape_nbytes(graft_dtype dt, const graft_shape *s, uint64_t *nbytes) {
  uint64_t prod = 1;
  int zero = 0;
  for (int i = 0; i < s->ndim; i++) {
    int64_t d = s->dim[i];
    if (d < 0) return "has a negative dim";
    if (d == 0) {
      zero = 1;
      continue;
    }
    if (prod > (uint64_t)INT64_MAX / (uint64_t)d) return "has more elements than fit in 64 bits";
    prod *= (uint64_t)d;
  }
  uint64_t numel = zero ? 0 : prod;
  uint64_t size = graft_dtype_size(dt);
  if (numel > (uint64_t)INT64_MAX / size) return "has more bytes than fit in 64 bits";
  *nbytes = numel * size;
  return NULL;
}

/* ---- header byte scan ---------------------------------------------------- */

static int is_number_char(uint8_t c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* Checks the number token at h[0..n) is a plain integer: digits with an
 * optional minus sign and no leading zero. */
static int plain_integer(const uint8_t *h, size_t n) {
  size_t i = h[0] == '-' ? 1 : 0;
  if (i == n) return 0;
  if (h[i] == '0' && n - i > 1) return 0;
  for (; i < n; i++)
    if (h[i] < '0' || h[i] > '9') return 0;
  return 1;
}

static int is_hex4(const uint8_t *p) {
  for (int i = 0; i < 4; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
          (p[i] >= 'A' && p[i] <= 'F')))
      return 0;
  return 1;
}

static graft_status scan_header(const char *label, const uint8_t *h, size_t n) {
  int in_str = 0;
  for (size_t i = 0; i < n;) {
    uint8_t c = h[i];
    if (c >= 0x80) {
      size_t k = utf8_seq_len(h + i, n - i);
      if (!k) GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: invalid UTF-8", label, i);
      if (!in_str)
        GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: unexpected character outside a string",
                   label, i);
      i += k;
    } else if (in_str) {
      if (c < 0x20)
        GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: control character 0x%02x inside a string",
                   label, i, c);
      if (c == '\\') {
        /* cJSON turns a \u escape with bad hex digits into a NUL, so the
         * escapes are checked here, as the JSON grammar has them. */
        uint8_t e = i + 1 < n ? h[i + 1] : 0;
        if (e == 'u') {
          if (n - i < 6 || !is_hex4(h + i + 2))
            GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: \\u not followed by 4 hex digits",
                       label, i);
          if (!memcmp(h + i + 2, "0000", 4))
            GRAFT_FAIL(GRAFT_EFORMAT,
                       "%s: header byte %zu: a string holds \\u0000 (a NUL character)", label, i);
          i += 6;
        } else if (e && strchr("\"\\/bfnrt", e)) {
          i += 2;
        } else {
          GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: invalid escape in a string", label, i);
        }
        continue;
      }
      if (c == '"') in_str = 0;
      i++;
    } else if (c == '"') {
      in_str = 1;
      i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < n && is_number_char(h[j])) j++;
      if (!plain_integer(h + i, j - i))
        GRAFT_FAIL(GRAFT_EFORMAT,
                   "%s: header byte %zu: number '%.*s' is not a plain integer (shapes and offsets "
                   "are whole numbers)",
                   label, i, (int)(j - i < 32 ? j - i : 32), (const char *)h + i);
      i = j;
    } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c && strchr("{}[]:,", c)) ||
               (c >= 'a' && c <= 'z')) {
      i++;
    } else {
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: header byte %zu: unexpected character 0x%02x outside a string",
                 label, i, c);
    }
  }
  return GRAFT_OK;
}

/* ---- entries ------------------------------------------------------------- */

/* A member of obj by key, NULL when absent. Returns 0 when the key appears
 * twice: cJSON keeps both, and which one a reader takes is ambiguous. */
static int find_member(const cJSON *obj, const char *key, const cJSON **out) {
  *out = NULL;
  for (const cJSON *c = obj->child; c; c = c->next) {
    if (strcmp(c->string, key)) continue;
    if (*out) return 0;
    *out = c;
  }
  return 1;
}

static graft_status get_field(const char *label, const char *nb, const cJSON *obj, const char *key,
                              const cJSON **out) {
  if (!find_member(obj, key, out))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': field \"%s\" appears twice", label, nb, key);
  if (!*out) GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': missing field \"%s\"", label, nb, key);
  return GRAFT_OK;
}

/* A JSON number that must be a whole number in [0, 2^53). Returns NULL
 * when fine, else what is wrong with it. */
static const char *json_uint(const cJSON *v, uint64_t *out) {
  if (!cJSON_IsNumber(v)) return "is not a number";
  double d = v->valuedouble;
  if (signbit(d)) return "is negative";
  if (d >= JSON_INT_LIMIT || d != floor(d)) return "is not a whole number below 2^53";
  *out = (uint64_t)d;
  return NULL;
}

static graft_status parse_shape(const char *label, const char *nb, const cJSON *shape,
                                graft_shape *s) {
  if (!cJSON_IsArray(shape))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': \"shape\" is not an array", label, nb);
  memset(s, 0, sizeof *s);
  for (const cJSON *d = shape->child; d; d = d->next) {
    if (s->ndim == GRAFT_MAX_DIMS)
      GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: tensor '%s': more than %d dims", label, nb,
                 GRAFT_MAX_DIMS);
    uint64_t v = 0;
    const char *why = json_uint(d, &v);
    if (why) GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': shape dim %d %s", label, nb, s->ndim, why);
    s->dim[s->ndim++] = (int64_t)v;
  }
  return GRAFT_OK;
}

static graft_status parse_offsets(const char *label, const char *nb, const cJSON *offs,
                                  uint64_t *begin, uint64_t *end) {
  if (!cJSON_IsArray(offs))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': \"data_offsets\" is not an array", label, nb);
  int count = cJSON_GetArraySize(offs);
  if (count != 2)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': \"data_offsets\" has %d entries, not [begin, end]",
               label, nb, count);
  const char *why = json_uint(offs->child, begin);
  if (why) GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': data_offsets begin %s", label, nb, why);
  why = json_uint(offs->child->next, end);
  if (why) GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': data_offsets end %s", label, nb, why);
  return GRAFT_OK;
}

/* Checks one header entry and fills t (all but name and data). */
static graft_status parse_entry(const char *label, const cJSON *e, uint64_t data_bytes,
                                graft_st_tensor *t) {
  char nb[NAME_BUF], sb[160];
  graft_st_name_str(e->string, nb, sizeof nb);
  if (!cJSON_IsObject(e))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': entry is not a JSON object", label, nb);
  const cJSON *dtype, *shape, *offs;
  GRAFT_TRY(get_field(label, nb, e, "dtype", &dtype));
  GRAFT_TRY(get_field(label, nb, e, "shape", &shape));
  GRAFT_TRY(get_field(label, nb, e, "data_offsets", &offs));

  if (!cJSON_IsString(dtype))
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': \"dtype\" is not a string", label, nb);
  if (graft_dtype_from_name(dtype->valuestring, &t->dtype) != GRAFT_OK) {
    char db[NAME_BUF];
    GRAFT_FAIL(GRAFT_EUNSUPPORTED,
               "%s: tensor '%s': unknown dtype '%s' (graft reads F32, F16, BF16, F64, I64, I32, "
               "I16, I8, U8 and BOOL)",
               label, nb, graft_st_name_str(dtype->valuestring, db, sizeof db));
  }
  GRAFT_TRY(parse_shape(label, nb, shape, &t->shape));
  graft_shape_str(&t->shape, sb, sizeof sb);
  const char *why = shape_nbytes(t->dtype, &t->shape, &t->nbytes);
  if (why) GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': shape %s %s", label, nb, sb, why);

  uint64_t begin = 0, end = 0;
  GRAFT_TRY(parse_offsets(label, nb, offs, &begin, &end));
  if (begin > end)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
               label, nb, (unsigned long long)begin, (unsigned long long)end);
  if (end > data_bytes)
    GRAFT_FAIL(GRAFT_EFORMAT,
               "%s: tensor '%s': data_offsets [%llu, %llu] run past the data section (%llu bytes)",
               label, nb, (unsigned long long)begin, (unsigned long long)end,
               (unsigned long long)data_bytes);
  if (end - begin != t->nbytes)
    GRAFT_FAIL(GRAFT_EFORMAT,
               "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but %s %s needs %llu",
               label, nb, (unsigned long long)begin, (unsigned long long)end,
               (unsigned long long)(end - begin), graft_dtype_name(t->dtype), sb,
               (unsigned long long)t->nbytes);
  t->begin = begin;
  return GRAFT_OK;
}

/* ---- the whole file ------------------------------------------------------ */

static int cmp_by_offset(const void *a, const void *b) {
  const graft_st_tensor *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
  return strcmp(x->name, y->name);
}

static int cmp_by_name(const void *a, const void *b) {
  const graft_st_tensor *const *x = a, *const *y = b;
  return strcmp((*x)->name, (*y)->name);
}

static int cmp_meta(const void *a, const void *b) {
  const graft_st_meta *x = a, *y = b;
  return strcmp(x->key, y->key);
}

static char *put_str(char **sp, const char *s) {
  size_t n = strlen(s) + 1;
  char *d = *sp;
  memcpy(d, s, n);
  *sp += n;
  return d;
}

/* Counts what the header holds and allocates for it. */
static graft_status size_header(graft_st_file *f, const cJSON *root, const cJSON **meta) {
  const char *label = f->label;
  size_t sbytes = 0;
  *meta = NULL;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__")) {
      if (f->n_tensors == GRAFT_ST_MAX_TENSORS)
        GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: more than %d tensors", label, GRAFT_ST_MAX_TENSORS);
      f->n_tensors++;
      sbytes += strlen(c->string) + 1;
      continue;
    }
    if (*meta) GRAFT_FAIL(GRAFT_EFORMAT, "%s: \"__metadata__\" appears twice", label);
    *meta = c;
    if (cJSON_IsNull(c)) continue;
    if (!cJSON_IsObject(c))
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: \"__metadata__\" is not an object of strings", label);
    for (const cJSON *m = c->child; m; m = m->next) {
      char kb[NAME_BUF];
      if (!cJSON_IsString(m))
        GRAFT_FAIL(GRAFT_EFORMAT, "%s: \"__metadata__\" value of '%s' is not a string", label,
                   graft_st_name_str(m->string, kb, sizeof kb));
      f->n_meta++;
      sbytes += strlen(m->string) + strlen(m->valuestring) + 2;
    }
  }
  f->tensors = calloc(f->n_tensors + 1, sizeof *f->tensors);
  f->by_name = calloc(f->n_tensors + 1, sizeof *f->by_name);
  f->meta = calloc(f->n_meta + 1, sizeof *f->meta);
  f->strings = malloc(sbytes + 1);
  if (!f->tensors || !f->by_name || !f->meta || !f->strings)
    GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory for a header of %zu tensors", label, f->n_tensors);
  return GRAFT_OK;
}

/* The data section must be covered exactly: sorted by offset, each tensor
 * begins where the one before it ended and the last ends at the end. */
static graft_status check_coverage(const graft_st_file *f) {
  uint64_t pos = 0;
  char nb[NAME_BUF];
  for (size_t i = 0; i < f->n_tensors; i++) {
    const graft_st_tensor *t = &f->tensors[i];
    graft_st_name_str(t->name, nb, sizeof nb);
    if (t->begin > pos)
      GRAFT_FAIL(GRAFT_EFORMAT,
                 "%s: data bytes [%llu, %llu) belong to no tensor (a gap before tensor '%s')",
                 f->label, (unsigned long long)pos, (unsigned long long)t->begin, nb);
    if (t->begin < pos)
      GRAFT_FAIL(GRAFT_EFORMAT,
                 "%s: tensor '%s' (data_offsets [%llu, %llu]) overlaps the tensor before it, which "
                 "ends at %llu",
                 f->label, nb, (unsigned long long)t->begin,
                 (unsigned long long)(t->begin + t->nbytes), (unsigned long long)pos);
    pos = t->begin + t->nbytes;
  }
  if (pos != f->data_bytes)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: the data section has %llu bytes but the tensors cover %llu",
               f->label, (unsigned long long)f->data_bytes, (unsigned long long)pos);
  return GRAFT_OK;
}

static graft_status build_file(graft_st_file *f, const cJSON *root, const uint8_t *data) {
  const char *label = f->label;
  if (!cJSON_IsObject(root)) GRAFT_FAIL(GRAFT_EFORMAT, "%s: header is not a JSON object", label);
  const cJSON *meta = NULL;
  GRAFT_TRY(size_header(f, root, &meta));

  char *sp = f->strings;
  size_t ti = 0, mi = 0;
  for (const cJSON *c = root->child; c; c = c->next) {
    if (c == meta) {
      for (const cJSON *m = c->child; m; m = m->next) {
        f->meta[mi].key = put_str(&sp, m->string);
        f->meta[mi++].value = put_str(&sp, m->valuestring);
      }
      continue;
    }
    graft_st_tensor *t = &f->tensors[ti++];
    GRAFT_TRY(parse_entry(label, c, f->data_bytes, t));
    t->name = put_str(&sp, c->string);
    t->data = data + t->begin;
  }

  char nb[NAME_BUF];
  qsort(f->meta, f->n_meta, sizeof *f->meta, cmp_meta);
  for (size_t i = 1; i < f->n_meta; i++)
    if (!strcmp(f->meta[i - 1].key, f->meta[i].key))
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: \"__metadata__\" key '%s' appears twice", label,
                 graft_st_name_str(f->meta[i].key, nb, sizeof nb));

  qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_by_offset);
  for (size_t i = 0; i < f->n_tensors; i++) f->by_name[i] = &f->tensors[i];
  qsort(f->by_name, f->n_tensors, sizeof *f->by_name, cmp_by_name);
  for (size_t i = 1; i < f->n_tensors; i++)
    if (!strcmp(f->by_name[i - 1]->name, f->by_name[i]->name))
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: tensor name '%s' appears twice", label,
                 graft_st_name_str(f->by_name[i]->name, nb, sizeof nb));
  return check_coverage(f);
}

static graft_status parse_buffer(graft_st_file *f, const uint8_t *b, size_t size) {
  const char *label = f->label;
  if (size < 8)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: %zu bytes, too short to hold the 8-byte header length", label,
               size);
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
  if (n > GRAFT_ST_MAX_HEADER)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: header length %llu is over the limit of %llu bytes", label,
               (unsigned long long)n, GRAFT_ST_MAX_HEADER);
  if (n > size - 8)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
               label, (unsigned long long)n, size);
  const char *h = (const char *)b + 8;
  GRAFT_TRY(scan_header(label, (const uint8_t *)h, (size_t)n));

  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(h, (size_t)n, &end, 0);
  if (!root)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: header is not valid JSON (parsing stopped at header byte %zu)",
               label, end ? (size_t)(end - h) : (size_t)0);
  graft_status s = GRAFT_OK;
  for (const char *p = end; p < h + n; p++) {
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      GRAFT_ERROR("%s: header byte %zu: text after the JSON object", label, (size_t)(p - h));
      s = GRAFT_EFORMAT;
      break;
    }
  }
  f->data_bytes = size - 8 - n;
  if (s == GRAFT_OK) s = build_file(f, root, b + 8 + n);
  cJSON_Delete(root);
  return s;
}

graft_status graft_st_parse(graft_st_file *f, const void *buf, size_t size, const char *label) {
  memset(f, 0, sizeof *f);
  if (!label) label = "<memory>";
  f->label = malloc(strlen(label) + 1);
  if (!f->label) GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory", label);
  strcpy(f->label, label);
  graft_status s = parse_buffer(f, buf, size);
  if (s != GRAFT_OK) graft_st_free(f);
  return s;
}

graft_status graft_st_load(graft_st_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  uint8_t *bytes = NULL;
  size_t size = 0;
  GRAFT_TRY(graft_file_read(path, (size_t)GRAFT_ST_MAX_FILE, &bytes, &size));
  graft_status s = graft_st_parse(f, bytes, size, path);
  if (s != GRAFT_OK) {
    free(bytes);
    return s;
  }
  f->owned = bytes;
  return GRAFT_OK;
}

void graft_st_free(graft_st_file *f) {
  free(f->label);
  free(f->owned);
  free(f->tensors);
  free(f->meta);
  free(f->by_name);
  free(f->strings);
  memset(f, 0, sizeof *f);
}

const graft_st_tensor *graft_st_find(const graft_st_file *f, const char *name) {
  size_t lo = 0, hi = f->n_tensors;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(f->by_name[mid]->name, name);
    if (c == 0) return f->by_name[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

const char *graft_st_meta_get(const graft_st_file *f, const char *key) {
  size_t lo = 0, hi = f->n_meta;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(f->meta[mid].key, key);
    if (c == 0) return f->meta[mid].value;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* ---- typed reads --------------------------------------------------------- */

static graft_status check_count(const graft_st_file *f, const graft_st_tensor *t, size_t count) {
  uint64_t numel = (uint64_t)graft_shape_numel(&t->shape);
  if (numel == count) return GRAFT_OK;
  char nb[NAME_BUF], sb[160];
  GRAFT_FAIL(GRAFT_ESHAPE, "%s: tensor '%s' has shape %s (%llu elements), room was given for %zu",
             f->label, graft_st_name_str(t->name, nb, sizeof nb),
             graft_shape_str(&t->shape, sb, sizeof sb), (unsigned long long)numel, count);
}

static graft_status wrong_kind(const graft_st_file *f, const graft_st_tensor *t, const char *as) {
  char nb[NAME_BUF];
  GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: tensor '%s' is %s and cannot be read as %s", f->label,
             graft_st_name_str(t->name, nb, sizeof nb), graft_dtype_name(t->dtype), as);
}

graft_status graft_st_read_f32(const graft_st_file *f, const graft_st_tensor *t, float *out,
                               size_t count) {
  GRAFT_TRY(check_count(f, t, count));
  const uint8_t *p = t->data;
  switch (t->dtype) {
    case GRAFT_DTYPE_F32:
      if (count) memcpy(out, p, count * sizeof(float));
      return GRAFT_OK;
    case GRAFT_DTYPE_F16:
    case GRAFT_DTYPE_BF16:
      for (size_t i = 0; i < count; i++) {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        out[i] = t->dtype == GRAFT_DTYPE_F16 ? graft_f16_to_f32(v) : graft_bf16_to_f32(v);
      }
      return GRAFT_OK;
    case GRAFT_DTYPE_F64:
      for (size_t i = 0; i < count; i++) {
        double v;
        memcpy(&v, p + 8 * i, 8);
        out[i] = (float)v;
      }
      return GRAFT_OK;
    default:
      return wrong_kind(f, t, "float32");
  }
}

/* Widens count elements of type from p into out. */
#define ST_WIDEN(type)                          \
  do {                                          \
    for (size_t i = 0; i < count; i++) {        \
      type v;                                   \
      memcpy(&v, p + sizeof(type) * i, sizeof v); \
      out[i] = (int64_t)v;                      \
    }                                           \
  } while (0)

graft_status graft_st_read_i64(const graft_st_file *f, const graft_st_tensor *t, int64_t *out,
                               size_t count) {
  GRAFT_TRY(check_count(f, t, count));
  const uint8_t *p = t->data;
  switch (t->dtype) {
    case GRAFT_DTYPE_I64:
      ST_WIDEN(int64_t);
      return GRAFT_OK;
    case GRAFT_DTYPE_I32:
      ST_WIDEN(int32_t);
      return GRAFT_OK;
    case GRAFT_DTYPE_I16:
      ST_WIDEN(int16_t);
      return GRAFT_OK;
    case GRAFT_DTYPE_I8:
      ST_WIDEN(int8_t);
      return GRAFT_OK;
    case GRAFT_DTYPE_U8:
      ST_WIDEN(uint8_t);
      return GRAFT_OK;
    case GRAFT_DTYPE_BOOL:
      for (size_t i = 0; i < count; i++) out[i] = p[i] != 0;
      return GRAFT_OK;
    default:
      return wrong_kind(f, t, "int64");
  }
}

/* ---- writer -------------------------------------------------------------- */

/* A growing text buffer for the header; a failed allocation is remembered
 * and reported once at the end. */
typedef struct {
  char *p;
  size_t len, cap;
  int oom;
} st_text;

static void text_put(st_text *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n > b->cap) {
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap < b->len + n) ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void text_puts(st_text *b, const char *s) { text_put(b, s, strlen(s)); }

static void text_u64(st_text *b, uint64_t v) {
  char num[24];
  snprintf(num, sizeof num, "%llu", (unsigned long long)v);
  text_puts(b, num);
}

/* A JSON string: quotes and backslashes escaped, control bytes as \u00XX,
 * everything else (already checked to be UTF-8) as is. */
static void text_json_str(st_text *b, const char *s) {
  text_put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      char esc[2] = {'\\', (char)*p};
      text_put(b, esc, 2);
    } else if (*p < 0x20) {
      char esc[8];
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      text_put(b, esc, 6);
    } else {
      text_put(b, (const char *)p, 1);
    }
  }
  text_put(b, "\"", 1);
}

static int cmp_str_ptr(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a string given twice among n; returns it or NULL. Sorts names. */
static const char *find_duplicate(const char **names, size_t n) {
  qsort(names, n, sizeof *names, cmp_str_ptr);
  for (size_t i = 1; i < n; i++)
    if (!strcmp(names[i - 1], names[i])) return names[i];
  return NULL;
}

/* Checks what the caller asked to write and fills nbytes[i]. */
static graft_status check_entries(const char *path, const graft_st_entry *e, size_t n,
                                  const graft_st_meta *meta, size_t n_meta, uint64_t *nbytes) {
  char nb[NAME_BUF];
  if (n > GRAFT_ST_MAX_TENSORS)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: %zu tensors, more than the %d graft reads back", path, n,
               GRAFT_ST_MAX_TENSORS);
  for (size_t i = 0; i < n; i++) {
    if (!e[i].name) GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor %zu has no name", path, i);
    graft_st_name_str(e[i].name, nb, sizeof nb);
    if (!utf8_valid(e[i].name) || !strcmp(e[i].name, "__metadata__"))
      GRAFT_FAIL(GRAFT_EINVAL, "%s: '%s' cannot name a tensor", path, nb);
    if ((unsigned)e[i].dtype >= GRAFT_DTYPE_COUNT)
      GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor '%s': invalid dtype %d", path, nb, (int)e[i].dtype);
    if (e[i].shape.ndim < 0 || e[i].shape.ndim > GRAFT_MAX_DIMS)
      GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor '%s': %d dims", path, nb, e[i].shape.ndim);
    const char *why = shape_nbytes(e[i].dtype, &e[i].shape, &nbytes[i]);
    if (why) GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor '%s': shape %s", path, nb, why);
    for (int d = 0; d < e[i].shape.ndim; d++)
      if ((double)e[i].shape.dim[d] >= JSON_INT_LIMIT)
        GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor '%s': dim %d is 2^53 or more", path, nb, d);
    if (nbytes[i] && !e[i].data)
      GRAFT_FAIL(GRAFT_EINVAL, "%s: tensor '%s': no data for %llu bytes", path, nb,
                 (unsigned long long)nbytes[i]);
  }
  for (size_t i = 0; i < n_meta; i++) {
    if (!meta[i].key || !meta[i].value || !utf8_valid(meta[i].key) || !utf8_valid(meta[i].value))
      GRAFT_FAIL(GRAFT_EINVAL, "%s: metadata entry %zu is missing or not UTF-8", path, i);
  }

  size_t most = n > n_meta ? n : n_meta;
  const char **names = malloc((most + 1) * sizeof *names);
  if (!names) GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory", path);
  for (size_t i = 0; i < n; i++) names[i] = e[i].name;
  const char *dup = find_duplicate(names, n);
  graft_status s = GRAFT_OK;
  if (dup) {
    GRAFT_ERROR("%s: tensor name '%s' given twice", path, graft_st_name_str(dup, nb, sizeof nb));
    s = GRAFT_EINVAL;
  }
  for (size_t i = 0; i < n_meta; i++) names[i] = meta[i].key;
  dup = s == GRAFT_OK ? find_duplicate(names, n_meta) : NULL;
  if (dup) {
    GRAFT_ERROR("%s: metadata key '%s' given twice", path, graft_st_name_str(dup, nb, sizeof nb));
    s = GRAFT_EINVAL;
  }
  free(names);
  return s;
}

/* The header text for entries laid out in order[], padded to 8 bytes. */
static void build_header(st_text *h, const graft_st_entry *e, const size_t *order, size_t n,
                         const uint64_t *nbytes, const graft_st_meta *meta, size_t n_meta) {
  text_puts(h, "{");
  if (n_meta) {
    text_puts(h, "\"__metadata__\":{");
    for (size_t i = 0; i < n_meta; i++) {
      if (i) text_puts(h, ",");
      text_json_str(h, meta[i].key);
      text_puts(h, ":");
      text_json_str(h, meta[i].value);
    }
    text_puts(h, n ? "}," : "}");
  }
  uint64_t offset = 0;
  for (size_t k = 0; k < n; k++) {
    const graft_st_entry *t = &e[order[k]];
    if (k) text_puts(h, ",");
    text_json_str(h, t->name);
    text_puts(h, ":{\"dtype\":\"");
    text_puts(h, graft_dtype_name(t->dtype));
    text_puts(h, "\",\"shape\":[");
    for (int d = 0; d < t->shape.ndim; d++) {
      if (d) text_puts(h, ",");
      text_u64(h, (uint64_t)t->shape.dim[d]);
    }
    text_puts(h, "],\"data_offsets\":[");
    text_u64(h, offset);
    text_puts(h, ",");
    offset += nbytes[order[k]];
    text_u64(h, offset);
    text_puts(h, "]}");
  }
  text_puts(h, "}");
  while (h->len % 8) text_put(h, " ", 1);
}

graft_status graft_st_write(const char *path, const graft_st_entry *entries, size_t n_entries,
                            const graft_st_meta *meta, size_t n_meta) {
  uint64_t *nbytes = malloc((n_entries + 1) * sizeof *nbytes);
  size_t *order = malloc((n_entries + 1) * sizeof *order);
  st_text h = {0};
  graft_status s = GRAFT_OK;
  if (!nbytes || !order) {
    GRAFT_ERROR("%s: out of memory", path);
    s = GRAFT_ENOMEM;
  }
  if (s == GRAFT_OK) s = check_entries(path, entries, n_entries, meta, n_meta, nbytes);
  if (s == GRAFT_OK) {
    /* Largest elements first, stable within a size: every tensor then
     * starts at a multiple of its element size. */
    size_t k = 0;
    for (size_t size = 8; size >= 1; size /= 2)
      for (size_t i = 0; i < n_entries; i++)
        if (graft_dtype_size(entries[i].dtype) == size) order[k++] = i;
    build_header(&h, entries, order, n_entries, nbytes, meta, n_meta);
    if (h.oom) {
      GRAFT_ERROR("%s: out of memory for the header", path);
      s = GRAFT_ENOMEM;
    } else if (h.len > GRAFT_ST_MAX_HEADER) {
      GRAFT_ERROR("%s: header of %zu bytes is over the limit of %llu", path, h.len,
                  GRAFT_ST_MAX_HEADER);
      s = GRAFT_EINVAL;
    }
  }
  if (s == GRAFT_OK) {
    graft_atomic_file af;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)h.len >> (8 * i));
    s = graft_atomic_open(&af, path);
    if (s == GRAFT_OK) s = graft_atomic_write(&af, len8, 8);
    if (s == GRAFT_OK) s = graft_atomic_write(&af, h.p, h.len);
    for (size_t k = 0; k < n_entries && s == GRAFT_OK; k++)
      s = graft_atomic_write(&af, entries[order[k]].data, (size_t)nbytes[order[k]]);
    if (s == GRAFT_OK)
      s = graft_atomic_commit(&af);
    else
      graft_atomic_abort(&af);
  }
  free(h.p);
  free(order);
  free(nbytes);
  return s;
}

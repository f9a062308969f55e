/* labels.c: strict parsers for class-names files and YOLO label files
 * (see labels.h). Input is bytes of unknown origin and need not end in a
 * NUL: each line is copied into a bounded buffer before it is looked at. */
#include "data/labels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define LINE_MAX_BYTES 1024

void graft_boxes_init(graft_boxes *b) {
  b->v = NULL;
  b->n = b->cap = 0;
}

void graft_boxes_free(graft_boxes *b) {
  if (!b) return;
  free(b->v);
  graft_boxes_init(b);
}

graft_status graft_boxes_push(graft_boxes *b, graft_box box) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 64;
    graft_box *v = realloc(b->v, cap * sizeof *v);
    if (!v) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for %zu boxes", cap);
    b->v = v;
    b->cap = cap;
  }
  b->v[b->n++] = box;
  return GRAFT_OK;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* The next line of text from *pos: its trimmed content goes to buf (and
 * its length, which may count NUL bytes, to *n). Returns 0 at the end of
 * the text, -1 when the line is too long. */
static int next_line(const char *text, size_t len, size_t *pos, char *buf, size_t cap, size_t *n) {
  if (*pos >= len) return 0;
  size_t start = *pos, end = start;
  while (end < len && text[end] != '\n') end++;
  *pos = end < len ? end + 1 : end;
  while (start < end && is_space(text[start])) start++;
  while (end > start && is_space(text[end - 1])) end--;
  if (end - start >= cap) return -1;
  memcpy(buf, text + start, end - start);
  buf[end - start] = 0;
  *n = end - start;
  return 1;
}

static const char *control_char(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7F) return s + i;
  return NULL;
}

typedef struct {
  const char *s;
  size_t i;
} indexed_name;

static int cmp_indexed(const void *a, const void *b) {
  const indexed_name *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  return c ? c : (x->i > y->i) - (x->i < y->i);
}

/* Fails on the first name (in file order) that repeats an earlier one.
 * Sorting keeps this n log n for files with tens of thousands of names.
 * Names sit on lines 1..count, since blank lines may only trail. */
static graft_status check_unique(const graft_strlist *names, const char *name, char *err, size_t err_len) {
  indexed_name *v = malloc(names->count * sizeof *v);
  if (!v) return GRAFT_DATA_REPORT(err, err_len, GRAFT_ENOMEM, "%s: out of memory", name);
  for (size_t i = 0; i < names->count; i++) v[i] = (indexed_name){names->items[i], i};
  qsort(v, names->count, sizeof *v, cmp_indexed);
  size_t dup = names->count, first = 0, group = 0;
  for (size_t k = 1; k < names->count; k++) {
    if (strcmp(v[k].s, v[k - 1].s)) {
      group = k;
      continue;
    }
    if (v[k].i < dup) {
      dup = v[k].i;
      first = v[group].i;
    }
  }
  free(v);
  if (dup == names->count) return GRAFT_OK;
  return GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: class name '%s' repeats the one on line %zu",
                           name, dup + 1, names->items[dup], first + 1);
}

graft_status graft_parse_class_names(const char *text, size_t len, const char *name,
                                     graft_strlist *names, char *err, size_t err_len) {
  graft_strlist_init(names);
  size_t pos = 0, line = 0, blank_at = 0;
  graft_status s = GRAFT_OK;
  char buf[LINE_MAX_BYTES];
  if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) pos = 3;
  size_t n = 0;
  int r;
  while ((r = next_line(text, len, &pos, buf, sizeof buf, &n)) != 0) {
    line++;
    if (r < 0 || n > GRAFT_MAX_CLASS_NAME) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: class name longer than %d bytes",
                            name, line, GRAFT_MAX_CLASS_NAME);
      goto fail;
    }
    if (n == 0) {
      if (!blank_at) blank_at = line;
      continue;
    }
    if (blank_at) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT,
                            "%s:%zu: blank line between class names (it would shift every later "
                            "class index); remove it",
                            name, blank_at);
      goto fail;
    }
    if (control_char(buf, n)) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: control character in class name",
                            name, line);
      goto fail;
    }
    if (names->count >= GRAFT_MAX_CLASSES) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: more than %d classes", name, line,
                            GRAFT_MAX_CLASSES);
      goto fail;
    }
    s = graft_strlist_push(names, buf);
    if (s != GRAFT_OK) goto fail;
  }
  if (names->count == 0) {
    s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s: no class names", name);
    goto fail;
  }
  s = check_unique(names, name, err, err_len);
  if (s == GRAFT_OK) return GRAFT_OK;
fail:
  graft_strlist_free(names);
  return s;
}

/* Splits buf in place at white space into at most max fields. */
static int split_fields(char *buf, char **fields, int max) {
  int n = 0;
  char *p = buf;
  while (*p) {
    while (*p && is_space(*p)) p++;
    if (!*p) break;
    if (n == max) return max + 1;
    fields[n++] = p;
    while (*p && !is_space(*p)) p++;
    if (*p) *p++ = 0;
  }
  return n;
}

/* A plain decimal number: digits, one point, an exponent; no hex, no
 * inf/nan, no trailing junk. */
static int parse_number(const char *s, double *out) {
  for (const char *p = s; *p; p++)
    if (!strchr("0123456789.eE+-", *p)) return 0;
  char *end = NULL;
  double v = strtod(s, &end);
  if (end == s || *end || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

static int parse_class(const char *s, long *out) {
  const char *p = s;
  if (!*p) return 0;
  for (; *p; p++)
    if (*p < '0' || *p > '9') return 0;
  if (p - s > 9) return 0;
  *out = strtol(s, NULL, 10);
  return 1;
}

graft_status graft_parse_yolo_labels(const char *text, size_t len, const char *name, int num_classes,
                                     graft_label_stats *lenient, graft_boxes *out, char *err,
                                     size_t err_len) {
  size_t pos = 0, line = 0, first = out->n;
  graft_status s = GRAFT_OK;
  char buf[LINE_MAX_BYTES];
  size_t n = 0;
  int r;
  while ((r = next_line(text, len, &pos, buf, sizeof buf, &n)) != 0) {
    line++;
    if (r < 0) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: line longer than %d bytes", name,
                            line, LINE_MAX_BYTES - 1);
      goto fail;
    }
    if (memchr(buf, 0, n)) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: NUL byte in a label line", name, line);
      goto fail;
    }
    if (!buf[0]) continue;
    char *f[5];
    int nf = split_fields(buf, f, 5);
    if (nf != 5) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT,
                            "%s:%zu: expected 5 fields 'class cx cy w h', found %s%d", name, line,
                            nf > 5 ? "more than " : "", nf > 5 ? 5 : nf);
      goto fail;
    }
    long cls;
    double v[4];
    if (!parse_class(f[0], &cls)) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT,
                            "%s:%zu: class '%s' is not a non-negative integer", name, line, f[0]);
      goto fail;
    }
    for (int i = 0; i < 4; i++)
      if (!parse_number(f[i + 1], &v[i])) {
        s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: field %d '%s' is not a number",
                              name, line, i + 2, f[i + 1]);
        goto fail;
      }
    /* Judge the values the box will hold: a size of 1e-169 is 0 as a float. */
    for (int i = 0; i < 4; i++) v[i] = (double)(float)v[i];
    int bad_class = cls >= num_classes;
    int bad_coords = v[0] < 0 || v[0] > 1 || v[1] < 0 || v[1] > 1 || !(v[2] > 0) || v[2] > 1 ||
                     !(v[3] > 0) || v[3] > 1;
    if ((bad_class || bad_coords) && lenient) {
      lenient->bad_class += (size_t)bad_class;
      lenient->bad_coords += (size_t)(bad_coords && !bad_class);
      continue;
    }
    if (bad_class) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT, "%s:%zu: class %ld is out of range (%d classes)",
                            name, line, cls, num_classes);
      goto fail;
    }
    if (bad_coords) {
      s = GRAFT_DATA_REPORT(err, err_len, GRAFT_EFORMAT,
                            "%s:%zu: box %g %g %g %g is not normalized (centre in [0, 1], size in (0, 1])",
                            name, line, v[0], v[1], v[2], v[3]);
      goto fail;
    }
    graft_box b = {(int)cls, (float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    s = graft_boxes_push(out, b);
    if (s != GRAFT_OK) goto fail;
  }
  return GRAFT_OK;
fail:
  out->n = first;
  return s;
}

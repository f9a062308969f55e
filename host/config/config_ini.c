/* config_ini.c: configuration files: the bounded INI reader, the atomic
 * writer of a resolved configuration, and the help listing of every key. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_impl.h"
#include "core/log.h"
#include "io/fileio.h"

#define CFG_MAX_FILE_BYTES (1u << 20) /* a config file is text, not data */

/* ---- INI files ---------------------------------------------------------- */

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

static int blank_or_comment(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return !*s || *s == '#' || *s == ';';
}

/* The value part of a `key = value` line, in place: quoted, or cut at a
 * comment that follows a blank. NULL when a quote is left open or text
 * follows the closing quote. */
static char *line_value(char *s) {
  s = trim(s);
  if (*s == '#' || *s == ';') return s + strlen(s); /* "key =  # comment": empty */
  if (*s == '"') {
    char *close = strchr(s + 1, '"');
    if (!close || !blank_or_comment(close + 1)) return NULL;
    *close = '\0';
    return s + 1;
  }
  for (char *p = s; *p; p++)
    if ((*p == '#' || *p == ';') && p > s && (p[-1] == ' ' || p[-1] == '\t')) {
      *p = '\0';
      break;
    }
  return trim(s);
}

/* One line of a file: a section header, a key = value, or nothing. */
static graft_status load_line(graft_config *cfg, const char *path, int lineno, char *line,
                              char *section, size_t section_len, int *seen) {
  char where[600];
  snprintf(where, sizeof where, "%s:%d", path, lineno);
  char *s = trim(line);
  if (blank_or_comment(s)) return GRAFT_OK;
  if (*s == '[') {
    char *close = strchr(s, ']');
    if (!close || !blank_or_comment(close + 1))
      GRAFT_FAIL(GRAFT_EFORMAT, "%s: expected '[section]', got '%s'", where, s);
    *close = '\0';
    char *name = trim(s + 1);
    if (!graft_cfg_section_known(name)) return graft_cfg_unknown_section(where, name);
    snprintf(section, section_len, "%s", name);
    return GRAFT_OK;
  }
  char *eq = strchr(s, '=');
  if (!eq)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: expected 'key = value' or '[section]', got '%s'", where, s);
  *eq = '\0';
  char *key = trim(s);
  if (!*key) GRAFT_FAIL(GRAFT_EFORMAT, "%s: no key before '='", where);
  int ki;
  GRAFT_TRY(graft_cfg_find_key(key, section[0] ? section : NULL, where, &ki));
  if (seen[ki])
    GRAFT_FAIL(GRAFT_EINVAL, "%s: duplicate key '%s' (first set on line %d)", where,
               graft_cfg_schema[ki].key, seen[ki]);
  seen[ki] = lineno;
  char *value = line_value(eq + 1);
  if (!value)
    GRAFT_FAIL(GRAFT_EFORMAT, "%s: %s: unmatched '\"' or text after the closing quote", where, key);
  return graft_cfg_assign(cfg, ki, value, path, lineno, where);
}

graft_status graft_config_load(graft_config *cfg, const char *path) {
  if (cfg->nfiles == GRAFT_CONFIG_MAX_FILES)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: more than %d config files", path, GRAFT_CONFIG_MAX_FILES);
  uint8_t *data = NULL;
  size_t size = 0;
  GRAFT_TRY(graft_file_read(path, CFG_MAX_FILE_BYTES, &data, &size));
  char *stored = strdup(path);
  int *seen = calloc((size_t)graft_cfg_nkeys, sizeof *seen);
  graft_status s = GRAFT_OK;
  if (!stored || !seen) {
    GRAFT_ERROR("%s: out of memory", path);
    s = GRAFT_ENOMEM;
    goto done;
  }
  /* The stored name only labels messages and the written file's comments,
   * which must stay one line each. */
  for (char *c = stored; *c; c++)
    if ((unsigned char)*c < 0x20) *c = '?';
  cfg->files[cfg->nfiles++] = stored;
  stored = NULL;
  const char *file = cfg->files[cfg->nfiles - 1];
  char *text = (char *)data;
  if (size >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3; /* UTF-8 byte order mark */
  char section[128] = "";
  int lineno = 0;
  for (char *p = text; s == GRAFT_OK && p < (char *)data + size;) {
    lineno++;
    char *nl = memchr(p, '\n', (size_t)((char *)data + size - p));
    char *end = nl ? nl : (char *)data + size;
    size_t len = (size_t)(end - p);
    if (memchr(p, '\0', len)) {
      GRAFT_ERROR("%s:%d: NUL byte: not a text file", path, lineno);
      s = GRAFT_EFORMAT;
      break;
    }
    if (len >= GRAFT_CFG_MAX_LINE) {
      GRAFT_ERROR("%s:%d: line longer than %d characters", path, lineno, GRAFT_CFG_MAX_LINE - 1);
      s = GRAFT_EFORMAT;
      break;
    }
    *end = '\0';
    if (len && p[len - 1] == '\r') p[len - 1] = '\0';
    s = load_line(cfg, file, lineno, p, section, sizeof section, seen);
    p = end + 1;
  }
done:
  free(seen);
  free(stored);
  free(data);
  return s;
}

/* ---- writing and help --------------------------------------------------- */

typedef struct {
  char *p;
  size_t len, cap;
  int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (b->failed) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->failed = 1;
      return;
    }
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + (size_t)n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->failed = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

graft_status graft_config_write(const graft_config *cfg, const char *path) {
  strbuf b = {0};
  sb_printf(&b, "# graft configuration, resolved from the defaults");
  for (int f = 0; f < cfg->nfiles; f++) sb_printf(&b, ", %s", cfg->files[f]);
  sb_printf(&b, " and the command line.\n# Pass it back with -c to reproduce the run.\n");
  for (int i = 0; i < graft_cfg_nkeys; i++) {
    const graft_cfg_key *k = &graft_cfg_schema[i];
    if (i == 0 || strcmp(k->section, graft_cfg_schema[i - 1].section))
      sb_printf(&b, "\n[%s]\n", k->section);
    if (k->flags & GRAFT_CFG_NOSAVE) continue;
    const struct graft_config_value *v = &cfg->v[i];
    const char *q = graft_cfg_needs_quotes(v->text) ? "\"" : "";
    sb_printf(&b, "%s =%s%s%s%s", k->key, v->text[0] ? " " : "", q, v->text, q);
    if (v->set && v->file)
      sb_printf(&b, "  # %s:%d\n", v->file, v->line);
    else if (v->set)
      sb_printf(&b, "  # command line\n");
    else
      sb_printf(&b, "\n");
  }
  if (b.failed) {
    free(b.p);
    GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory while writing the configuration", path);
  }
  graft_atomic_file af;
  graft_status s = graft_atomic_open(&af, path);
  if (s == GRAFT_OK) s = graft_atomic_write(&af, b.p, b.len);
  if (s == GRAFT_OK)
    s = graft_atomic_commit(&af);
  else
    graft_atomic_abort(&af);
  free(b.p);
  return s;
}

/* A short description of what key k accepts, for the help. */
static void describe(const graft_cfg_key *k, char *buf, size_t len) {
  char range[80] = "";
  if (isfinite(k->lo))
    snprintf(range, sizeof range, " %s %.15g", k->flags & GRAFT_CFG_LO_OPEN ? ">" : ">=", k->lo);
  if (isfinite(k->hi))
    snprintf(range + strlen(range), sizeof range - strlen(range), "%s %s %.15g",
             range[0] ? "," : "", k->flags & GRAFT_CFG_HI_OPEN ? "<" : "<=", k->hi);
  switch (k->type) {
    case GRAFT_CFG_INT: snprintf(buf, len, "integer%s", range); break;
    case GRAFT_CFG_FLOAT: snprintf(buf, len, "number%s", range); break;
    case GRAFT_CFG_BOOL: snprintf(buf, len, "0 or 1"); break;
    case GRAFT_CFG_STRING:
      snprintf(buf, len, "%s", k->flags & GRAFT_CFG_REQUIRED ? "required" : "text");
      break;
    case GRAFT_CFG_CHOICE: snprintf(buf, len, "%s", k->choices); break;
    case GRAFT_CFG_INTS:
    case GRAFT_CFG_FLOATS: {
      char count[32];
      if (k->nmin == k->nmax)
        snprintf(count, sizeof count, "%d", k->nmin);
      else
        snprintf(count, sizeof count, "%d to %d", k->nmin, k->nmax);
      snprintf(buf, len, "%s %s%s%s", count, k->type == GRAFT_CFG_INTS ? "integers" : "numbers",
               range[0] ? ", each" : "", range);
      break;
    }
  }
}

void graft_config_print_help(FILE *f) {
  fprintf(f,
          "Configuration keys, by section. Set them in an INI file passed with -c, or as\n"
          "key=value (or section.key=value) on the command line, which wins.\n");
  for (int i = 0; i < graft_cfg_nkeys; i++) {
    const graft_cfg_key *k = &graft_cfg_schema[i];
    if (i == 0 || strcmp(k->section, graft_cfg_schema[i - 1].section))
      fprintf(f, "\n[%s]\n", k->section);
    char what[160];
    describe(k, what, sizeof what);
    char line[160];
    snprintf(line, sizeof line, "%s =%s%s", k->key, k->def[0] ? " " : "", k->def);
    fprintf(f, "  %-36s (%s)\n      %s\n", line, what, k->help);
  }
}

/* config.c: configuration values from the schema table (config_schema.c):
 * parsing and checking a value against its row, finding keys with
 * suggestions for the misspelt, command-line overrides, the required-key
 * check and the typed getters. Files are read and written in config_ini.c. */
#define _POSIX_C_SOURCE 200809L

#include "config/config.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "config/config_impl.h"
#include "core/log.h"

/* ---- names and suggestions ---------------------------------------------- */

static int key_index(const char *key) {
  for (int i = 0; i < graft_cfg_nkeys; i++)
    if (!strcmp(graft_cfg_schema[i].key, key)) return i;
  return -1;
}

int graft_cfg_section_known(const char *s) {
  for (int i = 0; i < graft_cfg_nkeys; i++)
    if (!strcmp(graft_cfg_schema[i].section, s)) return 1;
  return 0;
}

/* The nearest of the candidates offered so far, for suggesting a name
 * when a word is a plausible typo of it. */
typedef struct {
  const char *word;
  const char *best;
  int dist;
} nearest;

static void nearest_offer(nearest *n, const char *cand) {
  int d = graft_edit_distance(n->word, cand);
  if (!n->best || d < n->dist) {
    n->best = cand;
    n->dist = d;
  }
}

/* The best candidate when within 3 edits and fewer edits than the word has
 * characters; NULL otherwise. */
static const char *nearest_result(const nearest *n) {
  return n->best && n->dist <= 3 && n->dist < (int)strlen(n->word) ? n->best : NULL;
}

static const char *nearest_key(const char *word) {
  nearest n = {word, NULL, 0};
  for (int i = 0; i < graft_cfg_nkeys; i++) nearest_offer(&n, graft_cfg_schema[i].key);
  return nearest_result(&n);
}

static const char *nearest_section(const char *word) {
  nearest n = {word, NULL, 0};
  for (int i = 0; i < graft_cfg_nkeys; i++) nearest_offer(&n, graft_cfg_schema[i].section);
  return nearest_result(&n);
}

graft_status graft_cfg_unknown_section(const char *where, const char *name) {
  const char *near = nearest_section(name);
  if (near)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown section [%s] (did you mean [%s]?)", where, name, near);
  GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown section [%s]", where, name);
}

/* " (did you mean 'x'?)" or "". */
static void hint(char *buf, size_t len, const char *suggestion) {
  if (suggestion)
    snprintf(buf, len, " (did you mean '%s'?)", suggestion);
  else
    buf[0] = '\0';
}

/* Index of value among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *value) {
  size_t vlen = strlen(value);
  int idx = 0;
  for (const char *p = choices;; idx++) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == vlen && !strncmp(p, value, len)) return idx;
    if (!bar) return -1;
    p = bar + 1;
  }
}

/* The choice nearest to value, copied into buf; NULL when none is near. */
static const char *nearest_choice(const char *choices, const char *value, char *buf, size_t len) {
  char list[512];
  snprintf(list, sizeof list, "%s", choices);
  nearest n = {value, NULL, 0};
  for (char *save = NULL, *t = strtok_r(list, "|", &save); t; t = strtok_r(NULL, "|", &save))
    nearest_offer(&n, t);
  const char *best = nearest_result(&n);
  if (!best) return NULL;
  snprintf(buf, len, "%s", best);
  return buf;
}

/* ---- values ------------------------------------------------------------- */

static int has_ctrl(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 && *s != '\t') return 1;
  return 0;
}

int graft_cfg_needs_quotes(const char *s) {
  size_t n = strlen(s);
  if (!n) return 0;
  if (strchr(" \t\"#;", s[0]) || s[n - 1] == ' ' || s[n - 1] == '\t') return 1;
  for (size_t i = 1; i < n; i++)
    if ((s[i] == '#' || s[i] == ';') && (s[i - 1] == ' ' || s[i - 1] == '\t')) return 1;
  return 0;
}

/* Checks a number against the key's range; why gets the reason. */
static int in_range(const graft_cfg_key *k, double v, char *why, size_t len) {
  if (k->flags & GRAFT_CFG_LO_OPEN ? v <= k->lo : v < k->lo) {
    snprintf(why, len, "must be %s %.15g",
             k->flags & GRAFT_CFG_LO_OPEN ? "greater than" : "at least", k->lo);
    return 0;
  }
  if (k->flags & GRAFT_CFG_HI_OPEN ? v >= k->hi : v > k->hi) {
    snprintf(why, len, "must be %s %.15g", k->flags & GRAFT_CFG_HI_OPEN ? "less than" : "at most",
             k->hi);
    return 0;
  }
  return 1;
}

static int parse_int(const char *s, int64_t *out) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (end == s || *end || errno) return 0;
  *out = (int64_t)v;
  return 1;
}

/* A finite number that also fits a float, which is what the getters give. */
static int parse_float(const char *s, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s || *end || errno == ERANGE || !isfinite(v) || fabs(v) > FLT_MAX) return 0;
  *out = v;
  return 1;
}

/* Parses a comma-separated list of numbers into v. */
static int parse_list(const graft_cfg_key *k, const char *text, struct graft_config_value *v,
                      char *why, size_t len) {
  char buf[GRAFT_CFG_MAX_LINE];
  snprintf(buf, sizeof buf, "%s", text);
  v->n = 0;
  const char *kind = k->type == GRAFT_CFG_INTS ? "integers" : "numbers";
  if (buf[0]) {
    char *p = buf;
    for (;;) {
      char *comma = strchr(p, ',');
      if (comma) *comma = '\0';
      while (*p == ' ' || *p == '\t') p++;
      size_t n = strlen(p);
      while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) p[--n] = '\0';
      if (v->n == GRAFT_CONFIG_MAX_LIST || v->n == k->nmax) {
        snprintf(why, len, "expected at most %d %s", k->nmax, kind);
        return 0;
      }
      double x = 0;
      int64_t xi = 0;
      if (k->type == GRAFT_CFG_INTS ? !parse_int(p, &xi) : !parse_float(p, &x)) {
        snprintf(why, len, "'%s' is not %s; expected %s separated by commas", p,
                 k->type == GRAFT_CFG_INTS ? "an integer" : "a number", kind);
        return 0;
      }
      if (k->type == GRAFT_CFG_INTS) x = (double)xi;
      if (!in_range(k, x, why, len)) return 0;
      if (k->type == GRAFT_CFG_INTS)
        v->ints[v->n] = (int)xi;
      else
        v->floats[v->n] = (float)x;
      v->n++;
      if (!comma) break;
      p = comma + 1;
    }
  }
  if (v->n < k->nmin) {
    if (k->nmin == k->nmax)
      snprintf(why, len, "expected %d %s separated by commas", k->nmin, kind);
    else
      snprintf(why, len, "expected at least %d %s", k->nmin, kind);
    return 0;
  }
  return 1;
}

/* Parses text as key k's value into v (text not stored). Returns 1, or 0
 * with the reason in why. */
static int parse_value(const graft_cfg_key *k, const char *text, struct graft_config_value *v,
                       char *why, size_t len) {
  switch (k->type) {
    case GRAFT_CFG_INT:
      if (!parse_int(text, &v->i)) {
        snprintf(why, len, "expected an integer");
        return 0;
      }
      return in_range(k, (double)v->i, why, len);
    case GRAFT_CFG_FLOAT:
      if (!parse_float(text, &v->f)) {
        snprintf(why, len, "expected a number");
        return 0;
      }
      return in_range(k, v->f, why, len);
    case GRAFT_CFG_BOOL: {
      int idx = choice_index("0|1|false|true|no|yes|off|on", text);
      if (idx < 0) {
        snprintf(why, len, "expected 0 or 1 (or false/true, no/yes, off/on)");
        return 0;
      }
      v->i = idx % 2;
      return 1;
    }
    case GRAFT_CFG_STRING: return 1;
    case GRAFT_CFG_CHOICE: {
      int idx = choice_index(k->choices, text);
      if (idx < 0) {
        char near[64], h[96];
        hint(h, sizeof h, nearest_choice(k->choices, text, near, sizeof near));
        snprintf(why, len, "expected one of %s%s", k->choices, h);
        return 0;
      }
      v->i = idx;
      return 1;
    }
    case GRAFT_CFG_INTS:
    case GRAFT_CFG_FLOATS: return parse_list(k, text, v, why, len);
  }
  return 0;
}

graft_status graft_cfg_assign(graft_config *cfg, int ki, const char *text, const char *file,
                              int line, const char *where) {
  const graft_cfg_key *k = &graft_cfg_schema[ki];
  if (strlen(text) >= GRAFT_CFG_MAX_LINE)
    GRAFT_FAIL(GRAFT_EINVAL, "%s: %s: value longer than %d characters", where, k->key,
               GRAFT_CFG_MAX_LINE - 1);
  if (has_ctrl(text))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: %s: value contains a control character", where, k->key);
  if (graft_cfg_needs_quotes(text) && strchr(text, '"'))
    GRAFT_FAIL(GRAFT_EINVAL,
               "%s: %s = %s: a value with surrounding blanks or comment characters cannot "
               "also contain '\"'",
               where, k->key, text);
  struct graft_config_value tmp = {0};
  char why[256];
  if (!parse_value(k, text, &tmp, why, sizeof why))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: %s = %s: %s", where, k->key, text, why);
  char *copy = strdup(text);
  if (!copy) GRAFT_FAIL(GRAFT_ENOMEM, "%s: out of memory", where);
  struct graft_config_value *v = &cfg->v[ki];
  free(v->text);
  *v = tmp;
  v->text = copy;
  v->set = 1;
  v->file = file;
  v->line = line;
  return GRAFT_OK;
}

graft_status graft_cfg_find_key(const char *name, const char *section, const char *where, int *ki) {
  char sec[128] = "";
  const char *key = name;
  const char *dot = strchr(name, '.');
  if (dot) {
    size_t n = (size_t)(dot - name);
    if (n >= sizeof sec) n = sizeof sec - 1;
    memcpy(sec, name, n);
    sec[n] = '\0';
    key = dot + 1;
    if (!graft_cfg_section_known(sec)) return graft_cfg_unknown_section(where, sec);
    section = sec;
  }
  *ki = key_index(key);
  if (*ki < 0) {
    char h[96];
    hint(h, sizeof h, nearest_key(key));
    if (section) GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown key '%s' in [%s]%s", where, key, section, h);
    GRAFT_FAIL(GRAFT_EINVAL, "%s: unknown key '%s'%s", where, key, h);
  }
  if (section && strcmp(section, graft_cfg_schema[*ki].section))
    GRAFT_FAIL(GRAFT_EINVAL, "%s: key '%s' belongs in [%s], not [%s]", where, key,
               graft_cfg_schema[*ki].section, section);
  return GRAFT_OK;
}

/* ---- life cycle --------------------------------------------------------- */

graft_status graft_config_init(graft_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->v = calloc((size_t)graft_cfg_nkeys, sizeof *cfg->v);
  if (!cfg->v) GRAFT_FAIL(GRAFT_ENOMEM, "config: out of memory");
  for (int i = 0; i < graft_cfg_nkeys; i++) {
    graft_status s = graft_cfg_assign(cfg, i, graft_cfg_schema[i].def, NULL, 0, "config default");
    if (s != GRAFT_OK) {
      graft_config_free(cfg);
      return s;
    }
    cfg->v[i].set = 0;
  }
  return GRAFT_OK;
}

void graft_config_free(graft_config *cfg) {
  if (cfg->v)
    for (int i = 0; i < graft_cfg_nkeys; i++) free(cfg->v[i].text);
  free(cfg->v);
  for (int i = 0; i < cfg->nfiles; i++) free(cfg->files[i]);
  memset(cfg, 0, sizeof *cfg);
}

/* ---- the command line --------------------------------------------------- */

graft_status graft_config_set(graft_config *cfg, const char *arg) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) GRAFT_FAIL(GRAFT_EINVAL, "command line: expected key=value, got '%s'", arg);
  char key[128];
  size_t n = (size_t)(eq - arg);
  if (n >= sizeof key) GRAFT_FAIL(GRAFT_EINVAL, "command line: key too long in '%s'", arg);
  memcpy(key, arg, n);
  key[n] = '\0';
  int ki;
  GRAFT_TRY(graft_cfg_find_key(key, NULL, "command line", &ki));
  return graft_cfg_assign(cfg, ki, eq + 1, NULL, 0, "command line");
}

graft_status graft_config_args(graft_config *cfg, int argc, char **argv, const char **positional,
                               int max_positional, int *npositional) {
  if (npositional) *npositional = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
      if (i + 1 == argc) GRAFT_FAIL(GRAFT_EINVAL, "command line: %s needs a file name", a);
      GRAFT_TRY(graft_config_load(cfg, argv[++i]));
    } else if (!strncmp(a, "--config=", 9)) {
      GRAFT_TRY(graft_config_load(cfg, a + 9));
    } else if (!strchr(a, '=')) {
      if (!positional || !npositional || *npositional == max_positional)
        GRAFT_FAIL(GRAFT_EINVAL, "command line: unexpected argument '%s'", a);
      positional[(*npositional)++] = a;
    }
  }
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
      i++;
    } else if (strncmp(a, "--config=", 9) && strchr(a, '=')) {
      GRAFT_TRY(graft_config_set(cfg, a));
    }
  }
  return GRAFT_OK;
}

graft_status graft_config_check(const graft_config *cfg) {
  for (int i = 0; i < graft_cfg_nkeys; i++) {
    const graft_cfg_key *k = &graft_cfg_schema[i];
    if (!(k->flags & GRAFT_CFG_REQUIRED) || cfg->v[i].text[0]) continue;
    char files[512] = "";
    for (int f = 0; f < cfg->nfiles; f++) {
      if (f) strncat(files, ", ", sizeof files - strlen(files) - 1);
      strncat(files, cfg->files[f], sizeof files - strlen(files) - 1);
    }
    GRAFT_FAIL(GRAFT_EINVAL,
               "%s: required key '%s' is not set; set it under [%s] in a config file "
               "or as %s=... on the command line",
               cfg->nfiles ? files : "command line", k->key, k->section, k->key);
  }
  return GRAFT_OK;
}

/* ---- getters ------------------------------------------------------------ */

static graft_status get(const graft_config *cfg, const char *key, graft_cfg_type want,
                        const char *what, const struct graft_config_value **v) {
  int ki = key_index(key);
  if (ki < 0) {
    char h[96];
    hint(h, sizeof h, nearest_key(key));
    GRAFT_FAIL(GRAFT_ENOTFOUND, "config: no key '%s'%s", key, h);
  }
  if (what && graft_cfg_schema[ki].type != want)
    GRAFT_FAIL(GRAFT_EINVAL, "config: key '%s' is not %s", key, what);
  *v = &cfg->v[ki];
  return GRAFT_OK;
}

graft_status graft_config_int(const graft_config *cfg, const char *key, int *out) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_INT, "an integer", &v));
  if (v->i < -2147483647 - 1 || v->i > 2147483647)
    GRAFT_FAIL(GRAFT_EINVAL, "config: %s = %lld does not fit an int", key, (long long)v->i);
  *out = (int)v->i;
  return GRAFT_OK;
}

graft_status graft_config_int64(const graft_config *cfg, const char *key, int64_t *out) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_INT, "an integer", &v));
  *out = v->i;
  return GRAFT_OK;
}

graft_status graft_config_float(const graft_config *cfg, const char *key, float *out) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_FLOAT, "a number", &v));
  *out = (float)v->f;
  return GRAFT_OK;
}

graft_status graft_config_bool(const graft_config *cfg, const char *key, int *out) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_BOOL, "a 0/1 switch", &v));
  *out = (int)v->i;
  return GRAFT_OK;
}

graft_status graft_config_str(const graft_config *cfg, const char *key, const char **out) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_STRING, NULL, &v));
  *out = v->text[0] ? v->text : NULL;
  return GRAFT_OK;
}

graft_status graft_config_ints(const graft_config *cfg, const char *key, const int **out, int *n) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_INTS, "a list of integers", &v));
  *out = v->ints;
  *n = v->n;
  return GRAFT_OK;
}

graft_status graft_config_floats(const graft_config *cfg, const char *key, const float **out,
                                 int *n) {
  const struct graft_config_value *v;
  GRAFT_TRY(get(cfg, key, GRAFT_CFG_FLOATS, "a list of numbers", &v));
  *out = v->floats;
  *n = v->n;
  return GRAFT_OK;
}

int graft_config_is_set(const graft_config *cfg, const char *key) {
  int ki = key_index(key);
  return ki < 0 ? -1 : cfg->v[ki].set;
}

int graft_config_is_default(const graft_config *cfg, const char *key) {
  int ki = key_index(key);
  if (ki < 0) return -1;
  const graft_cfg_key *k = &graft_cfg_schema[ki];
  const struct graft_config_value *v = &cfg->v[ki];
  struct graft_config_value d = {0};
  char why[256];
  if (!parse_value(k, k->def, &d, why, sizeof why)) return 0; /* init checked every default */
  switch (k->type) {
    case GRAFT_CFG_INT:
    case GRAFT_CFG_BOOL:
    case GRAFT_CFG_CHOICE: return v->i == d.i;
    case GRAFT_CFG_FLOAT: return v->f == d.f;
    case GRAFT_CFG_STRING: return !strcmp(v->text, k->def);
    case GRAFT_CFG_INTS:
      return v->n == d.n && !memcmp(v->ints, d.ints, (size_t)d.n * sizeof *d.ints);
    case GRAFT_CFG_FLOATS:
      if (v->n != d.n) return 0;
      for (int i = 0; i < d.n; i++)
        if (v->floats[i] != d.floats[i]) return 0;
      return 1;
  }
  return 0;
}

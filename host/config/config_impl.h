/* config_impl.h: what the configuration's own files share and callers never
 * see: the schema row type, the table (config_schema.c), the stored value
 * of a key, and the checks and lookups config.c provides to the INI reader
 * and writer (config_ini.c). */
#ifndef GRAFT_CONFIG_IMPL_H
#define GRAFT_CONFIG_IMPL_H

#include <stdint.h>

#include "config/config.h"

#define GRAFT_CFG_MAX_LINE 4096 /* characters of one line or value */

typedef enum {
  GRAFT_CFG_INT,
  GRAFT_CFG_FLOAT,
  GRAFT_CFG_BOOL,
  GRAFT_CFG_STRING,
  GRAFT_CFG_CHOICE,
  GRAFT_CFG_INTS,
  GRAFT_CFG_FLOATS
} graft_cfg_type;

enum {
  GRAFT_CFG_REQUIRED = 1, /* graft_config_check fails while the value is empty */
  GRAFT_CFG_NOSAVE = 2,   /* per invocation: not written by graft_config_write */
  GRAFT_CFG_LO_OPEN = 4,  /* the value must be greater than lo, not equal */
  GRAFT_CFG_HI_OPEN = 8,  /* the value must be less than hi, not equal */
};

/* One schema row: one key. */
typedef struct {
  const char *section;
  const char *key;
  graft_cfg_type type;
  const char *def;     /* the default, as it is written in a file */
  double lo, hi;       /* numbers and list elements: the allowed range */
  int flags;
  const char *choices; /* GRAFT_CFG_CHOICE: "a|b|c" */
  int nmin, nmax;      /* lists: element counts allowed */
  const char *help;
} graft_cfg_key;

/* Every key, grouped by section in the order the writer and the help print
 * them. Keys are unique across sections. */
extern const graft_cfg_key graft_cfg_schema[];
extern const int graft_cfg_nkeys;

struct graft_config_value {
  char *text;        /* the value as written, quotes removed (malloc'd) */
  int set;           /* given in a file or on the command line */
  const char *file;  /* where it was set: one of cfg->files, or NULL for the command line */
  int line;
  int64_t i;         /* INT, BOOL (0/1), CHOICE (index) */
  double f;          /* FLOAT */
  int n;             /* list elements */
  int ints[GRAFT_CONFIG_MAX_LIST];     /* INTS */
  float floats[GRAFT_CONFIG_MAX_LIST]; /* FLOATS */
};

/* Whether section names a schema section. */
int graft_cfg_section_known(const char *section);
/* Logs "where: unknown section [name] (did you mean ...)" and returns
 * GRAFT_EINVAL. */
graft_status graft_cfg_unknown_section(const char *where, const char *name);

/* Finds the key named name, which may be "section.key"; in a file, section
 * is the current section (NULL before the first header). Errors name where
 * and suggest the nearest key. */
graft_status graft_cfg_find_key(const char *name, const char *section, const char *where, int *ki);

/* Validates text as key ki's value and stores it with its origin (file
 * NULL: the command line). where prefixes any error message. */
graft_status graft_cfg_assign(graft_config *cfg, int ki, const char *text, const char *file,
                              int line, const char *where);

/* A value that a file can hold only in double quotes: surrounding blanks,
 * a leading quote or comment character, or a comment character after a
 * blank. */
int graft_cfg_needs_quotes(const char *s);

#endif

/* config.h: training configuration. Every key graft train, eval and predict
 * read is one row of a schema table in config.c (section, key, type,
 * default, range or choices, one line of help); nothing here is written
 * per key. A configuration starts at the defaults, then INI files are read
 * over it in order, then command-line `key=value` (or `section.key=value`)
 * overrides win over every file. Unknown keys and sections, bad values,
 * duplicate keys within a file, malformed lines and missing required keys
 * are errors naming the file, the line and the key, with the closest valid
 * key (or choice) suggested. The resolved configuration can be written back
 * as INI, and reading that file reproduces it. */
#ifndef GRAFT_CONFIG_H
#define GRAFT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#define GRAFT_CONFIG_MAX_FILES 8 /* INI files one configuration may read */
#define GRAFT_CONFIG_MAX_LIST 16 /* elements of a list value */

struct graft_config_value;

typedef struct {
  struct graft_config_value *v;        /* (number of schema keys) */
  char *files[GRAFT_CONFIG_MAX_FILES]; /* the files read, for messages */
  int nfiles;
} graft_config;

/* Every key at its default. Fails only on allocation or on a schema row
 * whose default does not pass its own checks. */
graft_status graft_config_init(graft_config *cfg);
/* Safe on a zeroed or partly built configuration. */
void graft_config_free(graft_config *cfg);

/* Reads an INI file over the current values: `[section]` headers, `key =
 * value` lines, blank lines and `#` or `;` comments (whole lines, or after
 * whitespace at the end of a value). A value in double quotes keeps its
 * spaces and comment characters. Keys before any section header are
 * accepted; inside a section a key must belong to it. A key given twice in
 * one file is an error; a later file overrides an earlier one. */
graft_status graft_config_load(graft_config *cfg, const char *path);

/* One command-line override, "key=value" or "section.key=value". */
graft_status graft_config_set(graft_config *cfg, const char *arg);

/* A command line (the arguments after the command name): every `-c FILE`,
 * `--config FILE` or `--config=FILE` is loaded, in order, and then every
 * `key=value` is applied, wherever it stands, so the command line always
 * wins. Other arguments are returned in positional (pointers into argv, at
 * most max_positional; more is an error). positional may be NULL when the
 * command takes none. */
graft_status graft_config_args(graft_config *cfg, int argc, char **argv, const char **positional,
                               int max_positional, int *npositional);

/* Errors on required keys that are still unset (data), naming the files
 * read and how to set the key. */
graft_status graft_config_check(const graft_config *cfg);

/* Writes every saved key (all but per-invocation keys such as resume) as
 * INI, atomically: passed back with -c it reproduces this configuration. */
graft_status graft_config_write(const graft_config *cfg, const char *path);

/* Every key by section, with its default, its type, range or choices and
 * its help, for `graft train --help`. */
void graft_config_print_help(FILE *f);

/* Typed getters by key name. Asking for an unknown key, or with the wrong
 * type, is a programming error: logged, GRAFT_ENOTFOUND or GRAFT_EINVAL.
 * graft_config_str works on every key and returns the value's text
 * (choices as their name); an empty value reads as NULL. Lists give a
 * pointer into cfg, valid until it is freed or changed. */
graft_status graft_config_int(const graft_config *cfg, const char *key, int *out);
graft_status graft_config_int64(const graft_config *cfg, const char *key, int64_t *out);
graft_status graft_config_float(const graft_config *cfg, const char *key, float *out);
graft_status graft_config_bool(const graft_config *cfg, const char *key, int *out);
graft_status graft_config_str(const graft_config *cfg, const char *key, const char **out);
graft_status graft_config_ints(const graft_config *cfg, const char *key, const int **out, int *n);
graft_status graft_config_floats(const graft_config *cfg, const char *key, const float **out,
                                 int *n);

/* Whether the key was given in a file or on the command line (1) or not
 * (0); -1 for an unknown key. */
int graft_config_is_set(const graft_config *cfg, const char *key);

/* Whether the key's value equals its default (1) or not (0), compared as
 * values ("0.10" equals "0.1", "yes" equals "1"), whether it was given or
 * not: a run folder's config.ini gives every key. -1 for an unknown key. */
int graft_config_is_default(const graft_config *cfg, const char *key);

#endif

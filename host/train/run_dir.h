/* run_dir.h: the run folder of `graft train`: creating it (runs/<name>,
 * runs/<name>-2, ... so an earlier run is never overwritten), paths inside
 * it, and appending lines to its logs. */
#ifndef GRAFT_RUN_DIR_H
#define GRAFT_RUN_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Creates parent (and its parents) and a new folder parent/name, or
 * parent/name-2 and so on when taken; the chosen path goes to out. */
graft_status graft_run_dir_create(const char *parent, const char *name, char *out, size_t len);
/* Creates path and any missing parents (mode 0755). */
graft_status graft_mkdirs(const char *path);
/* Appends text (a whole line) to dir/file, creating it. */
graft_status graft_run_append(const char *dir, const char *file, const char *text);
/* Cuts dir/file back to its first `lines` complete lines (a missing file is
 * fine): on resume, metrics.jsonl keeps one line per epoch the checkpoint
 * holds, dropping what a run stopped before its checkpoint logged. */
graft_status graft_run_keep_lines(const char *dir, const char *file, int64_t lines);

/* Removes what interrupted atomic writes left in dir: files named
 * "<name>.tmp.<digits>" (see io/fileio.h). Call only when no other process
 * writes to dir, as on resume. Returns how many were removed. */
int graft_run_remove_temps(const char *dir);

#endif

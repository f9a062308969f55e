/* log.c: the logger. Messages at or above the level go to stderr as
 * "graft: <level>: <message> [file:line]"; the level starts at INFO and can
 * be set with GRAFT_LOG=debug|info|warn|error|silent. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int log_level = -1;
/* A second sink for the run's log file; set by the training loop only. */
static FILE *log_file = NULL;

void graft_log_set_file(FILE *f) { log_file = f; }

static graft_log_level level_from_env(void) {
  const char *v = getenv("GRAFT_LOG");
  if (!v) return GRAFT_LOG_INFO;
  if (!strcmp(v, "debug")) return GRAFT_LOG_DEBUG;
  if (!strcmp(v, "warn")) return GRAFT_LOG_WARN;
  if (!strcmp(v, "error")) return GRAFT_LOG_ERROR;
  if (!strcmp(v, "silent")) return GRAFT_LOG_SILENT;
  return GRAFT_LOG_INFO;
}

void graft_log_set_level(graft_log_level level) { log_level = (int)level; }

graft_log_level graft_log_get_level(void) {
  if (log_level < 0) log_level = (int)level_from_env();
  return (graft_log_level)log_level;
}

void graft_log(graft_log_level level, const char *file, int line, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warning", "error"};
  if (level < graft_log_get_level() || level >= GRAFT_LOG_SILENT) return;
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  FILE *sinks[2] = {stderr, log_file};
  for (int i = 0; i < 2 && sinks[i]; i++) {
    if (level == GRAFT_LOG_INFO)
      fprintf(sinks[i], "graft: %s\n", msg);
    else
      fprintf(sinks[i], "graft: %s: %s [%s:%d]\n", names[level], msg, base, line);
  }
  if (log_file) fflush(log_file);
}

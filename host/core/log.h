/* log.h: leveled logging to stderr with the source file and line of the
 * call. Library code logs the context of a failure where it finds it and
 * returns a status; only main() exits. */
#ifndef GRAFT_LOG_H
#define GRAFT_LOG_H

#include <stdio.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { GRAFT_LOG_DEBUG, GRAFT_LOG_INFO, GRAFT_LOG_WARN, GRAFT_LOG_ERROR, GRAFT_LOG_SILENT } graft_log_level;

void graft_log_set_level(graft_log_level level);
/* Also appends every message at or above the level to f (a run's log
 * file); NULL stops that. The caller keeps f open meanwhile. */
void graft_log_set_file(FILE *f);
graft_log_level graft_log_get_level(void);
void graft_log(graft_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define GRAFT_DEBUG(...) graft_log(GRAFT_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define GRAFT_INFO(...) graft_log(GRAFT_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define GRAFT_WARN(...) graft_log(GRAFT_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define GRAFT_ERROR(...) graft_log(GRAFT_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

/* Log an error and return the status from the calling function. */
#define GRAFT_FAIL(status, ...)   \
  do {                            \
    GRAFT_ERROR(__VA_ARGS__);     \
    return (status);              \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif

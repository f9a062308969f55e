/* status.h: the status codes every library function returns.
 * The codes and their messages come from one table (GRAFT_STATUS_MAP), so
 * the enum and graft_status_str() cannot drift apart. */
#ifndef GRAFT_STATUS_H
#define GRAFT_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#define GRAFT_STATUS_MAP(X)                                        \
  X(OK, "ok")                                                      \
  X(EINVAL, "invalid argument")                                    \
  X(ENOMEM, "out of memory")                                       \
  X(EIO, "input/output error")                                     \
  X(EFORMAT, "malformed file")                                     \
  X(ESHAPE, "shape mismatch")                                      \
  X(EUNSUPPORTED, "not supported")                                 \
  X(ENOTFOUND, "not found")                                        \
  X(EWORKSPACE, "workspace too small")                             \
  X(EDEVICE, "device error")                                       \
  X(ENUMERIC, "non-finite value")                                  \
  X(EINTERRUPTED, "interrupted")                                   \
  X(ETIMEOUT, "timed out")

typedef enum {
#define GRAFT_STATUS_ENUM(name, msg) GRAFT_##name,
  GRAFT_STATUS_MAP(GRAFT_STATUS_ENUM)
#undef GRAFT_STATUS_ENUM
  GRAFT_STATUS_COUNT
} graft_status;

const char *graft_status_str(graft_status s);
const char *graft_status_name(graft_status s);

/* Evaluate a status expression; return it from the caller when not OK. */
#define GRAFT_TRY(expr)                         \
  do {                                          \
    graft_status graft_try_s_ = (expr);         \
    if (graft_try_s_ != GRAFT_OK) return graft_try_s_; \
  } while (0)

#ifdef __cplusplus
}
#endif

#endif

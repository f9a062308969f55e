/* status.c: messages and names for graft_status, from the one table. */
#include "core/status.h"

const char *graft_status_str(graft_status s) {
  switch (s) {
#define GRAFT_STATUS_MSG(name, msg) case GRAFT_##name: return msg;
    GRAFT_STATUS_MAP(GRAFT_STATUS_MSG)
#undef GRAFT_STATUS_MSG
    default: return "unknown status";
  }
}

const char *graft_status_name(graft_status s) {
  switch (s) {
#define GRAFT_STATUS_NAME(name, msg) case GRAFT_##name: return "GRAFT_" #name;
    GRAFT_STATUS_MAP(GRAFT_STATUS_NAME)
#undef GRAFT_STATUS_NAME
    default: return "GRAFT_?";
  }
}

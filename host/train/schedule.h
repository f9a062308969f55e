/* schedule.h: the learning rate as a function of the optimizer step:
 * linear warm-up, then cosine decay to min_lr, step decay by gamma every
 * step_size epochs, or constant. A pure function of the step, so a resumed
 * run needs no scheduler state. */
#ifndef GRAFT_SCHEDULE_H
#define GRAFT_SCHEDULE_H

#include <stdint.h>

typedef enum { GRAFT_SCHED_COSINE, GRAFT_SCHED_STEP, GRAFT_SCHED_CONSTANT } graft_sched_kind;

typedef struct {
  graft_sched_kind kind;
  double base_lr;
  double min_lr;         /* cosine floor */
  int64_t warmup_steps;  /* linear ramp from base_lr/warmup_steps to base_lr */
  int64_t total_steps;   /* epochs x steps per epoch */
  int64_t steps_per_epoch;
  int step_size;         /* step decay: epochs between decays */
  double gamma;          /* step decay factor */
} graft_schedule;

/* Learning rate for optimizer step `step` (0-based). */
double graft_schedule_lr(const graft_schedule *s, int64_t step);

#endif

/* schedule.c: learning-rate schedules. */
#include "train/schedule.h"

#include <math.h>

double graft_schedule_lr(const graft_schedule *s, int64_t step) {
  if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
  switch (s->kind) {
    case GRAFT_SCHED_COSINE: {
      int64_t span = s->total_steps - s->warmup_steps;
      if (span <= 0) return s->base_lr;
      double t = (double)(step - s->warmup_steps) / (double)span;
      if (t > 1.0) t = 1.0;
      return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(3.141592653589793 * t));
    }
    case GRAFT_SCHED_STEP: {
      int64_t epoch = s->steps_per_epoch > 0 ? step / s->steps_per_epoch : 0;
      int k = s->step_size > 0 ? (int)(epoch / s->step_size) : 0;
      return s->base_lr * pow(s->gamma, k);
    }
    default:
      return s->base_lr;
  }
}

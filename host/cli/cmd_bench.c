/* cmd_bench.c: `graft bench`, training throughput of a model on random
 * data: images per second over timed steps after warm-up. The figure is
 * printed alone on the last line as images_per_sec=X so that scripts can
 * set it beside PyTorch's (tools/bench_cpu.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/log.h"
#include "ops/math.h"
#include "train/trainer.h"

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static graft_status run(graft_args *a) {
  graft_model_args m;
  graft_optim_cfg opt;
  int batch = 32, size = 64, threads = 0, warmup = 2, steps = 5;
  static const char *const devices[] = {"cpu", "gpu", NULL};
  int device = 0;
  GRAFT_TRY(graft_model_args_get(a, &m));
  GRAFT_TRY(graft_optim_args_get(a, &opt));
  GRAFT_TRY(graft_args_int(a, "batch", 32, &batch));
  GRAFT_TRY(graft_args_int(a, "size", 64, &size));
  GRAFT_TRY(graft_args_int(a, "threads", 0, &threads));
  GRAFT_TRY(graft_args_int(a, "warmup", 2, &warmup));
  GRAFT_TRY(graft_args_int(a, "steps", 5, &steps));
  GRAFT_TRY(graft_args_choice(a, "device", devices, 0, &device));
  GRAFT_TRY(graft_args_finish(a));
  if (device != 0) GRAFT_FAIL(GRAFT_EUNSUPPORTED, "device=gpu: this build's bench runs on the CPU backend only");
  if (batch < 1 || size < 8 || steps < 1 || warmup < 0)
    GRAFT_FAIL(GRAFT_EINVAL, "bench needs batch >= 1, size >= 8, steps >= 1, warmup >= 0");

  graft_net net;
  graft_trainer tr;
  graft_ctx ctx;
  memset(&tr, 0, sizeof tr);
  graft_net_init(&net, batch);
  graft_ctx_init_ref(&ctx, threads);
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  graft_status s = labels ? graft_model_build(&net, &m, size, size, 3) : GRAFT_ENOMEM;
  if (s == GRAFT_OK) s = graft_trainer_init(&tr, &net, &ctx, &opt, 0.0f);
  if (s == GRAFT_OK) {
    float *x = graft_net_act(&net, net.input);
    for (size_t i = 0; i < net.values[net.input].count; i++) x[i] = 2.0f * graft_hash_uniform(7, i) - 1.0f;
    for (int b = 0; b < batch; b++) labels[b] = (int32_t)(graft_hash64(11, (uint64_t)b) % (uint64_t)m.num_classes);
  }
  double t0 = 0.0;
  float loss = 0.0f;
  for (int i = 0; i < warmup + steps && s == GRAFT_OK; i++) {
    if (i == warmup) t0 = now_seconds();
    s = graft_trainer_forward_backward(&tr, labels, &loss);
    if (s == GRAFT_OK) s = graft_trainer_update(&tr);
  }
  if (s == GRAFT_OK) {
    double dt = now_seconds() - t0;
    double ips = (double)batch * steps / dt;
    printf("bench: %s batch %d size %dx%d threads %d device cpu: %.1f ms/step, %.1f images/s (loss %.4f)\n",
           m.model, batch, size, size, ctx.threads, 1e3 * dt / steps, ips, (double)loss);
    printf("images_per_sec=%.2f\n", ips);
  }
  graft_trainer_free(&tr);
  graft_net_free(&net);
  free(labels);
  return s;
}

int graft_cmd_bench(int argc, char **argv) {
  graft_args a;
  if (graft_args_parse(&a, argc, argv) != GRAFT_OK) return 2;
  graft_status s = run(&a);
  if (s != GRAFT_OK) {
    GRAFT_ERROR("bench failed: %s", graft_status_str(s));
    return s == GRAFT_EINVAL ? 2 : 1;
  }
  return 0;
}

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
  graft_ctx_args dev;
  int batch = 32, size = 64, warmup = 2, steps = 5, graph = 0;
  GRAFT_TRY(graft_model_args_get(a, &m));
  GRAFT_TRY(graft_optim_args_get(a, &opt));
  GRAFT_TRY(graft_args_int(a, "batch", 32, &batch));
  GRAFT_TRY(graft_args_int(a, "size", 64, &size));
  GRAFT_TRY(graft_args_int(a, "warmup", 2, &warmup));
  GRAFT_TRY(graft_args_int(a, "steps", 5, &steps));
  GRAFT_TRY(graft_args_bool(a, "cuda_graph", 0, &graph));
  GRAFT_TRY(graft_ctx_args_get(a, "cpu", &dev));
  GRAFT_TRY(graft_args_finish(a));
  if (batch < 1 || size < 8 || steps < 1 || warmup < 0)
    GRAFT_FAIL(GRAFT_EINVAL, "bench needs batch >= 1, size >= 8, steps >= 1, warmup >= 0");
  /* A captured step needs one eager step (plan selection) and the capture
   * before it can be timed. */
  if (graph && warmup < 2) warmup = 2;

  graft_net net;
  graft_trainer tr;
  graft_ctx ctx;
  memset(&tr, 0, sizeof tr);
  graft_net_init(&net, batch);
  GRAFT_TRY(graft_ctx_open(&ctx, dev.device, dev.threads, dev.precision));
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  float *x = NULL;
  graft_status s = labels ? graft_model_build(&net, &m, size, size, 3) : GRAFT_ENOMEM;
  if (s == GRAFT_OK) s = graft_trainer_init(&tr, &net, &ctx, &opt, 0.0f);
  if (s == GRAFT_OK && graph) s = graft_trainer_enable_graph(&tr);
  size_t count = s == GRAFT_OK ? net.values[net.input].count : 0;
  if (s == GRAFT_OK && !(x = malloc(count * sizeof *x))) s = GRAFT_ENOMEM;
  if (s == GRAFT_OK) {
    for (size_t i = 0; i < count; i++) x[i] = 2.0f * graft_hash_uniform(7, i) - 1.0f;
    for (int b = 0; b < batch; b++) labels[b] = (int32_t)(graft_hash64(11, (uint64_t)b) % (uint64_t)m.num_classes);
    s = graft_net_write_act(&net, net.input, x, count);
  }
  double t0 = 0.0;
  float loss = 0.0f;
  /* Steps queue up on a GPU: the loss is read (and waited for) only at the
   * end, and the clock starts after the warm-up steps have finished. */
  for (int i = 0; i < warmup + steps && s == GRAFT_OK; i++) {
    if (i == warmup) {
      s = ctx.backend->sync(&ctx);
      t0 = now_seconds();
    }
    if (s == GRAFT_OK) s = graft_trainer_forward_backward(&tr, labels, i + 1 == warmup + steps ? &loss : NULL);
    if (s == GRAFT_OK) s = graft_trainer_update(&tr);
  }
  if (s == GRAFT_OK) s = ctx.backend->sync(&ctx);
  if (s == GRAFT_OK) {
    double dt = now_seconds() - t0;
    double ips = (double)batch * steps / dt;
    printf("bench: %s batch %d size %dx%d threads %d device %s precision %s%s: %.1f ms/step, %.1f images/s "
           "(loss %.4f)\n",
           m.model, batch, size, size, ctx.threads, ctx.backend->name, graft_precision_name(ctx.precision),
           tr.graph ? " cuda_graph" : "", 1e3 * dt / steps, ips, (double)loss);
    printf("images_per_sec=%.2f\n", ips);
  }
  graft_trainer_free(&tr);
  graft_net_free(&net);
  graft_ctx_close(&ctx);
  free(labels);
  free(x);
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

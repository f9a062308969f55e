/* test_freeze_backward.c: backward skips what freezing makes useless.
 * With the backbone frozen only the head runs backward; with the stem and
 * layer1 frozen, backward stops at layer2. The gradients that are still
 * computed must equal those of a run with nothing frozen bit for bit, and
 * the skipped ones stay zero. The time of each backward is printed beside
 * the full one (not asserted: timings are the benchmarks' business). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <math.h>

#include "cli/model_args.h"
#include "nn/layer.h"
#include "ops/math.h"
#include "train/trainer.h"

#define BATCH 2
#define SIZE 32
#define CLASSES 4

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 0 stem, 1..4 layerN, 5 head (as train.c's freeze= stages). */
static int stage(const graft_param *p) {
  if (p->group == 1) return 5;
  if (!strncmp(p->name, "layer", 5)) return p->name[5] - '0';
  return 0;
}

/* One forward and backward of resnet18 with every slot of a stage up to
 * frozen_upto frozen (-1: none); returns the gradient arena's copy and the
 * seconds the backward took. */
static float *grads_with(int frozen_upto, size_t *n, double *seconds, float *act_grad_in, size_t *nact) {
  graft_net net;
  graft_ctx ctx;
  graft_trainer tr;
  graft_ctx_init_ref(&ctx, 2);
  graft_net_init(&net, BATCH);
  graft_model_args m = {.model = "resnet18", .num_classes = CLASSES, .weights = "hash:9", .seed = 1};
  assert_int_equal(graft_model_build(&net, &m, SIZE, SIZE, 3), GRAFT_OK);
  graft_optim_cfg opt;
  graft_optim_cfg_default(&opt, GRAFT_OPTIM_SGD);
  assert_int_equal(graft_trainer_init(&tr, &net, &ctx, &opt, 0.0f), GRAFT_OK);
  for (int i = 0; i < net.nparams; i++) {
    const graft_param *p = &net.params[i];
    if (p->slot >= 0) net.slots[p->slot].frozen = stage(p) <= frozen_upto;
  }
  size_t count = net.values[net.input].count;
  float *x = malloc(count * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < count; i++) x[i] = 2.0f * graft_hash_uniform(4, i) - 1.0f;
  int32_t labels[BATCH] = {1, 3};
  assert_int_equal(graft_net_write_act(&net, net.input, x, count), GRAFT_OK);
  /* Time the backward alone: forward and loss run first, then backward again. */
  float loss = 0.0f;
  assert_int_equal(graft_trainer_forward_backward(&tr, labels, &loss), GRAFT_OK);
  double t0 = now();
  for (int r = 0; r < 3; r++) {
    assert_int_equal(graft_net_zero_grads(&net, &ctx), GRAFT_OK);
    float one = 1.0f;
    assert_int_equal(ctx.backend->xent_backward(&ctx, &tr.xent, graft_net_act(&net, net.output), tr.labels, &one,
                                                graft_net_act_grad(&net, net.output)),
                     GRAFT_OK);
    assert_int_equal(graft_net_backward(&net, &ctx), GRAFT_OK);
  }
  *seconds = (now() - t0) / 3;
  *n = net.grad.cap;
  float *g = malloc(*n * sizeof *g);
  assert_non_null(g);
  memcpy(g, net.grad.data, *n * sizeof *g);
  /* The gradient reaching the output of layer1 (the input of layer2.0). */
  int conv = -1;
  for (int i = 0; i < net.nlayers; i++)
    if (!strcmp(net.layers[i]->name, "layer2.0.conv1")) conv = i;
  assert_true(conv >= 0);
  int v = net.layers[conv]->in[0];
  *nact = net.values[v].count;
  memcpy(act_grad_in, graft_net_act_grad(&net, v), *nact * sizeof(float));
  free(x);
  graft_trainer_free(&tr);
  graft_net_free(&net);
  return g;
}

/* Checks every parameter: stages up to frozen_upto have zero gradients,
 * the rest equal the full run's bits. */
static void compare(int frozen_upto) {
  static float act_full[BATCH * 8 * 8 * 64], act_frozen[BATCH * 8 * 8 * 64];
  size_t n_full = 0, n = 0, na = 0, nb = 0;
  double t_full = 0.0, t_frozen = 0.0;
  float *full = grads_with(-1, &n_full, &t_full, act_full, &na);
  float *frozen = grads_with(frozen_upto, &n, &t_frozen, act_frozen, &nb);
  assert_int_equal(n, n_full);
  graft_net net;
  graft_net_init(&net, BATCH);
  graft_model_args m = {.model = "resnet18", .num_classes = CLASSES, .weights = "hash:9", .seed = 1};
  assert_int_equal(graft_model_build(&net, &m, SIZE, SIZE, 3), GRAFT_OK);
  int zero_params = 0, same_params = 0;
  for (int i = 0; i < net.nparams; i++) {
    const graft_param *p = &net.params[i];
    if (p->kind != GRAFT_PARAM_WEIGHT) continue;
    const float *a = full + p->offset, *b = frozen + p->offset;
    if (stage(p) <= frozen_upto) {
      for (size_t j = 0; j < p->count; j++)
        if (b[j] != 0.0f) fail_msg("%s is frozen but got gradient %g at %zu", p->name, (double)b[j], j);
      zero_params++;
    } else {
      if (memcmp(a, b, p->count * sizeof(float)))
        fail_msg("%s: its gradient differs from the run with nothing frozen", p->name);
      same_params++;
    }
  }
  /* layer1's output gradient is only needed when layer1 or the stem trains. */
  float most = 0.0f;
  for (size_t j = 0; j < nb; j++) most = fabsf(act_frozen[j]) > most ? fabsf(act_frozen[j]) : most;
  if (frozen_upto >= 1) assert_true(most == 0.0f);
  else assert_memory_equal(act_full, act_frozen, na * sizeof(float));
  printf("frozen up to stage %d: %d parameters skipped, %d identical; backward %.1f ms against %.1f ms "
         "with nothing frozen (%.2fx)\n",
         frozen_upto, zero_params, same_params, 1e3 * t_frozen, 1e3 * t_full, t_full / t_frozen);
  assert_true(zero_params > 0 && same_params > 0);
  graft_net_free(&net);
  free(full);
  free(frozen);
}

static void test_backbone_frozen(void **state) {
  (void)state;
  compare(4);
}

static void test_stem_and_layer1_frozen(void **state) {
  (void)state;
  compare(1);
}

static void test_nothing_frozen_stem_only(void **state) {
  (void)state;
  compare(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backbone_frozen),
      cmocka_unit_test(test_stem_and_layer1_frozen),
      cmocka_unit_test(test_nothing_frozen_stem_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_placement.c: a net placed in a backend's own memory trains exactly
 * as one that runs on the host arenas. The CUDA backend keeps the net,
 * the optimizer state, the weight average, labels and losses in device
 * memory and moves them only at pull and push; this test runs the same
 * code paths on a machine without a GPU by giving the CPU reference a
 * table that claims separate memory (host_memory = 0), so every buffer is
 * a distinct allocation that reaches the host only through upload and
 * download. A missed push (weights loaded but not uploaded), a missed
 * pull (a file written from stale host copies) or an op handed a host
 * pointer shows up as a difference from the plain run, which must match
 * it bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/model_args.h"
#include "ops/math.h"
#include "ops/ops.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

#define BATCH 4
#define SIZE 12
#define CLASSES 3
#define STEPS 3

/* Everything a run produces, in host memory. */
typedef struct {
  float loss[STEPS + 1];
  float *param, *grad, *buffer, *state, *ema; /* copies of the host arenas after pull */
  size_t nparam, nbuffer, nstate;
  float logits[BATCH * CLASSES], eval_logits[BATCH * CLASSES];
  int64_t tracked; /* num_batches_tracked of bn1 */
} result;

static void result_free(result *r) {
  free(r->param);
  free(r->grad);
  free(r->buffer);
  free(r->state);
  free(r->ema);
}

static float *copy_of(const float *src, size_t n) {
  float *d = malloc((n ? n : 1) * sizeof *d);
  assert_non_null(d);
  memcpy(d, src, n * sizeof *d);
  return d;
}

static void build(graft_net *net, graft_ctx *ctx, graft_trainer *tr, const graft_backend *be) {
  graft_ctx_init_ref(ctx, 2);
  ctx->backend = be;
  graft_net_init(net, BATCH);
  graft_model_args m = {.model = "resnet8", .num_classes = CLASSES, .weights = "hash:5", .seed = 3};
  assert_int_equal(graft_model_build(net, &m, SIZE, SIZE, 3), GRAFT_OK);
  graft_optim_cfg opt;
  graft_optim_cfg_default(&opt, GRAFT_OPTIM_ADAMW);
  opt.lr = 0.01f;
  assert_int_equal(graft_trainer_init(tr, net, ctx, &opt, 0.1f), GRAFT_OK);
  assert_int_equal(graft_trainer_enable_ema(tr, 0.9f), GRAFT_OK);
  const float weights[CLASSES] = {0.5f, 1.0f, 2.0f};
  assert_int_equal(graft_trainer_set_class_weight(tr, weights), GRAFT_OK);
}

static void input(float *x, int32_t *labels, size_t n, int round) {
  for (size_t i = 0; i < n; i++) x[i] = 2.0f * graft_hash_uniform(100 + (uint64_t)round, i) - 1.0f;
  for (int b = 0; b < BATCH; b++) labels[b] = (int32_t)((b + round) % CLASSES);
}

static void one_step(graft_net *net, graft_trainer *tr, int round, float *loss) {
  size_t n = net->values[net->input].count;
  float *x = malloc(n * sizeof *x);
  int32_t labels[BATCH];
  assert_non_null(x);
  input(x, labels, n, round);
  assert_int_equal(graft_net_write_act(net, net->input, x, n), GRAFT_OK);
  assert_int_equal(graft_trainer_forward_backward(tr, labels, loss), GRAFT_OK);
  assert_int_equal(graft_trainer_clip(tr, 0.5f), GRAFT_OK);
  assert_int_equal(graft_trainer_update(tr), GRAFT_OK);
  free(x);
}

/* STEPS steps, a checkpoint written after them and read into a fresh net
 * and trainer, which takes one more step; then every output. */
static void run(const graft_backend *be, result *r, const char *ckpt) {
  graft_net net;
  graft_ctx ctx;
  graft_trainer tr;
  build(&net, &ctx, &tr, be);
  float *initial = copy_of(net.param.data, net.param.cap);
  for (int i = 0; i < STEPS; i++) one_step(&net, &tr, i, &r->loss[i]);
  if (!be->host_memory) {
    /* Nothing has come back yet: the host copy still holds the loaded weights. */
    assert_memory_equal(net.param.data, initial, net.param.cap * sizeof(float));
  }
  free(initial);
  assert_int_equal(graft_net_read_act(&net, net.output, r->logits, BATCH * CLASSES), GRAFT_OK);
  graft_progress pr = {.epoch = 1};
  assert_int_equal(graft_checkpoint_save(ckpt, &net, &tr, &pr, NULL, 0), GRAFT_OK);

  graft_net net2;
  graft_ctx ctx2;
  graft_trainer tr2;
  build(&net2, &ctx2, &tr2, be);
  graft_progress pr2;
  assert_int_equal(graft_checkpoint_load(ckpt, &net2, &tr2, &pr2), GRAFT_OK);
  assert_int_equal(pr2.epoch, 1);
  one_step(&net2, &tr2, STEPS, &r->loss[STEPS]);
  assert_int_equal(graft_net_forward(&net2, &ctx2, 0), GRAFT_OK);
  assert_int_equal(graft_net_read_act(&net2, net2.output, r->eval_logits, BATCH * CLASSES), GRAFT_OK);

  assert_int_equal(graft_net_pull(&net2, GRAFT_NET_WEIGHTS | GRAFT_NET_GRADS), GRAFT_OK);
  assert_int_equal(graft_trainer_pull(&tr2), GRAFT_OK);
  r->nparam = net2.param.cap;
  r->nbuffer = net2.buffer.cap;
  r->nstate = tr2.state.cap;
  r->param = copy_of(net2.param.data, r->nparam);
  r->grad = copy_of(net2.grad.data, r->nparam);
  r->buffer = copy_of(net2.buffer.data, r->nbuffer);
  r->state = copy_of(tr2.state.data, r->nstate);
  /* The average, seen the way train.c saves ema.safetensors. */
  graft_trainer_swap_ema(&tr2);
  assert_int_equal(graft_net_pull(&net2, GRAFT_NET_WEIGHTS), GRAFT_OK);
  r->ema = copy_of(net2.param.data, r->nparam);
  graft_trainer_swap_ema(&tr2);
  r->tracked = net2.params[graft_net_find_param(&net2, "bn1.num_batches_tracked")].counter;

  graft_trainer_free(&tr2);
  graft_net_free(&net2);
  graft_ctx_close(&ctx2);
  graft_trainer_free(&tr);
  graft_net_free(&net);
  graft_ctx_close(&ctx);
  remove(ckpt);
}

static void expect_same(const char *what, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (memcmp(&a[i], &b[i], sizeof(float))) {
      fail_msg("%s differs at %zu of %zu: host arenas %.9g, separate memory %.9g", what, i, n, (double)a[i],
               (double)b[i]);
    }
  }
}

static void test_separate_memory_matches(void **state) {
  (void)state;
  graft_backend separate = graft_backend_ref;
  separate.host_memory = 0;
  char a_path[256], b_path[256];
  const char *dir = getenv("GRAFT_BINARY_DIR");
  snprintf(a_path, sizeof a_path, "%s/placement_a_%d.safetensors", dir ? dir : ".", (int)getpid());
  snprintf(b_path, sizeof b_path, "%s/placement_b_%d.safetensors", dir ? dir : ".", (int)getpid());
  result a = {0}, b = {0};
  run(&graft_backend_ref, &a, a_path);
  run(&separate, &b, b_path);
  expect_same("loss", a.loss, b.loss, STEPS + 1);
  expect_same("logits", a.logits, b.logits, BATCH * CLASSES);
  expect_same("eval logits", a.eval_logits, b.eval_logits, BATCH * CLASSES);
  assert_int_equal(a.nparam, b.nparam);
  assert_int_equal(a.nstate, b.nstate);
  expect_same("parameters", a.param, b.param, a.nparam);
  expect_same("gradients", a.grad, b.grad, a.nparam);
  expect_same("buffers", a.buffer, b.buffer, a.nbuffer);
  expect_same("optimizer state", a.state, b.state, a.nstate);
  expect_same("weight average", a.ema, b.ema, a.nparam);
  assert_int_equal(a.tracked, STEPS + 1);
  assert_int_equal(b.tracked, STEPS + 1);
  /* The steps did something: the loss moved and the average trails the weights. */
  assert_true(a.loss[0] != a.loss[STEPS]);
  assert_true(memcmp(a.ema, a.param, a.nparam * sizeof(float)) != 0);
  result_free(&a);
  result_free(&b);
}

/* With bf16 activation storage (the GPU's bf16 mode), images pass through
 * the fp32 stage and are rounded to bf16 in the input value; the logits
 * stay fp32. The reference's conversions stand in for the GPU's. */
static void test_bf16_staging(void **state) {
  (void)state;
  graft_backend separate = graft_backend_ref;
  separate.host_memory = 0;
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  ctx.backend = &separate;
  ctx.act_dtype = GRAFT_DTYPE_BF16;
  graft_net net;
  graft_net_init(&net, BATCH);
  graft_model_args m = {.model = "resnet8", .num_classes = CLASSES, .weights = "hash:5", .seed = 3};
  assert_int_equal(graft_model_build(&net, &m, SIZE, SIZE, 3), GRAFT_OK);
  assert_int_equal(graft_net_place(&net, &ctx), GRAFT_OK);
  size_t n = net.values[net.input].count;
  float *x = malloc(n * sizeof *x), *back = malloc(n * sizeof *back);
  assert_non_null(x);
  assert_non_null(back);
  for (size_t i = 0; i < n; i++) x[i] = 2.0f * graft_hash_uniform(77, i) - 1.0f;
  assert_int_equal(graft_net_write_act(&net, net.input, x, n), GRAFT_OK);
  assert_int_equal(graft_net_read_act(&net, net.input, back, n), GRAFT_OK);
  size_t changed = 0;
  for (size_t i = 0; i < n; i++) {
    float want = graft_bf16_roundf(x[i]);
    if (memcmp(&back[i], &want, sizeof want))
      fail_msg("input %zu: %.9g read back, bf16 of %.9g is %.9g", i, (double)back[i], (double)x[i], (double)want);
    changed += back[i] != x[i];
  }
  assert_true(changed > n / 2); /* most floats are not bf16 numbers */
  /* The stored input is 2-byte elements. */
  const uint16_t *bits = (const uint16_t *)graft_net_act(&net, net.input);
  assert_int_equal(bits[n - 1], graft_round_bf16(x[n - 1]));
  /* The device layout gives each value its own bytes: bf16 values take 2
   * per element, the fp32 logits 4, and none overlaps the next or runs past
   * the arena. */
  for (int v = 0; v < net.nvalues; v++) {
    size_t elem = v == net.output ? 4 : 2;
    char *at = (char *)graft_net_act(&net, v), *end = at + net.values[v].count * elem;
    char *next = v + 1 < net.nvalues ? (char *)graft_net_act(&net, v + 1) : (char *)net.run.act + net.act_bytes;
    if (end > next) fail_msg("value %d (%zu elements of %zu bytes) runs %td bytes into the next", v,
                             net.values[v].count, elem, end - next);
    assert_true((at - (char *)net.run.act) % 256 == 0);
  }
  /* The logits are fp32 and pass unchanged. */
  float logits[BATCH * CLASSES], got[BATCH * CLASSES];
  for (int i = 0; i < BATCH * CLASSES; i++) logits[i] = x[i] * 1.000123f;
  assert_int_equal(graft_net_write_act(&net, net.output, logits, BATCH * CLASSES), GRAFT_OK);
  assert_int_equal(graft_net_read_act(&net, net.output, got, BATCH * CLASSES), GRAFT_OK);
  assert_memory_equal(got, logits, sizeof got);
  /* A value larger than the stage cannot be staged; it is refused, not overrun. */
  int big = -1;
  for (int v = 0; v < net.nvalues; v++)
    if (net.values[v].count > n) big = v;
  if (big >= 0) {
    float *tmp = calloc(net.values[big].count, sizeof *tmp);
    assert_non_null(tmp);
    assert_int_equal(graft_net_read_act(&net, big, tmp, net.values[big].count), GRAFT_EUNSUPPORTED);
    free(tmp);
  }
  free(x);
  free(back);
  graft_net_free(&net);
}

/* The CPU reference cannot capture a step; asking for it says so. */
static void test_graph_refused_on_cpu(void **state) {
  (void)state;
  graft_net net;
  graft_ctx ctx;
  graft_trainer tr;
  build(&net, &ctx, &tr, &graft_backend_ref);
  assert_int_equal(graft_trainer_enable_graph(&tr), GRAFT_EUNSUPPORTED);
  graft_trainer_free(&tr);
  graft_net_free(&net);
}

/* device= names are checked before anything is built. */
static void test_ctx_open_names(void **state) {
  (void)state;
  graft_ctx ctx;
  assert_int_equal(graft_ctx_open(&ctx, "cpu", 1, GRAFT_PREC_FP32), GRAFT_OK);
  assert_string_equal(ctx.backend->name, "cpu");
  graft_ctx_close(&ctx);
  assert_int_equal(graft_ctx_open(&ctx, "cpu", 1, GRAFT_PREC_BF16), GRAFT_EINVAL);
  assert_int_equal(graft_ctx_open(&ctx, "tpu", 1, GRAFT_PREC_FP32), GRAFT_EINVAL);
  assert_int_equal(graft_ctx_open(&ctx, "gpu:x", 1, GRAFT_PREC_FP32), GRAFT_EINVAL);
  /* No GPU opener is registered in this program. */
  assert_int_equal(graft_ctx_open(&ctx, "gpu", 1, GRAFT_PREC_FP32), GRAFT_EUNSUPPORTED);
  assert_int_equal(graft_ctx_open(&ctx, "auto", 1, GRAFT_PREC_FP32), GRAFT_OK);
  assert_string_equal(ctx.backend->name, "cpu");
  graft_ctx_close(&ctx);
  assert_int_equal(graft_precision_parse("tf32"), GRAFT_PREC_TF32);
  assert_int_equal(graft_precision_parse("fp16"), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_separate_memory_matches),
      cmocka_unit_test(test_bf16_staging),
      cmocka_unit_test(test_graph_refused_on_cpu),
      cmocka_unit_test(test_ctx_open_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

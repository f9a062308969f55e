/* test_cudnn_graph.c: the cuDNN graph construction of cuda/conv_graph.c,
 * checked without a GPU. For a sweep of ResNet-style convolutions (7x7/2
 * stem, 3x3/1, 3x3/2, 1x1/2 projection, grouped, depthwise, dilated, odd
 * sizes with n = 1) it builds and finalizes the forward, backward-data and
 * backward-filter operation graphs of every precision mode exactly as the
 * GPU entries key them (graft_conv_key_init: fp32 and tf32 on fp32 tensors
 * accumulating into the gradients, bf16 on bf16 tensors writing a staged
 * output; the forward with a fused bias where fp32 and tf32 ask for one),
 * reads back each graph's element types, compute type and beta, asks
 * cuDNN's heuristics for engine configurations, and checks that an output
 * shape off by one is rejected with CUDNN_STATUS_BAD_PARAM in every
 * direction and element type, and that unknown precisions and element
 * types are refused before cuDNN is asked.
 *
 * What needs a GPU is not checked here: creating a cuDNN handle (cudnnCreate
 * fails with CUDNN_STATUS_NOT_INITIALIZED), finalizing an engine
 * (CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH), execution plans with their
 * workspace sizes, the precision filter on engines' numerical notes (an
 * engine's notes are read from a finalized engine), and execution. tf32
 * differs from fp32 only there, so its graphs are the fp32 ones. Without
 * CUDA the test is skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#ifdef GRAFT_HAVE_CUDA

#include "core/log.h"
#include "cuda/conv_graph.h"
#include "cuda/conv_plan_cache.h"
#include "ops/ops.h"

typedef struct {
  const char *name;
  int n, h, w, c, k, r, s, stride, pad, dil, groups;
} conv_case;

static const conv_case sweep[] = {
    {"stem 7x7/2", 2, 224, 224, 3, 64, 7, 7, 2, 3, 1, 1},
    {"3x3/1", 2, 56, 56, 64, 64, 3, 3, 1, 1, 1, 1},
    {"3x3/2", 2, 56, 56, 128, 128, 3, 3, 2, 1, 1, 1},
    {"1x1/1 bottleneck", 2, 7, 7, 2048, 512, 1, 1, 1, 0, 1, 1},
    {"1x1/2 projection", 2, 56, 56, 256, 512, 1, 1, 2, 0, 1, 1},
    {"grouped 3x3 g32", 2, 28, 28, 128, 128, 3, 3, 1, 1, 1, 32},
    {"grouped 3x3/2 g2", 1, 15, 15, 8, 6, 3, 3, 2, 1, 1, 2},
    {"depthwise 3x3", 2, 28, 28, 64, 64, 3, 3, 1, 1, 1, 64},
    {"depthwise 5x5/2", 1, 17, 17, 32, 32, 5, 5, 2, 2, 1, 32},
    {"dilated 3x3 d2", 1, 33, 33, 16, 16, 3, 3, 1, 2, 2, 1},
    {"odd 1x1 n=1", 1, 5, 3, 3, 7, 1, 1, 1, 0, 1, 1},
    {"odd 3x3/2 n=1", 1, 13, 9, 5, 3, 3, 3, 2, 1, 1, 1},
    {"yolo 3x3 on 416", 1, 416, 416, 3, 16, 3, 3, 1, 1, 1, 1},
};
#define NCASES (sizeof sweep / sizeof sweep[0])

static graft_conv2d_desc case_desc(const conv_case *cc) {
  graft_conv2d_desc d = {.n = cc->n, .h = cc->h, .w = cc->w, .c = cc->c, .k = cc->k,
                         .r = cc->r, .s = cc->s, .stride_h = cc->stride, .stride_w = cc->stride,
                         .pad_h = cc->pad, .pad_w = cc->pad, .dil_h = cc->dil, .dil_w = cc->dil,
                         .groups = cc->groups};
  assert_int_equal(graft_conv2d_setup(&d), GRAFT_OK);
  return d;
}

static const char *const dir_names[] = {"forward", "backward-data", "backward-filter"};

/* Engine configurations cuDNN's instant heuristics offer for a graph, or -1
 * when the query fails. */
static int64_t engine_configs(cudnnBackendDescriptor_t graph) {
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_INSTANT;
  cudnnBackendDescriptor_t heur = NULL;
  int64_t count = -1;
  cudnnStatus_t s = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                 CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  if (s == CUDNN_STATUS_SUCCESS) s = cudnnBackendFinalize(heur);
  if (s == CUDNN_STATUS_SUCCESS)
    s = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                 0, &count, NULL);
  if (heur) cudnnBackendDestroyDescriptor(heur);
  return s == CUDNN_STATUS_SUCCESS ? count : -1;
}

static cudnnDataType_t cudnn_type(graft_dtype t) {
  return t == GRAFT_DTYPE_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
}

/* Whether g is the graph key asks for: x, w and y of key->io, an fp32
 * compute type, and beta 1 exactly when the key accumulates. */
static int graph_matches(const graft_conv_graph *g, const graft_conv_key *key) {
  static const cudnnBackendAttributeName_t beta_attr[] = {
      CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
      CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA};
  const cudnnBackendDescriptor_t tensors[3] = {g->x, g->w, g->y};
  int64_t n = 0;
  int ok = 1;
  for (int i = 0; i < 3; i++) {
    cudnnDataType_t t = CUDNN_DATA_DOUBLE;
    ok &= cudnnBackendGetAttribute(tensors[i], CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                   &n, &t) == CUDNN_STATUS_SUCCESS &&
          t == cudnn_type(key->io);
  }
  cudnnDataType_t math = CUDNN_DATA_DOUBLE;
  ok &= cudnnBackendGetAttribute(g->conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1,
                                 &n, &math) == CUDNN_STATUS_SUCCESS &&
        math == CUDNN_DATA_FLOAT;
  float beta = -1.0f;
  ok &= cudnnBackendGetAttribute(g->op, beta_attr[key->dir], CUDNN_TYPE_FLOAT, 1, &n, &beta) ==
            CUDNN_STATUS_SUCCESS &&
        beta == (key->accumulate ? 1.0f : 0.0f);
  return ok;
}

/* Builds the graph of one key, which must finalize as the key says, and
 * asks the heuristics about it. */
static int build_ok(const conv_case *cc, const graft_conv_key *key) {
  graft_conv_graph g;
  graft_status st = graft_conv_graph_build(&g, &key->desc, key->dir, key->io, key->with_bias,
                                           key->accumulate);
  int ok = st == GRAFT_OK && g.graph != NULL;
  int matches = ok && graph_matches(&g, key);
  int64_t configs = ok ? engine_configs(g.graph) : -1;
  if (!ok || !matches || configs < 1)
    fprintf(stderr,
            "FAILED %s %s %s (%s%s%s): build %s, cuDNN status %d (%s), types %s, %lld engine "
            "configs\n",
            cc->name, dir_names[key->dir], graft_precision_name(key->prec),
            graft_dtype_name(key->io), key->with_bias ? " +bias" : "",
            key->accumulate ? " accumulate" : "", graft_status_name(st), (int)g.status,
            cudnnGetErrorString(g.status), matches ? "as keyed" : "WRONG", (long long)configs);
  graft_conv_graph_free(&g);
  graft_conv_graph_free(&g);
  return ok && matches && configs >= 1;
}

/* The keys of the GPU entries: bf16 on bf16 tensors overwriting a staged
 * output, fp32 and tf32 on fp32 tensors with the backward accumulating. */
static void test_keys(void **state) {
  (void)state;
  graft_conv2d_desc d = case_desc(&sweep[1]);
  for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++)
    for (int dir = GRAFT_CONV_FORWARD; dir <= GRAFT_CONV_BACKWARD_FILTER; dir++) {
      graft_conv_key key;
      assert_int_equal(graft_conv_key_init(&key, &d, (graft_conv_dir)dir, (graft_precision)prec, 0),
                       GRAFT_OK);
      assert_int_equal(key.prec, prec);
      assert_int_equal(key.dir, dir);
      assert_int_equal(key.with_bias, 0);
      assert_memory_equal(&key.desc, &d, sizeof d);
      if (prec == GRAFT_PREC_BF16) {
        assert_int_equal(key.io, GRAFT_DTYPE_BF16);
        assert_int_equal(key.accumulate, 0);
      } else {
        assert_int_equal(key.io, GRAFT_DTYPE_F32);
        assert_int_equal(key.accumulate, dir != GRAFT_CONV_FORWARD);
      }
    }
}

/* The read-back of graph_matches tells a graph from one of another key. */
static void test_graph_readback(void **state) {
  (void)state;
  graft_conv2d_desc d = case_desc(&sweep[1]);
  graft_conv_key key;
  graft_conv_graph g;
  assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_BACKWARD_DATA, GRAFT_PREC_FP32, 0),
                   GRAFT_OK);
  assert_int_equal(graft_conv_graph_build(&g, &d, key.dir, key.io, 0, key.accumulate), GRAFT_OK);
  assert_true(graph_matches(&g, &key));
  graft_conv_key other = key;
  other.accumulate = 0;
  assert_false(graph_matches(&g, &other));
  other = key;
  other.io = GRAFT_DTYPE_BF16;
  assert_false(graph_matches(&g, &other));
  graft_conv_graph_free(&g);
}

static void test_sweep_finalizes(void **state) {
  (void)state;
  int failures = 0, built = 0;
  for (size_t i = 0; i < NCASES; i++) {
    graft_conv2d_desc d = case_desc(&sweep[i]);
    for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
      for (int dir = GRAFT_CONV_FORWARD; dir <= GRAFT_CONV_BACKWARD_FILTER; dir++) {
        graft_conv_key key;
        assert_int_equal(
            graft_conv_key_init(&key, &d, (graft_conv_dir)dir, (graft_precision)prec, 0), GRAFT_OK);
        failures += !build_ok(&sweep[i], &key);
        built++;
      }
      if (prec == GRAFT_PREC_BF16) continue; /* bf16 adds its bias when it widens y */
      graft_conv_key key;
      assert_int_equal(
          graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, (graft_precision)prec, 1), GRAFT_OK);
      failures += !build_ok(&sweep[i], &key);
      built++;
    }
  }
  printf("cudnn graph: %d of %d operation graphs (fp32, tf32, bf16) finalized with engine "
         "configs\n",
         built - failures, built);
  assert_int_equal(failures, 0);
}

/* An output shape that does not follow from the input, filter and
 * convolution is rejected when the operation is finalized. */
static void test_wrong_output_rejected(void **state) {
  (void)state;
  const int deltas[][2] = {{1, 0}, {-1, 0}, {0, 1}, {0, -1}};
  graft_log_level saved = graft_log_get_level();
  int failures = 0;
  for (size_t i = 0; i < NCASES; i++) {
    for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
      graft_conv2d_desc d = case_desc(&sweep[i]);
      d.p += deltas[k][0];
      d.q += deltas[k][1];
      if (d.p < 1 || d.q < 1) continue;
      for (int dir = GRAFT_CONV_FORWARD; dir <= GRAFT_CONV_BACKWARD_FILTER; dir++)
        for (int t = 0; t < 2; t++) {
          const graft_dtype io = t ? GRAFT_DTYPE_BF16 : GRAFT_DTYPE_F32;
          graft_conv_graph g;
          graft_log_set_level(GRAFT_LOG_SILENT);
          const int accumulate = io == GRAFT_DTYPE_F32 && dir != GRAFT_CONV_FORWARD;
          graft_status st = graft_conv_graph_build(&g, &d, (graft_conv_dir)dir, io, 0, accumulate);
          graft_log_set_level(saved);
          int rejected = st == GRAFT_EDEVICE && g.graph == NULL &&
                         CUDNN_STATUS_CATEGORY(g.status) == CUDNN_STATUS_BAD_PARAM;
          if (!rejected) {
            fprintf(stderr, "NOT REJECTED %s %s %s with output %dx%d: build %s, cuDNN status %d\n",
                    sweep[i].name, dir_names[dir], graft_dtype_name(io), d.p, d.q,
                    graft_status_name(st), (int)g.status);
            failures++;
          }
          graft_conv_graph_free(&g);
        }
    }
  }
  assert_int_equal(failures, 0);
}

static void test_bad_arguments(void **state) {
  (void)state;
  graft_conv2d_desc d = case_desc(&sweep[1]);
  graft_conv_graph g;
  graft_log_level saved = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  /* element types no convolution takes */
  const graft_dtype wrong[] = {GRAFT_DTYPE_I32, GRAFT_DTYPE_F64, GRAFT_DTYPE_I8, GRAFT_DTYPE_U8,
                               GRAFT_DTYPE_BOOL};
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    assert_int_equal(graft_conv_graph_build(&g, &d, GRAFT_CONV_FORWARD, wrong[i], 0, 0),
                     GRAFT_EUNSUPPORTED);
    assert_null(g.graph);
  }
  graft_conv2d_desc bad = d;
  bad.groups = 3; /* 64 channels do not split into 3 groups */
  assert_int_equal(graft_conv_graph_build(&g, &bad, GRAFT_CONV_FORWARD, GRAFT_DTYPE_F32, 0, 0),
                   GRAFT_EINVAL);
  assert_null(g.graph);
  /* precisions, directions and biases the keys do not have */
  graft_conv_key key;
  assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, GRAFT_PREC_COUNT, 0),
                   GRAFT_EINVAL);
  assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, (graft_precision)-1, 0),
                   GRAFT_EINVAL);
  assert_int_equal(graft_conv_key_init(&key, &d, (graft_conv_dir)3, GRAFT_PREC_FP32, 0),
                   GRAFT_EINVAL);
  assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_BACKWARD_DATA, GRAFT_PREC_BF16, 1),
                   GRAFT_EINVAL);
  graft_log_set_level(saved);
  graft_conv_graph_free(&g);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_graph_readback),
      cmocka_unit_test(test_sweep_finalizes),
      cmocka_unit_test(test_wrong_output_rejected),
      cmocka_unit_test(test_bad_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  printf("test_cudnn_graph: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

/* test_cudnn_graph.c: the cuDNN graph construction of cuda/conv_graph.c,
 * checked without a GPU. For a sweep of ResNet-style convolutions (7x7/2
 * stem, 3x3/1, 3x3/2, 1x1/2 projection, grouped, depthwise, dilated, odd
 * sizes with n = 1) it builds and finalizes the forward, backward-data and
 * backward-filter operation graphs of every precision mode exactly as the
 * GPU entries key them (graft_conv_key_init: fp32 and tf32 on fp32 tensors
 * accumulating into the gradients, the forward with a fused bias where
 * they ask for one; bf16 on bf16 tensors, the forward overwriting the bf16
 * y, backward data adding into the bf16 dx with beta 1, backward filter
 * writing a staged bf16 dw), reads back each graph's element types,
 * compute type and beta, asks cuDNN's heuristics for engine
 * configurations, and checks that an output shape off by one is rejected
 * with CUDNN_STATUS_BAD_PARAM in every direction and element type, and
 * that unknown precisions, element types and biases the keys do not have
 * are refused before cuDNN is asked.
 *
 * cuDNN (9.8 and later) can also describe a device it does not see: a
 * device-property descriptor made from its JSON form. With one for an
 * H200 (sm_90) the test runs what conv_plan_cache.c runs on the device
 * short of execution: heuristics mode A, then FALLBACK, the precision
 * filter on each engine's numerical notes (graft_conv_engine_tier), and
 * execution plans finalized for sm_90, and asks that every keyed graph
 * (the fused fp32 bias aside, which has an unfused fallback) get a plan
 * that passes the filter within graft_conv_workspace_limit. It also says
 * how many shapes would have had an engine for the fusion bf16 does
 * without, a bf16 convolution with an fp32 bias. A cuDNN that cannot read
 * the description skips that part.
 *
 * What needs a GPU is not checked here: creating a cuDNN handle (cudnnCreate
 * fails with CUDNN_STATUS_NOT_INITIALIZED), finalizing a plan for the
 * machine's own device (CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH without
 * one), timing, and execution, so whether an engine computes what its
 * graph says (beta 1 on a bf16 dx included) is test_gpu_conv.c's to show.
 * tf32 differs from fp32 only in the precision filter, so its graphs are
 * the fp32 ones. Without CUDA the test is skipped. */
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

/* The keys of the GPU entries: bf16 on bf16 tensors with only backward
 * data accumulating (into the bf16 dx), fp32 and tf32 on fp32 tensors with
 * both backward directions accumulating. */
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
        assert_int_equal(key.accumulate, dir == GRAFT_CONV_BACKWARD_DATA);
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
      if (prec == GRAFT_PREC_BF16) continue; /* bf16 adds its fp32 bias with a kernel */
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
  assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, GRAFT_PREC_BF16, 1),
                   GRAFT_EINVAL);
  graft_log_set_level(saved);
  graft_conv_graph_free(&g);
}

/* ---- plans for an sm_90 device described, not present ----------------------- */

/* An H200 SXM as cuDNN's device-property descriptor reads it from JSON
 * (the fields of its serialized form; the values those CUDA reports for
 * the device: compute capability 9.0, 132 SMs, 227 KiB of opt-in shared
 * memory per block, 50 MiB of L2). */
static const char h200_json[] =
    "{\"deviceName\":\"NVIDIA H200\",\"deviceVer\":900,\"driverVer\":13000,\"cudaDeviceId\":0,"
    "\"pciDeviceId\":0,\"totalGlobalMem\":150754820096,\"multiProcessorCount\":132,"
    "\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],"
    "\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"maxCtasPerSM\":32,\"warpSize\":32,"
    "\"regsPerBlock\":65536,\"maxRegistersPerSM\":65536,\"maxSharedMemoryPerBlock\":49152,"
    "\"maxSharedMemoryPerBlockOptin\":232448,\"reservedSharedMemoryPerBlock\":1024,"
    "\"l2CacheSize\":52428800,\"smClockRateKHz\":1980000,\"memClockRateKHz\":3201000,"
    "\"isTccDriver\":0,\"supportCoopLaunch\":1}";

/* The finalized device-property descriptor of h200_json, or NULL when this
 * cuDNN cannot read it. */
static cudnnBackendDescriptor_t h200_devprop(void) {
  cudnnBackendDescriptor_t p = NULL;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR, &p) != CUDNN_STATUS_SUCCESS)
    return NULL;
  if (cudnnBackendSetAttribute(p, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR,
                               (int64_t)sizeof h200_json, h200_json) != CUDNN_STATUS_SUCCESS ||
      cudnnBackendFinalize(p) != CUDNN_STATUS_SUCCESS) {
    cudnnBackendDestroyDescriptor(p);
    return NULL;
  }
  return p;
}

/* What the plan search for one graph on the described device found. */
typedef struct {
  int64_t configs; /* engine configs offered, both heuristics modes */
  int filtered;    /* configs the precision filter rejected */
  int64_t engine;  /* global index of the first engine that made a plan, or -1 */
  int64_t workspace; /* that plan's workspace bytes */
} sm90_plan;

/* The tier of cfg's engine under key's precision, -2 when it cannot be read. */
static int cfg_tier(const graft_conv_key *key, cudnnBackendDescriptor_t cfg, int64_t *index) {
  cudnnBackendDescriptor_t engine = NULL;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t n = 0, count = 0;
  int tier = -2;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) !=
      CUDNN_STATUS_SUCCESS)
    return tier;
  if (cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                               &n, &engine) == CUDNN_STATUS_SUCCESS &&
      cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &n,
                               index) == CUDNN_STATUS_SUCCESS &&
      cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                               CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &count,
                               notes) == CUDNN_STATUS_SUCCESS) {
    if (count > CUDNN_NUMERICAL_NOTE_TYPE_COUNT) count = CUDNN_NUMERICAL_NOTE_TYPE_COUNT;
    tier = graft_conv_engine_tier(key, notes, count);
  }
  cudnnBackendDestroyDescriptor(engine);
  return tier;
}

/* Searches as conv_plan_cache.c does, but stops at the first engine that
 * passes the filter and finalizes a plan for devprop within limit bytes
 * of workspace: heuristics mode A, then FALLBACK when A gave none. */
static void find_sm90_plan(cudnnBackendDescriptor_t devprop, const graft_conv_key *key,
                           cudnnBackendDescriptor_t graph, size_t limit, sm90_plan *r) {
  static const cudnnBackendHeurMode_t modes[] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
  r->configs = 0, r->filtered = 0, r->engine = -1, r->workspace = -1;
  for (size_t m = 0; m < sizeof modes / sizeof modes[0] && r->engine < 0; m++) {
    cudnnBackendDescriptor_t heur = NULL, cfgs[GRAFT_CONV_HEUR_CONFIGS] = {0};
    int64_t count = 0;
    int ok = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur) ==
             CUDNN_STATUS_SUCCESS;
    ok = ok && cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                        &graph) == CUDNN_STATUS_SUCCESS;
    ok = ok && cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1,
                                        &modes[m]) == CUDNN_STATUS_SUCCESS;
    ok = ok && cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                        &devprop) == CUDNN_STATUS_SUCCESS;
    ok = ok && cudnnBackendFinalize(heur) == CUDNN_STATUS_SUCCESS; /* declined: no configs */
    for (int i = 0; ok && i < GRAFT_CONV_HEUR_CONFIGS; i++)
      ok = cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfgs[i]) ==
           CUDNN_STATUS_SUCCESS;
    ok = ok && cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                        CUDNN_TYPE_BACKEND_DESCRIPTOR, GRAFT_CONV_HEUR_CONFIGS,
                                        &count, cfgs) == CUDNN_STATUS_SUCCESS;
    if (!ok) count = 0;
    if (count > GRAFT_CONV_HEUR_CONFIGS) count = GRAFT_CONV_HEUR_CONFIGS;
    r->configs += count;
    for (int64_t i = 0; i < count && r->engine < 0; i++) {
      int64_t index = -1, ws = -1, n = 0;
      if (cfg_tier(key, cfgs[i], &index) < 0) {
        r->filtered++;
        continue;
      }
      cudnnBackendDescriptor_t plan = NULL;
      if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
          CUDNN_STATUS_SUCCESS)
        continue;
      if (cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &cfgs[i]) == CUDNN_STATUS_SUCCESS &&
          cudnnBackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP,
                                   CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                   &devprop) == CUDNN_STATUS_SUCCESS &&
          cudnnBackendFinalize(plan) == CUDNN_STATUS_SUCCESS &&
          cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64,
                                   1, &n, &ws) == CUDNN_STATUS_SUCCESS &&
          ws >= 0 && (size_t)ws <= limit) {
        r->engine = index;
        r->workspace = ws;
      }
      cudnnBackendDestroyDescriptor(plan);
    }
    for (int i = 0; i < GRAFT_CONV_HEUR_CONFIGS; i++)
      if (cfgs[i]) cudnnBackendDestroyDescriptor(cfgs[i]);
    if (heur) cudnnBackendDestroyDescriptor(heur);
  }
}

/* Builds the graph of key and looks for its sm_90 plan; 1 when one was
 * found. Says what it found when say is 1, or when it found none and say
 * is 0 (-1: never). */
static int sm90_ok(cudnnBackendDescriptor_t devprop, const conv_case *cc, const graft_conv_key *key,
                   int say) {
  graft_conv_graph g;
  sm90_plan r = {0, 0, -1, -1};
  const size_t limit = graft_conv_workspace_limit(&key->desc);
  const graft_status st =
      graft_conv_graph_build(&g, &key->desc, key->dir, key->io, key->with_bias, key->accumulate);
  if (st == GRAFT_OK) find_sm90_plan(devprop, key, g.graph, limit, &r);
  if (say > 0 || (say == 0 && r.engine < 0))
    fprintf(stderr,
            "%s sm_90 %s %s %s (%s%s%s): build %s, %lld engine configs, %d filtered, engine "
            "%lld, %lld workspace bytes (limit %zu)\n",
            r.engine < 0 ? "NO PLAN" : "plan", cc->name, dir_names[key->dir],
            graft_precision_name(key->prec), graft_dtype_name(key->io),
            key->with_bias ? " +bias" : "", key->accumulate ? " accumulate" : "",
            graft_status_name(st), (long long)r.configs, r.filtered, (long long)r.engine,
            (long long)r.workspace, limit);
  graft_conv_graph_free(&g);
  return r.engine >= 0;
}

/* Every keyed graph of the sweep, in every precision, has an sm_90 plan
 * that conv_plan_cache.c could choose; the fused fp32 bias of fp32 and
 * tf32 and a bf16 convolution with an fp32 bias are counted, not asked. */
static void test_sm90_plans(void **state) {
  (void)state;
  cudnnBackendDescriptor_t devprop = h200_devprop();
  if (!devprop) {
    printf("cudnn graph: this cuDNN cannot describe a device from JSON; sm_90 plans not checked\n");
    skip();
  }
  int failures = 0, keyed = 0, fused = 0, fused_ok = 0, bf16_bias = 0, bf16_bias_ok = 0;
  for (size_t i = 0; i < NCASES; i++) {
    graft_conv2d_desc d = case_desc(&sweep[i]);
    for (int prec = 0; prec < GRAFT_PREC_COUNT; prec++) {
      for (int dir = GRAFT_CONV_FORWARD; dir <= GRAFT_CONV_BACKWARD_FILTER; dir++) {
        graft_conv_key key;
        assert_int_equal(
            graft_conv_key_init(&key, &d, (graft_conv_dir)dir, (graft_precision)prec, 0), GRAFT_OK);
        failures += !sm90_ok(devprop, &sweep[i], &key, 0);
        keyed++;
      }
      graft_conv_key key;
      if (prec == GRAFT_PREC_BF16) { /* not keyed: the graph conv_exec.cu does without */
        assert_int_equal(graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, GRAFT_PREC_BF16, 0),
                         GRAFT_OK);
        key.with_bias = 1;
        bf16_bias_ok += sm90_ok(devprop, &sweep[i], &key, -1);
        bf16_bias++;
        continue;
      }
      assert_int_equal(
          graft_conv_key_init(&key, &d, GRAFT_CONV_FORWARD, (graft_precision)prec, 1), GRAFT_OK);
      fused_ok += sm90_ok(devprop, &sweep[i], &key, -1);
      fused++;
    }
  }
  cudnnBackendDestroyDescriptor(devprop);
  printf("cudnn graph: sm_90 (described): %d of %d keyed graphs have a plan passing the precision "
         "filter within the workspace limit; fused fp32 bias (fp32, tf32): %d of %d; a bf16 "
         "convolution with an fp32 bias: %d of %d\n",
         keyed - failures, keyed, fused_ok, fused, bf16_bias_ok, bf16_bias);
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_graph_readback),
      cmocka_unit_test(test_sweep_finalizes),
      cmocka_unit_test(test_wrong_output_rejected),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_sm90_plans),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

int main(void) {
  printf("test_cudnn_graph: skipped, graft was built without CUDA\n");
  return 77;
}

#endif

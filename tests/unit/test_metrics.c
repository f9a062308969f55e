/* test_metrics.c: metric accumulation (the CPU reference of metrics_update
 * and metrics_update_regression) and the figures derived from it, against
 * numbers worked out by hand: a 3-class case, ties and NaN logits, the
 * top-5 boundary, classes never seen or never predicted, labels out of
 * range, an empty epoch, the binary figures, regression errors, lookup by
 * metric name, the table and the JSON.
 *
 * With GRAFT_METRICS_DUMP=PATH set, test_random_dump also writes random
 * cases (labels, logits and graft's figures) to PATH as JSON, for
 * tests/scripts/test_metrics_sklearn.sh to compare with scikit-learn. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/log.h"
#include "metrics/metrics.h"
#include "metrics/metrics_math.h"
#include "ops/ops.h"
#include "testutil.h"

#define EPS 1e-15

static void assert_near(double got, double want, const char *what) {
  if (fabs(got - want) > EPS) {
    fprintf(stderr, "MISMATCH %s: got %.17g, want %.17g\n", what, got, want);
    fail();
  }
}

/* Runs the reference op over logits (N, K) and labels (N) into fresh
 * counters (caller frees). */
static uint64_t *count(int n, int k, const float *logits, const int32_t *labels) {
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  uint64_t *counts = calloc(GRAFT_METRICS_COUNTS(k), sizeof *counts);
  assert_non_null(counts);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, n, k, logits, labels, counts), GRAFT_OK);
  return counts;
}

/* ---- a 3-class case by hand ----------------------------------------------
 * true -> predicted: 0->0, 0->0, 0->1, 1->1, 1->2, 2->2, 2->2, 2->0
 *   confusion [[2 1 0] [0 1 1] [1 0 2]], 5 of 8 right: accuracy 0.625
 *   class 0: TP 2 FP 1 FN 1 TN 4: P 2/3 R 2/3 F1 4/6 spec 4/5 support 3
 *   class 1: TP 1 FP 1 FN 1 TN 5: P 1/2 R 1/2 F1 2/4 spec 5/6 support 2
 *   class 2: TP 2 FP 1 FN 1 TN 4: P 2/3 R 2/3 F1 4/6 spec 4/5 support 3
 *   macro P = R = F1 = (2/3 + 1/2 + 2/3) / 3 = 11/18
 *   weighted = (3 * 2/3 + 2 * 1/2 + 3 * 2/3) / 8 = 5/8; micro = 5/8 */
static const float hand_logits[8 * 3] = {
    /* (N, K) */
    2.0f, 1.0f,  0.5f,  /* 0 -> 0 */
    0.3f, -1.0f, -2.0f, /* 0 -> 0 */
    0.1f, 0.9f,  0.2f,  /* 0 -> 1 */
    -1.f, 4.0f,  3.0f,  /* 1 -> 1 */
    0.0f, 0.5f,  0.7f,  /* 1 -> 2 */
    1.0f, 2.0f,  3.0f,  /* 2 -> 2 */
    0.0f, 0.0f,  0.1f,  /* 2 -> 2 */
    5.0f, 0.0f,  4.0f,  /* 2 -> 0 */
};
static const int32_t hand_labels[8] = {0, 0, 0, 1, 1, 2, 2, 2};

static void test_hand_case(void **state) {
  (void)state;
  uint64_t *c = count(8, 3, hand_logits, hand_labels);
  static const uint64_t want[3 * 3] = {2, 1, 0, 0, 1, 1, 1, 0, 2};
  for (int i = 0; i < 9; i++) assert_int_equal(c[i], want[i]);
  assert_int_equal(c[9], 8);  /* top-5 of 3 classes: every sample */
  assert_int_equal(c[10], 0); /* nothing ignored */

  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 3, c, 0.75), GRAFT_OK);
  assert_int_equal(m.total, 8);
  assert_near(m.accuracy, 0.625, "accuracy");
  assert_near(m.top5, 1.0, "top5");
  assert_near(m.loss, 0.75, "loss");
  const double p[3] = {2.0 / 3, 0.5, 2.0 / 3}, spec[3] = {0.8, 5.0 / 6, 0.8};
  const uint64_t support[3] = {3, 2, 3};
  for (int k = 0; k < 3; k++) {
    assert_near(m.precision[k], p[k], "precision");
    assert_near(m.recall[k], p[k], "recall");
    assert_near(m.f1[k], p[k], "f1");
    assert_near(m.specificity[k], spec[k], "specificity");
    assert_int_equal(m.support[k], support[k]);
  }
  assert_near(m.macro.precision, 11.0 / 18, "macro precision");
  assert_near(m.macro.recall, 11.0 / 18, "macro recall");
  assert_near(m.macro.f1, 11.0 / 18, "macro f1");
  assert_near(m.weighted.precision, 0.625, "weighted precision");
  assert_near(m.weighted.recall, 0.625, "weighted recall");
  assert_near(m.weighted.f1, 0.625, "weighted f1");
  assert_near(m.micro.precision, 0.625, "micro precision");
  assert_near(m.micro.recall, 0.625, "micro recall");
  assert_near(m.micro.f1, 0.625, "micro f1");

  /* Counters accumulate: the same batch again doubles every count and
   * leaves every ratio. */
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, 8, 3, hand_logits, hand_labels, c),
                   GRAFT_OK);
  assert_int_equal(c[0], 4);
  assert_int_equal(c[9], 16);
  assert_int_equal(graft_metrics_classification(&m, 3, c, NAN), GRAFT_OK);
  assert_int_equal(m.total, 16);
  assert_near(m.macro.f1, 11.0 / 18, "macro f1, twice the batch");
  graft_metrics_free(&m);
  free(c);
}

/* ---- the ranking rule ----------------------------------------------------- */

static void test_ties_and_nan(void **state) {
  (void)state;
  int pred;
  /* Equal maxima: the first wins, as torch.argmax; an equal logit earlier
   * in the row ranks ahead of the label. */
  const float tie[4] = {1.0f, 3.0f, 3.0f, 0.0f};
  assert_int_equal(graft_metrics_rank(tie, 4, 1, &pred), 0);
  assert_int_equal(pred, 1);
  assert_int_equal(graft_metrics_rank(tie, 4, 2, &pred), 1);
  assert_int_equal(graft_metrics_rank(tie, 4, 0, &pred), 2);
  assert_int_equal(graft_metrics_rank(tie, 4, 3, &pred), 3);
  /* All equal: class 0 is predicted; class j ranks j. */
  const float flat[5] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  for (int j = 0; j < 5; j++) {
    assert_int_equal(graft_metrics_rank(flat, 5, j, &pred), j);
    assert_int_equal(pred, 0);
  }
  /* NaN ranks above every number, and equal to another NaN. */
  const float withnan[4] = {0.0f, NAN, 5.0f, NAN};
  assert_int_equal(graft_metrics_rank(withnan, 4, 1, &pred), 0);
  assert_int_equal(pred, 1);
  assert_int_equal(graft_metrics_rank(withnan, 4, 3, &pred), 1);
  assert_int_equal(graft_metrics_rank(withnan, 4, 2, &pred), 2);
  /* Infinities order like numbers; -0 equals 0. */
  const float inf[3] = {-INFINITY, INFINITY, -0.0f};
  assert_int_equal(graft_metrics_rank(inf, 3, 1, &pred), 0);
  assert_int_equal(graft_metrics_rank(inf, 3, 0, &pred), 2);
  const float zeros[2] = {0.0f, -0.0f};
  assert_int_equal(graft_metrics_rank(zeros, 2, 1, &pred), 1);
  assert_int_equal(pred, 0);

  /* Through the op: ties go to the first class in the confusion matrix. */
  const int32_t labels[2] = {2, 3};
  const float rows[2 * 4] = {1.0f, 3.0f, 3.0f, 0.0f, 7.0f, 7.0f, 7.0f, 7.0f};
  uint64_t *c = count(2, 4, rows, labels);
  assert_int_equal(c[2 * 4 + 1], 1); /* true 2 predicted 1 */
  assert_int_equal(c[3 * 4 + 0], 1); /* true 3 predicted 0 */
  assert_int_equal(c[16], 2);        /* both within the top 5 of 4 */
  free(c);
}

static void test_top5(void **state) {
  (void)state;
  /* Seven classes; the label's rank is 4 (in), 5 (out), 4 through a tie
   * with an earlier class (in), and 5 through a tie (out). */
  const float rows[4 * 7] = {
      /* (N, K) */
      7, 6, 5, 4, 3, 2, 1, /* label 4: four above */
      7, 6, 5, 4, 3, 2, 1, /* label 5: five above */
      7, 6, 5, 3, 3, 2, 1, /* label 4: three above, one equal earlier */
      7, 6, 5, 3, 3, 3, 1, /* label 5: three above, two equal earlier */
  };
  const int32_t labels[4] = {4, 5, 4, 5};
  uint64_t *c = count(4, 7, rows, labels);
  assert_int_equal(c[49], 2);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 7, c, NAN), GRAFT_OK);
  assert_near(m.top5, 0.5, "top5");
  assert_near(m.accuracy, 0.0, "accuracy");
  graft_metrics_free(&m);
  free(c);
}

/* ---- empty classes, ignored labels, empty epochs --------------------------- */

static void test_empty_classes(void **state) {
  (void)state;
  /* Four classes: 3 never appears and is never predicted; 2 is never
   * predicted; 1 is predicted but never true. Labels -1 and 4 are left out.
   *   true -> predicted: 0->0, 0->1, 2->0, 2->0
   *   class 0: TP 1 FP 2 FN 1 TN 0: P 1/3 R 1/2 F1 2/5 spec 0 (0 of 2)
   *   class 1: TP 0 FP 1 FN 0 TN 3: P 0 R 0 (no support) F1 0 spec 3/4
   *   class 2: TP 0 FP 0 FN 2 TN 2: P 0 (never predicted) R 0 F1 0 spec 1
   *   class 3: nothing: P R F1 0, spec 4/4 = 1
   *   macro (over all 4): P 1/12, R 1/8, F1 1/10
   *   weighted (supports 2, 0, 2, 0): P 1/6, R 1/4, F1 1/5; micro 1/4 */
  const float rows[6 * 4] = {
      /* (N, K) */
      1, 0, 0, 0, /* 0 -> 0 */
      0, 1, 0, 0, /* 0 -> 1 */
      1, 0, 0, 0, /* 2 -> 0 */
      2, 1, 0, 0, /* 2 -> 0 */
      0, 0, 0, 1, /* label -1: ignored */
      0, 0, 1, 0, /* label 4: out of range, ignored */
  };
  const int32_t labels[6] = {0, 0, 2, 2, -1, 4};
  uint64_t *c = count(6, 4, rows, labels);
  assert_int_equal(c[17], 2);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 4, c, NAN), GRAFT_OK);
  assert_int_equal(m.total, 4);
  assert_int_equal(m.ignored, 2);
  const double p[4] = {1.0 / 3, 0, 0, 0}, r[4] = {0.5, 0, 0, 0}, f1[4] = {0.4, 0, 0, 0};
  const double spec[4] = {0, 0.75, 1, 1};
  for (int k = 0; k < 4; k++) {
    assert_near(m.precision[k], p[k], "precision");
    assert_near(m.recall[k], r[k], "recall");
    assert_near(m.f1[k], f1[k], "f1");
    assert_near(m.specificity[k], spec[k], "specificity");
  }
  assert_near(m.accuracy, 0.25, "accuracy");
  assert_near(m.macro.precision, 1.0 / 12, "macro precision");
  assert_near(m.macro.recall, 0.125, "macro recall");
  assert_near(m.macro.f1, 0.1, "macro f1");
  assert_near(m.weighted.precision, 1.0 / 6, "weighted precision");
  assert_near(m.weighted.recall, 0.25, "weighted recall");
  assert_near(m.weighted.f1, 0.2, "weighted f1");
  assert_near(m.micro.f1, 0.25, "micro f1");
  free(c);

  /* An epoch with nothing counted: every figure 0, none NaN. */
  uint64_t zero[GRAFT_METRICS_COUNTS(3)] = {0};
  assert_int_equal(graft_metrics_classification(&m, 3, zero, NAN), GRAFT_OK);
  assert_int_equal(m.total, 0);
  assert_near(m.accuracy, 0, "empty accuracy");
  assert_near(m.top5, 0, "empty top5");
  for (int k = 0; k < 3; k++) {
    assert_near(m.precision[k], 0, "empty precision");
    assert_near(m.specificity[k], 0, "empty specificity");
  }
  assert_near(m.macro.f1, 0, "empty macro f1");
  assert_near(m.weighted.f1, 0, "empty weighted f1");
  assert_near(m.micro.precision, 0, "empty micro precision");
  graft_metrics_free(&m);
}

/* ---- two classes ---------------------------------------------------------------
 * confusion [[50 10] [5 35]] (row = true; class 1 positive): TN 50, FP 10,
 * FN 5, TP 35. Sensitivity 35/40, specificity 50/60, precision 35/45,
 * NPV 50/55, F1 70/85, balanced accuracy (7/8 + 5/6) / 2 = 41/48,
 * accuracy 85/100. */
static void test_binary(void **state) {
  (void)state;
  const uint64_t c[GRAFT_METRICS_COUNTS(2)] = {50, 10, 5, 35, 100, 0};
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 2, c, NAN), GRAFT_OK);
  const graft_binary_metrics *b = &m.binary;
  assert_int_equal(b->tp, 35);
  assert_int_equal(b->fp, 10);
  assert_int_equal(b->tn, 50);
  assert_int_equal(b->fn, 5);
  assert_near(b->recall, 35.0 / 40, "sensitivity");
  assert_near(b->specificity, 50.0 / 60, "specificity");
  assert_near(b->precision, 35.0 / 45, "precision");
  assert_near(b->npv, 50.0 / 55, "npv");
  assert_near(b->f1, 70.0 / 85, "f1");
  assert_near(b->balanced_accuracy, 41.0 / 48, "balanced accuracy");
  assert_near(m.accuracy, 0.85, "accuracy");
  /* Class 0's one-vs-rest figures are class 1's seen from the other side. */
  assert_near(m.recall[0], m.specificity[1], "recall 0 = specificity 1");
  assert_near(m.precision[0], b->npv, "precision 0 = npv");
  graft_metrics_free(&m);
}

/* ---- regression ------------------------------------------------------------------- */

static void test_regression(void **state) {
  (void)state;
  /* Errors -0.5, 0, 2 then 1: squared 0.25 + 0 + 4 + 1, absolute 3.5, 4 samples. */
  const float p1[3] = {1.0f, 2.0f, 3.5f}, t1[3] = {1.5f, 2.0f, 1.5f};
  const float p2[1] = {-1.0f}, t2[1] = {-2.0f};
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  double sums[GRAFT_METRICS_SUMS] = {0};
  assert_int_equal(graft_backend_ref.metrics_update_regression(&ctx, 3, p1, t1, sums), GRAFT_OK);
  assert_int_equal(graft_backend_ref.metrics_update_regression(&ctx, 1, p2, t2, sums), GRAFT_OK);
  assert_int_equal(graft_backend_ref.metrics_update_regression(&ctx, 0, NULL, NULL, sums),
                   GRAFT_OK);
  assert_near(sums[0], 5.25, "squared sum");
  assert_near(sums[1], 3.5, "absolute sum");
  assert_near(sums[2], 4, "count");
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_regression(&m, sums, 1.3125), GRAFT_OK);
  assert_int_equal(m.k, 0);
  assert_int_equal(m.total, 4);
  assert_near(m.mse, 5.25 / 4, "mse");
  assert_near(m.mae, 3.5 / 4, "mae");
  double v;
  int hib;
  assert_int_equal(graft_metrics_value(&m, "auto", &v, &hib), GRAFT_OK);
  assert_near(v, 5.25 / 4, "auto = mse");
  assert_int_equal(hib, 0);
  assert_int_equal(graft_metrics_value(&m, "mae", &v, &hib), GRAFT_OK);
  assert_near(v, 3.5 / 4, "mae by name");
  const double none[3] = {0, 0, 0};
  assert_int_equal(graft_metrics_regression(&m, none, NAN), GRAFT_OK);
  assert_near(m.mse, 0, "empty mse");
  graft_metrics_free(&m);
}

/* ---- lookup by name, bad arguments ------------------------------------------------- */

static void test_value_by_name(void **state) {
  (void)state;
  uint64_t *c = count(8, 3, hand_logits, hand_labels);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 3, c, 0.5), GRAFT_OK);
  static const struct {
    const char *name;
    double want;
    int higher;
  } cases[] = {{"auto", 0.625, 1},        {"accuracy", 0.625, 1},
               {"top5", 1.0, 1},          {"macro_f1", 11.0 / 18, 1},
               {"weighted_f1", 0.625, 1}, {"macro_recall", 11.0 / 18, 1},
               {"loss", 0.5, 0}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double v = -1;
    int hib = -1;
    assert_int_equal(graft_metrics_value(&m, cases[i].name, &v, &hib), GRAFT_OK);
    assert_near(v, cases[i].want, cases[i].name);
    assert_int_equal(hib, cases[i].higher);
  }
  double v;
  int hib;
  graft_log_set_level(GRAFT_LOG_SILENT);
  assert_int_equal(graft_metrics_value(&m, "mse", &v, &hib), GRAFT_EINVAL);
  assert_int_equal(graft_metrics_value(&m, "f2", &v, &hib), GRAFT_EINVAL);
  graft_ctx ctx;
  graft_ctx_init_ref(&ctx, 1);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, -1, 3, hand_logits, hand_labels, c),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, 8, 0, hand_logits, hand_labels, c),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, 8, 3, NULL, hand_labels, c),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.metrics_update(&ctx, 8, 3, hand_logits, hand_labels, NULL),
                   GRAFT_EINVAL);
  assert_int_equal(graft_backend_ref.metrics_update_regression(&ctx, -1, NULL, NULL, NULL),
                   GRAFT_EINVAL);
  assert_int_equal(graft_metrics_classification(&m, 0, c, NAN), GRAFT_EINVAL);
  graft_log_set_level(GRAFT_LOG_INFO);
  graft_metrics_free(&m);
  free(c);
}

/* ---- the table and the JSON ---------------------------------------------------------- */

static void test_print(void **state) {
  (void)state;
  uint64_t *c = count(8, 3, hand_logits, hand_labels);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 3, c, 0.75), GRAFT_OK);
  static const char *const names[3] = {"cat", "dog", "a very long class name indeed, cut"};
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  assert_non_null(f);
  graft_metrics_print(f, &m, names, 2);
  fclose(f);
  printf("%s", text);
  static const char *const needles[] = {"precision",
                                        "specificity",
                                        "cat",
                                        "0.6667",
                                        "0.8333",
                                        "(1 more class not shown)",
                                        "macro avg",
                                        "0.6111",
                                        "weighted avg",
                                        "accuracy 0.6250",
                                        "top-5 1.0000",
                                        "loss 0.7500",
                                        "confusion matrix",
                                        NULL};
  for (int i = 0; needles[i]; i++) {
    if (!strstr(text, needles[i])) fprintf(stderr, "table lacks '%s'\n", needles[i]);
    assert_non_null(strstr(text, needles[i]));
  }
  free(text);

  const uint64_t bc[GRAFT_METRICS_COUNTS(2)] = {50, 10, 5, 35, 100, 3};
  assert_int_equal(graft_metrics_classification(&m, 2, bc, NAN), GRAFT_OK);
  f = open_memstream(&text, &len);
  graft_metrics_print(f, &m, NULL, 100);
  fclose(f);
  printf("%s", text);
  assert_non_null(strstr(text, "binary, positive class 1: sensitivity 0.8750  specificity 0.8333"));
  assert_non_null(strstr(text, "ignored 3"));
  assert_null(strstr(text, "loss"));
  free(text);
  graft_metrics_free(&m);
  free(c);
}

static double jnum(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  assert_true(cJSON_IsNumber(v));
  return v->valuedouble;
}

static void test_json(void **state) {
  (void)state;
  uint64_t *c = count(8, 3, hand_logits, hand_labels);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, 3, c, NAN), GRAFT_OK);
  static const char *const names[3] = {"cat", "dog", "eel"};
  cJSON *j = NULL;
  assert_int_equal(graft_metrics_to_json(
                       &m, names, GRAFT_METRICS_JSON_PER_CLASS | GRAFT_METRICS_JSON_CONFUSION, &j),
                   GRAFT_OK);
  char *line = cJSON_PrintUnformatted(j);
  printf("%s\n", line);
  assert_null(strchr(line, '\n')); /* one metrics.jsonl line */
  free(line);
  assert_string_equal(cJSON_GetObjectItem(j, "task")->valuestring, "classification");
  assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "loss")));
  assert_near(jnum(j, "accuracy"), 0.625, "json accuracy");
  assert_near(jnum(j, "samples"), 8, "json samples");
  assert_near(jnum(cJSON_GetObjectItem(j, "macro"), "f1"), 11.0 / 18, "json macro f1");
  const cJSON *pc = cJSON_GetObjectItem(j, "per_class");
  assert_int_equal(cJSON_GetArraySize(pc), 3);
  const cJSON *dog = cJSON_GetArrayItem(pc, 1);
  assert_string_equal(cJSON_GetObjectItem(dog, "name")->valuestring, "dog");
  assert_near(jnum(dog, "specificity"), 5.0 / 6, "json dog specificity");
  assert_near(jnum(dog, "support"), 2, "json dog support");
  const cJSON *conf = cJSON_GetObjectItem(j, "confusion");
  assert_near(cJSON_GetArrayItem(cJSON_GetArrayItem(conf, 2), 0)->valuedouble, 1, "json confusion");
  assert_null(cJSON_GetObjectItem(j, "binary"));
  cJSON_Delete(j);

  /* Without the flags: the summary only. */
  assert_int_equal(graft_metrics_to_json(&m, NULL, 0, &j), GRAFT_OK);
  assert_null(cJSON_GetObjectItem(j, "per_class"));
  assert_null(cJSON_GetObjectItem(j, "confusion"));
  cJSON_Delete(j);

  const double sums[3] = {5.25, 3.5, 4};
  assert_int_equal(graft_metrics_regression(&m, sums, 1.0), GRAFT_OK);
  assert_int_equal(graft_metrics_to_json(&m, NULL, GRAFT_METRICS_JSON_PER_CLASS, &j), GRAFT_OK);
  assert_string_equal(cJSON_GetObjectItem(j, "task")->valuestring, "regression");
  assert_near(jnum(j, "mse"), 1.3125, "json mse");
  assert_near(jnum(j, "mae"), 0.875, "json mae");
  assert_near(jnum(j, "loss"), 1.0, "json loss");
  assert_null(cJSON_GetObjectItem(j, "accuracy"));
  cJSON_Delete(j);
  graft_metrics_free(&m);
  free(c);
}

/* ---- random cases, dumped for scikit-learn -------------------------------------------
 * Integer-valued logits make ties common, so the first-maximum rule is
 * exercised against numpy's argmax; some labels are -1 (ignored). */

typedef struct {
  int n, k;
  int levels;  /* logits drawn from {0..levels-1}; 0: continuous */
  int ignored; /* one in this many labels is -1; 0: none */
  uint64_t seed;
} random_case;

static const random_case random_cases[] = {
    {1000, 10, 0, 0, 1}, {500, 3, 3, 0, 2},   {300, 2, 0, 0, 3},  {400, 2, 2, 0, 4},
    {200, 7, 3, 10, 5},  {40, 12, 0, 0, 6},   {600, 6, 4, 0, 7},  {1, 4, 0, 0, 8},
    {257, 5, 0, 5, 9},   {800, 20, 0, 0, 10}, {15, 12, 0, 0, 11}, {5, 2, 0, 0, 12},
};

static cJSON *random_case_json(const random_case *rc, cJSON **figures) {
  tu_rng r;
  tu_rng_seed(&r, rc->seed);
  float *logits = malloc((size_t)rc->n * (size_t)rc->k * sizeof *logits);
  int32_t *labels = malloc((size_t)rc->n * sizeof *labels);
  assert_true(logits && labels);
  for (int i = 0; i < rc->n; i++) {
    labels[i] = (int32_t)(tu_uniform(&r, 0, 1) * (float)rc->k);
    if (labels[i] >= rc->k) labels[i] = rc->k - 1;
    if (rc->ignored && tu_uniform(&r, 0, 1) * (float)rc->ignored < 1.0f) labels[i] = -1;
    for (int j = 0; j < rc->k; j++) {
      float v = rc->levels ? floorf(tu_uniform(&r, 0, (float)rc->levels)) : tu_normal(&r);
      /* Lean towards the label so the figures are not all near chance. */
      if (j == labels[i] && tu_uniform(&r, 0, 1) < 0.5f) v += rc->levels ? 1.0f : 1.5f;
      logits[(size_t)i * (size_t)rc->k + (size_t)j] = v;
    }
  }
  uint64_t *c = count(rc->n, rc->k, logits, labels);
  graft_metrics m;
  graft_metrics_init(&m);
  assert_int_equal(graft_metrics_classification(&m, rc->k, c, NAN), GRAFT_OK);
  /* What holds whatever the data: micro figures equal accuracy, weighted
   * recall equals accuracy, every sample is counted or ignored. */
  assert_near(m.micro.f1, m.accuracy, "micro f1 = accuracy");
  assert_near(m.weighted.recall, m.accuracy, "weighted recall = accuracy");
  assert_int_equal(m.total + m.ignored, (uint64_t)rc->n);
  assert_true(m.top5 >= m.accuracy);

  cJSON *o = cJSON_CreateObject();
  assert_non_null(o);
  cJSON_AddNumberToObject(o, "k", rc->k);
  cJSON *jl = cJSON_AddArrayToObject(o, "labels");
  cJSON *jx = cJSON_AddArrayToObject(o, "logits");
  for (int i = 0; i < rc->n; i++) {
    cJSON_AddItemToArray(jl, cJSON_CreateNumber(labels[i]));
    cJSON *row = cJSON_CreateArray();
    for (int j = 0; j < rc->k; j++)
      cJSON_AddItemToArray(row, cJSON_CreateNumber(logits[(size_t)i * (size_t)rc->k + (size_t)j]));
    cJSON_AddItemToArray(jx, row);
  }
  assert_int_equal(
      graft_metrics_to_json(&m, NULL, GRAFT_METRICS_JSON_PER_CLASS | GRAFT_METRICS_JSON_CONFUSION,
                            figures),
      GRAFT_OK);
  cJSON_AddItemToObject(o, "graft", *figures);
  graft_metrics_free(&m);
  free(c);
  free(logits);
  free(labels);
  return o;
}

static void test_random_dump(void **state) {
  (void)state;
  cJSON *root = cJSON_CreateObject();
  cJSON *cases = cJSON_AddArrayToObject(root, "cases");
  assert_non_null(cases);
  for (size_t i = 0; i < sizeof random_cases / sizeof random_cases[0]; i++) {
    cJSON *figures = NULL;
    cJSON_AddItemToArray(cases, random_case_json(&random_cases[i], &figures));
  }
  const char *path = getenv("GRAFT_METRICS_DUMP");
  if (path) {
    char *text = cJSON_PrintUnformatted(root);
    assert_non_null(text);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    printf("wrote %d random cases to %s\n", cJSON_GetArraySize(cases), path);
    free(text);
  }
  cJSON_Delete(root);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_INFO);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_case),     cmocka_unit_test(test_ties_and_nan),
      cmocka_unit_test(test_top5),          cmocka_unit_test(test_empty_classes),
      cmocka_unit_test(test_binary),        cmocka_unit_test(test_regression),
      cmocka_unit_test(test_value_by_name), cmocka_unit_test(test_print),
      cmocka_unit_test(test_json),          cmocka_unit_test(test_random_dump),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* metrics_report.c: the figures of metrics.c for people and for files: the
 * end-of-epoch table (laid out like scikit-learn's classification_report)
 * and the JSON object behind a metrics.jsonl line and report.json. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/log.h"
#include "metrics/metrics.h"

#define NAME_WIDTH_MAX 24
#define CONFUSION_MAX_K 10

static const char *class_name(const char *const *names, int c, char *buf, size_t len) {
  if (names && names[c]) return names[c];
  snprintf(buf, len, "%d", c);
  return buf;
}

static void print_loss(FILE *f, double loss) {
  if (!isnan(loss)) fprintf(f, "  loss %.4f", loss);
  fprintf(f, "\n");
}

static void print_confusion(FILE *f, const graft_metrics *m, const char *const *names) {
  uint64_t widest = 1;
  for (size_t i = 0; i < (size_t)m->k * (size_t)m->k; i++)
    if (m->confusion[i] > widest) widest = m->confusion[i];
  int w = snprintf(NULL, 0, "%llu", (unsigned long long)widest);
  if (w < 4) w = 4;
  fprintf(f, "confusion matrix (rows: true class, columns: predicted class)\n%*s", NAME_WIDTH_MAX,
          "");
  for (int p = 0; p < m->k; p++) fprintf(f, " %*d", w, p);
  fprintf(f, "\n");
  for (int t = 0; t < m->k; t++) {
    char buf[16];
    fprintf(f, "%*.*s", NAME_WIDTH_MAX - 4, NAME_WIDTH_MAX - 4,
            class_name(names, t, buf, sizeof buf));
    fprintf(f, " %2d ", t);
    for (int p = 0; p < m->k; p++)
      fprintf(f, " %*llu", w,
              (unsigned long long)m->confusion[(size_t)t * (size_t)m->k + (size_t)p]);
    fprintf(f, "\n");
  }
}

void graft_metrics_print(FILE *f, const graft_metrics *m, const char *const *names, int max_rows) {
  if (m->k == 0) {
    fprintf(f, "samples %llu  mse %.6g  mae %.6g", (unsigned long long)m->total, m->mse, m->mae);
    print_loss(f, m->loss);
    return;
  }
  int nw = 5;
  for (int c = 0; c < m->k && c < max_rows; c++) {
    char buf[16];
    int len = (int)strlen(class_name(names, c, buf, sizeof buf));
    if (len > nw) nw = len;
  }
  if (nw < 12) nw = 12; /* "weighted avg" */
  if (nw > NAME_WIDTH_MAX) nw = NAME_WIDTH_MAX;
  fprintf(f, "%*s  precision     recall   f1-score  specificity    support\n", nw, "");
  for (int c = 0; c < m->k && c < max_rows; c++) {
    char buf[16];
    fprintf(f, "%*.*s  %9.4f  %9.4f  %9.4f  %11.4f  %9llu\n", nw, nw,
            class_name(names, c, buf, sizeof buf), m->precision[c], m->recall[c], m->f1[c],
            m->specificity[c], (unsigned long long)m->support[c]);
  }
  if (m->k > max_rows)
    fprintf(f, "%*s  (%d more class%s not shown)\n", nw, "...", m->k - max_rows,
            m->k - max_rows == 1 ? "" : "es");
  fprintf(f, "\n");
  const struct {
    const char *name;
    const graft_prf *v;
  } avgs[] = {{"macro avg", &m->macro}, {"micro avg", &m->micro}, {"weighted avg", &m->weighted}};
  for (int i = 0; i < 3; i++)
    fprintf(f, "%*s  %9.4f  %9.4f  %9.4f  %11s  %9llu\n", nw, avgs[i].name, avgs[i].v->precision,
            avgs[i].v->recall, avgs[i].v->f1, "", (unsigned long long)m->total);
  fprintf(f, "\naccuracy %.4f  top-5 %.4f  samples %llu", m->accuracy, m->top5,
          (unsigned long long)m->total);
  if (m->ignored) fprintf(f, "  ignored %llu (label out of range)", (unsigned long long)m->ignored);
  print_loss(f, m->loss);
  if (m->k == 2) {
    const graft_binary_metrics *b = &m->binary;
    char buf[16];
    fprintf(f,
            "binary, positive class %s: sensitivity %.4f  specificity %.4f  precision %.4f  "
            "npv %.4f  f1 %.4f  balanced accuracy %.4f  (tp %llu fp %llu tn %llu fn %llu)\n",
            class_name(names, 1, buf, sizeof buf), b->recall, b->specificity, b->precision, b->npv,
            b->f1, b->balanced_accuracy, (unsigned long long)b->tp, (unsigned long long)b->fp,
            (unsigned long long)b->tn, (unsigned long long)b->fn);
  }
  if (m->k <= CONFUSION_MAX_K) print_confusion(f, m, names);
}

/* ---- JSON ---------------------------------------------------------------- */

/* Adds a number (null for NaN); a failed allocation clears *ok. */
static void add_num(cJSON *o, const char *key, double v, int *ok) {
  cJSON *item = isnan(v) ? cJSON_CreateNull() : cJSON_CreateNumber(v);
  if (!item || !cJSON_AddItemToObject(o, key, item)) {
    cJSON_Delete(item);
    *ok = 0;
  }
}

static void add_prf(cJSON *o, const char *key, const graft_prf *v, int *ok) {
  cJSON *p = cJSON_AddObjectToObject(o, key);
  if (!p) {
    *ok = 0;
    return;
  }
  add_num(p, "precision", v->precision, ok);
  add_num(p, "recall", v->recall, ok);
  add_num(p, "f1", v->f1, ok);
}

static void add_binary(cJSON *o, const graft_binary_metrics *b, int *ok) {
  cJSON *j = cJSON_AddObjectToObject(o, "binary");
  if (!j) {
    *ok = 0;
    return;
  }
  add_num(j, "positive_class", 1, ok);
  add_num(j, "tp", (double)b->tp, ok);
  add_num(j, "fp", (double)b->fp, ok);
  add_num(j, "tn", (double)b->tn, ok);
  add_num(j, "fn", (double)b->fn, ok);
  add_num(j, "precision", b->precision, ok);
  add_num(j, "recall", b->recall, ok);
  add_num(j, "sensitivity", b->recall, ok);
  add_num(j, "specificity", b->specificity, ok);
  add_num(j, "npv", b->npv, ok);
  add_num(j, "f1", b->f1, ok);
  add_num(j, "balanced_accuracy", b->balanced_accuracy, ok);
}

static void add_per_class(cJSON *o, const graft_metrics *m, const char *const *names, int *ok) {
  cJSON *arr = cJSON_AddArrayToObject(o, "per_class");
  if (!arr) {
    *ok = 0;
    return;
  }
  for (int c = 0; c < m->k && *ok; c++) {
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(arr, e)) {
      cJSON_Delete(e);
      *ok = 0;
      return;
    }
    add_num(e, "index", c, ok);
    if (names && names[c] && !cJSON_AddStringToObject(e, "name", names[c])) *ok = 0;
    add_num(e, "precision", m->precision[c], ok);
    add_num(e, "recall", m->recall[c], ok);
    add_num(e, "sensitivity", m->recall[c], ok);
    add_num(e, "specificity", m->specificity[c], ok);
    add_num(e, "f1", m->f1[c], ok);
    add_num(e, "support", (double)m->support[c], ok);
  }
}

static void add_confusion(cJSON *o, const graft_metrics *m, int *ok) {
  cJSON *rows = cJSON_AddArrayToObject(o, "confusion");
  if (!rows) {
    *ok = 0;
    return;
  }
  for (int t = 0; t < m->k && *ok; t++) {
    cJSON *row = cJSON_CreateArray();
    if (!row || !cJSON_AddItemToArray(rows, row)) {
      cJSON_Delete(row);
      *ok = 0;
      return;
    }
    for (int p = 0; p < m->k; p++) {
      cJSON *v = cJSON_CreateNumber((double)m->confusion[(size_t)t * (size_t)m->k + (size_t)p]);
      if (!v || !cJSON_AddItemToArray(row, v)) {
        cJSON_Delete(v);
        *ok = 0;
        return;
      }
    }
  }
}

graft_status graft_metrics_to_json(const graft_metrics *m, const char *const *names, int flags,
                                   struct cJSON **out) {
  *out = NULL;
  cJSON *o = cJSON_CreateObject();
  int ok = o != NULL;
  if (ok && !cJSON_AddStringToObject(o, "task", m->k ? "classification" : "regression")) ok = 0;
  if (ok) {
    add_num(o, "samples", (double)m->total, &ok);
    add_num(o, "loss", m->loss, &ok);
  }
  if (ok && m->k == 0) {
    add_num(o, "mse", m->mse, &ok);
    add_num(o, "mae", m->mae, &ok);
  } else if (ok) {
    add_num(o, "classes", m->k, &ok);
    add_num(o, "ignored", (double)m->ignored, &ok);
    add_num(o, "accuracy", m->accuracy, &ok);
    add_num(o, "top5", m->top5, &ok);
    add_prf(o, "macro", &m->macro, &ok);
    add_prf(o, "micro", &m->micro, &ok);
    add_prf(o, "weighted", &m->weighted, &ok);
    if (m->k == 2) add_binary(o, &m->binary, &ok);
    if (flags & GRAFT_METRICS_JSON_PER_CLASS) add_per_class(o, m, names, &ok);
    if (flags & GRAFT_METRICS_JSON_CONFUSION) add_confusion(o, m, &ok);
  }
  if (!ok) {
    cJSON_Delete(o);
    GRAFT_FAIL(GRAFT_ENOMEM, "metrics: out of memory building JSON");
  }
  *out = o;
  return GRAFT_OK;
}

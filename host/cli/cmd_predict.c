/* cmd_predict.c: `graft predict weights=W [topk=5] [json=1] IMAGE...`:
 * the top classes and their probabilities for each image. The model, its
 * input transform and the class names come from the weights file's
 * metadata (graft train writes them); a regression head prints its
 * value instead. model=, num_classes=, widths=,
 * image_size= and resize= override or supply them. An image that cannot be
 * read is reported and the others are still classified (exit status 1). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/log.h"
#include "data/augment.h"
#include "data/image.h"
#include "nn/weights.h"

#define PREDICT_BATCH 16

typedef struct {
  graft_model_args m;
  int image_size, resize, topk, json;
  int regression; /* a head of one output whose value is the prediction */
  float mean[3], std[3];
  char **classes; /* (num_classes) or NULL */
  char *class_buf;
} predict_cfg;

static int meta_int(const graft_st_file *f, const char *key, int def) {
  const char *v = graft_st_meta_get(f, key);
  return v && *v ? atoi(v) : def;
}

static void meta_floats(const graft_st_file *f, const char *key, float out[3]) {
  const char *v = graft_st_meta_get(f, key);
  if (v) sscanf(v, "%f,%f,%f", &out[0], &out[1], &out[2]);
}

/* Splits the "classes" metadata (one name per line) into cfg->classes. */
static void read_classes(predict_cfg *c, const graft_st_file *f) {
  const char *v = graft_st_meta_get(f, "classes");
  if (!v || !*v) return;
  c->class_buf = malloc(strlen(v) + 1);
  c->classes = calloc((size_t)c->m.num_classes, sizeof(char *));
  if (!c->class_buf || !c->classes) return;
  strcpy(c->class_buf, v);
  char *p = c->class_buf;
  for (int i = 0; i < c->m.num_classes && p; i++) {
    c->classes[i] = p;
    p = strchr(p, '\n');
    if (p) *p++ = '\0';
  }
}

static graft_status read_cfg(graft_args *a, const graft_st_file *f, predict_cfg *c) {
  static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f}, imagenet_std[3] = {0.229f, 0.224f, 0.225f};
  memcpy(c->mean, imagenet_mean, sizeof c->mean);
  memcpy(c->std, imagenet_std, sizeof c->std);
  meta_floats(f, "mean", c->mean);
  meta_floats(f, "std", c->std);
  const char *model = graft_st_meta_get(f, "model");
  const char *widths = graft_st_meta_get(f, "widths");
  c->m.model = graft_args_str(a, "model", model);
  c->m.widths = graft_args_str(a, "widths", widths && *widths ? widths : NULL);
  c->m.weights = NULL;
  c->m.strict = 1;
  c->m.seed = 0;
  c->m.dropout = 0.0f;
  GRAFT_TRY(graft_args_int(a, "num_classes", meta_int(f, "num_classes", 0), &c->m.num_classes));
  GRAFT_TRY(graft_args_int(a, "image_size", meta_int(f, "image_size", 224), &c->image_size));
  GRAFT_TRY(graft_args_int(a, "resize", meta_int(f, "resize", c->image_size * 8 / 7), &c->resize));
  GRAFT_TRY(graft_args_int(a, "topk", 5, &c->topk));
  GRAFT_TRY(graft_args_bool(a, "json", 0, &c->json));
  if (!c->m.model || c->m.num_classes < 1)
    GRAFT_FAIL(GRAFT_EINVAL, "%s does not say which model it holds: pass model=... num_classes=...", f->label);
  if (c->topk < 1) c->topk = 1;
  if (c->topk > c->m.num_classes) c->topk = c->m.num_classes;
  const char *task = graft_st_meta_get(f, "task");
  c->regression = task && !strcmp(task, "regression");
  if (!c->regression) read_classes(c, f);
  return GRAFT_OK;
}

static void print_value(const predict_cfg *c, const char *path, float value) {
  if (!c->json) {
    printf("%s: %.6g\n", path, (double)value);
    return;
  }
  cJSON *obj = cJSON_CreateObject();
  cJSON_AddStringToObject(obj, "image", path);
  cJSON_AddNumberToObject(obj, "value", value);
  char *text = cJSON_PrintUnformatted(obj);
  if (text) printf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(obj);
}

static void print_result(const predict_cfg *c, const char *path, const float *logits /* (K) */) {
  if (c->regression) {
    print_value(c, path, logits[0]);
    return;
  }
  int k = c->m.num_classes;
  double mx = -INFINITY, sum = 0.0;
  for (int j = 0; j < k; j++) mx = fmax(mx, (double)logits[j]);
  for (int j = 0; j < k; j++) sum += exp((double)logits[j] - mx);
  int order[64];
  int n = c->topk < 64 ? c->topk : 64;
  for (int t = 0; t < n; t++) { /* selection of the n largest, first index on ties */
    int best = -1;
    for (int j = 0; j < k; j++) {
      int used = 0;
      for (int u = 0; u < t; u++) used |= order[u] == j;
      if (!used && (best < 0 || logits[j] > logits[best])) best = j;
    }
    order[t] = best;
  }
  cJSON *obj = c->json ? cJSON_CreateObject() : NULL, *top = c->json ? cJSON_CreateArray() : NULL;
  if (!c->json) printf("%s:", path);
  for (int t = 0; t < n; t++) {
    int j = order[t];
    double p = exp((double)logits[j] - mx) / sum;
    const char *name = c->classes && c->classes[j] ? c->classes[j] : NULL;
    if (c->json) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddNumberToObject(e, "index", j);
      cJSON_AddStringToObject(e, "class", name ? name : "");
      cJSON_AddNumberToObject(e, "prob", p);
      cJSON_AddItemToArray(top, e);
    } else if (name) {
      printf("%s %s %.4f", t ? "," : "", name, p);
    } else {
      printf("%s %d %.4f", t ? "," : "", j, p);
    }
  }
  if (!c->json) {
    printf("\n");
    return;
  }
  cJSON_AddStringToObject(obj, "image", path);
  cJSON_AddItemToObject(obj, "top", top);
  char *text = cJSON_PrintUnformatted(obj);
  if (text) printf("%s\n", text);
  cJSON_free(text);
  cJSON_Delete(obj);
}

static graft_status run(graft_args *a, int *failed) {
  const char *weights = graft_args_str(a, "weights", NULL);
  graft_ctx_args dev;
  GRAFT_TRY(graft_ctx_args_get(a, "cpu", &dev));
  if (!weights || a->npositional == 0)
    GRAFT_FAIL(GRAFT_EINVAL, "usage: graft predict weights=FILE [topk=5] [json=1] IMAGE...");
  graft_st_file f;
  GRAFT_TRY(graft_st_load(&f, weights));
  predict_cfg c;
  memset(&c, 0, sizeof c);
  graft_net net;
  int batch = a->npositional < PREDICT_BATCH ? a->npositional : PREDICT_BATCH;
  graft_net_init(&net, batch);
  graft_ctx ctx;
  graft_resampler rs;
  graft_resampler_init(&rs);
  graft_image im;
  graft_image_init(&im);
  size_t px = 0;
  uint8_t *u8 = NULL;
  float *x = NULL, *logits = NULL; /* (batch, H, W, 3) and (batch, K) host copies */
  const char **names = malloc((size_t)batch * sizeof *names);
  graft_status s = graft_ctx_open(&ctx, dev.device, dev.threads, dev.precision);
  if (s == GRAFT_OK) s = names ? read_cfg(a, &f, &c) : GRAFT_ENOMEM;
  if (s == GRAFT_OK) s = graft_args_finish(a);
  if (s == GRAFT_OK) s = graft_model_build(&net, &c.m, c.image_size, c.image_size, 3);
  if (s == GRAFT_OK) {
    graft_load_opts lo = {.strict = 1, .quiet = 1};
    s = graft_weights_load_st(&net, &f, &lo, NULL);
  }
  void *workspace = NULL;
  if (s == GRAFT_OK) s = graft_net_place(&net, &ctx);
  if (s == GRAFT_OK) s = graft_ctx_reserve_workspace(&ctx, graft_net_workspace_bytes(&net, &ctx), &workspace);
  if (s == GRAFT_OK) {
    px = (size_t)c.image_size * (size_t)c.image_size;
    u8 = malloc(px * 3);
    x = malloc(net.values[net.input].count * sizeof *x);
    logits = malloc(net.values[net.output].count * sizeof *logits);
    if (!u8 || !x || !logits) s = GRAFT_ENOMEM;
  }
  graft_cls_aug aug;
  graft_cls_aug_defaults(&aug);
  aug.size = c.image_size;
  aug.resize = c.resize;
  memcpy(aug.mean, c.mean, sizeof aug.mean);
  memcpy(aug.std, c.std, sizeof aug.std);
  for (int i = 0; i < a->npositional && s == GRAFT_OK;) {
    int n = 0;
    for (; i < a->npositional && n < batch; i++) {
      const char *path = a->positional[i];
      if (graft_image_decode_file(path, NULL, &im) != GRAFT_OK || graft_cls_eval(&rs, &im, &aug, u8) != GRAFT_OK) {
        (*failed)++;
        continue;
      }
      graft_normalize(u8, px, aug.mean, aug.std, x + (size_t)n * px * 3);
      names[n++] = path;
    }
    if (n == 0) continue;
    s = graft_net_write_act(&net, net.input, x, (size_t)n * px * 3);
    if (s == GRAFT_OK) s = graft_net_forward(&net, &ctx, 0);
    if (s == GRAFT_OK) s = graft_net_read_act(&net, net.output, logits, (size_t)n * (size_t)net.num_classes);
    for (int r = 0; r < n && s == GRAFT_OK; r++) print_result(&c, names[r], logits + (size_t)r * (size_t)net.num_classes);
  }
  graft_ctx_release_workspace(&ctx, workspace);
  free(names);
  free(u8);
  free(x);
  free(logits);
  free(c.classes);
  free(c.class_buf);
  graft_image_free(&im);
  graft_resampler_free(&rs);
  graft_net_free(&net);
  graft_ctx_close(&ctx);
  graft_st_free(&f);
  return s;
}

int graft_cmd_predict(int argc, char **argv) {
  graft_args a;
  if (graft_args_parse(&a, argc, argv) != GRAFT_OK) return 2;
  int failed = 0;
  graft_status s = run(&a, &failed);
  if (s != GRAFT_OK) {
    GRAFT_ERROR("predict failed: %s", graft_status_str(s));
    return s == GRAFT_EINVAL ? 2 : 1;
  }
  if (failed) GRAFT_ERROR("%d image(s) could not be read", failed);
  return failed ? 1 : 0;
}

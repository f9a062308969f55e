/* parity.c: `graft step` against the committed PyTorch fixtures
 * (tools/gen_resnet_fixtures.py), shared by the CPU parity test and the
 * GPU whole-step test. Logits and loss are compared in full; every
 * gradient, parameter and buffer through its summary (summary.h).
 *
 * The reference is PyTorch in float64, and each fixture carries how far
 * PyTorch's float32 run lands from it (err.<name>). A tensor passes when
 * graft's error is at most ratio times PyTorch's own float32 error, or
 * under the quantity's floor (scaled by floor_scale for the lower GPU
 * precisions): graft must be as accurate as PyTorch, which for a ResNet-50
 * trained on batch statistics of a few images is not very accurate
 * (percents on some gradients). Errors are those of tu_max_rel_err (full
 * tensors) and summary_error (summaries). */
#include "parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "io/safetensors.h"
#include "summary.h"
#include "testutil.h"

#define FLOOR_LOGITS 1e-5
#define FLOOR_LOSS 1e-6
#define FLOOR_GRAD 1e-4
#define FLOOR_PARAM 1e-4 /* a step moves a parameter by lr x its gradient, and inherits its error */
#define FLOOR_BUFFER 1e-5

/* PyTorch float32's error on name, from the fixture's err.<name>. */
static double torch_error(const graft_st_file *want, const char *name) {
  char key[300];
  snprintf(key, sizeof key, "err.%s", name);
  const graft_st_tensor *t = graft_st_find(want, key);
  float e = 0.0f;
  if (!t || graft_st_read_f32(want, t, &e, 1) != GRAFT_OK) return 0.0;
  return (double)e;
}

/* Tracks the worst tensor of one kind against its allowance. */
typedef struct {
  double worst_excess; /* error / allowance */
  double err, allowed, torch;
  char name[256];
  int count;
} verdict;

static void judge(verdict *v, const char *name, double e, double torch, double floor, double ratio) {
  double allowed = fmax(ratio * torch, floor);
  if (isnan(e)) e = INFINITY;
  double excess = e / allowed;
  if (v->count++ == 0 || excess > v->worst_excess) {
    v->worst_excess = excess;
    v->err = e;
    v->allowed = allowed;
    v->torch = torch;
    snprintf(v->name, sizeof v->name, "%s", name);
  }
}

static int report(const char *kind, const verdict *v, double ratio) {
  printf("  %-12s %3d tensors; worst %s: graft %.2e, torch float32 %.2e, allowed %.2e\n", kind, v->count,
         v->name, v->err, v->torch, v->allowed);
  if (v->count == 0) {
    fprintf(stderr, "MISMATCH %s: nothing compared\n", kind);
    return 0;
  }
  if (v->worst_excess > 1.0) {
    fprintf(stderr, "MISMATCH %s: %s error %.3e exceeds %.3e (%g x torch float32 %.3e, floor)\n", kind, v->name,
            v->err, v->allowed, ratio, v->torch);
    return 0;
  }
  return 1;
}

static float *read_all(const graft_st_file *f, const char *name, size_t *n) {
  const graft_st_tensor *t = graft_st_find(f, name);
  if (!t) {
    fprintf(stderr, "missing tensor %s in %s\n", name, f->label);
    return NULL;
  }
  *n = (size_t)graft_shape_numel(&t->shape);
  float *v = malloc((*n ? *n : 1) * sizeof(float));
  if (!v) return NULL;
  if (t->dtype == GRAFT_DTYPE_I64 && *n == 1) { /* num_batches_tracked */
    int64_t c = 0;
    if (graft_st_read_i64(f, t, &c, 1) == GRAFT_OK) {
      v[0] = (float)c;
      return v;
    }
  } else if (graft_st_read_f32(f, t, v, *n) == GRAFT_OK) {
    return v;
  }
  free(v);
  return NULL;
}

static int compare_full(const graft_st_file *got, const graft_st_file *want, const char *name, double floor,
                        double ratio) {
  size_t n1 = 0, n2 = 0;
  float *a = read_all(got, name, &n1), *b = read_all(want, name, &n2);
  verdict v = {0};
  if (a && b && n1 == n2) judge(&v, name, tu_max_rel_err(a, b, n1, 1e-3, NULL), torch_error(want, name), floor, ratio);
  free(a);
  free(b);
  return report(name, &v, ratio);
}

/* Compares every "sum.<kind>.*" summary in want with got's "<kind>.*". */
static int compare_summaries(const graft_st_file *got, const graft_st_file *want, const char *kind, double floor,
                             double ratio) {
  char prefix[32];
  snprintf(prefix, sizeof prefix, "sum.%s.", kind);
  size_t plen = strlen(prefix);
  verdict v = {0};
  int ok = 1;
  for (size_t i = 0; i < want->n_tensors; i++) {
    const graft_st_tensor *t = &want->tensors[i];
    if (strncmp(t->name, prefix, plen)) continue;
    const char *name = t->name + 4; /* "<kind>.<param>" */
    float ref[SUMMARY_LEN];
    size_t n = 0;
    float *val = read_all(got, name, &n);
    if (!val || graft_st_read_f32(want, t, ref, SUMMARY_LEN) != GRAFT_OK) {
      fprintf(stderr, "MISMATCH %s: missing from graft's output\n", name);
      free(val);
      ok = 0;
      continue;
    }
    double sum[SUMMARY_LEN];
    summary_compute(val, n, sum);
    free(val);
    judge(&v, name, summary_error(sum, ref), torch_error(want, name), floor, ratio);
  }
  return report(kind, &v, ratio) && ok;
}

/* Splits the fixture's "args" metadata and extra into argv after input=
 * and out=. */
static int run_step(const char *args, const char *extra, const char *input, const char *out) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s %s", args, extra ? extra : "");
  char in_arg[1100], out_arg[1100];
  snprintf(in_arg, sizeof in_arg, "input=%s", input);
  snprintf(out_arg, sizeof out_arg, "out=%s", out);
  char *argv[64];
  int argc = 0;
  argv[argc++] = in_arg;
  argv[argc++] = out_arg;
  for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
  return graft_cmd_step(argc, argv);
}

int parity_check_fixture(const char *name, const char *extra, double ratio, double floor_scale) {
  char rel[256], path[1024], out[1024];
  snprintf(rel, sizeof rel, "tests/fixtures/resnet/%s.safetensors", name);
  tu_source_path(rel, path, sizeof path);
  const char *bin = getenv("GRAFT_BINARY_DIR");
  snprintf(out, sizeof out, "%s/parity_%s_%d.safetensors", bin ? bin : ".", name, (int)getpid());
  graft_st_file want, got;
  if (graft_st_load(&want, path) != GRAFT_OK) return 0;
  const char *args = graft_st_meta_get(&want, "args");
  if (!args) {
    fprintf(stderr, "%s: no args metadata\n", path);
    graft_st_free(&want);
    return 0;
  }
  printf("%s: graft step %s %s\n", name, args, extra ? extra : "");
  int rc = run_step(args, extra, path, out);
  if (rc != 0 || graft_st_load(&got, out) != GRAFT_OK) {
    fprintf(stderr, "%s: graft step failed (exit %d)\n", name, rc);
    graft_st_free(&want);
    return 0;
  }
  int ok = 1;
  ok &= compare_full(&got, &want, "logits", FLOOR_LOGITS * floor_scale, ratio);
  ok &= compare_full(&got, &want, "loss", FLOOR_LOSS * floor_scale, ratio);
  ok &= compare_full(&got, &want, "eval_logits", FLOOR_LOGITS * floor_scale, ratio);
  ok &= compare_summaries(&got, &want, "grad", FLOOR_GRAD * floor_scale, ratio);
  ok &= compare_summaries(&got, &want, "param", FLOOR_PARAM * floor_scale, ratio);
  ok &= compare_summaries(&got, &want, "buffer", FLOOR_BUFFER * floor_scale, ratio);
  graft_st_free(&got);
  graft_st_free(&want);
  remove(out);
  return ok;
}

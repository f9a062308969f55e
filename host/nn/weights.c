/* weights.c: loading by name and shape, saving as a PyTorch state dict,
 * layout conversion (OIHW files, OHWI in graft) and synthetic weights. */
#include "nn/weights.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "ops/math.h"

/* src in graft's layout -> out in the file's layout. */
static void to_file(const graft_param *p, const float *src, float *out) {
  if (p->layout == GRAFT_LAYOUT_PLAIN) {
    memcpy(out, src, p->count * sizeof(float));
    return;
  }
  /* graft (K, R, S, C) -> file (K, C, R, S) */
  int64_t k = p->shape.dim[0], c = p->shape.dim[1], r = p->shape.dim[2], s = p->shape.dim[3];
  for (int64_t o = 0; o < k; o++)
    for (int64_t i = 0; i < c; i++)
      for (int64_t y = 0; y < r; y++)
        for (int64_t x = 0; x < s; x++) out[((o * c + i) * r + y) * s + x] = src[((o * r + y) * s + x) * c + i];
}

void graft_param_to_file(graft_net *net, int id, float *out) {
  to_file(&net->params[id], graft_net_param_host(net, id), out);
}

void graft_param_from_file(graft_net *net, int id, const float *in) {
  const graft_param *p = &net->params[id];
  float *dst = graft_net_param_host(net, id);
  if (p->layout == GRAFT_LAYOUT_PLAIN) {
    memcpy(dst, in, p->count * sizeof(float));
    return;
  }
  int64_t k = p->shape.dim[0], c = p->shape.dim[1], r = p->shape.dim[2], s = p->shape.dim[3];
  for (int64_t o = 0; o < k; o++)
    for (int64_t i = 0; i < c; i++)
      for (int64_t y = 0; y < r; y++)
        for (int64_t x = 0; x < s; x++) dst[((o * r + y) * s + x) * c + i] = in[((o * c + i) * r + y) * s + x];
}

/* Largest parameter, for one conversion buffer. */
static size_t largest_param(const graft_net *net) {
  size_t most = 1;
  for (int i = 0; i < net->nparams; i++)
    if (net->params[i].count > most) most = net->params[i].count;
  return most;
}

static uint64_t fnv1a64(const char *s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (; *s; s++) {
    h ^= (uint8_t)*s;
    h *= 0x100000001B3ull;
  }
  return h;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* The same formulas, in the same float32 arithmetic, as synth_tensor() in
 * tools/hashinit.py. */
static void synth_values(const graft_param *p, uint64_t seed, float *out) {
  uint64_t ts = graft_hash64(seed, fnv1a64(p->name));
  const graft_shape *sh = &p->shape;
  float scale = 1.0f;
  if (sh->ndim == 4) scale = (float)sqrt(6.0 / (double)(sh->dim[0] * sh->dim[2] * sh->dim[3]));
  if (sh->ndim == 2) scale = (float)(1.0 / sqrt((double)sh->dim[1]));
  for (size_t i = 0; i < p->count; i++) {
    float u = graft_hash_uniform(ts, i);
    float c = 2.0f * u - 1.0f;
    float v;
    if (ends_with(p->name, "running_mean")) v = 0.1f * c;
    else if (ends_with(p->name, "running_var")) v = 1.0f + 0.5f * u;
    else if (ends_with(p->name, "bias")) v = 0.1f * c;
    else if (sh->ndim == 1) v = 1.0f + 0.25f * c;
    else v = c * scale;
    out[i] = v;
  }
}

void graft_weights_synthesize(graft_net *net, uint64_t seed) {
  float *tmp = malloc(largest_param(net) * sizeof(float));
  if (!tmp) {
    GRAFT_ERROR("out of memory synthesizing weights");
    return;
  }
  for (int i = 0; i < net->nparams; i++) {
    graft_param *p = &net->params[i];
    if (p->kind == GRAFT_PARAM_COUNTER) {
      p->counter = 0;
      continue;
    }
    synth_values(p, seed, tmp);
    graft_param_from_file(net, i, tmp);
  }
  free(tmp);
}

static graft_status load_one(graft_net *net, int id, const graft_st_file *f, const graft_st_tensor *t,
                             float *tmp) {
  graft_param *p = &net->params[id];
  if (p->kind == GRAFT_PARAM_COUNTER) {
    int64_t v = 0;
    GRAFT_TRY(graft_st_read_i64(f, t, &v, 1));
    p->counter = v;
    return GRAFT_OK;
  }
  GRAFT_TRY(graft_st_read_f32(f, t, tmp, p->count));
  graft_param_from_file(net, id, tmp);
  return GRAFT_OK;
}

/* A counter saved as a 1-element tensor still fits a scalar slot. */
static int shape_fits(const graft_param *p, const graft_st_tensor *t) {
  if (graft_shape_equal(&p->shape, &t->shape)) return 1;
  return p->kind == GRAFT_PARAM_COUNTER && graft_shape_numel(&t->shape) == 1;
}

graft_status graft_weights_load_st(graft_net *net, const graft_st_file *f, const graft_load_opts *opts,
                                   graft_load_summary *sum) {
  graft_load_opts none = {0};
  if (!opts) opts = &none;
  const char *prefix = opts->prefix ? opts->prefix : "";
  size_t plen = strlen(prefix);
  graft_load_summary s = {0};
  graft_status st = GRAFT_OK;
  float *tmp = malloc(largest_param(net) * sizeof(float));
  char *used = calloc(f->n_tensors ? f->n_tensors : 1, 1);
  if (!tmp || !used) {
    free(tmp);
    free(used);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory loading %s", f->label);
  }
  char name[2 * GRAFT_NAME_MAX];
  for (int i = 0; i < net->nparams && st == GRAFT_OK; i++) {
    graft_param *p = &net->params[i];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    const graft_st_tensor *t = graft_st_find(f, name);
    if (!t) {
      /* state dicts saved from nn.DataParallel carry a "module." prefix */
      snprintf(name, sizeof name, "module.%s%s", prefix, p->name);
      t = graft_st_find(f, name);
    }
    char a[96], b[96];
    if (!t) {
      s.missing++;
      if (!opts->quiet || opts->strict)
        graft_log(opts->strict ? GRAFT_LOG_ERROR : GRAFT_LOG_INFO, __FILE__, __LINE__,
                  "  missing in %s: %s %s (initialized)", f->label, p->name, graft_shape_str(&p->shape, a, sizeof a));
      continue;
    }
    used[t - f->tensors] = 1;
    if (!shape_fits(p, t)) {
      s.mismatched++;
      if (!opts->quiet || opts->strict)
        graft_log(opts->strict ? GRAFT_LOG_ERROR : GRAFT_LOG_INFO, __FILE__, __LINE__,
                  "  shape differs in %s: %s is %s in the file, %s in the model (initialized)", f->label, p->name,
                  graft_shape_str(&t->shape, a, sizeof a), graft_shape_str(&p->shape, b, sizeof b));
      continue;
    }
    st = load_one(net, i, f, t, tmp);
    if (st != GRAFT_OK) GRAFT_ERROR("cannot read %s from %s", t->name, f->label);
    else s.loaded++;
  }
  for (size_t j = 0; j < f->n_tensors && st == GRAFT_OK; j++) {
    if (used[j] || strncmp(f->tensors[j].name, prefix, plen)) continue;
    s.unexpected++;
    if (!opts->quiet || opts->strict)
      graft_log(opts->strict ? GRAFT_LOG_ERROR : GRAFT_LOG_INFO, __FILE__, __LINE__, "  unused in %s: %s",
                f->label, f->tensors[j].name);
  }
  free(tmp);
  free(used);
  if (sum) *sum = s;
  if (st != GRAFT_OK) return st;
  if (!opts->quiet)
    GRAFT_INFO("weights %s: %d tensors loaded, %d re-initialized (shape differs), %d initialized (missing), "
               "%d unused",
               f->label, s.loaded, s.mismatched, s.missing, s.unexpected);
  if (opts->strict && (s.mismatched || s.missing || s.unexpected))
    GRAFT_FAIL(GRAFT_ESHAPE, "strict loading of %s: %d shape mismatches, %d missing, %d unexpected tensors",
               f->label, s.mismatched, s.missing, s.unexpected);
  /* A net already on a device gets what was read into its host copy. */
  return graft_net_push(net);
}

graft_status graft_weights_load(graft_net *net, const char *path, const graft_load_opts *opts,
                                graft_load_summary *sum) {
  if (!strncmp(path, "hash:", 5)) {
    char *end = NULL;
    errno = 0;
    unsigned long long seed = strtoull(path + 5, &end, 10);
    if (end == path + 5 || *end || errno)
      GRAFT_FAIL(GRAFT_EINVAL, "weights=%s: expected hash:<non-negative integer seed>", path);
    graft_weights_synthesize(net, (uint64_t)seed);
    if (sum) *sum = (graft_load_summary){.loaded = net->nparams};
    return graft_net_push(net);
  }
  graft_st_file f;
  graft_status s = graft_st_load(&f, path);
  if (s == GRAFT_OK) s = graft_weights_load_st(net, &f, opts, sum);
  graft_st_free(&f);
  return s;
}

graft_status graft_weights_append(graft_net *net, graft_st_list *list, graft_net_part part, const char *prefix) {
  /* Files are written from the host copies: bring a placed net's back. */
  GRAFT_TRY(graft_net_pull(net, part == GRAFT_PART_GRADS ? GRAFT_NET_GRADS : GRAFT_NET_WEIGHTS));
  float *tmp = malloc(largest_param(net) * sizeof(float));
  if (!tmp) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory saving weights");
  graft_status s = GRAFT_OK;
  char name[2 * GRAFT_NAME_MAX];
  for (int i = 0; i < net->nparams && s == GRAFT_OK; i++) {
    graft_param *p = &net->params[i];
    int weight = p->kind == GRAFT_PARAM_WEIGHT;
    int want = part == GRAFT_PART_STATE || ((part == GRAFT_PART_PARAMS || part == GRAFT_PART_GRADS) && weight) ||
               (part == GRAFT_PART_BUFFERS && !weight);
    if (!want) continue;
    snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", p->name);
    if (p->kind == GRAFT_PARAM_COUNTER) {
      s = graft_st_list_add(list, name, GRAFT_DTYPE_I64, p->shape, &p->counter);
      continue;
    }
    to_file(p, part == GRAFT_PART_GRADS ? graft_net_grad_host(net, i) : graft_net_param_host(net, i), tmp);
    s = graft_st_list_add(list, name, GRAFT_DTYPE_F32, p->shape, tmp);
  }
  free(tmp);
  return s;
}

graft_status graft_weights_save(graft_net *net, const char *path, const graft_st_meta *meta, size_t n_meta) {
  graft_st_list list;
  graft_st_list_init(&list);
  graft_status s = graft_weights_append(net, &list, GRAFT_PART_STATE, NULL);
  if (s == GRAFT_OK) s = graft_st_list_write(&list, path, meta, n_meta);
  graft_st_list_free(&list);
  return s;
}

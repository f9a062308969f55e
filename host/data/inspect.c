/* inspect.c: gathering the facts of `graft inspect` (see inspect.h): every
 * file read, hashed and decoded in parallel, then counts, sizes, imbalance
 * and groups of identical files. Printing is in inspect_print.c. */
#define _POSIX_C_SOURCE 200809L
#include "data/inspect.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/image.h"

void graft_inspect_opts_defaults(graft_inspect_opts *o) {
  memset(o, 0, sizeof *o);
  o->imbalance_warn = 5.0;
  o->threads = 2;
}

void graft_inspect_init(graft_inspect_report *r) {
  memset(r, 0, sizeof *r);
  graft_dataset_init(&r->ds);
}

void graft_inspect_free(graft_inspect_report *r) {
  if (!r) return;
  for (size_t i = 0; r->files && i < r->nfiles; i++) free(r->files[i].error);
  free(r->files);
  for (size_t g = 0; r->groups && g < r->ngroups; g++) free(r->groups[g].members);
  free(r->groups);
  for (int s = 0; s < 2; s++) free(r->split[s].per_class);
  graft_dataset_free(&r->ds);
  graft_inspect_init(r);
}

static const graft_sample *sample_of(const graft_inspect_report *r, size_t k) {
  const graft_inspect_file *f = &r->files[k];
  return f->split == 0 ? &r->ds.train.s[f->index] : &r->ds.val.s[f->index];
}

static size_t file_limit(size_t max_pixels) {
  size_t px = max_pixels ? max_pixels : GRAFT_IMAGE_MAX_PIXELS_DEFAULT;
  return px * 8 + (1u << 20);
}

/* Reads, hashes and decodes one file; problems go to f->error. */
static void examine(const char *path, size_t max_pixels, graft_inspect_file *f) {
  char err[512];
  uint8_t *buf = NULL;
  size_t len = 0;
  graft_status s = graft_read_file(path, file_limit(max_pixels), &buf, &len, err, sizeof err);
  if (s == GRAFT_OK) {
    f->hash = graft_content_hash(buf, len);
    f->bytes = len;
    graft_image im;
    graft_image_init(&im);
    graft_decode_opts d = {max_pixels, 0, 0, err, sizeof err};
    s = graft_image_decode_mem(buf, len, path, &d, &im);
    f->w = im.w;
    f->h = im.h;
    graft_image_free(&im);
  }
  free(buf);
  if (s != GRAFT_OK) f->error = strdup(err);
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static graft_status split_stats(graft_inspect_report *r, int si, const graft_split *sp) {
  graft_inspect_split *st = &r->split[si];
  int nc = graft_dataset_num_classes(&r->ds);
  st->n = sp->n;
  st->per_class = calloc((size_t)nc + 1, sizeof *st->per_class);
  int *ws = malloc((sp->n + 1) * sizeof *ws), *hs = malloc((sp->n + 1) * sizeof *hs);
  if (!st->per_class || !ws || !hs) {
    free(ws);
    free(hs);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory summarizing %zu images", sp->n);
  }
  size_t ok = 0;
  for (size_t k = 0; k < r->nfiles; k++) {
    const graft_inspect_file *f = &r->files[k];
    if (f->split != si) continue;
    if (f->error) {
      st->unreadable++;
    } else {
      ws[ok] = f->w;
      hs[ok++] = f->h;
    }
    const graft_sample *s = &sp->s[f->index];
    if (r->ds.task == GRAFT_TASK_CLASSIFY)
      st->per_class[s->label]++;
    else
      for (uint32_t b = 0; b < s->nbox; b++) st->per_class[sp->boxes.v[s->box0 + b].cls]++;
  }
  if (ok) {
    qsort(ws, ok, sizeof *ws, cmp_int);
    qsort(hs, ok, sizeof *hs, cmp_int);
    st->w_min = ws[0], st->w_max = ws[ok - 1], st->w_median = ws[ok / 2];
    st->h_min = hs[0], st->h_max = hs[ok - 1], st->h_median = hs[ok / 2];
  }
  free(ws);
  free(hs);
  for (int c = 0; c < nc; c++) {
    if (st->per_class[c] > st->per_class[st->largest]) st->largest = c;
    if (st->per_class[c] < st->per_class[st->smallest]) st->smallest = c;
  }
  st->imbalance = st->per_class[st->smallest]
                      ? (double)st->per_class[st->largest] / (double)st->per_class[st->smallest]
                      : 0.0;
  return GRAFT_OK;
}

typedef struct {
  uint64_t hash, bytes;
  size_t file;
} file_key;

static int cmp_key(const void *a, const void *b) {
  const file_key *x = a, *y = b;
  if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
  if (x->bytes != y->bytes) return x->bytes < y->bytes ? -1 : 1;
  return (x->file > y->file) - (x->file < y->file);
}

/* 1 when files a and b have the same bytes. */
static int same_bytes(const graft_inspect_report *r, size_t a, size_t b) {
  uint8_t *x = NULL, *y = NULL;
  size_t lx = 0, ly = 0, limit = file_limit(r->opts.max_pixels);
  char err[256];
  int same = graft_read_file(sample_of(r, a)->path, limit, &x, &lx, err, sizeof err) == GRAFT_OK &&
             graft_read_file(sample_of(r, b)->path, limit, &y, &ly, err, sizeof err) == GRAFT_OK &&
             lx == ly && !memcmp(x, y, lx);
  free(x);
  free(y);
  return same;
}

static graft_status add_group(graft_inspect_report *r, const size_t *members, size_t n) {
  graft_inspect_group *g = realloc(r->groups, (r->ngroups + 1) * sizeof *g);
  if (!g) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory grouping duplicates");
  r->groups = g;
  g = &r->groups[r->ngroups];
  g->members = malloc(n * sizeof *g->members);
  if (!g->members) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory grouping duplicates");
  memcpy(g->members, members, n * sizeof *members);
  g->n = n;
  r->ngroups++;
  size_t in[2] = {0, 0};
  int label = sample_of(r, members[0])->label;
  g->label_conflict = 0;
  for (size_t i = 0; i < n; i++) {
    in[r->files[members[i]].split]++;
    g->label_conflict |= sample_of(r, members[i])->label != label;
  }
  g->leak = in[0] && in[1];
  for (int s = 0; s < 2; s++)
    if (in[s] > 1) {
      r->split[s].dup_groups++;
      r->split[s].dup_extra += in[s] - 1;
    }
  r->leak_groups += (size_t)g->leak;
  r->leak_val_files += g->leak ? in[1] : 0;
  r->conflict_groups += (size_t)(g->label_conflict && r->ds.task == GRAFT_TASK_CLASSIFY);
  return GRAFT_OK;
}

static graft_status find_duplicates(graft_inspect_report *r) {
  file_key *keys = malloc((r->nfiles + 1) * sizeof *keys);
  size_t *same = malloc((r->nfiles + 1) * sizeof *same);
  if (!keys || !same) {
    free(keys);
    free(same);
    GRAFT_FAIL(GRAFT_ENOMEM, "out of memory sorting %zu files", r->nfiles);
  }
  size_t m = 0;
  for (size_t k = 0; k < r->nfiles; k++)
    if (r->files[k].bytes) keys[m++] = (file_key){r->files[k].hash, r->files[k].bytes, k};
  qsort(keys, m, sizeof *keys, cmp_key);
  graft_status s = GRAFT_OK;
  for (size_t i = 0; i < m && s == GRAFT_OK;) {
    size_t j = i + 1;
    while (j < m && keys[j].hash == keys[i].hash && keys[j].bytes == keys[i].bytes) j++;
    size_t n = 0;
    if (j - i > 1) {
      same[n++] = keys[i].file;
      for (size_t k = i + 1; k < j; k++)
        if (same_bytes(r, keys[i].file, keys[k].file)) same[n++] = keys[k].file;
    }
    if (n > 1) s = add_group(r, same, n);
    i = j;
  }
  free(keys);
  free(same);
  return s;
}

graft_status graft_inspect_run(const char *root, const graft_inspect_opts *o, graft_inspect_report *r) {
  graft_inspect_init(r);
  r->opts = *o;
  graft_dataset_opts dso = {o->val_ratio, o->seed, NULL, 1};
  GRAFT_TRY(graft_dataset_open(&r->ds, root, &dso));
  r->nfiles = r->ds.train.n + r->ds.val.n;
  r->files = calloc(r->nfiles + 1, sizeof *r->files);
  if (!r->files) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory inspecting %zu files", r->nfiles);
  for (size_t k = 0; k < r->nfiles; k++) {
    r->files[k].split = k < r->ds.train.n ? 0 : 1;
    r->files[k].index = k < r->ds.train.n ? k : k - r->ds.train.n;
  }
  int threads = o->threads > 0 ? o->threads : 1;
#pragma omp parallel for schedule(dynamic, 8) num_threads(threads)
  for (long k = 0; k < (long)r->nfiles; k++) examine(sample_of(r, (size_t)k)->path, o->max_pixels, &r->files[k]);
  GRAFT_TRY(split_stats(r, 0, &r->ds.train));
  GRAFT_TRY(split_stats(r, 1, &r->ds.val));
  return find_duplicates(r);
}

size_t graft_inspect_problems(const graft_inspect_report *r) {
  size_t n = r->leak_groups + r->conflict_groups;
  for (int s = 0; s < 2; s++) n += r->split[s].unreadable + r->split[s].dup_groups;
  const graft_inspect_split *tr = &r->split[0];
  if (tr->imbalance == 0.0 || tr->imbalance > r->opts.imbalance_warn) n++;
  const graft_label_stats *ls = &r->ds.label_stats;
  return n + ls->bad_class + ls->bad_coords + ls->bad_files;
}

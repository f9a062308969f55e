/* dataset.c: finding a dataset's layout and listing its samples (see
 * dataset.h). Owns the split containers, the torchvision-compatible file
 * walk, ImageFolder and YOLO listing, and the seeded stratified hold-out. */
#define _POSIX_C_SOURCE 200809L
#include "data/dataset.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "data/sampler.h"

#define WALK_MAX_DEPTH 32
#define LABEL_FILE_MAX_BYTES ((size_t)64 << 20)
#define TAG_HOLDOUT 0x484F4C444F5554ull

void graft_split_init(graft_split *sp) {
  memset(sp, 0, sizeof *sp);
  graft_boxes_init(&sp->boxes);
}

void graft_split_free(graft_split *sp) {
  if (!sp) return;
  for (size_t i = 0; i < sp->n; i++) free(sp->s[i].path);
  free(sp->s);
  graft_boxes_free(&sp->boxes);
  graft_split_init(sp);
}

/* Appends a sample taking ownership of path (freed on failure). */
static graft_status push_sample(graft_split *sp, char *path, int label, size_t box0, uint32_t nbox) {
  if (!path) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory listing samples");
  if (sp->n == sp->cap) {
    size_t cap = sp->cap ? sp->cap * 2 : 256;
    graft_sample *s = realloc(sp->s, cap * sizeof *s);
    if (!s) {
      free(path);
      GRAFT_FAIL(GRAFT_ENOMEM, "out of memory for %zu samples", cap);
    }
    sp->s = s;
    sp->cap = cap;
  }
  sp->s[sp->n++] = (graft_sample){path, label, box0, nbox};
  return GRAFT_OK;
}

graft_status graft_split_add(graft_split *sp, const char *path, int label) {
  return push_sample(sp, strdup(path), label, sp->boxes.n, 0);
}

graft_status graft_split_push_from(graft_split *dst, const graft_split *src, size_t i) {
  const graft_sample *s = &src->s[i];
  size_t box0 = dst->boxes.n;
  for (uint32_t b = 0; b < s->nbox; b++) GRAFT_TRY(graft_boxes_push(&dst->boxes, src->boxes.v[s->box0 + b]));
  return push_sample(dst, strdup(s->path), s->label, box0, s->nbox);
}

graft_status graft_split_select(graft_split *dst, const graft_split *src, const size_t *idx, size_t n) {
  graft_split_init(dst);
  for (size_t i = 0; i < n; i++) {
    graft_status st = graft_split_push_from(dst, src, idx[i]);
    if (st != GRAFT_OK) {
      graft_split_free(dst);
      return st;
    }
  }
  return GRAFT_OK;
}

void graft_dataset_init(graft_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  graft_strlist_init(&ds->classes);
  graft_split_init(&ds->train);
  graft_split_init(&ds->val);
}

void graft_dataset_free(graft_dataset *ds) {
  if (!ds) return;
  free(ds->root);
  graft_strlist_free(&ds->classes);
  graft_split_free(&ds->train);
  graft_split_free(&ds->val);
  graft_dataset_init(ds);
}

int graft_dataset_num_classes(const graft_dataset *ds) { return (int)ds->classes.count; }

/* Adds dir and every folder below it to dirs. */
static graft_status walk_dirs(const char *dir, int depth, graft_strlist *dirs) {
  if (depth > WALK_MAX_DEPTH)
    GRAFT_FAIL(GRAFT_EUNSUPPORTED, "%s: folders nested deeper than %d (a link loop?)", dir, WALK_MAX_DEPTH);
  GRAFT_TRY(graft_strlist_push(dirs, dir));
  graft_strlist subs;
  GRAFT_TRY(graft_list_dir(dir, GRAFT_LIST_DIRS, &subs));
  graft_status s = GRAFT_OK;
  for (size_t i = 0; i < subs.count && s == GRAFT_OK; i++) {
    char *sub = graft_path_join(dir, subs.items[i]);
    s = sub ? walk_dirs(sub, depth + 1, dirs) : GRAFT_ENOMEM;
    free(sub);
  }
  graft_strlist_free(&subs);
  return s;
}

graft_status graft_list_images(const char *dir, graft_strlist *paths, size_t *foreign) {
  graft_strlist dirs, files;
  graft_strlist_init(&dirs);
  graft_strlist_init(&files);
  graft_status s = walk_dirs(dir, 0, &dirs);
  graft_strlist_sort(&dirs);
  for (size_t d = 0; d < dirs.count && s == GRAFT_OK; d++) {
    s = graft_list_dir(dirs.items[d], GRAFT_LIST_FILES, &files);
    for (size_t f = 0; f < files.count && s == GRAFT_OK; f++) {
      if (graft_has_image_ext(files.items[f]))
        s = graft_strlist_push_owned(paths, graft_path_join(dirs.items[d], files.items[f]));
      else if (foreign && graft_has_foreign_image_ext(files.items[f]))
        (*foreign)++;
    }
    graft_strlist_free(&files);
  }
  graft_strlist_free(&dirs);
  return s;
}

static int class_index(const graft_strlist *classes, const char *name) {
  for (size_t i = 0; i < classes->count; i++)
    if (!strcmp(classes->items[i], name)) return (int)i;
  return -1;
}

/* An ImageFolder split: the sub-folders of dir are classes. The first
 * split read defines the classes; a later one must use the same names. */
static graft_status list_folder_split(graft_dataset *ds, const char *dir, graft_split *sp) {
  graft_strlist names, paths;
  graft_strlist_init(&paths);
  GRAFT_TRY(graft_list_dir(dir, GRAFT_LIST_DIRS, &names));
  graft_status s = GRAFT_OK;
  int defining = ds->classes.count == 0;
  if (defining && names.count == 0) {
    s = GRAFT_EFORMAT;
    GRAFT_ERROR("%s: no class folders (expected %s/<class>/*.png|jpg)", dir, dir);
  }
  for (size_t c = 0; c < names.count && s == GRAFT_OK; c++) {
    int label = defining ? (int)c : class_index(&ds->classes, names.items[c]);
    if (label < 0) {
      s = GRAFT_EFORMAT;
      GRAFT_ERROR("%s/%s: class folder not present in the training split", dir, names.items[c]);
      break;
    }
    char *cdir = graft_path_join(dir, names.items[c]);
    s = cdir ? graft_list_images(cdir, &paths, &ds->foreign_files) : GRAFT_ENOMEM;
    if (s == GRAFT_OK && defining && paths.count == 0) {
      s = GRAFT_EFORMAT;
      GRAFT_ERROR("%s: class folder has no .png/.jpg/.jpeg files; remove it or add images "
                  "(torchvision's ImageFolder refuses it too)", cdir);
    }
    free(cdir);
    for (size_t i = 0; i < paths.count && s == GRAFT_OK; i++) {
      s = push_sample(sp, paths.items[i], label, 0, 0);
      paths.items[i] = NULL;
    }
    graft_strlist_free(&paths);
  }
  if (s == GRAFT_OK && defining)
    for (size_t c = 0; c < names.count && s == GRAFT_OK; c++) s = graft_strlist_push(&ds->classes, names.items[c]);
  graft_strlist_free(&names);
  return s;
}

/* The label file for an image: the same relative path under lab_dir,
 * with the extension replaced by .txt. */
static char *label_path(const char *img_dir, const char *lab_dir, const char *img) {
  const char *rel = img + strlen(img_dir) + 1;
  const char *dot = strrchr(rel, '.');
  size_t stem = dot ? (size_t)(dot - rel) : strlen(rel);
  size_t ll = strlen(lab_dir);
  char *p = malloc(ll + 1 + stem + 5);
  if (!p) return NULL;
  memcpy(p, lab_dir, ll);
  p[ll] = '/';
  memcpy(p + ll + 1, rel, stem);
  memcpy(p + ll + 1 + stem, ".txt", 5);
  return p;
}

static graft_status read_labels(graft_dataset *ds, const char *path, int lenient, graft_split *sp) {
  uint8_t *text = NULL;
  size_t len = 0;
  char err[512];
  graft_status s = graft_read_file(path, LABEL_FILE_MAX_BYTES, &text, &len, lenient ? err : NULL, sizeof err);
  if (s == GRAFT_OK)
    s = graft_parse_yolo_labels((const char *)text, len, path, (int)ds->classes.count,
                                lenient ? &ds->label_stats : NULL, &sp->boxes, lenient ? err : NULL,
                                sizeof err);
  free(text);
  if (s != GRAFT_OK && lenient && s != GRAFT_ENOMEM) {
    GRAFT_WARN("%s", err);
    ds->label_stats.bad_files++;
    return GRAFT_OK;
  }
  return s;
}

static graft_status list_yolo_split(graft_dataset *ds, const char *img_dir, const char *lab_dir,
                                    int lenient, graft_split *sp) {
  graft_strlist paths;
  graft_strlist_init(&paths);
  graft_status s = graft_list_images(img_dir, &paths, &ds->foreign_files);
  for (size_t i = 0; i < paths.count && s == GRAFT_OK; i++) {
    char *lp = label_path(img_dir, lab_dir, paths.items[i]);
    size_t box0 = sp->boxes.n;
    int has_file = lp && graft_is_file(lp);
    size_t malformed = ds->label_stats.bad_files;
    if (!lp)
      s = GRAFT_ENOMEM;
    else if (!has_file)
      sp->missing_labels++;
    else
      s = read_labels(ds, lp, lenient, sp);
    free(lp);
    if (s != GRAFT_OK) break;
    size_t nbox = sp->boxes.n - box0;
    if (has_file && nbox == 0 && ds->label_stats.bad_files == malformed) sp->empty_labels++;
    s = push_sample(sp, paths.items[i], -1, box0, (uint32_t)nbox);
    paths.items[i] = NULL;
  }
  graft_strlist_free(&paths);
  return s;
}

static graft_status read_class_names(graft_dataset *ds, const char *root, const char *names_file) {
  static const char *const candidates[] = {"classes.txt", "obj.names", "names.txt"};
  char *path = NULL;
  if (names_file) {
    path = strdup(names_file);
  } else {
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] && !path; i++) {
      path = graft_path_join(root, candidates[i]);
      if (path && !graft_is_file(path)) {
        free(path);
        path = NULL;
      }
    }
    if (!path)
      GRAFT_FAIL(GRAFT_ENOTFOUND, "%s: YOLO layout but no class-names file (classes.txt, obj.names or "
                 "names.txt, one name a line)", root);
  }
  if (!path) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory");
  uint8_t *text = NULL;
  size_t len = 0;
  graft_status s = graft_read_file(path, LABEL_FILE_MAX_BYTES, &text, &len, NULL, 0);
  if (s == GRAFT_OK) s = graft_parse_class_names((const char *)text, len, path, &ds->classes, NULL, 0);
  free(text);
  free(path);
  return s;
}

/* Moves about ratio of each class (of all samples, for detection) from
 * train to val, chosen by seed; every class keeps at least one training
 * sample. Both keep their listing order. */
static graft_status hold_out(graft_dataset *ds, double ratio, uint64_t seed) {
  graft_split *tr = &ds->train;
  size_t n = tr->n;
  int groups = ds->task == GRAFT_TASK_CLASSIFY ? (int)ds->classes.count : 1;
  size_t *members = malloc((n ? n : 1) * sizeof *members);
  char *to_val = calloc(n ? n : 1, 1);
  graft_split keep, held;
  graft_split_init(&keep);
  graft_split_init(&held);
  graft_status s = GRAFT_OK;
  if (!members || !to_val) {
    s = GRAFT_ENOMEM;
    GRAFT_ERROR("out of memory splitting %zu samples", n);
    goto done;
  }
  for (int g = 0; g < groups; g++) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (groups == 1 || tr->s[i].label == g) members[m++] = i;
    graft_rng r;
    graft_rng_seed3(&r, seed, TAG_HOLDOUT, (uint64_t)g);
    graft_shuffle(members, m, &r);
    size_t nval = (size_t)(ratio * (double)m + 0.5);
    if (nval >= m) nval = m ? m - 1 : 0;
    for (size_t j = 0; j < nval; j++) to_val[members[j]] = 1;
  }
  for (size_t i = 0; i < n && s == GRAFT_OK; i++)
    s = graft_split_push_from(to_val[i] ? &held : &keep, tr, i);
  if (s == GRAFT_OK) {
    keep.missing_labels = tr->missing_labels;
    keep.empty_labels = tr->empty_labels;
    graft_split_free(tr);
    graft_split_free(&ds->val);
    *tr = keep;
    ds->val = held;
    graft_split_init(&keep);
    graft_split_init(&held);
    ds->split_by_ratio = 1;
  }
done:
  graft_split_free(&keep);
  graft_split_free(&held);
  free(members);
  free(to_val);
  return s;
}

/* Joins root and up to two more parts; NULL when out of memory. */
static char *join3(const char *a, const char *b, const char *c) {
  char *ab = graft_path_join(a, b);
  if (!ab || !c) return ab;
  char *abc = graft_path_join(ab, c);
  free(ab);
  return abc;
}

/* The index of the first of names for which root/<name>[/sub] is a
 * folder; -1 when none is. */
static int first_dir(const char *root, const char *const *names, int count, const char *sub) {
  for (int i = 0; i < count; i++) {
    char *p = join3(root, names[i], sub);
    int found = p && graft_is_dir(p);
    free(p);
    if (found) return i;
  }
  return -1;
}

static const char *const val_names[] = {"val", "valid", "validation"};

static graft_status open_yolo(graft_dataset *ds, const char *root, const graft_dataset_opts *o,
                              int *has_val) {
  int lenient = o && o->lenient_labels;
  ds->task = GRAFT_TASK_DETECT;
  GRAFT_TRY(read_class_names(ds, root, o ? o->names_file : NULL));
  char *img = NULL, *lab = NULL, *vimg = NULL, *vlab = NULL, *images = join3(root, "images", NULL);
  int v = -1;
  char *probe = join3(root, "images", "train");
  if (probe && graft_is_dir(probe)) {
    img = probe;
    lab = join3(root, "labels", "train");
    v = images ? first_dir(images, val_names, 3, NULL) : -1;
    if (v >= 0) {
      vimg = join3(images, val_names[v], NULL);
      vlab = join3(root, "labels", val_names[v]);
    }
  } else if (probe) {
    free(probe);
    probe = join3(root, "train", "images");
    if (probe && graft_is_dir(probe)) {
      img = probe;
      lab = join3(root, "train", "labels");
      v = first_dir(root, val_names, 3, "images");
      if (v >= 0) {
        vimg = join3(root, val_names[v], "images");
        vlab = join3(root, val_names[v], "labels");
      }
    } else {
      free(probe);
      img = join3(root, "images", NULL);
      lab = join3(root, "labels", NULL);
    }
  }
  free(images);
  graft_status s = GRAFT_OK;
  if (!img || !lab || (v >= 0 && (!vimg || !vlab))) {
    s = GRAFT_ENOMEM;
    GRAFT_ERROR("out of memory opening %s", root);
  }
  if (s == GRAFT_OK) s = list_yolo_split(ds, img, lab, lenient, &ds->train);
  if (s == GRAFT_OK && v >= 0) s = list_yolo_split(ds, vimg, vlab, lenient, &ds->val);
  *has_val = v >= 0;
  free(img);
  free(lab);
  free(vimg);
  free(vlab);
  return s;
}

static graft_status open_folder(graft_dataset *ds, const char *root, int *has_val) {
  ds->task = GRAFT_TASK_CLASSIFY;
  char *train = join3(root, "train", NULL);
  if (!train) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory opening %s", root);
  graft_status s;
  if (graft_is_dir(train)) {
    int v = first_dir(root, val_names, 3, NULL);
    char *val = v >= 0 ? join3(root, val_names[v], NULL) : NULL;
    s = v >= 0 && !val ? GRAFT_ENOMEM : list_folder_split(ds, train, &ds->train);
    if (s == GRAFT_OK && val) s = list_folder_split(ds, val, &ds->val);
    *has_val = v >= 0;
    free(val);
  } else {
    s = list_folder_split(ds, root, &ds->train);
    *has_val = 0;
  }
  free(train);
  return s;
}

graft_status graft_dataset_open(graft_dataset *ds, const char *root, const graft_dataset_opts *o) {
  graft_dataset_init(ds);
  if (!graft_is_dir(root)) GRAFT_FAIL(GRAFT_ENOTFOUND, "%s: dataset folder not found", root);
  double ratio = o ? o->val_ratio : 0.0;
  if (!(ratio >= 0.0 && ratio < 1.0)) GRAFT_FAIL(GRAFT_EINVAL, "val_ratio %g is not in [0, 1)", ratio);
  ds->root = strdup(root);
  if (!ds->root) GRAFT_FAIL(GRAFT_ENOMEM, "out of memory opening %s", root);
  /* YOLO needs both folders, so a class that happens to be called
   * "images" does not turn an ImageFolder tree into a detection set. */
  int yolo = 0;
  static const char *const probes[][2] = {{"images", "labels"}, {"train/images", "train/labels"}};
  for (int i = 0; i < 2; i++) {
    char *a = join3(root, probes[i][0], NULL), *b = join3(root, probes[i][1], NULL);
    yolo |= a && b && graft_is_dir(a) && graft_is_dir(b);
    free(a);
    free(b);
  }
  int has_val = 0;
  graft_status s = yolo ? open_yolo(ds, root, o, &has_val) : open_folder(ds, root, &has_val);
  if (s == GRAFT_OK && ds->train.n == 0) {
    s = GRAFT_EFORMAT;
    GRAFT_ERROR("%s: no training images found", root);
  }
  if (s == GRAFT_OK && !has_val && ratio > 0.0) s = hold_out(ds, ratio, o->seed);
  if (s == GRAFT_OK && ds->foreign_files)
    GRAFT_WARN("%s: %zu image files in formats graft does not read (bmp, tif, webp, ...) were left out",
               root, ds->foreign_files);
  if (s != GRAFT_OK) graft_dataset_free(ds);
  return s;
}

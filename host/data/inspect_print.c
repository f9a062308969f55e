/* inspect_print.c: the `graft inspect` report as a table for people and as
 * JSON for programs (see inspect.h). Paths are shown relative to the
 * dataset root; long lists stop after a few entries in the table (the
 * JSON has them all). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "data/inspect.h"

#define TABLE_LIST_MAX 10

static const char *rel(const graft_inspect_report *r, size_t file) {
  const graft_inspect_file *f = &r->files[file];
  const graft_split *sp = f->split == 0 ? &r->ds.train : &r->ds.val;
  return graft_path_rel(r->ds.root, sp->s[f->index].path);
}

static const char *val_source(const graft_inspect_report *r) {
  if (r->ds.split_by_ratio) return "held out by val_ratio";
  return r->ds.val.n ? "val folder" : "none";
}

static void print_sizes(const char *name, const graft_inspect_split *s, FILE *f) {
  if (s->n == s->unreadable) return;
  fprintf(f, "  %-5s width %d..%d (median %d), height %d..%d (median %d)\n", name, s->w_min, s->w_max,
          s->w_median, s->h_min, s->h_max, s->h_median);
}

static void print_problems(const graft_inspect_report *r, FILE *f) {
  const graft_inspect_split *tr = &r->split[0];
  const char *const *cls = (const char *const *)r->ds.classes.items;
  const char *what = r->ds.task == GRAFT_TASK_CLASSIFY ? "images" : "boxes";
  if (tr->imbalance == 0.0)
    fprintf(f, "  WARNING imbalance: class '%s' has no training %s\n", cls[tr->smallest], what);
  else if (tr->imbalance > r->opts.imbalance_warn)
    fprintf(f, "  WARNING imbalance: '%s' has %.1fx the training %s of '%s' (warning above %.1f)\n",
            cls[tr->largest], tr->imbalance, what, cls[tr->smallest], r->opts.imbalance_warn);
  size_t unreadable = tr->unreadable + r->split[1].unreadable, shown = 0;
  if (unreadable) fprintf(f, "  WARNING unreadable: %zu files do not decode\n", unreadable);
  for (size_t k = 0; k < r->nfiles && shown < TABLE_LIST_MAX; k++)
    if (r->files[k].error) {
      fprintf(f, "    %s\n", r->files[k].error);
      shown++;
    }
  if (unreadable > shown) fprintf(f, "    ... and %zu more\n", unreadable - shown);
  static const char *const names[2] = {"train", "val"};
  for (int s = 0; s < 2; s++)
    if (r->split[s].dup_groups)
      fprintf(f, "  WARNING duplicates in %s: %zu groups of identical files, %zu extra copies\n", names[s],
              r->split[s].dup_groups, r->split[s].dup_extra);
  if (r->leak_groups)
    fprintf(f, "  WARNING leakage: %zu val images are identical to training images (%zu groups)\n",
            r->leak_val_files, r->leak_groups);
  if (r->conflict_groups)
    fprintf(f, "  WARNING conflicting labels: %zu groups of identical images under different classes\n",
            r->conflict_groups);
  for (size_t g = 0; g < r->ngroups && g < TABLE_LIST_MAX; g++) {
    const graft_inspect_group *gr = &r->groups[g];
    fprintf(f, "    %s", rel(r, gr->members[0]));
    for (size_t i = 1; i < gr->n; i++) fprintf(f, " = %s", rel(r, gr->members[i]));
    fprintf(f, "%s%s\n", gr->leak ? "  [train/val leak]" : "",
            gr->label_conflict && r->ds.task == GRAFT_TASK_CLASSIFY ? "  [different classes]" : "");
  }
  if (r->ngroups > TABLE_LIST_MAX) fprintf(f, "    ... and %zu more groups\n", r->ngroups - TABLE_LIST_MAX);
  const graft_label_stats *ls = &r->ds.label_stats;
  if (ls->bad_class || ls->bad_coords)
    fprintf(f, "  WARNING labels out of range: %zu lines with a class outside 0..%zu, %zu with bad coordinates\n",
            ls->bad_class, r->ds.classes.count - 1, ls->bad_coords);
  if (ls->bad_files) fprintf(f, "  WARNING malformed label files: %zu (see the warnings above)\n", ls->bad_files);
}

void graft_inspect_print(const graft_inspect_report *r, FILE *f) {
  int det = r->ds.task == GRAFT_TASK_DETECT;
  fprintf(f, "dataset: %s\n", r->ds.root);
  fprintf(f, "task: %s, %zu classes; validation: %s\n", det ? "detection (YOLO labels)" : "classification (ImageFolder)",
          r->ds.classes.count, val_source(r));
  fprintf(f, "\n%-24s %10s %10s\n", det ? "boxes per class" : "images per class", "train", "val");
  for (size_t c = 0; c < r->ds.classes.count; c++)
    fprintf(f, "%-24.24s %10zu %10zu\n", r->ds.classes.items[c], r->split[0].per_class[c], r->split[1].per_class[c]);
  fprintf(f, "%-24s %10zu %10zu\n", "images", r->split[0].n, r->split[1].n);
  if (det) {
    fprintf(f, "%-24s %10zu %10zu\n", "images without labels", r->ds.train.missing_labels, r->ds.val.missing_labels);
    fprintf(f, "%-24s %10zu %10zu\n", "empty label files", r->ds.train.empty_labels, r->ds.val.empty_labels);
  }
  fprintf(f, "\nimbalance (train, largest / smallest class): ");
  if (r->split[0].imbalance > 0)
    fprintf(f, "%.2f\n", r->split[0].imbalance);
  else
    fprintf(f, "a class is empty\n");
  fprintf(f, "image sizes:\n");
  print_sizes("train", &r->split[0], f);
  print_sizes("val", &r->split[1], f);
  if (r->ds.foreign_files) fprintf(f, "note: %zu files of formats graft cannot read were left out\n", r->ds.foreign_files);
  size_t problems = graft_inspect_problems(r);
  fprintf(f, "\n%s\n", problems ? "problems:" : "no problems found");
  if (problems) print_problems(r, f);
}

static cJSON *split_json(const graft_inspect_report *r, int s) {
  const graft_inspect_split *st = &r->split[s];
  cJSON *o = cJSON_CreateObject(), *pc = cJSON_AddObjectToObject(o, "per_class");
  cJSON_AddNumberToObject(o, "images", (double)st->n);
  for (size_t c = 0; c < r->ds.classes.count; c++)
    cJSON_AddNumberToObject(pc, r->ds.classes.items[c], (double)st->per_class[c]);
  cJSON_AddNumberToObject(o, "unreadable", (double)st->unreadable);
  cJSON *w = cJSON_AddObjectToObject(o, "width"), *h = cJSON_AddObjectToObject(o, "height");
  cJSON_AddNumberToObject(w, "min", st->w_min);
  cJSON_AddNumberToObject(w, "median", st->w_median);
  cJSON_AddNumberToObject(w, "max", st->w_max);
  cJSON_AddNumberToObject(h, "min", st->h_min);
  cJSON_AddNumberToObject(h, "median", st->h_median);
  cJSON_AddNumberToObject(h, "max", st->h_max);
  cJSON_AddNumberToObject(o, "imbalance", st->imbalance);
  cJSON_AddNumberToObject(o, "duplicate_groups", (double)st->dup_groups);
  cJSON_AddNumberToObject(o, "duplicate_extra_copies", (double)st->dup_extra);
  if (r->ds.task == GRAFT_TASK_DETECT) {
    const graft_split *sp = s == 0 ? &r->ds.train : &r->ds.val;
    cJSON_AddNumberToObject(o, "images_without_labels", (double)sp->missing_labels);
    cJSON_AddNumberToObject(o, "empty_label_files", (double)sp->empty_labels);
  }
  return o;
}

char *graft_inspect_json(const graft_inspect_report *r) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  int det = r->ds.task == GRAFT_TASK_DETECT;
  cJSON_AddStringToObject(o, "root", r->ds.root);
  cJSON_AddStringToObject(o, "task", det ? "detection" : "classification");
  cJSON_AddItemToObject(o, "classes", cJSON_CreateStringArray((const char *const *)r->ds.classes.items,
                                                              (int)r->ds.classes.count));
  cJSON_AddStringToObject(o, "validation", val_source(r));
  cJSON_AddStringToObject(o, "per_class_counts", det ? "boxes" : "images");
  cJSON *splits = cJSON_AddObjectToObject(o, "splits");
  cJSON_AddItemToObject(splits, "train", split_json(r, 0));
  cJSON_AddItemToObject(splits, "val", split_json(r, 1));
  cJSON_AddNumberToObject(o, "imbalance_warn", r->opts.imbalance_warn);
  const graft_inspect_split *tr = &r->split[0];
  cJSON_AddBoolToObject(o, "imbalance_warning", tr->imbalance == 0.0 || tr->imbalance > r->opts.imbalance_warn);
  cJSON *bad = cJSON_AddArrayToObject(o, "unreadable");
  for (size_t k = 0; k < r->nfiles; k++)
    if (r->files[k].error) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "path", rel(r, k));
      cJSON_AddStringToObject(e, "error", r->files[k].error);
      cJSON_AddItemToArray(bad, e);
    }
  cJSON *dups = cJSON_AddArrayToObject(o, "duplicates");
  for (size_t g = 0; g < r->ngroups; g++) {
    cJSON *e = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(e, "files");
    for (size_t i = 0; i < r->groups[g].n; i++) cJSON_AddItemToArray(files, cJSON_CreateString(rel(r, r->groups[g].members[i])));
    cJSON_AddBoolToObject(e, "train_val_leak", r->groups[g].leak);
    cJSON_AddBoolToObject(e, "different_classes", r->groups[g].label_conflict && !det);
    cJSON_AddItemToArray(dups, e);
  }
  cJSON *leak = cJSON_AddObjectToObject(o, "leakage");
  cJSON_AddNumberToObject(leak, "groups", (double)r->leak_groups);
  cJSON_AddNumberToObject(leak, "val_images", (double)r->leak_val_files);
  cJSON_AddNumberToObject(o, "conflicting_label_groups", (double)r->conflict_groups);
  if (det) {
    cJSON *l = cJSON_AddObjectToObject(o, "labels");
    cJSON_AddNumberToObject(l, "class_out_of_range", (double)r->ds.label_stats.bad_class);
    cJSON_AddNumberToObject(l, "coords_out_of_range", (double)r->ds.label_stats.bad_coords);
    cJSON_AddNumberToObject(l, "malformed_files", (double)r->ds.label_stats.bad_files);
  }
  cJSON_AddNumberToObject(o, "foreign_format_files", (double)r->ds.foreign_files);
  cJSON_AddNumberToObject(o, "problems", (double)graft_inspect_problems(r));
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  return text;
}

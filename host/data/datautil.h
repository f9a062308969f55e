/* datautil.h: the small file-system and bookkeeping helpers the data
 * pipeline shares: bounded whole-file reads, sorted directory listings,
 * path joining, growable string lists, a content hash, and an error
 * reporter that either logs or fills a caller's buffer. */
#ifndef GRAFT_DATA_UTIL_H
#define GRAFT_DATA_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Formats a message and either copies it into err (when err is not NULL)
 * or logs it as an error attributed to file:line. Returns s. */
graft_status graft_data_report(char *err, size_t err_len, graft_status s, const char *file,
                               int line, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define GRAFT_DATA_REPORT(err, err_len, s, ...) \
  graft_data_report((err), (err_len), (s), __FILE__, __LINE__, __VA_ARGS__)

/* Reads a whole regular file of at most max_bytes into a malloc'd buffer
 * (*buf, *len bytes; one extra zero byte follows, so text can be scanned
 * as a string). Errors name the path. */
graft_status graft_read_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len,
                             char *err, size_t err_len);

/* a + "/" + b in a malloc'd string; NULL when out of memory. */
char *graft_path_join(const char *a, const char *b);
/* path relative to root when it lies under root (as the dataset listing
 * builds paths), else path itself. Points into path. */
const char *graft_path_rel(const char *root, const char *path);
/* 1 when path is a directory (or a link to one) / a regular file. */
int graft_is_dir(const char *path);
int graft_is_file(const char *path);
/* 1 when name ends in .png, .jpg or .jpeg, in any letter case. */
int graft_has_image_ext(const char *name);
/* 1 when name ends in one of the other extensions torchvision's
 * ImageFolder accepts (.bmp, .ppm, .pgm, .tif, .tiff, .webp), which graft
 * cannot decode; such files are reported, not silently dropped. */
int graft_has_foreign_image_ext(const char *name);

typedef struct {
  char **items; /* (count) malloc'd strings */
  size_t count, cap;
} graft_strlist;

void graft_strlist_init(graft_strlist *l);
void graft_strlist_free(graft_strlist *l);
/* Appends a copy of s. */
graft_status graft_strlist_push(graft_strlist *l, const char *s);
/* Takes ownership of s (freed on failure). */
graft_status graft_strlist_push_owned(graft_strlist *l, char *s);
/* Byte-wise (strcmp) order, which for UTF-8 names is code-point order:
 * the order Python's sorted() gives, and so torchvision's. */
void graft_strlist_sort(graft_strlist *l);

typedef enum { GRAFT_LIST_DIRS, GRAFT_LIST_FILES } graft_list_kind;
/* The names (not paths) in dir of the given kind, links followed, "." and
 * ".." left out, sorted with graft_strlist_sort. out is initialized here. */
graft_status graft_list_dir(const char *dir, graft_list_kind kind, graft_strlist *out);

/* 64-bit hash of a byte string, for finding identical files (a match is
 * confirmed by length and by comparing the bytes where it matters). */
uint64_t graft_content_hash(const void *data, size_t len);

#endif

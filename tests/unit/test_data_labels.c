/* test_data_labels.c: the strict class-names and YOLO label parsers:
 * what they accept, and that each kind of bad line fails naming the file
 * and the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "data/labels.h"

static graft_status parse_yolo(const char *text, size_t len, graft_boxes *b, char *err, size_t n) {
  return graft_parse_yolo_labels(text, len, "l.txt", 3, NULL, b, err, n);
}

static void test_yolo_good(void **state) {
  (void)state;
  static const char text[] = "0 0.5 0.25 0.1 1\r\n\n  2\t1e-1 .5 1.0 0.000001  \n1 0 1 1 1";
  graft_boxes b;
  graft_boxes_init(&b);
  char err[256] = "";
  assert_int_equal(parse_yolo(text, sizeof text - 1, &b, err, sizeof err), GRAFT_OK);
  assert_int_equal(b.n, 3);
  assert_int_equal(b.v[1].cls, 2);
  assert_true(b.v[1].cx > 0.0999f && b.v[1].cx < 0.1001f);
  assert_true(b.v[0].h == 1.0f);
  assert_int_equal(b.v[2].cls, 1);
  graft_boxes_free(&b);
}

static void test_yolo_bad_lines(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *want; /* expected in the message */
  } cases[] = {
      {"0 0.5 0.5 0.1\n", "l.txt:1: expected 5 fields"},
      {"0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1 0.1 0.3\n", "l.txt:2: expected 5 fields"},
      {"1.0 0.5 0.5 0.1 0.1", "l.txt:1: class '1.0'"},
      {"-1 0.5 0.5 0.1 0.1", "class '-1'"},
      {"3 0.5 0.5 0.1 0.1", "class 3 is out of range"},
      {"0 nan 0.5 0.1 0.1", "field 2 'nan'"},
      {"0 0x1p-1 0.5 0.1 0.1", "field 2"},
      {"0 0.5 0.5 0.1 0.1x", "field 5"},
      {"\n\n0 1.01 0.5 0.1 0.1", "l.txt:3: box"},
      {"0 0.5 0.5 0 0.1", "not normalized"},
      {"0 0.5 1 0.295\t1e-169", "not normalized"}, /* a height that is 0 as a float (found by fuzzing) */
      {"0 0.5 0.5 0.1 1e999", "field 5"},
      {"99999999999 0.5 0.5 0.1 0.1", "class '99999999999'"},
  };
  char err[256];
  graft_boxes b;
  graft_boxes_init(&b);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    err[0] = 0;
    assert_int_equal(parse_yolo(cases[i].text, strlen(cases[i].text), &b, err, sizeof err), GRAFT_EFORMAT);
    if (!strstr(err, cases[i].want)) fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err, cases[i].want);
    assert_non_null(strstr(err, cases[i].want));
    assert_int_equal(b.n, 0);
  }
  char nul[] = "0 0.5 0.5 0.1 0.1\0 junk";
  assert_int_equal(parse_yolo(nul, sizeof nul - 1, &b, err, sizeof err), GRAFT_EFORMAT);
  char longline[3000];
  memset(longline, ' ', sizeof longline);
  memcpy(longline, "0 0.5", 5);
  memcpy(longline + 2990, "0.5", 3);
  assert_int_equal(parse_yolo(longline, sizeof longline, &b, err, sizeof err), GRAFT_EFORMAT);
  assert_non_null(strstr(err, "longer than"));
  graft_boxes_free(&b);
}

static void test_yolo_lenient(void **state) {
  (void)state;
  static const char text[] = "0 0.5 0.5 0.1 0.1\n7 0.5 0.5 0.1 0.1\n1 0.5 1.5 0.1 0.1\n";
  graft_label_stats st = {0, 0, 0};
  graft_boxes b;
  graft_boxes_init(&b);
  assert_int_equal(graft_parse_yolo_labels(text, sizeof text - 1, "l", 3, &st, &b, NULL, 0), GRAFT_OK);
  assert_int_equal(b.n, 1);
  assert_int_equal(st.bad_class, 1);
  assert_int_equal(st.bad_coords, 1);
  graft_boxes_free(&b);
}

static void test_class_names(void **state) {
  (void)state;
  graft_strlist names;
  char err[256];
  static const char good[] = "\xEF\xBB\xBF person \r\ntraffic light\n\xC3\xA4pfel\n\n \n";
  assert_int_equal(graft_parse_class_names(good, sizeof good - 1, "c.names", &names, err, sizeof err),
                   GRAFT_OK);
  assert_int_equal(names.count, 3);
  assert_string_equal(names.items[0], "person");
  assert_string_equal(names.items[1], "traffic light");
  graft_strlist_free(&names);
  static const struct {
    const char *text;
    size_t len;
    const char *want;
  } bad[] = {
      {"a\n\nb\n", 5, "c.names:2: blank line"},
      {"a\nb\na\n", 6, "c.names:3: class name 'a' repeats the one on line 1"},
      {"a\nb\x01\n", 5, "c.names:2: control character"},
      {"a\nb\0c\n", 6, "c.names:2: control character"},
      {"\n \n", 3, "no class names"},
      {"", 0, "no class names"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = 0;
    assert_int_equal(graft_parse_class_names(bad[i].text, bad[i].len, "c.names", &names, err, sizeof err),
                     GRAFT_EFORMAT);
    if (!strstr(err, bad[i].want)) fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err, bad[i].want);
    assert_non_null(strstr(err, bad[i].want));
    assert_int_equal(names.count, 0);
  }
  char longname[400];
  memset(longname, 'x', sizeof longname);
  assert_int_equal(graft_parse_class_names(longname, sizeof longname, "c", &names, err, sizeof err),
                   GRAFT_EFORMAT);
}

int main(void) {
  graft_log_set_level(GRAFT_LOG_SILENT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_yolo_good),
      cmocka_unit_test(test_yolo_bad_lines),
      cmocka_unit_test(test_yolo_lenient),
      cmocka_unit_test(test_class_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

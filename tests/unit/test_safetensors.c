/* test_safetensors.c: the safetensors reader and writer.
 * A round trip of every dtype (with a scalar, zero-size tensors and
 * metadata) through graft's writer and reader; the committed fixture that
 * Python's safetensors package wrote (tools/gen_safetensors_fixture.py),
 * checked value by value; one named case per way a file can be malformed,
 * each asserting the status and a piece of the message, which must also
 * name the file; and the writer's refusals. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "io/fileio.h"
#include "io/safetensors.h"
#include "testutil.h"

#define LABEL "case.safetensors"

/* ---- helpers ------------------------------------------------------------- */

/* A file image: the 8-byte length (claim, or the header's length when
 * claim is 0), the header text, then data_bytes bytes of 0xab. */
static uint8_t *make_file(const char *header, uint64_t claim, size_t data_bytes, size_t *size) {
  size_t n = strlen(header);
  if (!claim) claim = n;
  *size = 8 + n + data_bytes;
  uint8_t *b = malloc(*size);
  assert_non_null(b);
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(claim >> (8 * i));
  memcpy(b + 8, header, n);
  memset(b + 8 + n, 0xab, data_bytes);
  return b;
}

/* Runs graft_st_parse with stderr sent to a file; returns the status and
 * copies what was logged into log. */
static graft_status parse_logged(graft_st_file *f, const uint8_t *b, size_t size, char *log,
                                 size_t log_len) {
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  fflush(stderr);
  int saved = dup(2);
  assert_true(saved >= 0);
  assert_true(dup2(fileno(tmp), 2) >= 0);
  graft_status s = graft_st_parse(f, b, size, LABEL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t got = fread(log, 1, log_len - 1, tmp);
  log[got] = '\0';
  fclose(tmp);
  return s;
}

static char tmp_dir[256];

static int make_tmp_dir(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmp_dir, sizeof tmp_dir, "%s/graft_st_XXXXXX", base ? base : "/tmp");
  return mkdtemp(tmp_dir) ? 0 : -1;
}

static const char *tmp_path(const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s/%s", tmp_dir, name);
  return buf;
}

static int remove_tmp_dir(void **state) {
  (void)state;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---- malformed files: one named case each -------------------------------- */

typedef struct {
  const char *name;
  const char *header;
  size_t data_bytes;  /* bytes after the header */
  graft_status want;
  const char *says;   /* a piece of the error message */
  uint64_t claim;     /* header length field when not 0 */
  size_t total;       /* cut the file to this size when not 0 */
} bad_case;

#define T_F32_1 "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}"
#define EF GRAFT_EFORMAT
#define EU GRAFT_EUNSUPPORTED

static const bad_case bad_cases[] = {
    /* framing */
    {"shorter_than_length_field", "{}", 0, EF, "too short", 0, 5},
    {"header_length_past_end", "{}", 0, EF, "runs past the end", 1000, 0},
    {"header_over_100MB", "{}", 0, EF, "over the limit", 100000001, 0},
    {"header_length_2^64-1", "{}", 0, EF, "over the limit", UINT64_MAX, 0},
    /* the header text */
    {"header_empty", " ", 0, EF, "not valid JSON", 0, 0},
    {"header_not_json", "{\"a\":", 0, EF, "not valid JSON", 0, 0},
    {"header_array", "[]", 0, EF, "not a JSON object", 0, 0},
    {"header_string", "\"a\"", 0, EF, "not a JSON object", 0, 0},
    {"text_after_object", "{} x", 0, EF, "text after the JSON object", 0, 0},
    {"two_objects", "{}{}", 0, EF, "text after the JSON object", 0, 0},
    {"invalid_utf8", "{\"\xff\":1}", 0, EF, "invalid UTF-8", 0, 0},
    {"overlong_utf8", "{\"\xc0\xaf\":1}", 0, EF, "invalid UTF-8", 0, 0},
    {"utf8_surrogate", "{\"\xed\xa0\x80\":1}", 0, EF, "invalid UTF-8", 0, 0},
    {"byte_order_mark", "\xef\xbb\xbf{}", 0, EF, "outside a string", 0, 0},
    {"control_byte_outside_string", "{}\x01", 0, EF, "outside a string", 0, 0},
    {"control_byte_in_name", "{\"a\x01\":" T_F32_1 "}", 4, EF, "control character", 0, 0},
    {"nul_escape_in_name", "{\"a\\u0000b\":" T_F32_1 "}", 4, EF, "\\u0000", 0, 0},
    {"bad_hex_in_u_escape", "{\"a\\u00g0\":" T_F32_1 "}", 4, EF, "not followed by 4 hex digits",
     0, 0},
    {"short_u_escape", "{\"a\\u00\":" T_F32_1 "}", 4, EF, "not followed by 4 hex digits", 0, 0},
    {"unknown_escape", "{\"a\\q\":" T_F32_1 "}", 4, EF, "invalid escape", 0, 0},
    {"lone_surrogate_escape", "{\"\\ud800\":" T_F32_1 "}", 4, EF, "not valid JSON", 0, 0},
    /* entries */
    {"entry_not_object", "{\"a\":1}", 0, EF, "entry is not a JSON object", 0, 0},
    {"missing_dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, EF,
     "missing field \"dtype\"", 0, 0},
    {"missing_shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, EF,
     "missing field \"shape\"", 0, 0},
    {"missing_data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, EF,
     "missing field \"data_offsets\"", 0, 0},
    {"duplicate_field",
     "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, EF,
     "field \"dtype\" appears twice", 0, 0},
    {"dtype_not_string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, EF,
     "\"dtype\" is not a string", 0, 0},
    {"shape_not_array", "{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4,
     EF, "\"shape\" is not an array", 0, 0},
    {"shape_dim_not_number",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, EF,
     "shape dim 0 is not a number", 0, 0},
    {"shape_dim_null", "{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4,
     EF, "shape dim 0 is not a number", 0, 0},
    {"data_offsets_not_array",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"b\":0}}}", 4, EF,
     "\"data_offsets\" is not an array", 0, 0},
    {"data_offsets_not_numbers",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 4, EF,
     "begin is not a number", 0, 0},
    {"unknown_dtype", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1,
     EU, "unknown dtype 'F8_E4M3'", 0, 0},
    {"lowercase_dtype", "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, EU,
     "unknown dtype 'f32'", 0, 0},
    /* shapes */
    {"negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, EF,
     "shape dim 0 is negative", 0, 0},
    {"minus_zero_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0, EF,
     "shape dim 0 is negative", 0, 0},
    {"fractional_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, EF,
     "number '1.5' is not a plain integer", 0, 0},
    {"float_written_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4,
     EF, "number '1.0' is not a plain integer", 0, 0},
    {"exponent_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1e0],\"data_offsets\":[0,4]}}", 4, EF,
     "number '1e0' is not a plain integer", 0, 0},
    {"leading_zero_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4,
     EF, "number '01' is not a plain integer", 0, 0},
    {"dim_2^53", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992],\"data_offsets\":[0,0]}}",
     0, EF, "not a whole number below 2^53", 0, 0},
    {"dim_past_2^64",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[100000000000000000000000000000],\"data_offsets\":[0,0]}}",
     0, EF, "not a whole number below 2^53", 0, 0},
    {"numel_overflow",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, EF,
     "more elements than fit", 0, 0},
    {"zero_dim_with_overflowing_rest",
     "{\"a\":{\"dtype\":\"U8\",\"shape\":[0,4503599627370496,4503599627370496],"
     "\"data_offsets\":[0,0]}}",
     0, EF, "more elements than fit", 0, 0},
    {"byte_count_overflow",
     "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}", 0, EF,
     "more bytes than fit", 0, 0},
    {"too_many_dims",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, EU,
     "more than 8 dims", 0, 0},
    /* offsets */
    {"data_offsets_one_entry", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
     EF, "has 1 entries, not [begin, end]", 0, 0},
    {"data_offsets_three_entries",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,4]}}", 4, EF,
     "has 3 entries, not [begin, end]", 0, 0},
    {"data_offsets_negative", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}",
     4, EF, "begin is negative", 0, 0},
    {"data_offsets_reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
     EF, "end before they begin", 0, 0},
    {"offsets_past_the_data_section", "{\"a\":" T_F32_1 "}", 2, EF, "run past the data section",
     0, 0},
    {"byte_count_mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     EF, "hold 4 bytes, but F32 (2) needs 8", 0, 0},
    {"overlapping_tensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, EF, "overlaps the tensor before it", 0, 0},
    {"same_bytes_twice",
     "{\"a\":" T_F32_1 ",\"b\":" T_F32_1 "}", 4, EF, "overlaps the tensor before it", 0, 0},
    {"gap_between_tensors",
     "{\"a\":" T_F32_1 ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, EF,
     "data bytes [4, 8) belong to no tensor", 0, 0},
    {"gap_at_start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, EF,
     "data bytes [0, 4) belong to no tensor", 0, 0},
    {"bytes_after_last_tensor", "{\"a\":" T_F32_1 "}", 8, EF,
     "the data section has 8 bytes but the tensors cover 4", 0, 0},
    {"data_but_no_tensors", "{}", 4, EF, "the data section has 4 bytes but the tensors cover 0", 0,
     0},
    {"duplicate_tensor_name",
     "{\"a\":" T_F32_1 ",\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, EF,
     "tensor name 'a' appears twice", 0, 0},
    /* metadata */
    {"metadata_twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, EF,
     "\"__metadata__\" appears twice", 0, 0},
    {"metadata_not_object", "{\"__metadata__\":[\"a\"]}", 0, EF, "not an object of strings", 0, 0},
    {"metadata_value_not_string", "{\"__metadata__\":{\"k\":1}}", 0, EF,
     "value of 'k' is not a string", 0, 0},
    {"metadata_key_twice", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, EF,
     "key 'k' appears twice", 0, 0},
};

static void test_bad_case(void **state) {
  const bad_case *c = *state;
  size_t size = 0;
  uint8_t *b = make_file(c->header, c->claim, c->data_bytes, &size);
  if (c->total) size = c->total;
  graft_st_file f;
  char log[4096];
  graft_status s = parse_logged(&f, b, size, log, sizeof log);
  printf("%-34s -> %s: %s", c->name, graft_status_name(s), log);
  assert_int_equal(s, c->want);
  assert_non_null(strstr(log, LABEL));
  if (!strstr(log, c->says)) fail_msg("the message does not say \"%s\"", c->says);
  assert_int_equal(f.n_tensors, 0);
  assert_null(f.tensors);
  graft_st_free(&f);
  free(b);
}

/* A header with count zero-size tensors. */
static char *many_tensors(int count) {
  size_t cap = (size_t)count * 64 + 16, len = 1;
  char *h = malloc(cap);
  assert_non_null(h);
  strcpy(h, "{");
  for (int i = 0; i < count; i++)
    len += (size_t)snprintf(h + len, cap - len, "%s\"t%d\":{\"dtype\":\"F32\",\"shape\":[0],"
                            "\"data_offsets\":[0,0]}", i ? "," : "", i);
  strcpy(h + len, "}");
  return h;
}

static void test_too_many_tensors(void **state) {
  (void)state;
  char *h = many_tensors(GRAFT_ST_MAX_TENSORS);
  size_t size = 0;
  uint8_t *b = make_file(h, 0, 0, &size);
  graft_st_file f;
  assert_int_equal(graft_st_parse(&f, b, size, LABEL), GRAFT_OK);
  assert_int_equal(f.n_tensors, GRAFT_ST_MAX_TENSORS);
  assert_non_null(graft_st_find(&f, "t99999"));
  graft_st_free(&f);
  free(b);
  free(h);

  h = many_tensors(GRAFT_ST_MAX_TENSORS + 1);
  b = make_file(h, 0, 0, &size);
  char log[4096];
  graft_status s = parse_logged(&f, b, size, log, sizeof log);
  printf("too_many_tensors -> %s: %s", graft_status_name(s), log);
  assert_int_equal(s, GRAFT_EUNSUPPORTED);
  assert_non_null(strstr(log, "more than 100000 tensors"));
  free(b);
  free(h);
}

/* Nesting deeper than cJSON's limit is refused, not recursed into. */
static void test_deep_nesting(void **state) {
  (void)state;
  enum { DEPTH = 5000 };
  char *h = malloc(2 * DEPTH + 16);
  assert_non_null(h);
  strcpy(h, "{\"a\":");
  size_t len = strlen(h);
  memset(h + len, '[', DEPTH);
  memset(h + len + DEPTH, ']', DEPTH);
  strcpy(h + len + 2 * DEPTH, "}");
  size_t size = 0;
  uint8_t *b = make_file(h, 0, 0, &size);
  graft_st_file f;
  char log[4096];
  graft_status s = parse_logged(&f, b, size, log, sizeof log);
  printf("deep_nesting -> %s: %s", graft_status_name(s), log);
  assert_int_equal(s, GRAFT_EFORMAT);
  assert_non_null(strstr(log, "not valid JSON"));
  free(b);
  free(h);
}

/* A NUL byte, which cJSON would skip as whitespace, is refused. */
static void test_nul_byte(void **state) {
  (void)state;
  static const char *const headers[] = {"{\001}", "{}\001"};
  for (int k = 0; k < 2; k++) {
    size_t size = 0;
    uint8_t *b = make_file(headers[k], 0, 0, &size);
    b[8 + (k ? 2 : 1)] = 0;
    graft_st_file f;
    char log[4096];
    graft_status s = parse_logged(&f, b, size, log, sizeof log);
    printf("nul_byte_outside_string -> %s: %s", graft_status_name(s), log);
    assert_int_equal(s, GRAFT_EFORMAT);
    assert_non_null(strstr(log, "unexpected character 0x00"));
    free(b);
  }
}

/* ---- files that look odd but are valid ---------------------------------- */

static void test_valid_edges(void **state) {
  (void)state;
  static const char *const ok[] = {
      "{}",
      "{\"__metadata__\":null}",
      "\n {} \t\r",
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":[1,{\"x\":true}]}}",
      ("{\"z\":{\"dtype\":\"F32\",\"shape\":[0,9007199254740991],\"data_offsets\":[0,0]},"
       "\"y\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[0,0]}}"),
  };
  static const size_t data[] = {0, 0, 0, 4, 0};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    size_t size = 0;
    uint8_t *b = make_file(ok[i], 0, data[i], &size);
    graft_st_file f;
    printf("valid: %s\n", ok[i]);
    assert_int_equal(graft_st_parse(&f, b, size, LABEL), GRAFT_OK);
    graft_st_free(&f);
    free(b);
  }

  /* Escaped and non-ASCII names, unaligned header length, zero-size
   * tensors sharing an offset with a real one. */
  const char *h =
      "{\"a\\\"b\\\\c\\u00e9\\n\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
      "\"\xce\xb1\":{\"dtype\":\"F32\",\"shape\":[2,0],\"data_offsets\":[3,3]},"
      "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[3,3]},"
      "\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[3,5]}}";
  size_t size = 0;
  uint8_t *b = make_file(h, 0, 5, &size);
  graft_st_file f;
  assert_int_equal(graft_st_parse(&f, b, size, LABEL), GRAFT_OK);
  assert_int_equal(f.n_tensors, 4);
  const graft_st_tensor *t = graft_st_find(&f, "a\"b\\c\xc3\xa9\n");
  assert_non_null(t);
  assert_int_equal(t->nbytes, 3);
  assert_ptr_equal(t->data, b + 8 + strlen(h));
  assert_non_null(graft_st_find(&f, "\xce\xb1"));
  assert_null(graft_st_find(&f, "missing"));
  t = graft_st_find(&f, "s");
  assert_int_equal(t->shape.ndim, 0);
  assert_ptr_equal(&f.tensors[3], t); /* data order: the scalar's bytes come last */
  char nb[32];
  assert_string_equal(graft_st_name_str(f.by_name[0]->name, nb, sizeof nb), "a\"b\\c\xc3\xa9\\x0a");
  assert_string_equal(graft_st_name_str("abcdefghijklmnopqrstuvwxyz0123456789", nb, 16),
                      "abcdefghijkl...");
  graft_st_free(&f);
  free(b);
}

/* Every proper prefix of a valid file is an error, never a crash. */
static void test_truncations(void **state) {
  (void)state;
  char path[512];
  uint8_t *bytes = NULL;
  size_t size = 0;
  tu_source_path("tests/fixtures/safetensors/python_all_dtypes.safetensors", path, sizeof path);
  assert_int_equal(graft_file_read(path, 1 << 20, &bytes, &size), GRAFT_OK);
  graft_log_level level = graft_log_get_level();
  graft_log_set_level(GRAFT_LOG_SILENT);
  int failures = 0;
  for (size_t n = 0; n < size; n++) {
    graft_st_file f;
    if (graft_st_parse(&f, bytes, n, "prefix") != GRAFT_OK) failures++;
    graft_st_free(&f);
  }
  graft_log_set_level(level);
  printf("%d of %zu truncations refused\n", failures, size);
  assert_int_equal((size_t)failures, size);
  free(bytes);
}

/* ---- round trip through graft's writer and reader ------------------------ */

typedef struct {
  const char *name;
  graft_dtype dtype;
  int ndim;
  int64_t dim[3];
} rt_spec;

static const rt_spec rt_specs[] = {
    {"f32", GRAFT_DTYPE_F32, 2, {2, 3}},   {"f16", GRAFT_DTYPE_F16, 1, {5}},
    {"bf16", GRAFT_DTYPE_BF16, 2, {3, 1}}, {"f64", GRAFT_DTYPE_F64, 1, {3}},
    {"i64", GRAFT_DTYPE_I64, 1, {3}},      {"i32", GRAFT_DTYPE_I32, 2, {2, 2}},
    {"i16", GRAFT_DTYPE_I16, 1, {3}},      {"i8", GRAFT_DTYPE_I8, 1, {5}},
    {"u8", GRAFT_DTYPE_U8, 1, {3}},        {"bool", GRAFT_DTYPE_BOOL, 1, {4}},
    {"scalar", GRAFT_DTYPE_F32, 0, {0}},   {"empty", GRAFT_DTYPE_F32, 2, {0, 3}},
    {"empty_i64", GRAFT_DTYPE_I64, 3, {4, 0, 2}},
};
#define RT_N (sizeof rt_specs / sizeof rt_specs[0])

/* Element i of a round-trip tensor, as the float or integer it stands for. */
static double rt_value(graft_dtype dt, size_t i) {
  switch (dt) {
    case GRAFT_DTYPE_F32: return (double)i * 0.1 - 0.25;
    case GRAFT_DTYPE_F16: return ((double)i - 2.0) * 0.375;
    case GRAFT_DTYPE_BF16: return ((double)i + 1.0) * -1.5;
    case GRAFT_DTYPE_F64: return (double)(i + 1) / 3.0;
    case GRAFT_DTYPE_I64: return (double)((int64_t)i * 1000000007 - 1000000007);
    case GRAFT_DTYPE_I32: return (double)((int32_t)i * 65537 - 100000);
    case GRAFT_DTYPE_I16: return (double)((int)i * 20000 - 30000);
    case GRAFT_DTYPE_I8: return (double)((int)i * 60 - 128);
    case GRAFT_DTYPE_U8: return (double)(i * 120 + 10);
    case GRAFT_DTYPE_BOOL: return (double)(i % 3 == 0);
    default: return 0.0;
  }
}

static void rt_fill(graft_dtype dt, uint8_t *p, size_t n) {
  size_t size = graft_dtype_size(dt);
  for (size_t i = 0; i < n; i++) {
    double v = rt_value(dt, i);
    uint8_t *q = p + size * i;
    if (dt == GRAFT_DTYPE_F32) {
      float x = (float)v;
      memcpy(q, &x, 4);
    } else if (dt == GRAFT_DTYPE_F16 || dt == GRAFT_DTYPE_BF16) {
      uint16_t x = dt == GRAFT_DTYPE_F16 ? graft_f32_to_f16((float)v) : graft_f32_to_bf16((float)v);
      memcpy(q, &x, 2);
    } else if (dt == GRAFT_DTYPE_F64) {
      memcpy(q, &v, 8);
    } else {
      int64_t x = (int64_t)v; /* the low bytes, on a little-endian host */
      memcpy(q, &x, size);
    }
  }
}

static int is_float(graft_dtype dt) {
  return dt == GRAFT_DTYPE_F32 || dt == GRAFT_DTYPE_F16 || dt == GRAFT_DTYPE_BF16 ||
         dt == GRAFT_DTYPE_F64;
}

static void test_round_trip(void **state) {
  (void)state;
  graft_st_entry e[RT_N];
  uint8_t *bufs[RT_N];
  for (size_t k = 0; k < RT_N; k++) {
    graft_shape s = graft_shape_make(rt_specs[k].ndim, rt_specs[k].dim);
    size_t n = (size_t)graft_shape_numel(&s);
    bufs[k] = n ? malloc(n * graft_dtype_size(rt_specs[k].dtype)) : NULL;
    if (n) rt_fill(rt_specs[k].dtype, bufs[k], n);
    e[k] = (graft_st_entry){rt_specs[k].name, rt_specs[k].dtype, s, bufs[k]};
  }
  const graft_st_meta meta[] = {{"format", "pt"}, {"note", "quote \" backslash \\ tab \t é"}};
  char path[512];
  tmp_path("round_trip.safetensors", path, sizeof path);
  assert_int_equal(graft_st_write(path, e, RT_N, meta, 2), GRAFT_OK);

  graft_st_file f;
  assert_int_equal(graft_st_load(&f, path), GRAFT_OK);
  assert_string_equal(f.label, path);
  assert_int_equal(f.n_tensors, RT_N);
  assert_int_equal(f.n_meta, 2);
  assert_string_equal(graft_st_meta_get(&f, "format"), "pt");
  assert_string_equal(graft_st_meta_get(&f, "note"), meta[1].value);
  assert_null(graft_st_meta_get(&f, "absent"));
  uint64_t header = 0;
  memcpy(&header, f.owned, 8);
  assert_int_equal(header % 8, 0);
  for (size_t i = 0; i < f.n_tensors; i++) {
    const graft_st_tensor *t = &f.tensors[i];
    /* largest elements first, each aligned to its element size */
    if (i) assert_true(graft_dtype_size(t->dtype) <= graft_dtype_size(f.tensors[i - 1].dtype));
    assert_int_equal(t->begin % graft_dtype_size(t->dtype), 0);
  }
  for (size_t k = 0; k < RT_N; k++) {
    const graft_st_tensor *t = graft_st_find(&f, e[k].name);
    assert_non_null(t);
    assert_int_equal(t->dtype, e[k].dtype);
    assert_true(graft_shape_equal(&t->shape, &e[k].shape));
    size_t n = (size_t)graft_shape_numel(&t->shape);
    assert_int_equal(t->nbytes, n * graft_dtype_size(t->dtype));
    if (n) assert_memory_equal(t->data, bufs[k], t->nbytes);
    float fv[8];
    int64_t iv[8];
    if (is_float(t->dtype)) {
      assert_int_equal(graft_st_read_f32(&f, t, fv, n), GRAFT_OK);
      for (size_t i = 0; i < n; i++) {
        float want = (float)rt_value(t->dtype, i);
        if (t->dtype == GRAFT_DTYPE_F16) want = graft_f16_to_f32(graft_f32_to_f16(want));
        if (t->dtype == GRAFT_DTYPE_BF16) want = graft_bf16_to_f32(graft_f32_to_bf16(want));
        assert_true(fv[i] == want);
      }
      assert_int_equal(graft_st_read_i64(&f, t, iv, n), GRAFT_EUNSUPPORTED);
    } else {
      assert_int_equal(graft_st_read_i64(&f, t, iv, n), GRAFT_OK);
      for (size_t i = 0; i < n; i++) assert_int_equal(iv[i], (int64_t)rt_value(t->dtype, i));
      assert_int_equal(graft_st_read_f32(&f, t, fv, n), GRAFT_EUNSUPPORTED);
    }
    assert_int_equal(graft_st_read_f32(&f, t, fv, n + 1), GRAFT_ESHAPE);
    printf("round trip %-9s %-4s %zu elements ok\n", t->name, graft_dtype_name(t->dtype), n);
  }
  graft_st_free(&f);

  /* No tensors and no metadata is a valid file too. */
  assert_int_equal(graft_st_write(path, NULL, 0, NULL, 0), GRAFT_OK);
  assert_int_equal(graft_st_load(&f, path), GRAFT_OK);
  assert_int_equal(f.n_tensors, 0);
  assert_int_equal(f.n_meta, 0);
  graft_st_free(&f);
  for (size_t k = 0; k < RT_N; k++) free(bufs[k]);
}

/* ---- the fixture written by Python's safetensors package ---------------- */

static void check_f32(const graft_st_file *f, const char *name, const float *want, size_t n) {
  const graft_st_tensor *t = graft_st_find(f, name);
  assert_non_null(t);
  float got[32];
  assert_int_equal(graft_st_read_f32(f, t, got, n), GRAFT_OK);
  for (size_t i = 0; i < n; i++) {
    if (got[i] != want[i]) fail_msg("%s[%zu] = %.9g, want %.9g", name, i, got[i], want[i]);
  }
  printf("python fixture %-22s %-4s %zu values match\n", name, graft_dtype_name(t->dtype), n);
}

static void check_i64(const graft_st_file *f, const char *name, const int64_t *want, size_t n) {
  const graft_st_tensor *t = graft_st_find(f, name);
  assert_non_null(t);
  int64_t got[32];
  assert_int_equal(graft_st_read_i64(f, t, got, n), GRAFT_OK);
  for (size_t i = 0; i < n; i++) {
    if (got[i] != want[i])
      fail_msg("%s[%zu] = %lld, want %lld", name, i, (long long)got[i], (long long)want[i]);
  }
  printf("python fixture %-22s %-4s %zu values match\n", name, graft_dtype_name(t->dtype), n);
}

static void check_shape(const graft_st_file *f, const char *name, graft_dtype dt, int ndim,
                        const int64_t *dims) {
  const graft_st_tensor *t = graft_st_find(f, name);
  assert_non_null(t);
  graft_shape want = graft_shape_make(ndim, dims);
  assert_int_equal(t->dtype, dt);
  assert_true(graft_shape_equal(&t->shape, &want));
}

/* The table in tools/gen_safetensors_fixture.py, value by value. */
static void test_python_fixture(void **state) {
  (void)state;
  char path[512];
  graft_st_file f;
  tu_source_path("tests/fixtures/safetensors/python_all_dtypes.safetensors", path, sizeof path);
  assert_int_equal(graft_st_load(&f, path), GRAFT_OK);
  assert_int_equal(f.n_tensors, 13);
  assert_string_equal(graft_st_meta_get(&f, "format"), "pt");
  assert_string_equal(graft_st_meta_get(&f, "source"), "tools/gen_safetensors_fixture.py");

  check_shape(&f, "f32", GRAFT_DTYPE_F32, 2, (const int64_t[]){2, 3});
  float f32[6];
  for (int i = 0; i < 6; i++) f32[i] = (float)(i * 0.1 - 0.25);
  check_f32(&f, "f32", f32, 6);
  check_shape(&f, "f16", GRAFT_DTYPE_F16, 1, (const int64_t[]){5});
  check_f32(&f, "f16", (const float[]){-2.5f, 0.0f, 0.333251953125f, 65504.0f, 0x1p-24f}, 5);
  check_shape(&f, "bf16", GRAFT_DTYPE_BF16, 2, (const int64_t[]){2, 2});
  check_f32(&f, "bf16", (const float[]){1.0f, -0.5f, 3.140625f, 0x1p100f}, 4);
  check_shape(&f, "f64", GRAFT_DTYPE_F64, 1, (const int64_t[]){3});
  check_f32(&f, "f64", (const float[]){(float)(1.0 / 3.0), (float)(2.0 / 3.0), 1.0f}, 3);
  const graft_st_tensor *t = graft_st_find(&f, "f64");
  double d;
  memcpy(&d, t->data, 8);
  assert_true(d == 1.0 / 3.0);
  check_shape(&f, "i64", GRAFT_DTYPE_I64, 1, (const int64_t[]){4});
  check_i64(&f, "i64", (const int64_t[]){-(INT64_C(1) << 40), -1, 0, (INT64_C(1) << 62) + 7}, 4);
  check_shape(&f, "i32", GRAFT_DTYPE_I32, 2, (const int64_t[]){2, 2});
  check_i64(&f, "i32", (const int64_t[]){INT32_MIN, -7, 7, INT32_MAX}, 4);
  check_shape(&f, "i16", GRAFT_DTYPE_I16, 1, (const int64_t[]){3});
  check_i64(&f, "i16", (const int64_t[]){-32768, 12345, 32767}, 3);
  check_shape(&f, "i8", GRAFT_DTYPE_I8, 1, (const int64_t[]){4});
  check_i64(&f, "i8", (const int64_t[]){-128, -1, 0, 127}, 4);
  check_shape(&f, "u8", GRAFT_DTYPE_U8, 1, (const int64_t[]){3});
  check_i64(&f, "u8", (const int64_t[]){0, 128, 255}, 3);
  check_shape(&f, "bool", GRAFT_DTYPE_BOOL, 1, (const int64_t[]){4});
  check_i64(&f, "bool", (const int64_t[]){1, 0, 0, 1}, 4);
  check_shape(&f, "scalar", GRAFT_DTYPE_F32, 0, NULL);
  check_f32(&f, "scalar", (const float[]){3.5f}, 1);
  check_shape(&f, "empty", GRAFT_DTYPE_F32, 2, (const int64_t[]){0, 3});
  check_f32(&f, "empty", NULL, 0);
  check_shape(&f, "layer1.0.conv1.weight", GRAFT_DTYPE_F32, 4, (const int64_t[]){2, 1, 3, 3});
  float conv[18];
  for (int i = 0; i < 18; i++) conv[i] = (float)((i % 7 - 3) * 0.5);
  check_f32(&f, "layer1.0.conv1.weight", conv, 18);
  graft_st_free(&f);

  tu_source_path("tests/fixtures/safetensors/python_metadata_only.safetensors", path, sizeof path);
  assert_int_equal(graft_st_load(&f, path), GRAFT_OK);
  assert_int_equal(f.n_tensors, 0);
  assert_int_equal(f.n_meta, 2);
  assert_string_equal(graft_st_meta_get(&f, "format"), "pt");
  graft_st_free(&f);
}

/* ---- the writer's refusals ----------------------------------------------- */

static void expect_write_refused(const char *what, const graft_st_entry *e, size_t n,
                                 const graft_st_meta *meta, size_t n_meta, graft_status want) {
  char path[512];
  tmp_path("refused.safetensors", path, sizeof path);
  graft_status s = graft_st_write(path, e, n, meta, n_meta);
  printf("writer refuses %s: %s\n", what, graft_status_name(s));
  assert_int_equal(s, want);
  assert_int_equal(access(path, F_OK), -1);
}

static void test_writer_refusals(void **state) {
  (void)state;
  float v[2] = {1, 2};
  const int64_t two = 2, neg = -1;
  graft_shape s2 = graft_shape_make(1, &two), sneg = graft_shape_make(1, &neg);
  graft_st_entry dup[2] = {{"w", GRAFT_DTYPE_F32, s2, v}, {"w", GRAFT_DTYPE_F32, s2, v}};
  expect_write_refused("duplicate names", dup, 2, NULL, 0, GRAFT_EINVAL);
  graft_st_entry bad = {"__metadata__", GRAFT_DTYPE_F32, s2, v};
  expect_write_refused("the name __metadata__", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){"\xff", GRAFT_DTYPE_F32, s2, v};
  expect_write_refused("a name that is not UTF-8", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){NULL, GRAFT_DTYPE_F32, s2, v};
  expect_write_refused("a missing name", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){"w", GRAFT_DTYPE_F32, sneg, v};
  expect_write_refused("a negative dim", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){"w", GRAFT_DTYPE_COUNT, s2, v};
  expect_write_refused("an invalid dtype", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){"w", GRAFT_DTYPE_F32, s2, NULL};
  expect_write_refused("missing data", &bad, 1, NULL, 0, GRAFT_EINVAL);
  bad = (graft_st_entry){"w", GRAFT_DTYPE_F32, s2, v};
  bad.shape.ndim = GRAFT_MAX_DIMS + 1;
  expect_write_refused("too many dims", &bad, 1, NULL, 0, GRAFT_EINVAL);
  const graft_st_meta dmeta[2] = {{"k", "a"}, {"k", "b"}};
  expect_write_refused("duplicate metadata keys", NULL, 0, dmeta, 2, GRAFT_EINVAL);
  const graft_st_meta nmeta = {"k", NULL};
  expect_write_refused("a missing metadata value", NULL, 0, &nmeta, 1, GRAFT_EINVAL);

  char path[512];
  tmp_path("no_such_dir/w.safetensors", path, sizeof path);
  graft_st_entry ok = {"w", GRAFT_DTYPE_F32, s2, v};
  assert_int_equal(graft_st_write(path, &ok, 1, NULL, 0), GRAFT_EIO);
  graft_st_file f;
  assert_int_equal(graft_st_load(&f, path), GRAFT_EIO);
  assert_null(f.tensors);
  graft_st_free(&f);
}

int main(void) {
  const struct CMUnitTest fixed[] = {
      cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_python_fixture),
      cmocka_unit_test(test_valid_edges),  cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_too_many_tensors), cmocka_unit_test(test_deep_nesting),
      cmocka_unit_test(test_nul_byte),
      cmocka_unit_test(test_writer_refusals),
  };
  const size_t n_fixed = sizeof fixed / sizeof fixed[0];
  const size_t n_bad = sizeof bad_cases / sizeof bad_cases[0];
  struct CMUnitTest tests[sizeof fixed / sizeof fixed[0] + sizeof bad_cases / sizeof bad_cases[0]];
  memcpy(tests, fixed, sizeof fixed);
  for (size_t i = 0; i < n_bad; i++)
    tests[n_fixed + i] = (struct CMUnitTest){bad_cases[i].name, test_bad_case, NULL, NULL,
                                             (void *)&bad_cases[i]};
  return _cmocka_run_group_tests("safetensors", tests, n_fixed + n_bad, make_tmp_dir,
                                 remove_tmp_dir);
}

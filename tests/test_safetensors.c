/*
 * safetensors reader and writer: a round trip, conversions of F16/BF16/F64 and
 * integer dtypes on known values, and a battery of hostile files crafted byte
 * by byte, each of which must be refused with a message that names the file
 * (and, under the ASan build, without any memory error).
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinapsi/safetensors.h"

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* A safetensors file from its parts: header_len is written as given (so it may
 * lie), then the JSON text, then data_len bytes of data (a counting pattern when
 * data is NULL). Returns the path. */
static const char *write_file(const char *name, uint64_t header_len, const char *json,
                              const void *data, size_t data_len) {
    size_t json_len = strlen(json), n = 8 + json_len + data_len;
    unsigned char *bytes = malloc(n);
    assert_non_null(bytes);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(bytes + 8, json, json_len);
    for (size_t i = 0; i < data_len; i++)
        bytes[8 + json_len + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)i;
    const char *path = sn_temp_path(name);
    write_bytes(path, bytes, n);
    free(bytes);
    return path;
}

/* As write_file with the true header length. */
static const char *write_valid_length(const char *name, const char *json, const void *data,
                                      size_t data_len) {
    return write_file(name, strlen(json), json, data, data_len);
}

/* Opening path must fail with status, a NULL handle, and a message that names
 * the file and contains reason. */
static void expect_refused(const char *path, sn_status status, const char *reason) {
    sn_safetensors *f = (sn_safetensors *)&f; /* not NULL: open must clear it */
    sn_status st = sn_safetensors_open(&f, path);
    const char *message = sn_last_error();
    print_message("  %s\n", message);
    if (st == SN_OK) fail_msg("%s was accepted; expected: %s", path, reason);
    assert_null(f);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!strstr(message, base)) fail_msg("message does not name the file %s: %s", base, message);
    if (!strstr(message, reason)) fail_msg("message lacks '%s': %s", reason, message);
    if (st != status)
        fail_msg("status %s, expected %s (%s)", sn_status_string(st), sn_status_string(status),
                 message);
}

/* The JSON of one header entry: {"dtype": .., "shape": .., "data_offsets": ..}. */
#define ENTRY(dtype, shape, offsets)                                                               \
    "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

/* ---- round trip ---- */

static void fill(sn_tensor *t, float start) {
    for (int64_t i = 0; i < sn_tensor_numel(t); i++) t->data[i] = start + 0.25f * (float)i;
}

static void test_round_trip(void **state) {
    (void)state;
    sn_tensor *scalar, *vector, *matrix, *image;
    SN_ASSERT_OK(sn_tensor_create(&scalar, 0, NULL));
    SN_ASSERT_OK(sn_tensor_create(&vector, 1, (int64_t[]){5}));
    SN_ASSERT_OK(sn_tensor_create(&matrix, 2, (int64_t[]){2, 3}));
    SN_ASSERT_OK(sn_tensor_create(&image, 4, (int64_t[]){2, 1, 3, 2}));
    scalar->data[0] = 3.5f;
    fill(vector, -1.0f);
    fill(matrix, 10.0f);
    fill(image, -100.0f);
    image->data[3] = -0.0f;
    image->data[4] = 1e-40f; /* a float subnormal survives bit for bit */

    /* The names are deliberately not in sorted order: the file keeps the given order. */
    const char *names[] = {"loss", "0.weight", "b\"quoted\\", "x"};
    const sn_tensor *tensors[] = {scalar, matrix, vector, image};
    const char *keys[] = {"spec", "input_shape"};
    const char *values[] = {"Linear(2, 8)\n# comment \"quoted\" \xc3\xa8", "1x28x28"};
    const char *path = sn_temp_path("round_trip.safetensors");
    SN_ASSERT_OK(sn_safetensors_write(path, 4, names, tensors, 2, keys, values));
    /* Written twice: the second rename replaces the first file. */
    SN_ASSERT_OK(sn_safetensors_write(path, 4, names, tensors, 2, keys, values));

    /* The header length is a multiple of 8, padded with spaces after the JSON. */
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char head[8];
    assert_int_equal(fread(head, 1, 8, fp), 8);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | head[i];
    assert_int_equal(header_len % 8, 0);
    char *header = calloc(header_len + 1, 1);
    assert_int_equal(fread(header, 1, header_len, fp), header_len);
    fclose(fp);
    assert_int_equal(header[0], '{');
    size_t json_end = strlen(header);
    while (json_end > 0 && header[json_end - 1] == ' ') json_end--;
    assert_int_equal(header[json_end - 1], '}');
    assert_true(header_len - json_end < 8);
    free(header);

    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    assert_string_equal(sn_safetensors_path(f), path);
    assert_int_equal(sn_safetensors_count(f), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(sn_safetensors_name(f, i), names[i]);
        assert_string_equal(sn_safetensors_dtype(f, i), "F32");
        assert_int_equal(sn_safetensors_find(f, names[i]), i);
        assert_int_equal(sn_safetensors_ndim(f, i), tensors[i]->shape.ndim);
        sn_tensor *t;
        SN_ASSERT_OK(sn_safetensors_read(f, names[i], &t));
        assert_true(sn_shape_equal(&t->shape, &tensors[i]->shape));
        assert_memory_equal(t->data, tensors[i]->data, (size_t)sn_tensor_numel(t) * sizeof(float));
        sn_tensor_destroy(t);
    }
    assert_null(sn_safetensors_name(f, 4));
    assert_null(sn_safetensors_name(f, -1));
    assert_int_equal(sn_safetensors_find(f, "missing"), -1);
    assert_int_equal(sn_safetensors_dims(f, 3)[2], 3);

    assert_string_equal(sn_safetensors_metadata(f, "spec"), values[0]);
    assert_string_equal(sn_safetensors_metadata(f, "input_shape"), "1x28x28");
    assert_null(sn_safetensors_metadata(f, "absent"));
    assert_int_equal(sn_safetensors_metadata_count(f), 2);
    assert_string_equal(sn_safetensors_metadata_key(f, 1), "input_shape");
    assert_string_equal(sn_safetensors_metadata_value(f, 1), "1x28x28");

    /* Reading into a caller's buffer, with the count checked. */
    float buffer[6];
    SN_ASSERT_OK(sn_safetensors_read_into(f, 1, buffer, 6));
    assert_memory_equal(buffer, matrix->data, sizeof buffer);
    assert_int_equal(sn_safetensors_read_into(f, 1, buffer, 5), SN_ERR_SHAPE);
    sn_tensor *none = (sn_tensor *)&none;
    assert_int_equal(sn_safetensors_read(f, "missing", &none), SN_ERR_RANGE);
    assert_null(none);
    assert_non_null(strstr(sn_last_error(), "round_trip.safetensors"));
    sn_safetensors_close(f);

    /* No temporary file is left beside the result. */
    DIR *dir = opendir(sn_temp_dir());
    struct dirent *de;
    while ((de = readdir(dir)) != NULL)
        if (strstr(de->d_name, ".tmp")) fail_msg("temporary file left behind: %s", de->d_name);
    closedir(dir);

    sn_tensor_destroy(scalar);
    sn_tensor_destroy(vector);
    sn_tensor_destroy(matrix);
    sn_tensor_destroy(image);
}

static void test_empty_file_round_trip(void **state) {
    (void)state;
    const char *path = sn_temp_path("empty.safetensors");
    SN_ASSERT_OK(sn_safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL));
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    assert_int_equal(sn_safetensors_count(f), 0);
    assert_int_equal(sn_safetensors_metadata_count(f), 0);
    sn_safetensors_close(f);
}

static void test_writer_refuses_bad_arguments(void **state) {
    (void)state;
    sn_tensor *t;
    SN_ASSERT_OK(sn_tensor_create(&t, 1, (int64_t[]){2}));
    const sn_tensor *tensors[] = {t, t};
    const char *path = sn_temp_path("refused.safetensors");
    const char *same[] = {"a", "a"}, *reserved[] = {"__metadata__"}, *empty[] = {""};
    assert_int_equal(sn_safetensors_write(path, 2, same, tensors, 0, NULL, NULL),
                     SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "given twice"));
    assert_int_equal(sn_safetensors_write(path, 1, reserved, tensors, 0, NULL, NULL),
                     SN_ERR_INVALID_ARG);
    assert_int_equal(sn_safetensors_write(path, 1, empty, tensors, 0, NULL, NULL),
                     SN_ERR_INVALID_ARG);
    const char *latin1[] = {"caf\xe9"};
    assert_int_equal(sn_safetensors_write(path, 1, latin1, tensors, 0, NULL, NULL),
                     SN_ERR_INVALID_ARG);
    const char *keys[] = {"k", "k"}, *values[] = {"1", "2"}, *names[] = {"a"};
    assert_int_equal(sn_safetensors_write(path, 1, names, tensors, 2, keys, values),
                     SN_ERR_INVALID_ARG);
    assert_int_equal(access(path, F_OK), -1); /* nothing was written */
    assert_int_equal(sn_safetensors_write(sn_temp_path("no/such/dir.safetensors"), 1, names,
                                          tensors, 0, NULL, NULL),
                     SN_ERR_IO);
    assert_non_null(strstr(sn_last_error(), "dir.safetensors"));
    sn_tensor_destroy(t);
}

/* ---- conversions ---- */

/* Opens a file of one tensor "t" of dtype with count elements of size bytes. */
static sn_safetensors *open_one(const char *name, const char *dtype, int count, int size,
                                const void *data) {
    char json[256];
    snprintf(json, sizeof json, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%d],\"data_offsets\":[0,%d]}}",
             dtype, count, count * size);
    const char *path = write_valid_length(name, json, data, (size_t)(count * size));
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    assert_string_equal(sn_safetensors_dtype(f, 0), dtype);
    return f;
}

/* Reads "t" and compares bit patterns (so -0 and NaN are checked exactly). */
static void expect_floats(sn_safetensors *f, const float *expected, int count) {
    sn_tensor *t;
    SN_ASSERT_OK(sn_safetensors_read(f, "t", &t));
    assert_int_equal(sn_tensor_numel(t), count);
    for (int i = 0; i < count; i++) {
        if (isnan(expected[i])) {
            if (!isnan(t->data[i])) fail_msg("element %d: %g, expected NaN", i, t->data[i]);
        } else if (memcmp(&t->data[i], &expected[i], sizeof(float)) != 0) {
            fail_msg("element %d: %a, expected %a", i, t->data[i], expected[i]);
        }
    }
    sn_tensor_destroy(t);
}

static void test_f16(void **state) {
    (void)state;
    const uint16_t half[] = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                             0x7C00, 0xFC00, 0x7E00, 0x8000, 0x8001, 0x3555};
    const float expected[] = {1.0f,     -2.5f,     65504.0f, 0x1p-24f, 0x3ffp-24f, 0x1p-14f,
                              INFINITY, -INFINITY, NAN,      -0.0f,    -0x1p-24f,  0x1.554p-2f};
    sn_safetensors *f = open_one("f16.safetensors", "F16", 12, 2, half);
    expect_floats(f, expected, 12);
    sn_safetensors_close(f);
}

static void test_bf16(void **state) {
    (void)state;
    const uint16_t bf16[] = {0x3F80, 0xC020, 0x477F, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x8000};
    const float expected[] = {1.0f, -2.5f, 65280.0f, 0x1p-133f, INFINITY, -INFINITY, NAN, -0.0f};
    sn_safetensors *f = open_one("bf16.safetensors", "BF16", 8, 2, bf16);
    expect_floats(f, expected, 8);
    sn_safetensors_close(f);
}

static void test_f64(void **state) {
    (void)state;
    const double f64[] = {1.0,    -2.5,     65504.0, 0x1p-149,        4.9e-324, 1e300,
                          -1e300, INFINITY, NAN,     0x1.fffffefp127, 0.1};
    const float expected[] = {1.0f,      -2.5f,    65504.0f, 0x1p-149f, 0.0f, INFINITY,
                              -INFINITY, INFINITY, NAN,      FLT_MAX,   0.1f};
    sn_safetensors *f = open_one("f64.safetensors", "F64", 11, 8, f64);
    expect_floats(f, expected, 11);
    sn_safetensors_close(f);
}

static void test_integers(void **state) {
    (void)state;
    const int64_t labels[] = {0, 9, -3, 16777216, INT64_MIN, (int64_t)1 << 40};
    const float expected[] = {0.0f, 9.0f, -3.0f, 16777216.0f, -0x1p63f, 0x1p40f};
    sn_safetensors *f = open_one("i64.safetensors", "I64", 6, 8, labels);
    expect_floats(f, expected, 6);
    sn_safetensors_close(f);

    const uint8_t bytes[] = {0, 1, 255};
    f = open_one("u8.safetensors", "U8", 3, 1, bytes);
    expect_floats(f, (const float[]){0.0f, 1.0f, 255.0f}, 3);
    sn_safetensors_close(f);

    const int8_t signed_bytes[] = {-128, 127};
    f = open_one("i8.safetensors", "I8", 2, 1, signed_bytes);
    expect_floats(f, (const float[]){-128.0f, 127.0f}, 2);
    sn_safetensors_close(f);

    const int16_t shorts[] = {-32768, 32767};
    f = open_one("i16.safetensors", "I16", 2, 2, shorts);
    expect_floats(f, (const float[]){-32768.0f, 32767.0f}, 2);
    sn_safetensors_close(f);

    const uint64_t big[] = {(uint64_t)1 << 63, 12};
    f = open_one("u64.safetensors", "U64", 2, 8, big);
    expect_floats(f, (const float[]){0x1p63f, 12.0f}, 2);
    sn_safetensors_close(f);

    const uint8_t flags[] = {1, 0};
    f = open_one("bool.safetensors", "BOOL", 2, 1, flags);
    expect_floats(f, (const float[]){1.0f, 0.0f}, 2);
    sn_safetensors_close(f);

    /* 2^24 + 1 has no float32: refused, naming the element, not rounded. */
    const int32_t inexact[] = {7, 16777217};
    f = open_one("i32.safetensors", "I32", 2, 4, inexact);
    sn_tensor *t = (sn_tensor *)&t;
    assert_int_equal(sn_safetensors_read(f, "t", &t), SN_ERR_RANGE);
    assert_null(t);
    assert_non_null(strstr(sn_last_error(), "i32.safetensors"));
    assert_non_null(strstr(sn_last_error(), "16777217 at element 1"));
    sn_safetensors_close(f);

    const uint8_t bad_bool[] = {2};
    f = open_one("bad_bool.safetensors", "BOOL", 1, 1, bad_bool);
    assert_int_equal(sn_safetensors_read(f, "t", &t), SN_ERR_FORMAT);
    sn_safetensors_close(f);

    const uint8_t fp8[] = {0x38};
    f = open_one("f8.safetensors", "F8_E4M3", 1, 1, fp8);
    assert_int_equal(sn_safetensors_read(f, "t", &t), SN_ERR_UNSUPPORTED);
    sn_safetensors_close(f);
}

/* Valid files that sn_tensor cannot hold: they open, reading refuses. */
static void test_shapes_beyond_sn_tensor(void **state) {
    (void)state;
    const char *path =
        write_valid_length("wide.safetensors",
                           "{\"five\":" ENTRY("F32", "[1,1,1,1,2]", "[0,8]") ",\"empty\":" ENTRY(
                               "F32", "[3,0]", "[8,8]") "}",
                           NULL, 8);
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    assert_int_equal(sn_safetensors_count(f), 2);
    assert_int_equal(sn_safetensors_ndim(f, sn_safetensors_find(f, "five")), 5);
    sn_tensor *t;
    assert_int_equal(sn_safetensors_read(f, "five", &t), SN_ERR_UNSUPPORTED);
    assert_non_null(strstr(sn_last_error(), "wide.safetensors"));
    assert_int_equal(sn_safetensors_read(f, "empty", &t), SN_ERR_UNSUPPORTED);
    SN_ASSERT_OK(sn_safetensors_read_into(f, sn_safetensors_find(f, "empty"), NULL, 0));
    sn_safetensors_close(f);
}

/* Whitespace after the JSON object (the writers' padding) and unknown fields
 * in an entry are accepted, as by the reference reader. */
static void test_accepts_padding_and_unknown_fields(void **state) {
    (void)state;
    const char *path = write_valid_length(
        "padded.safetensors",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":true}}   \n ",
        NULL, 4);
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    sn_safetensors_close(f);
}

/* ---- hostile files ---- */

static void test_truncated_header_length(void **state) {
    (void)state;
    const char *path = sn_temp_path("short.safetensors");
    write_bytes(path, "\x10\x00\x00", 3);
    expect_refused(path, SN_ERR_FORMAT, "too short");
    write_bytes(path, "", 0);
    expect_refused(path, SN_ERR_FORMAT, "too short");
}

static void test_header_length_past_file(void **state) {
    (void)state;
    expect_refused(write_file("long.safetensors", 1000, "{}", NULL, 0), SN_ERR_FORMAT,
                   "header length 1000 is larger than the 2 bytes");
    expect_refused(write_file("huge.safetensors", (uint64_t)1 << 63, "{}", NULL, 0), SN_ERR_FORMAT,
                   "exceeds the limit");
    expect_refused(write_file("max.safetensors", UINT64_MAX, "{}", NULL, 0), SN_ERR_FORMAT,
                   "exceeds the limit");
    expect_refused(write_file("over100mb.safetensors", 100000001, "{}", NULL, 0), SN_ERR_FORMAT,
                   "exceeds the limit");
}

/* A header that must be refused: the JSON, the bytes of data after it, and a
 * piece of the expected message. */
typedef struct hostile_header {
    const char *file, *json;
    size_t data_len;
    const char *reason;
} hostile_header;

static const hostile_header hostile_headers[] = {
    /* Not JSON, or not the JSON object of a header. */
    {"open.safetensors", "{\"a\": {", 0, "not valid JSON"},
    {"garbage.safetensors", "\x01\x02", 0, "not valid JSON"},
    {"not_utf8.safetensors", "{\"\xff\":{}}", 0, "not valid UTF-8 (at byte 2)"},
    {"overlong.safetensors", "{\"\xc0\xaf\":{}}", 0, "not valid UTF-8"},
    {"surrogate.safetensors", "{\"\xed\xa0\x80\":{}}", 0, "not valid UTF-8"},
    {"cut_utf8.safetensors", "{\"a\":\"\xe2\x82", 0, "not valid UTF-8"},
    {"empty_header.safetensors", "", 0, "not valid JSON"},
    {"after.safetensors", "{} x", 0, "bytes after its JSON object"},
    {"array.safetensors", "[1, 2]", 0, "header is JSON but not an object"},
    {"string.safetensors", "\"x\"", 0, "header is JSON but not an object"},
    {"entry.safetensors", "{\"a\": 3}", 0, "tensor 'a': entry is not a JSON object"},
    /* Missing or mistyped fields. */
    {"no_dtype.safetensors", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor 'a': missing field 'dtype'"},
    {"no_shape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
     "missing field 'shape'"},
    {"no_offsets.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
     "missing field 'data_offsets'"},
    {"dtype_number.safetensors", "{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "dtype is not a string"},
    {"shape_string.safetensors", "{\"a\":" ENTRY("F32", "\"1\"", "[0,4]") "}", 4,
     "shape is not an array"},
    {"twice_field.safetensors",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
     "field 'shape' appears twice"},
    {"dtype.safetensors", "{\"a\":" ENTRY("F33", "[1]", "[0,4]") "}", 4, "unknown dtype 'F33'"},
    {"dtype_case.safetensors", "{\"a\":" ENTRY("f32", "[1]", "[0,4]") "}", 4,
     "unknown dtype 'f32'"},
    /* Shapes: negative, fractional, too large, product overflowing. */
    {"negative.safetensors", "{\"a\":" ENTRY("F32", "[-1]", "[0,4]") "}", 4,
     "shape dimension 0 is not a non-negative integer"},
    {"fraction.safetensors", "{\"a\":" ENTRY("F32", "[2, 1.5]", "[0,12]") "}", 12,
     "shape dimension 1 is not"},
    {"dim_string.safetensors", "{\"a\":" ENTRY("F32", "[\"2\"]", "[0,8]") "}", 8,
     "shape dimension 0 is not"},
    {"dim_2p64.safetensors", "{\"a\":" ENTRY("F32", "[18446744073709551617]", "[0,4]") "}", 4,
     "shape dimension 0 is not"},
    {"dim_inf.safetensors", "{\"a\":" ENTRY("F32", "[1e999]", "[0,4]") "}", 4,
     "shape dimension 0 is not"},
    /* Each dim fits; their product (2^96) does not. */
    {"overflow.safetensors",
     "{\"a\":" ENTRY("F32", "[4294967296,4294967296,4294967296]", "[0,4]") "}", 4,
     "too many elements (overflow)"},
    /* 2^62 elements of 4 bytes wrap to 0 in 64-bit arithmetic. */
    {"wrap.safetensors", "{\"a\":" ENTRY("F32", "[2147483648,2147483648]", "[0,0]") "}", 0,
     "overflow"},
    {"ndim9.safetensors", "{\"a\":" ENTRY("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4,
     "9 dimensions"},
    /* Offsets: malformed, reversed, past the end, overlapping, leaving gaps. */
    {"three.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[0,4,8]") "}", 4,
     "data_offsets must be two"},
    {"negative_offset.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[-4,0]") "}", 4,
     "data_offsets must be two"},
    {"backwards.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[4,0]") "}", 4,
     "end before they begin"},
    {"past_eof.safetensors", "{\"a\":" ENTRY("F32", "[2]", "[0,8]") "}", 4, "offsets past the end"},
    {"far_past_eof.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[1099511627776,1099511627780]") "}",
     4, "(a gap)"},
    {"overlap.safetensors",
     "{\"a\":" ENTRY("F32", "[2]", "[0,8]") ",\"b\":" ENTRY("F32", "[2]", "[4,12]") "}", 12,
     "tensor 'b': data_offsets [4, 12] begin at 4 but the previous tensor ends at 8 "
     "(overlapping ranges)"},
    {"same_range.safetensors",
     "{\"a\":" ENTRY("F32", "[1]", "[0,4]") ",\"b\":" ENTRY("F32", "[1]", "[0,4]") "}", 4,
     "overlapping ranges"},
    {"gap.safetensors",
     "{\"a\":" ENTRY("F32", "[1]", "[0,4]") ",\"b\":" ENTRY("F32", "[1]", "[8,12]") "}", 12,
     "(a gap)"},
    {"late_start.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[4,8]") "}", 8,
     "the data buffer starts at 0 (a gap)"},
    {"trailing.safetensors", "{\"a\":" ENTRY("F32", "[1]", "[0,4]") "}", 8,
     "tensors end at byte 4 of the data buffer but it holds 8 bytes (trailing bytes)"},
    {"data_no_tensors.safetensors", "{}", 4, "trailing bytes"},
    /* The span disagrees with shape x dtype size; the first is the example of
     * the documentation, word for word. */
    {"model.safetensors", "{\"0.weight\":" ENTRY("F32", "[2, 3]", "[0,12]") "}", 12,
     "model.safetensors: tensor '0.weight': data_offsets [0, 12] span 12 bytes but shape [2, 3] "
     "of F32 needs 24"},
    {"f16_span.safetensors", "{\"a\":" ENTRY("F16", "[3]", "[0,12]") "}", 12,
     "shape [3] of F16 needs 6"},
    /* Names given twice. */
    {"duplicate.safetensors",
     "{\"w\":" ENTRY("F32", "[1]", "[0,4]") ",\"w\":" ENTRY("F32", "[1]", "[4,8]") "}", 8,
     "tensor 'w' appears twice"},
    {"dup_meta.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
     "__metadata__ appears twice"},
    {"dup_meta_key.safetensors", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
     "key 'k' appears twice"},
    /* Metadata that is not a map of strings. */
    {"meta_number.safetensors", "{\"__metadata__\":{\"epoch\":1}}", 0,
     "__metadata__ value of 'epoch' is not a string"},
    {"meta_nested.safetensors", "{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0,
     "value of 'a' is not a string"},
    {"meta_array.safetensors", "{\"__metadata__\":[\"a\"]}", 0,
     "__metadata__ is not a JSON object"},
};

static void test_hostile_headers(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof hostile_headers / sizeof hostile_headers[0]; i++) {
        const hostile_header *h = &hostile_headers[i];
        expect_refused(write_valid_length(h->file, h->json, NULL, h->data_len), SN_ERR_FORMAT,
                       h->reason);
    }
}

/* A NUL inside the header must not end it early. */
static void test_nul_in_header(void **state) {
    (void)state;
    const char *path = sn_temp_path("nul.safetensors");
    write_bytes(path, "\x08\0\0\0\0\0\0\0{}\0     ", 16);
    expect_refused(path, SN_ERR_FORMAT, "bytes after its JSON object");
}

/* Deep nesting must fail cleanly (cJSON's nesting limit), not overflow the stack. */
static void test_deep_nesting(void **state) {
    (void)state;
    enum { depth = 100000 };
    char *json = malloc(2 * depth + 1);
    assert_non_null(json);
    memset(json, '[', depth);
    memset(json + depth, ']', depth);
    json[2 * depth] = '\0';
    expect_refused(write_valid_length("deep.safetensors", json, NULL, 0), SN_ERR_FORMAT,
                   "not valid JSON");
    free(json);
}

/* A long hostile name is quoted cut short, so the reason still fits the message. */
static void test_long_name_keeps_reason(void **state) {
    (void)state;
    enum { name_len = 2000 };
    char *json = malloc(name_len + 128);
    assert_non_null(json);
    strcpy(json, "{\"");
    memset(json + 2, 'n', name_len);
    strcpy(json + 2 + name_len, "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}");
    expect_refused(write_valid_length("long_name.safetensors", json, NULL, 4), SN_ERR_FORMAT,
                   "needs 8");
    free(json);
}

/* Opens path; when it opens, reads every tensor (which may fail cleanly). */
static sn_status open_and_read_all(const char *path) {
    sn_safetensors *f;
    sn_status st = sn_safetensors_open(&f, path);
    if (st != SN_OK) {
        if (!strstr(sn_last_error(), path)) fail_msg("message does not name the file");
        return st;
    }
    for (int i = 0; i < sn_safetensors_count(f); i++) {
        sn_tensor *t;
        if (sn_safetensors_read(f, sn_safetensors_name(f, i), &t) == SN_OK) sn_tensor_destroy(t);
    }
    sn_safetensors_close(f);
    return SN_OK;
}

/* Every strict prefix of a valid file and every single-byte mutation of it must
 * be handled without a crash or a sanitizer report; prefixes must all fail. */
static void test_truncations_and_mutations(void **state) {
    (void)state;
    sn_tensor *a, *b;
    SN_ASSERT_OK(sn_tensor_create(&a, 2, (int64_t[]){2, 3}));
    SN_ASSERT_OK(sn_tensor_create(&b, 0, NULL));
    fill(a, 1.0f);
    const char *names[] = {"a", "b"}, *keys[] = {"k"}, *values[] = {"v"};
    const sn_tensor *tensors[] = {a, b};
    char original[512];
    snprintf(original, sizeof original, "%s", sn_temp_path("original.safetensors"));
    SN_ASSERT_OK(sn_safetensors_write(original, 2, names, tensors, 1, keys, values));
    sn_tensor_destroy(a);
    sn_tensor_destroy(b);

    FILE *fp = fopen(original, "rb");
    assert_non_null(fp);
    unsigned char bytes[1024];
    size_t size = fread(bytes, 1, sizeof bytes, fp);
    fclose(fp);
    assert_true(size > 8 && size < sizeof bytes);

    char path[512];
    snprintf(path, sizeof path, "%s", sn_temp_path("mutated.safetensors"));
    for (size_t len = 0; len < size; len++) {
        write_bytes(path, bytes, len);
        assert_int_not_equal(open_and_read_all(path), SN_OK);
    }
    const unsigned char replacements[] = {0x00, 0xff, '0', '9', '-', '"', '[', '}', ' ', 'e'};
    int opened = 0;
    for (size_t at = 0; at < size; at++)
        for (size_t r = 0; r < sizeof replacements; r++) {
            unsigned char saved = bytes[at];
            if (saved == replacements[r]) continue;
            bytes[at] = replacements[r];
            write_bytes(path, bytes, size);
            opened += open_and_read_all(path) == SN_OK;
            bytes[at] = saved;
        }
    /* Mutations of the data bytes keep the file valid: some must open. */
    assert_true(opened > 0);
    print_message("  %d of the mutated files were still valid\n", opened);
}

static void test_not_a_file(void **state) {
    (void)state;
    expect_refused(sn_temp_path("does_not_exist.safetensors"), SN_ERR_IO, "cannot open");
    expect_refused(sn_temp_dir(), SN_ERR_IO, "not a regular file");
    sn_safetensors *f;
    assert_int_equal(sn_safetensors_open(&f, NULL), SN_ERR_INVALID_ARG);
    sn_safetensors_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_file_round_trip),
        cmocka_unit_test(test_writer_refuses_bad_arguments),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f64),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_shapes_beyond_sn_tensor),
        cmocka_unit_test(test_accepts_padding_and_unknown_fields),
        cmocka_unit_test(test_truncated_header_length),
        cmocka_unit_test(test_header_length_past_file),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_nul_in_header),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_long_name_keeps_reason),
        cmocka_unit_test(test_truncations_and_mutations),
        cmocka_unit_test(test_not_a_file),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

/*
 * Datasets: Fashion-MNIST from /usr/share/datasets/fashion-mnist checked
 * against values read with Python (gzip + struct); safetensors datasets (U8
 * and F32 examples, class indices and float targets, a test split, and the
 * files that must be refused); every normalisation on exact values, with the
 * training statistics reused for the test split; batches, arrays, splits and
 * shuffling.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* Each float equal to the expected one, bit for bit (-0 aside). */
static void assert_floats_exact(const float *got, const float *expected, int64_t n,
                                const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (got[i] != expected[i])
            fail_msg("%s[%lld] = %.9g, expected %.9g", what, (long long)i, (double)got[i],
                     (double)expected[i]);
}

/* ---- Fashion-MNIST ---- */

/* Values read with /usr/bin/python3 (gzip.open + struct) from the .gz files:
 * the first labels of each split; pixel 100 of training image 0 is 73, pixel
 * (10, 14) of image 0 is 228, (13, 13) of image 1 is 205; pixel (14, 14) of
 * the last test image is 132; training image 0 sums to 76247. */
static const float train_first_labels[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
static const float test_first_labels[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};

static void test_fashion_mnist_whole(void **state) {
    (void)state;
    sn_data_opts o = sn_data_defaults();
    o.normalize = SN_NORM_NONE;
    sn_dataset *train, *test;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, &train, &test));
    assert_int_equal(sn_dataset_count(train), 60000);
    assert_int_equal(sn_dataset_count(test), 10000);
    assert_string_equal(sn_dataset_source(train), FASHION_DIR);
    for (int k = 0; k < 2; k++) {
        const sn_dataset *ds = k ? test : train;
        const sn_shape *s = sn_dataset_sample_shape(ds);
        assert_int_equal(s->ndim, 3);
        assert_true(s->dim[0] == 1 && s->dim[1] == 28 && s->dim[2] == 28);
        assert_int_equal(sn_dataset_num_classes(ds), 10);
        assert_int_equal(sn_dataset_target_size(ds), 1);
    }
    float *x = malloc(2 * 784 * sizeof(float)), y[10];
    int64_t first[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    SN_ASSERT_OK(sn_dataset_batch(train, first, 10, NULL, y));
    assert_floats_exact(y, train_first_labels, 10, "train y");
    SN_ASSERT_OK(sn_dataset_batch(test, first, 10, NULL, y));
    assert_floats_exact(y, test_first_labels, 10, "test y");

    SN_ASSERT_OK(sn_dataset_batch(train, first, 2, x, NULL));
    assert_true(x[100] == 73.0f && x[10 * 28 + 14] == 228.0f && x[784 + 13 * 28 + 13] == 205.0f);
    double sum = 0;
    for (int i = 0; i < 784; i++) sum += x[i];
    assert_true(sum == 76247.0);
    SN_ASSERT_OK(sn_dataset_batch(test, (int64_t[]){9999}, 1, x, NULL));
    assert_true(x[14 * 28 + 14] == 132.0f);

    /* every label in 0..9, each class 6000 times in training */
    int64_t counts[10] = {0};
    float *labels = malloc(60000 * sizeof(float));
    int64_t *all = malloc(60000 * sizeof(int64_t));
    for (int64_t i = 0; i < 60000; i++) all[i] = i;
    SN_ASSERT_OK(sn_dataset_batch(train, all, 60000, NULL, labels));
    for (int64_t i = 0; i < 60000; i++) {
        assert_true(labels[i] >= 0 && labels[i] <= 9 && labels[i] == floorf(labels[i]));
        counts[(int)labels[i]]++;
    }
    for (int c = 0; c < 10; c++) assert_int_equal(counts[c], 6000);
    free(labels);
    free(all);
    free(x);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
}

/* The default normalisation maps bytes to [0, 1]; STANDARD with the
 * statistics of the first 1000 training images (mean 0.28290316, unbiased std
 * 0.35307953 from numpy in double), used for the test split as well. */
static void test_fashion_mnist_normalised_and_limited(void **state) {
    (void)state;
    sn_data_opts o = sn_data_defaults();
    o.limit = 1000;
    sn_dataset *train, *test;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, &train, &test));
    assert_int_equal(sn_dataset_count(train), 1000);
    assert_int_equal(sn_dataset_count(test), 1000);
    float x[784];
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){0}, 1, x, NULL));
    assert_true(x[100] == 73.0f / 255.0f && x[0] == 0.0f);
    assert_int_equal(sn_dataset_batch(train, (int64_t[]){1000}, 1, x, NULL), SN_ERR_RANGE);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    o.normalize = SN_NORM_STANDARD;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, &train, &test));
    const float mean = 0.28290316f, std = 0.35307953f;
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){0}, 1, x, NULL));
    assert_float_equal(x[0], (0.0f - mean) / std, 1e-6);
    assert_float_equal(x[100], (73.0f / 255.0f - mean) / std, 1e-6);
    SN_ASSERT_OK(sn_dataset_batch(test, (int64_t[]){999}, 1, x, NULL));
    assert_float_equal(x[0], (0.0f - mean) / std, 1e-6);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    /* without a test split, only the training files are read */
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, &train, NULL));
    assert_int_equal(sn_dataset_count(train), 1000);
    sn_dataset_destroy(train);
}

/* ---- safetensors datasets, crafted byte by byte ---- */

typedef struct st_tensor {
    const char *name, *dtype;
    int ndim;
    int64_t dims[4];
    const void *data;
    size_t bytes;
} st_tensor;

/* A safetensors file of the given tensors (any dtype); returns its path. */
static const char *write_st(const char *name, int n, const st_tensor *t) {
    char json[2048] = "{";
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        char entry[256], shape[128] = "[";
        for (int d = 0; d < t[i].ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)t[i].dims[d]);
        strcat(shape, "]");
        snprintf(entry, sizeof entry,
                 "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                 i ? "," : "", t[i].name, t[i].dtype, shape, offset, offset + t[i].bytes);
        strcat(json, entry);
        offset += t[i].bytes;
    }
    strcat(json, "}");
    while (strlen(json) % 8) strcat(json, " ");
    const char *path = sn_temp_path(name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    uint64_t len = strlen(json);
    unsigned char len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (unsigned char)(len >> (8 * i));
    assert_int_equal(fwrite(len_bytes, 1, 8, fp), 8);
    assert_int_equal(fwrite(json, 1, len, fp), len);
    for (int i = 0; i < n; i++) assert_int_equal(fwrite(t[i].data, 1, t[i].bytes, fp), t[i].bytes);
    assert_int_equal(fclose(fp), 0);
    return path;
}

/* x: U8 (4, 2, 1, 2): channel 0 holds {0, 255}, channel 1 {51, 102}, per example. */
static const uint8_t u8_pixels[16] = {0, 255, 51, 102, 255, 0, 102, 51,
                                      0, 255, 51, 102, 255, 0, 102, 51};
static const int64_t i64_labels[4] = {2, 0, 1, 7};

static const char *write_u8_dataset(const char *name) {
    st_tensor t[] = {
        {"x", "U8", 4, {4, 2, 1, 2}, u8_pixels, sizeof u8_pixels},
        {"y", "I64", 1, {4}, i64_labels, sizeof i64_labels},
        {"x_test", "U8", 4, {1, 2, 1, 2}, (uint8_t[]){255, 255, 0, 0}, 4},
        {"y_test", "I64", 1, {1}, (int64_t[]){9}, 8},
    };
    return write_st(name, 4, t);
}

static void load_with(const char *path, sn_normalize norm, sn_dataset **train, sn_dataset **test) {
    sn_data_opts o = sn_data_defaults();
    o.normalize = norm;
    SN_ASSERT_OK(sn_dataset_load(path, &o, train, test));
}

static void test_safetensors_u8_classes(void **state) {
    (void)state;
    const char *path = write_u8_dataset("u8.safetensors");
    sn_dataset *train, *test;
    load_with(path, SN_NORM_NONE, &train, &test);
    assert_string_equal(sn_dataset_source(train), path);
    assert_int_equal(sn_dataset_count(train), 4);
    assert_int_equal(sn_dataset_count(test), 1);
    const sn_shape *s = sn_dataset_sample_shape(train);
    assert_true(s->ndim == 3 && s->dim[0] == 2 && s->dim[1] == 1 && s->dim[2] == 2);
    /* classes over both splits: y_test holds 9 */
    assert_int_equal(sn_dataset_num_classes(train), 10);
    assert_int_equal(sn_dataset_num_classes(test), 10);
    float x[8], y[2];
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){3, 0}, 2, x, y));
    assert_floats_exact(x, (float[]){255, 0, 102, 51, 0, 255, 51, 102}, 8, "x");
    assert_floats_exact(y, (float[]){7, 2}, 2, "y");
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    /* I32 and U8 labels too; no test split */
    st_tensor t[] = {
        {"x", "U8", 2, {2, 3}, (uint8_t[]){1, 2, 3, 4, 5, 6}, 6},
        {"y", "I32", 1, {2}, (int32_t[]){4, 1}, 8},
    };
    path = write_st("i32.safetensors", 2, t);
    test = (sn_dataset *)&test;
    load_with(path, SN_NORM_AUTO, &train, &test);
    assert_null(test);
    assert_int_equal(sn_dataset_num_classes(train), 5);
    assert_int_equal(sn_dataset_sample_shape(train)->ndim, 1);
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){1}, 1, x, y));
    assert_floats_exact(x, (float[]){4 / 255.0f, 5 / 255.0f, 6 / 255.0f}, 3, "x");
    sn_dataset_destroy(train);
    t[1] = (st_tensor){"y", "U8", 1, {2}, (uint8_t[]){0, 3}, 2};
    path = write_st("u8y.safetensors", 2, t);
    load_with(path, SN_NORM_AUTO, &train, NULL);
    assert_int_equal(sn_dataset_num_classes(train), 4);
    sn_dataset_destroy(train);
}

/* Written with sn_safetensors_write: F32 examples and F32 targets of width 2. */
static void test_safetensors_f32_targets(void **state) {
    (void)state;
    sn_tensor x = {{2, {3, 2}}, (float[]){1.5f, -2, 3, 4, 5, 6.25f}};
    sn_tensor y = {{2, {3, 2}}, (float[]){0.5f, 1, 2, 3, 4, 5}};
    sn_tensor y1 = {{1, {3}}, (float[]){0.5f, 1, 2}};
    const char *names[] = {"x", "y"};
    const sn_tensor *tensors[] = {&x, &y};
    const char *path = sn_temp_path("f32.safetensors");
    SN_ASSERT_OK(sn_safetensors_write(path, 2, names, tensors, 0, NULL, NULL));
    sn_dataset *train;
    load_with(path, SN_NORM_AUTO, &train, NULL); /* AUTO: float data as stored */
    assert_int_equal(sn_dataset_num_classes(train), 0);
    assert_int_equal(sn_dataset_target_size(train), 2);
    float xb[4], yb[4];
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){2, 0}, 2, xb, yb));
    assert_floats_exact(xb, (float[]){5, 6.25f, 1.5f, -2}, 4, "x");
    assert_floats_exact(yb, (float[]){4, 5, 0.5f, 1}, 4, "y");
    sn_dataset_destroy(train);

    /* F32 y is float targets even when every value is an integer */
    tensors[1] = &y1;
    y1.data[0] = 0;
    SN_ASSERT_OK(sn_safetensors_write(path, 2, names, tensors, 0, NULL, NULL));
    load_with(path, SN_NORM_AUTO, &train, NULL);
    assert_int_equal(sn_dataset_num_classes(train), 0);
    assert_int_equal(sn_dataset_target_size(train), 1);
    sn_dataset_destroy(train);

    /* limit */
    sn_data_opts o = sn_data_defaults();
    o.limit = 2;
    SN_ASSERT_OK(sn_dataset_load(path, &o, &train, NULL));
    assert_int_equal(sn_dataset_count(train), 2);
    sn_dataset_destroy(train);
}

static void expect_st_refused(const char *name, int n, const st_tensor *t, sn_status status,
                              const char *reason) {
    const char *path = write_st(name, n, t);
    sn_dataset *train = (sn_dataset *)&train, *test = (sn_dataset *)&test;
    sn_status st = sn_dataset_load(path, NULL, &train, &test);
    const char *message = sn_last_error();
    if (st == SN_OK) fail_msg("%s was accepted; expected: %s", name, reason);
    assert_null(train);
    assert_null(test);
    if (!strstr(message, name)) fail_msg("message does not name %s: %s", name, message);
    if (!strstr(message, reason)) fail_msg("message lacks '%s': %s", reason, message);
    if (st != status)
        fail_msg("status %s, expected %s (%s)", sn_status_string(st), sn_status_string(status),
                 message);
}

static void test_safetensors_refused(void **state) {
    (void)state;
    const uint8_t px[4] = {0};
    const float fx[4] = {0, 1, NAN, 3};
#define X_U8 {"x", "U8", 2, {2, 2}, px, 4}
    expect_st_refused("no_y.safetensors", 1, (st_tensor[]){X_U8}, SN_ERR_FORMAT, "no tensor 'y'");
    expect_st_refused("negative.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "I64", 1, {2}, (int64_t[]){1, -3}, 16}},
                      SN_ERR_RANGE, "y[1] = -3 is not a class index");
    expect_st_refused("too_big.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "I64", 1, {2}, (int64_t[]){1 << 24, 0}, 16}},
                      SN_ERR_RANGE, "y[0] = 16777216 is not a class index in [0, 2^24)");
    expect_st_refused("huge.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "I64", 1, {2}, (int64_t[]){0, 1LL << 40}, 16}},
                      SN_ERR_RANGE, "y[1] = 1099511627776");
    expect_st_refused("count.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "I32", 1, {3}, (int32_t[]){0, 1, 2}, 12}},
                      SN_ERR_SHAPE, "'y' must have shape (2)");
    expect_st_refused("y2d_classes.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "I32", 2, {2, 1}, (int32_t[]){0, 1}, 8}},
                      SN_ERR_SHAPE, "'y' must have shape (2)");
    expect_st_refused("y_f64.safetensors", 2,
                      (st_tensor[]){X_U8, {"y", "F64", 1, {2}, (double[]){0, 1}, 16}},
                      SN_ERR_UNSUPPORTED, "'y' is F64");
    expect_st_refused("x_i32.safetensors", 2,
                      (st_tensor[]){{"x", "I32", 2, {1, 1}, px, 4}, {"y", "U8", 1, {1}, px, 1}},
                      SN_ERR_UNSUPPORTED, "'x' is I32; examples must be F32 or U8");
    expect_st_refused("x_1d.safetensors", 2,
                      (st_tensor[]){{"x", "U8", 1, {4}, px, 4}, {"y", "U8", 1, {4}, px, 4}},
                      SN_ERR_UNSUPPORTED, "'x' has 1 dimensions");
    expect_st_refused("x_nan.safetensors", 2,
                      (st_tensor[]){{"x", "F32", 2, {2, 2}, fx, 16}, {"y", "U8", 1, {2}, px, 2}},
                      SN_ERR_NUMERIC, "'x' element 2 is not finite");
    expect_st_refused("y_nan.safetensors", 2, (st_tensor[]){X_U8, {"y", "F32", 2, {2, 2}, fx, 16}},
                      SN_ERR_NUMERIC, "'y' element 2 is not finite");
    expect_st_refused(
        "lone_x_test.safetensors", 3,
        (st_tensor[]){X_U8, {"y", "U8", 1, {2}, px, 2}, {"x_test", "U8", 2, {1, 2}, px, 2}},
        SN_ERR_FORMAT, "'x_test' without 'y_test'");
    expect_st_refused("test_shape.safetensors", 4,
                      (st_tensor[]){X_U8,
                                    {"y", "U8", 1, {2}, px, 2},
                                    {"x_test", "U8", 2, {1, 3}, px, 3},
                                    {"y_test", "U8", 1, {1}, px, 1}},
                      SN_ERR_FORMAT, "'x_test' examples differ from 'x'");
    expect_st_refused("test_dtype.safetensors", 4,
                      (st_tensor[]){X_U8,
                                    {"y", "U8", 1, {2}, px, 2},
                                    {"x_test", "F32", 2, {1, 2}, fx, 8},
                                    {"y_test", "U8", 1, {1}, px, 1}},
                      SN_ERR_FORMAT, "'x_test' examples differ from 'x'");
    expect_st_refused("test_targets.safetensors", 4,
                      (st_tensor[]){X_U8,
                                    {"y", "U8", 1, {2}, px, 2},
                                    {"x_test", "U8", 2, {1, 2}, px, 2},
                                    {"y_test", "F32", 1, {1}, fx, 4}},
                      SN_ERR_FORMAT, "'y_test' targets differ from 'y'");
#undef X_U8
}

/* ---- normalisation, on the U8 file above ---- */

static void batch_all(const sn_dataset *ds, float *x) {
    int64_t order[4] = {0, 1, 2, 3};
    SN_ASSERT_OK(sn_dataset_batch(ds, order, sn_dataset_count(ds), x, NULL));
}

static void test_normalisation_exact(void **state) {
    (void)state;
    const char *path = write_u8_dataset("norm.safetensors");
    sn_dataset *train, *test;
    float x[16];

    load_with(path, SN_NORM_AUTO, &train, &test); /* AUTO is UNIT for bytes */
    batch_all(train, x);
    /* 51 / 255 and 102 / 255 round to the floats nearest 0.2 and 0.4 */
    assert_floats_exact(x, (float[]){0, 1, 0.2f, 0.4f, 1, 0, 0.4f, 0.2f}, 8, "auto");
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    load_with(path, SN_NORM_UNIT, &train, &test);
    batch_all(train, x);
    assert_floats_exact(x, (float[]){0, 1, 0.2f, 0.4f}, 4, "unit");
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    load_with(path, SN_NORM_SYMMETRIC, &train, &test);
    batch_all(train, x);
    /* x / 127.5 - 1 in float: 0 -> -1 and 255 -> 1 exactly */
    assert_floats_exact(x, (float[]){-1, 1, 51 / 127.5f - 1, 102 / 127.5f - 1}, 4, "symmetric");
    assert_float_equal(x[2], -0.6, 1e-7);
    assert_float_equal(x[3], -0.2, 1e-7);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    /* STANDARD from the training split, per channel: channel 0 is {0, 1} twice
     * per example after / 255, so mean 0.5 and unbiased std sqrt(8 * 0.25 / 7);
     * channel 1 is {0.2, 0.4}: mean 0.3, std sqrt(8 * 0.01 / 7). */
    load_with(path, SN_NORM_STANDARD, &train, &test);
    batch_all(train, x);
    const float mean0 = 0.5f, std0 = (float)sqrt(2.0 / 7.0);
    const float mean1 = (float)(0.3), std1 = (float)sqrt(0.08 / 7.0);
    float expected[4] = {(0.0f - mean0) / std0, (1.0f - mean0) / std0, (51 / 255.0f - mean1) / std1,
                         (102 / 255.0f - mean1) / std1};
    assert_floats_exact(x, expected, 4, "standard");
    /* the standardised training data has mean 0 and std 1 per channel */
    double sum0 = 0, sum1 = 0;
    for (int i = 0; i < 4; i++)
        sum0 += x[4 * i] + x[4 * i + 1], sum1 += x[4 * i + 2] + x[4 * i + 3];
    assert_float_equal(sum0, 0.0, 1e-5);
    assert_float_equal(sum1, 0.0, 1e-5);
    /* the test split (255, 255 | 0, 0) uses the training statistics */
    SN_ASSERT_OK(sn_dataset_batch(test, (int64_t[]){0}, 1, x, NULL));
    assert_floats_exact(x,
                        (float[]){(1.0f - mean0) / std0, (1.0f - mean0) / std0,
                                  (0.0f - mean1) / std1, (0.0f - mean1) / std1},
                        4, "standard test");
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);

    /* given statistics */
    sn_data_opts o = sn_data_defaults();
    o.normalize = SN_NORM_STANDARD;
    o.n_channels_stats = 2;
    o.mean[0] = 0.5f, o.std[0] = 0.25f, o.mean[1] = 0.0f, o.std[1] = 2.0f;
    SN_ASSERT_OK(sn_dataset_load(path, &o, &train, NULL));
    batch_all(train, x);
    assert_floats_exact(x, (float[]){-2, 2, 0.2f / 2, 0.4f / 2}, 4, "given");
    sn_dataset_destroy(train);
    o.n_channels_stats = 1; /* the wrong number of channels */
    assert_int_equal(sn_dataset_load(path, &o, &train, NULL), SN_ERR_SHAPE);
    assert_non_null(
        strstr(sn_last_error(), "1 mean/std values given but the samples have 2 channels"));
    o.n_channels_stats = 2, o.std[1] = 0.0f;
    assert_int_equal(sn_dataset_load(path, &o, &train, NULL), SN_ERR_INVALID_ARG);
    assert_null(train);
}

/* Float data: UNIT and SYMMETRIC divide as for bytes, STANDARD skips the / 255. */
static void test_normalisation_float_data(void **state) {
    (void)state;
    sn_tensor x = {{2, {2, 2}}, (float[]){0, 255, 51, 2}};
    sn_tensor y = {{1, {2}}, (float[]){0, 1}};
    const char *names[] = {"x", "y"};
    const sn_tensor *tensors[] = {&x, &y};
    const char *path = sn_temp_path("float_norm.safetensors");
    SN_ASSERT_OK(sn_safetensors_write(path, 2, names, tensors, 0, NULL, NULL));
    sn_dataset *train;
    float out[4];
    load_with(path, SN_NORM_UNIT, &train, NULL);
    batch_all(train, out);
    assert_floats_exact(out, (float[]){0, 1, 0.2f, 2 / 255.0f}, 4, "unit");
    sn_dataset_destroy(train);
    load_with(path, SN_NORM_SYMMETRIC, &train, NULL);
    batch_all(train, out);
    assert_floats_exact(out, (float[]){-1, 1, 51 / 127.5f - 1, 2 / 127.5f - 1}, 4, "symmetric");
    sn_dataset_destroy(train);
    /* one channel for 1-D samples: mean 77, unbiased std of {0, 255, 51, 2} */
    load_with(path, SN_NORM_STANDARD, &train, NULL);
    batch_all(train, out);
    double var = (77.0 * 77 + 178.0 * 178 + 26.0 * 26 + 75.0 * 75) / 3;
    float mean = 77.0f, std = (float)sqrt(var);
    assert_floats_exact(
        out, (float[]){(0 - mean) / std, (255 - mean) / std, (51 - mean) / std, (2 - mean) / std},
        4, "standard");
    sn_dataset_destroy(train);
    /* a constant channel cannot be standardised */
    x.data[0] = x.data[1] = x.data[2] = x.data[3] = 5;
    SN_ASSERT_OK(sn_safetensors_write(path, 2, names, tensors, 0, NULL, NULL));
    sn_data_opts o = sn_data_defaults();
    o.normalize = SN_NORM_STANDARD;
    assert_int_equal(sn_dataset_load(path, &o, &train, NULL), SN_ERR_NUMERIC);
    assert_non_null(strstr(sn_last_error(), "standard deviation 0"));
}

/* ---- arrays, batches, splits, shuffling ---- */

static sn_dataset *ten_examples(void) {
    float x[10 * 3], y[10];
    for (int i = 0; i < 30; i++) x[i] = (float)i;
    for (int i = 0; i < 10; i++) y[i] = (float)(i % 4);
    sn_shape s = {1, {3}};
    sn_dataset *ds;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, 10, &s, x, 1, y, 4));
    x[0] = 100; /* copied: the dataset does not see this */
    return ds;
}

static void test_arrays_and_batches(void **state) {
    (void)state;
    sn_dataset *ds = ten_examples();
    assert_int_equal(sn_dataset_count(ds), 10);
    assert_int_equal(sn_dataset_num_classes(ds), 4);
    float x[9] = {0}, y[3] = {0};
    SN_ASSERT_OK(sn_dataset_batch(ds, (int64_t[]){0, 9, 5}, 3, x, y));
    assert_floats_exact(x, (float[]){0, 1, 2, 27, 28, 29, 15, 16, 17}, 9, "x");
    assert_floats_exact(y, (float[]){0, 1, 1}, 3, "y");
    /* out-of-range indices leave the buffers untouched */
    float before[9];
    memcpy(before, x, sizeof x);
    assert_int_equal(sn_dataset_batch(ds, (int64_t[]){1, 10}, 2, x, y), SN_ERR_RANGE);
    assert_non_null(strstr(sn_last_error(), "example index 10 (batch position 1)"));
    assert_int_equal(sn_dataset_batch(ds, (int64_t[]){-1}, 1, x, y), SN_ERR_RANGE);
    assert_memory_equal(x, before, sizeof x);
    sn_dataset_destroy(ds);

    /* class indices outside [0, n_classes) are refused */
    sn_shape s = {1, {1}};
    assert_int_equal(sn_dataset_from_arrays(&ds, 2, &s, (float[]){0, 0}, 1, (float[]){1, 4}, 4),
                     SN_ERR_RANGE);
    assert_non_null(strstr(sn_last_error(), "y[1] = 4 is not a class index in [0, 4)"));
    assert_int_equal(sn_dataset_from_arrays(&ds, 2, &s, (float[]){0, 0}, 1, (float[]){0.5f, 0}, 4),
                     SN_ERR_RANGE);
    assert_int_equal(
        sn_dataset_from_arrays(&ds, 2, &s, (float[]){0, 0}, 2, (float[]){0, 0, 0, 0}, 4),
        SN_ERR_INVALID_ARG);
    sn_shape four_d = {4, {1, 1, 1, 1}};
    assert_int_equal(sn_dataset_from_arrays(&ds, 1, &four_d, (float[]){0}, 1, (float[]){0}, 0),
                     SN_ERR_SHAPE);
    /* float targets of width 2 */
    SN_ASSERT_OK(
        sn_dataset_from_arrays(&ds, 2, &s, (float[]){1, 2}, 2, (float[]){0.5f, -1, 3, 4}, 0));
    SN_ASSERT_OK(sn_dataset_batch(ds, (int64_t[]){1}, 1, NULL, y));
    assert_floats_exact(y, (float[]){3, 4}, 2, "y");
    sn_dataset_destroy(ds);
}

static void test_split(void **state) {
    (void)state;
    sn_dataset *ds = ten_examples(), *tail;
    SN_ASSERT_OK(sn_dataset_split(ds, 0.3, &tail));
    assert_int_equal(sn_dataset_count(ds), 7);
    assert_int_equal(sn_dataset_count(tail), 3);
    assert_int_equal(sn_dataset_num_classes(tail), 4);
    float x[3], y[1];
    SN_ASSERT_OK(sn_dataset_batch(tail, (int64_t[]){0}, 1, x, y)); /* example 7 */
    assert_floats_exact(x, (float[]){21, 22, 23}, 3, "tail x");
    assert_true(y[0] == 3.0f);
    SN_ASSERT_OK(sn_dataset_batch(ds, (int64_t[]){6}, 1, x, y)); /* example 6 */
    assert_floats_exact(x, (float[]){18, 19, 20}, 3, "head x");
    assert_int_equal(sn_dataset_batch(ds, (int64_t[]){7}, 1, x, y), SN_ERR_RANGE);
    sn_dataset_destroy(ds); /* either may go first: the tail owns a copy */
    SN_ASSERT_OK(sn_dataset_batch(tail, (int64_t[]){2}, 1, x, NULL));
    assert_floats_exact(x, (float[]){27, 28, 29}, 3, "tail x after the head is gone");

    /* rounded to nearest: 0.29 of 100 is 29, though 0.29 * 100 < 29 in double */
    float big[100] = {0}, labels[100] = {0};
    sn_shape s = {1, {1}};
    sn_dataset *hundred, *part;
    SN_ASSERT_OK(sn_dataset_from_arrays(&hundred, 100, &s, big, 1, labels, 1));
    SN_ASSERT_OK(sn_dataset_split(hundred, 0.29, &part));
    assert_int_equal(sn_dataset_count(part), 29);
    assert_int_equal(sn_dataset_count(hundred), 71);
    sn_dataset_destroy(part);
    /* fractions that leave a part empty, or are outside (0, 1) */
    part = (sn_dataset *)&part;
    assert_int_equal(sn_dataset_split(hundred, 0.001, &part), SN_ERR_RANGE);
    assert_null(part);
    assert_int_equal(sn_dataset_split(hundred, 0.0, &part), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_dataset_split(hundred, 1.0, &part), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_dataset_split(hundred, NAN, &part), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_dataset_count(hundred), 71);
    sn_dataset_destroy(hundred);
    sn_dataset_destroy(tail);
}

/* A split of byte data keeps the bytes and the normalisation. */
static void test_split_keeps_normalisation(void **state) {
    (void)state;
    const char *path = write_u8_dataset("split.safetensors");
    sn_dataset *train, *tail;
    load_with(path, SN_NORM_STANDARD, &train, NULL);
    float whole[4], split_off[4];
    SN_ASSERT_OK(sn_dataset_batch(train, (int64_t[]){3}, 1, whole, NULL));
    SN_ASSERT_OK(sn_dataset_split(train, 0.5, &tail));
    SN_ASSERT_OK(sn_dataset_batch(tail, (int64_t[]){1}, 1, split_off, NULL));
    assert_floats_exact(split_off, whole, 4, "split");
    sn_dataset_destroy(train);
    sn_dataset_destroy(tail);
}

static void test_shuffle(void **state) {
    (void)state;
    enum { N = 1000 };
    int64_t a[N], b[N], c[N];
    sn_rng rng;
    sn_rng_seed(&rng, 42, SN_STREAM_SHUFFLE);
    sn_shuffle_indices(a, N, &rng);
    sn_rng_seed(&rng, 42, SN_STREAM_SHUFFLE);
    sn_shuffle_indices(b, N, &rng);
    sn_rng_seed(&rng, 43, SN_STREAM_SHUFFLE);
    sn_shuffle_indices(c, N, &rng);
    assert_memory_equal(a, b, sizeof a); /* deterministic per seed */
    char seen[N] = {0};
    int fixed = 0, same_as_c = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= 0 && a[i] < N);
        assert_false(seen[a[i]]); /* a permutation: each index once */
        seen[a[i]] = 1;
        fixed += a[i] == i;
        same_as_c += a[i] == c[i];
    }
    assert_true(fixed < 10);     /* about one fixed point is expected */
    assert_true(same_as_c < 10); /* another seed, another order */

    /* Unbiased: the 6 orders of 3 items are equally likely. 60000 shuffles,
     * chi-square with 5 degrees of freedom below 20.5 (p = 0.001). A shuffle
     * that swapped with any position, not just the first i + 1, would give
     * frequencies 4/27, 5/27 and fail. */
    long counts[6] = {0};
    sn_rng_seed(&rng, 7, SN_STREAM_SHUFFLE);
    for (int t = 0; t < 60000; t++) {
        int64_t p[3];
        sn_shuffle_indices(p, 3, &rng);
        counts[p[0] * 2 + (p[1] > p[2])]++;
    }
    double chi2 = 0;
    for (int k = 0; k < 6; k++) chi2 += (counts[k] - 10000.0) * (counts[k] - 10000.0) / 10000.0;
    if (chi2 > 20.5) fail_msg("chi-square %.1f over the 6 orders of 3", chi2);

    int64_t one = 5;
    sn_shuffle_indices(&one, 1, &rng);
    assert_int_equal(one, 0);
    sn_shuffle_indices(NULL, 0, &rng);
}

static void test_load_refuses(void **state) {
    (void)state;
    sn_dataset *train = (sn_dataset *)&train, *test = (sn_dataset *)&test;
    assert_int_equal(sn_dataset_load("/nonexistent/data", NULL, &train, &test), SN_ERR_IO);
    assert_null(train);
    assert_null(test);
    assert_non_null(strstr(sn_last_error(), "/nonexistent/data: cannot open"));
    sn_data_opts o = sn_data_defaults();
    o.limit = -1;
    assert_int_equal(sn_dataset_load(FASHION_DIR, &o, &train, NULL), SN_ERR_INVALID_ARG);
    o = sn_data_defaults();
    o.normalize = (sn_normalize)17;
    assert_int_equal(sn_dataset_load(FASHION_DIR, &o, &train, NULL), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), FASHION_DIR ": unknown normalisation 17"));
    o = sn_data_defaults();
    o.csv_header = 2;
    assert_int_equal(sn_dataset_load(FASHION_DIR, &o, &train, NULL), SN_ERR_INVALID_ARG);
    sn_data_opts d = sn_data_defaults();
    assert_int_equal(d.normalize, SN_NORM_AUTO);
    assert_int_equal(d.csv_header, -1);
    assert_int_equal(d.csv_label_col, 0);
    assert_int_equal(d.limit, 0);
    assert_int_equal(d.n_channels_stats, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist_whole),
        cmocka_unit_test(test_fashion_mnist_normalised_and_limited),
        cmocka_unit_test(test_safetensors_u8_classes),
        cmocka_unit_test(test_safetensors_f32_targets),
        cmocka_unit_test(test_safetensors_refused),
        cmocka_unit_test(test_normalisation_exact),
        cmocka_unit_test(test_normalisation_float_data),
        cmocka_unit_test(test_arrays_and_batches),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_keeps_normalisation),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_load_refuses),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

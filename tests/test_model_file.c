/*
 * Model files (docs/formats.md): save -> load gives the same outputs and, saved
 * again, the same bytes; the metadata; strict loading of weights (a missing,
 * extra or misshapen tensor fails naming it and changes nothing, even when the
 * failure is found while converting the last tensor); dtype conversion of
 * F64/F16/BF16 weights; the rule by which sn_model_load tells safetensors
 * from a spec (sn_model_file_is_safetensors, at the header-length bound); and
 * what sn_model_load makes of a model file, a state_dict without a spec, a
 * spec file and a broken file.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_GOLDEN_DIR SN_GOLDEN_DIR "/../model_golden"

static sn_shape shape_of(int ndim, const int64_t *dims) {
    sn_shape s;
    if (sn_shape_make(&s, ndim, dims) != SN_OK) fail_msg("bad test shape");
    return s;
}

static sn_model *compiled_model(const sn_module *mods, int count, int64_t batch, sn_shape sample) {
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, mods, count));
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = batch;
    o.sample_shape = sample;
    SN_ASSERT_OK(sn_model_compile(m, &o));
    return m;
}

static void *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) fail_msg("cannot read %s", path);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) fail_msg("cannot write %s", path);
    fclose(f);
}

/* ---- round trip ---- */

/* Conv2d(2, 3, (3, 2), stride (2, 1), padding (1, 0)), ReLU, AvgPool2d(2),
 * Flatten, Dropout(0.25), Linear(12, 4) on (2, 7, 5). */
static int small_cnn(sn_module *mods) {
    mods[0] = sn_module_conv2d(2, 3, 3, 2, 2, 1, 1, 0, 1);
    mods[1] = sn_module_plain(SN_MOD_RELU);
    mods[2] = sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 0);
    mods[3] = sn_module_plain(SN_MOD_FLATTEN);
    mods[4] = sn_module_dropout(0.25f);
    mods[5] = sn_module_linear(12, 4, 1);
    return 6;
}

static void test_save_load_round_trip(void **state) {
    (void)state;
    sn_module mods[8];
    const int count = small_cnn(mods);
    const sn_shape sample = shape_of(3, (int64_t[]){2, 7, 5});
    sn_model *m = compiled_model(mods, count, 1, sample);
    SN_ASSERT_OK(sn_model_init(m, 11, SN_INIT_TORCH_DEFAULT));
    enum { N = 6, IN = 70, OUT = 4 };
    float x[N * IN], want[N * OUT], got[N * OUT];
    sn_rng r;
    sn_rng_seed(&r, 5, 9);
    for (int i = 0; i < N * IN; i++) x[i] = 2.0f * sn_rng_uniform(&r) - 1.0f;
    SN_ASSERT_OK(sn_model_forward(m, x, N, want));
    const char *first = sn_temp_path("first.safetensors"),
               *second = sn_temp_path("second.safetensors");
    SN_ASSERT_OK(sn_model_save(m, first));

    sn_model *loaded = NULL;
    SN_ASSERT_OK(sn_model_load(&loaded, first));
    assert_non_null(sn_model_graph(loaded)); /* compiled at batch 1, loaded */
    assert_int_equal(sn_graph_batch(sn_model_graph(loaded)), 1);
    assert_true(sn_shape_equal(sn_model_sample_shape(loaded), &sample));
    assert_int_equal(sn_model_module_count(loaded), count);
    SN_ASSERT_OK(sn_model_forward(loaded, x, N, got));
    assert_memory_equal(got, want, sizeof want);

    SN_ASSERT_OK(sn_model_save(loaded, second));
    size_t len1, len2;
    void *bytes1 = read_all(first, &len1), *bytes2 = read_all(second, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(bytes1, bytes2, len1);
    free(bytes1);
    free(bytes2);

    /* What the file holds: torch's names in creation order, and the metadata. */
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, first));
    const char *names[] = {"0.weight", "0.bias", "5.weight", "5.bias"};
    assert_int_equal(sn_safetensors_count(f), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(sn_safetensors_name(f, i), names[i]);
        assert_string_equal(sn_safetensors_dtype(f, i), "F32");
    }
    assert_int_equal(sn_safetensors_ndim(f, 0), 4);
    assert_int_equal(sn_safetensors_dims(f, 0)[3], 2);
    assert_string_equal(sn_safetensors_metadata(f, "format"), "sinapsi-model");
    assert_string_equal(sn_safetensors_metadata(f, "input_shape"), "2x7x5");
    assert_string_equal(sn_safetensors_metadata(f, "sinapsi_version"), sn_version());
    char *spec;
    SN_ASSERT_OK(sn_spec_format(mods, count, &spec));
    assert_string_equal(sn_safetensors_metadata(f, "spec"), spec);
    free(spec);
    sn_safetensors_close(f);
    sn_model_destroy(loaded);
    sn_model_destroy(m);
}

/* A model trained in PyTorch (its state_dict) saved by sinapsi runs the same. */
static void test_pytorch_weights_become_a_model_file(void **state) {
    (void)state;
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_from_spec_file(&m, MODEL_GOLDEN_DIR "/lenet5.spec.txt"));
    assert_null(sn_model_graph(m));
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.sample_shape = shape_of(3, (int64_t[]){1, 28, 28});
    SN_ASSERT_OK(sn_model_compile(m, &o));
    SN_ASSERT_OK(sn_model_load_weights(m, MODEL_GOLDEN_DIR "/lenet5.weights.safetensors"));
    const char *path = sn_temp_path("lenet5.safetensors");
    SN_ASSERT_OK(sn_model_save(m, path));
    sn_model_destroy(m);

    SN_ASSERT_OK(sn_model_load(&m, path));
    sn_safetensors *io;
    SN_ASSERT_OK(sn_safetensors_open(&io, MODEL_GOLDEN_DIR "/lenet5.io.safetensors"));
    sn_tensor *x, *y;
    SN_ASSERT_OK(sn_safetensors_read(io, "x", &x));
    SN_ASSERT_OK(sn_safetensors_read(io, "y", &y));
    sn_safetensors_close(io);
    float got[64];
    assert_true(sn_tensor_numel(y) <= 64);
    SN_ASSERT_OK(sn_model_forward(m, x->data, x->shape.dim[0], got));
    double max_diff = 0;
    for (int64_t i = 0; i < sn_tensor_numel(y); i++) {
        const double d = fabs((double)got[i] - y->data[i]);
        assert_true(d <= 1e-5 + 1e-4 * fabs((double)y->data[i]));
        if (d > max_diff) max_diff = d;
    }
    printf("lenet5 from PyTorch through a model file: largest difference %.3g\n", max_diff);
    sn_tensor_destroy(x);
    sn_tensor_destroy(y);
    sn_model_destroy(m);
}

/* ---- strict loading ---- */

/* Linear(3, 4), ReLU, Linear(4, 2): 0.weight (4, 3), 0.bias (4), 2.weight (2, 4),
 * 2.bias (2). */
static sn_model *mlp(void) {
    const sn_module mods[] = {sn_module_linear(3, 4, 1), sn_module_plain(SN_MOD_RELU),
                              sn_module_linear(4, 2, 1)};
    sn_model *m = compiled_model(mods, 3, 2, shape_of(1, (int64_t[]){3}));
    SN_ASSERT_OK(sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT));
    return m;
}

enum { MLP_PARAMS = 12 + 4 + 8 + 2 };

/* Writes a file holding the tensors named (with the shapes given) filled with
 * 0.5, in order. */
typedef struct file_tensor {
    const char *name;
    int ndim;
    int64_t dims[4];
} file_tensor;

static void write_tensors(const char *path, const file_tensor *t, int n) {
    const char *names[8] = {NULL};
    sn_tensor *tensors[8] = {NULL};
    assert_true(n <= 8);
    for (int i = 0; i < n; i++) {
        names[i] = t[i].name;
        SN_ASSERT_OK(sn_tensor_create(&tensors[i], t[i].ndim, t[i].dims));
        for (int64_t k = 0; k < sn_tensor_numel(tensors[i]); k++) tensors[i]->data[k] = 0.5f;
    }
    SN_ASSERT_OK(
        sn_safetensors_write(path, n, names, (const sn_tensor *const *)tensors, 0, NULL, NULL));
    for (int i = 0; i < n; i++) sn_tensor_destroy(tensors[i]);
}

typedef struct strict_case {
    const char *what;
    file_tensor tensors[8];
    int count;
    sn_status status; /* SN_OK: must load */
    const char *message[3];
} strict_case;

static void test_load_weights_is_strict(void **state) {
    (void)state;
    const file_tensor w0 = {"0.weight", 2, {4, 3}}, b0 = {"0.bias", 1, {4}},
                      w2 = {"2.weight", 2, {2, 4}}, b2 = {"2.bias", 1, {2}};
    const strict_case cases[] = {
        {"exact", {w0, b0, w2, b2}, 4, SN_OK},
        {"other names are not parameters",
         {{"epoch", 1, {1}}, w0, b0, w2, b2, {"optimizer.0.weight.m", 2, {4, 3}}},
         6,
         SN_OK},
        {"missing", {w0, b0, w2}, 3, SN_ERR_FORMAT, {"'2.bias'", "missing", "[2]"}},
        {"extra of a module without parameters",
         {w0, b0, {"1.weight", 1, {4}}, w2, b2},
         5,
         SN_ERR_FORMAT,
         {"'1.weight'", "not a parameter", "ReLU"}},
        {"extra beyond the model",
         {w0, b0, w2, b2, {"7.running_mean", 1, {2}}},
         5,
         SN_ERR_FORMAT,
         {"'7.running_mean'", "3 modules"}},
        {"wrong shape",
         {{"0.weight", 2, {4, 4}}, b0, w2, b2},
         4,
         SN_ERR_SHAPE,
         {"'0.weight'", "[4, 4]", "[4, 3]"}},
        {"transposed", {w0, b0, {"2.weight", 2, {4, 2}}, b2}, 4, SN_ERR_SHAPE, {"'2.weight'"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sn_model *m = mlp();
        size_t n;
        float *params = sn_graph_params(sn_model_graph(m), &n);
        assert_int_equal(n, MLP_PARAMS);
        float before[MLP_PARAMS];
        memcpy(before, params, sizeof before);
        const char *path = sn_temp_path("strict.safetensors");
        write_tensors(path, cases[c].tensors, cases[c].count);
        const sn_status st = sn_model_load_weights(m, path);
        if (st != cases[c].status)
            fail_msg("%s: %s, expected %s: %s", cases[c].what, sn_status_string(st),
                     sn_status_string(cases[c].status), sn_last_error());
        if (st == SN_OK) {
            for (size_t i = 0; i < n; i++) assert_true(params[i] == 0.5f);
        } else {
            printf("%-38s %s\n", cases[c].what, sn_last_error());
            for (int k = 0; k < 3 && cases[c].message[k]; k++)
                if (!strstr(sn_last_error(), cases[c].message[k]))
                    fail_msg("%s: '%s' lacks '%s'", cases[c].what, sn_last_error(),
                             cases[c].message[k]);
            assert_memory_equal(params, before, sizeof before); /* nothing changed */
        }
        sn_model_destroy(m);
    }
}

/* ---- BatchNorm's buffers ---- */

/* Conv2d(1, 2, 3), BatchNorm2d(2), ReLU, Flatten, Linear(32, 5),
 * BatchNorm1d(5, affine=False, momentum=None) on (1, 6, 6). */
static sn_model *batchnorm_model(int64_t batch) {
    sn_module mods[6] = {sn_module_conv2d(1, 2, 3, 3, 1, 1, 0, 0, 1),
                         sn_module_batchnorm(SN_MOD_BATCHNORM2D, 2),
                         sn_module_plain(SN_MOD_RELU),
                         sn_module_plain(SN_MOD_FLATTEN),
                         sn_module_linear(32, 5, 1),
                         sn_module_batchnorm(SN_MOD_BATCHNORM1D, 5)};
    mods[5].affine = 0;
    mods[5].momentum = SN_BATCH_NORM_CUMULATIVE;
    sn_model *m = compiled_model(mods, 6, batch, shape_of(3, (int64_t[]){1, 6, 6}));
    SN_ASSERT_OK(sn_model_init(m, 3, SN_INIT_KAIMING_UNIFORM));
    return m;
}

/* Two training-mode forwards of random batches: running statistics move. */
static void train_forward_twice(sn_model *m, int64_t batch) {
    sn_graph *g = sn_model_graph(m);
    float *x = sn_graph_value(g, sn_model_input_node(m));
    sn_rng r;
    sn_rng_seed(&r, 8, 1);
    sn_graph_set_training(g, 1);
    for (int step = 0; step < 2; step++) {
        for (int64_t i = 0; i < batch * 36; i++) x[i] = 3.0f * sn_rng_uniform(&r) - 1.0f;
        SN_ASSERT_OK(sn_graph_forward(g));
    }
}

static void test_batchnorm_buffers_saved_and_loaded(void **state) {
    (void)state;
    sn_model *m = batchnorm_model(4);
    sn_graph *g = sn_model_graph(m);
    /* torch's initial values: weight 1, bias 0, running_mean 0, running_var 1, count 0 */
    size_t n_buffers;
    const float *buffers = sn_graph_buffers(g, &n_buffers);
    assert_int_equal(sn_graph_buffer_count(g), 6);
    assert_int_equal(n_buffers, 2 + 2 + 1 + 5 + 5 + 1);
    const float initial[16] = {0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0};
    assert_memory_equal(buffers, initial, sizeof initial);
    const float *bn_weight = sn_graph_value(g, sn_graph_param_node(g, 2));
    assert_string_equal(sn_graph_node_name(g, sn_graph_param_node(g, 2)), "1.weight");
    assert_true(bn_weight[0] == 1.0f && bn_weight[1] == 1.0f);
    assert_int_equal(sn_graph_param_count(g), 6); /* conv, BatchNorm2d, linear: 2 each */

    train_forward_twice(m, 4);
    assert_true(buffers[0] != 0.0f && buffers[2] != 1.0f);
    assert_true(buffers[4] == 2.0f && buffers[15] == 2.0f); /* the two counts */
    float saved[16];
    memcpy(saved, buffers, sizeof saved);

    enum { N = 3 };
    float x[N * 36], want[N * 5], got[N * 5];
    for (int i = 0; i < N * 36; i++) x[i] = (float)(i % 7) * 0.25f - 0.5f;
    SN_ASSERT_OK(sn_model_forward(m, x, N, want));
    assert_memory_equal(buffers, saved, sizeof saved); /* evaluation writes nothing */

    /* Recompiling keeps the buffers. */
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = 2;
    o.sample_shape = shape_of(3, (int64_t[]){1, 6, 6});
    SN_ASSERT_OK(sn_model_compile(m, &o));
    assert_memory_equal(sn_graph_buffers(sn_model_graph(m), NULL), saved, sizeof saved);

    /* The file holds torch's state_dict names in its order; the count is a scalar. */
    const char *path = sn_temp_path("bn.safetensors");
    SN_ASSERT_OK(sn_model_save(m, path));
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    const char *names[] = {"0.weight",
                           "0.bias",
                           "1.weight",
                           "1.bias",
                           "1.running_mean",
                           "1.running_var",
                           "1.num_batches_tracked",
                           "4.weight",
                           "4.bias",
                           "5.running_mean",
                           "5.running_var",
                           "5.num_batches_tracked"};
    assert_int_equal(sn_safetensors_count(f), 12);
    for (int i = 0; i < 12; i++) assert_string_equal(sn_safetensors_name(f, i), names[i]);
    assert_int_equal(sn_safetensors_ndim(f, 6), 0);
    assert_string_equal(sn_safetensors_metadata(f, "spec") +
                            strlen(sn_safetensors_metadata(f, "spec")) -
                            strlen("BatchNorm1d(5, eps=1e-05, momentum=None, affine=False, "
                                   "track_running_stats=True)\n"),
                        "BatchNorm1d(5, eps=1e-05, momentum=None, affine=False, "
                        "track_running_stats=True)\n");
    sn_safetensors_close(f);

    sn_model *loaded = NULL;
    SN_ASSERT_OK(sn_model_load(&loaded, path));
    assert_memory_equal(sn_graph_buffers(sn_model_graph(loaded), NULL), saved, sizeof saved);
    SN_ASSERT_OK(sn_model_forward(loaded, x, N, got));
    assert_memory_equal(got, want, sizeof want);
    sn_model_destroy(loaded);
    sn_model_destroy(m);
}

static void test_batchnorm_buffers_load_strictly(void **state) {
    (void)state;
    const file_tensor w0 = {"0.weight", 4, {2, 1, 3, 3}}, b0 = {"0.bias", 1, {2}},
                      w1 = {"1.weight", 1, {2}}, b1 = {"1.bias", 1, {2}},
                      mean1 = {"1.running_mean", 1, {2}}, var1 = {"1.running_var", 1, {2}},
                      count1 = {"1.num_batches_tracked", 0, {0}};
    /* Only the first two modules: a model of Conv2d and BatchNorm2d. */
    const sn_module mods[2] = {sn_module_conv2d(1, 2, 3, 3, 1, 1, 0, 0, 1),
                               sn_module_batchnorm(SN_MOD_BATCHNORM2D, 2)};
    const strict_case cases[] = {
        {"missing num_batches_tracked",
         {w0, b0, w1, b1, mean1, var1},
         6,
         SN_ERR_FORMAT,
         {"'1.num_batches_tracked'", "missing"}},
        {"missing running_var",
         {w0, b0, w1, b1, mean1, count1},
         6,
         SN_ERR_FORMAT,
         {"'1.running_var'", "missing", "[2]"}},
        {"count as a vector",
         {w0, b0, w1, b1, mean1, var1, {"1.num_batches_tracked", 1, {1}}},
         7,
         SN_ERR_SHAPE,
         {"'1.num_batches_tracked'", "[1]"}},
        {"running_mean of the conv",
         {w0, b0, {"0.running_mean", 1, {2}}, w1, b1, mean1, var1, count1},
         8,
         SN_ERR_FORMAT,
         {"'0.running_mean'", "not a parameter", "Conv2d"}},
        {"wrong running_mean shape",
         {w0, b0, w1, b1, {"1.running_mean", 1, {3}}, var1, count1},
         7,
         SN_ERR_SHAPE,
         {"'1.running_mean'", "[3]"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sn_model *m = compiled_model(mods, 2, 2, shape_of(3, (int64_t[]){1, 5, 5}));
        SN_ASSERT_OK(sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT));
        float before[5];
        memcpy(before, sn_graph_buffers(sn_model_graph(m), NULL), sizeof before);
        const char *path = sn_temp_path("strict_bn.safetensors");
        write_tensors(path, cases[c].tensors, cases[c].count);
        const sn_status st = sn_model_load_weights(m, path);
        if (st != cases[c].status)
            fail_msg("%s: %s, expected %s: %s", cases[c].what, sn_status_string(st),
                     sn_status_string(cases[c].status), sn_last_error());
        printf("%-38s %s\n", cases[c].what, sn_last_error());
        for (int k = 0; k < 3 && cases[c].message[k]; k++)
            if (!strstr(sn_last_error(), cases[c].message[k]))
                fail_msg("%s: '%s' lacks '%s'", cases[c].what, sn_last_error(),
                         cases[c].message[k]);
        assert_memory_equal(sn_graph_buffers(sn_model_graph(m), NULL), before, sizeof before);
        sn_model_destroy(m);
    }

    /* All seven present: loads, the count (a 0-d tensor) included. */
    sn_model *m = compiled_model(mods, 2, 2, shape_of(3, (int64_t[]){1, 5, 5}));
    const file_tensor all[] = {w0, b0, w1, b1, mean1, var1, count1};
    const char *path = sn_temp_path("strict_bn.safetensors");
    write_tensors(path, all, 7);
    SN_ASSERT_OK(sn_model_load_weights(m, path));
    const float *buffers = sn_graph_buffers(sn_model_graph(m), NULL);
    for (int i = 0; i < 5; i++) assert_true(buffers[i] == 0.5f);
    sn_model_destroy(m);
}

/* torch stores num_batches_tracked as I64; it loads exactly. */
static void test_batchnorm_count_from_torch_is_i64(void **state) {
    (void)state;
    const char *weights = MODEL_GOLDEN_DIR "/lenet5_bn.weights.safetensors";
    sn_safetensors *f;
    SN_ASSERT_OK(sn_safetensors_open(&f, weights));
    const int i = sn_safetensors_find(f, "1.num_batches_tracked");
    assert_true(i >= 0);
    assert_string_equal(sn_safetensors_dtype(f, i), "I64");
    assert_int_equal(sn_safetensors_ndim(f, i), 0);
    sn_safetensors_close(f);
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_from_spec_file(&m, MODEL_GOLDEN_DIR "/lenet5_bn.spec.txt"));
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.sample_shape = shape_of(3, (int64_t[]){1, 28, 28});
    SN_ASSERT_OK(sn_model_compile(m, &o));
    SN_ASSERT_OK(sn_model_load_weights(m, weights));
    sn_graph *g = sn_model_graph(m);
    int counts = 0;
    for (int b = 0; b < sn_graph_buffer_count(g); b++) {
        const int node = sn_graph_buffer_node(g, b);
        if (!strstr(sn_graph_node_name(g, node), "num_batches_tracked")) continue;
        assert_true(sn_graph_value(g, node)[0] == 3.0f); /* gen.py's three warm-up steps */
        counts++;
    }
    assert_int_equal(counts, 4);
    sn_model_destroy(m);
}

/* ---- dtypes, through a hand-written file (the writer writes F32 only) ---- */

typedef struct raw_tensor {
    const char *name, *dtype, *shape; /* shape as JSON: "[4, 3]" */
    const void *data;
    size_t bytes;
} raw_tensor;

static void write_raw(const char *path, const raw_tensor *t, int n) {
    char header[2048];
    size_t used = (size_t)snprintf(header, sizeof header, "{");
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        used += (size_t)snprintf(
            header + used, sizeof header - used,
            "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}", i ? "," : "",
            t[i].name, t[i].dtype, t[i].shape, offset, offset + t[i].bytes);
        offset += t[i].bytes;
    }
    used += (size_t)snprintf(header + used, sizeof header - used, "}");
    while (used % 8) header[used++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    const uint64_t len = used;
    fwrite(&len, 8, 1, f); /* little-endian host (sinapsi requires one) */
    fwrite(header, 1, used, f);
    for (int i = 0; i < n; i++) fwrite(t[i].data, 1, t[i].bytes, f);
    fclose(f);
}

static void test_weights_in_other_dtypes(void **state) {
    (void)state;
    const double w0[12] = {0.5, -1.25, 3.0, 0.125, 2.0, -0.75, 1e-3, -4.5, 0.25, 1.5, -2.0, 8.0};
    const uint16_t b0_f16[4] = {0x3800, 0xBD00, 0x4200, 0x3000};  /* 0.5 -1.25 3 0.125 */
    const uint16_t w2_bf16[8] = {0x4000, 0xBF40, 0x3F00, 0xBFA0,  /* 2 -0.75 0.5 -1.25 */
                                 0x4040, 0x3E00, 0x0000, 0x8000}; /* 3 0.125 0 -0 */
    const float b2[2] = {-0.5f, 7.0f};
    const float want[MLP_PARAMS] = {0.5f,   -1.25f, 3.0f,  0.125f, 2.0f, -0.75f, (float)1e-3,
                                    -4.5f,  0.25f,  1.5f,  -2.0f,  8.0f, 0.5f,   -1.25f,
                                    3.0f,   0.125f, 2.0f,  -0.75f, 0.5f, -1.25f, 3.0f,
                                    0.125f, 0.0f,   -0.0f, -0.5f,  7.0f};
    const raw_tensor mixed[] = {{"0.weight", "F64", "[4,3]", w0, sizeof w0},
                                {"0.bias", "F16", "[4]", b0_f16, sizeof b0_f16},
                                {"2.weight", "BF16", "[2,4]", w2_bf16, sizeof w2_bf16},
                                {"2.bias", "F32", "[2]", b2, sizeof b2}};
    const char *path = sn_temp_path("dtypes.safetensors");
    write_raw(path, mixed, 4);
    sn_model *m = mlp();
    SN_ASSERT_OK(sn_model_load_weights(m, path));
    float *params = sn_graph_params(sn_model_graph(m), NULL);
    assert_memory_equal(params, want, sizeof want);

    /* A value that float32 cannot hold, found while converting the last tensor:
     * the three tensors before it must not have been copied. */
    const int64_t not_exact[2] = {16777217, 1}; /* 2^24 + 1 */
    float w0_f32[12], b0_f32[4], w2_f32[8];
    for (int i = 0; i < 12; i++) w0_f32[i] = 9.0f;
    for (int i = 0; i < 4; i++) b0_f32[i] = 9.0f;
    for (int i = 0; i < 8; i++) w2_f32[i] = 9.0f;
    const raw_tensor bad[] = {{"0.weight", "F32", "[4,3]", w0_f32, sizeof w0_f32},
                              {"0.bias", "F32", "[4]", b0_f32, sizeof b0_f32},
                              {"2.weight", "F32", "[2,4]", w2_f32, sizeof w2_f32},
                              {"2.bias", "I64", "[2]", not_exact, sizeof not_exact}};
    write_raw(path, bad, 4);
    assert_int_equal(sn_model_load_weights(m, path), SN_ERR_RANGE);
    printf("unrepresentable: %s\n", sn_last_error());
    assert_memory_equal(params, want, sizeof want);
    sn_model_destroy(m);
}

/* ---- what sn_model_load makes of a file ---- */

/* The header length is a little-endian u64: 8 bytes of it, then filler. */
static const char *file_with_header_len(const char *name, uint64_t header_len) {
    unsigned char bytes[16];
    memset(bytes + 8, '.', 8);
    for (int i = 0; i < 8; i++) bytes[i] = (unsigned char)(header_len >> (8 * i));
    const char *path = sn_temp_path(name);
    write_all(path, bytes, sizeof bytes);
    return path;
}

static int is_safetensors(const char *path) {
    int answer = -1;
    SN_ASSERT_OK(sn_model_file_is_safetensors(path, &answer));
    return answer;
}

static void test_file_is_safetensors(void **state) {
    (void)state;
    assert_int_equal(is_safetensors(MODEL_GOLDEN_DIR "/mlp.weights.safetensors"), 1);
    assert_int_equal(is_safetensors(MODEL_GOLDEN_DIR "/mlp.spec.txt"), 0);
    /* The header length bound, on both sides, in files without the suffix. */
    assert_int_equal(is_safetensors(file_with_header_len("at_max", SN_SAFETENSORS_MAX_HEADER)), 1);
    assert_int_equal(
        is_safetensors(file_with_header_len("past_max", SN_SAFETENSORS_MAX_HEADER + 1ull)), 0);
    /* Fewer than 8 bytes: a spec, unless the name says safetensors. */
    write_all(sn_temp_path("short"), "\0\0\0\0", 4);
    assert_int_equal(is_safetensors(sn_temp_path("short")), 0);
    write_all(sn_temp_path("short.safetensors"), "ReLU()", 6);
    assert_int_equal(is_safetensors(sn_temp_path("short.safetensors")), 1);

    int answer = -1;
    assert_int_equal(sn_model_file_is_safetensors(sn_temp_path("does-not-exist"), &answer),
                     SN_ERR_IO);
    assert_non_null(strstr(sn_last_error(), "does-not-exist"));
    assert_int_equal(sn_model_file_is_safetensors(NULL, &answer), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_model_file_is_safetensors(MODEL_GOLDEN_DIR "/mlp.spec.txt", NULL),
                     SN_ERR_INVALID_ARG);
}

static void test_load_tells_files_apart(void **state) {
    (void)state;
    sn_model *m = (sn_model *)&m; /* must be reset to NULL on failure */

    /* A PyTorch state_dict: weights without a spec. */
    const char *state_dict = MODEL_GOLDEN_DIR "/mlp.weights.safetensors";
    assert_int_equal(sn_model_load(&m, state_dict), SN_ERR_FORMAT);
    assert_null(m);
    assert_non_null(strstr(sn_last_error(), "--weights"));
    assert_non_null(strstr(sn_last_error(), "mlp.weights.safetensors"));

    /* A spec file: modules, not compiled. */
    SN_ASSERT_OK(sn_model_load(&m, MODEL_GOLDEN_DIR "/mlp.spec.txt"));
    assert_int_equal(sn_model_module_count(m), 15);
    assert_null(sn_model_graph(m));
    assert_int_equal(sn_model_save(m, sn_temp_path("uncompiled.safetensors")), SN_ERR_STATE);
    assert_int_equal(sn_model_load_weights(m, state_dict), SN_ERR_STATE);
    sn_model_destroy(m);

    /* A broken safetensors file is reported as one, not parsed as a spec. */
    const char *broken = sn_temp_path("broken.safetensors");
    write_all(broken, "\x10\0\0\0\0\0\0\0{\"a\":1}", 15);
    assert_int_equal(sn_model_load(&m, broken), SN_ERR_FORMAT);
    assert_non_null(strstr(sn_last_error(), "broken.safetensors"));
    /* Named .safetensors, its first 8 bytes text: still not read as a spec. */
    const char *text_named_safetensors = sn_temp_path("text.safetensors");
    write_all(text_named_safetensors, "ReLU()\nReLU()\n", 14);
    assert_int_equal(sn_model_load(&m, text_named_safetensors), SN_ERR_FORMAT);
    assert_non_null(strstr(sn_last_error(), "text.safetensors"));
    assert_int_equal(sn_model_load(&m, sn_temp_path("does-not-exist")), SN_ERR_IO);

    /* Metadata that cannot make a model. */
    const float w[2] = {1, 2};
    sn_tensor view = {.shape = shape_of(2, (int64_t[]){1, 2}), .data = (float *)w};
    const sn_tensor *views[] = {&view};
    const char *names[] = {"0.weight"};
    const char *keys[] = {"format", "spec", "input_shape"};
    const struct {
        const char *spec, *input_shape, *message;
    } bad[] = {
        {"Linear(2, 1, bias=False)", "2x", "input_shape '2x'"},
        {"Linear(2, 1, bias=False)", "0", "input_shape '0'"},
        {"Linear(3, 1, bias=False)", "2", "does not compile"},
        {"Linear(2, 1)", "2", "'0.bias' is missing"},
    };
    const char *path = sn_temp_path("meta.safetensors");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *values[] = {"sinapsi-model", bad[i].spec, bad[i].input_shape};
        SN_ASSERT_OK(sn_safetensors_write(path, 1, names, views, 3, keys, values));
        assert_int_not_equal(sn_model_load(&m, path), SN_OK);
        assert_null(m);
        printf("%s\n", sn_last_error());
        if (!strstr(sn_last_error(), bad[i].message))
            fail_msg("'%s' lacks '%s'", sn_last_error(), bad[i].message);
    }
    /* ...and the same file with good metadata loads. */
    const char *values[] = {"sinapsi-model", "Linear(2, 1, bias=False)", "2"};
    SN_ASSERT_OK(sn_safetensors_write(path, 1, names, views, 3, keys, values));
    SN_ASSERT_OK(sn_model_load(&m, path));
    float y;
    SN_ASSERT_OK(sn_model_forward(m, (float[]){3, 4}, 1, &y));
    assert_true(y == 1 * 3 + 2 * 4);
    sn_model_destroy(m);

    /* Saving where no file can be written fails and says where. */
    SN_ASSERT_OK(sn_model_load(&m, path));
    assert_int_equal(sn_model_save(m, "/nonexistent-dir/m.safetensors"), SN_ERR_IO);
    sn_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_round_trip),
        cmocka_unit_test(test_pytorch_weights_become_a_model_file),
        cmocka_unit_test(test_load_weights_is_strict),
        cmocka_unit_test(test_weights_in_other_dtypes),
        cmocka_unit_test(test_batchnorm_buffers_saved_and_loaded),
        cmocka_unit_test(test_batchnorm_buffers_load_strictly),
        cmocka_unit_test(test_batchnorm_count_from_torch_is_i64),
        cmocka_unit_test(test_file_is_safetensors),
        cmocka_unit_test(test_load_tells_files_apart),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

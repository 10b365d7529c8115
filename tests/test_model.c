/*
 * Models (include/sinapsi/model.h): compile errors in the user's terms (spec
 * line and module), the forward of a model against a graph built by hand and
 * against PyTorch (tests/model_golden/: spec from print(model), state_dict,
 * input and output; see gen.py there), chunked forward at any n, recompiling,
 * initialisation schemes (bounds, variances, the seeded stream), and
 * per-layer information (shapes, parameters, FLOPs).
 */
#include "support/test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_GOLDEN_DIR SN_GOLDEN_DIR "/../model_golden"
#define GOLDEN_RTOL 1e-4
#define GOLDEN_ATOL 1e-5

static void fill_uniform(float *v, int64_t n, uint64_t seed) {
    sn_rng r;
    sn_rng_seed(&r, seed, 21);
    for (int64_t i = 0; i < n; i++) v[i] = 2.0f * sn_rng_uniform(&r) - 1.0f;
}

static sn_shape shape_of(int ndim, const int64_t *dims) {
    sn_shape s;
    if (sn_shape_make(&s, ndim, dims) != SN_OK) fail_msg("bad test shape");
    return s;
}

static sn_model *model_of(const sn_module *modules, int count) {
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, count));
    return m;
}

static sn_status compile_at(sn_model *m, int64_t batch, sn_shape sample, sn_loss_kind loss) {
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = batch;
    o.sample_shape = sample;
    o.loss = loss;
    return sn_model_compile(m, &o);
}

/* Largest |got - want| and whether every element is within atol + rtol·|want|. */
static int all_close(const float *got, const float *want, int64_t n, double rtol, double atol,
                     double *max_diff) {
    int ok = 1;
    *max_diff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= atol + rtol * fabs((double)want[i]))) ok = 0; /* NaN fails */
        if (d > *max_diff || d != d) *max_diff = d;
    }
    return ok;
}

/* ---- names and defaults ---- */

static void test_loss_names_round_trip(void **state) {
    (void)state;
    const char *names[] = {"none", "cross_entropy", "nll", "bce", "bce_with_logits", "mse"};
    for (int i = 0; i < 6; i++) {
        sn_loss_kind k;
        SN_ASSERT_OK(sn_loss_parse(names[i], &k));
        assert_int_equal(k, i);
        assert_string_equal(sn_loss_name(k), names[i]);
    }
    sn_loss_kind k = SN_LOSS_MSE;
    assert_int_equal(sn_loss_parse("crossentropy", &k), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "crossentropy"));
    assert_int_equal(k, SN_LOSS_MSE);

    sn_model_compile_opts o = sn_model_compile_defaults();
    assert_int_equal(o.batch, 1);
    assert_int_equal(o.loss, SN_LOSS_NONE);
    assert_int_equal(o.reduction, SN_REDUCTION_MEAN);
}

/* ---- the forward against a graph built by hand ---- */

/* Conv2d(2, 3, (3, 2), stride (2, 1), padding (1, 0)), ReLU, MaxPool2d((2, 2)),
 * Identity, Flatten, Linear(3·3·2, 4), Tanh on (2, 7, 5) examples. */
static const int64_t small_cnn_sample[] = {2, 7, 5};
static int small_cnn(sn_module *mods) {
    mods[0] = sn_module_conv2d(2, 3, 3, 2, 2, 1, 1, 0, 1);
    mods[1] = sn_module_plain(SN_MOD_RELU);
    mods[2] = sn_module_maxpool2d(2, 2, 2, 2, 0, 0);
    mods[3] = sn_module_plain(SN_MOD_IDENTITY);
    mods[4] = sn_module_plain(SN_MOD_FLATTEN);
    mods[5] = sn_module_linear(3 * 2 * 2, 4, 1);
    mods[6] = sn_module_plain(SN_MOD_TANH);
    return 7;
}

/* The same network through the graph builders, at batch n. */
static sn_graph *small_cnn_by_hand(int64_t n, int *x, int *y) {
    sn_graph *g = sn_graph_create(0);
    *x = sn_input(g, "x", 4, (int64_t[]){n, 2, 7, 5});
    int w0 = sn_param(g, "0.weight", 4, (int64_t[]){3, 2, 3, 2});
    int b0 = sn_param(g, "0.bias", 1, (int64_t[]){3});
    int w5 = sn_param(g, "5.weight", 2, (int64_t[]){4, 12});
    int b5 = sn_param(g, "5.bias", 1, (int64_t[]){4});
    int h = sn_maxpool2d(g, sn_relu(g, sn_conv2d(g, *x, w0, b0, 2, 1, 1, 0)), 2, 2, 2, 2, 0, 0);
    *y = sn_tanh(g, sn_linear(g, sn_flatten(g, h), w5, b5));
    SN_ASSERT_OK(sn_graph_compile(g));
    sn_graph_set_training(g, 0);
    return g;
}

static void test_forward_matches_hand_built_graph(void **state) {
    (void)state;
    sn_module mods[8];
    sn_model *m = model_of(mods, small_cnn(mods));
    SN_ASSERT_OK(compile_at(m, 4, shape_of(3, small_cnn_sample), SN_LOSS_NONE));
    SN_ASSERT_OK(sn_model_init(m, 3, SN_INIT_TORCH_DEFAULT));
    sn_graph *mg = sn_model_graph(m);
    assert_int_equal(sn_graph_param_count(mg), 4);
    const char *names[] = {"0.weight", "0.bias", "5.weight", "5.bias"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(sn_graph_node_name(mg, sn_graph_param_node(mg, i)), names[i]);
    /* Identity adds no node: its output is the pool's. */
    assert_int_equal(sn_model_module_node(m, 3), sn_model_module_node(m, 2));
    assert_int_equal(sn_model_output_node(m), sn_model_module_node(m, 6));
    assert_int_equal(sn_model_target_node(m), SN_NONE);
    assert_int_equal(sn_model_loss_node(m), SN_NONE);

    /* 11 examples at batch 4: chunks of 4, 4 and 3. */
    enum { N = 11, IN = 2 * 7 * 5, OUT = 4 };
    float x[N * IN], y[N * OUT], want[N * OUT];
    fill_uniform(x, N * IN, 5);
    int hx, hy;
    sn_graph *g = small_cnn_by_hand(N, &hx, &hy);
    size_t n_model, n_hand;
    float *model_params = sn_graph_params(mg, &n_model);
    float *hand_params = sn_graph_params(g, &n_hand);
    assert_int_equal(n_model, n_hand);
    memcpy(hand_params, model_params, n_hand * sizeof(float));
    memcpy(sn_graph_value(g, hx), x, sizeof x);
    SN_ASSERT_OK(sn_graph_forward(g));
    memcpy(want, sn_graph_value(g, hy), sizeof want);

    SN_ASSERT_OK(sn_model_forward(m, x, N, y));
    double diff;
    assert_true(all_close(y, want, N * OUT, 1e-6, 1e-7, &diff));
    printf("hand-built graph: largest difference %.3g over %d outputs\n", diff, N * OUT);
    /* The outputs are not trivially equal: tanh of something that varies. */
    assert_true(fabsf(want[0] - want[OUT]) > 1e-4f);
    /* The graph is back at the batch it was compiled with. */
    assert_int_equal(sn_graph_batch(mg), 4);

    /* n = 1 and n = 0 work too, and give the same rows. */
    float one[OUT];
    SN_ASSERT_OK(sn_model_forward(m, x + 5 * IN, 1, one));
    assert_true(all_close(one, want + 5 * OUT, OUT, 1e-6, 1e-7, &diff));
    SN_ASSERT_OK(sn_model_forward(m, x, 0, y));
    assert_int_equal(sn_model_forward(m, x, -1, y), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_model_forward(m, NULL, 1, y), SN_ERR_INVALID_ARG);
    sn_graph_destroy(g);
    sn_model_destroy(m);
}

static void test_dropout_is_off_in_forward(void **state) {
    (void)state;
    sn_module mods[] = {sn_module_linear(6, 6, 1), sn_module_dropout(0.5f)};
    sn_model *m = model_of(mods, 2);
    SN_ASSERT_OK(compile_at(m, 8, shape_of(1, (int64_t[]){6}), SN_LOSS_NONE));
    SN_ASSERT_OK(sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT));
    float x[8 * 6], y1[8 * 6], y2[8 * 6];
    fill_uniform(x, 8 * 6, 2);
    /* Even after the graph ran in training mode, forward is deterministic. */
    sn_graph_set_training(sn_model_graph(m), 1);
    SN_ASSERT_OK(sn_model_forward(m, x, 8, y1));
    SN_ASSERT_OK(sn_model_forward(m, x, 8, y2));
    assert_memory_equal(y1, y2, sizeof y1);
    int zeros = 0;
    for (int i = 0; i < 8 * 6; i++) zeros += y1[i] == 0.0f;
    assert_int_equal(zeros, 0);
    sn_model_destroy(m);
}

/* ---- compile errors in the user's terms ---- */

typedef struct error_case {
    const char *what;
    sn_module mods[8];
    int count;
    int64_t sample[3];
    int sample_ndim;
    sn_loss_kind loss;
    sn_status status;
    const char *message[3]; /* substrings the message must contain */
} error_case;

static void check_error_case(const error_case *c) {
    sn_model *m = model_of(c->mods, c->count);
    sn_status st = compile_at(m, 2, shape_of(c->sample_ndim, c->sample), c->loss);
    if (st != c->status)
        fail_msg("%s: status %s, expected %s: %s", c->what, sn_status_string(st),
                 sn_status_string(c->status), sn_last_error());
    for (int i = 0; i < 3 && c->message[i]; i++)
        if (!strstr(sn_last_error(), c->message[i]))
            fail_msg("%s: message '%s' lacks '%s'", c->what, sn_last_error(), c->message[i]);
    printf("%-28s %s\n", c->what, sn_last_error());
    assert_null(sn_model_graph(m));
    sn_model_destroy(m);
}

static sn_module at_line(sn_module m, int line) {
    m.line = line;
    return m;
}

static sn_module batchnorm1d_with_momentum(int num_features, float momentum) {
    sn_module m = sn_module_batchnorm(SN_MOD_BATCHNORM1D, num_features);
    m.momentum = momentum;
    return m;
}

static void test_compile_errors_name_line_and_module(void **state) {
    (void)state;
    const error_case cases[] = {
        {"lenet without padding",
         {at_line(sn_module_conv2d(1, 6, 5, 5, 1, 1, 0, 0, 1), 2),
          at_line(sn_module_maxpool2d(2, 2, 2, 2, 0, 0), 3),
          at_line(sn_module_conv2d(6, 16, 5, 5, 1, 1, 0, 0, 1), 4),
          at_line(sn_module_maxpool2d(2, 2, 2, 2, 0, 0), 5),
          at_line(sn_module_plain(SN_MOD_FLATTEN), 6), at_line(sn_module_linear(400, 120, 1), 9)},
         6,
         {1, 28, 28},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"line 9: Linear(400, 120): input has 256 features, expected 400"}},
        {"linear without flatten",
         {at_line(sn_module_conv2d(1, 4, 3, 3, 1, 1, 0, 0, 1), 1),
          at_line(sn_module_linear(64, 10, 0), 2)},
         2,
         {1, 10, 10},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"line 2: Linear(64, 10, bias=False)", "[4, 8, 8]", "Flatten()"}},
        {"conv channels",
         {at_line(sn_module_conv2d(3, 4, 3, 3, 1, 1, 1, 1, 1), 7)},
         1,
         {1, 10, 10},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"line 7: Conv2d(3, 4, kernel_size=3, padding=1)", "1 channels, expected 3"}},
        {"conv on vectors",
         {sn_module_conv2d(1, 4, 3, 2, 1, 2, 0, 0, 1)},
         1,
         {784},
         1,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"module 0: Conv2d(1, 4, kernel_size=(3, 2), stride=(1, 2))", "1x28x28"}},
        {"kernel larger than input",
         {sn_module_plain(SN_MOD_RELU), sn_module_maxpool2d(5, 5, 5, 5, 0, 0)},
         2,
         {2, 4, 9},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"module 1: MaxPool2d(kernel_size=5)", "smaller than the kernel"}},
        {"pool padding above half",
         {at_line(sn_module_avgpool2d(2, 2, 2, 2, 2, 0, 1), 3)},
         1,
         {2, 8, 8},
         3,
         SN_LOSS_NONE,
         SN_ERR_INVALID_ARG,
         {"line 3: AvgPool2d", "at most half"}},
        {"dropout probability",
         {sn_module_linear(3, 3, 1), at_line(sn_module_dropout(1.5f), 4)},
         2,
         {3},
         1,
         SN_LOSS_NONE,
         SN_ERR_INVALID_ARG,
         {"line 4: Dropout(p=1.5)", "between 0 and 1"}},
        {"zero-sized linear",
         {sn_module_plain(SN_MOD_LINEAR)},
         1,
         {3},
         1,
         SN_LOSS_NONE,
         SN_ERR_INVALID_ARG,
         {"module 0: Linear(0, 0, bias=False)", ">= 1"}},
        {"batchnorm2d on vectors",
         {sn_module_plain(SN_MOD_FLATTEN), at_line(sn_module_batchnorm(SN_MOD_BATCHNORM2D, 25), 5)},
         2,
         {1, 5, 5},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"line 5: BatchNorm2d(25)", "expected 4D input (got 2D input)"}},
        {"batchnorm1d on maps",
         {sn_module_batchnorm(SN_MOD_BATCHNORM1D, 3)},
         1,
         {3, 4, 4},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"module 0: BatchNorm1d(3)", "expected 2D or 3D input (got 4D input)"}},
        {"batchnorm channels",
         {sn_module_conv2d(1, 4, 3, 3, 1, 1, 1, 1, 1), sn_module_batchnorm(SN_MOD_BATCHNORM2D, 6)},
         2,
         {1, 5, 5},
         3,
         SN_LOSS_NONE,
         SN_ERR_SHAPE,
         {"module 1: BatchNorm2d(6)", "4 channels, expected 6"}},
        {"batchnorm momentum",
         {at_line(batchnorm1d_with_momentum(3, 2.0f), 2)},
         1,
         {3},
         1,
         SN_LOSS_NONE,
         SN_ERR_INVALID_ARG,
         {"line 2: BatchNorm1d(3, momentum=2)", "between 0 and 1"}},
        {"cross entropy on maps",
         {sn_module_conv2d(1, 2, 3, 3, 1, 1, 1, 1, 1)},
         1,
         {1, 5, 5},
         3,
         SN_LOSS_CROSS_ENTROPY,
         SN_ERR_SHAPE,
         {"loss cross_entropy", "[2, 5, 5]", "Flatten()"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_error_case(&cases[i]);
}

static sn_model *model_of_spec(const char *text) {
    sn_module *mods = NULL;
    int count = 0;
    SN_ASSERT_OK(sn_spec_parse(text, strlen(text), "spec", &mods, &count));
    sn_model *m = model_of(mods, count);
    free(mods);
    return m;
}

/* Line numbers count comments and blank lines, as an editor does. */
static void test_compile_errors_from_spec_text(void **state) {
    (void)state;
    sn_model *m = model_of_spec("# LeNet-5 without the padding\n"
                                "Conv2d(1, 6, 5)\n"
                                "ReLU()\n"
                                "MaxPool2d(2)\n"
                                "\n"
                                "Conv2d(6, 16, 5)\n"
                                "ReLU()\n"
                                "MaxPool2d(2)\n"
                                "Flatten()\n"
                                "Linear(400, 120)\n");
    assert_int_equal(compile_at(m, 1, shape_of(3, (int64_t[]){1, 28, 28}), SN_LOSS_NONE),
                     SN_ERR_SHAPE);
    assert_string_equal(sn_last_error(),
                        "line 10: Linear(400, 120): input has 256 features, expected 400");
    /* At 32x32, as in the paper, it fits. */
    SN_ASSERT_OK(compile_at(m, 1, shape_of(3, (int64_t[]){1, 32, 32}), SN_LOSS_NONE));
    sn_model_destroy(m);

    /* print(model) text: the line of the "(k): " entry. */
    m = model_of_spec("Sequential(\n"
                      "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))\n"
                      "  (1): ReLU()\n"
                      "  (2): Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1))\n"
                      ")\n");
    assert_int_equal(compile_at(m, 1, shape_of(3, (int64_t[]){3, 9, 9}), SN_LOSS_NONE),
                     SN_ERR_SHAPE);
    assert_non_null(strstr(sn_last_error(), "line 4: Conv2d(4, 8, kernel_size=3)"));
    assert_non_null(strstr(sn_last_error(), "8 channels, expected 4"));
    sn_model_destroy(m);

    /* models/lenet5.txt: 61706 parameters, 10 outputs. */
    SN_ASSERT_OK(sn_model_from_spec_file(&m, SN_GOLDEN_DIR "/../../models/lenet5.txt"));
    SN_ASSERT_OK(compile_at(m, 16, shape_of(3, (int64_t[]){1, 28, 28}), SN_LOSS_CROSS_ENTROPY));
    size_t n;
    sn_graph_params(sn_model_graph(m), &n);
    assert_int_equal(n, 61706);
    sn_shape out;
    SN_ASSERT_OK(sn_model_output_shape(m, &out));
    assert_int_equal(out.dim[0], 10);
    sn_model_destroy(m);
    assert_int_equal(sn_model_from_spec_file(&m, "no/such/spec.txt"), SN_ERR_IO);
    assert_null(m);
}

static void test_compile_rejects_bad_options(void **state) {
    (void)state;
    sn_module mods[] = {sn_module_linear(3, 2, 1)};
    sn_model *m = model_of(mods, 1);
    sn_model_compile_opts o = sn_model_compile_defaults(); /* no sample shape */
    assert_int_equal(sn_model_compile(m, &o), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "input shape"));
    o.sample_shape = shape_of(1, (int64_t[]){3});
    o.batch = 0;
    assert_int_equal(sn_model_compile(m, &o), SN_ERR_INVALID_ARG);
    o.batch = 1;
    o.sample_shape = shape_of(4, (int64_t[]){1, 1, 1, 3}); /* no room for the batch */
    assert_int_equal(sn_model_compile(m, &o), SN_ERR_INVALID_ARG);
    o.sample_shape = shape_of(1, (int64_t[]){3});
    o.loss = (sn_loss_kind)99;
    assert_int_equal(sn_model_compile(m, &o), SN_ERR_INVALID_ARG);
    /* Not compiled: everything that needs the graph says so. */
    float x[3], y[2];
    assert_int_equal(sn_model_forward(m, x, 1, y), SN_ERR_STATE);
    assert_int_equal(sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT), SN_ERR_STATE);
    sn_layer_info info;
    assert_int_equal(sn_model_layer_info(m, 0, &info), SN_ERR_STATE);
    assert_null(sn_model_sample_shape(m));
    sn_model *empty = NULL;
    assert_int_equal(sn_model_create(&empty, mods, 0), SN_ERR_INVALID_ARG);
    assert_null(empty);
    sn_model_destroy(m);
}

/* ---- losses and recompiling ---- */

static void test_losses_take_their_targets(void **state) {
    (void)state;
    sn_module mods[] = {sn_module_linear(4, 3, 1), sn_module_plain(SN_MOD_SIGMOID)};
    sn_model *m = model_of(mods, 2);
    const sn_loss_kind losses[] = {SN_LOSS_CROSS_ENTROPY, SN_LOSS_NLL, SN_LOSS_BCE,
                                   SN_LOSS_BCE_WITH_LOGITS, SN_LOSS_MSE};
    for (int i = 0; i < 5; i++) {
        SN_ASSERT_OK(compile_at(m, 5, shape_of(1, (int64_t[]){4}), losses[i]));
        sn_graph *g = sn_model_graph(m);
        const sn_shape *t = sn_graph_shape(g, sn_model_target_node(m));
        const int class_targets = losses[i] == SN_LOSS_CROSS_ENTROPY || losses[i] == SN_LOSS_NLL;
        assert_int_equal(t->ndim, class_targets ? 1 : 2);
        assert_int_equal(t->dim[0], 5);
        if (!class_targets) assert_int_equal(t->dim[1], 3);
        assert_int_equal(sn_graph_shape(g, sn_model_loss_node(m))->ndim, 0);
        assert_string_equal(sn_graph_node_name(g, sn_model_target_node(m)), "y");
        assert_string_equal(sn_graph_node_name(g, sn_model_input_node(m)), "x");
    }
    sn_model_destroy(m);
}

static void test_recompile_keeps_parameters(void **state) {
    (void)state;
    sn_module mods[8];
    sn_model *m = model_of(mods, small_cnn(mods));
    const sn_shape sample = shape_of(3, small_cnn_sample);
    SN_ASSERT_OK(compile_at(m, 2, sample, SN_LOSS_NONE));
    SN_ASSERT_OK(sn_model_init(m, 9, SN_INIT_KAIMING_NORMAL));
    enum { N = 3, IN = 70, OUT = 4 };
    float x[N * IN], before[N * OUT], after[N * OUT];
    fill_uniform(x, N * IN, 4);
    SN_ASSERT_OK(sn_model_forward(m, x, N, before));

    SN_ASSERT_OK(compile_at(m, 5, sample, SN_LOSS_MSE));
    SN_ASSERT_OK(sn_model_forward(m, x, N, after));
    assert_memory_equal(before, after, sizeof before);
    assert_non_null(sn_model_graph(m));

    /* A failed recompile leaves the working model as it was. */
    sn_graph *g = sn_model_graph(m);
    assert_int_equal(compile_at(m, 2, shape_of(3, (int64_t[]){3, 7, 5}), SN_LOSS_NONE),
                     SN_ERR_SHAPE);
    assert_ptr_equal(sn_model_graph(m), g);
    SN_ASSERT_OK(sn_model_forward(m, x, N, after));
    assert_memory_equal(before, after, sizeof before);
    sn_model_destroy(m);
}

/* ---- initialisation ---- */

typedef struct moments {
    double mean, var, max_abs;
    int64_t n;
} moments;

static moments moments_of(const float *v, int64_t n) {
    moments m = {0, 0, 0, n};
    for (int64_t i = 0; i < n; i++) m.mean += v[i];
    m.mean /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        m.var += (v[i] - m.mean) * (v[i] - m.mean);
        if (fabs(v[i]) > m.max_abs) m.max_abs = fabs(v[i]);
    }
    m.var /= (double)(n - 1);
    return m;
}

/* The variance a scheme should give: bound²/3 for U(-bound, bound), std² for normal. */
static double expected_variance(sn_init_scheme s, double fan_in, double fan_out) {
    switch (s) {
    case SN_INIT_TORCH_DEFAULT:
        return 1.0 / fan_in / 3.0;
    case SN_INIT_XAVIER_UNIFORM:
        return 6.0 / (fan_in + fan_out) / 3.0;
    case SN_INIT_XAVIER_NORMAL:
        return 2.0 / (fan_in + fan_out);
    case SN_INIT_KAIMING_UNIFORM:
        return 6.0 / fan_in / 3.0;
    case SN_INIT_KAIMING_NORMAL:
        return 2.0 / fan_in;
    }
    return 0;
}

static int is_uniform(sn_init_scheme s) {
    return s == SN_INIT_TORCH_DEFAULT || s == SN_INIT_XAVIER_UNIFORM ||
           s == SN_INIT_KAIMING_UNIFORM;
}

static void test_init_schemes_bounds_and_variances(void **state) {
    (void)state;
    /* Linear(300, 200): fans 300, 200. Conv2d(8, 16, (3, 5)): fans 120, 240. */
    sn_module mods[] = {sn_module_conv2d(8, 16, 3, 5, 1, 1, 0, 0, 1),
                        sn_module_plain(SN_MOD_FLATTEN), sn_module_linear(16 * 8 * 6, 200, 1)};
    const double fans[2][2] = {{120, 240}, {768, 200}};
    sn_model *m = model_of(mods, 3);
    SN_ASSERT_OK(compile_at(m, 1, shape_of(3, (int64_t[]){8, 10, 10}), SN_LOSS_NONE));
    sn_graph *g = sn_model_graph(m);
    for (sn_init_scheme s = SN_INIT_TORCH_DEFAULT; s <= SN_INIT_KAIMING_NORMAL; s++) {
        SN_ASSERT_OK(sn_model_init(m, 42, s));
        for (int layer = 0; layer < 2; layer++) {
            const int w = sn_graph_param_node(g, 2 * layer),
                      b = sn_graph_param_node(g, 2 * layer + 1);
            const double fan_in = fans[layer][0], fan_out = fans[layer][1];
            const moments mw =
                moments_of(sn_graph_value(g, w), sn_shape_numel(sn_graph_shape(g, w)));
            const moments mb =
                moments_of(sn_graph_value(g, b), sn_shape_numel(sn_graph_shape(g, b)));
            const double var = expected_variance(s, fan_in, fan_out);
            printf("init %d layer %d: %lld weights, variance %.4g (expected %.4g), max |w| %.4g\n",
                   (int)s, layer, (long long)mw.n, mw.var, var, mw.max_abs);
            /* Sample variance of n >= 2400 draws: relative sd <= sqrt(2/n) < 3%. */
            assert_true(fabs(mw.var / var - 1.0) < 0.1);
            assert_true(fabs(mw.mean) < 4.0 * sqrt(var / (double)mw.n));
            /* A scheme's variance is told apart from the others' (a wrong formula fails). */
            for (sn_init_scheme o = SN_INIT_TORCH_DEFAULT; o <= SN_INIT_KAIMING_NORMAL; o++) {
                const double other = expected_variance(o, fan_in, fan_out);
                if (fabs(other / var - 1.0) > 0.25) assert_true(fabs(mw.var / other - 1.0) > 0.1);
            }
            if (is_uniform(s)) {
                const double bound = sqrt(3.0 * var);
                assert_true(mw.max_abs <= bound * (1.0 + 1e-6));
                assert_true(mw.max_abs >
                            0.98 * bound); /* the bound is reached, not a smaller one */
            } else {
                assert_true(mw.max_abs > 2.5 * sqrt(var)); /* tails: not a uniform */
            }
            if (s == SN_INIT_TORCH_DEFAULT) {
                const double bound = 1.0 / sqrt(fan_in);
                assert_true(mb.max_abs <= bound * (1.0 + 1e-6));
                assert_true(mb.max_abs > 0.5 * bound);
            } else {
                assert_true(mb.max_abs == 0.0);
            }
        }
    }
    sn_model_destroy(m);
}

static void test_init_stream_and_order(void **state) {
    (void)state;
    sn_module mods[] = {sn_module_linear(5, 4, 1), sn_module_plain(SN_MOD_RELU),
                        sn_module_linear(4, 3, 1)};
    sn_model *m = model_of(mods, 3);
    SN_ASSERT_OK(compile_at(m, 1, shape_of(1, (int64_t[]){5}), SN_LOSS_NONE));
    SN_ASSERT_OK(sn_model_init(m, 77, SN_INIT_TORCH_DEFAULT));
    size_t n;
    float *p = sn_graph_params(sn_model_graph(m), &n);
    assert_int_equal(n, 4 * 5 + 4 + 3 * 4 + 3);
    /* The parameters are the stream (77, SN_STREAM_INIT) drawn in creation
     * order: 0.weight, 0.bias (bound 1/sqrt(5)), 2.weight, 2.bias (1/sqrt(4)). */
    sn_rng r;
    sn_rng_seed(&r, 77, SN_STREAM_INIT);
    for (size_t i = 0; i < n; i++) {
        const double bound = i < 24 ? 1.0 / sqrt(5.0) : 0.5;
        const float want = (float)(bound * (2.0 * sn_rng_uniform_double(&r) - 1.0));
        assert_true(p[i] == want);
    }
    float first[4 * 5 + 4 + 3 * 4 + 3];
    memcpy(first, p, sizeof first);
    SN_ASSERT_OK(sn_model_init(m, 77, SN_INIT_TORCH_DEFAULT));
    assert_memory_equal(first, p, sizeof first);
    SN_ASSERT_OK(sn_model_init(m, 78, SN_INIT_TORCH_DEFAULT));
    assert_memory_not_equal(first, p, sizeof first);
    assert_int_equal(sn_model_init(m, 1, (sn_init_scheme)17), SN_ERR_INVALID_ARG);
    sn_model_destroy(m);
}

/* ---- layer information ---- */

static int lenet5(sn_module *mods) {
    int k = 0;
    mods[k++] = sn_module_conv2d(1, 6, 5, 5, 1, 1, 2, 2, 1);
    mods[k++] = sn_module_plain(SN_MOD_RELU);
    mods[k++] = sn_module_maxpool2d(2, 2, 2, 2, 0, 0);
    mods[k++] = sn_module_conv2d(6, 16, 5, 5, 1, 1, 0, 0, 1);
    mods[k++] = sn_module_plain(SN_MOD_RELU);
    mods[k++] = sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 1);
    mods[k++] = sn_module_plain(SN_MOD_FLATTEN);
    mods[k++] = sn_module_linear(400, 120, 1);
    mods[k++] = sn_module_dropout(0.5f);
    mods[k++] = sn_module_linear(120, 10, 0);
    mods[k++] = sn_module_plain(SN_MOD_LOG_SOFTMAX);
    return k;
}

static void test_layer_info(void **state) {
    (void)state;
    sn_module mods[16];
    const int count = lenet5(mods);
    sn_model *m = model_of(mods, count);
    SN_ASSERT_OK(compile_at(m, 1, shape_of(3, (int64_t[]){1, 28, 28}), SN_LOSS_NONE));
    /* Worked by hand from the convention in model.h. */
    const struct {
        int ndim;
        int64_t dims[3];
        int64_t params, flops;
    } want[] = {
        {3, {6, 28, 28}, 6 * 25 + 6, 2LL * 25 * 6 * 28 * 28 + 6 * 28 * 28}, /* conv */
        {3, {6, 28, 28}, 0, 6 * 28 * 28},                                   /* relu */
        {3, {6, 14, 14}, 0, 6 * 14 * 14 * 4},                               /* max pool */
        {3, {16, 10, 10}, 16 * 150 + 16, 2LL * 150 * 16 * 100 + 1600},      /* conv */
        {3, {16, 10, 10}, 0, 1600},                                         /* relu */
        {3, {16, 5, 5}, 0, 400 * 4},                                        /* avg pool */
        {1, {400}, 0, 0},                                                   /* flatten */
        {1, {120}, 400 * 120 + 120, 2 * 400 * 120 + 120},                   /* linear */
        {1, {120}, 0, 0},                                                   /* dropout */
        {1, {10}, 1200, 2 * 1200},                                          /* linear, no bias */
        {1, {10}, 0, 10},                                                   /* log softmax */
    };
    int64_t total_params = 0;
    for (int i = 0; i < count; i++) {
        sn_layer_info info;
        SN_ASSERT_OK(sn_model_layer_info(m, i, &info));
        assert_int_equal(info.output.ndim, want[i].ndim);
        for (int d = 0; d < want[i].ndim; d++)
            assert_int_equal(info.output.dim[d], want[i].dims[d]);
        assert_int_equal(info.params, want[i].params);
        assert_int_equal(info.flops, want[i].flops);
        total_params += info.params;
    }
    size_t n;
    sn_graph_params(sn_model_graph(m), &n);
    assert_int_equal(total_params, (int64_t)n);
    sn_shape out;
    SN_ASSERT_OK(sn_model_output_shape(m, &out));
    assert_int_equal(out.ndim, 1);
    assert_int_equal(out.dim[0], 10);
    assert_int_equal(sn_model_sample_shape(m)->dim[1], 28);
    sn_layer_info info;
    assert_int_equal(sn_model_layer_info(m, count, &info), SN_ERR_RANGE);
    assert_int_equal(sn_model_module_count(m), count);
    assert_int_equal(sn_model_module(m, 7)->in_features, 400);
    assert_null(sn_model_module(m, count));
    sn_model_destroy(m);
}

/* ---- against PyTorch ---- */

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open %s", path);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static sn_shape parse_sample(const char *text) {
    int64_t dims[3];
    int ndim = 0;
    const char *p = text;
    while (ndim < 3) {
        char *end;
        dims[ndim++] = strtoll(p, &end, 10);
        if (*end != 'x') break;
        p = end + 1;
    }
    return shape_of(ndim, dims);
}

/* The model of <name>.spec.txt (torch's print(model)), not compiled. */
static sn_model *golden_model_of_spec(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.spec.txt", MODEL_GOLDEN_DIR, name);
    size_t len;
    const char *text = read_text(path, &len);
    sn_module *mods = NULL;
    int count = 0;
    SN_ASSERT_OK(sn_spec_parse(text, len, path, &mods, &count));
    sn_model *m = model_of(mods, count);
    free(mods);
    return m;
}

/* Builds the model from <name>.spec.txt (torch's print(model)), loads
 * <name>.weights.safetensors, runs <name>.io.safetensors' x at batch 3 and
 * compares with y. `perturb` scales every parameter by 1 + perturb, and
 * `perturb_buffers` every buffer (the negative controls).
 * Returns 1 when every output is within tolerance. */
static int golden_model_matches(const char *name, float perturb, float perturb_buffers,
                                double *max_diff) {
    char path[512];
    sn_model *m = golden_model_of_spec(name);
    snprintf(path, sizeof path, "%s/%s.io.safetensors", MODEL_GOLDEN_DIR, name);
    sn_safetensors *io;
    SN_ASSERT_OK(sn_safetensors_open(&io, path));
    const char *input_shape = sn_safetensors_metadata(io, "input_shape");
    assert_non_null(input_shape);
    sn_tensor *x, *y;
    SN_ASSERT_OK(sn_safetensors_read(io, "x", &x));
    SN_ASSERT_OK(sn_safetensors_read(io, "y", &y));
    SN_ASSERT_OK(compile_at(m, 3, parse_sample(input_shape), SN_LOSS_NONE));
    sn_safetensors_close(io);

    snprintf(path, sizeof path, "%s/%s.weights.safetensors", MODEL_GOLDEN_DIR, name);
    SN_ASSERT_OK(sn_model_load_weights(m, path));
    size_t n_params;
    float *params = sn_graph_params(sn_model_graph(m), &n_params);
    for (size_t i = 0; i < n_params; i++) params[i] *= 1.0f + perturb;
    size_t n_buffers;
    float *buffers = sn_graph_buffers(sn_model_graph(m), &n_buffers);
    for (size_t i = 0; i < n_buffers; i++) buffers[i] *= 1.0f + perturb_buffers;

    const int64_t n = x->shape.dim[0];
    float *got = calloc((size_t)sn_tensor_numel(y), sizeof *got);
    assert_non_null(got);
    SN_ASSERT_OK(sn_model_forward(m, x->data, n, got));
    const int ok = all_close(got, y->data, sn_tensor_numel(y), GOLDEN_RTOL, GOLDEN_ATOL, max_diff);
    free(got);
    sn_tensor_destroy(x);
    sn_tensor_destroy(y);
    sn_model_destroy(m);
    return ok;
}

static void test_models_match_pytorch(void **state) {
    (void)state;
    const char *names[] = {"mlp", "lenet5", "cnn_rect", "cnn_pool_first", "lenet5_bn"};
    int failed = 0;
    for (int i = 0; i < 5; i++) {
        double diff;
        const int ok = golden_model_matches(names[i], 0.0f, 0.0f, &diff);
        printf("%-16s largest difference %.3g  %s\n", names[i], diff, ok ? "ok" : "FAIL");
        failed += !ok;
        /* Negative control: weights off by 5% must show. */
        double off;
        assert_false(golden_model_matches(names[i], 0.05f, 0.0f, &off));
        assert_true(off > 1e-4);
    }
    /* ... and so must running statistics off by 5%: they are loaded and used. */
    double off;
    assert_false(golden_model_matches("lenet5_bn", 0.0f, 0.05f, &off));
    assert_true(off > 1e-4);
    assert_int_equal(failed, 0);
}

/* lenet5_bn in training mode: one forward of the whole batch x uses batch
 * statistics (y_train) and moves every running statistic to torch's value
 * after that step (after.<name>, num_batches_tracked included). */
static void test_batchnorm_model_training_step_matches_pytorch(void **state) {
    (void)state;
    char path[512];
    sn_model *m = golden_model_of_spec("lenet5_bn");
    snprintf(path, sizeof path, "%s/lenet5_bn.io.safetensors", MODEL_GOLDEN_DIR);
    sn_safetensors *io;
    SN_ASSERT_OK(sn_safetensors_open(&io, path));
    sn_tensor *x, *y_train;
    SN_ASSERT_OK(sn_safetensors_read(io, "x", &x));
    SN_ASSERT_OK(sn_safetensors_read(io, "y_train", &y_train));
    SN_ASSERT_OK(compile_at(m, x->shape.dim[0], parse_sample("1x28x28"), SN_LOSS_NONE));
    snprintf(path, sizeof path, "%s/lenet5_bn.weights.safetensors", MODEL_GOLDEN_DIR);
    SN_ASSERT_OK(sn_model_load_weights(m, path));

    sn_graph *g = sn_model_graph(m);
    assert_int_equal(sn_graph_buffer_count(g), 12); /* 4 BatchNorms x 3 */
    memcpy(sn_graph_value(g, sn_model_input_node(m)), x->data,
           (size_t)sn_tensor_numel(x) * sizeof(float));
    sn_graph_set_training(g, 1);
    SN_ASSERT_OK(sn_graph_forward(g));
    double diff, worst_stat = 0.0;
    const int out_ok = all_close(sn_graph_value(g, sn_model_output_node(m)), y_train->data,
                                 sn_tensor_numel(y_train), GOLDEN_RTOL, GOLDEN_ATOL, &diff);
    int stats_ok = 1;
    for (int i = 0; i < sn_graph_buffer_count(g); i++) {
        const int node = sn_graph_buffer_node(g, i);
        char key[96];
        snprintf(key, sizeof key, "after.%s", sn_graph_node_name(g, node));
        sn_tensor *want;
        SN_ASSERT_OK(sn_safetensors_read(io, key, &want));
        double d;
        stats_ok &= all_close(sn_graph_value(g, node), want->data, sn_tensor_numel(want),
                              GOLDEN_RTOL, GOLDEN_ATOL, &d);
        if (d > worst_stat) worst_stat = d;
        if (strstr(key, "num_batches_tracked")) assert_true(want->data[0] == 4.0f);
        sn_tensor_destroy(want);
    }
    printf("lenet5_bn training step: output largest difference %.3g, running statistics %.3g\n",
           diff, worst_stat);
    assert_true(out_ok);
    assert_true(stats_ok);
    sn_tensor_destroy(x);
    sn_tensor_destroy(y_train);
    sn_safetensors_close(io);
    sn_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_names_round_trip),
        cmocka_unit_test(test_forward_matches_hand_built_graph),
        cmocka_unit_test(test_dropout_is_off_in_forward),
        cmocka_unit_test(test_compile_errors_name_line_and_module),
        cmocka_unit_test(test_compile_errors_from_spec_text),
        cmocka_unit_test(test_compile_rejects_bad_options),
        cmocka_unit_test(test_losses_take_their_targets),
        cmocka_unit_test(test_recompile_keeps_parameters),
        cmocka_unit_test(test_init_schemes_bounds_and_variances),
        cmocka_unit_test(test_init_stream_and_order),
        cmocka_unit_test(test_layer_info),
        cmocka_unit_test(test_models_match_pytorch),
        cmocka_unit_test(test_batchnorm_model_training_step_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

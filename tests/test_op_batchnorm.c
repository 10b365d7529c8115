/*
 * batch_norm (src/ops/batchnorm.c) beyond the gradient check and the goldens:
 * a case small enough to check by hand, the running statistics after several
 * training steps against torch's values (momentum 0.1 and momentum=None),
 * evaluation against training mode, track_running_stats=False, the refusal of
 * one value per channel in training, builder errors, and a negative control
 * that the gradient check catches a backward treating the batch statistics as
 * constants.
 */
#include "support/gradcheck.h"
#include "support/test_support.h"

#include <math.h>
#include <string.h>

#include "graph/graph_internal.h"

/* A batch_norm over a leaf x of the given shape with parameters weight, bias
 * (C) and, when tracked, its running statistics as buffers. */
typedef struct bn_graph {
    sn_graph *g;
    int x, weight, bias, mean, var, count, y;
} bn_graph;

static bn_graph bn_build(int ndim, const int64_t *shape, int affine, int tracked, float momentum,
                         float eps) {
    bn_graph b = {
        sn_graph_create(1), SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE};
    const int64_t channels = shape[1];
    b.x = sn_input(b.g, "x", ndim, shape);
    sn_graph_set_requires_grad(b.g, b.x, 1);
    if (affine) {
        b.weight = sn_param(b.g, "weight", 1, &channels);
        b.bias = sn_param(b.g, "bias", 1, &channels);
    }
    if (tracked) {
        b.mean = sn_buffer(b.g, "running_mean", 1, &channels);
        b.var = sn_buffer(b.g, "running_var", 1, &channels);
        b.count = sn_buffer(b.g, "num_batches_tracked", 0, NULL);
    }
    b.y = sn_batch_norm(b.g, b.x, b.weight, b.bias, b.mean, b.var, b.count, momentum, eps);
    SN_ASSERT_OK(sn_graph_compile(b.g));
    if (tracked) { /* torch's reset_running_stats */
        for (int64_t c = 0; c < channels; c++) sn_graph_value(b.g, b.var)[c] = 1.0f;
    }
    return b;
}

static void assert_close(const float *got, const double *want, int n, double tol,
                         const char *what) {
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol * (1.0 + fabs(want[i]))))
            fail_msg("%s[%d]: got %.9g, expected %.9g", what, i, (double)got[i], want[i]);
}

/* x = [1, 2, 3, 4] as (4, 1), weight 2, bias 0.5, eps 0: mean 2.5, biased
 * variance 1.25, so y = (x - 2.5) · 2 / sqrt(1.25) + 0.5; the running mean
 * becomes 0.1 · 2.5 = 0.25 and the running variance 0.9 + 0.1 · 5/3 (the
 * unbiased 1.25 · 4/3). */
static void test_by_hand(void **state) {
    (void)state;
    bn_graph b = bn_build(2, (int64_t[]){4, 1}, 1, 1, 0.1f, 0.0f);
    const float x[4] = {1, 2, 3, 4};
    memcpy(sn_graph_value(b.g, b.x), x, sizeof x);
    sn_graph_value(b.g, b.weight)[0] = 2.0f;
    sn_graph_value(b.g, b.bias)[0] = 0.5f;
    SN_ASSERT_OK(sn_graph_forward(b.g));
    const double s = 2.0 / sqrt(1.25);
    const double want_y[4] = {-1.5 * s + 0.5, -0.5 * s + 0.5, 0.5 * s + 0.5, 1.5 * s + 0.5};
    assert_close(sn_graph_value(b.g, b.y), want_y, 4, 1e-6, "y");
    assert_close(sn_graph_value(b.g, b.mean), (double[]){0.25}, 1, 1e-7, "running_mean");
    assert_close(sn_graph_value(b.g, b.var), (double[]){0.9 + 0.1 * 5.0 / 3.0}, 1, 1e-7,
                 "running_var");
    assert_true(sn_graph_value(b.g, b.count)[0] == 1.0f);

    /* dy = [1, 0, 0, 0]: dbias = 1, dweight = x̂_0 = -1.5 / sqrt(1.25), and dx
     * sums to zero (the mean absorbs any shift of x). */
    sn_graph_zero_grad(b.g);
    SN_ASSERT_OK(sn_graph_backward_from(b.g, b.y, (float[]){1, 0, 0, 0}));
    assert_close(sn_graph_grad(b.g, b.bias), (double[]){1.0}, 1, 1e-7, "dbias");
    assert_close(sn_graph_grad(b.g, b.weight), (double[]){-1.5 / sqrt(1.25)}, 1, 1e-6, "dweight");
    const float *dx = sn_graph_grad(b.g, b.x);
    assert_true(fabs((double)dx[0] + dx[1] + dx[2] + dx[3]) < 1e-6);
    assert_true(dx[0] > 0.0f);
    sn_graph_destroy(b.g);
}

/* Step k's input: exact binary fractions, so torch saw the same floats. */
static void fill_step(float *x, int k) {
    for (int i = 0; i < 16; i++) x[i] = (float)((i * 7 + k * 3) % 11) * 0.25f * (float)(k + 1) - 1;
}

/* BatchNorm2d(2, momentum) in float64 in torch 1.13, weight (1.5, -0.5), bias
 * (0.25, 1.0), three training forwards of fill_step(0..2) on (2, 2, 2, 2);
 * then evaluation on fill_step(0). */
typedef struct three_steps {
    float momentum;
    double mean[2], var[2], y_eval[16];
} three_steps;

static const double y_last_train[16] = {
    0.2499999999999999, -2.1033904033487465, 2.0150428025115596, -0.3383476008371867,
    1.4361779819929408, 0.3259067551018191,  0.9603474561824601, 1.594788157263101,
    0.8383476008371864, -1.5150428025115599, 2.603390403348746,  0.2499999999999999,
    1.2775678067227805, 0.16729657983165883, 0.8017372809122998, 1.4361779819929408};

static const three_steps torch_steps[2] = {
    {0.1f,
     {0.45940625, 0.41300000000000003},
     {1.4458560267857143, 1.660982142857143},
     {-1.5705534508999734, 0.6125045831977656, -0.634957150572371, 1.548100883525368,
      0.9662475371506856, 1.3542068802462544, 0.6752780298290089, 1.0632373729245777,
      -1.2586880174574393, 0.9243700166402997, -0.3230917171298368, -1.5705534508999734,
      0.8692577013767934, 1.2572170444723623, 0.5782881940551167, 0.9662475371506856}},
    {SN_BATCH_NORM_CUMULATIVE,
     {1.5729166666666665, 1.4791666666666667},
     {2.5308779761904763, 3.230654761904762},
     {-2.1759425840530624, -0.5259087617011817, -1.468785231616542, 0.18124859073533856,
      1.2723834256724822, 1.5505622433805488, 1.0637493123914321, 1.3419281300994987,
      -1.9402234665742222, -0.2901896442223416, -1.233066114137702, -2.1759425840530624,
      1.2028387212454654, 1.4810175389535323, 0.9942046079644153, 1.2723834256724822}},
};

static void test_running_stats_after_three_steps_match_torch(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++) {
        const three_steps *want = &torch_steps[t];
        bn_graph b = bn_build(4, (int64_t[]){2, 2, 2, 2}, 1, 1, want->momentum, 1e-5f);
        memcpy(sn_graph_value(b.g, b.weight), (float[]){1.5f, -0.5f}, 2 * sizeof(float));
        memcpy(sn_graph_value(b.g, b.bias), (float[]){0.25f, 1.0f}, 2 * sizeof(float));
        float *x = sn_graph_value(b.g, b.x);
        for (int k = 0; k < 3; k++) {
            fill_step(x, k);
            SN_ASSERT_OK(sn_graph_forward(b.g));
        }
        /* The training output uses the batch only: the same for both momenta. */
        assert_close(sn_graph_value(b.g, b.y), y_last_train, 16, 1e-6, "y (training)");
        assert_close(sn_graph_value(b.g, b.mean), want->mean, 2, 1e-6, "running_mean");
        assert_close(sn_graph_value(b.g, b.var), want->var, 2, 1e-6, "running_var");
        assert_true(sn_graph_value(b.g, b.count)[0] == 3.0f);

        /* Evaluation uses the running statistics and writes nothing. */
        sn_graph_set_training(b.g, 0);
        fill_step(x, 0);
        SN_ASSERT_OK(sn_graph_forward(b.g));
        assert_close(sn_graph_value(b.g, b.y), want->y_eval, 16, 1e-6, "y (evaluation)");
        assert_close(sn_graph_value(b.g, b.mean), want->mean, 2, 1e-6, "running_mean after eval");
        assert_true(sn_graph_value(b.g, b.count)[0] == 3.0f);
        sn_graph_destroy(b.g);
    }
}

/* Without running statistics, both modes normalise with the batch's, and
 * evaluation mode is then exactly training mode. */
static void test_untracked_uses_batch_stats_in_both_modes(void **state) {
    (void)state;
    bn_graph b = bn_build(2, (int64_t[]){5, 3}, 0, 0, 0.1f, 1e-5f);
    assert_int_equal(sn_graph_buffer_count(b.g), 0);
    float *x = sn_graph_value(b.g, b.x);
    for (int i = 0; i < 15; i++) x[i] = (float)(i * i % 7) - 2.0f;
    SN_ASSERT_OK(sn_graph_forward(b.g));
    float train[15];
    memcpy(train, sn_graph_value(b.g, b.y), sizeof train);
    for (int c = 0; c < 3; c++) { /* each channel normalised: mean 0, biased variance ~1 */
        double sum = 0, squares = 0;
        for (int n = 0; n < 5; n++)
            sum += train[n * 3 + c], squares += train[n * 3 + c] * train[n * 3 + c];
        assert_true(fabs(sum / 5) < 1e-6);
        assert_true(fabs(squares / 5 - 1.0) < 1e-4);
    }
    sn_graph_set_training(b.g, 0);
    SN_ASSERT_OK(sn_graph_forward(b.g));
    assert_memory_equal(sn_graph_value(b.g, b.y), train, sizeof train);
    sn_graph_destroy(b.g);
}

/* torch: "Expected more than 1 value per channel when training, got input size
 * torch.Size([1, 3])". The same refusal, at forward, and only where batch
 * statistics are needed: evaluation mode with running statistics runs. */
static void test_one_value_per_channel_refused_in_training(void **state) {
    (void)state;
    bn_graph b = bn_build(2, (int64_t[]){1, 3}, 1, 1, 0.1f, 1e-5f);
    assert_int_equal(sn_graph_forward(b.g), SN_ERR_SHAPE);
    assert_non_null(
        strstr(sn_last_error(), "expected more than 1 value per channel when training"));
    assert_non_null(strstr(sn_last_error(), "[1, 3]"));
    assert_true(sn_graph_value(b.g, b.count)[0] == 0.0f); /* nothing updated */
    sn_graph_set_training(b.g, 0);
    SN_ASSERT_OK(sn_graph_forward(b.g));
    sn_graph_destroy(b.g);

    /* Untracked: batch statistics in evaluation too, so refused there as well. */
    b = bn_build(4, (int64_t[]){1, 2, 1, 1}, 1, 0, 0.1f, 1e-5f);
    sn_graph_set_training(b.g, 0);
    assert_int_equal(sn_graph_forward(b.g), SN_ERR_SHAPE);
    sn_graph_destroy(b.g);

    /* A batch of one with several values per channel (BatchNorm2d) is fine. */
    b = bn_build(4, (int64_t[]){1, 2, 2, 1}, 1, 1, 0.1f, 1e-5f);
    SN_ASSERT_OK(sn_graph_forward(b.g));
    sn_graph_destroy(b.g);
}

static void assert_compile_fails(sn_graph *g, sn_status status, const char *fragment) {
    assert_int_equal(sn_graph_compile(g), status);
    if (!strstr(sn_last_error(), fragment)) fail_msg("'%s' lacks '%s'", sn_last_error(), fragment);
    sn_graph_destroy(g);
}

static void test_builder_and_shape_errors(void **state) {
    (void)state;
    const int64_t three = 3, four = 4;
    /* Running statistics that are inputs, not buffers. */
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    int mean = sn_input(g, "mean", 1, &three), var = sn_buffer(g, "var", 1, &three);
    int count = sn_buffer(g, "count", 0, NULL);
    sn_batch_norm(g, x, SN_NONE, SN_NONE, mean, var, count, 0.1f, 1e-5f);
    assert_compile_fails(g, SN_ERR_INVALID_ARG, "not a buffer");

    /* Two of the three. */
    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    mean = sn_buffer(g, "mean", 1, &three);
    var = sn_buffer(g, "var", 1, &three);
    sn_batch_norm(g, x, SN_NONE, SN_NONE, mean, var, SN_NONE, 0.1f, 1e-5f);
    assert_compile_fails(g, SN_ERR_INVALID_ARG, "all three, or none");

    /* A weight for 4 channels on 3. */
    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    int w = sn_param(g, "w", 1, &four), b = sn_param(g, "b", 1, &four);
    sn_batch_norm(g, x, w, b, SN_NONE, SN_NONE, SN_NONE, 0.1f, 1e-5f);
    assert_compile_fails(g, SN_ERR_SHAPE, "weight is [4], expected (3)");

    /* A weight without a bias. */
    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    w = sn_param(g, "w", 1, &three);
    sn_batch_norm(g, x, w, SN_NONE, SN_NONE, SN_NONE, SN_NONE, 0.1f, 1e-5f);
    assert_compile_fails(g, SN_ERR_INVALID_ARG, "both");

    /* Momentum outside [0, 1], negative eps, a 1-D x. */
    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    sn_batch_norm(g, x, SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE, 1.5f, 1e-5f);
    assert_compile_fails(g, SN_ERR_INVALID_ARG, "momentum");
    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){4, 3});
    sn_batch_norm(g, x, SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE, 0.1f, -1.0f);
    assert_compile_fails(g, SN_ERR_INVALID_ARG, "eps");
    g = sn_graph_create(1);
    x = sn_input(g, "x", 1, &four);
    sn_batch_norm(g, x, SN_NONE, SN_NONE, SN_NONE, SN_NONE, SN_NONE, 0.1f, 1e-5f);
    assert_compile_fails(g, SN_ERR_SHAPE, "expected (N, C, ...)");
}

/* Buffers are not parameters: no gradient, not in the parameter block. */
static void test_buffers_are_not_parameters(void **state) {
    (void)state;
    bn_graph b = bn_build(2, (int64_t[]){4, 3}, 1, 1, 0.1f, 1e-5f);
    size_t n_params, n_buffers;
    sn_graph_params(b.g, &n_params);
    sn_graph_buffers(b.g, &n_buffers);
    assert_int_equal(n_params, 6);
    assert_int_equal(n_buffers, 7);
    assert_int_equal(sn_graph_param_count(b.g), 2);
    assert_int_equal(sn_graph_buffer_count(b.g), 3);
    assert_int_equal(sn_graph_buffer_node(b.g, 0), b.mean);
    assert_int_equal(sn_graph_buffer_node(b.g, 2), b.count);
    assert_int_equal(sn_graph_buffer_node(b.g, 3), SN_NONE);
    assert_null(sn_graph_grad(b.g, b.mean));
    assert_int_equal(sn_graph_shape(b.g, b.count)->ndim, 0);
    assert_string_equal(sn_graph_node_name(b.g, b.var), "running_var");
    sn_graph_destroy(b.g);
}

/* ---- negative control for the gradient check ---- */

static const sn_op *real_batch_norm;

/* The backward of evaluation mode in a training step: treats the batch mean
 * and variance as constants, the classic slip. */
static void backward_with_constant_stats(sn_op_io *io) {
    io->training = 0;
    real_batch_norm->backward(io);
    io->training = 1;
}

static void test_gradcheck_catches_constant_statistics(void **state) {
    (void)state;
    bn_graph b = bn_build(4, (int64_t[]){2, 3, 2, 2}, 1, 1, 0.1f, 1e-5f);
    sn_rng r;
    sn_rng_seed(&r, 3, 4);
    float *x = sn_graph_value(b.g, b.x);
    for (int i = 0; i < 24; i++) x[i] = 2.0f * sn_rng_uniform(&r) - 1.0f;
    for (int c = 0; c < 3; c++) {
        sn_graph_value(b.g, b.weight)[c] = 0.5f + 0.5f * (float)c;
        sn_graph_value(b.g, b.bias)[c] = 0.1f * (float)c;
    }
    sn_gradcheck_opts opts = sn_gradcheck_defaults();
    sn_gradcheck_result res;
    assert_true(sn_gradcheck(b.g, b.y, &opts, &res));

    sn_node *node = sn_graph_node_at(b.g, b.y);
    real_batch_norm = node->op;
    sn_op wrong = *node->op;
    wrong.backward = backward_with_constant_stats;
    node->op = &wrong;
    assert_false(sn_gradcheck(b.g, b.y, &opts, &res));
    assert_true(res.failed > 0);
    printf("constant statistics in backward: %d of %d elements fail (%s)\n", res.failed,
           res.checked, res.worst);
    node->op = real_batch_norm;
    sn_graph_destroy(b.g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_running_stats_after_three_steps_match_torch),
        cmocka_unit_test(test_untracked_uses_batch_stats_in_both_modes),
        cmocka_unit_test(test_one_value_per_channel_refused_in_training),
        cmocka_unit_test(test_builder_and_shape_errors),
        cmocka_unit_test(test_buffers_are_not_parameters),
        cmocka_unit_test(test_gradcheck_catches_constant_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

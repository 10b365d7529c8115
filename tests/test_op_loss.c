/*
 * Losses through the public graph API: mse, bce, bce_with_logits, nll and
 * cross_entropy, each with both reductions, on values computed by hand (and
 * checked against torch 1.13), plus their edge cases: bce's log clamp, large
 * logits, bad class labels (SN_ERR_RANGE at forward) and bad shapes
 * (SN_ERR_SHAPE at compile).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/test_support.h"

/* ---- helpers ---- */

static void assert_close(const float *got, const float *want, size_t n, float tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= tol))
            fail_msg("element %zu: got %.9g, want %.9g (tol %g)", i, (double)got[i],
                     (double)want[i], (double)tol);
}

static void assert_message(const char *needle) {
    if (!strstr(sn_last_error(), needle))
        fail_msg("message \"%s\" does not contain \"%s\"", sn_last_error(), needle);
}

typedef int (*loss_builder)(sn_graph *, int, int, sn_reduction);

/* A loss over an input x and a target y, both leaves requiring a gradient. */
typedef struct loss_net {
    sn_graph *g;
    int x, y, loss;
} loss_net;

static loss_net loss_make(loss_builder build, int x_ndim, const int64_t *x_dims, int y_ndim,
                          const int64_t *y_dims, sn_reduction r) {
    loss_net n;
    n.g = sn_graph_create(1);
    n.x = sn_input(n.g, "x", x_ndim, x_dims);
    n.y = sn_input(n.g, "y", y_ndim, y_dims);
    n.loss = build(n.g, n.x, n.y, r);
    SN_ASSERT_OK(sn_graph_set_requires_grad(n.g, n.x, 1));
    SN_ASSERT_OK(sn_graph_set_requires_grad(n.g, n.y, 1));
    return n;
}

static void loss_feed(loss_net *n, const float *x, const float *y) {
    memcpy(sn_graph_value(n->g, n->x), x,
           (size_t)sn_shape_numel(sn_graph_shape(n->g, n->x)) * sizeof *x);
    memcpy(sn_graph_value(n->g, n->y), y,
           (size_t)sn_shape_numel(sn_graph_shape(n->g, n->y)) * sizeof *y);
}

/* One case of a pointwise loss (x and y of n elements): the loss and both
 * gradients, for one reduction. want_dy NULL: the target's gradient must stay 0. */
typedef struct loss_case {
    loss_builder build;
    sn_reduction reduction;
    float loss;
    const float *want_dx, *want_dy;
} loss_case;

static void check_case(int x_ndim, const int64_t *x_dims, int y_ndim, const int64_t *y_dims,
                       const float *x, const float *y, const loss_case *c, float tol) {
    loss_net n = loss_make(c->build, x_ndim, x_dims, y_ndim, y_dims, c->reduction);
    SN_ASSERT_OK(sn_graph_compile(n.g));
    assert_int_equal(sn_graph_shape(n.g, n.loss)->ndim, 0); /* a 0-d scalar, as torch */
    loss_feed(&n, x, y);
    SN_ASSERT_OK(sn_graph_forward(n.g));
    sn_graph_zero_grad(n.g);
    SN_ASSERT_OK(sn_graph_backward(n.g, n.loss));
    assert_close(sn_graph_value(n.g, n.loss), &c->loss, 1, tol * fmaxf(1.0f, fabsf(c->loss)));
    const size_t nx = (size_t)sn_shape_numel(sn_graph_shape(n.g, n.x));
    const size_t ny = (size_t)sn_shape_numel(sn_graph_shape(n.g, n.y));
    assert_close(sn_graph_grad(n.g, n.x), c->want_dx, nx, tol);
    if (c->want_dy) {
        assert_close(sn_graph_grad(n.g, n.y), c->want_dy, ny, tol);
    } else {
        for (size_t i = 0; i < ny; i++) assert_true(sn_graph_grad(n.g, n.y)[i] == 0.0f);
    }
    sn_graph_destroy(n.g);
}

static void check_pointwise(const float *x, const float *y, size_t n, const loss_case *c,
                            float tol) {
    int64_t dims[1] = {(int64_t)n};
    check_case(1, dims, 1, dims, x, y, c, tol);
}

/* ---- mse ---- */

static void test_mse(void **state) {
    (void)state;
    /* x - y = (1, 0, -2, 3): sum of squares 14, mean 3.5; dx = 2 (x - y) / 4 for
     * the mean, dy = -dx. */
    const float x[4] = {1, 2, 3, 4}, y[4] = {0, 2, 5, 1};
    check_pointwise(x, y, 4,
                    &(loss_case){sn_mse, SN_REDUCTION_MEAN, 3.5f, (float[]){0.5f, 0, -1, 1.5f},
                                 (float[]){-0.5f, 0, 1, -1.5f}},
                    1e-6f);
    check_pointwise(
        x, y, 4,
        &(loss_case){sn_mse, SN_REDUCTION_SUM, 14, (float[]){2, 0, -4, 6}, (float[]){-2, 0, 4, -6}},
        1e-6f);
}

/* ---- bce ---- */

static void test_bce(void **state) {
    (void)state;
    /* Terms -log 0.8 = 0.22314355, -log 0.9 = 0.10536052, -log 0.5 = 0.69314718,
     * sum 1.02165125. dp = (p - y) / ((1 - p) p): 1.25, -1.11111111, -2; the
     * target's gradient is -logit(p): log 4 = 1.38629436, -log 9 = -2.19722458, 0. */
    const float p[3] = {0.2f, 0.9f, 0.5f}, y[3] = {0, 1, 1};
    check_pointwise(p, y, 3,
                    &(loss_case){sn_bce, SN_REDUCTION_MEAN, 0.34055042f,
                                 (float[]){1.25f / 3, -1.11111111f / 3, -2.0f / 3},
                                 (float[]){1.38629436f / 3, -2.19722458f / 3, 0}},
                    1e-6f);
    check_pointwise(p, y, 3,
                    &(loss_case){sn_bce, SN_REDUCTION_SUM, 1.02165125f,
                                 (float[]){1.25f, -1.11111111f, -2.0f},
                                 (float[]){1.38629436f, -2.19722458f, 0}},
                    2e-6f);
}

/* p = 0 with y = 1 and p = 1 with y = 0: each log is clamped at -100, so each
 * term is 100 (not inf) and the gradient (p - y) / max((1-p) p, 1e-12) is a
 * finite -+1e12, as torch. */
static void test_bce_clamp(void **state) {
    (void)state;
    loss_net n = loss_make(sn_bce, 1, (int64_t[]){2}, 1, (int64_t[]){2}, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(n.g));
    loss_feed(&n, (float[]){0, 1}, (float[]){1, 0});
    SN_ASSERT_OK(sn_graph_forward(n.g));
    assert_float_equal(sn_graph_value(n.g, n.loss)[0], 100.0f, 0.0f);
    sn_graph_zero_grad(n.g);
    SN_ASSERT_OK(sn_graph_backward(n.g, n.loss));
    const float *dx = sn_graph_grad(n.g, n.x);
    assert_true(isfinite(dx[0]) && isfinite(dx[1]));
    assert_float_equal(dx[0], -0.5e12f, 1e6f);
    assert_float_equal(dx[1], 0.5e12f, 1e6f);
    sn_graph_destroy(n.g);
}

/* torch refuses probabilities outside [0, 1] ("all elements of input should be
 * between 0 and 1"); so does sinapsi, at forward, naming the element. */
static void test_bce_rejects_non_probability(void **state) {
    (void)state;
    loss_net n = loss_make(sn_bce, 1, (int64_t[]){3}, 1, (int64_t[]){3}, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(n.g));
    loss_feed(&n, (float[]){0.5f, 0.5f, 1.5f}, (float[]){0, 1, 1});
    assert_int_equal(sn_graph_forward(n.g), SN_ERR_RANGE);
    assert_message("bce: input[2] = 1.5 is not a probability");
    sn_graph_destroy(n.g);
}

/* ---- bce_with_logits ---- */

static void test_bce_with_logits(void **state) {
    (void)state;
    /* Terms max(x,0) - x y + log1p(e^-|x|): log1p(e^-1) = 0.31326169, log 2 =
     * 0.69314718, log1p(e^-2) = 0.12692801; sum 1.13333688. dx = sigmoid(x) - y:
     * 0.26894142, -0.5, -0.11920292; dy = -x. */
    const float x[3] = {-1, 0, 2}, y[3] = {0, 1, 1};
    check_pointwise(x, y, 3,
                    &(loss_case){sn_bce_with_logits, SN_REDUCTION_MEAN, 0.37777896f,
                                 (float[]){0.26894142f / 3, -0.5f / 3, -0.11920292f / 3},
                                 (float[]){1.0f / 3, 0, -2.0f / 3}},
                    1e-6f);
    check_pointwise(x, y, 3,
                    &(loss_case){sn_bce_with_logits, SN_REDUCTION_SUM, 1.13333688f,
                                 (float[]){0.26894142f, -0.5f, -0.11920292f}, (float[]){1, 0, -2}},
                    1e-6f);
}

/* Logits of +-100: wrong sides cost 100 each, right sides ~0, all finite;
 * the gradients are +-1/4 (wrong, mean over 4) and 0. */
static void test_bce_with_logits_large(void **state) {
    (void)state;
    check_pointwise((float[]){100, -100, 100, -100}, (float[]){0, 1, 1, 0}, 4,
                    &(loss_case){sn_bce_with_logits, SN_REDUCTION_MEAN, 50.0f,
                                 (float[]){0.25f, -0.25f, 0, 0}, (float[]){-25, 25, -25, 25}},
                    1e-6f);
}

/* ---- nll ---- */

static void test_nll(void **state) {
    (void)state;
    /* -logp[0, 2] - logp[1, 0] = 3 + 0.5; the gradient is -1 (sum) or -1/N
     * (mean) at each picked entry; the target gets none. */
    const float logp[6] = {-1, -2, -3, -0.5f, -1.5f, -2.5f}, target[2] = {2, 0};
    const int64_t xd[2] = {2, 3}, td[1] = {2};
    check_case(
        2, xd, 1, td, logp, target,
        &(loss_case){sn_nll, SN_REDUCTION_MEAN, 1.75f, (float[]){0, 0, -0.5f, -0.5f, 0, 0}, NULL},
        0.0f);
    check_case(2, xd, 1, td, logp, target,
               &(loss_case){sn_nll, SN_REDUCTION_SUM, 3.5f, (float[]){0, 0, -1, -1, 0, 0}, NULL},
               0.0f);
}

/* ---- cross_entropy ---- */

static void test_cross_entropy(void **state) {
    (void)state;
    /* Row 0 (1, 2, 3), target 0: -log softmax_0 = 2.40760596; row 1 (1, 1, 1),
     * target 2: log 3 = 1.09861229; sum 3.50621825. dx = softmax - onehot with
     * softmax(1,2,3) = (0.09003057, 0.24472847, 0.66524096). */
    const float x[6] = {1, 2, 3, 1, 1, 1}, target[2] = {0, 2};
    const int64_t xd[2] = {2, 3}, td[1] = {2};
    const float dx_sum[6] = {0.09003057f - 1, 0.24472847f, 0.66524096f,
                             1.0f / 3,        1.0f / 3,    1.0f / 3 - 1};
    float dx_mean[6];
    for (int i = 0; i < 6; i++) dx_mean[i] = dx_sum[i] / 2;
    check_case(2, xd, 1, td, x, target,
               &(loss_case){sn_cross_entropy, SN_REDUCTION_MEAN, 1.75310912f, dx_mean, NULL},
               2e-7f);
    check_case(2, xd, 1, td, x, target,
               &(loss_case){sn_cross_entropy, SN_REDUCTION_SUM, 3.50621825f, dx_sum, NULL}, 2e-7f);
}

/* Logits of +-1000 stay finite: -log_softmax_1 = 2000 exactly. */
static void test_cross_entropy_stable(void **state) {
    (void)state;
    check_case(2, (int64_t[]){1, 3}, 1, (int64_t[]){1}, (float[]){1000, -1000, 0}, (float[]){1},
               &(loss_case){sn_cross_entropy, SN_REDUCTION_MEAN, 2000, (float[]){1, -1, 0}, NULL},
               0.0f);
}

/* The backward seed scales every gradient (d objective / d loss = 2 here). */
static void test_loss_seed_scales(void **state) {
    (void)state;
    loss_net n =
        loss_make(sn_cross_entropy, 2, (int64_t[]){1, 3}, 1, (int64_t[]){1}, SN_REDUCTION_SUM);
    SN_ASSERT_OK(sn_graph_compile(n.g));
    loss_feed(&n, (float[]){1, 1, 1}, (float[]){1});
    SN_ASSERT_OK(sn_graph_forward(n.g));
    sn_graph_zero_grad(n.g);
    SN_ASSERT_OK(sn_graph_backward_from(n.g, n.loss, (float[]){2}));
    assert_close(sn_graph_grad(n.g, n.x), (float[]){2.0f / 3, 2.0f / 3 - 2, 2.0f / 3}, 3, 1e-6f);
    sn_graph_destroy(n.g);
}

/* ---- bad labels: SN_ERR_RANGE at forward, naming the sample and the value ---- */

static void check_bad_target(loss_builder build, float bad, const char *needle) {
    loss_net n = loss_make(build, 2, (int64_t[]){3, 4}, 1, (int64_t[]){3}, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(n.g));
    loss_feed(&n, (float[]){0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, (float[]){0, 3, bad});
    assert_int_equal(sn_graph_forward(n.g), SN_ERR_RANGE);
    assert_message(needle);
    sn_graph_destroy(n.g);
}

static void test_bad_targets(void **state) {
    (void)state;
    const loss_builder builds[2] = {sn_nll, sn_cross_entropy};
    const char *names[2] = {"nll", "cross_entropy"};
    char needle[128];
    for (int b = 0; b < 2; b++) {
        snprintf(needle, sizeof needle, "%s: target[2] = 4 is not a class index", names[b]);
        check_bad_target(builds[b], 4, needle);
        check_bad_target(builds[b], -1,
                         "target[2] = -1 is not a class index (an integer in [0, 4))");
        check_bad_target(builds[b], -100, "target[2] = -100");
        check_bad_target(builds[b], 1.5f, "target[2] = 1.5 ");
        check_bad_target(builds[b], NAN, "target[2] = nan");
        check_bad_target(builds[b], INFINITY, "target[2] = inf");
    }
}

/* ---- bad shapes and reductions: errors at compile ---- */

static void check_compile_error(loss_builder build, int x_ndim, const int64_t *x_dims, int y_ndim,
                                const int64_t *y_dims, sn_reduction r, sn_status status,
                                const char *needle) {
    loss_net n = loss_make(build, x_ndim, x_dims, y_ndim, y_dims, r);
    assert_int_equal(sn_graph_compile(n.g), status);
    assert_message(needle);
    sn_graph_destroy(n.g);
}

static void test_shape_errors(void **state) {
    (void)state;
    const int64_t d23[2] = {2, 3}, d32[2] = {3, 2}, d2[1] = {2}, d3[1] = {3}, d6[1] = {6};
    check_compile_error(sn_mse, 2, d23, 2, d32, SN_REDUCTION_MEAN, SN_ERR_SHAPE,
                        "mse: input [2, 3] and target [3, 2] must have the same shape");
    check_compile_error(sn_bce, 2, d23, 1, d6, SN_REDUCTION_MEAN, SN_ERR_SHAPE,
                        "bce: input [2, 3] and target [6]");
    check_compile_error(sn_bce_with_logits, 1, d3, 1, d2, SN_REDUCTION_SUM, SN_ERR_SHAPE,
                        "bce_with_logits: input [3] and target [2]");
    check_compile_error(
        sn_nll, 2, d23, 1, d3, SN_REDUCTION_MEAN, SN_ERR_SHAPE,
        "nll: input must be (N, C) and target (N), got input [2, 3] and target [3]");
    check_compile_error(sn_cross_entropy, 1, d6, 1, d6, SN_REDUCTION_MEAN, SN_ERR_SHAPE,
                        "cross_entropy: input must be (N, C)");
    check_compile_error(sn_cross_entropy, 2, d23, 1, d2, (sn_reduction)7, SN_ERR_INVALID_ARG,
                        "cross_entropy: unknown reduction 7");
    check_compile_error(sn_mse, 1, d2, 1, d2, (sn_reduction)-1, SN_ERR_INVALID_ARG,
                        "mse: unknown reduction -1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse),
        cmocka_unit_test(test_bce),
        cmocka_unit_test(test_bce_clamp),
        cmocka_unit_test(test_bce_rejects_non_probability),
        cmocka_unit_test(test_bce_with_logits),
        cmocka_unit_test(test_bce_with_logits_large),
        cmocka_unit_test(test_nll),
        cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_cross_entropy_stable),
        cmocka_unit_test(test_loss_seed_scales),
        cmocka_unit_test(test_bad_targets),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Elementwise and shape ops through the public graph API: add (broadcasting),
 * reshape/flatten, the activations, step, softmax/log_softmax and dropout.
 * Expected values are computed by hand (and were checked against torch 1.13);
 * gradient checks by finite differences and torch golden files live elsewhere.
 */
#include <math.h>
#include <string.h>

#include "support/test_support.h"

/* ---- helpers ---- */

static void assert_close(const float *got, const float *want, size_t n, float tol) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= tol))
            fail_msg("element %zu: got %.9g, want %.9g (tol %g)", i, (double)got[i],
                     (double)want[i], (double)tol);
}

static void assert_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) fail_msg("element %zu is %g, not finite", i, (double)v[i]);
}

static void set_values(sn_graph *g, int node, const float *v, size_t n) {
    memcpy(sn_graph_value(g, node), v, n * sizeof *v);
}

/* Compiles, runs forward, and back-propagates `seed` from `out`. */
static void run(sn_graph *g, int out, const float *seed) {
    SN_ASSERT_OK(sn_graph_forward(g));
    if (seed) {
        sn_graph_zero_grad(g);
        SN_ASSERT_OK(sn_graph_backward_from(g, out, seed));
    }
}

/* Expects compile to fail with `status` and a message containing `needle`. */
static void assert_compile_fails(sn_graph *g, sn_status status, const char *needle) {
    sn_status st = sn_graph_compile(g);
    assert_int_equal(st, status);
    if (!strstr(sn_last_error(), needle))
        fail_msg("message \"%s\" does not contain \"%s\"", sn_last_error(), needle);
}

/* ---- add ---- */

/* a + b with both leaves requiring a gradient: checks y, da and db for dy = seed. */
typedef struct add_case {
    int a_ndim, b_ndim;
    int64_t a_dims[4], b_dims[4];
    const float *a, *b, *seed, *want_y, *want_da, *want_db;
} add_case;

static void check_add(const add_case *c) {
    sn_graph *g = sn_graph_create(1);
    int a = sn_input(g, "a", c->a_ndim, c->a_dims);
    int b = sn_input(g, "b", c->b_ndim, c->b_dims);
    int y = sn_add(g, a, b);
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, a, 1));
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, b, 1));
    SN_ASSERT_OK(sn_graph_compile(g));
    const size_t na = (size_t)sn_shape_numel(sn_graph_shape(g, a));
    const size_t nb = (size_t)sn_shape_numel(sn_graph_shape(g, b));
    const size_t ny = (size_t)sn_shape_numel(sn_graph_shape(g, y));
    set_values(g, a, c->a, na);
    set_values(g, b, c->b, nb);
    run(g, y, c->seed);
    assert_close(sn_graph_value(g, y), c->want_y, ny, 0.0f);
    assert_close(sn_graph_grad(g, a), c->want_da, na, 0.0f);
    assert_close(sn_graph_grad(g, b), c->want_db, nb, 0.0f);
    /* Backward accumulates: a second pass without zero_grad doubles the leaves. */
    SN_ASSERT_OK(sn_graph_backward_from(g, y, c->seed));
    for (size_t i = 0; i < nb; i++)
        assert_float_equal(sn_graph_grad(g, b)[i], 2.0f * c->want_db[i], 0.0f);
    sn_graph_destroy(g);
}

/* (2,3,2,2) + (3,1,1): b[c] is added to channel c; db[c] sums dy over n, h, w. */
static void test_add_nchw_plus_c11(void **state) {
    (void)state;
    float a[24], seed[24], want_y[24], want_db[3] = {0, 0, 0};
    const float b[3] = {10, 20, 30};
    for (int i = 0; i < 24; i++) {
        int c = (i / 4) % 3;
        a[i] = (float)i;
        seed[i] = (float)(i % 5) - 1.0f;
        want_y[i] = a[i] + b[c];
        want_db[c] += seed[i];
    }
    check_add(&(add_case){4, 3, {2, 3, 2, 2}, {3, 1, 1}, a, b, seed, want_y, seed, want_db});
}

static void test_add_nf_plus_f(void **state) {
    (void)state;
    const float seed[6] = {1, 2, 3, 4, 5, 6};
    check_add(&(add_case){2,
                          1,
                          {2, 3},
                          {3},
                          (float[]){1, 2, 3, 4, 5, 6},
                          (float[]){0.5f, -1, 2},
                          seed,
                          (float[]){1.5f, 1, 5, 4.5f, 4, 8},
                          seed,
                          (float[]){5, 7, 9}});
}

/* Both sides broadcast: (2, 1) + (1, 3) -> (2, 3). */
static void test_add_both_broadcast(void **state) {
    (void)state;
    check_add(&(add_case){2,
                          2,
                          {2, 1},
                          {1, 3},
                          (float[]){10, 20},
                          (float[]){1, 2, 3},
                          (float[]){1, 2, 3, 4, 5, 6},
                          (float[]){11, 12, 13, 21, 22, 23},
                          (float[]){6, 15},
                          (float[]){5, 7, 9}});
}

static void test_add_same_shape_and_scalar(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int a = sn_input(g, "a", 3, (int64_t[]){2, 2, 2});
    int b = sn_input(g, "b", 3, (int64_t[]){2, 2, 2});
    int s = sn_input(g, "s", 0, NULL);
    int y = sn_add(g, sn_add(g, a, b), s);
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, s, 1));
    SN_ASSERT_OK(sn_graph_compile(g));
    float av[8], bv[8], want[8], seed[8];
    for (int i = 0; i < 8; i++) {
        av[i] = (float)i;
        bv[i] = (float)(10 * i);
        want[i] = av[i] + bv[i] + 0.5f;
        seed[i] = 1.0f;
    }
    set_values(g, a, av, 8);
    set_values(g, b, bv, 8);
    set_values(g, s, (float[]){0.5f}, 1);
    run(g, y, seed);
    assert_close(sn_graph_value(g, y), want, 8, 0.0f);
    assert_close(sn_graph_grad(g, s), (float[]){8}, 1, 0.0f);
    sn_graph_destroy(g);
}

static void test_add_mismatch(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int a = sn_input(g, "a", 2, (int64_t[]){2, 3});
    int b = sn_input(g, "b", 1, (int64_t[]){2});
    sn_add(g, a, b);
    assert_compile_fails(g, SN_ERR_SHAPE, "[2, 3] and [2] do not broadcast");
    sn_graph_destroy(g);
}

/* ---- reshape / flatten ---- */

static void test_flatten_and_reshape(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 4, (int64_t[]){2, 3, 2, 2});
    int f = sn_flatten(g, x);
    int r = sn_reshape(g, f, 2, (int64_t[]){-1, 4});
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    SN_ASSERT_OK(sn_graph_compile(g));
    const sn_shape *sf = sn_graph_shape(g, f), *sr = sn_graph_shape(g, r);
    assert_int_equal(sf->ndim, 2);
    assert_int_equal(sf->dim[0], 2);
    assert_int_equal(sf->dim[1], 12);
    assert_int_equal(sr->ndim, 2);
    assert_int_equal(sr->dim[0], 6);
    assert_int_equal(sr->dim[1], 4);
    float xv[24], seed[24];
    for (int i = 0; i < 24; i++) {
        xv[i] = (float)i * 0.25f;
        seed[i] = (float)(24 - i);
    }
    set_values(g, x, xv, 24);
    run(g, r, seed);
    assert_close(sn_graph_value(g, f), xv, 24, 0.0f);
    assert_close(sn_graph_value(g, r), xv, 24, 0.0f);
    assert_close(sn_graph_grad(g, x), seed, 24, 0.0f);
    sn_graph_destroy(g);
}

static void test_reshape_errors(void **state) {
    (void)state;
    struct {
        int ndim;
        int64_t dims[5];
        const char *needle;
    } cases[] = {
        {2, {4, 2}, "(6 elements) into [4, 2] (8 elements)"},
        {2, {-1, 4}, "not a multiple of 4"},
        {2, {-1, -1}, "more than one -1"},
        {2, {3, 0}, "size 0 in dim 1"},
        {5, {1, 1, 1, 2, 3}, "0 to 4 dims"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sn_graph *g = sn_graph_create(1);
        int x = sn_input(g, "x", 2, (int64_t[]){2, 3});
        sn_reshape(g, x, cases[i].ndim, cases[i].dims);
        assert_compile_fails(g, SN_ERR_SHAPE, cases[i].needle);
        sn_graph_destroy(g);
    }
}

/* ---- activations, softmax, log_softmax: one input, one output ---- */

typedef struct unary_case {
    int (*build)(sn_graph *, int);
    int ndim;
    int64_t dims[4];
    const float *x, *seed, *want_y, *want_dx;
    float tol;
} unary_case;

static void check_unary(const unary_case *c) {
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", c->ndim, c->dims);
    int y = c->build(g, x);
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    SN_ASSERT_OK(sn_graph_compile(g));
    const size_t n = (size_t)sn_shape_numel(sn_graph_shape(g, x));
    set_values(g, x, c->x, n);
    run(g, y, c->seed);
    assert_close(sn_graph_value(g, y), c->want_y, n, c->tol);
    assert_close(sn_graph_grad(g, x), c->want_dx, n, c->tol);
    sn_graph_destroy(g);
}

/* x = {-2, -0.5, 0, 0.5, 2} through one activation; checks y and dx for dy = 1. */
static void check_activation(int (*build)(sn_graph *, int), const float *want_y,
                             const float *want_dx, float tol) {
    check_unary(&(unary_case){build,
                              1,
                              {5},
                              (float[]){-2, -0.5f, 0, 0.5f, 2},
                              (float[]){1, 1, 1, 1, 1},
                              want_y,
                              want_dx,
                              tol});
}

static int build_leaky(sn_graph *g, int x) {
    return sn_leaky_relu(g, x, 0.1f);
}

static void test_relu(void **state) {
    (void)state;
    /* The gradient at exactly 0 is 0, as torch's threshold_backward. */
    check_activation(sn_relu, (float[]){0, 0, 0, 0.5f, 2}, (float[]){0, 0, 0, 1, 1}, 0.0f);
}

static void test_leaky_relu(void **state) {
    (void)state;
    check_activation(build_leaky, (float[]){-0.2f, -0.05f, 0, 0.5f, 2},
                     (float[]){0.1f, 0.1f, 0.1f, 1, 1}, 1e-7f);
}

static void test_sigmoid(void **state) {
    (void)state;
    /* 1/(1+e^2) = 0.11920292, 1/(1+e^0.5) = 0.37754067; y'(x) = y (1 - y). */
    check_activation(sn_sigmoid,
                     (float[]){0.11920292f, 0.37754067f, 0.5f, 0.62245933f, 0.88079708f},
                     (float[]){0.10499359f, 0.23500371f, 0.25f, 0.23500371f, 0.10499359f}, 2e-7f);
}

static void test_tanh(void **state) {
    (void)state;
    /* tanh 2 = 0.96402758, tanh 0.5 = 0.46211716; y'(x) = 1 - y^2. */
    check_activation(sn_tanh, (float[]){-0.96402758f, -0.46211716f, 0, 0.46211716f, 0.96402758f},
                     (float[]){0.07065082f, 0.78644773f, 1, 0.78644773f, 0.07065082f}, 2e-7f);
}

static void test_sigmoid_tanh_saturate(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 1, (int64_t[]){4});
    int s = sn_sigmoid(g, x), t = sn_tanh(g, x);
    SN_ASSERT_OK(sn_graph_compile(g));
    set_values(g, x, (float[]){-1000, -100, 100, 1000}, 4);
    SN_ASSERT_OK(sn_graph_forward(g));
    const float *sv = sn_graph_value(g, s), *tv = sn_graph_value(g, t);
    assert_finite(sv, 4);
    assert_close(sv, (float[]){0, 0, 1, 1}, 4, 1e-30f);
    assert_true(sv[1] >= 0.0f && sv[1] < 1e-40f); /* e^-100, a subnormal or 0 */
    assert_close(tv, (float[]){-1, -1, 1, 1}, 4, 0.0f);
    sn_graph_destroy(g);
}

static void test_step(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 1, (int64_t[]){5});
    int y = sn_step(g, x);
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    SN_ASSERT_OK(sn_graph_compile(g));
    set_values(g, x, (float[]){-2, -1e-7f, 0, 1e-7f, 3}, 5);
    SN_ASSERT_OK(sn_graph_forward(g));
    /* f(x) = 1 if x >= 0 else 0: the perceptron's step, 1 at exactly 0. */
    assert_close(sn_graph_value(g, y), (float[]){0, 0, 1, 1, 1}, 5, 0.0f);
    /* No gradient flows through step: the node has no gradient buffer, and a
     * backward from it leaves x's gradient at zero. */
    assert_null(sn_graph_grad(g, y));
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward_from(g, y, (float[]){1, 1, 1, 1, 1}));
    assert_close(sn_graph_grad(g, x), (float[]){0, 0, 0, 0, 0}, 5, 0.0f);
    sn_graph_destroy(g);
}

/* ---- softmax / log_softmax ---- */

/* softmax(1,2,3) = e^k / (e + e^2 + e^3) = p; with dy = e_0,
 * dx = y (dy - sum dy y) = (p0 (1 - p0), -p1 p0, -p2 p0). */
static void test_softmax_values_and_grad(void **state) {
    (void)state;
    const float p[3] = {0.09003057f, 0.24472847f, 0.66524096f};
    check_unary(&(unary_case){sn_softmax,
                              2,
                              {1, 3},
                              (float[]){1, 2, 3},
                              (float[]){1, 0, 0},
                              p,
                              (float[]){p[0] * (1 - p[0]), -p[1] * p[0], -p[2] * p[0]},
                              1e-7f});
}

/* log(e + e^2 + e^3) = 3.40760596; with dy = e_0, dx = dy - p sum dy = e_0 - p. */
static void test_log_softmax_values_and_grad(void **state) {
    (void)state;
    check_unary(&(unary_case){sn_log_softmax,
                              2,
                              {1, 3},
                              (float[]){1, 2, 3},
                              (float[]){1, 0, 0},
                              (float[]){-2.40760596f, -1.40760596f, -0.40760596f},
                              (float[]){1 - 0.09003057f, -0.24472847f, -0.66524096f},
                              2e-7f});
}

/* Rows along dim 1 of (N, C) and (N, C, H, W) sum to 1, exp(log_softmax) ==
 * softmax, and inputs of +-1000 stay finite. */
static void check_rows(int ndim, const int64_t *dims, const float *xv) {
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", ndim, dims);
    int sm = sn_softmax(g, x), ls = sn_log_softmax(g, x);
    SN_ASSERT_OK(sn_graph_compile(g));
    const sn_shape *s = sn_graph_shape(g, x);
    const int64_t n = s->dim[0], c = s->dim[1], numel = sn_shape_numel(s), inner = numel / n / c;
    set_values(g, x, xv, (size_t)numel);
    SN_ASSERT_OK(sn_graph_forward(g));
    const float *p = sn_graph_value(g, sm), *lp = sn_graph_value(g, ls);
    assert_finite(p, (size_t)numel);
    assert_finite(lp, (size_t)numel);
    for (int64_t o = 0; o < n; o++)
        for (int64_t i = 0; i < inner; i++) {
            double sum = 0;
            for (int64_t k = 0; k < c; k++) {
                int64_t at = (o * c + k) * inner + i;
                sum += p[at];
                assert_true(p[at] >= 0.0f && p[at] <= 1.0f);
                assert_true(lp[at] <= 0.0f);
                assert_float_equal(expf(lp[at]), p[at], 1e-6f);
            }
            assert_float_equal(sum, 1.0, 1e-6);
        }
    sn_graph_destroy(g);
}

static void test_softmax_rows(void **state) {
    (void)state;
    float xv[2 * 3 * 2 * 2];
    for (int i = 0; i < 24; i++) xv[i] = sinf((float)i) * 3.0f;
    check_rows(2, (int64_t[]){4, 6}, xv);
    check_rows(4, (int64_t[]){2, 3, 2, 2}, xv);
}

static void test_softmax_stable(void **state) {
    (void)state;
    check_rows(2, (int64_t[]){2, 3}, (float[]){1000, -1000, 0, -1000, -1000, -1000});
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 2, (int64_t[]){1, 3});
    int sm = sn_softmax(g, x), ls = sn_log_softmax(g, x);
    SN_ASSERT_OK(sn_graph_compile(g));
    set_values(g, x, (float[]){1000, -1000, 0}, 3);
    SN_ASSERT_OK(sn_graph_forward(g));
    assert_close(sn_graph_value(g, sm), (float[]){1, 0, 0}, 3, 0.0f);
    assert_close(sn_graph_value(g, ls), (float[]){0, -2000, -1000}, 3, 0.0f);
    sn_graph_destroy(g);
}

static void test_softmax_rejects_1d(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    sn_log_softmax(g, sn_input(g, "x", 1, (int64_t[]){5}));
    assert_compile_fails(g, SN_ERR_SHAPE, "log_softmax: input must be (N, C)");
    sn_graph_destroy(g);
}

/* ---- dropout ---- */

typedef struct dropout_net {
    sn_graph *g;
    int x, y;
} dropout_net;

/* x (n) filled with ones, y = dropout(x, p), x requiring a gradient. */
static dropout_net dropout_make(uint64_t seed, int64_t n, float p) {
    dropout_net d;
    d.g = sn_graph_create(seed);
    d.x = sn_input(d.g, "x", 1, &n);
    d.y = sn_dropout(d.g, d.x, p);
    SN_ASSERT_OK(sn_graph_set_requires_grad(d.g, d.x, 1));
    SN_ASSERT_OK(sn_graph_compile(d.g));
    float *xv = sn_graph_value(d.g, d.x);
    for (int64_t i = 0; i < n; i++) xv[i] = 1.0f;
    return d;
}

static void test_dropout_eval_identity(void **state) {
    (void)state;
    dropout_net d = dropout_make(3, 5, 0.5f);
    set_values(d.g, d.x, (float[]){1, -2, 3, -4, 5}, 5);
    sn_graph_set_training(d.g, 0);
    run(d.g, d.y, (float[]){5, 4, 3, 2, 1});
    assert_close(sn_graph_value(d.g, d.y), (float[]){1, -2, 3, -4, 5}, 5, 0.0f);
    assert_close(sn_graph_grad(d.g, d.x), (float[]){5, 4, 3, 2, 1}, 5, 0.0f);
    sn_graph_destroy(d.g);
}

static void test_dropout_p0_p1(void **state) {
    (void)state;
    const float seed[4] = {1, 2, 3, 4};
    dropout_net d0 = dropout_make(3, 4, 0.0f);
    set_values(d0.g, d0.x, (float[]){1, -2, 3, -4}, 4);
    run(d0.g, d0.y, seed);
    assert_close(sn_graph_value(d0.g, d0.y), (float[]){1, -2, 3, -4}, 4, 0.0f);
    assert_close(sn_graph_grad(d0.g, d0.x), seed, 4, 0.0f);
    sn_graph_destroy(d0.g);

    dropout_net d1 = dropout_make(3, 4, 1.0f);
    set_values(d1.g, d1.x, (float[]){1, -2, 3, -4}, 4);
    run(d1.g, d1.y, seed);
    assert_close(sn_graph_value(d1.g, d1.y), (float[]){0, 0, 0, 0}, 4, 0.0f);
    assert_close(sn_graph_grad(d1.g, d1.x), (float[]){0, 0, 0, 0}, 4, 0.0f);
    sn_graph_destroy(d1.g);
}

/* On 100000 ones with p = 0.3: every output is 0 or exactly 1/(1-p), the kept
 * fraction is 1 - p within 5 standard deviations (sqrt(p(1-p)/n) = 0.00145),
 * and backward multiplies dy by the same mask. */
static void test_dropout_statistics_and_mask(void **state) {
    (void)state;
    enum { N = 100000 };
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    dropout_net d = dropout_make(11, N, p);
    static float seed[N];
    for (int i = 0; i < N; i++) seed[i] = (float)(i % 7) + 1.0f;
    run(d.g, d.y, seed);
    const float *y = sn_graph_value(d.g, d.y), *dx = sn_graph_grad(d.g, d.x);
    int kept = 0;
    for (int i = 0; i < N; i++) {
        if (y[i] != 0.0f && y[i] != scale)
            fail_msg("y[%d] = %.9g, not 0 or %.9g", i, (double)y[i], (double)scale);
        kept += y[i] != 0.0f;
        if (dx[i] != seed[i] * y[i])
            fail_msg("dx[%d] = %g but dy * mask = %g", i, (double)dx[i], (double)(seed[i] * y[i]));
    }
    assert_float_equal((double)kept / N, 1.0 - p, 5 * 0.00145);
    sn_graph_destroy(d.g);
}

/* Same seed, same masks; another seed, or the next step, a different mask. */
static void test_dropout_determinism(void **state) {
    (void)state;
    enum { N = 256 };
    dropout_net a = dropout_make(42, N, 0.5f), b = dropout_make(42, N, 0.5f);
    dropout_net c = dropout_make(43, N, 0.5f);
    SN_ASSERT_OK(sn_graph_forward(a.g));
    SN_ASSERT_OK(sn_graph_forward(b.g));
    SN_ASSERT_OK(sn_graph_forward(c.g));
    const float *ya = sn_graph_value(a.g, a.y), *yb = sn_graph_value(b.g, b.y);
    assert_memory_equal(ya, yb, N * sizeof(float));
    assert_memory_not_equal(ya, sn_graph_value(c.g, c.y), N * sizeof(float));
    float first[N];
    memcpy(first, ya, sizeof first);
    SN_ASSERT_OK(sn_graph_forward(a.g));
    assert_memory_not_equal(first, sn_graph_value(a.g, a.y), sizeof first);
    sn_graph_destroy(a.g);
    sn_graph_destroy(b.g);
    sn_graph_destroy(c.g);
}

/* The mask is fixed by the graph's dropout stream: element i is kept where
 * sn_rng_uniform_at(key, i) >= p, key the stream's next u64 (one per forward
 * call), whatever the thread count. 100,003 elements: several pool chunks. */
static void test_dropout_draws_from_stream_key(void **state) {
    (void)state;
    enum { N = 100003 };
    const float p = 0.4f, scale = 1.0f / (1.0f - p);
    for (int threads = 1; threads <= 2; threads++) {
        SN_ASSERT_OK(sn_set_threads(threads));
        dropout_net d = dropout_make(5, N, p);
        for (int call = 0; call < 2; call++) {
            sn_rng stream = *sn_graph_rng(d.g);
            const uint64_t key = sn_rng_u64(&stream);
            SN_ASSERT_OK(sn_graph_forward(d.g));
            assert_memory_equal(&stream, sn_graph_rng(d.g), sizeof stream);
            const float *y = sn_graph_value(d.g, d.y);
            for (int64_t i = 0; i < N; i++) {
                const float want = sn_rng_uniform_at(key, (uint64_t)i) >= p ? scale : 0.0f;
                if (y[i] != want)
                    fail_msg("%d threads, call %d: y[%lld] = %g, want %g", threads, call,
                             (long long)i, (double)y[i], (double)want);
            }
        }
        sn_graph_destroy(d.g);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

static void test_dropout_bad_p(void **state) {
    (void)state;
    const float bad[] = {-0.1f, 1.5f, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sn_graph *g = sn_graph_create(1);
        sn_dropout(g, sn_input(g, "x", 1, (int64_t[]){4}), bad[i]);
        assert_compile_fails(g, SN_ERR_INVALID_ARG,
                             "dropout: probability has to be between 0 and 1");
        sn_graph_destroy(g);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_nchw_plus_c11),
        cmocka_unit_test(test_add_nf_plus_f),
        cmocka_unit_test(test_add_both_broadcast),
        cmocka_unit_test(test_add_same_shape_and_scalar),
        cmocka_unit_test(test_add_mismatch),
        cmocka_unit_test(test_flatten_and_reshape),
        cmocka_unit_test(test_reshape_errors),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_leaky_relu),
        cmocka_unit_test(test_sigmoid),
        cmocka_unit_test(test_tanh),
        cmocka_unit_test(test_sigmoid_tanh_saturate),
        cmocka_unit_test(test_step),
        cmocka_unit_test(test_softmax_values_and_grad),
        cmocka_unit_test(test_log_softmax_values_and_grad),
        cmocka_unit_test(test_softmax_rows),
        cmocka_unit_test(test_softmax_stable),
        cmocka_unit_test(test_softmax_rejects_1d),
        cmocka_unit_test(test_dropout_eval_identity),
        cmocka_unit_test(test_dropout_p0_p1),
        cmocka_unit_test(test_dropout_statistics_and_mask),
        cmocka_unit_test(test_dropout_determinism),
        cmocka_unit_test(test_dropout_draws_from_stream_key),
        cmocka_unit_test(test_dropout_bad_p),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

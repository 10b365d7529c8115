/*
 * MaxPool2d(2) (2x2 windows, stride 2, no padding) on rows of 4 or more
 * outputs, where pool.c runs four windows at a time in a vector, the last
 * block of a row moved back to end at the row's end (rows of 4, 5, 7 and 14
 * outputs below: LeNet-5's pools have 14 and 5). Every output value, bit for
 * bit, and every arg-max (read back through backward, which sends a distinct
 * seed to each window's arg-max) must be those of a plain window walk in
 * row-major order (ATen's cpu_max_pool): the first maximum wins ties, a NaN
 * wins over everything (the last NaN if several), +0 and -0 tie. The inputs
 * are full of such cases: few distinct values, both zeros, NaN, -inf.
 * Negative control: the same check against a walk where the LAST maximum
 * wins ties must fail.
 */
#include "support/test_support.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pool_shape {
    int n, c, h, w;
} pool_shape;

/* The window walk: y (N, C, H/2, W/2), arg (same: index in x of the
 * maximum). last_wins = 1 is the deliberately wrong tie rule. */
static void walk(const pool_shape *s, const float *x, float *y, int64_t *arg, int last_wins) {
    const int oh_n = s->h / 2, ow_n = s->w / 2;
    for (int plane = 0; plane < s->n * s->c; plane++)
        for (int oh = 0; oh < oh_n; oh++)
            for (int ow = 0; ow < ow_n; ow++) {
                const int64_t o = ((int64_t)plane * oh_n + oh) * ow_n + ow;
                const int64_t start = ((int64_t)plane * s->h + 2 * oh) * s->w + 2 * ow;
                int64_t best_at = start;
                for (int e = 1; e < 4; e++) { /* (0,1), (1,0), (1,1) */
                    const int64_t at = start + (e / 2) * s->w + e % 2;
                    const float v = x[at], best = x[best_at];
                    const int take = v > best || isnan(v) || (last_wins && v == best);
                    if (take) best_at = at;
                }
                y[o] = x[best_at];
                arg[o] = best_at;
            }
}

/* Values with many ties: small integers, both zeros, now and then NaN or -inf. */
static void fill(float *x, int64_t n, uint64_t seed) {
    sn_rng r;
    sn_rng_seed(&r, seed, 3);
    for (int64_t i = 0; i < n; i++) {
        const uint64_t u = sn_rng_below(&r, 64);
        x[i] = u == 0 ? NAN : u == 1 ? -INFINITY : u < 8 ? -0.0f : u < 16 ? 0.0f : (float)(u % 5) - 2;
    }
}

/* Runs the op and compares with the walk; returns the number of outputs
 * whose value bits or arg-max differ. */
static int64_t mismatches(const pool_shape *s, int threads, int last_wins) {
    SN_ASSERT_OK(sn_set_threads(threads));
    sn_graph *g = sn_graph_create(1);
    const int x = sn_input(g, "x", 4, (int64_t[]){s->n, s->c, s->h, s->w});
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    const int y = sn_maxpool2d(g, x, 2, 2, 2, 2, 0, 0);
    SN_ASSERT_OK(sn_graph_compile(g));
    const int64_t nx = (int64_t)s->n * s->c * s->h * s->w;
    const int64_t ny = (int64_t)s->n * s->c * (s->h / 2) * (s->w / 2);
    float *xv = sn_graph_value(g, x);
    fill(xv, nx, (uint64_t)(s->w * 100 + s->h));
    float *y_ref = malloc((size_t)ny * sizeof *y_ref);
    int64_t *arg_ref = malloc((size_t)ny * sizeof *arg_ref);
    assert_non_null(y_ref);
    assert_non_null(arg_ref);
    walk(s, xv, y_ref, arg_ref, last_wins);

    SN_ASSERT_OK(sn_graph_forward(g));
    /* Seed output o with o + 1: each dx element then names the windows whose
     * arg-max it is (no two 2x2/2 windows share an element). */
    float *seed = malloc((size_t)ny * sizeof *seed);
    assert_non_null(seed);
    for (int64_t o = 0; o < ny; o++) seed[o] = (float)(o + 1);
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward_from(g, y, seed));
    const float *yv = sn_graph_value(g, y), *dx = sn_graph_grad(g, x);
    int64_t bad = 0;
    for (int64_t o = 0; o < ny; o++)
        bad += memcmp(&yv[o], &y_ref[o], sizeof(float)) != 0 || dx[arg_ref[o]] != seed[o];
    free(seed);
    free(y_ref);
    free(arg_ref);
    sn_graph_destroy(g);
    return bad;
}

static const pool_shape shapes[] = {
    {3, 2, 8, 8},   /* rows of 4 outputs: one block */
    {64, 16, 10, 10}, /* LeNet-5's second pool: 5 = a block and a moved-back block */
    {2, 3, 14, 15}, /* 7 outputs, odd width (the last column is in no window) */
    {4, 6, 28, 28}, /* LeNet-5's first pool: 14 outputs */
    {1, 1, 6, 4},   /* 2 outputs: the scalar walk */
};

static void test_values_and_argmax_match_the_walk(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int threads = 1; threads <= 2; threads++) {
            const int64_t bad = mismatches(&shapes[i], threads, 0);
            if (bad)
                fail_msg("%dx%dx%dx%d, %d threads: %lld outputs differ from the window walk",
                         shapes[i].n, shapes[i].c, shapes[i].h, shapes[i].w, threads,
                         (long long)bad);
        }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* Negative control: with ties this common, a last-wins walk disagrees. */
static void test_wrong_tie_rule_is_caught(void **state) {
    (void)state;
    for (size_t i = 0; i < 4; i++) assert_true(mismatches(&shapes[i], 1, 1) > 0);
    SN_ASSERT_OK(sn_set_threads(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_argmax_match_the_walk),
        cmocka_unit_test(test_wrong_tie_rule_is_caught),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

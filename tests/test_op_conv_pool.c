/*
 * conv2d, maxpool2d and avgpool2d through the public graph API:
 *   - the course's worked examples, exactly (224x224x3 * 5x5x3 -> 220x220x1;
 *     the 3x3 input padded by 1 with stride (3, 2) giving [[0,8],[6,8]]; max
 *     pooling's gradient going to the arg-max only, the first on ties);
 *   - conv2d forward and backward (dx, dW, db) against a direct 7-loop
 *     convolution in double over strides, paddings, kernels 1x1..5x5, C_in
 *     1..3, C_out up to 8, batch 1 and 3, with and without bias; backward run
 *     twice after one forward must accumulate twice the gradients;
 *   - max and average pooling (both count_include_pad) against direct loops;
 *   - every shape error fails sn_graph_compile with SN_ERR_SHAPE and a message
 *     naming the node.
 * Finite-difference checks and PyTorch golden files live in other tests.
 */
#include "support/test_support.h"
#include "support/graph_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

static void fill_uniform(sn_rng *rng, float *v, size_t count) {
    for (size_t i = 0; i < count; i++) v[i] = 2.0f * sn_rng_uniform(rng) - 1.0f;
}

static size_t numel_of(sn_graph *g, int node) {
    return (size_t)sn_shape_numel(sn_graph_shape(g, node));
}

/* Largest |got - want| over count elements. */
static double max_difference(const float *got, const double *want, size_t count) {
    double worst = 0.0;
    for (size_t i = 0; i < count; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (isnan(d)) return NAN; /* fails every comparison */
        if (d > worst) worst = d;
    }
    return worst;
}

static void assert_shape4(const sn_shape *s, int64_t n, int64_t c, int64_t h, int64_t w) {
    assert_non_null(s);
    assert_int_equal(s->ndim, 4);
    if (s->dim[0] != n || s->dim[1] != c || s->dim[2] != h || s->dim[3] != w) {
        char buf[64];
        fail_msg("shape %s, expected [%lld, %lld, %lld, %lld]", sn_shape_format(s, buf, sizeof buf),
                 (long long)n, (long long)c, (long long)h, (long long)w);
    }
}

static double *zeroed_doubles(size_t count) {
    double *v = calloc(count ? count : 1, sizeof *v);
    assert_non_null(v);
    return v;
}

/* ---- conv2d reference: the definition, in double ---- */

typedef struct conv_case {
    int n, c_in, h, w, c_out, kh, kw, sh, sw, ph, pw, bias;
} conv_case;

static int conv_out_h(const conv_case *c) {
    return (c->h + 2 * c->ph - c->kh) / c->sh + 1;
}
static int conv_out_w(const conv_case *c) {
    return (c->w + 2 * c->pw - c->kw) / c->sw + 1;
}

/* x[n, ci, ih, iw] read by output (oh, ow) through kernel tap (ki, kj), or -1 in the padding. */
static long conv_input_index(const conv_case *c, int n, int ci, int oh, int ow, int ki, int kj) {
    const int ih = oh * c->sh - c->ph + ki, iw = ow * c->sw - c->pw + kj;
    if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) return -1;
    return (((long)n * c->c_in + ci) * c->h + ih) * c->w + iw;
}

/* y = conv(x, w) + b, and for a given dy: dx, dw, db (all double, all (+)= from zero). */
static void conv_reference(const conv_case *c, const float *x, const float *w, const float *b,
                           const float *dy, double *y, double *dx, double *dw, double *db) {
    const int oh_n = conv_out_h(c), ow_n = conv_out_w(c);
    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->c_out; co++)
            for (int oh = 0; oh < oh_n; oh++)
                for (int ow = 0; ow < ow_n; ow++) {
                    const long o = (((long)n * c->c_out + co) * oh_n + oh) * ow_n + ow;
                    double sum = b ? b[co] : 0.0;
                    for (int ci = 0; ci < c->c_in; ci++)
                        for (int ki = 0; ki < c->kh; ki++)
                            for (int kj = 0; kj < c->kw; kj++) {
                                const long xi = conv_input_index(c, n, ci, oh, ow, ki, kj);
                                if (xi < 0) continue;
                                const long wi =
                                    ((long)(co * c->c_in + ci) * c->kh + ki) * c->kw + kj;
                                sum += (double)w[wi] * x[xi];
                                dx[xi] += (double)w[wi] * dy[o];
                                dw[wi] += (double)x[xi] * dy[o];
                            }
                    y[o] = sum;
                    db[co] += dy[o];
                }
}

static const conv_case conv_cases[] = {
    /* n c_in h  w c_out kh kw sh sw ph pw bias */
    {1, 1, 5, 5, 1, 1, 1, 1, 1, 0, 0, 0},   /* 1x1, the identity up to a scale */
    {1, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1},   /* "same" padding */
    {3, 2, 9, 8, 8, 3, 2, 3, 2, 1, 0, 1},   /* stride (3, 2), padding (1, 0) */
    {3, 3, 6, 10, 5, 5, 5, 1, 2, 0, 2, 0},  /* padding (0, 2), 5x5 */
    {2, 1, 8, 8, 6, 5, 5, 2, 2, 2, 2, 1},   /* LeNet-like */
    {3, 3, 5, 7, 8, 4, 2, 2, 3, 1, 1, 1},   /* even kernel, stride (2, 3) */
    {1, 2, 4, 4, 3, 2, 2, 2, 2, 0, 0, 0},   /* non-overlapping patches */
    {3, 1, 12, 11, 2, 1, 1, 3, 2, 1, 0, 1}, /* 1x1 kernel reading padding */
    {1, 3, 5, 5, 2, 5, 5, 1, 1, 0, 0, 1},   /* kernel = input: one output */
    {3, 2, 3, 4, 7, 3, 3, 3, 3, 2, 1, 0},   /* padding wider than the image rows */
    {2, 2, 3, 1, 3, 3, 3, 1, 2, 1, 1, 1},   /* width 1: kernel columns 0, 2 read only padding */
    {37, 2, 6, 5, 3, 3, 3, 2, 1, 1, 0, 1},  /* 13 backward chunks of 3 images, the last of 1 */
    {20, 3, 4, 5, 4, 1, 1, 1, 1, 0, 0, 1},  /* 1x1, stride 1, no padding: col is x itself */
};

typedef struct conv_graph {
    sn_graph *g;
    int x, w, b, y;
} conv_graph;

static conv_graph build_conv(const conv_case *c, int x_requires_grad) {
    conv_graph cg = {sn_graph_create(1), SN_NONE, SN_NONE, SN_NONE, SN_NONE};
    assert_non_null(cg.g);
    cg.x = sn_input(cg.g, "x", 4, (int64_t[]){c->n, c->c_in, c->h, c->w});
    cg.w = sn_param(cg.g, "0.weight", 4, (int64_t[]){c->c_out, c->c_in, c->kh, c->kw});
    if (c->bias) cg.b = sn_param(cg.g, "0.bias", 1, (int64_t[]){c->c_out});
    if (x_requires_grad) SN_ASSERT_OK(sn_graph_set_requires_grad(cg.g, cg.x, 1));
    cg.y = sn_conv2d(cg.g, cg.x, cg.w, cg.b, c->sh, c->sw, c->ph, c->pw);
    SN_ASSERT_OK(sn_graph_compile(cg.g));
    return cg;
}

/* Forward, then backward twice: the second must double every gradient. */
static void check_conv_case(const conv_case *c, int x_requires_grad, double *worst_fwd,
                            double *worst_bwd) {
    conv_graph cg = build_conv(c, x_requires_grad);
    sn_graph *g = cg.g;
    assert_shape4(sn_graph_shape(g, cg.y), c->n, c->c_out, conv_out_h(c), conv_out_w(c));

    sn_rng rng;
    sn_rng_seed(&rng, 100 + (uint64_t)c->c_out, 0);
    const size_t nx = numel_of(g, cg.x), nw = numel_of(g, cg.w), ny = numel_of(g, cg.y);
    float *x = sn_graph_value(g, cg.x), *w = sn_graph_value(g, cg.w);
    float *b = c->bias ? sn_graph_value(g, cg.b) : NULL;
    fill_uniform(&rng, x, nx);
    fill_uniform(&rng, w, nw);
    if (b) fill_uniform(&rng, b, (size_t)c->c_out);
    float *dy = malloc(ny * sizeof *dy);
    assert_non_null(dy);
    fill_uniform(&rng, dy, ny);

    double *y_ref = zeroed_doubles(ny), *dx_ref = zeroed_doubles(nx), *dw_ref = zeroed_doubles(nw);
    double *db_ref = zeroed_doubles((size_t)c->c_out);
    conv_reference(c, x, w, b, dy, y_ref, dx_ref, dw_ref, db_ref);

    SN_ASSERT_OK(sn_graph_forward(g));
    const double fwd = max_difference(sn_graph_value(g, cg.y), y_ref, ny);
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward_from(g, cg.y, dy));
    double bwd = max_difference(sn_graph_grad(g, cg.w), dw_ref, nw);
    if (b) bwd = fmax(bwd, max_difference(sn_graph_grad(g, cg.b), db_ref, (size_t)c->c_out));
    if (x_requires_grad)
        bwd = fmax(bwd, max_difference(sn_graph_grad(g, cg.x), dx_ref, nx));
    else
        assert_null(sn_graph_grad(g, cg.x));

    /* Second backward, same forward: gradients accumulate, col is rebuilt if dx used it. */
    SN_ASSERT_OK(sn_graph_backward_from(g, cg.y, dy));
    for (size_t i = 0; i < nw; i++) dw_ref[i] *= 2.0;
    for (size_t i = 0; i < nx; i++) dx_ref[i] *= 2.0;
    for (int i = 0; i < c->c_out; i++) db_ref[i] *= 2.0;
    double bwd2 = max_difference(sn_graph_grad(g, cg.w), dw_ref, nw);
    if (b) bwd2 = fmax(bwd2, max_difference(sn_graph_grad(g, cg.b), db_ref, (size_t)c->c_out));
    if (x_requires_grad) bwd2 = fmax(bwd2, max_difference(sn_graph_grad(g, cg.x), dx_ref, nx));

    const double tol = 1e-4;
    if (!(fwd <= tol && bwd <= tol && bwd2 <= 2 * tol))
        fail_msg("conv2d case n=%d c_in=%d %dx%d c_out=%d k=%dx%d s=(%d,%d) p=(%d,%d) bias=%d "
                 "dx=%d: forward %.3g, backward %.3g, second backward %.3g",
                 c->n, c->c_in, c->h, c->w, c->c_out, c->kh, c->kw, c->sh, c->sw, c->ph, c->pw,
                 c->bias, x_requires_grad, fwd, bwd, bwd2);
    *worst_fwd = fmax(*worst_fwd, fwd);
    *worst_bwd = fmax(*worst_bwd, fmax(bwd, bwd2 / 2));
    free(dy);
    free(y_ref);
    free(dx_ref);
    free(dw_ref);
    free(db_ref);
    sn_graph_destroy(g);
}

static void test_conv2d_matches_direct_loops(void **state) {
    (void)state;
    double worst_fwd = 0.0, worst_bwd = 0.0;
    const int n_cases = (int)(sizeof conv_cases / sizeof conv_cases[0]);
    for (int i = 0; i < n_cases; i++) {
        check_conv_case(&conv_cases[i], 1, &worst_fwd, &worst_bwd);
        check_conv_case(&conv_cases[i], 0, &worst_fwd, &worst_bwd); /* dx not requested */
    }
    printf("conv2d: %d configurations x 2, largest difference forward %.3g, backward %.3g\n",
           n_cases, worst_fwd, worst_bwd);
}

/* ---- conv2d with 1, 2 and 3 threads: the same bits ---- */

/* conv2d splits backward into chunks of images by shape (at most 16, fewer
 * when C_out*K is large), sums dW and db per chunk and adds the chunks in
 * order; forward runs per image. Cases: chunk counts that are not multiples
 * of 2 or 3, the last chunk shorter, stride 2 with padding, batch 1, the 1x1
 * path, a K of 288 as in the benchmark CNN, and partials capped by memory
 * (C_out*K = 256*1152 floats per slot: 14 chunks at most). */
static const conv_case thread_cases[] = {
    /* n  c_in h   w c_out kh kw sh sw ph pw bias */
    {17, 3, 9, 8, 5, 3, 3, 2, 2, 1, 1, 1},     /* 9 chunks of 2 images, the last of 1 */
    {7, 2, 6, 7, 4, 3, 2, 1, 2, 0, 1, 0},      /* 7 chunks, no bias */
    {1, 3, 8, 8, 4, 3, 3, 2, 2, 1, 1, 1},      /* batch 1 */
    {5, 4, 6, 6, 3, 1, 1, 1, 1, 0, 0, 1},      /* 1x1: col is x */
    {10, 32, 8, 8, 64, 3, 3, 1, 1, 0, 0, 1},   /* K = 288 */
    {29, 128, 3, 3, 256, 3, 3, 1, 1, 1, 1, 1}, /* 10 chunks of 3 (cap 14), the last of 2 */
};

/* y, dx, dW and db (dx and db when they exist) of one forward and backward,
 * back to back in one malloc'd array of *count floats; the graph compiled
 * for `threads` threads, at batch c->n, or compiled at batch `compile_n` and
 * then set to c->n when compile_n > c->n. The inputs depend on c and the seed only. */
static float *conv_run_threads(const conv_case *c, int threads, int compile_n, size_t *count) {
    SN_ASSERT_OK(sn_set_threads(threads));
    conv_case big = *c;
    if (compile_n > c->n) big.n = compile_n;
    conv_graph cg = build_conv(&big, 1);
    sn_graph *g = cg.g;
    if (big.n != c->n) SN_ASSERT_OK(sn_graph_set_batch(g, c->n));
    assert_shape4(sn_graph_shape(g, cg.y), c->n, c->c_out, conv_out_h(c), conv_out_w(c));

    sn_rng rng;
    sn_rng_seed(&rng, 7, 1);
    const size_t nx = numel_of(g, cg.x), nw = numel_of(g, cg.w), ny = numel_of(g, cg.y);
    const size_t nb = c->bias ? (size_t)c->c_out : 0;
    fill_uniform(&rng, sn_graph_value(g, cg.x), nx);
    fill_uniform(&rng, sn_graph_value(g, cg.w), nw);
    if (nb) fill_uniform(&rng, sn_graph_value(g, cg.b), nb);
    float *dy = malloc(ny * sizeof *dy);
    assert_non_null(dy);
    fill_uniform(&rng, dy, ny);

    float *out = sn_test_forward_backward(g, cg.y, dy, (const int[]){cg.x, cg.w, cg.b}, 3, count);
    free(dy);
    sn_graph_destroy(g);
    return out;
}

static void test_conv2d_same_bits_for_any_thread_count(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof thread_cases / sizeof thread_cases[0]; i++) {
        const conv_case *c = &thread_cases[i];
        size_t count1, count;
        float *one = conv_run_threads(c, 1, 0, &count1);
        /* Bit equality of garbage would prove nothing: the case must also
         * match the definition (its own inputs, 1 thread) and not be zeros. */
        double worst = 0.0, worst_bwd = 0.0;
        check_conv_case(c, 1, &worst, &worst_bwd);
        size_t nonzero = 0;
        for (size_t j = 0; j < count1; j++) nonzero += one[j] != 0.0f;
        assert_true(nonzero > count1 / 2);
        for (int threads = 2; threads <= 3; threads++) {
            float *many = conv_run_threads(c, threads, 0, &count);
            assert_int_equal(count, count1);
            if (memcmp(one, many, count * sizeof *one) != 0)
                fail_msg("conv2d case %zu: %d threads differ from 1 thread", i, threads);
            free(many);
        }
        /* Compiled for a larger batch (more images per chunk), then set to
         * this one: the chunking follows the batch in use, so the same bits. */
        float *reset = conv_run_threads(c, 2, 2 * c->n + 3, &count);
        assert_int_equal(count, count1);
        if (memcmp(one, reset, count * sizeof *one) != 0)
            fail_msg("conv2d case %zu: set_batch from %d differs from a graph compiled at %d", i,
                     2 * c->n + 3, c->n);
        free(reset);
        free(one);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* ---- the course's worked examples ---- */

/* A 224x224x3 image and one 5x5x3 kernel give a 220x220x1 map (224 - 5 + 1). */
static void test_course_224_by_5x5x3(void **state) {
    (void)state;
    const conv_case c = {1, 3, 224, 224, 1, 5, 5, 1, 1, 0, 0, 0};
    conv_graph cg = build_conv(&c, 0);
    assert_shape4(sn_graph_shape(cg.g, cg.y), 1, 1, 220, 220);

    /* All ones: every output sums 5*5*3 = 75 products of 1. */
    float *x = sn_graph_value(cg.g, cg.x), *w = sn_graph_value(cg.g, cg.w);
    for (int i = 0; i < 3 * 224 * 224; i++) x[i] = 1.0f;
    for (int i = 0; i < 75; i++) w[i] = 1.0f;
    SN_ASSERT_OK(sn_graph_forward(cg.g));
    const float *y = sn_graph_value(cg.g, cg.y);
    for (int i = 0; i < 220 * 220; i++) assert_float_equal(y[i], 75.0f, 0.0f);

    /* x[c, i, j] = c + i/224 and w[c, ki, kj] = ki - kj: at (r, s) the output is
     * sum_c sum_ki sum_kj (ki - kj)(c + (r + ki)/224) = sum_ki sum_kj (ki - kj) ki / 224 * 3
     * (the c and r terms cancel, as sum (ki - kj) = 0) = 3 * (5*30 - 10*10) / 224 = 150/224. */
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 224; i++)
            for (int j = 0; j < 224; j++) x[(ch * 224 + i) * 224 + j] = (float)ch + i / 224.0f;
    for (int ch = 0; ch < 3; ch++)
        for (int ki = 0; ki < 5; ki++)
            for (int kj = 0; kj < 5; kj++) w[(ch * 5 + ki) * 5 + kj] = (float)(ki - kj);
    SN_ASSERT_OK(sn_graph_forward(cg.g));
    const int spots[3][2] = {{0, 0}, {219, 219}, {101, 37}};
    for (int s = 0; s < 3; s++) {
        const float got = y[spots[s][0] * 220 + spots[s][1]];
        assert_float_equal(got, 150.0f / 224.0f, 1e-4f);
    }
    sn_graph_destroy(cg.g);
}

/* [[0,1,2],[3,4,5],[6,7,8]] padded by 1, kernel [[0,1],[2,3]], stride 3 down and
 * 2 across: output (3+2-2)/3+1 = 2 by (3+2-2)/2+1 = 2, exactly [[0,8],[6,8]]. */
static void test_course_stride_3_2_example(void **state) {
    (void)state;
    const conv_case c = {1, 1, 3, 3, 1, 2, 2, 3, 2, 1, 1, 0};
    conv_graph cg = build_conv(&c, 0);
    assert_shape4(sn_graph_shape(cg.g, cg.y), 1, 1, 2, 2);
    float *x = sn_graph_value(cg.g, cg.x), *w = sn_graph_value(cg.g, cg.w);
    for (int i = 0; i < 9; i++) x[i] = (float)i;
    for (int i = 0; i < 4; i++) w[i] = (float)i;
    SN_ASSERT_OK(sn_graph_forward(cg.g));
    const float *y = sn_graph_value(cg.g, cg.y);
    const float expected[4] = {0, 8, 6, 8};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], expected[i], 0.0f);
    sn_graph_destroy(cg.g);
}

/* ---- pooling ---- */

typedef enum { POOL_MAX, POOL_AVG_INCLUDE_PAD, POOL_AVG_EXCLUDE_PAD } pool_kind;

typedef struct pool_case {
    int n, c, h, w, kh, kw, sh, sw, ph, pw;
} pool_case;

typedef struct pool_graph {
    sn_graph *g;
    int x, y;
} pool_graph;

static pool_graph build_pool(const pool_case *p, pool_kind kind) {
    pool_graph pg = {sn_graph_create(1), SN_NONE, SN_NONE};
    assert_non_null(pg.g);
    pg.x = sn_input(pg.g, "x", 4, (int64_t[]){p->n, p->c, p->h, p->w});
    SN_ASSERT_OK(sn_graph_set_requires_grad(pg.g, pg.x, 1));
    pg.y = kind == POOL_MAX ? sn_maxpool2d(pg.g, pg.x, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw)
                            : sn_avgpool2d(pg.g, pg.x, p->kh, p->kw, p->sh, p->sw, p->ph, p->pw,
                                           kind == POOL_AVG_INCLUDE_PAD);
    SN_ASSERT_OK(sn_graph_compile(pg.g));
    return pg;
}

/* Direct pooling in double: max with -inf padding and the first maximum on
 * ties; average over the window divided by kh*kw or by the elements inside. */
static void pool_reference(const pool_case *p, pool_kind kind, const float *x, const float *dy,
                           double *y, double *dx) {
    const int oh_n = (p->h + 2 * p->ph - p->kh) / p->sh + 1;
    const int ow_n = (p->w + 2 * p->pw - p->kw) / p->sw + 1;
    for (int plane = 0; plane < p->n * p->c; plane++)
        for (int oh = 0; oh < oh_n; oh++)
            for (int ow = 0; ow < ow_n; ow++) {
                const long o = ((long)plane * oh_n + oh) * ow_n + ow;
                double best = -INFINITY, sum = 0.0;
                long best_at = -1;
                int inside = 0;
                for (int ki = 0; ki < p->kh; ki++)
                    for (int kj = 0; kj < p->kw; kj++) {
                        const int ih = oh * p->sh - p->ph + ki, iw = ow * p->sw - p->pw + kj;
                        if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                        const long xi = ((long)plane * p->h + ih) * p->w + iw;
                        inside++;
                        sum += x[xi];
                        if (x[xi] > best) {
                            best = x[xi];
                            best_at = xi;
                        }
                    }
                if (kind == POOL_MAX) {
                    y[o] = best;
                    dx[best_at] += dy[o];
                    continue;
                }
                const int divisor = kind == POOL_AVG_INCLUDE_PAD ? p->kh * p->kw : inside;
                y[o] = sum / divisor;
                for (int ki = 0; ki < p->kh; ki++)
                    for (int kj = 0; kj < p->kw; kj++) {
                        const int ih = oh * p->sh - p->ph + ki, iw = ow * p->sw - p->pw + kj;
                        if (ih < 0 || ih >= p->h || iw < 0 || iw >= p->w) continue;
                        dx[((long)plane * p->h + ih) * p->w + iw] += dy[o] / divisor;
                    }
            }
}

static const pool_case pool_cases[] = {
    /* n c  h  w kh kw sh sw ph pw */
    {1, 1, 4, 4, 2, 2, 2, 2, 0, 0},  /* the classic 2x2/2 */
    {3, 2, 7, 9, 3, 3, 2, 2, 1, 1},  /* overlapping, padded */
    {2, 3, 8, 5, 3, 2, 3, 2, 1, 1},  /* stride (3, 2), asymmetric */
    {1, 2, 6, 6, 5, 5, 1, 1, 2, 2},  /* large window, padding = kernel/2 */
    {3, 1, 5, 11, 1, 3, 1, 3, 0, 1}, /* 1-row window */
    {2, 2, 9, 9, 4, 4, 3, 3, 2, 2},  /* even window, padding = kernel/2 */
};

static void test_pools_match_direct_loops(void **state) {
    (void)state;
    const char *names[3] = {"maxpool2d", "avgpool2d(count_include_pad=True)",
                            "avgpool2d(count_include_pad=False)"};
    for (pool_kind kind = POOL_MAX; kind <= POOL_AVG_EXCLUDE_PAD; kind++) {
        double worst_fwd = 0.0, worst_bwd = 0.0;
        const int n_cases = (int)(sizeof pool_cases / sizeof pool_cases[0]);
        for (int i = 0; i < n_cases; i++) {
            const pool_case *p = &pool_cases[i];
            pool_graph pg = build_pool(p, kind);
            const size_t nx = numel_of(pg.g, pg.x), ny = numel_of(pg.g, pg.y);
            sn_rng rng;
            sn_rng_seed(&rng, 7 + (uint64_t)i, (uint64_t)kind);
            float *x = sn_graph_value(pg.g, pg.x), *dy = malloc(ny * sizeof *dy);
            assert_non_null(dy);
            fill_uniform(&rng, x, nx);
            /* All-negative inputs in one plane: zero padding instead of -inf
             * would show up as a maximum of 0. */
            for (int j = 0; j < p->h * p->w; j++) x[j] = -1.0f - fabsf(x[j]);
            fill_uniform(&rng, dy, ny);
            double *y_ref = zeroed_doubles(ny), *dx_ref = zeroed_doubles(nx);
            pool_reference(p, kind, x, dy, y_ref, dx_ref);

            SN_ASSERT_OK(sn_graph_forward(pg.g));
            sn_graph_zero_grad(pg.g);
            SN_ASSERT_OK(sn_graph_backward_from(pg.g, pg.y, dy));
            const double fwd = max_difference(sn_graph_value(pg.g, pg.y), y_ref, ny);
            const double bwd = max_difference(sn_graph_grad(pg.g, pg.x), dx_ref, nx);
            if (!(fwd <= 1e-6 && bwd <= 1e-6))
                fail_msg("%s case %d: forward %.3g, backward %.3g", names[kind], i, fwd, bwd);
            worst_fwd = fmax(worst_fwd, fwd);
            worst_bwd = fmax(worst_bwd, bwd);
            free(dy);
            free(y_ref);
            free(dx_ref);
            sn_graph_destroy(pg.g);
        }
        printf("%s: %d configurations, largest difference forward %.3g, backward %.3g\n",
               names[kind], n_cases, worst_fwd, worst_bwd);
    }
}

/* Runs one maxpool forward/backward on a 1x1xHxW input with dy = seed. */
static void maxpool_once(const pool_case *p, const float *x_values, const float *seed, float *y_out,
                         float *dx_out) {
    pool_graph pg = build_pool(p, POOL_MAX);
    memcpy(sn_graph_value(pg.g, pg.x), x_values, numel_of(pg.g, pg.x) * sizeof(float));
    SN_ASSERT_OK(sn_graph_forward(pg.g));
    sn_graph_zero_grad(pg.g);
    SN_ASSERT_OK(sn_graph_backward_from(pg.g, pg.y, seed));
    memcpy(y_out, sn_graph_value(pg.g, pg.y), numel_of(pg.g, pg.y) * sizeof(float));
    memcpy(dx_out, sn_graph_grad(pg.g, pg.x), numel_of(pg.g, pg.x) * sizeof(float));
    sn_graph_destroy(pg.g);
}

/* The course's "gradient switch": each window's gradient lands on its arg-max
 * only; every other input gets exactly zero. */
static void test_maxpool_gradient_goes_to_argmax(void **state) {
    (void)state;
    const pool_case p = {1, 1, 4, 4, 2, 2, 2, 2, 0, 0};
    /* Window maxima: 5 at (0,1), 7 at (1,3), 9 at (2,0), 8.5 at (3,2). */
    const float x[16] = {1, 5, 2, 0, 3, 4, 6, 7, 9, 2, 1, 3, 0, 8, 8.5f, 1};
    const float seed[4] = {10, 20, 30, 40};
    float y[4], dx[16];
    maxpool_once(&p, x, seed, y, dx);
    const float y_expected[4] = {5, 7, 9, 8.5f};
    const float dx_expected[16] = {0, 10, 0, 0, 0, 0, 0, 20, 30, 0, 0, 0, 0, 0, 40, 0};
    for (int i = 0; i < 4; i++) assert_float_equal(y[i], y_expected[i], 0.0f);
    for (int i = 0; i < 16; i++) assert_float_equal(dx[i], dx_expected[i], 0.0f);
}

/* Ties go to the first maximum in row-major window order (PyTorch); shared
 * arg-maxes of overlapping windows accumulate. */
static void test_maxpool_ties_go_to_first(void **state) {
    (void)state;
    const pool_case p = {1, 1, 3, 3, 2, 2, 1, 1, 0, 0}; /* four overlapping 2x2 windows */
    const float x[9] = {2, 2, 2, 2, 2, 2, 2, 2, 2};
    const float seed[4] = {1, 2, 3, 4};
    float y[4], dx[9];
    maxpool_once(&p, x, seed, y, dx);
    /* Window (i, j) starts at x[i][j], its first element: dx gets each seed there. */
    const float dx_expected[9] = {1, 2, 0, 3, 4, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) assert_float_equal(dx[i], dx_expected[i], 0.0f);

    const float peak[9] = {0, 0, 0, 0, 9, 0, 0, 0, 0}; /* the centre is every window's max */
    maxpool_once(&p, peak, seed, y, dx);
    for (int i = 0; i < 9; i++) assert_float_equal(dx[i], i == 4 ? 10.0f : 0.0f, 0.0f);
}

/* As torch: a NaN in a window makes its maximum NaN and takes the gradient;
 * -inf padding is never the maximum of a window that holds a real number. */
static void test_maxpool_nan_and_padding(void **state) {
    (void)state;
    const pool_case p = {1, 1, 2, 2, 2, 2, 1, 1, 1, 1}; /* 3x3 output over a padded 2x2 */
    const float x[4] = {-3, NAN, -1, -2};
    const float seed[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    float y[9], dx[4];
    maxpool_once(&p, x, seed, y, dx);
    /* Windows containing x[0][1] (outputs (0,1), (0,2), (1,1), (1,2)) are NaN. */
    const int has_nan[9] = {0, 1, 1, 0, 1, 1, 0, 0, 0};
    const float finite[9] = {-3, 0, 0, -1, 0, 0, -1, -1, -2};
    for (int i = 0; i < 9; i++) {
        if (has_nan[i])
            assert_true(isnan(y[i]));
        else
            assert_float_equal(y[i], finite[i], 0.0f);
    }
    assert_float_equal(dx[0], 1.0f, 0.0f);
    assert_float_equal(dx[1], 4.0f, 0.0f);
    assert_float_equal(dx[2], 3.0f, 0.0f);
    assert_float_equal(dx[3], 1.0f, 0.0f);
}

/* count_include_pad on a 2x2 input of ones, 2x2 windows, padding 1: the corner
 * window holds one real element, so 1/4 with the padding counted, 1 without. */
static void test_avgpool_count_include_pad(void **state) {
    (void)state;
    const pool_case p = {1, 1, 2, 2, 2, 2, 2, 2, 1, 1};
    for (int include = 1; include >= 0; include--) {
        pool_graph pg = build_pool(&p, include ? POOL_AVG_INCLUDE_PAD : POOL_AVG_EXCLUDE_PAD);
        float *x = sn_graph_value(pg.g, pg.x);
        for (int i = 0; i < 4; i++) x[i] = 1.0f;
        SN_ASSERT_OK(sn_graph_forward(pg.g));
        const float *y = sn_graph_value(pg.g, pg.y);
        assert_int_equal(numel_of(pg.g, pg.y), 4);
        for (int i = 0; i < 4; i++) assert_float_equal(y[i], include ? 0.25f : 1.0f, 0.0f);
        sn_graph_destroy(pg.g);
    }
}

/* ---- shape errors ---- */

/* Compiling g must fail with SN_ERR_SHAPE and "node <id> (<op>): <op>: ...<expect>...". */
static void expect_shape_error(sn_graph *g, int node, const char *op, const char *expect) {
    assert_int_not_equal(node, SN_NONE);
    const sn_status st = sn_graph_compile(g);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "node %d (%s): %s: ", node, op, op);
    const char *msg = sn_last_error();
    if (st != SN_ERR_SHAPE || !strstr(msg, prefix) || !strstr(msg, expect))
        fail_msg("status %s, message \"%s\"; expected a shape error with \"%s\" and \"%s\"",
                 sn_status_string(st), msg, prefix, expect);
    printf("  %s\n", msg);
    sn_graph_destroy(g);
}

typedef struct bad_conv {
    const char *expect; /* a fragment of the message */
    int x_ndim;
    int64_t x[4];
    int w_ndim;
    int64_t w[4];
    int64_t bias; /* bias size, 0 for none */
    int stride[2], padding[2];
} bad_conv;

static const bad_conv bad_convs[] = {
    {"must be (N, C_in, H, W)", 3, {3, 8, 8}, 4, {4, 3, 3, 3}, 0, {1, 1}, {0, 0}},
    {"weight must be", 4, {1, 3, 8, 8}, 3, {4, 3, 3}, 0, {1, 1}, {0, 0}},
    {"has 3 channels but weight", 4, {1, 3, 8, 8}, 4, {4, 2, 3, 3}, 0, {1, 1}, {0, 0}},
    {"bias must be (4)", 4, {1, 3, 8, 8}, 4, {4, 3, 3, 3}, 5, {1, 1}, {0, 0}},
    {"stride must be >= 1", 4, {1, 3, 8, 8}, 4, {4, 3, 3, 3}, 0, {0, 1}, {0, 0}},
    {"padding must be >= 0", 4, {1, 3, 8, 8}, 4, {4, 3, 3, 3}, 0, {1, 1}, {-1, 0}},
    {"larger than the padded input 4x4", 4, {1, 1, 4, 4}, 4, {2, 1, 5, 5}, 0, {1, 1}, {0, 0}},
    {"above 2^31", 4, {1, 1, 1 << 20, 1 << 20}, 4, {1, 1, 1, 1}, 0, {1, 1}, {0, 0}},
    {"too large", 4, {1, 1, 4, 4}, 4, {1, 1, 3, 3}, 0, {1, 1}, {1 << 30, 0}},
    /* K*P = 2^40 floats of im2col scratch per thread */
    {"needs a workspace", 4, {1, 1 << 20, 1024, 1024}, 4, {1, 1 << 20, 1, 1}, 0, {1, 1}, {0, 0}},
};

typedef struct bad_pool {
    const char *expect;
    int max; /* 1 maxpool2d, 0 avgpool2d */
    int x_ndim;
    int64_t x[4];
    int kernel[2], stride[2], padding[2];
} bad_pool;

static const bad_pool bad_pools[] = {
    {"input must be (N, C, H, W)", 1, 2, {4, 16}, {2, 2}, {2, 2}, {0, 0}},
    {"kernel must be >= 1", 1, 4, {1, 1, 4, 4}, {0, 2}, {2, 2}, {0, 0}},
    {"stride must be >= 1", 1, 4, {1, 1, 4, 4}, {2, 2}, {2, 0}, {0, 0}},
    {"half the kernel", 1, 4, {1, 1, 8, 8}, {3, 3}, {1, 1}, {2, 0}},
    {"smaller than the kernel", 0, 4, {1, 1, 2, 2}, {3, 3}, {1, 1}, {0, 0}},
    {"half the kernel", 0, 4, {1, 1, 8, 8}, {2, 2}, {2, 2}, {0, -1}},
};

static void test_shape_errors_name_the_node(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_convs / sizeof bad_convs[0]; i++) {
        const bad_conv *c = &bad_convs[i];
        sn_graph *g = sn_graph_create(1);
        assert_non_null(g);
        const int x = sn_input(g, "x", c->x_ndim, c->x);
        const int w = sn_param(g, "0.weight", c->w_ndim, c->w);
        const int b = c->bias ? sn_param(g, "0.bias", 1, &c->bias) : SN_NONE;
        const int y =
            sn_conv2d(g, x, w, b, c->stride[0], c->stride[1], c->padding[0], c->padding[1]);
        expect_shape_error(g, y, "conv2d", c->expect);
    }
    for (size_t i = 0; i < sizeof bad_pools / sizeof bad_pools[0]; i++) {
        const bad_pool *p = &bad_pools[i];
        sn_graph *g = sn_graph_create(1);
        assert_non_null(g);
        const int x = sn_input(g, "x", p->x_ndim, p->x);
        const int y = p->max ? sn_maxpool2d(g, x, p->kernel[0], p->kernel[1], p->stride[0],
                                            p->stride[1], p->padding[0], p->padding[1])
                             : sn_avgpool2d(g, x, p->kernel[0], p->kernel[1], p->stride[0],
                                            p->stride[1], p->padding[0], p->padding[1], 1);
        expect_shape_error(g, y, p->max ? "maxpool2d" : "avgpool2d", p->expect);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_course_224_by_5x5x3),
        cmocka_unit_test(test_course_stride_3_2_example),
        cmocka_unit_test(test_maxpool_gradient_goes_to_argmax),
        cmocka_unit_test(test_maxpool_ties_go_to_first),
        cmocka_unit_test(test_maxpool_nan_and_padding),
        cmocka_unit_test(test_avgpool_count_include_pad),
        cmocka_unit_test(test_conv2d_matches_direct_loops),
        cmocka_unit_test(test_conv2d_same_bits_for_any_thread_count),
        cmocka_unit_test(test_pools_match_direct_loops),
        cmocka_unit_test(test_shape_errors_name_the_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

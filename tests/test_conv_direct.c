/*
 * The direct convolution (src/backend/cpu/conv_direct.h) against the
 * definition in double, by itself and through conv2d (src/ops/conv2d.c),
 * which routes each product to it or to im2col by shape:
 *
 *   y[n,o,i,j]    = b[o] + sum_{c,ki,kj} w[o,c,ki,kj] x[n,c,i-ph+ki,j-pw+kj]
 *   dx[n,c,h,v]  += sum_{o,ki,kj} w[o,c,ki,kj] dy[n,o,h+ph-ki,v+pw-kj]
 *   dw[o,c,ki,kj] += sum_{n,i,j} dy[n,o,i,j] x[n,c,i-ph+ki,j-pw+kj]
 *   db[o]        += sum_{n,i,j} dy[n,o,i,j]
 *
 * (x read as zero outside the image, dy outside the output). Shapes: the
 * LeNet-5 and benchmark-CNN layers, a few edge cases (a 3x9 kernel among
 * them, whose dx col2im takes its taps in two groups), and a fixed
 * pseudo-random sample of C_in
 * 1..8, C_out 1..20, kernels 1, 3, 5 in each direction (non-square too),
 * padding 0..2 in each direction, odd and even sizes down to the kernel,
 * batch 1..5. An element passes when
 *     |got - ref| <= (n + 4) eps scale
 * with n the number of terms of its sum (K forward, C_out*kh*kw for dx,
 * N*OH*OW for dW and db, plus one for the bias or the value added to) and
 * scale the sum of their absolute values: the classical bound for a float
 * sum of n products in any order (tests/test_conv_gemm.c, test_gemm.c).
 * Zeros the direct path adds (padding) are exact and do not count.
 *
 * Called by itself, every buffer has an allocation of exactly its size, so
 * that AddressSanitizer sees a read or write past it; y starts as NaN (it
 * must be overwritten), dx and dw start random (they must be added to), and
 * the scratch starts as NaN (nothing may be read from it before written).
 * The checker is shown to fail on a perturbed weight. Through conv2d, the
 * results must also be bit-identical with 1, 2 and 3 threads.
 */
#include "support/test_support.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_direct.h"
#include "backend/cpu/conv_gemm_blocked.h"
#include "support/graph_run.h"

typedef struct conv_case {
    int n, c_in, h, w, c_out, kh, kw, ph, pw, bias;
} conv_case;

static const conv_case fixed_cases[] = {
    /* n c_in h   w c_out kh kw ph pw bias */
    {3, 1, 28, 28, 6, 5, 5, 2, 2, 1},   /* LeNet-5 conv1 */
    {4, 6, 14, 14, 16, 5, 5, 0, 0, 1},  /* LeNet-5 conv2 */
    {2, 1, 28, 28, 32, 3, 3, 0, 0, 1},  /* CNN conv1 */
    {2, 32, 26, 26, 64, 3, 3, 0, 0, 1}, /* CNN conv2 */
    {1, 1, 1, 1, 1, 1, 1, 0, 0, 0},     /* one pixel */
    {2, 3, 5, 7, 4, 1, 1, 1, 1, 1},     /* 1x1 kernel reading padding: dx by im2col */
    {5, 8, 9, 17, 20, 3, 5, 1, 2, 1},   /* non-square kernel, wide rows */
    {1, 2, 3, 40, 3, 3, 3, 1, 1, 0},    /* rows longer than two vectors */
    {2, 1, 5, 5, 7, 5, 5, 0, 0, 1},     /* one output per image */
    {3, 2, 6, 21, 3, 3, 9, 1, 4, 1},    /* kw = 9: dx's col2im in two groups of taps */
    /* C_out 16 (the channel-vector kernels with AVX-512): an odd number of
     * output rows and columns (blocks moved back, a last lone column in dW),
     * padding read in place, 3x3 and 5x5, no bias */
    {2, 3, 9, 15, 16, 3, 3, 1, 0, 1},
    {3, 2, 12, 16, 16, 5, 5, 2, 1, 0},
    {1, 4, 14, 21, 16, 5, 5, 0, 2, 1},
};

enum { N_FIXED = sizeof fixed_cases / sizeof fixed_cases[0], N_RANDOM = 60 };

/* Case c: the fixed ones, then a sample drawn from the seed. */
static conv_case case_at(int c) {
    if (c < N_FIXED) return fixed_cases[c];
    sn_rng rng;
    /* 5009: the sample as it was drawn with 9 fixed cases */
    sn_rng_seed(&rng, 5009 + (uint64_t)(c - N_FIXED), 0);
    static const int kernels[3] = {1, 3, 5};
    conv_case k;
    k.n = 1 + (int)sn_rng_below(&rng, 5);
    k.c_in = 1 + (int)sn_rng_below(&rng, 8);
    k.c_out = 1 + (int)sn_rng_below(&rng, 20);
    k.kh = kernels[sn_rng_below(&rng, 3)];
    k.kw = kernels[sn_rng_below(&rng, 3)];
    k.ph = (int)sn_rng_below(&rng, 3);
    k.pw = (int)sn_rng_below(&rng, 3);
    /* sizes from the smallest the kernel allows to 8 more */
    const int min_h = k.kh - 2 * k.ph > 1 ? k.kh - 2 * k.ph : 1;
    const int min_w = k.kw - 2 * k.pw > 1 ? k.kw - 2 * k.pw : 1;
    k.h = min_h + (int)sn_rng_below(&rng, 9);
    k.w = min_w + (int)sn_rng_below(&rng, 13);
    k.bias = (int)sn_rng_below(&rng, 2);
    return k;
}

static int out_h(const conv_case *c) {
    return c->h + 2 * c->ph - c->kh + 1;
}

static int out_w(const conv_case *c) {
    return c->w + 2 * c->pw - c->kw + 1;
}

static sn_im2col_geometry geometry(const conv_case *c) {
    sn_im2col_geometry g = {1, c->c_in, c->h, c->w, c->kh, c->kw, 1, 1, c->ph, c->pw, 0, 0};
    g.out_h = out_h(c);
    g.out_w = out_w(c);
    return g;
}

static void print_case(const conv_case *c) {
    printf("    case n=%d c_in=%d %dx%d c_out=%d k=%dx%d p=(%d,%d) bias=%d\n", c->n, c->c_in, c->h,
           c->w, c->c_out, c->kh, c->kw, c->ph, c->pw, c->bias);
}

/* Uniform in [-1, 1), or `fill` when fill is not 0, in an allocation of its own. */
static float *floats(sn_rng *rng, size_t count, float fill) {
    float *v = malloc((count ? count : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < count; i++)
        v[i] = fill != 0.0f ? fill : 2.0f * sn_rng_uniform(rng) - 1.0f;
    return v;
}

static double *doubles(size_t count) {
    double *v = calloc(count ? count : 1, sizeof *v);
    assert_non_null(v);
    return v;
}

/* The reference of one case: each output's value, the sum of the absolute
 * values of its terms, and their count. */
typedef struct reference {
    double *y, *y_abs, *dx, *dx_abs, *dw, *dw_abs, *db, *db_abs;
    int *dx_terms; /* per element of x: the taps that read it inside the output */
} reference;

static reference reference_of(const conv_case *c, const float *x, const float *w, const float *b,
                              const float *dy) {
    const int oh = out_h(c), ow = out_w(c);
    const size_t nx = (size_t)c->n * c->c_in * c->h * c->w, ny = (size_t)c->n * c->c_out * oh * ow;
    const size_t nw = (size_t)c->c_out * c->c_in * c->kh * c->kw;
    reference r = {doubles(ny),
                   doubles(ny),
                   doubles(nx),
                   doubles(nx),
                   doubles(nw),
                   doubles(nw),
                   doubles((size_t)c->c_out),
                   doubles((size_t)c->c_out),
                   NULL};
    r.dx_terms = calloc(nx ? nx : 1, sizeof *r.dx_terms);
    assert_non_null(r.dx_terms);
    for (int n = 0; n < c->n; n++)
        for (int o = 0; o < c->c_out; o++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++) {
                    const size_t yi = (((size_t)n * c->c_out + o) * oh + i) * ow + j;
                    double sum = b ? b[o] : 0.0, abs_sum = fabs(sum);
                    for (int ci = 0; ci < c->c_in; ci++)
                        for (int ki = 0; ki < c->kh; ki++)
                            for (int kj = 0; kj < c->kw; kj++) {
                                const int hh = i - c->ph + ki, vv = j - c->pw + kj;
                                if (hh < 0 || hh >= c->h || vv < 0 || vv >= c->w) continue;
                                const size_t xi =
                                    (((size_t)n * c->c_in + ci) * c->h + hh) * c->w + vv;
                                const size_t wi =
                                    (((size_t)o * c->c_in + ci) * c->kh + ki) * c->kw + kj;
                                const double xw = (double)x[xi] * w[wi];
                                const double dyw = (double)dy[yi] * w[wi];
                                const double dyx = (double)dy[yi] * x[xi];
                                sum += xw, abs_sum += fabs(xw);
                                r.dx[xi] += dyw, r.dx_abs[xi] += fabs(dyw), r.dx_terms[xi]++;
                                r.dw[wi] += dyx, r.dw_abs[wi] += fabs(dyx);
                            }
                    r.y[yi] = sum, r.y_abs[yi] = abs_sum;
                    r.db[o] += dy[yi], r.db_abs[o] += fabs(dy[yi]);
                }
    return r;
}

static void reference_free(reference *r) {
    free(r->y), free(r->y_abs), free(r->dx), free(r->dx_abs), free(r->dw), free(r->dw_abs);
    free(r->db), free(r->db_abs), free(r->dx_terms);
}

/* Elements of got outside (terms + 4) eps (scale + |init|) of ref + init
 * (init: the value got started from, or NULL for 0). The worst error/bound
 * goes to *worst. */
static int violations(const char *what, const float *got, const double *ref, const double *scale,
                      const float *init, int terms, const int *terms_each, size_t count,
                      double *worst) {
    int bad = 0;
    for (size_t e = 0; e < count; e++) {
        const double start = init ? (double)init[e] : 0.0;
        const int t = (terms_each ? terms_each[e] : terms) + 1;
        const double want = ref[e] + start;
        const double bound = (t + 4) * (double)FLT_EPSILON * (scale[e] + fabs(start)) + 1e-30;
        const double err = fabs((double)got[e] - want);
        if (!(err <= bound)) {
            if (!bad)
                printf("    %s: first violation at %zu: %.9g, reference %.9g (bound %.3g)\n", what,
                       e, (double)got[e], want, bound);
            bad++;
        } else if (worst && err / bound > *worst) {
            *worst = err / bound;
        }
    }
    return bad;
}

/* ---- conv_direct.h by itself ---- */

typedef struct direct_result {
    float *y, *dx, *dw; /* y (N, C_out, OH, OW); dx, dw accumulated onto dx0, dw0 */
} direct_result;

/* Every product of conv_direct.h over the batch (dx only where it applies),
 * as conv2d calls them: forward image by image, dW and dx for all at once. */
static direct_result run_direct(const conv_case *c, const float *x, const float *w, const float *b,
                                const float *dy, const float *dx0, const float *dw0, int with_dx) {
    const sn_im2col_geometry g = geometry(c);
    const size_t in_image = (size_t)c->c_in * c->h * c->w;
    const size_t out_image = (size_t)c->c_out * g.out_h * g.out_w;
    const size_t nw = (size_t)c->c_out * c->c_in * c->kh * c->kw;
    const int all = SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD |
                    (with_dx ? SN_CONV_DIRECT_INPUT_GRAD : 0);
    const size_t scratch_floats = (size_t)sn_conv_direct_scratch(&g, c->c_out, all);
    float *scratch = floats(NULL, scratch_floats, NAN);
    direct_result r = {floats(NULL, out_image * c->n, NAN), floats(NULL, in_image * c->n, 1.0f),
                       floats(NULL, nw, 1.0f)};
    memcpy(r.dx, dx0, in_image * c->n * sizeof *r.dx);
    memcpy(r.dw, dw0, nw * sizeof *r.dw);
    /* dW of all the images in one call, as conv2d does for a chunk */
    sn_conv_direct_weight_grad(&g, c->c_out, c->n, x, dy, r.dw, scratch);
    for (size_t i = 0; i < scratch_floats; i++) scratch[i] = NAN;
    for (int n = 0; n < c->n; n++) {
        sn_conv_direct_forward(&g, c->c_out, x + n * in_image, w, b, r.y + n * out_image, scratch);
        for (size_t i = 0; i < scratch_floats; i++) scratch[i] = NAN;
    }
    /* dx of all the images in one call, as conv2d does for a chunk */
    if (with_dx) sn_conv_direct_input_grad(&g, c->c_out, c->n, w, dy, r.dx, scratch);
    free(scratch);
    return r;
}

static void direct_result_free(direct_result *r) {
    free(r->y), free(r->dx), free(r->dw);
}

static void test_direct_matches_reference(void **state) {
    (void)state;
    double worst[3] = {0.0, 0.0, 0.0};
    int dx_cases = 0;
    for (int ci = 0; ci < N_FIXED + N_RANDOM; ci++) {
        const conv_case c = case_at(ci);
        const int oh = out_h(&c), ow = out_w(&c);
        const size_t nx = (size_t)c.n * c.c_in * c.h * c.w, ny = (size_t)c.n * c.c_out * oh * ow;
        const size_t nw = (size_t)c.c_out * c.c_in * c.kh * c.kw;
        sn_rng rng;
        sn_rng_seed(&rng, 77 + (uint64_t)ci, 0);
        float *x = floats(&rng, nx, 0), *w = floats(&rng, nw, 0);
        float *b = c.bias ? floats(&rng, (size_t)c.c_out, 0) : NULL;
        float *dy = floats(&rng, ny, 0), *dx0 = floats(&rng, nx, 0), *dw0 = floats(&rng, nw, 0);
        const int with_dx = 1;
        dx_cases += with_dx;
        reference ref = reference_of(&c, x, w, b, dy);
        direct_result got = run_direct(&c, x, w, b, dy, dx0, dw0, with_dx);
        const int k = c.c_in * c.kh * c.kw, p_all = c.n * oh * ow;
        int bad = violations("forward", got.y, ref.y, ref.y_abs, NULL, k, NULL, ny, &worst[0]);
        bad += violations("dW", got.dw, ref.dw, ref.dw_abs, dw0, p_all, NULL, nw, &worst[1]);
        if (with_dx)
            bad +=
                violations("dx", got.dx, ref.dx, ref.dx_abs, dx0, 0, ref.dx_terms, nx, &worst[2]);
        else
            bad += memcmp(got.dx, dx0, nx * sizeof *dx0) != 0; /* untouched */
        if (bad) {
            print_case(&c);
            fail_msg("conv_direct.h: %d elements outside the bound", bad);
        }
        if (ci == 0 || ci == 1 || ci == N_FIXED + 3) {
            /* Negative control: a weight moved by 1% must show in forward, dx. */
            w[nw / 2] *= 1.01f;
            direct_result moved = run_direct(&c, x, w, b, dy, dx0, dw0, with_dx);
            printf("  negative control, perturbed weight:\n");
            assert_true(violations("forward", moved.y, ref.y, ref.y_abs, NULL, k, NULL, ny, NULL) >
                        0);
            if (with_dx)
                assert_true(violations("dx", moved.dx, ref.dx, ref.dx_abs, dx0, 0, ref.dx_terms, nx,
                                       NULL) > 0);
            direct_result_free(&moved);
            /* and a moved dy in dW */
            dy[ny / 3] += 0.5f;
            moved = run_direct(&c, x, w, b, dy, dx0, dw0, with_dx);
            assert_true(violations("dW", moved.dw, ref.dw, ref.dw_abs, dw0, p_all, NULL, nw, NULL) >
                        0);
            direct_result_free(&moved);
        }
        direct_result_free(&got);
        reference_free(&ref);
        free(x), free(w), free(b), free(dy), free(dx0), free(dw0);
    }
    printf("conv_direct.h: %d cases (%d with dx), largest error / bound: forward %.3f, dW %.3f, "
           "dx %.3f\n",
           N_FIXED + N_RANDOM, dx_cases, worst[0], worst[1], worst[2]);
}

/* ---- through conv2d, which routes by shape ---- */

typedef struct conv_graph {
    sn_graph *g;
    int x, w, b, y;
} conv_graph;

static conv_graph build_conv(const conv_case *c) {
    conv_graph cg = {sn_graph_create(1), SN_NONE, SN_NONE, SN_NONE, SN_NONE};
    assert_non_null(cg.g);
    cg.x = sn_input(cg.g, "x", 4, (int64_t[]){c->n, c->c_in, c->h, c->w});
    cg.w = sn_param(cg.g, "0.weight", 4, (int64_t[]){c->c_out, c->c_in, c->kh, c->kw});
    if (c->bias) cg.b = sn_param(cg.g, "0.bias", 1, (int64_t[]){c->c_out});
    SN_ASSERT_OK(sn_graph_set_requires_grad(cg.g, cg.x, 1));
    cg.y = sn_conv2d(cg.g, cg.x, cg.w, cg.b, 1, 1, c->ph, c->pw);
    SN_ASSERT_OK(sn_graph_compile(cg.g));
    return cg;
}

/* y, dx, dW, db of one forward and backward through conv2d with `threads`
 * threads, back to back in one array (db when there is a bias). */
static float *conv2d_run(const conv_case *c, int threads, const float *x, const float *w,
                         const float *b, const float *dy, size_t *count) {
    SN_ASSERT_OK(sn_set_threads(threads));
    conv_graph cg = build_conv(c);
    sn_graph *g = cg.g;
    const size_t nx = (size_t)sn_shape_numel(sn_graph_shape(g, cg.x));
    const size_t nw = (size_t)sn_shape_numel(sn_graph_shape(g, cg.w));
    const size_t nb = c->bias ? (size_t)c->c_out : 0;
    memcpy(sn_graph_value(g, cg.x), x, nx * sizeof *x);
    memcpy(sn_graph_value(g, cg.w), w, nw * sizeof *w);
    if (nb) memcpy(sn_graph_value(g, cg.b), b, nb * sizeof *b);
    float *out = sn_test_forward_backward(g, cg.y, dy, (const int[]){cg.x, cg.w, cg.b}, 3, count);
    sn_graph_destroy(g);
    SN_ASSERT_OK(sn_set_threads(1));
    return out;
}

static void test_conv2d_routes_and_matches(void **state) {
    (void)state;
    int routed[3] = {0, 0, 0}, total = 0;
    for (int ci = 0; ci < N_FIXED + N_RANDOM; ci++) {
        const conv_case c = case_at(ci);
        const int oh = out_h(&c), ow = out_w(&c);
        const size_t nx = (size_t)c.n * c.c_in * c.h * c.w, ny = (size_t)c.n * c.c_out * oh * ow;
        const size_t nw = (size_t)c.c_out * c.c_in * c.kh * c.kw;
        const sn_im2col_geometry g = geometry(&c);
        const int route = sn_conv_direct_route(&g, c.c_out);
        for (int p = 0; p < 3; p++) routed[p] += (route >> p) & 1;
        total++;
        sn_rng rng;
        sn_rng_seed(&rng, 99 + (uint64_t)ci, 0);
        float *x = floats(&rng, nx, 0), *w = floats(&rng, nw, 0);
        float *b = c.bias ? floats(&rng, (size_t)c.c_out, 0) : NULL;
        float *dy = floats(&rng, ny, 0);
        reference ref = reference_of(&c, x, w, b, dy);
        size_t count;
        float *got = conv2d_run(&c, 1, x, w, b, dy, &count);
        const int k = c.c_in * c.kh * c.kw, p_all = c.n * oh * ow;
        int bad = violations("forward", got, ref.y, ref.y_abs, NULL, k, NULL, ny, NULL);
        bad += violations("dx", got + ny, ref.dx, ref.dx_abs, NULL, 0, ref.dx_terms, nx, NULL);
        bad += violations("dW", got + ny + nx, ref.dw, ref.dw_abs, NULL, p_all, NULL, nw, NULL);
        if (b)
            bad += violations("db", got + ny + nx + nw, ref.db, ref.db_abs, NULL, p_all, NULL,
                              (size_t)c.c_out, NULL);
        if (bad) {
            print_case(&c);
            fail_msg("conv2d: %d elements outside the bound", bad);
        }
        /* The same bits with 2 and 3 threads (the larger cases only: slow otherwise). */
        if (ci < N_FIXED || ci % 4 == 0) {
            for (int threads = 2; threads <= 3; threads++) {
                size_t count_t;
                float *got_t = conv2d_run(&c, threads, x, w, b, dy, &count_t);
                assert_int_equal(count_t, count);
                if (memcmp(got, got_t, count * sizeof *got) != 0) {
                    print_case(&c);
                    fail_msg("conv2d: different bits with %d threads", threads);
                }
                free(got_t);
            }
        }
        free(got);
        reference_free(&ref);
        free(x), free(w), free(b), free(dy);
    }
    printf("conv2d: %d stride-1 cases, direct path for forward %d, dW %d, dx %d\n", total,
           routed[0], routed[1], routed[2]);
    /* Both paths are exercised for each product (unless this build sends
     * everything through im2col: no FMA, with CBLAS; see test_route_of_model_layers). */
    const sn_im2col_geometry lenet1 = geometry(&fixed_cases[0]);
    for (int p = 0; sn_conv_direct_route(&lenet1, 6) != 0 && p < 3; p++) {
        assert_true(routed[p] > 0);
        assert_true(routed[p] < total);
    }
}

/* The route of the models' layers (with this build's target having FMA,
 * where conv_gemm.h uses its kernels): LeNet-5 direct everywhere; the CNN's
 * first layer (K = 9 < C_out = 32) by im2col forward, its second direct dx;
 * a 1x1 kernel's dx by im2col. */
static void test_route_of_model_layers(void **state) {
    (void)state;
    const sn_im2col_geometry lenet1 = geometry(&fixed_cases[0]);
    const sn_im2col_geometry lenet2 = geometry(&fixed_cases[1]);
    const sn_im2col_geometry cnn1 = geometry(&fixed_cases[2]);
    const int all = SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD | SN_CONV_DIRECT_INPUT_GRAD;
    if (sn_conv_direct_route(&lenet1, 6) == 0) {
        printf("this build sends every convolution through im2col (no FMA, CBLAS)\n");
        return;
    }
    assert_int_equal(sn_conv_direct_route(&lenet1, 6), all);
    assert_int_equal(sn_conv_direct_route(&lenet2, 16), all);
#if defined(__AVX512F__)
    /* LeNet-5's second layer: forward and dW by the channel-vector kernels */
    assert_int_equal(sn_conv_gemm_channel_route(&lenet2, 16), 1);
    assert_int_equal(sn_conv_gemm_channel_route(&lenet1, 6), 0);
#endif
    assert_int_equal(sn_conv_direct_route(&cnn1, 32) & SN_CONV_DIRECT_FORWARD, 0);
    const sn_im2col_geometry cnn2 = geometry(&fixed_cases[3]);
    assert_true(sn_conv_direct_route(&cnn2, 64) & SN_CONV_DIRECT_INPUT_GRAD);
    const sn_im2col_geometry one_by_one = geometry(&fixed_cases[5]);
    assert_int_equal(sn_conv_direct_route(&one_by_one, 4) & SN_CONV_DIRECT_INPUT_GRAD, 0);
    /* stride 2 always through im2col */
    sn_im2col_geometry strided = lenet1;
    strided.stride_h = 2;
    assert_int_equal(sn_conv_direct_route(&strided, 6), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_direct_matches_reference),
        cmocka_unit_test(test_conv2d_routes_and_matches),
        cmocka_unit_test(test_route_of_model_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The three products of a convolution (src/backend/cpu/conv_gemm.h), and the
 * blocked kernels behind them by themselves (conv_gemm_blocked.h: in some
 * builds and at some shapes the products go to sn_sgemm), against a naive
 * double-precision reference, at the shapes of the benchmark models
 * (one image and several) and at awkward ones: P = 1, 15, 17, 33 (below,
 * around and past a vector of 4, 8 or 16 lanes), C_out = 1, 5, 13, 70, K = 1,
 * 7, 300, row strides longer than P, bias and no bias. An element passes when
 *     |got - ref| <= (n + 4) eps scale
 * with n the length of its sum (K forward, P for dW, C_out for dcol) and
 * scale the sum of the absolute values of its terms (plus |bias| or the old
 * |dw|): the classical bound for a float sum of n products in any order,
 * as tests/test_gemm.c uses.
 *
 * Every matrix has an allocation of its own, exactly rows * stride floats, so
 * that AddressSanitizer sees any read past the last row; padding between
 * rows holds NaN in inputs (it must not be read: a NaN would reach the
 * result) and a sentinel in outputs (it must not be written). Outputs that
 * are overwritten (y, dcol) start as NaN, so that reading them shows; dW
 * starts random and must be added to. The checker is shown to fail on a
 * perturbed output, and results are shown to be bit-identical across calls
 * and pointer alignments.
 */
#include "support/test_support.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/conv_gemm.h"
#include "backend/cpu/conv_gemm_blocked.h"

typedef struct cg_case {
    int c_out, k, p;
    int pad_y, pad_col; /* ld_y = p + pad_y, ld_col = p + pad_col */
    int bias;           /* forward with a bias (else NULL) */
} cg_case;

static const cg_case cases[] = {
    /* the models, one image: LeNet-5 conv1, conv2; CNN conv1, conv2 */
    {6, 25, 784, 0, 0, 1},
    {16, 150, 100, 0, 0, 1},
    {32, 9, 676, 0, 0, 1},
    {64, 288, 576, 0, 0, 1},
    /* several images per call */
    {16, 150, 400, 0, 0, 1},
    {6, 25, 3 * 784, 0, 0, 0},
    {32, 9, 2 * 676, 0, 0, 1},
    /* awkward shapes */
    {1, 1, 1, 0, 0, 1},
    {1, 1, 1, 3, 2, 0},
    {5, 7, 15, 0, 0, 1},
    {5, 7, 15, 1, 4, 0},
    {13, 300, 17, 0, 0, 1},
    {13, 300, 17, 5, 3, 0},
    {70, 7, 33, 0, 0, 0},
    {70, 7, 33, 2, 7, 1},
    {1, 300, 33, 0, 1, 1},
    {70, 1, 17, 3, 0, 1},
    {13, 1, 15, 0, 0, 0},
    {5, 300, 1, 1, 1, 1},
    {70, 300, 100, 4, 4, 1},
    {13, 7, 47, 0, 0, 1},
    {16, 150, 100, 3, 5, 0},
    {64, 288, 49, 1, 2, 1},
    {6, 25, 200, 16, 16, 1},
    /* a long K with few columns */
    {64, 4200, 17, 1, 0, 1},
    /* rows in whole blocks of 5 (forward: C_out; dcol: K) over >= 5 vectors:
     * bcast_block's square 5 x 5 shape with AVX-512, a last block moved back */
    {20, 30, 100, 0, 0, 1},
    {16, 25, 400, 0, 0, 0},
    {10, 25, 95, 3, 1, 1},
};

enum { N_CASES = sizeof cases / sizeof cases[0] };

static const float SENTINEL = 12345.0f;

/* (rows, cols) with row stride cols + pad, in an allocation of exactly that
 * size: values uniform in [-1, 1) (or `fill` when fill_all), padding `pad_value`. */
static float *matrix(sn_rng *rng, int rows, int cols, int pad, int fill_all, float fill,
                     float pad_value) {
    const int ld = cols + pad;
    float *x = malloc((size_t)rows * (size_t)ld * sizeof *x);
    assert_non_null(x);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < ld; c++)
            x[(size_t)r * ld + c] = c >= cols  ? pad_value
                                    : fill_all ? fill
                                               : 2.0f * sn_rng_uniform(rng) - 1.0f;
    return x;
}

/* The reference of one product: ref and bound per element of a (rows, cols) result. */
typedef struct reference {
    int rows, cols;
    double *ref, *bound;
} reference;

static reference reference_alloc(int rows, int cols) {
    reference r = {rows, cols, malloc((size_t)rows * cols * sizeof(double)),
                   malloc((size_t)rows * cols * sizeof(double))};
    assert_non_null(r.ref);
    assert_non_null(r.bound);
    return r;
}

static void reference_free(reference *r) {
    free(r->ref);
    free(r->bound);
}

/* Elements of got (stride ld) outside their bound; the largest error / bound
 * goes to *worst. Padding past cols must hold the sentinel. */
static int violations(const reference *r, const float *got, int ld, double *worst) {
    int bad = 0;
    for (int i = 0; i < r->rows; i++) {
        for (int j = 0; j < r->cols; j++) {
            const size_t e = (size_t)i * r->cols + j;
            const double err = fabs((double)got[(size_t)i * ld + j] - r->ref[e]);
            if (!(err <= r->bound[e])) {
                if (bad == 0)
                    printf("    first violation at [%d][%d]: %.9g, reference %.9g (bound %.3g)\n",
                           i, j, (double)got[(size_t)i * ld + j], r->ref[e], r->bound[e]);
                bad++;
            } else if (worst && err / r->bound[e] > *worst) {
                *worst = err / r->bound[e];
            }
        }
        for (int j = r->cols; j < ld; j++)
            if (got[(size_t)i * ld + j] != SENTINEL) {
                printf("    padding [%d][%d] was written\n", i, j);
                bad++;
            }
    }
    return bad;
}

/* Negative control: the checker must see outputs moved by 3x their bound,
 * at the first element, the last (in the column tail) and one between. */
static void assert_checker_catches(const reference *r, float *got, int ld) {
    const int rows = r->rows, cols = r->cols;
    const int at[3][2] = {{0, 0}, {rows - 1, cols - 1}, {rows / 2, cols / 3}};
    float saved[3];
    int distinct = 0;
    for (int t = 0; t < 3; t++) {
        const int i = at[t][0], j = at[t][1];
        int seen = 0;
        for (int u = 0; u < t; u++) seen |= at[u][0] == i && at[u][1] == j;
        saved[t] = got[(size_t)i * ld + j];
        if (seen) continue;
        const size_t e = (size_t)i * cols + j;
        got[(size_t)i * ld + j] = (float)(r->ref[e] + 3.0 * r->bound[e] + 1e-30);
        distinct++;
    }
    printf("  negative control (%d perturbed elements):\n", distinct);
    assert_int_equal(violations(r, got, ld, NULL), distinct);
    for (int t = 2; t >= 0; t--) got[(size_t)at[t][0] * ld + at[t][1]] = saved[t];
    assert_int_equal(violations(r, got, ld, NULL), 0);
}

/* The operands of one case, in fresh allocations. */
typedef struct operands {
    int c_out, k, p, ld_y, ld_col;
    float *w;    /* (c_out, k) */
    float *bias; /* (c_out) or NULL */
    float *col;  /* (k, p), stride ld_col */
    float *dy;   /* (c_out, p), stride ld_y */
} operands;

static operands operands_make(const cg_case *cc, sn_rng *rng) {
    operands o = {cc->c_out, cc->k, cc->p, cc->p + cc->pad_y, cc->p + cc->pad_col, NULL,
                  NULL,      NULL,  NULL};
    o.w = matrix(rng, cc->c_out, cc->k, 0, 0, 0.0f, NAN);
    if (cc->bias) o.bias = matrix(rng, 1, cc->c_out, 0, 0, 0.0f, NAN);
    o.col = matrix(rng, cc->k, cc->p, cc->pad_col, 0, 0.0f, NAN);
    o.dy = matrix(rng, cc->c_out, cc->p, cc->pad_y, 0, 0.0f, NAN);
    return o;
}

static void operands_free(operands *o) {
    free(o->w);
    free(o->bias);
    free(o->col);
    free(o->dy);
}

static void print_case(const char *what, const cg_case *cc) {
    printf("%s C_out=%d K=%d P=%d ld_y=P+%d ld_col=P+%d%s\n", what, cc->c_out, cc->k, cc->p,
           cc->pad_y, cc->pad_col, cc->bias ? " bias" : "");
}

typedef void (*forward_fn)(int, int, int, const float *, const float *, int, const float *, float *,
                           int);
typedef void (*weight_grad_fn)(int, int, int, const float *, int, const float *, int, float *);
typedef void (*input_grad_fn)(int, int, int, const float *, const float *, int, float *, int);

static const forward_fn forwards[2] = {sn_conv_gemm_forward, sn_conv_gemm_blocked_forward};
static const weight_grad_fn weight_grads[2] = {sn_conv_gemm_weight_grad,
                                               sn_conv_gemm_blocked_weight_grad};
static const input_grad_fn input_grads[2] = {sn_conv_gemm_input_grad,
                                             sn_conv_gemm_blocked_input_grad};
static const char *const variant_names[2] = {"conv_gemm.h", "blocked"};

/* How many cases conv_gemm.h sends to the blocked kernels. */
static int routed_blocked(sn_conv_product product) {
    int n = 0;
    for (int c = 0; c < N_CASES; c++)
        n += sn_conv_gemm_route(product, cases[c].c_out, cases[c].k, cases[c].p);
    return n;
}

/* A strided view of a matrix operand: element (i, j) at x[i*row + j*col]. */
typedef struct view {
    const float *x;
    int row, col;
} view;

/* The reference of one product, res (rows, cols) = init + sum_t a(i, t) b(t, j)
 * over depth terms, in double, where init is bias[i] (or 0) plus c0[i][j] (or
 * 0, c0 dense), with each element's bound (depth + 4) eps sum |terms| (the
 * classical bound for a float sum of depth products and the initial value). */
static reference reference_product(int rows, int cols, int depth, view a, view b,
                                   const float *bias, const float *c0) {
    reference r = reference_alloc(rows, cols);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double sum = (bias ? bias[i] : 0.0) + (c0 ? c0[(size_t)i * cols + j] : 0.0);
            double scale = fabs(sum);
            for (int t = 0; t < depth; t++) {
                const double term = (double)a.x[(size_t)i * a.row + (size_t)t * a.col] *
                                    (double)b.x[(size_t)t * b.row + (size_t)j * b.col];
                sum += term;
                scale += fabs(term);
            }
            r.ref[(size_t)i * cols + j] = sum;
            r.bound[(size_t)i * cols + j] = (depth + 4) * (double)FLT_EPSILON * scale + 1e-30;
        }
    return r;
}

/* Checks got (stride ld) against r, runs the negative control when asked,
 * and frees r. */
static void check_product(reference *r, float *got, int ld, const char *what, int variant,
                          const cg_case *cc, int negative_control, double *worst) {
    const int bad = violations(r, got, ld, worst);
    if (bad) {
        print_case(variant_names[variant], cc);
        fail_msg("%s: %d elements outside the bound", what, bad);
    }
    if (negative_control) assert_checker_catches(r, got, ld);
    reference_free(r);
}

static void print_summary(const char *what, int variant, sn_conv_product product, double worst) {
    printf("%s (%s): %d cases (%d through the blocked kernel), largest error %.3f of the bound\n",
           what, variant_names[variant], N_CASES, variant ? N_CASES : routed_blocked(product),
           worst);
}

/* y = W col + b; y starts as NaN (must be overwritten, not read). */
static void test_forward_matches_reference(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        sn_rng rng;
        sn_rng_seed(&rng, 21, 0);
        double worst = 0.0;
        for (int c = 0; c < N_CASES; c++) {
            const cg_case *cc = &cases[c];
            operands o = operands_make(cc, &rng);
            float *y = matrix(&rng, o.c_out, o.p, cc->pad_y, 1, NAN, SENTINEL);
            forwards[variant](o.c_out, o.k, o.p, o.w, o.col, o.ld_col, o.bias, y, o.ld_y);
            /* y[i][j] = bias[i] + sum_k w[i][k] col[k][j] */
            reference r = reference_product(o.c_out, o.p, o.k, (view){o.w, o.k, 1},
                                            (view){o.col, o.ld_col, 1}, o.bias, NULL);
            check_product(&r, y, o.ld_y, "forward", variant, cc, c == 1 || c == 9, &worst);
            free(y);
            operands_free(&o);
        }
        print_summary("forward", variant, SN_CONV_FORWARD, worst);
    }
}

/* dW += dy col^T: dW starts random and must be added to. */
static void test_weight_grad_accumulates(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        sn_rng rng;
        sn_rng_seed(&rng, 22, 0);
        double worst = 0.0;
        for (int c = 0; c < N_CASES; c++) {
            const cg_case *cc = &cases[c];
            operands o = operands_make(cc, &rng);
            float *dw = matrix(&rng, o.c_out, o.k, 0, 0, 0.0f, SENTINEL);
            float *dw0 = malloc((size_t)o.c_out * o.k * sizeof *dw0);
            assert_non_null(dw0);
            memcpy(dw0, dw, (size_t)o.c_out * o.k * sizeof *dw0);
            weight_grads[variant](o.c_out, o.k, o.p, o.dy, o.ld_y, o.col, o.ld_col, dw);
            /* dw[i][k] = dw0[i][k] + sum_j dy[i][j] col[k][j] */
            reference r = reference_product(o.c_out, o.k, o.p, (view){o.dy, o.ld_y, 1},
                                            (view){o.col, 1, o.ld_col}, NULL, dw0);
            check_product(&r, dw, o.k, "weight_grad", variant, cc, c == 1 || c == 11, &worst);
            free(dw);
            free(dw0);
            operands_free(&o);
        }
        print_summary("weight_grad", variant, SN_CONV_WEIGHT_GRAD, worst);
    }
}

/* dcol = W^T dy; dcol starts as NaN (must be overwritten, not read). */
static void test_input_grad_overwrites(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        sn_rng rng;
        sn_rng_seed(&rng, 23, 0);
        double worst = 0.0;
        for (int c = 0; c < N_CASES; c++) {
            const cg_case *cc = &cases[c];
            operands o = operands_make(cc, &rng);
            float *dcol = matrix(&rng, o.k, o.p, cc->pad_col, 1, NAN, SENTINEL);
            input_grads[variant](o.c_out, o.k, o.p, o.w, o.dy, o.ld_y, dcol, o.ld_col);
            /* dcol[k][j] = sum_i w[i][k] dy[i][j] */
            reference r = reference_product(o.k, o.p, o.c_out, (view){o.w, 1, o.k},
                                            (view){o.dy, o.ld_y, 1}, NULL, NULL);
            check_product(&r, dcol, o.ld_col, "input_grad", variant, cc, c == 3 || c == 12,
                          &worst);
            free(dcol);
            operands_free(&o);
        }
        print_summary("input_grad", variant, SN_CONV_INPUT_GRAD, worst);
    }
}

/* A copy of x (n floats) starting `shift` floats into a fresh allocation. */
static float *shifted_copy(const float *x, size_t n, int shift, float **base) {
    *base = malloc((n + (size_t)shift) * sizeof **base);
    assert_non_null(*base);
    memcpy(*base + shift, x, n * sizeof *x);
    return *base + shift;
}

/* Same arguments, same bits: twice with the same pointers, then with every
 * operand moved by 1..3 floats (other alignments). */
static void test_bit_identical(void **state) {
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        sn_rng rng;
        sn_rng_seed(&rng, 24, 0);
        for (int c = 0; c < N_CASES; c++) {
            const cg_case *cc = &cases[c];
            operands o = operands_make(cc, &rng);
            const size_t n_y = (size_t)o.c_out * o.ld_y, n_col = (size_t)o.k * o.ld_col,
                         n_w = (size_t)o.c_out * o.k;
            float *dw_init = matrix(&rng, o.c_out, o.k, 0, 0, 0.0f, 0.0f);
            float *out[3][3]; /* [product][run] */
            float *bases[16];
            int n_bases = 0;
            for (int run = 0; run < 3; run++) {
                const operands *src = &o;
                operands moved = o;
                if (run == 2) {
                    moved.w = shifted_copy(o.w, n_w, 1, &bases[n_bases++]);
                    if (o.bias)
                        moved.bias = shifted_copy(o.bias, (size_t)o.c_out, 3, &bases[n_bases++]);
                    moved.col = shifted_copy(o.col, n_col, 2, &bases[n_bases++]);
                    moved.dy = shifted_copy(o.dy, n_y, 3, &bases[n_bases++]);
                    src = &moved;
                }
                float *y = shifted_copy(o.dy, n_y, run == 2 ? 1 : 0, &bases[n_bases++]);
                float *dw = shifted_copy(dw_init, n_w, run == 2 ? 2 : 0, &bases[n_bases++]);
                float *dcol = shifted_copy(o.col, n_col, run == 2 ? 3 : 0, &bases[n_bases++]);
                forwards[variant](o.c_out, o.k, o.p, src->w, src->col, o.ld_col, src->bias, y,
                                  o.ld_y);
                weight_grads[variant](o.c_out, o.k, o.p, src->dy, o.ld_y, src->col, o.ld_col, dw);
                input_grads[variant](o.c_out, o.k, o.p, src->w, src->dy, o.ld_y, dcol, o.ld_col);
                out[0][run] = y, out[1][run] = dw, out[2][run] = dcol;
            }
            for (int run = 1; run < 3; run++) {
                /* Padding columns are compared too: they were copied, never written. */
                assert_memory_equal(out[0][0], out[0][run], n_y * sizeof(float));
                assert_memory_equal(out[1][0], out[1][run], n_w * sizeof(float));
                assert_memory_equal(out[2][0], out[2][run], n_col * sizeof(float));
            }
            for (int b = 0; b < n_bases; b++) free(bases[b]);
            free(dw_init);
            operands_free(&o);
        }
    }
}

/* sn_conv_gemm_transpose: dst (n, m) = src (m, n)^T, or += with add, exactly,
 * at sizes around whole blocks of 4, 8 and 16 (the conv2d layouts (16, 100),
 * (100, 16), (150, 16) among them) and row strides past the rows, whose
 * padding is neither read (NaN in src) nor written (a sentinel in dst). */
static void test_transpose(void **state) {
    (void)state;
    static const int sizes[][4] = {
        /* m, n, pad_src, pad_dst */
        {1, 1, 0, 0},   {16, 100, 0, 0}, {100, 16, 0, 0}, {150, 16, 0, 0}, {16, 150, 3, 1},
        {17, 33, 1, 2}, {5, 3, 0, 4},    {33, 9, 2, 0},   {8, 8, 0, 0},    {4, 20, 5, 5},
    };
    sn_rng rng;
    sn_rng_seed(&rng, 31, 0);
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        const int m = sizes[t][0], n = sizes[t][1], ps = sizes[t][2], pd = sizes[t][3];
        float *src = matrix(&rng, m, n, ps, 0, 0.0f, NAN);
        for (int add = 0; add < 2; add++) {
            float *dst = matrix(&rng, n, m, pd, 0, 0.0f, SENTINEL);
            float *old = malloc((size_t)n * (m + pd) * sizeof *old);
            assert_non_null(old);
            memcpy(old, dst, (size_t)n * (m + pd) * sizeof *old);
            sn_conv_gemm_transpose(m, n, src, n + ps, dst, m + pd, add);
            for (int j = 0; j < n; j++)
                for (int i = 0; i < m + pd; i++) {
                    const float got = dst[(size_t)j * (m + pd) + i];
                    const float was = old[(size_t)j * (m + pd) + i];
                    const float want = i >= m ? SENTINEL
                                       : add  ? was + src[(size_t)i * (n + ps) + j]
                                              : src[(size_t)i * (n + ps) + j];
                    if (memcmp(&got, &want, sizeof got) != 0)
                        fail_msg("transpose %dx%d (pads %d, %d, add %d): [%d][%d] = %g, want %g", m,
                                 n, ps, pd, add, j, i, (double)got, (double)want);
                }
            free(old);
            free(dst);
        }
        free(src);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transpose),
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_weight_grad_accumulates),
        cmocka_unit_test(test_input_grad_overwrites),
        cmocka_unit_test(test_bit_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The zero-skipping product C = beta C + A^T B (src/backend/cpu/gemm_skip.c)
 * against the own dense kernel, sn_sgemm_portable(1, 0, ...): the same bits,
 * element for element, over shapes on both sides of its block sizes (rows of
 * C in blocks of 32, columns in tiles of up to 8 vectors and a partial vector,
 * the K slice of 256, the VL x VL transposes that build the lists), the
 * shapes of the benchmark models' Linear weight gradients, zero fractions
 * from none to all, beta 0 (over a C of NaN: not read) and 1, leading
 * dimensions longer than the rows (their padding NaN in A and B: never read;
 * a sentinel in C: never written), and its blocks run in reverse order.
 * A NaN in A is not a zero: it reaches C as in the dense product. Negative
 * control: with one nonzero of A one ulp off, the comparison must fail.
 * The plan's rule: chunks only past the zero fraction, in AVX-512 builds.
 * In a graph, Linear(784, 256) -> ReLU (about half of the Linear's output
 * gradient zero): the weight gradient has the bits of the dense kernel's
 * dy^T x, for 1 and 2 threads.
 */
#include "support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/gemm_skip.h"

typedef struct skip_case {
    int m, n, k, pad;
} skip_case;

static const skip_case shapes[] = {
    {1, 1, 1},      {3, 5, 7, 2},   {16, 16, 16},  {17, 33, 15, 1}, {31, 127, 64},
    {32, 128, 64},  {33, 129, 65},  {10, 120, 64}, {64, 400, 64},   {120, 400, 64, 3},
    {128, 256, 64}, {256, 784, 64}, {40, 70, 256}, {40, 70, 257},   {9, 300, 600, 1},
};
static const double zero_fractions[] = {0.0, 0.5, 0.9, 1.0};

typedef struct operands {
    int lda, ldb, ldc;
    float *a, *b, *c0, *want, *got;
    size_t c_floats;
} operands;

/* A (k, m), B (k, n), C (m, n), rows padded by pad floats; A's entries are
 * +0 (or -0, every other one) with probability `zeros`, else in (-1, 1). */
static operands make_operands(const skip_case *sc, double zeros, sn_rng *rng) {
    operands o = {.lda = sc->m + sc->pad, .ldb = sc->n + sc->pad, .ldc = sc->n + sc->pad};
    const size_t na = (size_t)sc->k * o.lda, nb = (size_t)sc->k * o.ldb;
    o.c_floats = (size_t)sc->m * o.ldc;
    o.a = malloc(na * sizeof(float));
    o.b = malloc(nb * sizeof(float));
    o.c0 = malloc(o.c_floats * sizeof(float));
    o.want = malloc(o.c_floats * sizeof(float));
    o.got = malloc(o.c_floats * sizeof(float));
    assert_true(o.a && o.b && o.c0 && o.want && o.got);
    for (size_t i = 0; i < na; i++) {
        const int in_row = (int)(i % (size_t)o.lda) < sc->m;
        const float r = 2.0f * sn_rng_uniform(rng) - 1.0f;
        o.a[i] = !in_row ? NAN : sn_rng_uniform(rng) < (float)zeros ? (i % 2 ? -0.0f : 0.0f) : r;
    }
    for (size_t i = 0; i < nb; i++)
        o.b[i] = (int)(i % (size_t)o.ldb) < sc->n ? 2.0f * sn_rng_uniform(rng) - 1.0f : NAN;
    for (size_t i = 0; i < o.c_floats; i++) o.c0[i] = 2.0f * sn_rng_uniform(rng) - 1.0f;
    return o;
}

static void free_operands(operands *o) {
    free(o->a);
    free(o->b);
    free(o->c0);
    free(o->want);
    free(o->got);
}

/* C before the product: c0 (beta 1) or NaN (beta 0: must not be read); the
 * padding a sentinel in both. */
static void fill_c(const skip_case *sc, const operands *o, float beta, float *c) {
    for (size_t i = 0; i < o->c_floats; i++)
        c[i] = (int)(i % (size_t)o->ldc) >= sc->n ? 1234.5f : beta != 0.0f ? o->c0[i] : NAN;
}

/* Runs the skip job's blocks in reverse order into o->got. */
static void run_skip(const skip_case *sc, const operands *o, const float *a, float beta) {
    fill_c(sc, o, beta, o->got);
    sn_sgemm_skip_job job = sn_sgemm_skip_plan_always(sc->m, sc->n, sc->k, a, o->lda, o->b, o->ldb,
                                                      beta, o->got, o->ldc);
    assert_int_equal(job.chunks, (sc->m + job.block - 1) / job.block);
    for (int c = job.chunks - 1; c >= 0; c--) sn_sgemm_skip_run_block(&job, c);
}

static void run_dense(const skip_case *sc, const operands *o, float beta) {
    fill_c(sc, o, beta, o->want);
    sn_sgemm_portable(1, 0, sc->m, sc->n, sc->k, 1.0f, o->a, o->lda, o->b, o->ldb, beta, o->want,
                      o->ldc);
}

/* The first element whose bits differ, or -1. */
static long first_difference(const operands *o) {
    for (size_t i = 0; i < o->c_floats; i++)
        if (memcmp(&o->want[i], &o->got[i], sizeof(float)) != 0) return (long)i;
    return -1;
}

static void test_bits_of_the_dense_kernel(void **state) {
    (void)state;
    sn_rng rng;
    sn_rng_seed(&rng, 21, 0);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t z = 0; z < sizeof zero_fractions / sizeof zero_fractions[0]; z++)
            for (int beta = 0; beta <= 1; beta++) {
                const skip_case *sc = &shapes[s];
                operands o = make_operands(sc, zero_fractions[z], &rng);
                run_dense(sc, &o, (float)beta);
                run_skip(sc, &o, o.a, (float)beta);
                const long at = first_difference(&o);
                if (at >= 0)
                    fail_msg("%dx%dx%d pad %d zeros %.1f beta %d: C[%ld] = %a, dense %a", sc->m,
                             sc->n, sc->k, sc->pad, zero_fractions[z], beta, at, (double)o.got[at],
                             (double)o.want[at]);
                free_operands(&o);
            }
}

/* A NaN of A is kept: the row of C it feeds is NaN wherever the dense one is. */
static void test_nan_in_a_is_kept(void **state) {
    (void)state;
    sn_rng rng;
    sn_rng_seed(&rng, 22, 0);
    const skip_case sc = {40, 100, 64};
    operands o = make_operands(&sc, 0.5, &rng);
    o.a[7 * o.lda + 5] = NAN; /* p = 7, row 5 of C */
    run_dense(&sc, &o, 0.0f);
    run_skip(&sc, &o, o.a, 0.0f);
    assert_true(isnan(o.got[5 * o.ldc]) && isnan(o.want[5 * o.ldc]));
    assert_int_equal(first_difference(&o), -1);
    free_operands(&o);
}

/* The comparison is sharp: one nonzero of A one ulp off changes the bits. */
static void test_negative_control(void **state) {
    (void)state;
    sn_rng rng;
    sn_rng_seed(&rng, 23, 0);
    const skip_case sc = {64, 200, 64};
    operands o = make_operands(&sc, 0.5, &rng);
    float *a = malloc((size_t)sc.k * o.lda * sizeof(float));
    assert_non_null(a);
    memcpy(a, o.a, (size_t)sc.k * o.lda * sizeof(float));
    size_t i = 3 * (size_t)o.lda + 9;
    while (a[i] == 0.0f) i++;
    a[i] = nextafterf(a[i], 2.0f);
    run_dense(&sc, &o, 1.0f);
    run_skip(&sc, &o, a, 1.0f);
    assert_true(first_difference(&o) >= 0);
    free(a);
    free_operands(&o);
}

/* The plan's job (chunks) for a case at a zero fraction and beta. */
static int plan_chunks(const skip_case *sc, double zeros, float beta, sn_rng *rng) {
    operands o = make_operands(sc, zeros, rng);
    const int chunks =
        sn_sgemm_skip_plan(sc->m, sc->n, sc->k, o.a, o.lda, o.b, o.ldb, beta, o.got, o.ldc).chunks;
    free_operands(&o);
    return chunks;
}

/* The plan: in AVX-512 builds a job past the zero fraction for the shape
 * (784 columns: 46%; 120 columns: 78%), none below it, none for rows of B
 * more than 1024 floats apart or beta other than 0 and 1; never elsewhere. */
static void test_plan_rule(void **state) {
    (void)state;
    sn_rng rng;
    sn_rng_seed(&rng, 24, 0);
    const skip_case mlp = {256, 784, 64}, short_rows = {84, 120, 64}, far_rows = {128, 1040, 64};
    const int avx512 =
#if defined(__AVX512F__)
        1;
#else
        0;
#endif
    assert_int_equal(plan_chunks(&mlp, 0.5, 1.0f, &rng), avx512 ? 8 : 0);
    assert_int_equal(plan_chunks(&mlp, 0.5, 0.0f, &rng), avx512 ? 8 : 0);
    assert_int_equal(plan_chunks(&mlp, 0.4, 1.0f, &rng), 0);
    assert_int_equal(plan_chunks(&mlp, 0.5, 0.5f, &rng), 0);
    assert_int_equal(plan_chunks(&short_rows, 0.5, 1.0f, &rng), 0);
    assert_int_equal(plan_chunks(&short_rows, 0.85, 1.0f, &rng), avx512 ? 3 : 0);
    assert_int_equal(plan_chunks(&far_rows, 0.9, 1.0f, &rng), 0);
}

/* x (64, 784) -> Linear(784, 256) -> ReLU, backward from a random seed:
 * dW against sn_sgemm_portable on the Linear's own output gradient. */
static void test_linear_after_relu(void **state) {
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        SN_ASSERT_OK(sn_set_threads(threads));
        sn_graph *g = sn_graph_create(3);
        const int x = sn_input(g, "x", 2, (int64_t[]){64, 784});
        const int w = sn_param(g, "w", 2, (int64_t[]){256, 784});
        const int b = sn_param(g, "b", 1, (int64_t[]){256});
        const int y = sn_linear(g, x, w, b), h = sn_relu(g, y);
        SN_ASSERT_OK(sn_graph_compile(g));
        sn_rng rng;
        sn_rng_seed(&rng, 25, 0);
        const int nodes[3] = {x, w, b};
        const size_t sizes[3] = {64 * 784, 256 * 784, 256};
        for (int i = 0; i < 3; i++) {
            float *v = sn_graph_value(g, nodes[i]);
            for (size_t j = 0; j < sizes[i]; j++) v[j] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
        }
        float *seed = malloc(64 * 256 * sizeof(float)), *want = calloc(256 * 784, sizeof(float));
        assert_true(seed && want);
        for (size_t j = 0; j < 64 * 256; j++) seed[j] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
        SN_ASSERT_OK(sn_graph_forward(g));
        sn_graph_zero_grad(g);
        SN_ASSERT_OK(sn_graph_backward_from(g, h, seed));
        const float *dy = sn_graph_grad(g, y), *xv = sn_graph_value(g, x);
        assert_non_null(dy);
        size_t zeros = 0;
        for (size_t j = 0; j < 64 * 256; j++) zeros += dy[j] == 0.0f;
        assert_true(zeros > 64 * 256 * 45 / 100 && zeros < 64 * 256 * 55 / 100);
#if defined(__AVX512F__)
        assert_true(sn_sgemm_skip_plan(256, 784, 64, dy, 256, xv, 784, 1.0f, want, 784).chunks > 0);
#endif
        sn_sgemm_portable(1, 0, 256, 784, 64, 1.0f, dy, 256, xv, 784, 1.0f, want, 784);
        assert_memory_equal(sn_graph_grad(g, w), want, 256 * 784 * sizeof(float));
        free(seed);
        free(want);
        sn_graph_destroy(g);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bits_of_the_dense_kernel), cmocka_unit_test(test_nan_in_a_is_kept),
        cmocka_unit_test(test_negative_control),         cmocka_unit_test(test_plan_rule),
        cmocka_unit_test(test_linear_after_relu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

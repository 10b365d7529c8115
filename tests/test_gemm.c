/*
 * The GEMM seam: sn_sgemm_portable and sn_sgemm (CBLAS or the same portable
 * kernel) against a naive double-precision reference, over shapes that hit
 * every edge of the blocking (1x1x1, odd sizes, sizes just past a tile or a K
 * slice), all four transpose combinations, several alpha/beta, and leading
 * dimensions longer than the rows. An element passes when
 *     |c - ref| <= (k + 4) eps (|alpha| sum_p |a_ip b_pj| + |beta c0_ij|)
 * the classical bound for a float sum of k products plus the alpha/beta
 * roundings. Padding of A and B between rows holds NaN (it must never be read),
 * padding of C a sentinel (it must never be written), and beta = 0 runs over a
 * C full of NaN (BLAS: C is then not read).
 *
 * The own kernel (sn_sgemm_portable, src/backend/cpu/gemm.c) is also run over
 * shapes on both sides of each of its block sizes (rows of the micro-kernel
 * MR <= 8, columns NR = 2 vectors <= 32, a vector VL <= 16, the K slice
 * KC = 256, the tile NC = 256, the VL x VL transposes of a packed B^T), and a
 * negative control checks that the comparison catches an error: with one
 * element of A changed by 0.5 after the product, the same check must fail.
 * sn_sgemm's route to the own kernel must give the bits of a direct call,
 * for any thread count.
 */
#include "support/test_support.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

typedef struct gemm_case {
    int m, n, k;
    float alpha, beta;
    int pad; /* extra floats at the end of every row of A, B and C */
} gemm_case;

static const gemm_case cases[] = {
    {1, 1, 1, 1.0f, 0.0f, 0},      {1, 1, 1, -2.5f, 0.5f, 3},      {7, 13, 5, 1.0f, 0.0f, 0},
    {7, 13, 5, 0.5f, 1.0f, 2},     {2, 3, 4, 1.0f, -1.0f, 1},      {4, 16, 1, 1.0f, 0.0f, 0},
    {5, 17, 300, 1.0f, 0.0f, 0},   {5, 17, 300, -1.0f, 2.0f, 5},   {65, 257, 3, 1.0f, 0.25f, 0},
    {257, 129, 65, 1.0f, 0.0f, 0}, {257, 129, 65, 0.75f, 1.0f, 7}, {64, 256, 256, 1.0f, 0.0f, 0},
    {1, 300, 7, 1.0f, 1.0f, 1},    {300, 1, 7, 2.0f, 0.0f, 1},     {33, 31, 513, 1.0f, 0.5f, 2},
    {6, 4000, 75, 1.0f, 0.0f, 0},
};

/* Both sides of every block size of the own kernel (MR up to 8, NR up to 32,
 * VL up to 16, KC = NC = 256) and the Linear shapes of the benchmark models. */
static const gemm_case block_cases[] = {
    {1, 31, 33, 1.0f, 0.0f, 0},     {7, 32, 16, 1.0f, 0.0f, 1},      {8, 33, 17, -1.0f, 0.5f, 0},
    {9, 15, 255, 1.0f, 0.0f, 3},    {15, 16, 256, 0.5f, 1.0f, 0},    {16, 17, 257, 1.0f, 0.0f, 0},
    {17, 47, 31, 1.0f, 1.0f, 2},    {23, 48, 32, 2.0f, 0.0f, 0},     {25, 49, 48, 1.0f, -0.5f, 1},
    {33, 255, 40, 1.0f, 0.0f, 0},   {40, 256, 64, 1.0f, 1.0f, 5},    {41, 257, 65, 1.0f, 0.0f, 0},
    {13, 511, 20, 1.0f, 0.0f, 0},   {12, 513, 513, -0.25f, 2.0f, 1}, {64, 10, 128, 1.0f, 1.0f, 0},
    {64, 256, 784, 1.0f, 1.0f, 0},  {10, 128, 64, 1.0f, 1.0f, 0},    {64, 84, 120, 1.0f, 0.0f, 0},
    {256, 120, 400, 1.0f, 0.0f, 0}, {3, 1, 600, 1.0f, 0.0f, 0},      {2, 70, 1, 1.0f, 0.0f, 4},
};

static float *random_floats(sn_rng *rng, size_t count) {
    float *v = malloc(count * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < count; i++) v[i] = 2.0f * sn_rng_uniform(rng) - 1.0f;
    return v;
}

/* Random operands of one case for the transposes t (bit 0: A, bit 1: B):
 * op(A) (m, k), op(B) (k, n), C (m, n), each with one spare float at the
 * end, their leading dimensions, and two results of C's size + 1 to fill. */
typedef struct operands {
    int ta, tb, lda, ldb;
    size_t c_bytes; /* (m * n + 1) floats */
    float *a, *b, *c, *want, *got;
} operands;

static operands random_operands(sn_rng *rng, const gemm_case *gc, int t) {
    const size_t size_c = (size_t)gc->m * (size_t)gc->n + 1;
    operands o = {.ta = t & 1, .tb = t >> 1, .c_bytes = size_c * sizeof(float)};
    o.lda = o.ta ? gc->m : gc->k;
    o.ldb = o.tb ? gc->k : gc->n;
    o.a = random_floats(rng, (size_t)gc->m * (size_t)gc->k + 1);
    o.b = random_floats(rng, (size_t)gc->k * (size_t)gc->n + 1);
    o.c = random_floats(rng, size_c);
    o.want = malloc(o.c_bytes);
    o.got = malloc(o.c_bytes);
    assert_non_null(o.want);
    assert_non_null(o.got);
    return o;
}

static void free_operands(operands *o) {
    free(o->a);
    free(o->b);
    free(o->c);
    free(o->want);
    free(o->got);
}

/* Stores op(X) (rows, cols) with row stride cols + pad, NaN in the padding. */
static float *stored_operand(sn_rng *rng, int trans, int rows, int cols, int pad, int *ld) {
    const int stored_rows = trans ? cols : rows, stored_cols = trans ? rows : cols;
    *ld = stored_cols + pad;
    float *x = random_floats(rng, (size_t)stored_rows * (size_t)*ld);
    for (int r = 0; r < stored_rows; r++)
        for (int c = stored_cols; c < *ld; c++) x[(size_t)r * *ld + c] = NAN;
    return x;
}

static double element(const float *x, int ld, int trans, int r, int c) {
    return trans ? x[(size_t)c * ld + r] : x[(size_t)r * ld + c];
}

typedef struct gemm_stats {
    double max_abs_err;
    double max_ratio; /* error / allowed bound, < 1 passes */
    int checked;
} gemm_stats;

/* Runs one case through `gemm` and compares it with the double reference;
 * returns the number of elements out of bounds, failing the test on the first
 * unless `perturb` (then A's first element is raised by 0.5 after the product,
 * so that the reference is that of another A: the negative control). */
static int check_case(gemm_fn gemm, const gemm_case *gc, int ta, int tb, int nan_c, sn_rng *rng,
                      gemm_stats *stats, int perturb) {
    int lda, ldb;
    const int ldc = gc->n + gc->pad;
    float *a = stored_operand(rng, ta, gc->m, gc->k, gc->pad, &lda);
    float *b = stored_operand(rng, tb, gc->k, gc->n, gc->pad, &ldb);
    float *c = random_floats(rng, (size_t)gc->m * ldc);
    for (int i = 0; i < gc->m; i++)
        for (int j = 0; j < ldc; j++)
            if (j >= gc->n)
                c[(size_t)i * ldc + j] = 12345.0f; /* must stay */
            else if (nan_c)
                c[(size_t)i * ldc + j] = NAN;
    float *c0 = malloc((size_t)gc->m * ldc * sizeof *c0);
    assert_non_null(c0);
    memcpy(c0, c, (size_t)gc->m * ldc * sizeof *c0);

    gemm(ta, tb, gc->m, gc->n, gc->k, gc->alpha, a, lda, b, ldb, gc->beta, c, ldc);
    if (perturb) a[0] += 0.5f;

    int bad = 0;
    for (int i = 0; i < gc->m; i++) {
        for (int j = 0; j < gc->n; j++) {
            double dot = 0.0, dot_abs = 0.0;
            for (int p = 0; p < gc->k; p++) {
                const double prod = element(a, lda, ta, i, p) * element(b, ldb, tb, p, j);
                dot += prod;
                dot_abs += fabs(prod);
            }
            const double old = c0[(size_t)i * ldc + j];
            const double ref = gc->alpha * dot + (gc->beta == 0.0f ? 0.0 : gc->beta * old);
            const double scale =
                fabs(gc->alpha) * dot_abs + (gc->beta == 0.0f ? 0.0 : fabs(gc->beta * old));
            const double bound = (gc->k + 4) * (double)FLT_EPSILON * scale + 1e-30;
            const double got = c[(size_t)i * ldc + j], err = fabs(got - ref);
            if (!(err <= bound) && bad++ == 0 && !perturb)
                fail_msg("%dx%dx%d ta=%d tb=%d alpha=%g beta=%g pad=%d: C[%d][%d] = %.9g, "
                         "reference %.9g (bound %.3g)",
                         gc->m, gc->n, gc->k, ta, tb, gc->alpha, gc->beta, gc->pad, i, j, got, ref,
                         bound);
            if (err > stats->max_abs_err) stats->max_abs_err = err;
            if (err / bound > stats->max_ratio) stats->max_ratio = err / bound;
            stats->checked++;
        }
        for (int j = gc->n; j < ldc; j++)
            if (c[(size_t)i * ldc + j] != 12345.0f)
                fail_msg("%dx%dx%d: padding C[%d][%d] was written", gc->m, gc->n, gc->k, i, j);
    }
    free(a);
    free(b);
    free(c);
    free(c0);
    return bad;
}

static void check_list(gemm_fn gemm, const char *label, const gemm_case *list, size_t count) {
    sn_rng rng;
    sn_rng_seed(&rng, 11, 0);
    gemm_stats stats = {0};
    int runs = 0;
    for (size_t i = 0; i < count; i++)
        for (int t = 0; t < 4; t++) {
            check_case(gemm, &list[i], t & 1, t >> 1, 0, &rng, &stats, 0);
            runs++;
            if (list[i].beta == 0.0f) {
                check_case(gemm, &list[i], t & 1, t >> 1, 1, &rng, &stats, 0);
                runs++;
            }
        }
    printf("%s: %d products, %d elements, largest |difference| %.3g (%.3f of the bound)\n", label,
           runs, stats.checked, stats.max_abs_err, stats.max_ratio);
}

static void check_all(gemm_fn gemm, const char *label) {
    check_list(gemm, label, cases, sizeof cases / sizeof cases[0]);
}

static void test_portable_matches_reference(void **state) {
    (void)state;
    check_all(sn_sgemm_portable, "sn_sgemm_portable");
}

static void test_own_kernel_block_edges(void **state) {
    (void)state;
    check_list(sn_sgemm_portable, "sn_sgemm_portable, block edges", block_cases,
               sizeof block_cases / sizeof block_cases[0]);
    check_list(sn_sgemm, "sn_sgemm, block edges", block_cases,
               sizeof block_cases / sizeof block_cases[0]);
}

/* The check must catch a change of 0.5 in one element of A (entries are in
 * [-1, 1]): every transpose, on a shape that uses the packed and the in-place
 * paths of B. */
static void test_negative_control(void **state) {
    (void)state;
    sn_rng rng;
    sn_rng_seed(&rng, 12, 0);
    const gemm_case gc = {20, 40, 50, 1.0f, 0.0f, 1};
    for (int t = 0; t < 4; t++) {
        gemm_stats stats = {0};
        const int bad = check_case(sn_sgemm_portable, &gc, t & 1, t >> 1, 0, &rng, &stats, 1);
        /* A[0] enters row 0 (or column 0 of A^T: row 0 too) of C: 40 elements. */
        assert_int_equal(bad, gc.n);
    }
}

/* Runs `check` on every shape of a list with each of the four transposes
 * (t = 0..3: NN, TN, NT, TT), on fresh random operands drawn from `seed`'s
 * stream (the check may draw more from it). */
typedef void (*case_check)(const gemm_case *gc, const operands *o, sn_rng *rng);
static void each_case(const gemm_case *shapes, size_t count, uint64_t seed, case_check check) {
    sn_rng rng;
    sn_rng_seed(&rng, seed, 0);
    for (size_t s = 0; s < count; s++)
        for (int t = 0; t < 4; t++) {
            operands o = random_operands(&rng, &shapes[s], t);
            check(&shapes[s], &o, &rng);
            free_operands(&o);
        }
}

static void route_bits_case(const gemm_case *gc, const operands *cur, sn_rng *rng) {
    operands o = *cur; /* the buffers stay the caller's */
    (void)rng;
    memcpy(o.want, o.c, o.c_bytes);
    sn_sgemm_portable(o.ta, o.tb, gc->m, gc->n, gc->k, gc->alpha, o.a, o.lda, o.b, o.ldb, gc->beta,
                      o.want, gc->n);
    const int own = sn_sgemm_own_route(o.ta, o.tb, gc->m, gc->n, gc->k);
    for (int threads = 1; threads <= 3; threads++) {
        SN_ASSERT_OK(sn_set_threads(threads));
        memcpy(o.got, o.c, o.c_bytes);
        sn_sgemm(o.ta, o.tb, gc->m, gc->n, gc->k, gc->alpha, o.a, o.lda, o.b, o.ldb, gc->beta,
                 o.got, gc->n);
        if (own) assert_memory_equal(o.got, o.want, o.c_bytes);
        memcpy(o.got, o.c, o.c_bytes);
        sn_sgemm_split(sn_sgemm_portable, o.ta, o.tb, gc->m, gc->n, gc->k, gc->alpha, o.a, o.lda,
                       o.b, o.ldb, gc->beta, o.got, gc->n);
        assert_memory_equal(o.got, o.want, o.c_bytes);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* sn_sgemm's route to the own kernel gives the bits of one direct call, on 1,
 * 2 or 3 threads (the cut into column blocks changes no element's sum order). */
static void test_route_bits(void **state) {
    (void)state;
    static const gemm_case shapes[] = {
        {64, 256, 784, 1.0f, 1.0f, 0},  {256, 784, 64, 1.0f, 1.0f, 0},
        {64, 9216, 128, 1.0f, 1.0f, 0}, {64, 128, 9216, 1.0f, 0.0f, 0},
        {64, 10, 128, 1.0f, 1.0f, 0},   {64, 120, 400, 1.0f, 1.0f, 0},
        {64, 400, 120, 1.0f, 1.0f, 0},  {120, 400, 64, 1.0f, 1.0f, 0},
        {64, 84, 120, 1.0f, 1.0f, 0},   {84, 120, 64, 1.0f, 0.0f, 0},
    };
    each_case(shapes, sizeof shapes / sizeof shapes[0], 13, route_bits_case);
}

/* Rows of the own kernel's register block (gemm.c: GEMM_MR). */
#if defined(__AVX512F__)
#define OWN_ROW_UNIT 8
#else
#define OWN_ROW_UNIT 6
#endif

static void plan_cut_case(const gemm_case *gc, const operands *cur, sn_rng *rng) {
    operands o = *cur; /* the buffers stay the caller's */
    (void)rng;
    memcpy(o.want, o.c, o.c_bytes);
    memcpy(o.got, o.c, o.c_bytes);
    const sn_sgemm_job job = sn_sgemm_plan(o.ta, o.tb, gc->m, gc->n, gc->k, 1.0f, o.a, o.lda, o.b,
                                           o.ldb, 1.0f, o.got, gc->n);
    assert_true(job.chunks == 1 || job.chunks == 2 || job.chunks == 3 || job.chunks == 4);
    /* Whole units of the kernel: panels of 2 vectors (32, 16 or 8
     * columns) or blocks of MR rows for the own kernel, 16 for CBLAS. */
    const int unit = !job.by_rows ? 8 : job.one == sn_sgemm_portable ? OWN_ROW_UNIT : 16;
    const int len = job.by_rows ? gc->m : gc->n;
    int covered = 0;
    for (int c = 0; c < job.chunks; c++) {
        int first, count;
        sn_sgemm_block_range(&job, c, &first, &count);
        assert_int_equal(first, covered);
        assert_true(count >= 0 && (count == job.block || c == job.chunks - 1));
        if (job.chunks > 1) assert_int_equal(job.block % unit, 0);
        covered += count;
    }
    assert_int_equal(covered, len);
    /* Blocks last to first on this thread; sn_sgemm on 2 threads. */
    for (int c = job.chunks - 1; c >= 0; c--) sn_sgemm_run_block(&job, c);
    SN_ASSERT_OK(sn_set_threads(2));
    sn_sgemm(o.ta, o.tb, gc->m, gc->n, gc->k, 1.0f, o.a, o.lda, o.b, o.ldb, 1.0f, o.want, gc->n);
    SN_ASSERT_OK(sn_set_threads(0));
    /* the spare float past C: written by neither */
    assert_memory_equal(o.got, o.want, o.c_bytes);
}

/* The cut of sn_sgemm_plan: 1, 2 or 4 blocks that tile C's rows or columns
 * without overlap, each but the last a whole number of the kernel's units;
 * and running the blocks one by one in any order gives the bits of sn_sgemm. */
static void test_plan_cut(void **state) {
    (void)state;
    static const gemm_case shapes[] = {
        {64, 120, 400, 1, 1, 0}, {64, 400, 120, 1, 1, 0}, {120, 400, 64, 1, 1, 0},
        {64, 84, 120, 1, 1, 0},  {64, 10, 84, 1, 1, 0},   {256, 784, 64, 1, 1, 0},
        {64, 256, 784, 1, 1, 0}, {290, 700, 50, 1, 1, 0}, {1, 5000, 300, 1, 1, 0},
        {3000, 2, 300, 1, 1, 0}, {0, 10, 10, 1, 1, 0},    {10, 0, 10, 1, 1, 0},
    };
    each_case(shapes, sizeof shapes / sizeof shapes[0], 17, plan_cut_case);
#if defined(__AVX512F__)
    /* The cuts that gemm.c's comment gives for LeNet-5's Linear(400, 120) at
     * batch 64 (AVX-512: panels of 32 columns, blocks of 8 rows). */
    const sn_sgemm_job fwd =
        sn_sgemm_plan(0, 1, 64, 120, 400, 1, NULL, 400, NULL, 400, 0, NULL, 120);
    assert_true(fwd.one == sn_sgemm_portable && !fwd.by_rows && fwd.block == 32 && fwd.chunks == 4);
    const sn_sgemm_job dx =
        sn_sgemm_plan(0, 0, 64, 400, 120, 1, NULL, 120, NULL, 400, 0, NULL, 400);
    assert_true(dx.by_rows && dx.block == 16 && dx.chunks == 4);
    /* Under 1 MFLOP: one block. */
    assert_int_equal(sn_sgemm_plan(0, 1, 64, 10, 84, 1, NULL, 84, NULL, 84, 0, NULL, 10).chunks, 1);
#endif
}

static void bias_bits_case(const gemm_case *gc, const operands *cur, sn_rng *rng) {
    operands o = *cur; /* the buffers stay the caller's */
    float *bias = random_floats(rng, (size_t)gc->n);
    /* The reference: C = beta C + bias, then C += alpha op(A) op(B). */
    memcpy(o.want, o.c, o.c_bytes);
    for (int i = 0; i < gc->m; i++)
        for (int j = 0; j < gc->n; j++) {
            float *x = &o.want[(size_t)i * gc->n + j];
            *x = gc->beta == 0.0f ? bias[j] : gc->beta * *x + bias[j];
        }
    sn_sgemm(o.ta, o.tb, gc->m, gc->n, gc->k, gc->alpha, o.a, o.lda, o.b, o.ldb, 1.0f, o.want,
             gc->n);
    memcpy(o.got, o.c, o.c_bytes);
    sn_sgemm_job job = sn_sgemm_plan(o.ta, o.tb, gc->m, gc->n, gc->k, gc->alpha, o.a, o.lda, o.b,
                                     o.ldb, gc->beta, o.got, gc->n);
    job.bias = bias;
    for (int c = job.chunks - 1; c >= 0; c--) sn_sgemm_run_block(&job, c);
    assert_memory_equal(o.got, o.want, o.c_bytes);
    free(bias);
}

/* sn_sgemm_job.bias: running the blocks of a plan with a bias row gives the
 * bits of filling C with beta C + bias and running the product with beta = 1
 * (what Linear's forward did before the GEMM took the bias), for either
 * transpose, K in one slice or several (the bias must be added once), blocks
 * of rows or columns (each block reads its own part of the bias), a last
 * partial vector of columns, alpha != 1 and beta = 0, 1 or 0.5; on the own
 * kernel and, in a BLAS build, a shape that goes to CBLAS (64 x 10). */
static void test_bias_bits(void **state) {
    (void)state;
    static const gemm_case shapes[] = {
        {64, 256, 784, 1.0f, 0.0f, 0}, {64, 256, 784, -0.5f, 1.0f, 0},
        {64, 120, 400, 1.0f, 0.5f, 0}, {37, 45, 300, 1.0f, 0.0f, 0},
        {256, 784, 64, 1.0f, 1.0f, 0}, {64, 10, 128, 1.0f, 0.0f, 0},
        {5, 17, 3, 2.0f, 0.0f, 0},     {300, 40, 20, 1.0f, 0.0f, 0},
    };
    each_case(shapes, sizeof shapes / sizeof shapes[0], 19, bias_bits_case);
}

static void test_seam_matches_reference(void **state) {
    (void)state;
    char label[64];
    snprintf(label, sizeof label, "sn_sgemm (%s)", sn_sgemm_backend());
    check_all(sn_sgemm, label);
}

static void test_backend_name(void **state) {
    (void)state;
    const char *name = sn_sgemm_backend();
    assert_true(strcmp(name, "cblas") == 0 || strcmp(name, "portable") == 0 ||
                strcmp(name, "portable+cblas") == 0);
    /* The name says which kernels the route can pick: it must agree with a
     * shape that goes to the own kernel where CBLAS is there too. */
    const int own_somewhere = sn_sgemm_own_route(0, 1, 64, 256, 784);
    assert_int_equal(strstr(name, "portable") != NULL, own_somewhere);
}

/* alpha = 0 or k = 0: C = beta C, A and B never read (NULL here), as in BLAS. */
static void test_degenerate_sizes(void **state) {
    (void)state;
    float c[6] = {1, 2, 3, 4, 5, NAN};
    sn_sgemm_portable(0, 0, 2, 3, 0, 1.0f, NULL, 1, NULL, 3, 2.0f, c, 3);
    for (int i = 0; i < 5; i++) assert_float_equal(c[i], 2.0f * (float)(i + 1), 0.0f);
    sn_sgemm_portable(1, 1, 2, 3, 4, 0.0f, NULL, 2, NULL, 4, 0.0f, c, 3);
    /* The NaN in c[5] is overwritten, not propagated. */
    for (int i = 0; i < 6; i++) assert_float_equal(c[i], 0.0f, 0.0f);
    sn_sgemm_portable(0, 0, 0, 3, 4, 1.0f, NULL, 4, NULL, 3, 0.0f, NULL, 3); /* m = 0: no-op */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_portable_matches_reference),
        cmocka_unit_test(test_seam_matches_reference),
        cmocka_unit_test(test_own_kernel_block_edges),
        cmocka_unit_test(test_negative_control),
        cmocka_unit_test(test_route_bits),
        cmocka_unit_test(test_plan_cut),
        cmocka_unit_test(test_bias_bits),
        cmocka_unit_test(test_backend_name),
        cmocka_unit_test(test_degenerate_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * C = beta C + A^T B with the exact zeros of A skipped (gemm_skip.h).
 *
 * Row i of C is a sum of rows of B weighted by column i of A:
 *   C[i, :] = sum_p A[p, i] B[p, :]
 * so each zero A[p, i] drops one row of B from row i's sum. Per K slice (the
 * own kernel's, gemm.c) and block of at most SKIP_ROWS rows of C:
 *   1. lists: for each row i, the nonzero A[p, i] and their p, ascending
 *      (AVX-512: VL x VL blocks of A transposed in registers, each column
 *      compressed to its nonzeros; elsewhere a branchless scalar loop);
 *   2. sums: C's columns in tiles of at most SKIP_NV vectors; for each tile,
 *      every row of the block accumulates its list's rows of B in registers,
 *      s = fma(A[p, i], B[p, j], s) from +0 with p ascending, and stores
 *      s (first slice, beta 0) or C + s. The tile of B (k x SKIP_NV*VL
 *      floats: 32 KiB at k = 64) stays in L1 while the block's rows use it.
 * One FMA per load of B (the dense kernel has MR = 8 rows sharing each load),
 * so it wins only where enough of A is zero: SKIP_MIN_ZEROS.
 */
#include "backend/cpu/gemm_skip.h"

#include <stddef.h>
#include <stdint.h>

#include "backend/cpu/gemm.h"

#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif

#include "backend/cpu/simd.h"

enum {
    SKIP_ROWS = 32, /* rows of C per block: the lists of one block */
    SKIP_NV = 8,    /* vectors of C per tile: 8 accumulators, the FMA latency x 2 pipes */
    LIST_STRIDE = SN_SGEMM_KC + VL /* one row's list; a full-vector store may pass its end */
};

/* Where skipping pays. The skipping kernel is bound by its loads of B (one
 * per FMA, ~1.3 per cycle from this machine's L1), the dense one by its
 * FMAs, so it wins only past a share of zeros, and that share grows as C's
 * rows get shorter (each row's list and stores cost the same for fewer
 * FMAs). One thread, 64-byte aligned operands, us per product dense / skip
 * (m x n x k, zero fraction):
 *   256x784x64 (the MLP's first dW): 0: 110 / 160, 0.3: 109 / 119,
 *     0.4: 110 / 104, 0.5: 110 / 90, 0.6: 110 / 71;
 *   120x400x64: 0.3: 24.8 / 29.8, 0.5: 24.6 / 22.3;
 *   128x256x64: 0.5: 17.0 / 17.9, 0.55: 17.1 / 16.1, 0.6: 17.4 / 14.4;
 *   84x120x64: 0.5: 5.9 / 8.3, 0.6: 5.9 / 6.9, 0.7: 5.9 / 5.7.
 * Break-even near 0.35 + 45 / n; the rule asks 0.40 + 45 / n (784: 0.46,
 * 256: 0.58). Rows of B far apart fall on the same L1 sets (9216 floats:
 * every row on one set) and the skipping kernel, which reads a tile of
 * 64 rows many times, loses: 128x9216x64 at 0.5: 743 / 1422, 0.7: 740 / 755.
 * The MLP's ReLU leaves 32% of the first layer's dy zero at the start of
 * training and 55% by step 4000 (49-51% for the second layer). */
#define SKIP_MIN_ZEROS(n) (0.40 + 45.0 / (double)(n))
#define SKIP_MAX_LDB 1024

/* The lists of the block being summed, one per thread (2 x 34 KiB). */
static _Thread_local _Alignas(64) float list_val[SKIP_ROWS * LIST_STRIDE];
static _Thread_local _Alignas(64) int32_t list_pos[SKIP_ROWS * LIST_STRIDE];

static int min_int(int a, int b) {
    return a < b ? a : b;
}

/* Lists of the nonzeros of columns [0, rows) of the kc x rows block of A at a
 * (row stride lda): for column r, count[r] values at list_val + r*LIST_STRIDE
 * and their rows p (< kc) at list_pos + r*LIST_STRIDE, p ascending. A NaN is
 * not zero (the comparison is unordered-not-equal) and is listed. */
static void build_lists(const float *a, ptrdiff_t lda, int rows, int kc, int count[SKIP_ROWS]) {
    for (int r = 0; r < rows; r++) count[r] = 0;
#if defined(__AVX512F__) && VL == 16
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int q0 = 0; q0 < rows; q0 += VL) {
        const int w = min_int(VL, rows - q0);
        for (int p = 0; p < kc; p += VL) {
            const int h = min_int(VL, kc - p);
            vec x[VL];
            UNROLL
            for (int i = 0; i < VL; i++) {
                const float *row = a + (p + i) * lda + q0;
                x[i] = i >= h ? splat(0.0f) : w == VL ? load_v(row) : load_part(row, w);
            }
            transpose_block(x); /* x[r]: column q0 + r, rows p .. p + VL - 1 */
            const __m512i pos = _mm512_add_epi32(_mm512_set1_epi32(p), lane);
            for (int r = 0; r < w; r++) {
                const __mmask16 keep =
                    _mm512_cmp_ps_mask((__m512)x[r], _mm512_setzero_ps(), _CMP_NEQ_UQ);
                /* The register form of compress, then a whole-vector store
                 * (LIST_STRIDE leaves room): compress to memory is
                 * microcoded on some cores. */
                const int at = (q0 + r) * LIST_STRIDE + count[q0 + r];
                _mm512_storeu_ps(list_val + at, _mm512_maskz_compress_ps(keep, (__m512)x[r]));
                _mm512_storeu_si512(list_pos + at, _mm512_maskz_compress_epi32(keep, pos));
                count[q0 + r] += __builtin_popcount(keep);
            }
        }
    }
#else
    for (int r = 0; r < rows; r++) {
        float *val = list_val + r * LIST_STRIDE;
        int32_t *pos = list_pos + r * LIST_STRIDE;
        int n = 0;
        for (int p = 0; p < kc; p++) {
            const float v = a[p * lda + r];
            val[n] = v;
            pos[n] = p;
            n += !(v == 0.0f);
        }
        count[r] = n;
    }
#endif
}

/* The operands of one tile: rows [0, rows) of the block, C's columns from c,
 * B's slice from b; part: the floats of a partial vector (masked tiles). */
typedef struct skip_tile {
    const float *b;
    ptrdiff_t ldb, ldc;
    float *c;
    const int *count;
    int rows, part, add; /* add: C + s, else C = s */
} skip_tile;

/* Every row of the block over one tile of nv vectors, or (masked) over one
 * partial vector of t->part floats; nv and masked are constants at each call
 * site, so that acc lives in registers and no lane test is left in the loop. */
static ALWAYS_INLINE void tile_rows(const skip_tile *t, const int nv, const int masked) {
    const float *b = t->b;
    const ptrdiff_t ldb = t->ldb;
    const int part = t->part;
    for (int r = 0; r < t->rows; r++) {
        const float *val = list_val + r * LIST_STRIDE;
        const int32_t *pos = list_pos + r * LIST_STRIDE;
        vec acc[SKIP_NV];
        UNROLL
        for (int v = 0; v < nv; v++) acc[v] = splat(0.0f);
        for (int e = 0; e < t->count[r]; e++) {
            const vec s = splat(val[e]);
            const float *b_row = b + pos[e] * ldb;
            UNROLL
            for (int v = 0; v < nv; v++)
                acc[v] = fmadd(s, masked ? load_part(b_row, part) : load_v(b_row + v * VL), acc[v]);
        }
        float *c = t->c + r * t->ldc;
        UNROLL
        for (int v = 0; v < nv; v++) {
            if (masked)
                store_part(c, t->add ? load_part(c, part) + acc[v] : acc[v], part);
            else
                store_v(c + v * VL, t->add ? load_v(c + v * VL) + acc[v] : acc[v]);
        }
    }
}

#define TILE_CASE(nv)                                                                              \
    case nv:                                                                                       \
        tile_rows(t, nv, 0);                                                                       \
        return;

static void tile_dispatch(const skip_tile *t, int nv) {
    _Static_assert(SKIP_NV == 8, "the case list below goes to 8");
    switch (nv) {
        TILE_CASE(1)
        TILE_CASE(2)
        TILE_CASE(3)
        TILE_CASE(4)
        TILE_CASE(5)
        TILE_CASE(6)
        TILE_CASE(7)
        TILE_CASE(8)
    default:
        return;
    }
}

static void tile_part(const skip_tile *t) {
    tile_rows(t, 1, 1);
}

void sn_sgemm_skip_run_block(const sn_sgemm_skip_job *job, int chunk) {
    /* One block of at most SKIP_ROWS rows (the plan's cut): one set of lists. */
    const int i0 = chunk * job->block, rows = min_int(job->block, job->m - i0);
    const ptrdiff_t lda = job->lda, ldb = job->ldb, ldc = job->ldc;
    /* Columns: the full vectors in the fewest tiles of at most SKIP_NV, sizes
     * differing by at most one (49 vectors: 7 x 7, not 6 x 8 + 1, whose lone
     * vector would wait on the FMA latency), then a partial vector alone. */
    const int full = job->n / VL, part = job->n % VL;
    const int tiles = (full + SKIP_NV - 1) / SKIP_NV;
    const int base = tiles ? full / tiles : 0, extra = tiles ? full % tiles : 0;
    const int slices = sn_sgemm_k_slices(job->k); /* K as the own kernel cuts it */
    int count[SKIP_ROWS];
    for (int s = 0, p0 = 0; s < slices; s++) {
        const int kc = sn_sgemm_k_slice_depth(job->k, slices, s);
        build_lists(job->a + p0 * lda + i0, lda, rows, kc, count);
        skip_tile t = {.ldb = ldb,
                       .ldc = ldc,
                       .count = count,
                       .rows = rows,
                       .add = p0 > 0 || job->beta != 0.0f};
        for (int tile = 0, j = 0; tile < tiles; tile++) {
            const int nv = base + (tile < extra);
            t.b = job->b + p0 * ldb + j;
            t.c = job->c + (ptrdiff_t)i0 * ldc + j;
            tile_dispatch(&t, nv);
            j += nv * VL;
        }
        if (part) {
            t.part = part;
            t.b = job->b + p0 * ldb + full * VL;
            t.c = job->c + (ptrdiff_t)i0 * ldc + full * VL;
            tile_part(&t);
        }
        p0 += kc;
    }
}

sn_sgemm_skip_job sn_sgemm_skip_plan_always(int m, int n, int k, const float *a, int lda,
                                            const float *b, int ldb, float beta, float *c,
                                            int ldc) {
    /* Blocks of SKIP_ROWS rows: run_block builds one set of lists per block. */
    sn_sgemm_skip_job job = {.m = m,
                             .n = n,
                             .k = k,
                             .lda = lda,
                             .ldb = ldb,
                             .ldc = ldc,
                             .beta = beta,
                             .a = a,
                             .b = b,
                             .c = c,
                             .block = SKIP_ROWS};
    job.chunks = m > 0 && n > 0 && k > 0 ? (m + SKIP_ROWS - 1) / SKIP_ROWS : 0;
    return job;
}

sn_sgemm_skip_job sn_sgemm_skip_plan(int m, int n, int k, const float *a, int lda, const float *b,
                                     int ldb, float beta, float *c, int ldc) {
    sn_sgemm_skip_job none = {.chunks = 0};
#if defined(__AVX512F__)
    if (m <= 0 || n <= 0 || k <= 0 || !(beta == 0.0f || beta == 1.0f) || ldb > SKIP_MAX_LDB ||
        !sn_sgemm_own_route(1, 0, m, n, k))
        return none;
    int64_t zeros = 0;
    for (int p = 0; p < k; p++) {
        const float *row = a + (ptrdiff_t)p * lda;
        int z = 0;
        for (int i = 0; i < m; i++) z += row[i] == 0.0f;
        zeros += z;
    }
    if ((double)zeros < SKIP_MIN_ZEROS(n) * (double)m * (double)k) return none;
    return sn_sgemm_skip_plan_always(m, n, k, a, lda, b, ldb, beta, c, ldc);
#else
    (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)beta, (void)c,
        (void)ldc;
    return none;
#endif
}

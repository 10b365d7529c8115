/*
 * The GEMM seam: CBLAS when sinapsi is built with it (SINAPSI_HAVE_CBLAS), a
 * portable cache-blocked kernel otherwise. See gemm.h for the semantics.
 *
 * The portable kernel has the structure of Goto and van de Geijn, "Anatomy of
 * high-performance matrix multiplication" (ACM TOMS 2008), as in BLIS:
 *   - C is cut into tiles of GEMM_MC rows x GEMM_NC columns; a tile is one task.
 *   - For each tile, K is walked in slices of GEMM_KC. The slice of op(A)
 *     (MC x KC) and of op(B) (KC x NC) are packed into contiguous panels of
 *     GEMM_MR rows and GEMM_NR columns, so that the micro-kernel reads both with
 *     unit stride whatever the transposes and leading dimensions, and the packed
 *     slices stay in L2 (A) and L1 (one B panel) while they are reused.
 *   - The micro-kernel computes an MR x NR block of C as KC rank-1 updates held
 *     in a local array: fixed trip counts and no aliasing, so that the compiler
 *     vectorises it with whatever SIMD the target has; no intrinsics.
 *
 * Determinism: C[i][j] = beta C[i][j] + alpha s_0 + alpha s_1 + ..., where s_t
 * is the sum over the t-th K slice, accumulated from 0 with p ascending. That
 * order depends only on GEMM_KC, never on which thread computes which tile, so
 * the result is bit-identical for any thread count.
 */
#include "backend/cpu/gemm.h"

#include <stddef.h>

#include "core/parallel.h"

#ifdef SINAPSI_HAVE_CBLAS
#include <cblas.h>
#endif

enum {
    GEMM_MR = 4,   /* rows of the micro-kernel's block of C */
    GEMM_NR = 16,  /* columns of the micro-kernel's block of C */
    GEMM_MC = 64,  /* rows of a tile of C (multiple of MR) */
    GEMM_NC = 256, /* columns of a tile of C (multiple of NR) */
    GEMM_KC = 256  /* depth of one packed slice */
};
_Static_assert(GEMM_MC % GEMM_MR == 0 && GEMM_NC % GEMM_NR == 0,
               "a tile must hold whole panels: the packed buffers have no slack");

/* Packed slices, one pair per thread: a thread's tiles reuse them, so the
 * kernel never allocates. 64 KiB + 256 KiB. */
static _Thread_local _Alignas(64) float packed_a[GEMM_MC * GEMM_KC]; /* (MC/MR, KC, MR) */
static _Thread_local _Alignas(64) float packed_b[GEMM_KC * GEMM_NC]; /* (NC/NR, KC, NR) */

/* A strided view of op(A) or op(B)^T: element (r, p) is x[r*row_stride + p*depth_stride],
 * where r runs over the rows of C (for A) or its columns (for B), p over K. */
typedef struct strided_matrix {
    const float *x;
    ptrdiff_t row_stride, depth_stride;
} strided_matrix;

static int min_int(int a, int b) {
    return a < b ? a : b;
}

/* Packs rows [r0, r0+rows) x depth [p0, p0+depth) of m into panels of `width`
 * rows: panel q, depth p, row r goes to dst[(q*depth + p)*width + r]. Rows past
 * `rows` in the last panel are zero, so the micro-kernel always runs full size. */
static void pack_panels(strided_matrix m, int r0, int rows, int p0, int depth, int width,
                        float *restrict dst) {
    const float *base = m.x + r0 * m.row_stride + p0 * m.depth_stride;
    for (int q0 = 0; q0 < rows; q0 += width) {
        const int valid = min_int(width, rows - q0);
        float *panel = dst + (ptrdiff_t)q0 * depth; /* (depth, width) */
        const float *src = base + q0 * m.row_stride;
        if (m.depth_stride == 1) {
            /* Rows are contiguous in memory: read each one in order. */
            for (int r = 0; r < valid; r++)
                for (int p = 0; p < depth; p++) panel[p * width + r] = src[r * m.row_stride + p];
        } else {
            for (int p = 0; p < depth; p++)
                for (int r = 0; r < valid; r++)
                    panel[p * width + r] = src[r * m.row_stride + p * m.depth_stride];
        }
        for (int p = 0; p < depth && valid < width; p++)
            for (int r = valid; r < width; r++) panel[p * width + r] = 0.0f;
    }
}

/* Under -fsanitize=undefined (its pointer-overflow check) clang puts a check
 * on the indexing in the loop below, and a loop with checks cannot be
 * vectorised: clang then reports the `omp simd` hint as failed
 * (-Wpass-failed), an error under -Werror. The hint is for speed, not
 * correctness, and the sanitizer build is not about speed, so that one
 * diagnostic is off in this function; clang 14 has no macro by which to test
 * for UBSan and drop the hint instead. */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* c (rows x cols of an MR x NR block, row stride ldc) = beta c + alpha * a_panel b_panel,
 * with a_panel (depth, MR) and b_panel (depth, NR). beta == 0 never reads c. */
static void micro_kernel(int depth, const float *restrict a_panel, const float *restrict b_panel,
                         float alpha, float beta, float *restrict c, int ldc, int rows, int cols) {
    float sum[GEMM_MR][GEMM_NR] = {{0.0f}};
    for (int p = 0; p < depth; p++) {
        const float *a_col = a_panel + p * GEMM_MR, *b_row = b_panel + p * GEMM_NR;
        for (int r = 0; r < GEMM_MR; r++) {
            /* Without the hint gcc -O3 keeps `sum` in memory (3x slower). */
#pragma omp simd
            for (int j = 0; j < GEMM_NR; j++) sum[r][j] += a_col[r] * b_row[j];
        }
    }
    for (int r = 0; r < rows; r++) {
        float *c_row = c + (ptrdiff_t)r * ldc;
        if (beta == 0.0f)
            for (int j = 0; j < cols; j++) c_row[j] = alpha * sum[r][j];
        else
            for (int j = 0; j < cols; j++) c_row[j] = beta * c_row[j] + alpha * sum[r][j];
    }
}

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

typedef struct gemm_problem {
    int m, n, k;
    float alpha, beta;
    strided_matrix a;  /* op(A) (m, k) */
    strided_matrix bt; /* op(B)^T (n, k) */
    float *c;
    int ldc;
} gemm_problem;

/* Computes the tile of C at rows [i0, i0+mc), columns [j0, j0+nc). */
static void gemm_tile(const gemm_problem *pb, int i0, int mc, int j0, int nc) {
    for (int p0 = 0; p0 < pb->k; p0 += GEMM_KC) {
        const int kc = min_int(GEMM_KC, pb->k - p0);
        pack_panels(pb->a, i0, mc, p0, kc, GEMM_MR, packed_a);
        pack_panels(pb->bt, j0, nc, p0, kc, GEMM_NR, packed_b);
        /* beta scales C once, with the first slice; later slices add to it. */
        const float beta = p0 == 0 ? pb->beta : 1.0f;
        for (int jr = 0; jr < nc; jr += GEMM_NR)
            for (int ir = 0; ir < mc; ir += GEMM_MR)
                micro_kernel(kc, packed_a + (ptrdiff_t)ir * kc, packed_b + (ptrdiff_t)jr * kc,
                             pb->alpha, beta, pb->c + (ptrdiff_t)(i0 + ir) * pb->ldc + j0 + jr,
                             pb->ldc, min_int(GEMM_MR, mc - ir), min_int(GEMM_NR, nc - jr));
    }
}

/* C = beta C, the whole product when alpha or k is zero (BLAS: A and B unread). */
static void scale_c(int m, int n, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        float *c_row = c + (ptrdiff_t)i * ldc;
        for (int j = 0; j < n; j++) c_row[j] = beta == 0.0f ? 0.0f : beta * c_row[j];
    }
}

typedef struct portable_tiles {
    const gemm_problem *pb;
    int tiles_n;
} portable_tiles;

/* Tile t of C: rows from tile row t / tiles_n, columns from tile column t % tiles_n. */
static void portable_tile_chunk(void *ctx, int t, int worker) {
    (void)worker;
    const portable_tiles *pt = ctx;
    const gemm_problem *pb = pt->pb;
    const int i0 = (t / pt->tiles_n) * GEMM_MC, j0 = (t % pt->tiles_n) * GEMM_NC;
    gemm_tile(pb, i0, min_int(GEMM_MC, pb->m - i0), j0, min_int(GEMM_NC, pb->n - j0));
}

void sn_sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    /* op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when transposed; op(B)(p, j)
     * is b[p*ldb + j], or b[j*ldb + p]. Both are packed through strided views. */
    const gemm_problem pb = {
        .m = m,
        .n = n,
        .k = k,
        .alpha = alpha,
        .beta = beta,
        .a = {a, trans_a ? 1 : lda, trans_a ? lda : 1},
        .bt = {b, trans_b ? ldb : 1, trans_b ? 1 : ldb},
        .c = c,
        .ldc = ldc,
    };
    const int tiles_m = (m + GEMM_MC - 1) / GEMM_MC, tiles_n = (n + GEMM_NC - 1) / GEMM_NC;
    portable_tiles t = {&pb, tiles_n};
    /* Threads only pay off past about a million multiply-adds; inside a chunk
     * of sn_sgemm's cut this runs inline anyway. */
    const int parallel = tiles_m * tiles_n > 1 && (double)m * n * k > 1e6;
    sn_parallel_for(tiles_m * tiles_n, parallel ? SN_MAX_THREADS : 1, portable_tile_chunk, &t);
}

/* One GEMM call on the caller's thread: CBLAS (single-threaded, see
 * core/parallel.h) or the portable kernel. */
static void sgemm_one(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
#ifdef SINAPSI_HAVE_CBLAS
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
    sn_sgemm_portable(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

/* A large product is cut into blocks of C rows or C columns, one chunk each,
 * on the thread pool. Each element of C is still one call's dot product over
 * the whole of k, and the cut depends on (m, n, k) only, so the bits do not
 * depend on the thread count. The cut is along the longer side of C: a chunk
 * of rows re-packs all of op(B) (k x n), a chunk of columns all of op(A)
 * (m x k), and the shorter side's operand is the cheaper one to repeat. */
enum {
    /* A chunk per 2 MFLOP (~10 us of one core), at most 4 (an even share for 1,
     * 2 or 4 threads; each chunk repeats the packing of one operand). Measured
     * on the MLP's products at batch 64, 2 threads (bench_model, best of 3):
     * 4 MFLOP / 8 chunks 116,000 img/s, 2 MFLOP / 4 chunks 128,000. */
    SPLIT_MIN_FLOPS = 2000000,
    SPLIT_MAX_CHUNKS = 4,
    SPLIT_ALIGN = 16 /* blocks are multiples of 16 rows/columns: whole SIMD panels */
};

typedef struct gemm_split {
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int by_rows, block; /* cut C into blocks of `block` rows (by_rows) or columns */
} gemm_split;

static void gemm_split_chunk(void *ctx, int chunk, int worker) {
    (void)worker;
    const gemm_split *s = ctx;
    const int start = chunk * s->block;
    if (s->by_rows) {
        const int rows = min_int(s->block, s->m - start);
        /* Rows [start, start+rows) of op(A): row r is at a + r*lda, or column r of A^T. */
        const float *a = s->a + (size_t)start * (s->trans_a ? 1 : (size_t)s->lda);
        sgemm_one(s->trans_a, s->trans_b, rows, s->n, s->k, s->alpha, a, s->lda, s->b, s->ldb,
                  s->beta, s->c + (size_t)start * s->ldc, s->ldc);
    } else {
        const int cols = min_int(s->block, s->n - start);
        /* Columns [start, start+cols) of op(B). */
        const float *b = s->b + (size_t)start * (s->trans_b ? (size_t)s->ldb : 1);
        sgemm_one(s->trans_a, s->trans_b, s->m, cols, s->k, s->alpha, s->a, s->lda, b, s->ldb,
                  s->beta, s->c + start, s->ldc);
    }
}

void sn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    sn_parallel_init();
    const double flops = 2.0 * m * n * k;
    const int longer = m >= n ? m : n;
    if (flops < SPLIT_MIN_FLOPS || longer < 2 * SPLIT_ALIGN) {
        sgemm_one(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    int chunks = (int)(flops / SPLIT_MIN_FLOPS);
    if (chunks > SPLIT_MAX_CHUNKS) chunks = SPLIT_MAX_CHUNKS;
    if (chunks > longer / SPLIT_ALIGN) chunks = longer / SPLIT_ALIGN;
    int block = (longer + chunks - 1) / chunks;
    block = (block + SPLIT_ALIGN - 1) / SPLIT_ALIGN * SPLIT_ALIGN;
    gemm_split s = {trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, m >= n, block};
    sn_parallel_for(sn_chunk_count(longer, block), SN_MAX_THREADS, gemm_split_chunk, &s);
}

const char *sn_sgemm_backend(void) {
#ifdef SINAPSI_HAVE_CBLAS
    return "cblas";
#else
    return "portable";
#endif
}

/*
 * The GEMM seam: CBLAS when sinapsi is built with it (SINAPSI_HAVE_CBLAS) for
 * the shapes where it is faster, sinapsi's own blocked kernel otherwise. See
 * gemm.h for the semantics.
 *
 * The own kernel has the structure of Goto and van de Geijn, "Anatomy of
 * high-performance matrix multiplication" (ACM TOMS 2008), as in BLIS:
 *   - C is cut into tiles of all rows x GEMM_NC columns.
 *   - For each tile, K is walked in slices of at most GEMM_KC. A slice of op(B)
 *     (KC x NC) is packed into contiguous panels of GEMM_NR columns when B is
 *     transposed (its columns are then strided), and the last panel when it
 *     holds a part of a vector; otherwise the micro-kernel reads B where it is
 *     (rows of GEMM_NR floats, row stride ldb). A packed slice (256 KiB) stays
 *     in L2 while every row block of the tile reuses it.
 *   - op(A) is not packed: the micro-kernel broadcasts one element of it per
 *     row and step, and reads it through two strides (row, depth), which
 *     serves both transposes; its GEMM_MR x KC block stays in L1 while it
 *     sweeps the columns of the tile.
 *   - The micro-kernel holds a GEMM_MR x GEMM_NR block of C in MR*NV vector
 *     registers (GCC/clang vector extensions: 16 lanes with AVX-512, 8 with
 *     AVX, 4 otherwise) and adds one rank-1 update per step p: NV vector loads
 *     of B, MR broadcasts of A, MR*NV fused multiply-adds.
 *
 * Determinism: C[i][j] = beta C[i][j] (+ bias[j], sn_sgemm_job.bias) + alpha
 * s_0, then + alpha s_1, ..., where
 * s_t = fma(a[i,p], b[p,j], ... fma(a[i,p0], b[p0,j], 0)) over the t-th K
 * slice, p ascending (k cut into ceil(k / KC) slices of sizes differing by
 * at most one, the longer first). That order depends only on k and GEMM_KC
 * (and the target: FMA or not), never on tiles, rows blocks, the seam's cut or which
 * thread computes what, so the result is bit-identical for any thread count.
 */
#include "backend/cpu/gemm.h"

#include <stddef.h>
#include <string.h>

#include "core/parallel.h"

#ifdef SINAPSI_HAVE_CBLAS
#include <cblas.h>
#endif
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* VL lanes per vector; GEMM_MR x GEMM_NV vectors of accumulators, which with
 * the NV vectors of B and one broadcast must fit the register file (32 zmm
 * with AVX-512: 8x2 + 3 = 19; 16 ymm/xmm otherwise: 6x2 + 3 = 15). 8 x 32 on
 * AVX-512: 10 loads per 16 FMAs, 16 independent chains (the FMA latency of 4
 * cycles x 2 pipes needs >= 8). */
#if defined(__AVX512F__)
#define VL 16
#define GEMM_MR 8
#define GEMM_NV 2
#elif defined(__AVX__)
#define VL 8
#define GEMM_MR 6
#define GEMM_NV 2
#else
#define VL 4
#define GEMM_MR 6
#define GEMM_NV 2
#endif

enum {
    GEMM_NR = GEMM_NV * VL, /* columns of the micro-kernel's block of C */
    GEMM_NC = 256,          /* columns of a tile of C (multiple of NR) */
    GEMM_KC = SN_SGEMM_KC   /* depth of one K slice: a B panel KC x NR = 32 KiB */
};
_Static_assert(GEMM_NC % GEMM_NR == 0, "a tile must hold whole panels: the buffer has no slack");
_Static_assert(GEMM_MR <= 8 && GEMM_NV <= 4, "block sizes beyond the dispatcher's case lists");

/* The packed slice of op(B), one per thread: a thread's tiles reuse it, so the
 * kernel never allocates. 256 KiB. */
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

/* ---- the micro-kernel, in vector extensions ---- */

#include "backend/cpu/simd.h"

/* Packs rows [r0, r0+rows) x depth [p0, p0+depth) of m into panels of `width`
 * rows: panel q, depth p, row r goes to dst[(q*depth + p)*width + r]. Rows past
 * `rows` in the last panel are zero, so the micro-kernel reads whole vectors. */
static void pack_panels(strided_matrix m, int r0, int rows, int p0, int depth, int width,
                        float *restrict dst) {
    const float *base = m.x + r0 * m.row_stride + p0 * m.depth_stride;
    for (int q0 = 0; q0 < rows; q0 += width) {
        const int valid = min_int(width, rows - q0);
        float *panel = dst + (ptrdiff_t)q0 * depth; /* (depth, width) */
        const float *src = base + q0 * m.row_stride;
        if (m.depth_stride == 1 && width % VL == 0) {
            /* Rows are contiguous in memory (transposed B): VL x VL blocks are
             * read as VL row vectors (zeros for rows past `valid`, the last
             * block of the depth a part of each row) and transposed in
             * registers. Element by element, the 10 rows of Linear(128, 10)'s
             * W and the last depth % VL of every panel had been most of a
             * small product's time: bench_ops --gemm, one thread, 64x10x128
             * NT 79 -> 112 GFLOP/s; a 64 x 784 block of W 3.45 -> 3.25 us. */
            for (int p = 0; p < depth; p += VL) {
                const int part = min_int(VL, depth - p);
                for (int r = 0; r < width; r += VL) {
                    vec x[VL];
                    UNROLL
                    for (int i = 0; i < VL; i++) {
                        const float *row = src + (r + i) * m.row_stride + p;
                        x[i] = r + i >= valid ? splat(0.0f)
                               : part == VL   ? load_v(row)
                                              : load_part(row, part);
                    }
                    transpose_block(x);
                    UNROLL
                    for (int i = 0; i < VL; i++)
                        if (i < part) store_v(panel + (p + i) * width + r, x[i]);
                }
            }
        } else {
            for (int p = 0; p < depth; p++) {
                for (int r = 0; r < valid; r++)
                    panel[p * width + r] = src[r * m.row_stride + p * m.depth_stride];
                for (int r = valid; r < width; r++) panel[p * width + r] = 0.0f;
            }
        }
    }
}

/* c = beta c (+ bias) + r for the first `cols` (< VL) floats at c (bias:
 * NULL or `cols` floats); beta == 0 never reads c. With AVX-512, masked
 * moves (lanes past `cols` are neither read nor written, and raise no
 * fault). Elsewhere through memcpy, not inlined: a memcpy of variable length
 * would take the address of the kernel's accumulators, and gcc would then
 * keep one of them in memory through the whole loop (seen: a load and a store
 * per step). */
#if defined(__AVX512F__)
static ALWAYS_INLINE void store_c_part(float *c, const float *bias, vec r, float beta, int cols) {
    const __mmask16 keep = (__mmask16)((1u << cols) - 1u);
    if (beta != 0.0f) {
        vec old = beta * (vec)_mm512_maskz_loadu_ps(keep, c);
        if (bias) old += (vec)_mm512_maskz_loadu_ps(keep, bias);
        r = old + r;
    } else if (bias) {
        r = (vec)_mm512_maskz_loadu_ps(keep, bias) + r;
    }
    _mm512_mask_storeu_ps(c, keep, (__m512)r);
}
#else
static __attribute__((noinline)) void store_c_part(float *c, const float *bias, vec r, float beta,
                                                   int cols) {
    vec old = {0}, add = {0};
    if (bias) memcpy(&add, bias, (size_t)cols * sizeof(float));
    if (beta != 0.0f) {
        memcpy(&old, c, (size_t)cols * sizeof(float));
        old = beta * old;
        r = (bias ? old + add : old) + r;
    } else if (bias) {
        r = add + r;
    }
    memcpy(c, &r, (size_t)cols * sizeof(float));
}
#endif

/* c = beta c (+ bias) + alpha s for `cols` (>= 1) floats at c, at most VL,
 * bias NULL or as many floats. */
static ALWAYS_INLINE void store_c(float *c, const float *bias, vec s, float alpha, float beta,
                                  int cols) {
    const vec r = alpha * s;
    if (cols < VL)
        store_c_part(c, bias, r, beta, cols);
    else if (beta != 0.0f)
        store_v(c, (bias ? beta * load_v(c) + load_v(bias) : beta * load_v(c)) + r);
    else
        store_v(c, bias ? load_v(bias) + r : r);
}

/* The operands of one micro-kernel call: op(A)(i, p) = a[i*a_row + p*a_depth]
 * from the block's first row and the slice's first p; row p of the B panel at
 * b + p*ldb (NV vectors); C block at c, row stride ldc, `cols` valid columns. */
typedef struct kernel_args {
    const float *a;
    ptrdiff_t a_row, a_depth;
    const float *b;
    ptrdiff_t ldb;
    float *c;
    ptrdiff_t ldc;
    const float *bias; /* NULL, or added to every row of the C block (cols floats) */
    int depth, cols;
    float alpha, beta;
} kernel_args;

/* C block (mr x nv vectors) = beta C + alpha * sum_p op(A)(i,p) B(p, j), the
 * sum accumulated in registers from 0 with p ascending. mr and nv are
 * constants at each call site (kernel_dispatch), so that acc lives in
 * registers. */
static ALWAYS_INLINE void micro_kernel(const kernel_args *ka, const int mr, const int nv) {
    vec acc[GEMM_MR][GEMM_NV];
    UNROLL
    for (int i = 0; i < mr; i++) {
        UNROLL
        for (int v = 0; v < nv; v++) acc[i][v] = splat(0.0f);
    }
    const float *a = ka->a, *b = ka->b;
    const ptrdiff_t a_row = ka->a_row, a_depth = ka->a_depth, ldb = ka->ldb;
    for (int p = 0; p < ka->depth; p++, a += a_depth, b += ldb) {
        vec bv[GEMM_NV];
        UNROLL
        for (int v = 0; v < nv; v++) {
            bv[v] = load_v(b + v * VL);
            IN_REGISTER(bv[v]);
        }
        UNROLL
        for (int i = 0; i < mr; i++) {
            const vec ai = splat(a[i * a_row]);
            UNROLL
            for (int v = 0; v < nv; v++) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
        }
    }
    /* The arguments in locals: the stores to C could otherwise alias *ka,
     * which the compiler would then read again after every store. */
    float *const c = ka->c;
    const ptrdiff_t ldc = ka->ldc;
    const float alpha = ka->alpha, beta = ka->beta, *const bias = ka->bias;
    const int cols = ka->cols;
    if (alpha == 1.0f && beta == 1.0f && !bias && cols == nv * VL) {
        /* The common case (accumulating products, later K slices): c + s,
         * the bits of 1 c + 1 s (x * 1 is x exactly) without the two
         * products per vector, which the epilogue of a short K (Linear's dW,
         * k = 64: 512 cycles of FMAs, then 16 vectors of C) notices. */
        UNROLL
        for (int i = 0; i < mr; i++) {
            UNROLL
            for (int v = 0; v < nv; v++)
                store_v(c + i * ldc + v * VL, load_v(c + i * ldc + v * VL) + acc[i][v]);
        }
        return;
    }
    UNROLL
    for (int i = 0; i < mr; i++) {
        UNROLL
        for (int v = 0; v < nv; v++)
            store_c(c + i * ldc + v * VL, bias ? bias + v * VL : NULL, acc[i][v], alpha, beta,
                    cols - v * VL);
    }
}

/* Case lists: KROWS<n>(X) is X(1) ... X(n), KCOLS<n>(X, r) is X(r, 1) ... X(r, n). */
#define KROWS1(X) X(1)
#define KROWS2(X) KROWS1(X) X(2)
#define KROWS3(X) KROWS2(X) X(3)
#define KROWS4(X) KROWS3(X) X(4)
#define KROWS5(X) KROWS4(X) X(5)
#define KROWS6(X) KROWS5(X) X(6)
#define KROWS7(X) KROWS6(X) X(7)
#define KROWS8(X) KROWS7(X) X(8)
#define KCOLS1(X, r) X(r, 1)
#define KCOLS2(X, r) KCOLS1(X, r) X(r, 2)
#define KCOLS3(X, r) KCOLS2(X, r) X(r, 3)
#define KCOLS4(X, r) KCOLS3(X, r) X(r, 4)
#define KLIST_(p, n) p##n
#define KLIST(p, n) KLIST_(p, n)
#define KERNEL_CASE(mr, nv)                                                                        \
    case 8 * (mr) + (nv):                                                                          \
        micro_kernel(ka, mr, nv);                                                                  \
        return;
#define KERNEL_ROW(mr) KLIST(KCOLS, GEMM_NV)(KERNEL_CASE, mr)

static void kernel_dispatch(const kernel_args *ka, int mr, int nv) {
    /* (clang-format cannot see the case labels inside the macro.) */
    /* clang-format off */
    switch (8 * mr + nv) {
        KLIST(KROWS, GEMM_MR)(KERNEL_ROW)
    default:
        return;
    }
    /* clang-format on */
}

typedef struct gemm_problem {
    int m, n, k;
    float alpha, beta;
    strided_matrix a;  /* op(A) (m, k) */
    strided_matrix bt; /* op(B)^T (n, k) */
    float *c;
    int ldc;
    const float *bias; /* (n) added to every row of C with the first K slice, or NULL */
} gemm_problem;

/* Computes the tile of C at rows [i0, i0+mc), columns [j0, j0+nc). */
static void gemm_tile(const gemm_problem *pb, int i0, int mc, int j0, int nc) {
    const strided_matrix a = pb->a, bt = pb->bt;
    /* B is read in place when its rows are contiguous (not transposed), except
     * for a last panel that ends inside a vector: that one is packed (with
     * zeros after its columns), so that no read passes the end of a row. */
    const int last = (nc - 1) / GEMM_NR * GEMM_NR, in_place = bt.row_stride == 1;
    const int pack_last = in_place && (nc - last) % VL != 0;
    /* K in the fewest slices of at most KC, of sizes differing by at most one
     * (784 = 196 x 4, not 256 x 3 + 16: no short slice whose pass over C
     * costs as much as a long one's). */
    const int slices = sn_sgemm_k_slices(pb->k);
    for (int t = 0, p0 = 0; t < slices; t++) {
        const int kc = sn_sgemm_k_slice_depth(pb->k, slices, t);
        if (!in_place)
            pack_panels(bt, j0, nc, p0, kc, GEMM_NR, packed_b);
        else if (pack_last)
            pack_panels(bt, j0 + last, nc - last, p0, kc, GEMM_NR, packed_b + (ptrdiff_t)last * kc);
        kernel_args ka = {
            .a_row = a.row_stride,
            .a_depth = a.depth_stride,
            .ldc = pb->ldc,
            .depth = kc,
            .alpha = pb->alpha,
            /* beta scales C once, and the bias is added once, with the first
             * slice; later slices add to it. */
            .beta = p0 == 0 ? pb->beta : 1.0f,
        };
        /* Rows in the fewest blocks of at most MR, of sizes differing by at
         * most one (10 rows: 5 + 5, not 8 + 2, whose 4 accumulator chains
         * would leave the FMA pipes waiting on their latency). */
        const int row_blocks = (mc + GEMM_MR - 1) / GEMM_MR, rows_base = mc / row_blocks,
                  rows_extra = mc % row_blocks;
        for (int blk = 0, ir = 0; blk < row_blocks; blk++) {
            const int mr = rows_base + (blk < rows_extra);
            ka.a = a.x + (i0 + ir) * a.row_stride + p0 * a.depth_stride;
            for (int jr = 0; jr < nc; jr += GEMM_NR) {
                const int packed = !in_place || (pack_last && jr == last);
                ka.cols = min_int(GEMM_NR, nc - jr);
                ka.b = packed ? packed_b + (ptrdiff_t)jr * kc
                              : bt.x + (j0 + jr) + p0 * bt.depth_stride;
                ka.ldb = packed ? GEMM_NR : bt.depth_stride;
                ka.bias = p0 == 0 && pb->bias ? pb->bias + j0 + jr : NULL;
                ka.c = pb->c + (ptrdiff_t)(i0 + ir) * pb->ldc + j0 + jr;
                kernel_dispatch(&ka, mr, (ka.cols + VL - 1) / VL);
            }
            ir += mr;
        }
        p0 += kc;
    }
}

/* C = beta C + bias (bias: NULL, or added to every row), the whole product
 * when alpha or k is zero (BLAS: A and B unread; beta == 0: C unread). */
static void scale_c(int m, int n, float beta, const float *bias, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        float *c_row = c + (ptrdiff_t)i * ldc;
        for (int j = 0; j < n; j++) {
            const float old = beta == 0.0f ? 0.0f : beta * c_row[j];
            c_row[j] = bias ? (beta == 0.0f ? bias[j] : old + bias[j]) : old;
        }
    }
}

/* sn_sgemm_portable with an optional bias row (sn_sgemm_job.bias). */
static void sgemm_own(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, const float *bias, float *c,
                      int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, bias, c, ldc);
        return;
    }
    /* op(A)(i, p) is a[i*lda + p], or a[p*lda + i] when transposed; op(B)(p, j)
     * is b[p*ldb + j], or b[j*ldb + p]. Both are read through strided views. */
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
        .bias = bias,
    };
    for (int j0 = 0; j0 < n; j0 += GEMM_NC) gemm_tile(&pb, 0, m, j0, min_int(GEMM_NC, n - j0));
}

void sn_sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    sgemm_own(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, NULL, c, ldc);
}

#ifdef SINAPSI_HAVE_CBLAS
static void sgemm_cblas(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                        int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
#endif

/* Where the own kernel is at least as fast as OpenBLAS 0.3.21 at its best on
 * this machine (its Cooperlake AVX-512 kernels, OPENBLAS_CORETYPE unset), one
 * thread, bench_ops --gemm (the Linear products of the benchmark models at
 * batch 64 and 256), GFLOP/s own / OpenBLAS, m x n x k:
 *   C at least 16 x 32, k in [32, 16384], >= 1M multiply-adds: 64x256x784 NT
 *   205/183, 256x784x64 TN 230/228, 64x256x128 NN 253/198, 64x128x9216 NT
 *   208/160, 64x9216x128 NN 184/155, 128x9216x64 TN 185/190 (a tie: runs
 *   vary by ~10%), 256x256x784 NT 227/192;
 *   and any C of 256 rows or more with k in that range: 256x10x128 NT 115/72,
 *   256x10x84 NT 109/69 (OpenBLAS is slow there);
 *   outside it OpenBLAS is faster: 10 columns at 64 rows (64x10x128 NT
 *   79/186: a vector of 16 lanes holds 10), 10 rows (10x84x64 TN 115/185),
 *   k = 10 (64x128x10 NN 180/207), k = 36864 (64x288x36864 NT 137/144).
 * Under 1M multiply-adds, LeNet-5's Linear(120, 84) at batch 64, the own
 * kernel is within the noise or 7% slower than the Cooperlake kernels
 * (64x84x120 NT 162/164, 64x120x84 NN 209/224, 84x120x64 TN 215/229) but
 * 1.6-2x faster than the Haswell ones that this machine's environment selects
 * (OPENBLAS_CORETYPE=Haswell: 166/106, 180/101, 210/116): it takes them.
 * Only in AVX-512 builds, where this was measured; the AVX and SSE variants
 * of the kernel were not measured against OpenBLAS, so CBLAS keeps them. The
 * rule reads the shape only: a product's bits do not depend on the
 * environment. */
int sn_sgemm_own_route(int trans_a, int trans_b, int m, int n, int k) {
    (void)trans_a, (void)trans_b;
#if defined(SINAPSI_HAVE_CBLAS) && !defined(__AVX512F__)
    (void)m, (void)n, (void)k;
    return 0;
#elif defined(SINAPSI_HAVE_CBLAS)
    return k >= 32 && k <= 16384 && (m >= 256 || (m >= 16 && n >= 32));
#else
    (void)m, (void)n, (void)k;
    return 1;
#endif
}

/* A large product is cut into blocks of C rows or C columns, one chunk each,
 * on the thread pool. Each element of C is still one call's dot product over
 * the whole of k, and the cut depends on (m, n, k) only, so the bits do not
 * depend on the thread count.
 *
 * The number of blocks is a power of two, 1, 2 or 4 (an even share for 1, 2
 * or 4 threads), one per SPLIT_MIN_FLOPS of work. The blocks are whole units
 * of the kernel that computes them: for the own kernel, panels of GEMM_NR
 * columns or blocks of GEMM_MR rows (a block of 48 columns would run a panel
 * of 32 and one of 16 at a half-width kernel), for CBLAS 16 rows or columns.
 * The own kernel takes the side that splits more evenly, columns on a tie:
 * a block of columns repeats only reads of op(A) (never packed), a block of
 * rows re-packs op(B) when B is transposed. (LeNet-5's Linear(400, 120) at
 * batch 64: 120 columns are 4 panels, 1 per block; its dx, 64 x 400, 4
 * blocks of 16 rows, as 400 columns are 13 panels.) CBLAS packs both
 * operands, so its cut is along the longer side of C (each block repeats the
 * packing of the shorter side's operand). */
enum {
    /* A block per 0.5 MFLOP (~2.5 us of one core at 200 GFLOP/s), at most 4.
     * LeNet-5 at batch 64, 2 threads, bench_model --profile, medians of 5
     * (us per step, Linear(400,120) fwd/bwd, Linear(120,84) fwd/bwd): 0.5
     * MFLOP 37/31, 6.4/8.5; 1 MFLOP 37/30, 8.7/8.1; the former 2 MFLOP
     * 44/32, 8.6/9.4 (noisy VM: read +-15%). */
    SPLIT_MIN_FLOPS = 500000,
    SPLIT_MAX_CHUNKS = 4,
    SPLIT_BLAS_UNIT = 16
};

/* ceil(a / b) for a >= 0, b >= 1. */
static int ceil_div(int a, int b) {
    return (a + b - 1) / b;
}

sn_sgemm_job sn_sgemm_plan_cut(sn_sgemm_fn one, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc) {
    sn_sgemm_job job = {.one = one,
                        .trans_a = trans_a,
                        .trans_b = trans_b,
                        .m = m,
                        .n = n,
                        .k = k,
                        .lda = lda,
                        .ldb = ldb,
                        .ldc = ldc,
                        .alpha = alpha,
                        .beta = beta,
                        .a = a,
                        .b = b,
                        .c = c,
                        .block = n > 0 ? n : 1,
                        .chunks = 1,
                        .bias = NULL};
    if (m <= 0 || n <= 0) return job;
    const double flops = 2.0 * m * n * k;
    int want = 1;
    while (want < SPLIT_MAX_CHUNKS && flops >= (double)SPLIT_MIN_FLOPS * (2 * want)) want *= 2;
    const int own = one == sn_sgemm_portable;
    const int row_unit = own ? GEMM_MR : SPLIT_BLAS_UNIT,
              col_unit = own ? GEMM_NR : SPLIT_BLAS_UNIT;
    const int row_units = ceil_div(m, row_unit), col_units = ceil_div(n, col_unit);
    int by_rows;
    if (own) {
        /* The largest block of `want`, in units: the side with the smaller
         * one (relative to its units) wastes less of the other threads. */
        const int rows_per = ceil_div(row_units, want), cols_per = ceil_div(col_units, want);
        by_rows = (long long)rows_per * col_units < (long long)cols_per * row_units;
    } else {
        by_rows = m >= n;
    }
    const int units = by_rows ? row_units : col_units;
    if (want > units) want = units;
    job.by_rows = by_rows;
    job.block = ceil_div(units, want) * (by_rows ? row_unit : col_unit);
    job.chunks = sn_chunk_count(by_rows ? m : n, job.block);
    return job;
}

void sn_sgemm_block_range(const sn_sgemm_job *job, int chunk, int *first, int *count) {
    const int len = job->by_rows ? job->m : job->n;
    *first = chunk * job->block;
    *count = min_int(job->block, len - *first);
    if (*count < 0) *count = 0;
}

void sn_sgemm_run_block(const sn_sgemm_job *s, int chunk) {
    int start, count;
    sn_sgemm_block_range(s, chunk, &start, &count);
    if (count <= 0) return;
    /* The block: rows [start, start+count) of op(A) (row r at a + r*lda, or
     * column r of A^T) and of C, or columns [start, start+count) of op(B) and
     * of C, and of the bias. */
    const int m = s->by_rows ? count : s->m, n = s->by_rows ? s->n : count;
    const float *a = s->a, *b = s->b, *bias = s->bias;
    float *c = s->c;
    if (s->by_rows) {
        a += (size_t)start * (s->trans_a ? 1 : (size_t)s->lda);
        c += (size_t)start * s->ldc;
    } else {
        b += (size_t)start * (s->trans_b ? (size_t)s->ldb : 1);
        c += start;
        if (bias) bias += start;
    }
    if (!bias) {
        s->one(s->trans_a, s->trans_b, m, n, s->k, s->alpha, a, s->lda, b, s->ldb, s->beta, c,
               s->ldc);
    } else if (s->one == sn_sgemm_portable) {
        sgemm_own(s->trans_a, s->trans_b, m, n, s->k, s->alpha, a, s->lda, b, s->ldb, s->beta, bias,
                  c, s->ldc);
    } else {
        /* Another kernel (CBLAS) takes no bias: C = beta C + bias first, then
         * C += alpha op(A) op(B). */
        scale_c(m, n, s->beta, bias, c, s->ldc);
        s->one(s->trans_a, s->trans_b, m, n, s->k, s->alpha, a, s->lda, b, s->ldb, 1.0f, c, s->ldc);
    }
}

static void gemm_split_chunk(void *ctx, int chunk, int worker) {
    (void)worker;
    sn_sgemm_run_block(ctx, chunk);
}

void sn_sgemm_split(sn_sgemm_fn one, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c,
                    int ldc) {
    sn_parallel_init();
    sn_sgemm_job job =
        sn_sgemm_plan_cut(one, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    sn_parallel_for(job.chunks, SN_MAX_THREADS, gemm_split_chunk, &job);
}

sn_sgemm_job sn_sgemm_plan(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb, float beta, float *c,
                           int ldc) {
#ifdef SINAPSI_HAVE_CBLAS
    const sn_sgemm_fn one =
        sn_sgemm_own_route(trans_a, trans_b, m, n, k) ? sn_sgemm_portable : sgemm_cblas;
#else
    const sn_sgemm_fn one = sn_sgemm_portable;
#endif
    return sn_sgemm_plan_cut(one, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc) {
    sn_parallel_init();
    sn_sgemm_job job =
        sn_sgemm_plan(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    sn_parallel_for(job.chunks, SN_MAX_THREADS, gemm_split_chunk, &job);
}

/* Which kernels sn_sgemm_own_route can pick in this build: both with CBLAS
 * and AVX-512, CBLAS alone on other targets, the own kernel without BLAS. */
const char *sn_sgemm_backend(void) {
#if defined(SINAPSI_HAVE_CBLAS) && defined(__AVX512F__)
    return "portable+cblas";
#elif defined(SINAPSI_HAVE_CBLAS)
    return "cblas";
#else
    return "portable";
#endif
}

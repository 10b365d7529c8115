/*
 * The products of src/backend/cpu/conv_gemm.h: register-blocked kernels for
 * the thin shapes of small CNNs, written with GCC/clang vector extensions so
 * that one source serves every target (16 lanes with AVX-512, 8 with AVX, 4
 * otherwise: SSE2, NEON), and sn_sgemm where they would lose
 * (sn_conv_gemm_route). Two kernels cover the three products:
 *
 *  - bcast_block, for forward and dcol: C = A B (+ bias), A (M, D) read
 *    through two strides, B (D, P) and C (M, P) row-major. A block of mr rows
 *    of C and nv vectors of columns lives in mr*nv accumulator registers; each
 *    step d loads the nv vectors of row d of B once and adds a[i, d] (one
 *    broadcast) times them into row i's accumulators:
 *        c[i][j] = fma(a[i,D-1], b[D-1][j], ... fma(a[i,0], b[0][j], init_i))
 *    with init_i = bias[i] or 0. Forward: A = W (rows o, depth k); dcol:
 *    A = W^T (rows k, depth o), a[k, o] = W[o*K + k]. Columns past the last
 *    whole block are covered by a block shifted left to end at column P: it
 *    recomputes a few columns with the same operations in the same order,
 *    hence the same bits, and never reads past the end of a row.
 *  - dot_block, for dW: dw[o][k] += sum_j dy[o][j] col[k][j] for a block of
 *    mo rows o and nk rows k. Each accumulator holds VL partial sums, lane l
 *    summing the columns j = l (mod VL) in ascending order; each step loads
 *    mo + nk vectors for mo*nk FMAs. The P mod VL columns that fill no whole
 *    vector come first, as the vector at column 0 with the other lanes
 *    cleared, so that nothing past a row is read. The lanes of VL
 *    accumulators are then added in one fixed tree (reduce_group) and the sums
 *    added to dw. Long rows are summed in chunks (dot_run), each chunk's sums
 *    added to dw in turn.
 *
 * Both kernels can also read the rows of B (col) through a table of offsets
 * instead of a stride, and dot_block can sum over several segments (images)
 * before its reduction: that is how src/backend/cpu/conv_direct.c reads a
 * convolution's patches from compact copies, without im2col. For its dx,
 * col2im_rows adds one channel's dcol back into dx a vector of a row at a
 * time, the sums in registers.
 *
 * Rows are cut into the fewest blocks of at most BR (DO, DK) rows, with sizes
 * differing by at most one (25 rows with BR = 8: 7, 6, 6, 6), so that no block
 * is left with a single row. Every output element's operations and their
 * order depend on the arguments only (shapes and strides, never pointer
 * alignment or threads), not on the blocks (a block only decides which
 * outputs share registers); they do depend on the build's target (lanes, FMA).
 * No allocation: every buffer is in registers or a few vectors on the stack.
 */
#include "backend/cpu/conv_gemm.h"

#include <stddef.h>
#include <string.h>

#include "backend/cpu/conv_gemm_blocked.h"
#include "backend/cpu/gemm.h"

#if defined(__AVX512F__) || defined(__AVX__) || defined(__FMA__)
#include <immintrin.h>
#endif

/* VL lanes per vector, and register block sizes such that the accumulators
 * plus the operands of one step fit the register file (32 zmm with AVX-512,
 * 16 ymm/xmm otherwise):
 *   BR x BV  bcast_block: rows x vectors of columns
 *   DO x DK  dot_block: rows of dy x rows of col, or DO_WIDE x DK_WIDE where
 *            the rows of dy come in blocks of at most DO_WIDE (dot_run) */
#if defined(__AVX512F__)
#define VL 16
#define BR 8
#define BV 3
#define DO 4
#define DK 4
#define DO_WIDE 3
#define DK_WIDE 8
#elif defined(__AVX__)
#define VL 8
#define BR 4
#define BV 3
#define DO 2
#define DK 4
#else
#define VL 4
#define BR 3
#define BV 3
#define DO 2
#define DK 4
#endif
#ifndef DK_WIDE /* no second shape */
#define DO_WIDE DO
#define DK_WIDE DK
#endif
/* bcast_block's square shape, BR_SQ x BV_SQ, where the rows split into blocks
 * of exactly BR_SQ (bcast_run): 5 x 5 with AVX-512 (25 accumulators, 5 loads
 * and 5 broadcasts per 25 FMAs). LeNet-5's second layer's dcol, 25 rows of
 * one channel's taps by 400 columns: 8 x 3 blocks left 7, 6, 6, 6 rows and a
 * last block of one vector (7 FMAs per 8 loads). Other targets: none. */
#if defined(__AVX512F__)
#define BR_SQ 5
#define BV_SQ 5
#else
#define BR_SQ BR
#define BV_SQ BV
#endif
#define ACC_ROWS (BR > BR_SQ ? BR : BR_SQ)
#define ACC_VECS (BV > BV_SQ ? BV : BV_SQ)

/* The dispatchers' case lists (ROWS, COLS) go up to 8; the wide dot blocks
 * add the columns DK+1..8 (DOT_WIDE_COLS) to DK = 4. */
_Static_assert(BR <= 8 && BV <= 8 && DO <= 8 && DK <= 8 && DO_WIDE <= DO &&
                   (DK_WIDE == DK || (DK == 4 && DK_WIDE == 8)) && (DK & (DK - 1)) == 0,
               "block sizes beyond the dispatchers' case lists");

#include "backend/cpu/simd.h"

typedef float dk_vec __attribute__((vector_size(DK * sizeof(float)))); /* DK a power of 2 */

/* Lane lists for __builtin_shufflevector, whose indices must be constants:
 * LANES(F, h) is F(h, 0), ..., F(h, VL-1). */
#if VL == 16
#define LANES(F, h)                                                                                \
    F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7), F(h, 8), F(h, 9),      \
        F(h, 10), F(h, 11), F(h, 12), F(h, 13), F(h, 14), F(h, 15)
#elif VL == 8
#define LANES(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3), F(h, 4), F(h, 5), F(h, 6), F(h, 7)
#else
#define LANES(F, h) F(h, 0), F(h, 1), F(h, 2), F(h, 3)
#endif

/* One level of the transposing reduction: a and b are made of segments of 2h
 * lanes, each a partial sum of one accumulator; the result holds a's segments
 * then b's, each halved to h lanes by adding its upper half to its lower:
 * output lane i, from a when i < VL/2 (else from b, index + VL), segment
 * s = (i mod VL/2) / h, offset r = i mod h, is lane s*2h + r plus lane s*2h + h + r. */
#define LO_LANE(h, i) (((i) < VL / 2 ? 0 : VL) + ((i) % (VL / 2)) / (h)*2 * (h) + (i) % (h))
#define HI_LANE(h, i) (LO_LANE(h, i) + (h))
#define LANE_INDEX(h, i) (i)
#define PAIR_SUM(a, b, h)                                                                          \
    (__builtin_shufflevector(a, b, LANES(LO_LANE, h)) +                                            \
     __builtin_shufflevector(a, b, LANES(HI_LANE, h)))
#define REDUCE_LEVEL(g, h)                                                                         \
    UNROLL for (int i_ = 0; i_ < (h); i_++) g[i_] = PAIR_SUM(g[2 * i_], g[2 * i_ + 1], h)

/* Lane i of the result = the sum of the lanes of g[i], for VL vectors g (which
 * are overwritten), as a tree: log2(VL) levels of PAIR_SUM, VL - 1 vector
 * additions in all instead of VL (VL - 1) scalar ones. The order of the
 * additions is fixed, so the sums are reproducible. */
static ALWAYS_INLINE vec reduce_group(vec g[VL]) {
#if VL >= 16
    REDUCE_LEVEL(g, 8);
#endif
#if VL >= 8
    REDUCE_LEVEL(g, 4);
#endif
    REDUCE_LEVEL(g, 2);
    REDUCE_LEVEL(g, 1);
    return g[0];
}

/* Case lists for the dispatchers: ROWS(n, X) is X(1) ... X(n), COLS(n, X, a)
 * is X(a, 1) ... X(a, n) (two chains, as a macro cannot expand inside itself). */
#define ROWS1(X) X(1)
#define ROWS2(X) ROWS1(X) X(2)
#define ROWS3(X) ROWS2(X) X(3)
#define ROWS4(X) ROWS3(X) X(4)
#define ROWS5(X) ROWS4(X) X(5)
#define ROWS6(X) ROWS5(X) X(6)
#define ROWS7(X) ROWS6(X) X(7)
#define ROWS8(X) ROWS7(X) X(8)
#define ROWS_(n, X) ROWS##n(X)
#define ROWS(n, X) ROWS_(n, X)
#define COLS1(X, a) X(a, 1)
#define COLS2(X, a) COLS1(X, a) X(a, 2)
#define COLS3(X, a) COLS2(X, a) X(a, 3)
#define COLS4(X, a) COLS3(X, a) X(a, 4)
#define COLS5(X, a) COLS4(X, a) X(a, 5)
#define COLS6(X, a) COLS5(X, a) X(a, 6)
#define COLS7(X, a) COLS6(X, a) X(a, 7)
#define COLS8(X, a) COLS7(X, a) X(a, 8)
#define COLS_(n, X, a) COLS##n(X, a)
#define COLS(n, X, a) COLS_(n, X, a)

/* Block b of the split of n rows into ceil(n / max) blocks of sizes differing
 * by at most one: the larger ones first. */
static void balanced_block(int n, int max, int b, int *start, int *size) {
    const int blocks = (n + max - 1) / max, base = n / blocks, extra = n % blocks;
    *size = base + (b < extra);
    *start = b * base + (b < extra ? b : extra);
}

/* ---- bcast_block: C = A B (+ bias) ---- */

typedef struct bcast_problem {
    int m, depth, n;
    const float *a; /* a[i, d] = a[i*a_row + d*a_depth] */
    ptrdiff_t a_row, a_depth;
    const float *b; /* (depth, n): row d at b + b_off[d], or at b + d*ldb when b_off is NULL */
    ptrdiff_t ldb;
    const int *b_off;
    const float *bias; /* (m) or NULL */
    float *c;          /* (m, n), row stride ldc */
    ptrdiff_t ldc;
} bcast_problem;

/* Rows [i0, i0+mr) and columns [j0, j0 + nv*VL) of C; nv == 0 means one vector
 * of only n_part (< VL) columns. mr and nv are constants at each call site
 * (bcast_dispatch), so that acc lives in registers; so is gather (B's rows
 * through b_off, else by the stride ldb): a test of b_off at every step cost
 * a fifth of the speed at K = 25 (bench_conv_gemm, LeNet-5's conv1). */
static ALWAYS_INLINE void bcast_block(const bcast_problem *pb, const int mr, const int nv, int i0,
                                      int j0, int n_part, const int gather) {
    const int nvec = nv ? nv : 1;
    vec acc[ACC_ROWS][ACC_VECS];
    UNROLL
    for (int i = 0; i < mr; i++) {
        const vec init = splat(pb->bias ? pb->bias[i0 + i] : 0.0f);
        UNROLL
        for (int v = 0; v < nvec; v++) acc[i][v] = init;
    }
    const float *a = pb->a + i0 * pb->a_row, *b_rows = pb->b + j0, *b_strided = b_rows;
    for (int d = 0; d < pb->depth; d++, a += pb->a_depth, b_strided += pb->ldb) {
        const float *b = gather ? b_rows + pb->b_off[d] : b_strided;
        vec bv[ACC_VECS];
        UNROLL
        for (int v = 0; v < nvec; v++) {
            bv[v] = nv ? load_v(b + v * VL) : load_part(b, n_part);
            IN_REGISTER(bv[v]);
        }
        UNROLL
        for (int i = 0; i < mr; i++) {
            const vec ai = splat(a[i * pb->a_row]);
            UNROLL
            for (int v = 0; v < nvec; v++) acc[i][v] = fmadd(ai, bv[v], acc[i][v]);
        }
    }
    UNROLL
    for (int i = 0; i < mr; i++) {
        float *c = pb->c + (i0 + i) * pb->ldc + j0;
        UNROLL
        for (int v = 0; v < nvec; v++) {
            if (nv)
                store_v(c + v * VL, acc[i][v]);
            else
                store_part(c, acc[i][v], n_part);
        }
    }
}

#define BCAST_CASE(mr, nv)                                                                         \
    case 16 * mr + nv:                                                                             \
        if (pb->b_off)                                                                             \
            bcast_block(pb, mr, nv, i0, j0, n_part, 1);                                            \
        else                                                                                       \
            bcast_block(pb, mr, nv, i0, j0, n_part, 0);                                            \
        return;
#define BCAST_ROW(mr) BCAST_CASE(mr, 0) COLS(BV, BCAST_CASE, mr)
#if BV_SQ > BV /* the vectors BV+1..BV_SQ of the square blocks' rows */
_Static_assert(BV == 3 && BV_SQ == 5 && BR_SQ <= BR, "the square cases below");
#define BCAST_ROW_SQ(mr) BCAST_CASE(mr, 4) BCAST_CASE(mr, 5)
#else
#define BCAST_ROW_SQ(mr)
#endif

static void bcast_dispatch(const bcast_problem *pb, int mr, int nv, int i0, int j0, int n_part) {
    switch (16 * mr + nv) {
        ROWS(BR, BCAST_ROW)
        ROWS(BR_SQ, BCAST_ROW_SQ)
    default:
        return;
    }
}

/* Columns [j0, j0 + nv*VL) (or n_part of them, nv == 0) of every block of at
 * most br rows. */
static void bcast_columns(const bcast_problem *pb, int br, int nv, int j0, int n_part) {
    const int blocks = (pb->m + br - 1) / br;
    for (int b = 0; b < blocks; b++) {
        int i0, mr;
        balanced_block(pb->m, br, b, &i0, &mr);
        bcast_dispatch(pb, mr, nv, i0, j0, n_part);
    }
}

static void bcast_run(const bcast_problem *pb) {
    const int n = pb->n;
    /* The square blocks where the rows are whole blocks of BR_SQ (the block
     * only decides which outputs share registers: the same bits). */
    const int square = BV_SQ > BV && pb->m % BR_SQ == 0 && n >= BV_SQ * VL;
    const int br = square ? BR_SQ : BR, bv = square ? BV_SQ : BV;
    int j = 0;
    for (; j + bv * VL <= n; j += bv * VL) bcast_columns(pb, br, bv, j, 0);
    const int rest = n - j, nv = (rest + VL - 1) / VL;
    if (rest == 0) return;
    if (n >= nv * VL) {
        bcast_columns(pb, br, nv, n - nv * VL, 0); /* may overlap the previous block */
        return;
    }
    /* Here j == 0 and n < bv*VL is not a multiple of VL (so not square). */
    if (n >= VL) {
        bcast_columns(pb, br, n / VL, 0, 0);
        bcast_columns(pb, br, 1, n - VL, 0);
    } else {
        bcast_columns(pb, br, 0, 0, n);
    }
}

/* ---- dot_block: dw += dy col^T ---- */

/* dw[o][k] += sum_{n < images} sum_{j < p} dy[o][n*dy_image + j] col[k][n*col_image + j]:
 * with images = 1 a product of matrices; else the sum runs over segments of
 * p columns, one per image (src/backend/cpu/conv_direct.c). */
typedef struct dot_problem {
    int c_out, k, p, images;
    const float *dy; /* (c_out, ...), row stride ldy */
    ptrdiff_t ldy, dy_image;
    const float *col; /* (k, ...): row k at col + col_off[k], or col + k*ldcol if col_off is NULL */
    ptrdiff_t ldcol, col_image;
    const int *col_off;
    float *dw; /* (c_out, k) dense */
} dot_problem;

static ALWAYS_INLINE const float *dot_col_row(const dot_problem *pb, int k) {
    return pb->col + (pb->col_off ? (ptrdiff_t)pb->col_off[k] : k * pb->ldcol);
}

/* dw[o0+o][k0+k] += sum_j dy[o0+o][j] col[k0+k][j] for o < mo, k < nk (constants
 * at each call site, dot_dispatch), over each segment (image) in turn. In a
 * segment, the p % VL columns that do not fill a vector are
 * summed first, as the vector at column 0 with its lanes from p % VL on
 * cleared in both operands (0 * 0 adds nothing, whatever those columns hold);
 * then whole vectors from column p % VL on. The first product of all
 * initialises the accumulators, so that one segment is a plain product.
 * segmented (a constant at each call site, dot_dispatch*): 0 for one segment
 * with col's rows at the stride ldcol, whose loop then compiles as before
 * segments existed (the general loop cost up to a tenth of the speed of the
 * plain products, bench_conv_gemm). */
static ALWAYS_INLINE void dot_block(const dot_problem *pb, const int mo, const int nk, int o0,
                                    int k0, const int segmented) {
    const int p = pb->p, head = p % VL;
    const float *dy = pb->dy + o0 * pb->ldy;
    /* Row k of the block's col: col[k] when segmented, else at the stride
     * ldcol from col0 (base + index addressing, one register for all rows). */
    const float *col0 = pb->col + k0 * pb->ldcol, *col[DK_WIDE];
    UNROLL
    for (int k = 0; k < nk; k++) col[k] = segmented ? dot_col_row(pb, k0 + k) : col0;
#define COL_ROW(k) (segmented ? col[k] : col0 + (k)*pb->ldcol)
    vec acc[DO][DK_WIDE], x[DO], c[DK_WIDE];
    UNROLL
    for (int o = 0; o < mo; o++) {
        UNROLL
        for (int k = 0; k < nk; k++) acc[o][k] = splat(0.0f); /* set by row 0: for the compiler */
    }
    const int segments = segmented ? pb->images : 1;
    for (int r = 0; r < segments; r++) {
        if (p < VL) {
            UNROLL
            for (int o = 0; o < mo; o++) x[o] = load_part(dy + o * pb->ldy, p);
            UNROLL
            for (int k = 0; k < nk; k++) c[k] = load_part(COL_ROW(k), p);
        } else if (head) {
            const ivec lane = {LANES(LANE_INDEX, 0)}, keep = lane < head;
            UNROLL
            for (int o = 0; o < mo; o++) x[o] = (vec)((ivec)load_v(dy + o * pb->ldy) & keep);
            UNROLL
            for (int k = 0; k < nk; k++) c[k] = (vec)((ivec)load_v(COL_ROW(k)) & keep);
        } else {
            UNROLL
            for (int o = 0; o < mo; o++) x[o] = splat(0.0f);
            UNROLL
            for (int k = 0; k < nk; k++) c[k] = splat(0.0f);
        }
        UNROLL
        for (int o = 0; o < mo; o++) {
            UNROLL
            for (int k = 0; k < nk; k++) acc[o][k] = r ? fmadd(x[o], c[k], acc[o][k]) : x[o] * c[k];
        }
        for (int j = p < VL ? p : head; j < p; j += VL) {
            UNROLL
            for (int o = 0; o < mo; o++) {
                x[o] = load_v(dy + o * pb->ldy + j);
                IN_REGISTER(x[o]);
            }
            UNROLL
            for (int k = 0; k < nk; k++) {
                c[k] = load_v(COL_ROW(k) + j);
                IN_REGISTER(c[k]);
            }
            UNROLL
            for (int o = 0; o < mo; o++) {
                UNROLL
                for (int k = 0; k < nk; k++) acc[o][k] = fmadd(x[o], c[k], acc[o][k]);
            }
        }
        if (!segmented) break;
        dy += pb->dy_image; /* the next image */
        UNROLL
        for (int k = 0; k < nk; k++) col[k] += pb->col_image;
    }
#undef COL_ROW
    /* Accumulator m = o*nk + k goes to lane m % VL of group m / VL, and its
     * sum to sums[m]. */
    enum { MAX_ACC = DO * DK > DO_WIDE * DK_WIDE ? DO * DK : DO_WIDE * DK_WIDE };
    enum { GROUPS = (MAX_ACC + VL - 1) / VL };
    const int groups = (mo * nk + VL - 1) / VL;
    vec g[GROUPS][VL];
    float sums[GROUPS * VL];
    UNROLL
    for (int m = 0; m < groups * VL; m++)
        g[m / VL][m % VL] = m < mo * nk ? acc[m / nk][m % nk] : splat(0.0f);
    UNROLL
    for (int q = 0; q < groups; q++) {
        const vec r = reduce_group(g[q]);
        memcpy(sums + q * VL, &r, sizeof r);
    }
    float *dw = pb->dw + o0 * (ptrdiff_t)pb->k + k0;
    for (int o = 0; o < mo; o++, dw += pb->k) {
        if (nk == DK) {
            /* The same additions as below, DK at a time. */
            dk_vec row, add;
            memcpy(&row, dw, sizeof row);
            memcpy(&add, sums + o * DK, sizeof add);
            row += add;
            memcpy(dw, &row, sizeof row);
        } else {
            for (int k = 0; k < nk; k++) dw[k] += sums[o * nk + k];
        }
    }
}

/* Two dispatchers, one per value of `segmented`: both instances of
 * dot_block in one switch made the plain products up to 12% slower
 * (bench_conv_gemm, C_out 128, K 576, P 144), the same code otherwise. */
#define DOT_CASE(mo, nk)                                                                           \
    case 16 * mo + nk:                                                                             \
        dot_block(pb, mo, nk, o0, k0, 0);                                                          \
        return;
#define DOT_ROW(mo) COLS(DK, DOT_CASE, mo)
#define DOT_CASE_SEGMENTED(mo, nk)                                                                 \
    case 16 * mo + nk:                                                                             \
        dot_block(pb, mo, nk, o0, k0, 1);                                                          \
        return;
#define DOT_ROW_SEGMENTED(mo) COLS(DK, DOT_CASE_SEGMENTED, mo)
#if DK_WIDE > DK /* the columns DK+1..8 of the wide blocks' rows */
#define DOT_WIDE_COLS(X, mo) X(mo, 5) X(mo, 6) X(mo, 7) X(mo, 8)
#else
#define DOT_WIDE_COLS(X, mo)
#endif
#define DOT_ROW_WIDE(mo) DOT_WIDE_COLS(DOT_CASE, mo)
#define DOT_ROW_WIDE_SEGMENTED(mo) DOT_WIDE_COLS(DOT_CASE_SEGMENTED, mo)

static void dot_dispatch(const dot_problem *pb, int mo, int nk, int o0, int k0) {
    switch (16 * mo + nk) {
        ROWS(DO, DOT_ROW)
        ROWS(DO_WIDE, DOT_ROW_WIDE)
    default:
        return;
    }
}

static void dot_dispatch_segmented(const dot_problem *pb, int mo, int nk, int o0, int k0) {
    switch (16 * mo + nk) {
        ROWS(DO, DOT_ROW_SEGMENTED)
        ROWS(DO_WIDE, DOT_ROW_WIDE_SEGMENTED)
    default:
        return;
    }
}

/* Columns are summed in chunks of at most DOT_CHUNK (whole vectors, the
 * chunks of a product of equal length but the last), each chunk's sums added
 * to dw in turn, so that the DK rows of col that every block of o reuses, and
 * a block's DO rows of dy, stay in L1: (DK + DO) * 4 KiB = 32 KiB with
 * AVX-512 (L1 holds 48). Measured: longer chunks lose up to a third at
 * P = 4608; shorter ones cut a 784-column image in two for nothing. */
enum { DOT_CHUNK = 1024 };

static void dot_run(const dot_problem *whole) {
    const int chunks = (whole->p + DOT_CHUNK - 1) / DOT_CHUNK;
    const int per_chunk = ((whole->p + chunks - 1) / chunks + VL - 1) / VL * VL;
    /* Blocks of DO x DK, or of DO_WIDE x DK_WIDE when the rows of dy come in
     * blocks of at most DO_WIDE rows anyway (C_out = 6: 3 + 3), so that the
     * block keeps as many sums in registers, with fewer loads per
     * multiply-add (LeNet-5's first layer: 166 -> 189 GFLOP/s; its second,
     * C_out = 16, stays with 4 x 4: 157 against 135 with 3 x 8). The sums of
     * each output are the same whatever the block. */
    const int narrow_blocks = (whole->c_out + DO - 1) / DO;
    const int wide = (whole->c_out + narrow_blocks - 1) / narrow_blocks <= DO_WIDE;
    const int do_max = wide ? DO_WIDE : DO, dk_max = wide ? DK_WIDE : DK;
    const int o_blocks = (whole->c_out + do_max - 1) / do_max;
    const int k_blocks = (whole->k + dk_max - 1) / dk_max;
    const int segmented = whole->col_off || whole->images > 1;
    for (int j0 = 0; j0 < whole->p; j0 += per_chunk) {
        dot_problem pb = *whole;
        pb.dy += j0;
        pb.col += j0;
        pb.p = whole->p - j0 < per_chunk ? whole->p - j0 : per_chunk;
        for (int kb = 0; kb < k_blocks; kb++) {
            int k0, nk;
            balanced_block(pb.k, dk_max, kb, &k0, &nk);
            for (int ob = 0; ob < o_blocks; ob++) {
                int o0, mo;
                balanced_block(pb.c_out, do_max, ob, &o0, &mo);
                if (segmented)
                    dot_dispatch_segmented(&pb, mo, nk, o0, k0);
                else
                    dot_dispatch(&pb, mo, nk, o0, k0);
            }
        }
    }
}

/* ---- the three products ---- */

void sn_conv_gemm_blocked_forward(int c_out, int k, int p, const float *w, const float *col,
                                  int ld_col, const float *bias, float *y, int ld_y) {
    if (c_out <= 0 || p <= 0) return;
    const bcast_problem pb = {c_out, k, p, w, k, 1, col, ld_col, NULL, bias, y, ld_y};
    bcast_run(&pb);
}

void sn_conv_gemm_blocked_weight_grad(int c_out, int k, int p, const float *dy, int ld_y,
                                      const float *col, int ld_col, float *dw) {
    if (c_out <= 0 || k <= 0 || p <= 0) return;
    const dot_problem pb = {c_out, k, p, 1, dy, ld_y, 0, col, ld_col, 0, NULL, dw};
    dot_run(&pb);
}

void sn_conv_gemm_blocked_input_grad(int c_out, int k, int p, const float *w, const float *dy,
                                     int ld_y, float *dcol, int ld_col) {
    sn_conv_gemm_blocked_input_grad_rows(c_out, k, k, p, w, dy, ld_y, dcol, ld_col);
}

void sn_conv_gemm_blocked_input_grad_rows(int c_out, int rows, int ld_w, int p, const float *w,
                                          const float *dy, int ld_y, float *dcol, int ld_col) {
    if (rows <= 0 || p <= 0) return;
    /* A = W^T: a[k, o] = w[o*ld_w + k], rows k, depth o */
    const bcast_problem pb = {rows, c_out, p, w, 1, ld_w, dy, ld_y, NULL, NULL, dcol, ld_col};
    bcast_run(&pb);
}

void sn_conv_gemm_blocked_forward_gather(int m, int depth, int n, const float *a, const float *b,
                                         const int *b_off, const float *bias, float *c, int ld_c) {
    if (m <= 0 || n <= 0) return;
    const bcast_problem pb = {m, depth, n, a, depth, 1, b, 0, b_off, bias, c, ld_c};
    bcast_run(&pb);
}

void sn_conv_gemm_copy_rows(int rows, int n, int width, const float *src, ptrdiff_t ld_src,
                            float *dst, ptrdiff_t ld_dst) {
    if (width <= 0) return;
    if (width <= VL) {
        /* One vector a row (the rows of LeNet-5's second layer), its masks
         * out of the loop: the general loop below took ~5x as long there. */
        for (int r = 0; r < rows; r++, dst += ld_dst) {
            const vec v = n ? load_part(src + r * ld_src, n) : splat(0.0f);
            if (width == VL)
                store_v(dst, v);
            else
                store_part(dst, v, width);
        }
        return;
    }
    /* Every row alike: whole vectors copied up to `copied`, then (tail > 0)
     * one vector of tail floats and zeros, then zeros up to `whole`, then
     * (last > 0) a vector cut to `last` floats; the masks are fixed before
     * the loop over the rows. */
    const int copied = n / VL * VL, tail = n - copied;
    const int whole = width / VL * VL, last = width - whole;
    for (int r = 0; r < rows; r++, dst += ld_dst) {
        const float *s = src ? src + r * ld_src : NULL;
        int j = 0;
        for (; j < copied; j += VL) store_v(dst + j, load_v(s + j));
        if (tail > 0) {
            const vec v = load_part(s + j, tail);
            if (j < whole)
                store_v(dst + j, v);
            else
                store_part(dst + j, v, last);
            j += VL;
        }
        for (; j < whole; j += VL) store_v(dst + j, splat(0.0f));
        if (j < width) store_part(dst + j, splat(0.0f), last);
    }
}

/* Taps of a kernel row summed in registers at most (sn_conv_gemm_col2im_channel):
 * their masks fit the 7 mask registers of AVX-512. */
#define COL2IM_TAPS 7

/* The lanes [lo, hi) of a vector (0 <= lo < hi <= VL), in the form the
 * target's masked load takes, for load_window. */
typedef struct lane_window {
#if defined(__AVX512F__)
    __mmask16 mask;
#elif defined(__AVX__)
    ivec keep;
#else
    int lo, hi;
#endif
} lane_window;

static lane_window lane_window_of(int lo, int hi) {
    lane_window w;
#if defined(__AVX512F__)
    w.mask = (__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u));
#elif defined(__AVX__)
    const ivec lane = {LANES(LANE_INDEX, 0)};
    w.keep = (lane >= lo) & (lane < hi);
#else
    w.lo = lo, w.hi = hi;
#endif
    return w;
}

/* Lanes of w from x[lane], the others zero; only those floats are read
 * (masked lanes raise no fault, as in load_part). */
static ALWAYS_INLINE vec load_window(const float *x, lane_window w) {
#if defined(__AVX512F__)
    return _mm512_maskz_loadu_ps(w.mask, x);
#elif defined(__AVX__)
    return _mm256_maskload_ps(x, (__m256i)w.keep);
#else
    vec v = {0};
    for (int l = w.lo; l < w.hi; l++) v[l] = x[l];
    return v;
#endif
}

static ALWAYS_INLINE void store_window(float *x, vec v, lane_window w) {
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(x, w.mask, v);
#elif defined(__AVX__)
    _mm256_maskstore_ps(x, (__m256i)w.keep, v);
#else
    for (int l = w.lo; l < w.hi; l++) x[l] = v[l];
#endif
}

/* The columns [x0, x0 + nx) of every row of dx (one vector, nx <= VL) in
 * sn_conv_gemm_col2im_channel, from the taps' offsets and windows; n_taps
 * (<= COL2IM_TAPS) is a constant at each call site (col2im_dispatch), so that
 * the tap loop unrolls and the offsets and masks stay in registers across the
 * rows (loaded from the tables at every term, the loop ran at half the speed
 * of its loads). */
typedef struct col2im_columns {
    const sn_im2col_geometry *g;
    const float *dcol;
    float *dx;
    int ld_dcol, x0, nx;
    int images;                     /* of the call, each with its dcol and dx: */
    ptrdiff_t dcol_image, dx_image; /* image f's at dcol + f*dcol_image, dx + f*dx_image */
    ptrdiff_t off[COL2IM_TAPS];
    lane_window win[COL2IM_TAPS];
} col2im_columns;

static ALWAYS_INLINE void col2im_rows(const col2im_columns *cc, const int n_taps) {
    const sn_im2col_geometry *g = cc->g;
    /* ints, as the ints of the caller's bounds (kh*kw*P and H*W are below
     * 2^31): 64-bit mixes spilled to vector registers and cost a fifth */
    const int kh = g->kernel_h, oh = g->out_h, ow = g->out_w, ph = g->pad_h;
    const int h = g->height, w = g->width;
    const int row_ki = g->kernel_w * cc->ld_dcol - ow; /* from (ki, i) to (ki + 1, i - 1) */
    const float *dcol = cc->dcol;
    float *dx = cc->dx + cc->x0;
    ptrdiff_t off[COL2IM_TAPS];
    lane_window win[COL2IM_TAPS];
    UNROLL
    for (int t = 0; t < n_taps; t++) off[t] = cc->off[t], win[t] = cc->win[t];
    const lane_window dx_win = lane_window_of(0, cc->nx);
    /* Rows y, y + step, ... then y + 1, ...: with rows of fewer than VL floats,
     * the load of row y + 1 would otherwise overlap the footprint of the
     * (masked) store of row y just before it, which stalls until that store
     * completes (measured: a quarter of LeNet-5's second layer's col2im). */
    const int step = w < VL ? (VL + w - 1) / w : 1;
    for (int first = 0; first < step; first++) {
        for (int y = first; y < h; y += step) {
            /* The kernel rows ki whose output row i = y + ph - ki is in [0, OH). */
            const int ki_lo = y + ph - (oh - 1) > 0 ? y + ph - (oh - 1) : 0;
            const int ki_hi = y + ph < kh - 1 ? y + ph : kh - 1; /* inclusive */
            /* dcol row (ki, 0) at output row i = y + ph - ki */
            const float *row0 = dcol + ki_lo * (row_ki + ow) + (y + ph - ki_lo) * ow;
            /* The images' rows y one after the other, the bounds and offsets
             * shared: LeNet-5's second layer's dx (4 images a call) 160 ->
             * 171 GFLOP/s against a call per image (bench_conv_gemm
             * --layers, alternated). A constant count of kernel rows for
             * the rows away from the edges was slower (164). */
            for (int f = 0; f < cc->images; f++) {
                const float *row = row0 + f * cc->dcol_image;
                /* One sum per tap: independent chains of additions. */
                vec acc[COL2IM_TAPS];
                UNROLL
                for (int t = 0; t < n_taps; t++) acc[t] = splat(0.0f);
                for (int ki = ki_lo; ki <= ki_hi; ki++, row += row_ki) {
                    UNROLL
                    for (int t = 0; t < n_taps; t++) acc[t] += load_window(row + off[t], win[t]);
                }
                vec sum = acc[0];
                UNROLL
                for (int t = 1; t < n_taps; t++) sum += acc[t];
                float *dx_v = dx + f * cc->dx_image + y * w;
                store_window(dx_v, load_window(dx_v, dx_win) + sum, dx_win);
            }
        }
    }
}

#define COL2IM_CASE(n)                                                                             \
    case n:                                                                                        \
        col2im_rows(cc, n);                                                                        \
        return;

static void col2im_dispatch(const col2im_columns *cc, int n_taps) {
    switch (n_taps) {
        ROWS(COL2IM_TAPS, COL2IM_CASE)
    default:
        return;
    }
}

void sn_conv_gemm_col2im_channel(const sn_im2col_geometry *g, int images, const float *dcol,
                                 int ld_dcol, ptrdiff_t dcol_image, float *dx, ptrdiff_t dx_image) {
    const int kw = g->kernel_w, ow = g->out_w, w = g->width, pw = g->pad_w;
    const ptrdiff_t p = ld_dcol;
    col2im_columns cc;
    cc.g = g, cc.dcol = dcol, cc.dx = dx, cc.ld_dcol = ld_dcol;
    cc.images = images, cc.dcol_image = dcol_image, cc.dx_image = dx_image;
    for (cc.x0 = 0; cc.x0 < w; cc.x0 += VL) {
        cc.nx = w - cc.x0 < VL ? w - cc.x0 : VL;
        /* Lane l is column x = x0 + l of dx; tap kj reads output column
         * j = s + l, s = x0 + pw - kj, for the lanes with j in [0, OW) and
         * x < W. The taps with some such lane, their offsets in dcol (from
         * row (ki, 0) at output row i) and windows, in groups of at most
         * COL2IM_TAPS, each group's sums added to dx in turn. */
        int taps = 0;
        for (int kj = 0; kj < kw; kj++) {
            const int s = cc.x0 + pw - kj, lo = s < 0 ? -s : 0;
            const int hi = ow - s < cc.nx ? ow - s : cc.nx;
            if (lo < hi) {
                cc.off[taps] = (ptrdiff_t)kj * p + s;
                cc.win[taps++] = lane_window_of(lo, hi);
            }
            if (taps == COL2IM_TAPS || (kj == kw - 1 && taps > 0)) {
                col2im_dispatch(&cc, taps);
                taps = 0;
            }
        }
    }
}

void sn_conv_gemm_blocked_weight_grad_gather(int c_out, int k, int p, int images, const float *dy,
                                             int ld_y, ptrdiff_t dy_image, const float *col,
                                             const int *col_off, ptrdiff_t col_image, float *dw) {
    if (c_out <= 0 || k <= 0 || p <= 0 || images <= 0) return;
    const dot_problem pb = {c_out,    k,   p, images,    dy,      ld_y,
                            dy_image, col, 0, col_image, col_off, dw};
    dot_run(&pb);
}

/* Where the kernels lose to sn_sgemm (measured with one thread, AVX-512,
 * OpenBLAS 0.3.21, bench/bench_conv_gemm.c and wider sweeps of C_out 16..1024,
 * K 150..9216, P 16..3136):
 *  - without FMA in the target (no -march), against a CBLAS that picks its
 *    own kernels at run time (AVX-512 here): 4 lanes and separate multiply
 *    and add give 35-55 GFLOP/s, OpenBLAS 70-230. (Against the portable
 *    sn_sgemm of a build without CBLAS the kernels are faster: they stay.)
 *  - dW at P < 4 vectors: each output's lane reduction then costs more than
 *    its few FMAs (P = 16: ~60 GFLOP/s against 70-115; P = 49: 90-100
 *    against 75-120; from P = 100 on the kernel wins, 135-220 against 75-125).
 * Forward and dcol won at every shape measured. */
int sn_conv_gemm_route(sn_conv_product product, int c_out, int k, int p) {
    (void)c_out, (void)k;
#if !defined(__FMA__) && !defined(__AVX512F__) && defined(SINAPSI_HAVE_CBLAS)
    (void)product, (void)p;
    return 0;
#else
    return product != SN_CONV_WEIGHT_GRAD || p >= 4 * VL;
#endif
}

void sn_conv_gemm_forward(int c_out, int k, int p, const float *w, const float *col, int ld_col,
                          const float *bias, float *y, int ld_y) {
    if (sn_conv_gemm_route(SN_CONV_FORWARD, c_out, k, p)) {
        sn_conv_gemm_blocked_forward(c_out, k, p, w, col, ld_col, bias, y, ld_y);
        return;
    }
    if (c_out <= 0 || p <= 0) return;
    /* y = b, then y = W col + y */
    if (bias)
        for (int o = 0; o < c_out; o++)
            for (int j = 0; j < p; j++) y[(ptrdiff_t)o * ld_y + j] = bias[o];
    sn_sgemm(0, 0, c_out, p, k, 1.0f, w, k, col, ld_col, bias ? 1.0f : 0.0f, y, ld_y);
}

void sn_conv_gemm_weight_grad(int c_out, int k, int p, const float *dy, int ld_y, const float *col,
                              int ld_col, float *dw) {
    if (sn_conv_gemm_route(SN_CONV_WEIGHT_GRAD, c_out, k, p)) {
        sn_conv_gemm_blocked_weight_grad(c_out, k, p, dy, ld_y, col, ld_col, dw);
        return;
    }
    if (c_out <= 0 || k <= 0 || p <= 0) return;
    sn_sgemm(0, 1, c_out, k, p, 1.0f, dy, ld_y, col, ld_col, 1.0f, dw, k);
}

void sn_conv_gemm_input_grad(int c_out, int k, int p, const float *w, const float *dy, int ld_y,
                             float *dcol, int ld_col) {
    if (sn_conv_gemm_route(SN_CONV_INPUT_GRAD, c_out, k, p)) {
        sn_conv_gemm_blocked_input_grad(c_out, k, p, w, dy, ld_y, dcol, ld_col);
        return;
    }
    if (k <= 0 || p <= 0) return;
    sn_sgemm(1, 0, k, p, c_out, 1.0f, w, k, dy, ld_y, 0.0f, dcol, ld_col);
}

/* ---- channel-vector kernels: a vector holds the VL output channels ---- */

/* dst (n, m) (=, or += when add) src (m, n)^T, row strides ld_src, ld_dst:
 * blocks of VL x VL loaded (masked at the edges, nothing read or written
 * outside the two matrices), transposed in registers by log2(VL) levels of
 * block swaps, stored. Level h swaps, in every aligned group of 2h rows and
 * 2h lanes, the h x h block above the diagonal with the one below it: row r
 * (bit h clear) keeps its lanes l with bit h clear and takes row r + h's lane
 * l - h into lane l with bit h set, and row r + h the other way round; after
 * h = VL/2, ..., 1 every element (r, l) is at (l, r). VL log2(VL) shuffles per
 * VL*VL floats (64 per 256 with AVX-512), against one scalar move a float. */
#define SWAP_LO(h, l) (((l) & (h)) ? VL + (l) - (h) : (l))
#define SWAP_HI(h, l) (((l) & (h)) ? VL + (l) : (l) + (h))
#define SWAP_LEVEL(t, h)                                                                           \
    UNROLL for (int r_ = 0; r_ < VL; r_++) if (!(r_ & (h))) {                                      \
        const vec a_ = t[r_], b_ = t[r_ + (h)];                                                    \
        t[r_] = __builtin_shufflevector(a_, b_, LANES(SWAP_LO, h));                                \
        t[r_ + (h)] = __builtin_shufflevector(a_, b_, LANES(SWAP_HI, h));                          \
    }

void sn_conv_gemm_transpose(int m, int n, const float *src, ptrdiff_t ld_src, float *dst,
                            ptrdiff_t ld_dst, int add) {
    for (int i0 = 0; i0 < m; i0 += VL) {
        const int mi = m - i0 < VL ? m - i0 : VL;
        for (int j0 = 0; j0 < n; j0 += VL) {
            const int nj = n - j0 < VL ? n - j0 : VL;
            vec t[VL];
            UNROLL
            for (int r = 0; r < VL; r++) {
                const float *s = src + (i0 + r) * ld_src + j0;
                t[r] = r >= mi ? splat(0.0f) : nj == VL ? load_v(s) : load_part(s, nj);
            }
#if VL >= 16
            SWAP_LEVEL(t, 8)
#endif
#if VL >= 8
            SWAP_LEVEL(t, 4)
#endif
            SWAP_LEVEL(t, 2)
            SWAP_LEVEL(t, 1)
            UNROLL
            for (int r = 0; r < VL; r++) {
                float *d = dst + (j0 + r) * ld_dst + i0;
                if (r >= nj)
                    continue;
                else if (mi == VL)
                    store_v(d, add ? load_v(d) + t[r] : t[r]);
                else
                    store_part(d, add ? load_part(d, mi) + t[r] : t[r], mi);
            }
        }
    }
}

/* Forward, yt (OH*OW, VL) = the VL channels of each output as one vector:
 *   yt[i*OW + j] = b + sum_{c, ki, kj} wt[(c*kh + ki)*kw + kj] xp[c][i + ki][j + kj]
 * with wt (K, VL) = W^T and xp (C_in, Hp, Wp) the padded input. A block is
 * CH_ROWS output rows x CH_COLS columns, CH_ROWS*CH_COLS accumulators; for
 * each (c, ki), the kw vectors of wt are loaded once and each input float
 * xp[c][i + ki][m] is broadcast once and multiplied into the (up to) kw
 * outputs j = m - kj that read it: 26 loads per 100 FMAs at LeNet-5's second
 * layer, where the (C_out, P) kernels (bcast_block) load 11 per 24 and cover
 * P = 100 columns with 7 vectors of 16. Every output's terms come in the order
 * (c, ki, kj) ascending, from the bias: a block moved back to end at the last
 * row or column recomputes its outputs with the same bits. */
enum { CH_ROWS = 2, CH_COLS = 10 };

typedef struct channel_conv {
    const sn_im2col_geometry *g;
    const float *xp; /* (C_in, Hp, Wp) */
    int wp, plane;   /* Wp, Hp*Wp */
    const float *wt; /* (K, VL) */
    const float *bias;
    float *yt; /* (OH*OW, VL) */
} channel_conv;

static ALWAYS_INLINE void channel_forward_block(const channel_conv *cc, const int kw, int i0,
                                                int j0) {
    const sn_im2col_geometry *g = cc->g;
    const int kh = g->kernel_h, wp = cc->wp, ow = g->out_w;
    vec acc[CH_ROWS][CH_COLS];
    const vec init = cc->bias ? load_v(cc->bias) : splat(0.0f);
    UNROLL
    for (int r = 0; r < CH_ROWS; r++) {
        UNROLL
        for (int j = 0; j < CH_COLS; j++) acc[r][j] = init;
    }
    const float *wt = cc->wt;
    for (int c = 0; c < g->channels; c++) {
        const float *x_c = cc->xp + c * cc->plane + i0 * wp + j0;
        for (int ki = 0; ki < kh; ki++, wt += kw * VL) {
            const float *x = x_c + ki * wp;
            vec wv[5];
            UNROLL
            for (int kj = 0; kj < kw; kj++) {
                wv[kj] = load_v(wt + kj * VL);
                IN_REGISTER(wv[kj]);
            }
            UNROLL
            for (int r = 0; r < CH_ROWS; r++) {
                UNROLL
                for (int m = 0; m < CH_COLS + kw - 1; m++) {
                    const vec b = splat(x[r * wp + m]);
                    UNROLL
                    for (int kj = 0; kj < kw; kj++)
                        if (m - kj >= 0 && m - kj < CH_COLS)
                            acc[r][m - kj] = fmadd(wv[kj], b, acc[r][m - kj]);
                }
            }
        }
    }
    UNROLL
    for (int r = 0; r < CH_ROWS; r++) {
        UNROLL
        for (int j = 0; j < CH_COLS; j++)
            store_v(cc->yt + ((i0 + r) * ow + j0 + j) * VL, acc[r][j]);
    }
}

static ALWAYS_INLINE void channel_forward_kw(const channel_conv *cc, const int kw) {
    const int oh = cc->g->out_h, ow = cc->g->out_w;
    for (int i = 0; i < oh; i += CH_ROWS) {
        const int i0 = i + CH_ROWS <= oh ? i : oh - CH_ROWS;
        for (int j = 0; j < ow; j += CH_COLS)
            channel_forward_block(cc, kw, i0, j + CH_COLS <= ow ? j : ow - CH_COLS);
    }
}

int sn_conv_gemm_channel_route(const sn_im2col_geometry *g, int c_out) {
    /* 32 vector registers (the blocks hold 20 and 25 accumulators), C_out one
     * vector, stride 1, kernels 3x3 and 5x5, outputs at least a block. */
#if defined(__AVX512F__)
    return c_out == VL && g->stride_h == 1 && g->stride_w == 1 && g->kernel_h == g->kernel_w &&
           (g->kernel_w == 3 || g->kernel_w == 5) && g->out_h >= CH_ROWS && g->out_w >= CH_COLS;
#else
    (void)g, (void)c_out;
    return 0;
#endif
}

void sn_conv_gemm_channel_forward(const sn_im2col_geometry *g, const float *xp, const float *wt,
                                  const float *bias, float *yt) {
    const int wp = g->width + 2 * g->pad_w, hp = g->height + 2 * g->pad_h;
    const channel_conv cc = {g, xp, wp, hp * wp, wt, bias, yt};
    if (g->kernel_w == 5)
        channel_forward_kw(&cc, 5);
    else
        channel_forward_kw(&cc, 3);
}

/* dW, dwt (K, VL) += sum_{i, j} dyt[i*OW + j] xp[c][i + ki][j + kj] for row
 * k = (c*kh + ki)*kw + kj: one channel's kh*kw rows in registers, over the
 * outputs `pos` at a time along a row (4, then 2, then 1 at the end of a
 * row): each of the kw + pos - 1 floats of an input row they read is
 * broadcast once and multiplied into up to pos sums (kj = m - s for output
 * j + s). The kernel alone on LeNet-5's second layer (a standalone timing
 * with the sizes as constants): 2 at a time 224 GFLOP/s, 4 at a time 253;
 * in conv_direct.c's dW, transposes included, 230 -> 233 (bench_conv_gemm
 * --layers, alternated). Every element's terms are added in the order
 * (i, j) ascending, onto what dwt holds: a call per image sums the images
 * in order. */

/* An empty asm that claims to change p: the compiler cannot fold the
 * pointer into addresses it derives from several such pointers. */
#if defined(__GNUC__)
#define OPAQUE_POINTER(p) __asm__("" : "+r"(p))
#else
#define OPAQUE_POINTER(p) ((void)0)
#endif

static ALWAYS_INLINE void channel_weight_grad_step(vec acc[25], const float *x, int wp,
                                                   const float *dyt, const int k, const int pos) {
    vec d[4];
    UNROLL
    for (int s = 0; s < pos; s++) {
        d[s] = load_v(dyt + s * VL);
        IN_REGISTER(d[s]);
    }
    const float *row = x;
    UNROLL
    for (int ki = 0; ki < k; ki++, row += wp) {
        /* the row's floats at constant offsets from one register (gcc
         * otherwise kept ki*wp + m for every (ki, m) in a register or on
         * the stack, and spilled accumulators around the FMAs) */
        OPAQUE_POINTER(row);
        UNROLL
        for (int m = 0; m < k + pos - 1; m++) {
            const vec b = splat(row[m]);
            UNROLL
            for (int s = 0; s < pos; s++)
                if (m - s >= 0 && m - s < k)
                    acc[ki * k + m - s] = fmadd(d[s], b, acc[ki * k + m - s]);
        }
    }
}

static ALWAYS_INLINE void channel_weight_grad_k(const sn_im2col_geometry *g, const float *xp,
                                                const float *dyt, float *dwt, const int k) {
    const int wp = g->width + 2 * g->pad_w, plane = (g->height + 2 * g->pad_h) * wp;
    const int oh = g->out_h, ow = g->out_w;
    for (int c = 0; c < g->channels; c++, dwt += k * k * VL) {
        vec acc[25];
        UNROLL
        for (int t = 0; t < k * k; t++) acc[t] = load_v(dwt + t * VL);
        for (int i = 0; i < oh; i++) {
            const float *x = xp + c * plane + i * wp;
            const float *d = dyt + i * ow * VL;
            int j = 0;
            for (; j + 4 <= ow; j += 4) channel_weight_grad_step(acc, x + j, wp, d + j * VL, k, 4);
            if (j + 2 <= ow) {
                channel_weight_grad_step(acc, x + j, wp, d + j * VL, k, 2);
                j += 2;
            }
            if (j < ow) channel_weight_grad_step(acc, x + j, wp, d + j * VL, k, 1);
        }
        UNROLL
        for (int t = 0; t < k * k; t++) store_v(dwt + t * VL, acc[t]);
    }
}

void sn_conv_gemm_channel_weight_grad(const sn_im2col_geometry *g, const float *xp,
                                      const float *dyt, float *dwt) {
    if (g->kernel_w == 5)
        channel_weight_grad_k(g, xp, dyt, dwt, 5);
    else
        channel_weight_grad_k(g, xp, dyt, dwt, 3);
}

/* ---- sn_conv_gemm_row_sum: conv2d's db ---- */

/* sum_i x[i] over [0, n) in double, as 32 lanes (lane l sums the i = l mod
 * 32 in ascending order from +0, in four vectors of 8 doubles, so that four
 * chains of additions run at once) added in the fixed tree
 *   s[l] = (lane[l] + lane[l + 16]) + (lane[l + 8] + lane[l + 24]), l < 8
 *   ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7))
 * The last n mod 32 terms come from a zero-padded copy (the other lanes add
 * +0, exact). Written with vectors of 8 doubles for every target (the
 * compiler splits them where vectors are narrower): the same sums as the
 * scalar lanes conv2d.c had, whose loop gcc compiled with the lanes on the
 * stack and a scalar loop for the last terms (3.6% of the samples of a
 * one-thread LeNet-5 run, 2.3% now). One double accumulator would make every
 * addition wait for the previous one (~4 cycles a term, N*C_out*P terms: 2.4
 * million per backward of Conv2d(32, 64, 3) at batch 64). As accurate as one
 * double sum for these lengths (a float has 24 bits, so the sums are exact
 * unless the terms span more than 29 binades). */
typedef double d8 __attribute__((vector_size(8 * sizeof(double))));
typedef float f8 __attribute__((vector_size(8 * sizeof(float))));

/* *acc += the 8 floats from x, widened (through pointers: a vector of 64
 * bytes returned by value is an ABI warning on targets without AVX-512) */
static ALWAYS_INLINE void add_widened(d8 *acc, const float *x) {
#if defined(__AVX512F__)
    /* one instruction (gcc splits the conversion below into two halves and
     * a merge when tuned for 256-bit vectors: 2.4x the time) */
    *acc += (d8)_mm512_cvtps_pd(_mm256_loadu_ps(x));
#else
    f8 v;
    memcpy(&v, x, sizeof v);
    *acc += __builtin_convertvector(v, d8);
#endif
}

double sn_conv_gemm_row_sum(const float *x, int n) {
    d8 a[4] = {{0.0}, {0.0}, {0.0}, {0.0}};
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        UNROLL
        for (int q = 0; q < 4; q++) add_widened(&a[q], x + i + 8 * q);
    }
    if (i < n) {
        float tail[32] = {0.0f};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof *tail);
        UNROLL
        for (int q = 0; q < 4; q++) add_widened(&a[q], tail + 8 * q);
    }
    const d8 s = (a[0] + a[2]) + (a[1] + a[3]);
    const double t0 = s[0] + s[4], t1 = s[1] + s[5], t2 = s[2] + s[6], t3 = s[3] + s[7];
    return (t0 + t2) + (t1 + t3);
}

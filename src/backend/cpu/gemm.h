/*
 * The one GEMM seam. Every matrix product in sinapsi (Linear, Conv2d forward
 * and both backward products) goes through sn_sgemm, which computes it with
 * sinapsi's own blocked kernel (sn_sgemm_portable) or, when the library is
 * built with SINAPSI_BLAS=ON, with CBLAS for the shapes where that is faster
 * (sn_sgemm_own_route: a rule on the shape, never on the environment).
 *
 * Row-major, BLAS semantics:  C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C
 * where op(X) is X or X^T (trans_x != 0). lda/ldb/ldc are row strides of the
 * matrices as stored. beta == 0 overwrites C without reading it (NaNs in C are
 * not propagated), as BLAS specifies.
 */
#ifndef SN_BACKEND_CPU_GEMM_H
#define SN_BACKEND_CPU_GEMM_H

/* The own kernel's K slices: a product of depth k is summed in ceil(k / KC)
 * slices of sizes differing by at most one, the longer first (gemm.c's
 * determinism note; 784 = 196 x 4, not 256 x 3 + 16). gemm_skip.c cuts K
 * with the same two functions, so that its sums have the same order. */
#define SN_SGEMM_KC 256

static inline int sn_sgemm_k_slices(int k) {
    return (k + SN_SGEMM_KC - 1) / SN_SGEMM_KC;
}

/* The depth of slice t (< slices) of k. */
static inline int sn_sgemm_k_slice_depth(int k, int slices, int t) {
    return k / slices + (t < k % slices);
}

void sn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* sinapsi's own kernel (register-blocked, in vector extensions: AVX-512,
 * AVX or SSE/NEON as the build targets), on the calling thread. */
void sn_sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* 1 when sn_sgemm computes a product of this shape with sn_sgemm_portable, 0
 * when with CBLAS (always 1 without CBLAS). A rule on the shape only. */
int sn_sgemm_own_route(int trans_a, int trans_b, int m, int n, int k);

/* sn_sgemm with `one` computing each block of its cut on the pool (for tests
 * and benchmarks that compare the backends). `one` runs on one thread. */
typedef void (*sn_sgemm_fn)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float *a, int lda, const float *b, int ldb, float beta, float *c,
                            int ldc);
void sn_sgemm_split(sn_sgemm_fn one, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c,
                    int ldc);

/* A product and its cut into `chunks` blocks of C, each `block` rows (by_rows)
 * or columns (the last may be shorter), computed by `one` on one thread. The
 * cut depends on the shape only (gemm.c says how), so an op may run the blocks
 * of several products in one pool job (Linear's backward: dx's and dW's) and
 * get the bits of sn_sgemm for any thread count. */
typedef struct sn_sgemm_job {
    sn_sgemm_fn one;
    int trans_a, trans_b, m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int by_rows, block, chunks; /* chunks >= 1 */
    /* NULL (the plan's), or a row of n floats added to every row of C:
     * C = (beta C + bias) + alpha op(A) op(B), beta == 0 not reading C, which
     * gives the bits of filling C with the bias and running the product with
     * beta = 1. The own kernel adds it while it stores its first K slice
     * (Linear's forward: no pass that fills y first); other kernels get C
     * filled first. */
    const float *bias;
} sn_sgemm_job;

/* The job sn_sgemm would run: its route (sn_sgemm_own_route) and its cut. */
sn_sgemm_job sn_sgemm_plan(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb, float beta, float *c,
                           int ldc);
/* The same with `one` computing the blocks. */
sn_sgemm_job sn_sgemm_plan_cut(sn_sgemm_fn one, int trans_a, int trans_b, int m, int n, int k,
                               float alpha, const float *a, int lda, const float *b, int ldb,
                               float beta, float *c, int ldc);
/* Block `chunk` covers rows (by_rows) or columns [*first, *first + *count) of C. */
void sn_sgemm_block_range(const sn_sgemm_job *job, int chunk, int *first, int *count);
/* Computes block `chunk` (< job->chunks) on the calling thread. */
void sn_sgemm_run_block(const sn_sgemm_job *job, int chunk);

/* "cblas" or "portable", for --version and benchmarks. */
const char *sn_sgemm_backend(void);

#endif

/*
 * src/backend/cpu/gemm_skip.h: C = beta C + A^T B with the exact zeros of A
 * skipped, for Linear's weight gradient dW = dy^T x where dy comes back
 * through a ReLU (or dropout): about half of its entries are exactly zero, the
 * units that were off for that example, and their terms add nothing.
 *
 *   A (k, m) lda    B (k, n) ldb    C (m, n) ldc    beta 0 (C unread) or 1
 *
 * The sums run in the order of the own kernel (gemm.c; SN_SGEMM_KC slices),
 * so C gets the bits sn_sgemm_portable(1, 0, m, n, k, 1, a, lda, b, ldb, beta,
 * c, ldc) gives, with two exceptions where a skipped term would have mattered:
 * a sum that is -0 (a tiny negative product rounded to zero) stays -0 where
 * the own kernel would add +0 x b and make it +0, and a zero of A opposite an
 * infinity or a NaN of B skips the NaN that 0 x inf would have made. A NaN of
 * A is not a zero and is kept.
 */
#ifndef SN_BACKEND_CPU_GEMM_SKIP_H
#define SN_BACKEND_CPU_GEMM_SKIP_H

/* The product and its cut into `chunks` blocks of `block` rows of C (the last
 * may be shorter), a cut by the shape only; each block's rows are computed
 * alone, so any thread count gives the same bits. */
typedef struct sn_sgemm_skip_job {
    int m, n, k, lda, ldb, ldc;
    float beta;
    const float *a, *b;
    float *c;
    int block, chunks; /* chunks == 0: not planned (use sn_sgemm_plan) */
} sn_sgemm_skip_job;

/* The job when skipping pays and keeps sn_sgemm's bits: AVX-512 builds (where
 * it was measured), a product sn_sgemm gives to the own kernel
 * (sn_sgemm_own_route), beta 0 or 1, rows of B at most 1024 floats apart,
 * and enough of A's entries zero (counted here, one pass over A): 46% for
 * n = 784, more for shorter rows (gemm_skip.c says how much and why); else
 * chunks = 0. */
sn_sgemm_skip_job sn_sgemm_skip_plan(int m, int n, int k, const float *a, int lda, const float *b,
                                     int ldb, float beta, float *c, int ldc);

/* The same job for any A (tests and benchmarks: no density or route rule). */
sn_sgemm_skip_job sn_sgemm_skip_plan_always(int m, int n, int k, const float *a, int lda,
                                            const float *b, int ldb, float beta, float *c, int ldc);

/* Computes block `chunk` (< job->chunks) on the calling thread. */
void sn_sgemm_skip_run_block(const sn_sgemm_skip_job *job, int chunk);

#endif

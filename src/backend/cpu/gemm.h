/*
 * The one GEMM seam. Every matrix product in sinapsi (Linear, Conv2d forward
 * and both backward products) goes through sn_sgemm, which calls CBLAS when the
 * library is built with SINAPSI_BLAS=ON and a portable blocked kernel otherwise.
 *
 * Row-major, BLAS semantics:  C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C
 * where op(X) is X or X^T (trans_x != 0). lda/ldb/ldc are row strides of the
 * matrices as stored. beta == 0 overwrites C without reading it (NaNs in C are
 * not propagated), as BLAS specifies.
 */
#ifndef SN_BACKEND_CPU_GEMM_H
#define SN_BACKEND_CPU_GEMM_H

void sn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);

/* The portable kernel, exposed so tests can compare it with CBLAS directly. */
void sn_sgemm_portable(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                       int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* "cblas" or "portable", for --version and benchmarks. */
const char *sn_sgemm_backend(void);

#endif

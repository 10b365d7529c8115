/*
 * src/backend/cpu/conv_gemm.h: the three matrix products of a convolution,
 * for one image (or a few) at a time, at the thin shapes small CNNs have.
 *
 * With K = C_in*kh*kw, P = OH*OW (or a few images' worth of columns), col the
 * im2col patches of the chunk (K, P) and W the weight as a matrix (C_out, K):
 *
 *   forward  y (C_out, P)      = W (C_out, K) col (K, P) + b    (b may be NULL)
 *   dW       dw (C_out, K)    += dy (C_out, P) col^T (P, K)
 *   dcol     dcol (K, P)       = W^T (K, C_out) dy (C_out, P)
 *
 * LeNet-5 and the benchmark CNN have C_out of 6..64 and K of 9..288, so these
 * are far from the square shapes BLAS is tuned for (OpenBLAS reaches 17-25
 * GFLOP/s on them against ~250 peak): the kernels here are written for them.
 * Row strides: ld_col for col and dcol, ld_y for y and dy (>= P); W, dw are
 * dense (row stride K). Each call runs on the calling thread only (it is
 * called from inside a chunk of sn_parallel_for) and allocates nothing.
 * The result of every call depends only on its arguments: no state, no
 * dependence on alignment of the pointers beyond float alignment.
 */
#ifndef SN_BACKEND_CPU_CONV_GEMM_H
#define SN_BACKEND_CPU_CONV_GEMM_H

void sn_conv_gemm_forward(int c_out, int k, int p, const float *w, const float *col, int ld_col,
                          const float *bias, float *y, int ld_y);

void sn_conv_gemm_weight_grad(int c_out, int k, int p, const float *dy, int ld_y, const float *col,
                              int ld_col, float *dw);

void sn_conv_gemm_input_grad(int c_out, int k, int p, const float *w, const float *dy, int ld_y,
                             float *dcol, int ld_col);

#endif

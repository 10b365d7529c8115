/*
 * src/backend/cpu/conv_gemm_blocked.h: the register-blocked kernels behind
 * src/backend/cpu/conv_gemm.h by themselves, for its tests and benchmark.
 *
 * The functions of conv_gemm.h send each product either to these kernels or
 * to sn_sgemm, by its shape and by what the build targets (see
 * sn_conv_gemm_route); in a build without FMA and with CBLAS, all of them go
 * to sn_sgemm. These entry points reach the kernels whatever the route, with
 * the same arguments and results as the conv_gemm.h function of the same name.
 */
#ifndef SN_BACKEND_CPU_CONV_GEMM_BLOCKED_H
#define SN_BACKEND_CPU_CONV_GEMM_BLOCKED_H

#include <stddef.h>

#include "backend/cpu/im2col.h"

void sn_conv_gemm_blocked_forward(int c_out, int k, int p, const float *w, const float *col,
                                  int ld_col, const float *bias, float *y, int ld_y);

void sn_conv_gemm_blocked_weight_grad(int c_out, int k, int p, const float *dy, int ld_y,
                                      const float *col, int ld_col, float *dw);

void sn_conv_gemm_blocked_input_grad(int c_out, int k, int p, const float *w, const float *dy,
                                     int ld_y, float *dcol, int ld_col);

/* dcol (rows, p), row stride ld_col = W^T dy for the rows [0, rows) of W^T,
 * W^T[k][o] = w[o*ld_w + k]: sn_conv_gemm_blocked_input_grad (ld_w = k) for
 * some of its rows, e.g. one input channel's kh*kw (src/backend/cpu/conv_direct.c). */
void sn_conv_gemm_blocked_input_grad_rows(int c_out, int rows, int ld_w, int p, const float *w,
                                          const float *dy, int ld_y, float *dcol, int ld_col);

/* dx (H, W) += col2im of one channel's dcol (kh*kw, OH*OW), row stride
 * ld_dcol >= OH*OW, stride 1 (g's stride is ignored; channels and n_batch
 * too), for each of `images` images: image f's dcol at dcol + f*dcol_image,
 * its dx at dx + f*dx_image:
 *   dx[y][x] += sum_{ki, kj} dcol[ki*kw + kj][(y + ph - ki)*OW + x + pw - kj]
 * over the (ki, kj) whose output row and column are in range: each tap kj's
 * terms summed over ki ascending from +0, the taps' sums added in kj order
 * (7 taps at a time, kw > 7 in turns), then added to dx, in registers, a
 * vector of columns of a row of dx at a time, each term one masked load: no
 * store into dx until its sum is complete, unlike sn_col2im_add's scatter. */
void sn_conv_gemm_col2im_channel(const sn_im2col_geometry *g, int images, const float *dcol,
                                 int ld_dcol, ptrdiff_t dcol_image, float *dx, ptrdiff_t dx_image);

/* The same kernels reading B through a table of row offsets, for a
 * convolution without im2col (src/backend/cpu/conv_direct.c):
 *   c (m, n), row stride ld_c  = a (m, depth) dense  b~ (depth, n)  (+ bias)
 * where row d of b~ is the n floats from b + b_off[d]. */
void sn_conv_gemm_blocked_forward_gather(int m, int depth, int n, const float *a, const float *b,
                                         const int *b_off, const float *bias, float *c, int ld_c);

/* Row r < rows of dst (row stride ld_dst): [0, n) = the n floats of src's row
 * r (row stride ld_src), [n, width) = 0; src NULL (n = 0): zeros. Whole and
 * masked vectors, so that rows of a few floats cost no library call (the
 * layouts of conv_direct.c); reads n and writes width floats per row, no
 * more. n <= width. */
void sn_conv_gemm_copy_rows(int rows, int n, int width, const float *src, ptrdiff_t ld_src,
                            float *dst, ptrdiff_t ld_dst);

/* dw (c_out, k) dense += sum over n < images of dy_n (c_out, p) col_n^T
 * (p, k), where row o of dy_n is the p floats from dy + o*ld_y + n*dy_image
 * and row kk of col_n the p floats from col + col_off[kk] + n*col_image: a
 * few images' products summed in registers before one reduction per output. */
void sn_conv_gemm_blocked_weight_grad_gather(int c_out, int k, int p, int images, const float *dy,
                                             int ld_y, ptrdiff_t dy_image, const float *col,
                                             const int *col_off, ptrdiff_t col_image, float *dw);

/* Kernels whose vectors hold the VL output channels (C_out == VL), for a
 * stride-1 convolution of one image, reading the padded input xp (C_in, Hp,
 * Wp) in place (conv_direct.c). sn_conv_gemm_channel_route: 1 when they take
 * this geometry and C_out (kernels 3x3 and 5x5, outputs at least 2 x 10,
 * a target with 32 vector registers), else 0; the others need it to be 1.
 *   forward  yt (OH*OW, C_out) = W^T-weighted patches + bias, wt (K, C_out) = W^T
 *   dW       dwt (K, C_out) += sum over the outputs of dyt (OH*OW, C_out) times
 *            the patch row, dyt = dy^T
 * The products' layouts are the transposes of conv2d's: sn_conv_gemm_transpose
 * converts, dst (n, m) = src (m, n)^T, or dst += src^T when add. */
int sn_conv_gemm_channel_route(const sn_im2col_geometry *g, int c_out);
void sn_conv_gemm_channel_forward(const sn_im2col_geometry *g, const float *xp, const float *wt,
                                  const float *bias, float *yt);
void sn_conv_gemm_channel_weight_grad(const sn_im2col_geometry *g, const float *xp,
                                      const float *dyt, float *dwt);
void sn_conv_gemm_transpose(int m, int n, const float *src, ptrdiff_t ld_src, float *dst,
                            ptrdiff_t ld_dst, int add);

/* sum_i x[i] over [0, n) in double (conv2d's bias gradient), in a fixed
 * order that depends on n only: 32 lanes (i mod 32) and a fixed tree. */
double sn_conv_gemm_row_sum(const float *x, int n);

typedef enum sn_conv_product {
    SN_CONV_FORWARD,
    SN_CONV_WEIGHT_GRAD,
    SN_CONV_INPUT_GRAD
} sn_conv_product;

/* 1 when conv_gemm.h's function for `product` runs the blocked kernel at this
 * shape, 0 when it calls sn_sgemm. */
int sn_conv_gemm_route(sn_conv_product product, int c_out, int k, int p);

#endif

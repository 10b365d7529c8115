/*
 * src/backend/cpu/conv_direct.h: a convolution of one image without im2col,
 * for stride 1 and small K = C_in*kh*kw (LeNet-5's K = 25 and 150, the
 * benchmark CNN's 9 and 288), where building the (K, OH*OW) patch matrix cost
 * as much as the products themselves.
 *
 * For one image x (C_in, H, W), weight w (C_out, C_in, kh, kw) and output
 * (C_out, OH, OW) with stride 1 (the formulas of src/ops/conv2d.c):
 *
 *   forward  y[o, i, j]        = b[o] + sum_{c,ki,kj} w[o,c,ki,kj] xp[c, i+ki, j+kj]
 *   dW       dw[o, c, ki, kj] += sum_{i,j} dy[o, i, j] xp[c, i+ki, j+kj]
 *   dx       dx[c, y, x]      += sum_{o,ki,kj} w[o,c,ki,kj] dy[o, y+ph-ki, x+pw-kj]
 *
 * with xp (C_in, Hp, Wp) = x zero-padded (Hp = H + 2ph, Wp = W + 2pw) and dy
 * read as zero outside (OH, OW). All three are products with the
 * register-blocked kernels of conv_gemm.c, which read the rows of the patch
 * matrix through a table of offsets instead of an im2col copy:
 *  - forward, "wide" columns: output (i, j) is column q = i*Wp + j of a
 *    (C_out, (OH-1)*Wp + OW) product whose row (c, ki, kj) of B starts at
 *    xp + c*Hp*Wp + ki*Wp + kj and is contiguous. The columns with j >= OW
 *    mix two input rows and are dropped when the result is copied into y
 *    (Wp/OW - 1 of the work is wasted: 14% for 28x28 with padding 2). Every
 *    read stays inside xp. xp is x itself when there is no padding; else a
 *    copy in the scratch.
 *  - dW, from kw shifted copies of each image, xs (kw, C_in, Hp, OW) with
 *    xs[kj][c][r][j] = xp[c][r][j + kj]: row (c, ki, kj) of the patch matrix,
 *    xp[c, i+ki, j+kj] at column q = i*OW + j, is then the P = OH*OW
 *    consecutive floats from xs[kj][c][ki][0], and dy[n] (C_out, P) is read
 *    as it is: dW += dy[n] col_n^T with every multiply-add a real one (no
 *    columns between rows), P-long rows (one masked vector per image, not per
 *    output row), sums kept in registers over SN_CONV_DIRECT_GROUP images.
 *    xs is Hp/(kh*OH) of im2col's (K, P): 23% at LeNet-5's first layer.
 *  - dx, as dcol = W^T dy and col2im, but by blocks that stay in L1 and
 *    with a col2im that sums in registers: for each input channel c (or a
 *    few, at least 16 rows), dcol_c (kh*kw, P) = W_c^T (kh*kw, C_out) dy
 *    (C_out, P) with the blocked kernel, then dx[c] += col2im(dcol_c) a
 *    vector of a row of dx at a time, each term one masked load
 *    (sn_conv_gemm_col2im_channel): no scatter of overlapping stores into dx
 *    (that stalled on store forwarding), and only the necessary
 *    multiply-adds. A few images whose P is small go through one product,
 *    their dy copied side by side (fold*P columns, 4 images at LeNet-5's
 *    second layer: 25 whole vectors rather than 4 x 6.25). LeNet-5's second
 *    layer: 132 -> 162 GFLOP/s (bench_conv_gemm --layers), where the
 *    previous full correlation of the zero-padded dy with the flipped
 *    kernel did 1.8x the necessary multiply-adds; 171-179 with the 5 x 5
 *    blocks for its 25 rows and col2im taking the fold's images in a call.
 *  - forward and dW where C_out is one vector (16 with AVX-512: LeNet-5's
 *    second layer) and the kernel 3x3 or 5x5, with the channels in the
 *    lanes instead (sn_conv_gemm_channel_*): y^T (P, C_out) and
 *    dW^T (K, C_out) as sums of vectors of W^T or dy^T times broadcast
 *    floats of xp read in place (no shifted copies, no lane reductions,
 *    every lane a real output), each float of xp broadcast once for the
 *    several outputs or taps that read it; y = (y^T)^T and dy^T by
 *    register transposes. W^T is made once per batch (sn_conv_direct_prepare).
 *
 * Each call runs on the calling thread and allocates nothing; the order of
 * every output's operations depends on the shapes (and the number of images
 * of the call) only.
 */
#ifndef SN_BACKEND_CPU_CONV_DIRECT_H
#define SN_BACKEND_CPU_CONV_DIRECT_H

#include <stdint.h>

#include "backend/cpu/im2col.h"

/* K = C_in*kh*kw above this goes through im2col (the offset tables live on
 * the stack). */
#define SN_CONV_DIRECT_MAX_K 1024

/* Images whose dW sums stay in registers at most, one copy xs each in the
 * scratch (conv2d's backward chunks hold 4 at batch 64). */
#define SN_CONV_DIRECT_GROUP 4

/* The products the direct path takes at a geometry (n_batch ignored): */
enum {
    SN_CONV_DIRECT_FORWARD = 1,
    SN_CONV_DIRECT_WEIGHT_GRAD = 2,
    SN_CONV_DIRECT_INPUT_GRAD = 4,
};

/* A mask of SN_CONV_DIRECT_*: which products go direct for this geometry and
 * C_out, from the shapes (and the build's target) only; 0 when stride != 1. */
int sn_conv_direct_route(const sn_im2col_geometry *g, int c_out);

/* Floats of scratch the direct products of one image need (products: a mask
 * of SN_CONV_DIRECT_*). Sizes bounded as conv2d's infer bounds them. */
int64_t sn_conv_direct_scratch(const sn_im2col_geometry *g, int c_out, int products);

/* y (C_out, OH, OW) = conv(x (C_in, H, W), w) + bias (NULL: none). */
void sn_conv_direct_forward(const sn_im2col_geometry *g, int c_out, const float *x, const float *w,
                            const float *bias, float *y, float *scratch);

/* Floats of a buffer that all the forward calls of a batch can share, made
 * once per batch by sn_conv_direct_prepare from w (W^T for the
 * channel-vector kernels); 0 when this geometry wants none. */
int64_t sn_conv_direct_shared(const sn_im2col_geometry *g, int c_out, int products);
void sn_conv_direct_prepare(const sn_im2col_geometry *g, int c_out, int products, const float *w,
                            float *shared);

/* sn_conv_direct_forward with the buffer sn_conv_direct_prepare made from the
 * same w (NULL: made in the scratch at every call; the same bits). */
void sn_conv_direct_forward_prepared(const sn_im2col_geometry *g, int c_out, const float *x,
                                     const float *w, const float *shared, const float *bias,
                                     float *y, float *scratch);

/* dw (C_out, C_in*kh*kw) += the weight gradient of `images` consecutive
 * images x (images, C_in, H, W), dy (images, C_out, OH, OW). */
void sn_conv_direct_weight_grad(const sn_im2col_geometry *g, int c_out, int images, const float *x,
                                const float *dy, float *dw, float *scratch);

/* dx (images, C_in, H, W) += the input gradient of `images` consecutive
 * images, dy (images, C_out, OH, OW). */
void sn_conv_direct_input_grad(const sn_im2col_geometry *g, int c_out, int images, const float *w,
                               const float *dy, float *dx, float *scratch);

#endif

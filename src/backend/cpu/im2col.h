/*
 * im2col / col2im over N images, for convolution as a GEMM (conv2d calls them
 * with N = 1, one image per call, on the calling thread).
 *
 * For an input x (N, C, H, W), a kernel (kh, kw), stride (sh, sw) and zero
 * padding (ph, pw), the output has OH = (H + 2ph - kh)/sh + 1 rows and
 * OW = (W + 2pw - kw)/sw + 1 columns (torch.nn.Conv2d, dilation 1), and
 *
 *     col[(c, ki, kj)][(n, oh, ow)] = x[n, c, oh*sh - ph + ki, ow*sw - pw + kj]
 *
 * (zero where that index falls in the padding). col is (C*kh*kw, N*OH*OW),
 * row-major: row index (c*kh + ki)*kw + kj, column index (n*OH + oh)*OW + ow.
 * Then conv2d(x, W) = W (C_out, C*kh*kw) x col.
 * col2im is its adjoint: it ADDS every col entry back to the x element it came
 * from (entries from the padding are dropped), which is dx from dcol.
 */
#ifndef SN_BACKEND_CPU_IM2COL_H
#define SN_BACKEND_CPU_IM2COL_H

typedef struct sn_im2col_geometry {
    int n_batch, channels, height, width; /* x (N, C, H, W) */
    int kernel_h, kernel_w;
    int stride_h, stride_w; /* >= 1 */
    int pad_h, pad_w;       /* >= 0 */
    int out_h, out_w;       /* OH, OW as above, >= 1 */
} sn_im2col_geometry;

/* col (C*kh*kw, N*OH*OW) = the patches of x (N, C, H, W). Overwrites col. */
void sn_im2col(const sn_im2col_geometry *geom, const float *x, float *col);

/* x (N, C, H, W) += the patches in col (C*kh*kw, N*OH*OW) put back in place.
 * Deterministic: each element of x receives its terms in a fixed order. */
void sn_col2im_add(const sn_im2col_geometry *geom, const float *col, float *x);

#endif

/*
 * The products of src/backend/cpu/conv_gemm.h, through the GEMM seam. (A
 * first version: thin-shape kernels replace these where they win.)
 */
#include "backend/cpu/conv_gemm.h"

#include "backend/cpu/gemm.h"

void sn_conv_gemm_forward(int c_out, int k, int p, const float *w, const float *col, int ld_col,
                          const float *bias, float *y, int ld_y) {
    if (bias)
        for (int o = 0; o < c_out; o++)
            for (int j = 0; j < p; j++) y[(long)o * ld_y + j] = bias[o];
    sn_sgemm(0, 0, c_out, p, k, 1.0f, w, k, col, ld_col, bias ? 1.0f : 0.0f, y, ld_y);
}

void sn_conv_gemm_weight_grad(int c_out, int k, int p, const float *dy, int ld_y, const float *col,
                              int ld_col, float *dw) {
    sn_sgemm(0, 1, c_out, k, p, 1.0f, dy, ld_y, col, ld_col, 1.0f, dw, k);
}

void sn_conv_gemm_input_grad(int c_out, int k, int p, const float *w, const float *dy, int ld_y,
                             float *dcol, int ld_col) {
    sn_sgemm(1, 0, k, p, c_out, 1.0f, w, k, dy, ld_y, 0.0f, dcol, ld_col);
}

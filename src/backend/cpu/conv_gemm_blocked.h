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

void sn_conv_gemm_blocked_forward(int c_out, int k, int p, const float *w, const float *col,
                                  int ld_col, const float *bias, float *y, int ld_y);

void sn_conv_gemm_blocked_weight_grad(int c_out, int k, int p, const float *dy, int ld_y,
                                      const float *col, int ld_col, float *dw);

void sn_conv_gemm_blocked_input_grad(int c_out, int k, int p, const float *w, const float *dy,
                                     int ld_y, float *dcol, int ld_col);

typedef enum sn_conv_product {
    SN_CONV_FORWARD,
    SN_CONV_WEIGHT_GRAD,
    SN_CONV_INPUT_GRAD
} sn_conv_product;

/* 1 when conv_gemm.h's function for `product` runs the blocked kernel at this
 * shape, 0 when it calls sn_sgemm. */
int sn_conv_gemm_route(sn_conv_product product, int c_out, int k, int p);

#endif

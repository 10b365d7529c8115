/*
 * The direct convolution of src/backend/cpu/conv_direct.h: the padded copy
 * xp, the offset tables that make the blocked kernels of conv_gemm.c read the
 * patches in place, and the copy of the wide forward result into y.
 */
#include "backend/cpu/conv_direct.h"

#include <stddef.h>
#include <string.h>

#include "backend/cpu/conv_gemm_blocked.h"

#define SLOT_ALIGN 16 /* floats: the scratch's parts start 64 bytes apart */

static int64_t round_to_slot(int64_t floats) {
    return (floats + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
}

static int padded(const sn_im2col_geometry *g) {
    return g->pad_h > 0 || g->pad_w > 0;
}

/* Wp, and Hp*Wp: the row and the channel stride of xp. */
static int64_t padded_width(const sn_im2col_geometry *g) {
    return (int64_t)g->width + 2 * (int64_t)g->pad_w;
}

static int64_t padded_plane(const sn_im2col_geometry *g) {
    return ((int64_t)g->height + 2 * (int64_t)g->pad_h) * padded_width(g);
}

/* Columns of the wide forward product: (OH-1)*Wp + OW. */
static int64_t wide_columns(const sn_im2col_geometry *g) {
    return ((int64_t)g->out_h - 1) * padded_width(g) + g->out_w;
}

/* dx's scratch, in floats from its start:
 *   wt (C_in, C_out*kh*kw)   wt[c][(o*kh + ki)*kw + kj] = w[o, c, ki, kj]
 *   dyz (C_out, Hp+kh+1, Wp) dy's row i at row i + kh, columns [0, OW), zeros
 *                            elsewhere: the rows a tap reads above and below
 *                            dy, and the Wp - OW = kw - 1 columns after each
 *                            row, which reads left of a row's start wrap into
 *   wide (C_in, (H-1)*Wp + W) */
typedef struct grad_layout {
    int64_t dyz, dyz_plane, wide, end;
} grad_layout;

static grad_layout grad_layout_of(const sn_im2col_geometry *g, int c_out) {
    grad_layout l;
    const int64_t wp = padded_width(g), hp = (int64_t)g->height + 2 * (int64_t)g->pad_h;
    l.dyz = round_to_slot((int64_t)g->channels * c_out * g->kernel_h * g->kernel_w);
    l.dyz_plane = (hp + g->kernel_h + 1) * wp;
    l.wide = l.dyz + round_to_slot(c_out * l.dyz_plane);
    l.end =
        l.wide + round_to_slot((int64_t)g->channels * (((int64_t)g->height - 1) * wp + g->width));
    return l;
}

int sn_conv_direct_route(const sn_im2col_geometry *g, int c_out) {
    const int64_t k = (int64_t)g->channels * g->kernel_h * g->kernel_w;
    const int p = g->out_h * g->out_w;
    if (g->stride_h != 1 || g->stride_w != 1 || k > SN_CONV_DIRECT_MAX_K) return 0;
    /* The offsets into xp are ints (C_in <= K <= 1024 here, and the plane is
     * bounded before the product). */
    if (padded_plane(g) > INT32_MAX / 2 || (int64_t)g->channels * padded_plane(g) > INT32_MAX / 2)
        return 0;
    /* Where conv_gemm.h itself leaves the blocked kernels for sn_sgemm (a build
     * without FMA against a CBLAS), the kernels here would lose as well. */
    if (!sn_conv_gemm_route(SN_CONV_FORWARD, c_out, (int)k, p)) return 0;
    /* Measured (bench_conv_gemm --layers --best, one thread, AVX-512; GFLOP/s
     * of the im2col path -> direct, one image; dW with 4 images in brackets):
     *                          forward       dW                 dx
     *   LeNet (1,6,5,p2) 28x28  54 -> 146     53 -> 121 (120)    61 -> 62
     *   LeNet (6,16,5) 14x14    78 -> 154     65 -> 81  (101)    76 -> 96
     *   CNN (1,32,3) 28x28     132 -> 90     119 -> 115 (113)   155 -> 47
     *   CNN (32,64,3) 26x26    191 -> 221    148 -> 124 (112)   201 -> 190
     * Forward: im2col writes K*P floats, the direct path copies C_out*P out of
     * its wide result, so it wins when K >= C_out. Backward: the cost of
     * im2col (dW) or col2im (dx) is shared by C_out rows of products, so it
     * matters less as C_out grows, while the direct path's overheads (a
     * masked vector per output row in dW; the zeros of dyz in dx) grow with
     * the products: direct up to C_out = 16. */
    int route = 0;
    if (k >= c_out) route |= SN_CONV_DIRECT_FORWARD;
    if (c_out <= 16) route |= SN_CONV_DIRECT_WEIGHT_GRAD;
    if (c_out <= 16 && (int64_t)c_out * g->kernel_h * g->kernel_w <= SN_CONV_DIRECT_MAX_K &&
        (int64_t)c_out * grad_layout_of(g, c_out).dyz_plane <= INT32_MAX / 2)
        route |= SN_CONV_DIRECT_INPUT_GRAD;
    return route;
}

int64_t sn_conv_direct_scratch(const sn_im2col_geometry *g, int c_out, int products) {
    int64_t floats = 0;
    if (products & (SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD)) {
        floats = padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g)) : 0;
        if ((products & SN_CONV_DIRECT_FORWARD) && padded_width(g) != g->out_w)
            floats += round_to_slot((int64_t)c_out * wide_columns(g));
    }
    /* dx runs after dW, whose xp it may overwrite. */
    if ((products & SN_CONV_DIRECT_INPUT_GRAD) && grad_layout_of(g, c_out).end > floats)
        floats = grad_layout_of(g, c_out).end;
    return floats;
}

/* xp (C_in, Hp, Wp): x (C_in, H, W) itself without padding, else x copied into
 * the zeroed scratch. */
static const float *padded_input(const sn_im2col_geometry *g, const float *x, float *scratch) {
    if (!padded(g)) return x;
    const int64_t wp = padded_width(g), plane = padded_plane(g);
    memset(scratch, 0, (size_t)(g->channels * plane) * sizeof *scratch);
    for (int c = 0; c < g->channels; c++)
        for (int h = 0; h < g->height; h++)
            memcpy(scratch + c * plane + (g->pad_h + h) * wp + g->pad_w,
                   x + ((size_t)c * g->height + (size_t)h) * (size_t)g->width,
                   (size_t)g->width * sizeof *scratch);
    return scratch;
}

/* off[(c*kh + ki)*kw + kj] = c*Hp*Wp + ki*Wp + kj: where row (c, ki, kj) of the
 * patch matrix starts in xp (for output (0, 0)). Not inlined, nor is
 * grad_offsets: gcc then cannot see that the caller's table is filled before
 * use, and warns; a call per image costs nothing. */
static __attribute__((noinline)) void patch_offsets(const sn_im2col_geometry *g, int *off) {
    const int wp = (int)padded_width(g), plane = (int)padded_plane(g);
    int *o = off;
    for (int c = 0; c < g->channels; c++)
        for (int ki = 0; ki < g->kernel_h; ki++)
            for (int kj = 0; kj < g->kernel_w; kj++) *o++ = c * plane + ki * wp + kj;
}

void sn_conv_direct_forward(const sn_im2col_geometry *g, int c_out, const float *x, const float *w,
                            const float *bias, float *y, float *scratch) {
    const int k = g->channels * g->kernel_h * g->kernel_w;
    const int wp = (int)padded_width(g), q = (int)wide_columns(g);
    int off[SN_CONV_DIRECT_MAX_K];
    patch_offsets(g, off);
    const float *xp = padded_input(g, x, scratch);
    if (wp == g->out_w) {
        /* Every wide column is an output: y (C_out, OH*OW) directly. */
        sn_conv_gemm_blocked_forward_gather(c_out, k, q, w, xp, off, bias, y, q);
        return;
    }
    float *wide = scratch + (padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g))
                                       : 0); /* (C_out, q) */
    sn_conv_gemm_blocked_forward_gather(c_out, k, q, w, xp, off, bias, wide, q);
    /* y[o, i, :] = wide[o, i*Wp : i*Wp + OW] */
    for (int o = 0; o < c_out; o++)
        for (int i = 0; i < g->out_h; i++)
            memcpy(y + ((size_t)o * g->out_h + (size_t)i) * (size_t)g->out_w,
                   wide + (size_t)o * (size_t)q + (size_t)i * (size_t)wp,
                   (size_t)g->out_w * sizeof *y);
}

void sn_conv_direct_weight_grad(const sn_im2col_geometry *g, int c_out, int images, const float *x,
                                const float *dy, float *dw, float *scratch) {
    const int k = g->channels * g->kernel_h * g->kernel_w;
    const ptrdiff_t in_image = (ptrdiff_t)g->channels * g->height * g->width;
    const ptrdiff_t out_image = (ptrdiff_t)c_out * g->out_h * g->out_w;
    int off[SN_CONV_DIRECT_MAX_K];
    patch_offsets(g, off);
    /* dw += sum_n sum_i dy[n, :, i, :] (C_out, OW) xp_ni^T, xp_ni's row
     * (c, ki, kj) being xp[n, c, i+ki, kj : kj+OW]. Without padding, x is xp
     * and all the images go in one call, their sums kept in registers; with
     * padding, one padded copy and one call per image. */
    if (!padded(g)) {
        sn_conv_gemm_blocked_weight_grad_rows(c_out, k, g->out_w, g->out_h, images, dy,
                                              g->out_h * g->out_w, g->out_w, out_image, x, off,
                                              (int)padded_width(g), in_image, dw);
        return;
    }
    for (int n = 0; n < images; n++) {
        const float *xp = padded_input(g, x + n * in_image, scratch);
        sn_conv_gemm_blocked_weight_grad_rows(c_out, k, g->out_w, g->out_h, 1, dy + n * out_image,
                                              g->out_h * g->out_w, g->out_w, 0, xp, off,
                                              (int)padded_width(g), 0, dw);
    }
}

/* off[(o*kh + ki)*kw + kj] = o*plane + (kh-ki)*Wp - kj: where row (o, ki, kj)
 * of dx's implicit (C_out*kh*kw, columns) matrix starts in dyz, for column 0
 * (dx[:, 0, 0], padded (ph, pw)). */
static __attribute__((noinline)) void grad_offsets(const sn_im2col_geometry *g, int c_out,
                                                   int plane, int *off) {
    const int kh = g->kernel_h, kw = g->kernel_w, wp = (int)padded_width(g);
    int *d = off;
    for (int o = 0; o < c_out; o++)
        for (int ki = 0; ki < kh; ki++)
            for (int kj = 0; kj < kw; kj++) *d++ = o * plane + (kh - ki) * wp - kj;
}

void sn_conv_direct_input_grad(const sn_im2col_geometry *g, int c_out, const float *w,
                               const float *dy, float *dx, float *scratch) {
    const int c_in = g->channels, kh = g->kernel_h, kw = g->kernel_w, taps = kh * kw;
    const int depth = c_out * taps; /* (o, ki, kj) */
    const int wp = (int)padded_width(g), cols = (g->height - 1) * wp + g->width;
    const grad_layout l = grad_layout_of(g, c_out);
    const int plane = (int)l.dyz_plane;
    float *wt = scratch;            /* (C_in, C_out*kh*kw) */
    float *dyz = scratch + l.dyz;   /* (C_out, Hp+kh+1, Wp) */
    float *wide = scratch + l.wide; /* (C_in, cols) */
    for (int c = 0; c < c_in; c++)
        for (int o = 0; o < c_out; o++)
            memcpy(wt + (size_t)c * depth + (size_t)o * taps,
                   w + ((size_t)o * c_in + (size_t)c) * taps, (size_t)taps * sizeof *wt);
    memset(dyz, 0, (size_t)c_out * (size_t)plane * sizeof *dyz);
    for (int o = 0; o < c_out; o++)
        for (int i = 0; i < g->out_h; i++)
            memcpy(dyz + (size_t)o * plane + (size_t)(i + kh) * wp,
                   dy + ((size_t)o * g->out_h + (size_t)i) * (size_t)g->out_w,
                   (size_t)g->out_w * sizeof *dyz);
    int off[SN_CONV_DIRECT_MAX_K];
    grad_offsets(g, c_out, plane, off);
    /* dxp[c, Y, X] = sum_{o,ki,kj} w[o,c,ki,kj] dy[o, Y-ki, X-kj] at t = Y*Wp + X,
     * from dyz[o][(Y - ki + kh)*Wp + X - kj] = dyz[o][off + t]; only the rows
     * and columns of dx: t from ph*Wp + pw, `cols` of them. */
    sn_conv_gemm_blocked_forward_gather(c_in, depth, cols, wt, dyz + g->pad_h * wp + g->pad_w, off,
                                        NULL, wide, cols);
    /* dx[c, y, x] += wide[c][y*Wp + x] */
    for (int c = 0; c < c_in; c++)
        for (int y = 0; y < g->height; y++) {
            float *dx_row = dx + ((size_t)c * g->height + (size_t)y) * (size_t)g->width;
            const float *src = wide + (size_t)c * cols + (size_t)y * wp;
            for (int x = 0; x < g->width; x++) dx_row[x] += src[x];
        }
}

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

/* Floats of dW's copy of one image, xs (kw, C_in, Hp, OW), in its slot. */
static int64_t shifted_image(const sn_im2col_geometry *g) {
    const int64_t hp = (int64_t)g->height + 2 * (int64_t)g->pad_h;
    return round_to_slot((int64_t)g->kernel_w * g->channels * hp * g->out_w);
}

/* Images per dW product: each block's sums stay in registers over the group,
 * then one lane reduction. Few columns per image (LeNet-5's second layer,
 * P = 100: 7 vectors) want several images (1 a call: 126 GFLOP/s, 4: 153,
 * 8: 136); at P = 784 one image, whose xs and dy (36 KiB) stay in L1 across
 * the blocks, while 4 (145 KiB) streamed from L2 and ran 40% slower
 * (bench_conv_gemm --layers and a driver timing the calls alone). */
enum { GROUP_COLUMNS = 512 };

static int weight_grad_group(const sn_im2col_geometry *g) {
    const int64_t p = (int64_t)g->out_h * g->out_w, group = (GROUP_COLUMNS + p - 1) / p;
    return group < SN_CONV_DIRECT_GROUP ? (int)group : SN_CONV_DIRECT_GROUP;
}

/* dx's scratch, in floats from its start:
 *   wt (C_in, kh*C_out*kw)   wt[c][(ki*C_out + o)*kw + kj] = w[o, c, ki, kj]
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
    if (padded_plane(g) > INT32_MAX / 2 || (int64_t)g->channels * padded_plane(g) > INT32_MAX / 2 ||
        shifted_image(g) > INT32_MAX / 2)
        return 0;
    /* Where conv_gemm.h itself leaves the blocked kernels for sn_sgemm (a build
     * without FMA against a CBLAS), the kernels here would lose as well. */
    if (!sn_conv_gemm_route(SN_CONV_FORWARD, c_out, (int)k, p)) return 0;
    /* Measured (bench_conv_gemm --layers --best, one thread, AVX-512 (Zen 5);
     * GFLOP/s of the im2col path -> direct, 4 images a call):
     *                          forward       dW            dx
     *   LeNet (1,6,5,p2) 28x28  55 -> 180     58 -> 163     61 -> 68
     *   LeNet (6,16,5) 14x14    78 -> 172     65 -> 150     74 -> 125
     *   CNN (1,32,3) 28x28     126 -> 98     127 -> 163    155 -> 54
     *   CNN (32,64,3) 26x26    199 -> 227    149 -> 168    203 -> 214
     * Forward: im2col writes K*P floats, the direct path copies C_out*P out of
     * its wide result (or kw copies of x, forward_from_shifted), so it wins
     * when K >= C_out. dW: xs is Hp/(kh*OH) of the patch matrix and every
     * multiply-add is a real one, so it wins at every layer measured; below
     * P = 64 columns an image (4 vectors) it is left to conv_gemm.h, which
     * sends such thin products to sn_sgemm (sn_conv_gemm_route). dx: the cost
     * of col2im is shared by C_out rows of products, so it matters less as
     * C_out grows, while the zeros of dyz grow with the products: direct up
     * to C_out = 16 (the CNN's second layer, 5% apart, stays by im2col). */
    int route = 0;
    if (k >= c_out) route |= SN_CONV_DIRECT_FORWARD;
    if (p >= 64) route |= SN_CONV_DIRECT_WEIGHT_GRAD;
    if (c_out <= 16 && (int64_t)c_out * g->kernel_h * g->kernel_w <= SN_CONV_DIRECT_MAX_K &&
        (int64_t)c_out * grad_layout_of(g, c_out).dyz_plane <= INT32_MAX / 2)
        route |= SN_CONV_DIRECT_INPUT_GRAD;
    return route;
}

/* Forward from xs (as dW) instead of the wide columns: P = OH*OW columns of
 * real outputs straight into y, against (OH-1)*Wp + OW columns and a copy of
 * y out of them, for kw copies of x. Taken where the wide columns need a
 * tenth more vectors (of 16: a fixed measure, whatever the target) and xs
 * stays small: LeNet-5's layers (49 vectors against 56; 7 against 9), not
 * the CNN's second (36 against 39, and xs 240 KiB an image). Measured with
 * bench_conv_gemm --layers. */
enum { SHIFTED_FORWARD_MAX = 1 << 15 }; /* floats of xs */

static int forward_from_shifted(const sn_im2col_geometry *g) {
    const int64_t p_vectors = ((int64_t)g->out_h * g->out_w + 15) / 16;
    const int64_t wide_vectors = (wide_columns(g) + 15) / 16;
    return shifted_image(g) <= SHIFTED_FORWARD_MAX && 10 * wide_vectors >= 11 * p_vectors;
}

int64_t sn_conv_direct_scratch(const sn_im2col_geometry *g, int c_out, int products) {
    /* One call at a time uses the scratch: the largest of the three. */
    int64_t floats = 0;
    if ((products & SN_CONV_DIRECT_FORWARD) && forward_from_shifted(g)) {
        floats = shifted_image(g);
    } else if (products & SN_CONV_DIRECT_FORWARD) {
        floats = padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g)) : 0;
        if (padded_width(g) != g->out_w) floats += round_to_slot((int64_t)c_out * wide_columns(g));
    }
    if ((products & SN_CONV_DIRECT_WEIGHT_GRAD) && weight_grad_group(g) * shifted_image(g) > floats)
        floats = weight_grad_group(g) * shifted_image(g);
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

/* xs (kw, C_in, Hp, OW) of one image x (C_in, H, W):
 *   xs[kj][c][r][j] = xp[c][r][j + kj] = x[c][r - ph][j + kj - pw] (0 outside x)
 * Per (kj, c): ph rows of zeros, the H rows of x shifted (zeros in the
 * columns [0, j_lo) and [j_lo + n, OW) that fall in the padding), ph rows of
 * zeros. */
static void shifted_copy(const sn_im2col_geometry *g, const float *x, float *xs) {
    const int hp = g->height + 2 * g->pad_h, ow = g->out_w, h = g->height, w = g->width;
    for (int kj = 0; kj < g->kernel_w; kj++) {
        /* Columns j whose source column j + kj - pw is in [0, W): [j_lo, j_lo + n). */
        const int j_lo = g->pad_w - kj < 0 ? 0 : g->pad_w - kj < ow ? g->pad_w - kj : ow;
        const int j_hi = w + g->pad_w - kj < ow ? w + g->pad_w - kj : ow;
        const int n = j_hi > j_lo ? j_hi - j_lo : 0;
        for (int c = 0; c < g->channels; c++) {
            float *plane = xs + ((size_t)kj * (size_t)g->channels + (size_t)c) * (size_t)hp * ow;
            float *rows = plane + (size_t)g->pad_h * ow;
            const float *x_c = x + (size_t)c * h * w;
            sn_conv_gemm_copy_rows(1, 0, g->pad_h * ow, NULL, 0, plane, 0);
            if (ow == w) {
                /* Rows of x and xs of one length (padding (kw-1)/2, LeNet-5's
                 * first layer): the H rows in one run of x shifted by
                 * kj - pw, then the columns that came from a neighbouring
                 * row (or from before or after x) zeroed: per-row copies of
                 * 28 floats cost more than the products of the image. */
                const int shift = kj - g->pad_w, t0 = shift < 0 ? -shift : 0;
                const int t1 = shift > 0 ? h * w - shift : h * w;
                sn_conv_gemm_copy_rows(1, t1 - t0, t1 - t0, x_c + t0 + shift, 0, rows + t0, 0);
                sn_conv_gemm_copy_rows(h, 0, j_lo, NULL, 0, rows, ow);
                sn_conv_gemm_copy_rows(h, 0, ow - j_lo - n, NULL, 0, rows + j_lo + n, ow);
            } else {
                sn_conv_gemm_copy_rows(h, 0, j_lo, NULL, 0, rows, ow);
                sn_conv_gemm_copy_rows(h, n, ow - j_lo, x_c + (j_lo + kj - g->pad_w), w,
                                       rows + j_lo, ow);
            }
            sn_conv_gemm_copy_rows(1, 0, g->pad_h * ow, NULL, 0, rows + (size_t)h * ow, 0);
        }
    }
}

/* off[(c*kh + ki)*kw + kj] = ((kj*C_in + c)*Hp + ki)*OW: where row (c, ki, kj)
 * of the patch matrix starts in xs (see shifted_copy). */
static __attribute__((noinline)) void shifted_offsets(const sn_im2col_geometry *g, int *off) {
    const int hp = g->height + 2 * g->pad_h, ow = g->out_w;
    int *o = off;
    for (int c = 0; c < g->channels; c++)
        for (int ki = 0; ki < g->kernel_h; ki++)
            for (int kj = 0; kj < g->kernel_w; kj++) *o++ = ((kj * g->channels + c) * hp + ki) * ow;
}

void sn_conv_direct_forward(const sn_im2col_geometry *g, int c_out, const float *x, const float *w,
                            const float *bias, float *y, float *scratch) {
    const int k = g->channels * g->kernel_h * g->kernel_w;
    const int wp = (int)padded_width(g), q = (int)wide_columns(g);
    int off[SN_CONV_DIRECT_MAX_K];
    if (forward_from_shifted(g)) {
        /* y (C_out, P) = W col, col's row (c, ki, kj) P consecutive floats of xs */
        const int p = g->out_h * g->out_w;
        shifted_copy(g, x, scratch);
        shifted_offsets(g, off);
        sn_conv_gemm_blocked_forward_gather(c_out, k, p, w, scratch, off, bias, y, p, NULL, 0);
        return;
    }
    patch_offsets(g, off);
    const float *xp = padded_input(g, x, scratch);
    if (wp == g->out_w) {
        /* Every wide column is an output: y (C_out, OH*OW) directly. */
        sn_conv_gemm_blocked_forward_gather(c_out, k, q, w, xp, off, bias, y, q, NULL, 0);
        return;
    }
    float *wide = scratch + (padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g))
                                       : 0); /* (C_out, q) */
    sn_conv_gemm_blocked_forward_gather(c_out, k, q, w, xp, off, bias, wide, q, NULL, 0);
    /* y[o, i, :] = wide[o, i*Wp : i*Wp + OW] */
    for (int o = 0; o < c_out; o++)
        for (int i = 0; i < g->out_h; i++)
            memcpy(y + ((size_t)o * g->out_h + (size_t)i) * (size_t)g->out_w,
                   wide + (size_t)o * (size_t)q + (size_t)i * (size_t)wp,
                   (size_t)g->out_w * sizeof *y);
}

void sn_conv_direct_weight_grad(const sn_im2col_geometry *g, int c_out, int images, const float *x,
                                const float *dy, float *dw, float *scratch) {
    const int k = g->channels * g->kernel_h * g->kernel_w, p = g->out_h * g->out_w;
    const ptrdiff_t in_image = (ptrdiff_t)g->channels * g->height * g->width;
    const ptrdiff_t out_image = (ptrdiff_t)c_out * p, xs_image = (ptrdiff_t)shifted_image(g);
    int off[SN_CONV_DIRECT_MAX_K];
    shifted_offsets(g, off);
    /* dw (C_out, K) += sum_n dy[n] (C_out, P) col_n^T, col_n's row (c, ki, kj)
     * being P consecutive floats of xs_n: a group of images copied, then
     * summed in registers in one call. */
    const int max_group = weight_grad_group(g);
    for (int n0 = 0; n0 < images; n0 += max_group) {
        const int group = images - n0 < max_group ? images - n0 : max_group;
        for (int n = 0; n < group; n++)
            shifted_copy(g, x + (n0 + n) * in_image, scratch + n * xs_image);
        sn_conv_gemm_blocked_weight_grad_gather(c_out, k, p, group, dy + n0 * out_image, p,
                                                out_image, scratch, off, xs_image, dw);
    }
}

/* off[(ki*C_out + o)*kw + kj] = o*plane + (kh-ki)*Wp - kj: where row (ki, o, kj)
 * of dx's implicit (kh*C_out*kw, columns) matrix starts in dyz, for column 0
 * (dx[:, 0, 0], padded (ph, pw)); and band ki's columns, [lo, hi) =
 * [(ki-ph)*Wp, (ki-ph+OH)*Wp) within [0, cols): the output rows y that read
 * a row y + ph - ki of dy in [0, OH); every other row of the band reads
 * zeros of dyz (in dx's columns: the columns between rows are dropped). */
static __attribute__((noinline)) void grad_offsets(const sn_im2col_geometry *g, int c_out,
                                                   int plane, int cols, int *off, int *band_cols) {
    const int kh = g->kernel_h, kw = g->kernel_w, wp = (int)padded_width(g);
    int *d = off;
    for (int ki = 0; ki < kh; ki++) {
        for (int o = 0; o < c_out; o++)
            for (int kj = 0; kj < kw; kj++) *d++ = o * plane + (kh - ki) * wp - kj;
        const int lo = (ki - g->pad_h) * wp, hi = (ki - g->pad_h + g->out_h) * wp;
        band_cols[2 * ki] = lo < 0 ? 0 : lo > cols ? cols : lo;
        band_cols[2 * ki + 1] = hi < 0 ? 0 : hi > cols ? cols : hi;
    }
}

void sn_conv_direct_input_grad(const sn_im2col_geometry *g, int c_out, int images, const float *w,
                               const float *dy, float *dx, float *scratch) {
    const int c_in = g->channels, kh = g->kernel_h, kw = g->kernel_w, taps = kh * kw;
    const int depth = c_out * taps; /* (ki, o, kj) */
    const int wp = (int)padded_width(g), cols = (g->height - 1) * wp + g->width;
    const ptrdiff_t in_image = (ptrdiff_t)c_in * g->height * g->width;
    const ptrdiff_t out_image = (ptrdiff_t)c_out * g->out_h * g->out_w;
    const grad_layout l = grad_layout_of(g, c_out);
    const int plane = (int)l.dyz_plane;
    float *wt = scratch;            /* (C_in, kh*C_out*kw) */
    float *dyz = scratch + l.dyz;   /* (C_out, Hp+kh+1, Wp) */
    float *wide = scratch + l.wide; /* (C_in, cols) */
    /* wt[c][ki][o][:] = w[o][c][ki][:], kw floats at a time (element by
     * element it cost a tenth of LeNet-5's dx) */
    for (int c = 0; c < c_in; c++)
        for (int ki = 0; ki < kh; ki++)
            sn_conv_gemm_copy_rows(c_out, kw, kw, w + ((size_t)c * kh + (size_t)ki) * kw,
                                   (ptrdiff_t)c_in * taps,
                                   wt + (size_t)c * depth + (size_t)ki * c_out * kw, kw);
    int off[SN_CONV_DIRECT_MAX_K], band_cols[2 * SN_CONV_DIRECT_MAX_K];
    grad_offsets(g, c_out, plane, cols, off, band_cols);
    /* dyz's zero rows, above and below each plane's dy rows (which every
     * image overwrites with their zero columns; plane = (kh + OH + kh)*Wp). */
    for (int o = 0; o < c_out; o++) {
        sn_conv_gemm_copy_rows(1, 0, kh * wp, NULL, 0, dyz + (size_t)o * plane, 0);
        sn_conv_gemm_copy_rows(1, 0, plane - (kh + g->out_h) * wp, NULL, 0,
                               dyz + (size_t)o * plane + (size_t)(kh + g->out_h) * wp, 0);
    }
    for (int n = 0; n < images; n++) {
        for (int o = 0; o < c_out; o++)
            sn_conv_gemm_copy_rows(g->out_h, g->out_w, wp,
                                   dy + n * out_image + (ptrdiff_t)o * g->out_h * g->out_w,
                                   g->out_w, dyz + (size_t)o * plane + (size_t)kh * wp, wp);
        /* dxp[c, Y, X] = sum_{ki,o,kj} w[o,c,ki,kj] dy[o, Y-ki, X-kj] at t = Y*Wp + X,
         * from dyz[o][(Y - ki + kh)*Wp + X - kj] = dyz[o][off + t]; only the
         * rows and columns of dx: t from ph*Wp + pw, `cols` of them. */
        sn_conv_gemm_blocked_forward_gather(c_in, depth, cols, wt, dyz + g->pad_h * wp + g->pad_w,
                                            off, NULL, wide, cols, band_cols, c_out * kw);
        /* dx[c, y, x] += wide[c][y*Wp + x]; without padding (Wp = W, cols =
         * H*W) wide is laid out as dx, and one run of C_in*H*W floats
         * vectorises (rows of 14 floats did not, and cost a tenth of dx). */
        float *dx_n = dx + n * in_image;
        if (wp == g->width) {
            for (ptrdiff_t i = 0; i < in_image; i++) dx_n[i] += wide[i];
            continue;
        }
        for (int c = 0; c < c_in; c++)
            for (int y = 0; y < g->height; y++) {
                float *dx_row = dx_n + ((size_t)c * g->height + (size_t)y) * (size_t)g->width;
                const float *src = wide + (size_t)c * cols + (size_t)y * wp;
                for (int x = 0; x < g->width; x++) dx_row[x] += src[x];
            }
    }
}

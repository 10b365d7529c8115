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

/* dx is dcol = W^T dy by blocks of rows, then col2im
 * (sn_conv_gemm_col2im_channel) of each channel, while the block is in L1:
 *  - rows: the kh*kw rows (c, ki, kj) of `group` consecutive input channels,
 *    at least DX_ROWS of them where C_in allows (a 3x3 kernel's 9 rows made
 *    blocks of 5 and 4 rows, with fewer multiply-adds per load);
 *  - columns: `fold` images' dy copied side by side, dyc (C_out, fold*P),
 *    so that the product's rows are fold*P long, with one partial vector per
 *    fold images instead of one per image (LeNet-5's second layer: P = 100 is
 *    6.25 vectors, 4 images 25; dx 150 -> 162 GFLOP/s, bench_conv_gemm
 *    --layers); only while fold*P <= FOLD_COLUMNS: at the CNN's second layer
 *    (P = 576) 4 images' dyc and dcol stream from L2 and ran 25% slower.
 * The scratch: dyc (when fold > 1), then dcol (group*kh*kw, fold*P). */
enum { DX_ROWS = 16, DX_FOLD = 4, FOLD_COLUMNS = 512 };

static int grad_max_fold(const sn_im2col_geometry *g) {
    const int fold = FOLD_COLUMNS / (g->out_h * g->out_w);
    return fold < 1 ? 1 : fold > DX_FOLD ? DX_FOLD : fold;
}

static int grad_group(const sn_im2col_geometry *g) {
    const int taps = g->kernel_h * g->kernel_w, group = (DX_ROWS + taps - 1) / taps;
    return group < g->channels ? group : g->channels;
}

static int64_t grad_dcol_offset(const sn_im2col_geometry *g, int c_out) {
    const int fold = grad_max_fold(g);
    return fold == 1 ? 0 : round_to_slot((int64_t)c_out * fold * g->out_h * g->out_w);
}

static int64_t grad_scratch(const sn_im2col_geometry *g, int c_out) {
    return grad_dcol_offset(g, c_out) +
           round_to_slot((int64_t)grad_group(g) * g->kernel_h * g->kernel_w * grad_max_fold(g) *
                         g->out_h * g->out_w);
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
     * GFLOP/s of the im2col path -> direct, 4 images a call; medians of 5):
     *                          forward       dW            dx
     *   LeNet (1,6,5,p2) 28x28  57 -> 192     56 -> 192     65 -> 106
     *   LeNet (6,16,5) 14x14    81 -> 195     70 -> 170     77 -> 164
     *   CNN (1,32,3) 28x28     136 -> 100    130 -> 165    165 -> 213
     *   CNN (32,64,3) 26x26    210 -> 239    156 -> 182    220 -> 236
     * Forward: im2col writes K*P floats, the direct path copies C_out*P out of
     * its wide result (or kw copies of x, forward_from_shifted), so it wins
     * when K >= C_out. dW: xs is Hp/(kh*OH) of the patch matrix and every
     * multiply-add is a real one, so it wins at every layer measured; below
     * P = 64 columns an image (4 vectors) it is left to conv_gemm.h, which
     * sends such thin products to sn_sgemm (sn_conv_gemm_route). dx: the same
     * products as im2col's, by blocks that stay in L1, and a col2im that sums
     * in registers instead of scattering into dx: it wins at every layer
     * measured, but for a 1x1 kernel dcol is laid out as dx already (a plain
     * add without padding), which im2col's path does as well. */
    int route = 0;
    if (k >= c_out) route |= SN_CONV_DIRECT_FORWARD;
    if (p >= 64) route |= SN_CONV_DIRECT_WEIGHT_GRAD;
    /* (dcol's offsets are ints: its size bounded as xs's above) */
    if (g->kernel_h * g->kernel_w > 1 && grad_scratch(g, c_out) <= INT32_MAX / 2)
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

/* The channel-vector kernels (conv_gemm_blocked.h) for forward and dW where
 * they take the geometry (C_out one vector; LeNet-5's second layer): they
 * read xp in place, with no shifted copies, cover the P = 100 outputs with
 * 100 vectors rather than 7 of 16 per row of channels, and need no lane
 * reductions, for two transposes of (P, C_out) per image. LeNet-5's second
 * layer (bench_conv_gemm --layers, 4 images a call, alternated with the
 * previous build): forward 186-190 -> 230-242 GFLOP/s (with W^T made at
 * every call, which conv2d does once per batch), dW 160-167 -> 228-238.
 * Their scratch: xp (when padded), then the transposed output or dy
 * (P, C_out), then the transposed weight or dW (K, C_out). */
static int channel_kernels(const sn_im2col_geometry *g, int c_out) {
    return sn_conv_gemm_channel_route(g, c_out);
}

static int64_t channel_xp(const sn_im2col_geometry *g) {
    return padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g)) : 0;
}

static int64_t channel_scratch(const sn_im2col_geometry *g, int c_out) {
    const int64_t k = (int64_t)g->channels * g->kernel_h * g->kernel_w;
    return channel_xp(g) + round_to_slot((int64_t)g->out_h * g->out_w * c_out) +
           round_to_slot(k * c_out);
}

int64_t sn_conv_direct_shared(const sn_im2col_geometry *g, int c_out, int products) {
    if (!(products & SN_CONV_DIRECT_FORWARD) || !channel_kernels(g, c_out)) return 0;
    return round_to_slot((int64_t)g->channels * g->kernel_h * g->kernel_w * c_out);
}

void sn_conv_direct_prepare(const sn_im2col_geometry *g, int c_out, int products, const float *w,
                            float *shared) {
    if (sn_conv_direct_shared(g, c_out, products) == 0) return;
    const int k = g->channels * g->kernel_h * g->kernel_w;
    sn_conv_gemm_transpose(c_out, k, w, k, shared, c_out, 0); /* W^T (K, C_out) */
}

int64_t sn_conv_direct_scratch(const sn_im2col_geometry *g, int c_out, int products) {
    /* One call at a time uses the scratch: the largest of the three. */
    int64_t floats = 0;
    if ((products & (SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD)) &&
        channel_kernels(g, c_out)) {
        floats = channel_scratch(g, c_out);
    } else if ((products & SN_CONV_DIRECT_FORWARD) && forward_from_shifted(g)) {
        floats = shifted_image(g);
    } else if (products & SN_CONV_DIRECT_FORWARD) {
        floats = padded(g) ? round_to_slot((int64_t)g->channels * padded_plane(g)) : 0;
        if (padded_width(g) != g->out_w) floats += round_to_slot((int64_t)c_out * wide_columns(g));
    }
    if ((products & SN_CONV_DIRECT_WEIGHT_GRAD) && !channel_kernels(g, c_out) &&
        weight_grad_group(g) * shifted_image(g) > floats)
        floats = weight_grad_group(g) * shifted_image(g);
    if ((products & SN_CONV_DIRECT_INPUT_GRAD) && grad_scratch(g, c_out) > floats)
        floats = grad_scratch(g, c_out);
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
        if (g->pad_h == 0 && ow != w) {
            /* Without rows of padding the C_in*H rows of x, and those of xs
             * for this kj, are at one stride: one call for all channels (a
             * call per channel cost a third of LeNet-5's second layer's copies). */
            float *rows = xs + (size_t)kj * (size_t)g->channels * (size_t)h * ow;
            sn_conv_gemm_copy_rows(g->channels * h, 0, j_lo, NULL, 0, rows, ow);
            sn_conv_gemm_copy_rows(g->channels * h, n, ow - j_lo, x + (j_lo + kj - g->pad_w), w,
                                   rows + j_lo, ow);
            continue;
        }
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
    sn_conv_direct_forward_prepared(g, c_out, x, w, NULL, bias, y, scratch);
}

void sn_conv_direct_forward_prepared(const sn_im2col_geometry *g, int c_out, const float *x,
                                     const float *w, const float *shared, const float *bias,
                                     float *y, float *scratch) {
    const int k = g->channels * g->kernel_h * g->kernel_w;
    const int wp = (int)padded_width(g), q = (int)wide_columns(g);
    int off[SN_CONV_DIRECT_MAX_K];
    if (channel_kernels(g, c_out)) {
        /* yt (P, C_out) from xp and W^T (K, C_out), then y = yt^T */
        const int p = g->out_h * g->out_w;
        float *yt = scratch + channel_xp(g);
        float *wt = yt + round_to_slot((int64_t)p * c_out);
        if (!shared) sn_conv_gemm_transpose(c_out, k, w, k, wt, c_out, 0);
        sn_conv_gemm_channel_forward(g, padded_input(g, x, scratch), shared ? shared : wt, bias,
                                     yt);
        sn_conv_gemm_transpose(p, c_out, yt, c_out, y, p, 0);
        return;
    }
    if (forward_from_shifted(g)) {
        /* y (C_out, P) = W col, col's row (c, ki, kj) P consecutive floats of xs */
        const int p = g->out_h * g->out_w;
        shifted_copy(g, x, scratch);
        shifted_offsets(g, off);
        sn_conv_gemm_blocked_forward_gather(c_out, k, p, w, scratch, off, bias, y, p);
        return;
    }
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
    const int k = g->channels * g->kernel_h * g->kernel_w, p = g->out_h * g->out_w;
    const ptrdiff_t in_image = (ptrdiff_t)g->channels * g->height * g->width;
    const ptrdiff_t out_image = (ptrdiff_t)c_out * p, xs_image = (ptrdiff_t)shifted_image(g);
    int off[SN_CONV_DIRECT_MAX_K];
    if (channel_kernels(g, c_out)) {
        /* dwt (K, C_out) = sum_n of the products of xp_n and dyt_n = dy_n^T,
         * image after image; then dw += dwt^T */
        float *dyt = scratch + channel_xp(g);
        float *dwt = dyt + round_to_slot((int64_t)p * c_out);
        memset(dwt, 0, (size_t)k * (size_t)c_out * sizeof *dwt);
        for (int n = 0; n < images; n++) {
            sn_conv_gemm_transpose(c_out, p, dy + n * out_image, p, dyt, c_out, 0);
            sn_conv_gemm_channel_weight_grad(g, padded_input(g, x + n * in_image, scratch), dyt,
                                             dwt);
        }
        sn_conv_gemm_transpose(k, c_out, dwt, c_out, dw, k, 1);
        return;
    }
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

void sn_conv_direct_input_grad(const sn_im2col_geometry *g, int c_out, int images, const float *w,
                               const float *dy, float *dx, float *scratch) {
    const int c_in = g->channels, taps = g->kernel_h * g->kernel_w, p = g->out_h * g->out_w;
    const ptrdiff_t plane = (ptrdiff_t)g->height * g->width;
    const int max_fold = grad_max_fold(g), max_group = grad_group(g);
    float *dyc = scratch;                               /* (C_out, fold*P) */
    float *dcol = scratch + grad_dcol_offset(g, c_out); /* (group*kh*kw, fold*P) */
    for (int n0 = 0; n0 < images; n0 += max_fold) {
        const int fold = images - n0 < max_fold ? images - n0 : max_fold, ld = fold * p;
        const float *dy_n = dy + (ptrdiff_t)n0 * c_out * p; /* (fold, C_out, P) */
        float *dx_n = dx + (ptrdiff_t)n0 * c_in * plane;    /* (fold, C_in, H, W) */
        /* dyc[o][f*P + j] = dy[n0 + f][o][j]; one image's dy is dyc itself */
        const float *b = fold == 1 ? dy_n : dyc;
        for (int f = 0; fold > 1 && f < fold; f++)
            sn_conv_gemm_copy_rows(c_out, p, p, dy_n + (ptrdiff_t)f * c_out * p, p, dyc + f * p,
                                   ld);
        for (int c0 = 0; c0 < c_in; c0 += max_group) {
            const int group = c_in - c0 < max_group ? c_in - c0 : max_group;
            /* dcol (group*kh*kw, fold*P) = W^T's rows (c, ki, kj), c in [c0, c0 + group),
             * times dyc: W^T[(c, ki, kj)][o] = w[o, c, ki, kj] */
            sn_conv_gemm_blocked_input_grad_rows(c_out, group * taps, c_in * taps, ld,
                                                 w + c0 * taps, b, ld, dcol, ld);
            for (int c = 0; c < group; c++)
                sn_conv_gemm_col2im_channel(g, fold, dcol + (ptrdiff_t)c * taps * ld, ld, p,
                                            dx_n + (ptrdiff_t)(c0 + c) * plane,
                                            (ptrdiff_t)c_in * plane);
        }
    }
}

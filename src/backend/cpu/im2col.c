/*
 * im2col / col2im over a whole batch (see im2col.h for the layout). The
 * padding test is taken out of the inner loop: for each kernel offset the range
 * of output positions that read inside the image is computed once, the rest of
 * the line is zero (im2col) or skipped (col2im), and what remains is a memcpy
 * (stride 1) or a simple strided loop per output row.
 */
#include "backend/cpu/im2col.h"

#include <stddef.h>
#include <string.h>

/* Below this many col elements the threads cost more than they save. */
#define PARALLEL_MIN 32768

/* The output positions o in [0, out) whose input index o*stride + offset falls
 * inside [0, size), as the range [*lo, *hi) (empty when *lo == *hi). offset is
 * kernel index - padding. In 64 bits, so that no padding can overflow. */
static void inside_range(int offset, int stride, int size, int out, int *lo, int *hi) {
    long long first = offset >= 0 ? 0 : (-(long long)offset + stride - 1) / stride;
    long long last_exclusive =
        (long long)size - 1 - offset < 0 ? 0 : ((long long)size - 1 - offset) / stride + 1;
    if (first > out) first = out;
    if (last_exclusive > out) last_exclusive = out;
    if (last_exclusive < first) last_exclusive = first;
    *lo = (int)first;
    *hi = (int)last_exclusive;
}

/* One kernel offset (c, ki, kj): the row of col it fills and where it reads. */
typedef struct kernel_offset {
    int channel, offset_h, offset_w; /* offset = kernel index - padding */
    int oh_lo, oh_hi, ow_lo, ow_hi;  /* outputs that read inside the image */
} kernel_offset;

static kernel_offset kernel_offset_at(const sn_im2col_geometry *g, int row) {
    kernel_offset k;
    const int kj = row % g->kernel_w, ki = (row / g->kernel_w) % g->kernel_h;
    k.channel = row / (g->kernel_w * g->kernel_h);
    k.offset_h = ki - g->pad_h;
    k.offset_w = kj - g->pad_w;
    inside_range(k.offset_h, g->stride_h, g->height, g->out_h, &k.oh_lo, &k.oh_hi);
    inside_range(k.offset_w, g->stride_w, g->width, g->out_w, &k.ow_lo, &k.ow_hi);
    return k;
}

/* dst[o] = src[o * stride] for o in [0, count): a memcpy when the stride is 1
 * (the usual convolution), else a simple strided loop. */
static void copy_strided(float *restrict dst, const float *restrict src, int count, int stride) {
    if (stride == 1) {
        memcpy(dst, src, (size_t)count * sizeof *dst);
        return;
    }
    for (int o = 0; o < count; o++) dst[o] = src[(size_t)o * stride];
}

/* dst[o * stride] += src[o] for o in [0, count); contiguous (vectorised) when
 * the stride is 1. Each dst element gets one term: the order of a col2im
 * accumulation is that of the calls. */
static void add_strided(float *restrict dst, const float *restrict src, int count, int stride) {
    if (stride == 1) {
        for (int o = 0; o < count; o++) dst[o] += src[o];
        return;
    }
    for (int o = 0; o < count; o++) dst[(size_t)o * stride] += src[o];
}

void sn_im2col(const sn_im2col_geometry *g, const float *x, float *col) {
    const int rows = g->channels * g->kernel_h * g->kernel_w;
    const size_t out_plane = (size_t)g->out_h * g->out_w, in_plane = (size_t)g->height * g->width;
    const size_t cols = (size_t)g->n_batch * out_plane;
    /* Rows are independent: each thread fills whole rows of col. */
#pragma omp parallel for schedule(static) if ((double)rows * (double)cols > PARALLEL_MIN)
    for (int row = 0; row < rows; row++) {
        const kernel_offset k = kernel_offset_at(g, row);
        /* Each output row oh is left padding [0, ow_lo), a copy [ow_lo, ow_hi)
         * and right padding [ow_hi, OW); the rows above oh_lo and below oh_hi
         * are all padding, one memset each. */
        const size_t head = (size_t)k.oh_lo * g->out_w, tail = (size_t)k.oh_hi * g->out_w;
        const int copied = k.ow_hi - k.ow_lo, right = g->out_w - k.ow_hi;
        /* No output column reads inside the image: the whole plane is padding. */
        const size_t first_zero_tail = copied > 0 ? tail : head;
        for (int n = 0; n < g->n_batch; n++) {
            float *plane = col + (size_t)row * cols + (size_t)n * out_plane; /* (OH, OW) */
            const float *x_channel =
                x + ((size_t)n * g->channels + (size_t)k.channel) * in_plane; /* (H, W) */
            memset(plane, 0, head * sizeof *plane);
            for (int oh = k.oh_lo; copied > 0 && oh < k.oh_hi; oh++) {
                float *line = plane + (size_t)oh * g->out_w;
                const float *x_line =
                    x_channel + (size_t)(oh * g->stride_h + k.offset_h) * g->width;
                /* Tested: a call per empty range costs more than the copy. */
                if (k.ow_lo > 0) memset(line, 0, (size_t)k.ow_lo * sizeof *line);
                copy_strided(line + k.ow_lo,
                             x_line + ((ptrdiff_t)k.ow_lo * g->stride_w + k.offset_w), copied,
                             g->stride_w);
                if (right > 0) memset(line + k.ow_hi, 0, (size_t)right * sizeof *line);
            }
            memset(plane + first_zero_tail, 0, (out_plane - first_zero_tail) * sizeof *plane);
        }
    }
}

void sn_col2im_add(const sn_im2col_geometry *g, const float *col, float *x) {
    const int rows_per_channel = g->kernel_h * g->kernel_w;
    const size_t out_plane = (size_t)g->out_h * g->out_w, in_plane = (size_t)g->height * g->width;
    const size_t cols = (size_t)g->n_batch * out_plane;
    const size_t channel_block = (size_t)rows_per_channel * cols; /* the rows of one channel */
    /* Overlapping patches add into the same x element, so rows cannot be split
     * between threads; channels can: the rows of channel c write only x[:, c].
     * Within a channel the order (ki, kj, n, oh, ow) is fixed: deterministic. */
#pragma omp parallel for schedule(static) if ((double)g->channels * channel_block > PARALLEL_MIN)
    for (int c = 0; c < g->channels; c++) {
        for (int r = 0; r < rows_per_channel; r++) {
            const kernel_offset k = kernel_offset_at(g, c * rows_per_channel + r);
            if (k.ow_lo == k.ow_hi) continue; /* every column reads the padding */
            const float *col_row = col + (size_t)c * channel_block + (size_t)r * cols;
            for (int n = 0; n < g->n_batch; n++) {
                const float *plane = col_row + (size_t)n * out_plane; /* (OH, OW) */
                float *x_channel = x + ((size_t)n * g->channels + (size_t)c) * in_plane;
                for (int oh = k.oh_lo; oh < k.oh_hi; oh++) {
                    float *x_line = x_channel + (size_t)(oh * g->stride_h + k.offset_h) * g->width;
                    add_strided(x_line + ((ptrdiff_t)k.ow_lo * g->stride_w + k.offset_w),
                                plane + (size_t)oh * g->out_w + k.ow_lo, k.ow_hi - k.ow_lo,
                                g->stride_w);
                }
            }
        }
    }
}

/*
 * im2col / col2im (see im2col.h for the layout). Single-threaded: conv2d calls
 * them per image from inside the chunks of sn_parallel_for. The padding test
 * is taken out of the inner loop: for each kernel tap (ki, kj) the range of
 * output positions that read inside the image is computed once for all
 * channels, the rest of the line is zero (im2col) or skipped (col2im), and
 * what remains is a memcpy (stride 1) or a simple strided loop per output row.
 */
#include "backend/cpu/im2col.h"

#include <stddef.h>
#include <string.h>

/* The output positions o in [0, out) whose input index o*stride + offset falls
 * inside [0, size), as the range [*lo, *hi) (empty when *lo == *hi). offset is
 * kernel index - padding. In 64 bits, so that no padding can overflow. */
static void inside_range(int offset, int stride, int size, int out, int *lo, int *hi) {
    long long first, last_exclusive;
    if (stride == 1) { /* the usual case, without the divisions */
        first = offset >= 0 ? 0 : -(long long)offset;
        last_exclusive = (long long)size - offset;
    } else {
        first = offset >= 0 ? 0 : (-(long long)offset + stride - 1) / stride;
        last_exclusive =
            (long long)size - 1 - offset < 0 ? 0 : ((long long)size - 1 - offset) / stride + 1;
    }
    if (first > out) first = out;
    if (last_exclusive > out) last_exclusive = out;
    if (last_exclusive < first) last_exclusive = first;
    *lo = (int)first;
    *hi = (int)last_exclusive;
}

/* One kernel tap (ki, kj): where its rows of col read, the same for every
 * channel, so it is worked out once per tap rather than once per row. */
typedef struct kernel_offset {
    int offset_h, offset_w;         /* offset = kernel index - padding */
    int oh_lo, oh_hi, ow_lo, ow_hi; /* outputs that read inside the image */
} kernel_offset;

static kernel_offset kernel_offset_at(const sn_im2col_geometry *g, int ki, int kj) {
    kernel_offset k;
    k.offset_h = ki - g->pad_h;
    k.offset_w = kj - g->pad_w;
    inside_range(k.offset_h, g->stride_h, g->height, g->out_h, &k.oh_lo, &k.oh_hi);
    inside_range(k.offset_w, g->stride_w, g->width, g->out_w, &k.ow_lo, &k.ow_hi);
    return k;
}

/* The row of col for channel c and tap (ki, kj): (c*kh + ki)*kw + kj. */
static size_t col_row(const sn_im2col_geometry *g, int c, int ki, int kj) {
    return ((size_t)c * (size_t)g->kernel_h + (size_t)ki) * (size_t)g->kernel_w + (size_t)kj;
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
    const size_t out_plane = (size_t)g->out_h * g->out_w, in_plane = (size_t)g->height * g->width;
    const size_t cols = (size_t)g->n_batch * out_plane;
    for (int ki = 0; ki < g->kernel_h; ki++)
        for (int kj = 0; kj < g->kernel_w; kj++) {
            const kernel_offset k = kernel_offset_at(g, ki, kj);
            /* Each output row oh is left padding [0, ow_lo), a copy [ow_lo, ow_hi)
             * and right padding [ow_hi, OW); the rows above oh_lo and below oh_hi
             * are all padding, one memset each. */
            const size_t head = (size_t)k.oh_lo * g->out_w, tail = (size_t)k.oh_hi * g->out_w;
            const int copied = k.ow_hi - k.ow_lo, right = g->out_w - k.ow_hi;
            /* No output column reads inside the image: the whole plane is padding. */
            const size_t first_zero_tail = copied > 0 ? tail : head;
            for (int c = 0; c < g->channels; c++)
                for (int n = 0; n < g->n_batch; n++) {
                    float *plane =
                        col + col_row(g, c, ki, kj) * cols + (size_t)n * out_plane; /* (OH, OW) */
                    const float *x_channel =
                        x + ((size_t)n * g->channels + (size_t)c) * in_plane; /* (H, W) */
                    if (head > 0) memset(plane, 0, head * sizeof *plane);
                    for (int oh = k.oh_lo; copied > 0 && oh < k.oh_hi; oh++) {
                        float *line = plane + (size_t)oh * g->out_w;
                        const float *x_line =
                            x_channel + (size_t)(oh * g->stride_h + k.offset_h) * g->width;
                        /* A line with padding is zeroed whole, then the inside copied over. */
                        if (k.ow_lo > 0 || right > 0)
                            memset(line, 0, (size_t)g->out_w * sizeof *line);
                        copy_strided(line + k.ow_lo,
                                     x_line + ((ptrdiff_t)k.ow_lo * g->stride_w + k.offset_w),
                                     copied, g->stride_w);
                    }
                    if (first_zero_tail < out_plane)
                        memset(plane + first_zero_tail, 0,
                               (out_plane - first_zero_tail) * sizeof *plane);
                }
        }
}

void sn_col2im_add(const sn_im2col_geometry *g, const float *col, float *x) {
    const size_t out_plane = (size_t)g->out_h * g->out_w, in_plane = (size_t)g->height * g->width;
    const size_t cols = (size_t)g->n_batch * out_plane;
    /* Overlapping patches add into the same x element; the order of the terms
     * (ki, kj, c, n, oh, ow) is fixed: deterministic. */
    for (int ki = 0; ki < g->kernel_h; ki++)
        for (int kj = 0; kj < g->kernel_w; kj++) {
            const kernel_offset k = kernel_offset_at(g, ki, kj);
            if (k.ow_lo == k.ow_hi) continue; /* every column reads the padding */
            for (int c = 0; c < g->channels; c++)
                for (int n = 0; n < g->n_batch; n++) {
                    const float *plane =
                        col + col_row(g, c, ki, kj) * cols + (size_t)n * out_plane; /* (OH, OW) */
                    float *x_channel = x + ((size_t)n * g->channels + (size_t)c) * in_plane;
                    for (int oh = k.oh_lo; oh < k.oh_hi; oh++) {
                        float *x_line =
                            x_channel + (size_t)(oh * g->stride_h + k.offset_h) * g->width;
                        add_strided(x_line + ((ptrdiff_t)k.ow_lo * g->stride_w + k.offset_w),
                                    plane + (size_t)oh * g->out_w + k.ow_lo, k.ow_hi - k.ow_lo,
                                    g->stride_w);
                    }
                }
        }
}

/*
 * im2col / col2im over a whole batch (see im2col.h for the layout). The
 * padding test is taken out of the inner loop: for each kernel offset the range
 * of output positions that read inside the image is computed once, the rest of
 * the line is zero (im2col) or skipped (col2im).
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

/* Start of the input line (n, c, ih) read by output row oh, for that offset. */
static size_t input_line(const sn_im2col_geometry *g, const kernel_offset *k, int n, int oh) {
    const size_t ih = (size_t)(oh * g->stride_h + k->offset_h);
    return (((size_t)n * g->channels + (size_t)k->channel) * g->height + ih) * g->width;
}

void sn_im2col(const sn_im2col_geometry *g, const float *x, float *col) {
    const int rows = g->channels * g->kernel_h * g->kernel_w;
    const size_t cols = (size_t)g->n_batch * g->out_h * g->out_w;
    const int sw = g->stride_w;
    /* Rows are independent: each thread fills whole rows of col. */
#pragma omp parallel for schedule(static) if ((double)rows * (double)cols > PARALLEL_MIN)
    for (int row = 0; row < rows; row++) {
        const kernel_offset k = kernel_offset_at(g, row);
        float *line = col + (size_t)row * cols; /* (N, OH, OW) */
        for (int n = 0; n < g->n_batch; n++) {
            for (int oh = 0; oh < g->out_h; oh++, line += g->out_w) {
                if (oh < k.oh_lo || oh >= k.oh_hi || k.ow_lo == k.ow_hi) {
                    memset(line, 0, (size_t)g->out_w * sizeof *line);
                    continue;
                }
                const float *x_line = x + input_line(g, &k, n, oh);
                for (int ow = 0; ow < k.ow_lo; ow++) line[ow] = 0.0f;
                for (int ow = k.ow_lo; ow < k.ow_hi; ow++) line[ow] = x_line[ow * sw + k.offset_w];
                for (int ow = k.ow_hi; ow < g->out_w; ow++) line[ow] = 0.0f;
            }
        }
    }
}

void sn_col2im_add(const sn_im2col_geometry *g, const float *col, float *x) {
    const int rows_per_channel = g->kernel_h * g->kernel_w;
    const size_t cols = (size_t)g->n_batch * g->out_h * g->out_w;
    const size_t channel_block = (size_t)rows_per_channel * cols; /* the rows of one channel */
    const int sw = g->stride_w;
    /* Overlapping patches add into the same x element, so rows cannot be split
     * between threads; channels can: the rows of channel c write only x[:, c].
     * Within a channel the order (ki, kj, n, oh, ow) is fixed: deterministic. */
#pragma omp parallel for schedule(static) if ((double)g->channels * channel_block > PARALLEL_MIN)
    for (int c = 0; c < g->channels; c++) {
        const float *line = col + (size_t)c * channel_block; /* (kh*kw, N, OH, OW) */
        for (int r = 0; r < rows_per_channel; r++) {
            const kernel_offset k = kernel_offset_at(g, c * rows_per_channel + r);
            for (int n = 0; n < g->n_batch; n++) {
                for (int oh = 0; oh < g->out_h; oh++, line += g->out_w) {
                    if (oh < k.oh_lo || oh >= k.oh_hi) continue;
                    float *x_line = x + input_line(g, &k, n, oh);
                    for (int ow = k.ow_lo; ow < k.ow_hi; ow++)
                        x_line[ow * sw + k.offset_w] += line[ow];
                }
            }
        }
    }
}

/*
 * maxpool2d and avgpool2d as torch.nn.MaxPool2d / AvgPool2d with dilation 1 and
 * ceil_mode=False:
 *   x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2ph - kh)/sh + 1, OW likewise.
 * The window of output (i, j) covers rows i*sh - ph .. +kh and columns
 * j*sw - pw .. +kw of x; both ops walk it through window_at(), clipped to x.
 *
 * max: y = the window's maximum, the padding counting as -inf. The index of the
 * maximum (int32, within its (n, c) plane) is kept in the work buffer and
 * backward sends dy to that element only ("gradient switch"). As ATen's
 * cpu_max_pool: the first maximum in row-major order wins ties, and a NaN wins
 * over everything (the last NaN if several), so NaN propagates.
 * avg: y = window sum / divisor, the divisor being kh*kw when count_include_pad
 * (torch's default), else the number of elements inside x; backward spreads
 * dy/divisor over the window (ATen's cpu_avg_pool and its backward).
 */
#include "ops/op.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>

/* Below this many outputs the threads cost more than they save. */
#define POOL_PARALLEL_MIN 16384

typedef struct pool_geometry {
    int64_t planes; /* N*C */
    int height, width, out_h, out_w;
    size_t in_plane, out_plane; /* H*W, OH*OW */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad;
} pool_geometry;

/* The part of a window inside x: rows [h0, h1), columns [w0, w1). Never empty,
 * since infer requires padding <= kernel/2. */
typedef struct pool_window {
    int h0, h1, w0, w1;
    int padded_size; /* elements of the window inside the padded input: torch's pool_size */
} pool_window;

static int max_int(int a, int b) {
    return a > b ? a : b;
}
static int min_int(int a, int b) {
    return a < b ? a : b;
}

static pool_window window_at(const pool_geometry *g, int oh, int ow) {
    pool_window w;
    const int h_start = oh * g->stride_h - g->pad_h, w_start = ow * g->stride_w - g->pad_w;
    const int h_end = min_int(h_start + g->kernel_h, g->height + g->pad_h);
    const int w_end = min_int(w_start + g->kernel_w, g->width + g->pad_w);
    w.padded_size = (h_end - h_start) * (w_end - w_start);
    w.h0 = max_int(h_start, 0);
    w.w0 = max_int(w_start, 0);
    w.h1 = min_int(h_end, g->height);
    w.w1 = min_int(w_end, g->width);
    return w;
}

static pool_geometry pool_geometry_of(const sn_op_io *io) {
    const sn_shape *x = &io->in_shape[0];
    const sn_op_attr *a = io->attr;
    pool_geometry g;
    g.planes = x->dim[0] * x->dim[1];
    g.height = (int)x->dim[2];
    g.width = (int)x->dim[3];
    g.kernel_h = a->kernel[0];
    g.kernel_w = a->kernel[1];
    g.stride_h = a->stride[0];
    g.stride_w = a->stride[1];
    g.pad_h = a->padding[0];
    g.pad_w = a->padding[1];
    g.out_h = (g.height + 2 * g.pad_h - g.kernel_h) / g.stride_h + 1;
    g.out_w = (g.width + 2 * g.pad_w - g.kernel_w) / g.stride_w + 1;
    g.in_plane = (size_t)g.height * (size_t)g.width;
    g.out_plane = (size_t)g.out_h * (size_t)g.out_w;
    g.count_include_pad = a->count_include_pad;
    return g;
}

/* Shape checks of both pools; `name` is the op's for the message. */
static sn_status pool_infer(sn_op_io *io, const char *name) {
    const sn_shape *x = &io->in_shape[0];
    const int *kernel = io->attr->kernel, *stride = io->attr->stride, *padding = io->attr->padding;
    char sx[64];
    if (x->ndim != 4)
        return sn_error(SN_ERR_SHAPE, "%s: input must be (N, C, H, W), got %s", name,
                        sn_shape_format(x, sx, sizeof sx));
    if (kernel[0] < 1 || kernel[1] < 1)
        return sn_error(SN_ERR_SHAPE, "%s: kernel must be >= 1, got (%d, %d)", name, kernel[0],
                        kernel[1]);
    if (stride[0] < 1 || stride[1] < 1)
        return sn_error(SN_ERR_SHAPE, "%s: stride must be >= 1, got (%d, %d)", name, stride[0],
                        stride[1]);
    /* torch: "pad should be at most half of effective kernel size"; this also
     * makes every window overlap the input. */
    if (padding[0] < 0 || padding[1] < 0 || padding[0] > kernel[0] / 2 ||
        padding[1] > kernel[1] / 2)
        return sn_error(SN_ERR_SHAPE,
                        "%s: padding must be between 0 and half the kernel (%d, %d), got (%d, %d)",
                        name, kernel[0], kernel[1], padding[0], padding[1]);
    /* Every index formed below stays under the padded sizes (< 2^31), and the
     * max-pool's arg-max, an index within a plane, under H*W (< 2^31); the
     * avg-pool's divisor is at most kh*kw. */
    const int64_t padded_h = x->dim[2] + 2 * (int64_t)padding[0];
    const int64_t padded_w = x->dim[3] + 2 * (int64_t)padding[1];
    if (padded_h > INT_MAX || padded_w > INT_MAX || x->dim[2] * x->dim[3] > INT32_MAX ||
        (int64_t)kernel[0] * kernel[1] > INT_MAX)
        return sn_error(SN_ERR_SHAPE,
                        "%s: input %s with kernel (%d, %d) is too large (H*W and kh*kw must "
                        "stay below 2^31)",
                        name, sn_shape_format(x, sx, sizeof sx), kernel[0], kernel[1]);
    if (padded_h < kernel[0] || padded_w < kernel[1])
        return sn_error(
            SN_ERR_SHAPE, "%s: input %s with padding (%d, %d) is smaller than the kernel (%d, %d)",
            name, sn_shape_format(x, sx, sizeof sx), padding[0], padding[1], kernel[0], kernel[1]);
    const int64_t dims[4] = {x->dim[0], x->dim[1], (padded_h - kernel[0]) / stride[0] + 1,
                             (padded_w - kernel[1]) / stride[1] + 1};
    return sn_shape_make(&io->out_shape, 4, dims);
}

/* ---- max pooling ---- */

static sn_status maxpool2d_infer(sn_op_io *io, size_t *work_size) {
    sn_status st = pool_infer(io, "maxpool2d");
    if (st != SN_OK) return st;
    /* One int32 arg-max per output; numel is at most 2^40, so no overflow. */
    *work_size = (size_t)sn_shape_numel(&io->out_shape) * sizeof(int32_t);
    return SN_OK;
}

static sn_status maxpool2d_forward(sn_op_io *io) {
    const pool_geometry g = pool_geometry_of(io);
    const float *x = io->in[0];
    float *y = io->out;
    int32_t *argmax = io->work; /* (N, C, OH, OW), index within the (n, c) plane of x */
#pragma omp parallel for schedule(static) if ((double)g.planes * g.out_plane > POOL_PARALLEL_MIN)
    for (int64_t plane = 0; plane < g.planes; plane++) {
        const float *x_plane = x + (size_t)plane * g.in_plane;
        float *y_plane = y + (size_t)plane * g.out_plane;
        int32_t *arg_plane = argmax + (size_t)plane * g.out_plane;
        for (int oh = 0; oh < g.out_h; oh++)
            for (int ow = 0; ow < g.out_w; ow++) {
                const pool_window w = window_at(&g, oh, ow);
                int best_index = w.h0 * g.width + w.w0;
                float best = -INFINITY;
                for (int ih = w.h0; ih < w.h1; ih++)
                    for (int iw = w.w0; iw < w.w1; iw++) {
                        const int index = ih * g.width + iw;
                        const float v = x_plane[index];
                        if (v > best || isnan(v)) {
                            best = v;
                            best_index = index;
                        }
                    }
                y_plane[oh * g.out_w + ow] = best;
                arg_plane[oh * g.out_w + ow] = best_index;
            }
    }
    return SN_OK;
}

static void maxpool2d_backward(sn_op_io *io) {
    float *dx = io->din[0];
    if (!dx) return;
    const pool_geometry g = pool_geometry_of(io);
    const float *dy = io->dout;
    const int32_t *argmax = io->work;
    /* Windows of one plane may share an arg-max: a plane is one thread's. */
#pragma omp parallel for schedule(static) if ((double)g.planes * g.out_plane > POOL_PARALLEL_MIN)
    for (int64_t plane = 0; plane < g.planes; plane++) {
        float *dx_plane = dx + (size_t)plane * g.in_plane;
        const float *dy_plane = dy + (size_t)plane * g.out_plane;
        const int32_t *arg_plane = argmax + (size_t)plane * g.out_plane;
        for (size_t o = 0; o < g.out_plane; o++) dx_plane[arg_plane[o]] += dy_plane[o];
    }
}

/* ---- average pooling ---- */

static sn_status avgpool2d_infer(sn_op_io *io, size_t *work_size) {
    *work_size = 0;
    return pool_infer(io, "avgpool2d");
}

/* torch's divide_factor: the whole window, or only the elements inside x. */
static int avg_divisor(const pool_geometry *g, const pool_window *w) {
    return g->count_include_pad ? w->padded_size : (w->h1 - w->h0) * (w->w1 - w->w0);
}

static sn_status avgpool2d_forward(sn_op_io *io) {
    const pool_geometry g = pool_geometry_of(io);
    const float *x = io->in[0];
    float *y = io->out;
#pragma omp parallel for schedule(static) if ((double)g.planes * g.out_plane > POOL_PARALLEL_MIN)
    for (int64_t plane = 0; plane < g.planes; plane++) {
        const float *x_plane = x + (size_t)plane * g.in_plane;
        float *y_plane = y + (size_t)plane * g.out_plane;
        for (int oh = 0; oh < g.out_h; oh++)
            for (int ow = 0; ow < g.out_w; ow++) {
                const pool_window w = window_at(&g, oh, ow);
                float sum = 0.0f;
                for (int ih = w.h0; ih < w.h1; ih++)
                    for (int iw = w.w0; iw < w.w1; iw++) sum += x_plane[ih * g.width + iw];
                y_plane[oh * g.out_w + ow] = sum / (float)avg_divisor(&g, &w);
            }
    }
    return SN_OK;
}

static void avgpool2d_backward(sn_op_io *io) {
    float *dx = io->din[0];
    if (!dx) return;
    const pool_geometry g = pool_geometry_of(io);
    const float *dy = io->dout;
    /* Overlapping windows add into the same dx: a plane is one thread's. */
#pragma omp parallel for schedule(static) if ((double)g.planes * g.out_plane > POOL_PARALLEL_MIN)
    for (int64_t plane = 0; plane < g.planes; plane++) {
        float *dx_plane = dx + (size_t)plane * g.in_plane;
        const float *dy_plane = dy + (size_t)plane * g.out_plane;
        for (int oh = 0; oh < g.out_h; oh++)
            for (int ow = 0; ow < g.out_w; ow++) {
                const pool_window w = window_at(&g, oh, ow);
                const float share = dy_plane[oh * g.out_w + ow] / (float)avg_divisor(&g, &w);
                for (int ih = w.h0; ih < w.h1; ih++)
                    for (int iw = w.w0; iw < w.w1; iw++) dx_plane[ih * g.width + iw] += share;
            }
    }
}

const sn_op sn_op_maxpool2d = {"maxpool2d", maxpool2d_infer, maxpool2d_forward, maxpool2d_backward};
const sn_op sn_op_avgpool2d = {"avgpool2d", avgpool2d_infer, avgpool2d_forward, avgpool2d_backward};

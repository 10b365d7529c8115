/*
 * maxpool2d and avgpool2d as torch.nn.MaxPool2d / AvgPool2d with dilation 1 and
 * ceil_mode=False:
 *   x (N, C, H, W) -> y (N, C, OH, OW), OH = (H + 2ph - kh)/sh + 1, OW likewise.
 * The window of output (i, j) covers rows i*sh - ph .. +kh and columns
 * j*sw - pw .. +kw of x, clipped to x (pool_span, one per dimension).
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
#include <string.h>

#include "ops/chunks.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct pool_geometry {
    int64_t planes; /* N*C */
    int height, width, out_h, out_w;
    size_t in_plane, out_plane; /* H*W, OH*OW */
    int kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int count_include_pad;
} pool_geometry;

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

/* One dimension of the windows: output o covers input indices
 * [o*stride - pad, o*stride - pad + kernel), clipped to the padded input for
 * `padded` (torch's pool_size counts those) and to x for [lo, hi). Never empty,
 * since infer requires padding <= kernel/2. */
typedef struct pool_span {
    int lo, hi;
    int padded;
} pool_span;

static int max_int(int a, int b) {
    return a > b ? a : b;
}
static int min_int(int a, int b) {
    return a < b ? a : b;
}

static pool_span span_at(int o, int stride, int pad, int kernel, int size) {
    pool_span s;
    const int start = o * stride - pad, end = min_int(start + kernel, size + pad);
    s.padded = end - start;
    s.lo = max_int(start, 0);
    s.hi = min_int(end, size);
    return s;
}

/* The outputs o in [0, out) whose window element k (0 <= k < kernel) lies
 * inside x, i.e. 0 <= o*stride - pad + k < size, as [*lo, *hi). Computed per
 * window row and element, so the loop over outputs has no bounds test; the
 * divisions are only needed at a padded edge (64 bits: no overflow). */
static void outputs_inside(int k, int stride, int pad, int size, int out, int *lo, int *hi) {
    const long long offset = (long long)k - pad;
    long long first = 0, last = out;
    if (offset < 0) first = (-offset + stride - 1) / stride;
    if ((long long)(out - 1) * stride + offset > size - 1)
        last = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
    if (first > out) first = out;
    if (last > out) last = out;
    if (last < first) last = first;
    *lo = (int)first;
    *hi = (int)last;
}

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

/* torch's divide_factor: the whole window, or only the elements inside x. */
static int avg_divisor(const pool_geometry *g, const pool_span *rows, const pool_span *cols) {
    return g->count_include_pad ? rows->padded * cols->padded
                                : (rows->hi - rows->lo) * (cols->hi - cols->lo);
}

/* One window element for the outputs [ow_lo, ow_hi) of a row: each reads
 * x_line[ow*stride + offset] (inside x), index line_start + that in the plane. */
static inline void pool_update_row(pool_kind kind, const float *restrict x_line, int line_start,
                                   int offset, int stride, int ow_lo, int ow_hi,
                                   float *restrict y_row, int32_t *restrict arg_row) {
    if (kind == POOL_MAX) {
        for (int ow = ow_lo; ow < ow_hi; ow++) {
            const int iw = ow * stride + offset;
            const float v = x_line[iw];
            /* First maximum wins ties; a NaN wins over everything. */
            const int take = v > y_row[ow] || isnan(v);
            y_row[ow] = take ? v : y_row[ow];
            arg_row[ow] = take ? line_start + iw : arg_row[ow];
        }
    } else {
        for (int ow = ow_lo; ow < ow_hi; ow++) y_row[ow] += x_line[ow * stride + offset];
    }
}

/* The forward of one plane, the one window walk of both pools. Instead of
 * one window at a time, it goes through the window elements (ki, kj) in
 * row-major order and, for each, updates every output whose window holds that
 * element inside x: the inner loop is a simple strided loop over an output row
 * that the compiler vectorises, with no bounds test, and each output still sees
 * its elements in row-major order, so ties, NaN and sums come out exactly as a
 * window-by-window walk (ATen's order). Inlined with a constant `kind`.
 *   x_plane (H, W), y_plane (OH, OW), arg_plane (OH, OW; max only: index in x_plane) */
static inline void pool_forward_plane(const pool_geometry *g, pool_kind kind,
                                      const float *restrict x_plane, float *restrict y_plane,
                                      int32_t *restrict arg_plane) {
    const int sh = g->stride_h, sw = g->stride_w, width = g->width, out_w = g->out_w;
    for (int oh = 0; oh < g->out_h; oh++) {
        const pool_span rows = span_at(oh, sh, g->pad_h, g->kernel_h, g->height);
        float *y_row = y_plane + (size_t)oh * out_w;
        int32_t *arg_row = kind == POOL_MAX ? arg_plane + (size_t)oh * out_w : NULL;
        for (int ow = 0; ow < out_w; ow++) {
            if (kind == POOL_MAX) {
                /* The padding counts as -inf and never wins: an all -inf
                 * window keeps its first element inside x. */
                y_row[ow] = -INFINITY;
                arg_row[ow] = rows.lo * width + max_int(ow * sw - g->pad_w, 0);
            } else {
                y_row[ow] = 0.0f;
            }
        }
    }
    for (int ki = 0; ki < g->kernel_h; ki++) {
        int oh_lo, oh_hi;
        outputs_inside(ki, sh, g->pad_h, g->height, g->out_h, &oh_lo, &oh_hi);
        for (int kj = 0; kj < g->kernel_w; kj++) {
            int ow_lo, ow_hi;
            outputs_inside(kj, sw, g->pad_w, width, out_w, &ow_lo, &ow_hi);
            const int offset = kj - g->pad_w;
            for (int oh = oh_lo; oh < oh_hi; oh++) {
                const int ih = oh * sh + ki - g->pad_h;
                const float *x_line = x_plane + (size_t)ih * width;
                float *y_row = y_plane + (size_t)oh * out_w;
                int32_t *arg_row = kind == POOL_MAX ? arg_plane + (size_t)oh * out_w : NULL;
                /* A constant stride lets the compiler load with shuffles, not gathers. */
                if (sw == 2)
                    pool_update_row(kind, x_line, ih * width, offset, 2, ow_lo, ow_hi, y_row,
                                    arg_row);
                else
                    pool_update_row(kind, x_line, ih * width, offset, sw, ow_lo, ow_hi, y_row,
                                    arg_row);
            }
        }
    }
    if (kind == POOL_AVG)
        for (int oh = 0; oh < g->out_h; oh++) {
            const pool_span rows = span_at(oh, sh, g->pad_h, g->kernel_h, g->height);
            for (int ow = 0; ow < out_w; ow++) {
                const pool_span cols = span_at(ow, sw, g->pad_w, g->kernel_w, width);
                y_plane[(size_t)oh * out_w + ow] /= (float)avg_divisor(g, &rows, &cols);
            }
        }
}

/* gcc vectorises with the widest vectors it has (16 floats with AVX-512), so
 * a loop over a row shorter than that (14, 12 and 5 outputs in the
 * benchmark models) runs as its scalar remainder, whose max-pool selects
 * compile to branches that mispredict on real data. With 128-bit vectors such
 * rows run vectorised: MaxPool2d(2) forward on LeNet-5's 64x16x10x10 went
 * from 0.17 to 0.02 ms, and on 64x6x28x28 and 64x64x24x24 it is about as fast
 * as with AVX-512 blocks of 16 outputs (-march=native, one thread). */
#if defined(__GNUC__) && !defined(__clang__) && (defined(__x86_64__) || defined(__i386__))
#define POOL_SHORT_VECTORS __attribute__((target("prefer-vector-width=128")))
#else
#define POOL_SHORT_VECTORS
#endif

/* The forward of one plane of a pool without padding, where every window
 * lies inside x: each output folds its kh*kw elements in row-major order
 * (so ties, NaN and sums come out as ATen's window walk above) and is stored
 * once. With constant sizes the window loops unroll and the loop over a row
 * of outputs vectorises with strided loads; the walk above would update each
 * output kh*kw times, in loops too short to amortise.
 *   x_plane (H, W), y_plane (OH, OW), arg_plane (OH, OW; max only: index in x_plane) */
static inline void pool_forward_plane_inside(pool_kind kind, int kh, int kw, int sh, int sw,
                                             const pool_geometry *g, const float *restrict x_plane,
                                             float *restrict y_plane, int32_t *restrict arg_plane) {
    const int width = g->width, out_w = g->out_w;
    for (int oh = 0; oh < g->out_h; oh++) {
        const int top = oh * sh * width; /* index of the windows' first row in the plane */
        const float *x_rows = x_plane + top;
        float *y_row = y_plane + (size_t)oh * out_w;
        int32_t *arg_row = kind == POOL_MAX ? arg_plane + (size_t)oh * out_w : NULL;
        for (int ow = 0; ow < out_w; ow++) {
            const int left = ow * sw;
            if (kind == POOL_MAX) {
                float best = x_rows[left];
                int32_t arg = top + left;
                for (int ki = 0; ki < kh; ki++)
                    for (int kj = ki == 0; kj < kw; kj++) {
                        const int at = ki * width + left + kj;
                        const float v = x_rows[at];
                        /* First maximum wins ties; a NaN wins over everything. */
                        const int take = v > best || isnan(v);
                        best = take ? v : best;
                        arg = take ? top + at : arg;
                    }
                y_row[ow] = best;
                arg_row[ow] = arg;
            } else {
                float sum = 0.0f;
                for (int ki = 0; ki < kh; ki++)
                    for (int kj = 0; kj < kw; kj++) sum += x_rows[ki * width + left + kj];
                y_row[ow] = sum / (float)(kh * kw); /* both count_include_pad modes: no padding */
            }
        }
    }
}

#if defined(__SSE2__)
/* MaxPool2d(2) forward of one plane, 4 outputs at a time with SSE2: the
 * window's four elements in row-major order, (0,0) (0,1) (1,0) (1,1), each
 * taken where it is greater than the best so far or NaN, so ties, NaN and
 * arg-max come out as in the walk above. Why not leave it to the compiler: a
 * row of 5 outputs (LeNet-5's second pool) ran 4 in a vector and 1 as scalar
 * code whose selects became branches, mispredicted on real data (64x16x10x10:
 * 21 us on data seen before, 73-81 us on fresh data). Here every output is
 * in a vector: a row whose length is not a multiple of 4 ends with a block
 * moved back to end at the row's end, recomputing a few outputs to the same
 * values. Needs out_w >= 4; every block reads inside its two rows (W >= 2·OW).
 *   x_plane (H, W), y_plane (OH, OW), arg_plane (OH, OW: index in x_plane) */
static void maxpool_2x2_plane_sse2(const pool_geometry *g, const float *restrict x_plane,
                                   float *restrict y_plane, int32_t *restrict arg_plane) {
    const int width = g->width, out_w = g->out_w;
    for (int oh = 0; oh < g->out_h; oh++) {
        const int top = 2 * oh * width; /* index of the windows' first row in the plane */
        const float *r0 = x_plane + top, *r1 = r0 + width;
        for (int ow = 0; ow < out_w; ow += 4) {
            const int b = ow + 4 <= out_w ? ow : out_w - 4; /* the block's first output */
            const __m128 a0 = _mm_loadu_ps(r0 + 2 * b), a1 = _mm_loadu_ps(r0 + 2 * b + 4);
            const __m128 c0 = _mm_loadu_ps(r1 + 2 * b), c1 = _mm_loadu_ps(r1 + 2 * b + 4);
            /* even and odd columns: the windows' left and right elements */
            const __m128 v[4] = {_mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1)),
                                 _mm_shuffle_ps(c0, c1, _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm_shuffle_ps(c0, c1, _MM_SHUFFLE(3, 1, 3, 1))};
            const __m128i first = _mm_add_epi32(_mm_set1_epi32(top + 2 * b),
                                                _mm_setr_epi32(0, 2, 4, 6));
            const __m128i offset[4] = {_mm_setzero_si128(), _mm_set1_epi32(1),
                                       _mm_set1_epi32(width), _mm_set1_epi32(width + 1)};
            __m128 best = v[0];
            __m128i arg = first;
            for (int e = 1; e < 4; e++) {
                const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v[e], best), _mm_cmpunord_ps(v[e], v[e]));
                const __m128i take_i = _mm_castps_si128(take);
                best = _mm_or_ps(_mm_and_ps(take, v[e]), _mm_andnot_ps(take, best));
                arg = _mm_or_si128(_mm_and_si128(take_i, _mm_add_epi32(first, offset[e])),
                                   _mm_andnot_si128(take_i, arg));
            }
            _mm_storeu_ps(y_plane + (size_t)oh * out_w + b, best);
            _mm_storeu_si128((__m128i *)(arg_plane + (size_t)oh * out_w + b), arg);
        }
    }
}
#endif

/* The planes [first, end) of a forward: the direct kernel, inlined with
 * constant sizes, for the common 2x2 pools with stride 2 and no padding
 * (MaxPool2d(2)), else the window walk. */
static inline void pool_forward_planes(const pool_geometry *g, pool_kind kind, const float *x,
                                       float *y, int32_t *argmax, int64_t first, int64_t end) {
    const int inside_2x2 = g->pad_h == 0 && g->pad_w == 0 && g->kernel_h == 2 && g->kernel_w == 2 &&
                           g->stride_h == 2 && g->stride_w == 2;
    for (int64_t plane = first; plane < end; plane++) {
        const float *x_plane = x + (size_t)plane * g->in_plane;                     /* (H, W) */
        float *y_plane = y + (size_t)plane * g->out_plane;                          /* (OH, OW) */
        int32_t *arg_plane = argmax ? argmax + (size_t)plane * g->out_plane : NULL; /* (OH, OW) */
#if defined(__SSE2__)
        if (inside_2x2 && kind == POOL_MAX && g->out_w >= 4 && arg_plane)
            maxpool_2x2_plane_sse2(g, x_plane, y_plane, arg_plane);
        else
#endif
        if (inside_2x2 && kind == POOL_MAX)
            pool_forward_plane_inside(POOL_MAX, 2, 2, 2, 2, g, x_plane, y_plane, arg_plane);
        else if (inside_2x2)
            pool_forward_plane_inside(POOL_AVG, 2, 2, 2, 2, g, x_plane, y_plane, NULL);
        else if (kind == POOL_MAX)
            pool_forward_plane(g, POOL_MAX, x_plane, y_plane, arg_plane);
        else
            pool_forward_plane(g, POOL_AVG, x_plane, y_plane, NULL);
    }
}

/* The pools' work is cut into chunks of whole (n, c) planes, about
 * SN_CHUNK_FLOATS input floats each (src/ops/chunks.h): a plane's outputs,
 * and in backward its dx, belong to one chunk, so any thread count gives the
 * same bits. */
typedef struct pool_job {
    const sn_op_io *io;
    pool_geometry g;
    pool_kind kind;
} pool_job;

/* Runs fn over every plane, in chunks of planes. */
static void pool_run(const sn_op_io *io, pool_kind kind, sn_span_fn fn) {
    pool_job job = {io, pool_geometry_of(io), kind};
    sn_parallel_items(job.g.planes, (int64_t)job.g.in_plane, io->workers, fn, &job);
}

/* Called through a pointer, so never inlined: the vector width holds here. */
POOL_SHORT_VECTORS static void pool_forward_span(void *ctx, int64_t first, int64_t end) {
    const pool_job *job = ctx;
    /* x (N, C, H, W), y (N, C, OH, OW), max's arg-max (N, C, OH, OW) */
    pool_forward_planes(&job->g, job->kind, job->io->in[0], job->io->out,
                        job->kind == POOL_MAX ? (int32_t *)job->io->work : NULL, first, end);
}

/* Forward of either pool over all planes. */
static void pool_forward(const sn_op_io *io, pool_kind kind) {
    pool_run(io, kind, pool_forward_span);
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
    pool_forward(io, POOL_MAX);
    return SN_OK;
}

static void maxpool2d_backward_span(void *ctx, int64_t first, int64_t end) {
    const pool_job *job = ctx;
    const pool_geometry *g = &job->g;
    float *dx = job->io->din[0];           /* (N, C, H, W) */
    const float *dy = job->io->dout;       /* (N, C, OH, OW) */
    const int32_t *argmax = job->io->work; /* (N, C, OH, OW), from forward */
    /* Windows of one plane may share an arg-max: a plane is one chunk's.
     * Under din_set its dx is cleared here, in cache, then added into. */
    if (job->io->din_set & 1u)
        memset(dx + (size_t)first * g->in_plane, 0,
               (size_t)(end - first) * g->in_plane * sizeof *dx);
    for (int64_t plane = first; plane < end; plane++) {
        float *dx_plane = dx + (size_t)plane * g->in_plane;
        const float *dy_plane = dy + (size_t)plane * g->out_plane;
        const int32_t *arg_plane = argmax + (size_t)plane * g->out_plane;
        for (size_t o = 0; o < g->out_plane; o++) dx_plane[arg_plane[o]] += dy_plane[o];
    }
}

static void maxpool2d_backward(sn_op_io *io) {
    if (io->din[0]) pool_run(io, POOL_MAX, maxpool2d_backward_span);
}

/* ---- average pooling ---- */

static sn_status avgpool2d_infer(sn_op_io *io, size_t *work_size) {
    *work_size = 0;
    return pool_infer(io, "avgpool2d");
}

static sn_status avgpool2d_forward(sn_op_io *io) {
    pool_forward(io, POOL_AVG);
    return SN_OK;
}

static void avgpool2d_backward_span(void *ctx, int64_t first, int64_t end) {
    const pool_job *job = ctx;
    const pool_geometry *g = &job->g;
    float *dx = job->io->din[0];     /* (N, C, H, W) */
    const float *dy = job->io->dout; /* (N, C, OH, OW) */
    /* Overlapping windows add into the same dx: a plane is one chunk's. */
    for (int64_t plane = first; plane < end; plane++) {
        float *dx_plane = dx + (size_t)plane * g->in_plane;
        const float *dy_plane = dy + (size_t)plane * g->out_plane;
        for (int oh = 0; oh < g->out_h; oh++) {
            const pool_span rows = span_at(oh, g->stride_h, g->pad_h, g->kernel_h, g->height);
            /* Window by window, as ATen: overlapping windows add into the
             * same dx in this order, so it is part of the exact result. */
            for (int ow = 0; ow < g->out_w; ow++) {
                const pool_span cols = span_at(ow, g->stride_w, g->pad_w, g->kernel_w, g->width);
                const float share =
                    dy_plane[oh * g->out_w + ow] / (float)avg_divisor(g, &rows, &cols);
                for (int ih = rows.lo; ih < rows.hi; ih++)
                    for (int iw = cols.lo; iw < cols.hi; iw++)
                        dx_plane[ih * g->width + iw] += share;
            }
        }
    }
}

static void avgpool2d_backward(sn_op_io *io) {
    if (io->din[0]) pool_run(io, POOL_AVG, avgpool2d_backward_span);
}

/* Backward needs the geometry and, for max, the arg-max in work: no values. */
const sn_op sn_op_maxpool2d = {"maxpool2d", maxpool2d_infer, maxpool2d_forward, maxpool2d_backward,
                               SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0) | SN_OP_BWD_CAN_SET};
const sn_op sn_op_avgpool2d = {"avgpool2d", avgpool2d_infer, avgpool2d_forward, avgpool2d_backward,
                               SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0)};

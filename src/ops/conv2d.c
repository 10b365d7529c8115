/*
 * conv2d: 2-D cross-correlation as torch.nn.Conv2d (dilation 1, groups 1),
 *   y[n, o, i, j] = b[o] + sum_{c, ki, kj} w[o, c, ki, kj] x[n, c, i*sh - ph + ki, j*sw - pw + kj]
 * with x read as zero in the padding.
 *   x (N, C_in, H, W)   w (C_out, C_in, kh, kw)   b (C_out) optional
 *   y (N, C_out, OH, OW), OH = (H + 2ph - kh)/sh + 1, OW = (W + 2pw - kw)/sw + 1
 *
 * As im2col + one GEMM over the whole batch (darknet, Caffe), with K = C_in*kh*kw,
 * P = OH*OW and torch's weight layout read as a matrix W (C_out, K):
 *   forward   col (K, N*P) = im2col(x);  Y (C_out, N*P) = W col;  y = Y permuted + b
 *   backward  dY (C_out, N*P) = dy permuted
 *             dW += dY col^T             (C_out, N*P) x (N*P, K)
 *             db += sum over (n, p) of dY
 *             dcol = W^T dY; dx += col2im(dcol)   (K, C_out) x (C_out, N*P)
 * The work buffer holds col from forward to backward; dcol then reuses it.
 */
#include "ops/op.h"

#include <limits.h>
#include <stdint.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/im2col.h"

/* The work buffer: a 64-byte header, then col (K, N*P), then Y or dY (C_out, N*P). */
typedef struct conv_work_header {
    /* 1 while col holds im2col(x) of the last forward. Backward overwrites col
     * with dcol, so a second backward after one forward rebuilds it for dW. */
    int col_holds_patches;
} conv_work_header;
#define CONV_WORK_HEADER_BYTES 64
_Static_assert(sizeof(conv_work_header) <= CONV_WORK_HEADER_BYTES, "header fits its slot");

typedef struct conv_dims {
    sn_im2col_geometry geom;
    int c_out;
    int patch_size; /* K = C_in*kh*kw: rows of col, columns of W */
    int out_plane;  /* P = OH*OW */
    int n_cols;     /* N*P: columns of col, Y and dY */
} conv_dims;

typedef struct conv_work {
    conv_work_header *header;
    float *col;   /* (K, N*P): im2col(x), or dcol in backward */
    float *y_mat; /* (C_out, N*P): the GEMM's Y in forward, dY in backward */
} conv_work;

/* The dimensions of a node whose shapes infer has accepted (so every size fits an int). */
static conv_dims conv_dims_of(const sn_op_io *io) {
    const sn_shape *x = &io->in_shape[0], *w = &io->in_shape[1];
    conv_dims d;
    sn_im2col_geometry *g = &d.geom;
    g->n_batch = (int)x->dim[0];
    g->channels = (int)x->dim[1];
    g->height = (int)x->dim[2];
    g->width = (int)x->dim[3];
    g->kernel_h = (int)w->dim[2];
    g->kernel_w = (int)w->dim[3];
    g->stride_h = io->attr->stride[0];
    g->stride_w = io->attr->stride[1];
    g->pad_h = io->attr->padding[0];
    g->pad_w = io->attr->padding[1];
    g->out_h = (g->height + 2 * g->pad_h - g->kernel_h) / g->stride_h + 1;
    g->out_w = (g->width + 2 * g->pad_w - g->kernel_w) / g->stride_w + 1;
    d.c_out = (int)w->dim[0];
    d.patch_size = g->channels * g->kernel_h * g->kernel_w;
    d.out_plane = g->out_h * g->out_w;
    d.n_cols = g->n_batch * d.out_plane;
    return d;
}

static conv_work conv_work_of(const sn_op_io *io, const conv_dims *d) {
    unsigned char *base = io->work;
    conv_work w;
    w.header = (conv_work_header *)base;
    w.col = (float *)(base + CONV_WORK_HEADER_BYTES);
    w.y_mat = w.col + (size_t)d->patch_size * (size_t)d->n_cols;
    return w;
}

static sn_status conv2d_infer(sn_op_io *io, size_t *work_size) {
    const sn_shape *x = &io->in_shape[0], *w = &io->in_shape[1], *b = &io->in_shape[2];
    const int *stride = io->attr->stride, *padding = io->attr->padding;
    char sx[64], sw[64];
    if (x->ndim != 4)
        return sn_error(SN_ERR_SHAPE, "conv2d: input must be (N, C_in, H, W), got %s",
                        sn_shape_format(x, sx, sizeof sx));
    if (w->ndim != 4)
        return sn_error(SN_ERR_SHAPE, "conv2d: weight must be (C_out, C_in, kh, kw), got %s",
                        sn_shape_format(w, sw, sizeof sw));
    if (x->dim[1] != w->dim[1])
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: input %s has %lld channels but weight %s expects %lld",
                        sn_shape_format(x, sx, sizeof sx), (long long)x->dim[1],
                        sn_shape_format(w, sw, sizeof sw), (long long)w->dim[1]);
    if (io->has_in[2] && (b->ndim != 1 || b->dim[0] != w->dim[0]))
        return sn_error(SN_ERR_SHAPE, "conv2d: bias must be (%lld) for weight %s, got %s",
                        (long long)w->dim[0], sn_shape_format(w, sw, sizeof sw),
                        sn_shape_format(b, sx, sizeof sx));
    if (stride[0] < 1 || stride[1] < 1)
        return sn_error(SN_ERR_SHAPE, "conv2d: stride must be >= 1, got (%d, %d)", stride[0],
                        stride[1]);
    if (padding[0] < 0 || padding[1] < 0)
        return sn_error(SN_ERR_SHAPE, "conv2d: padding must be >= 0, got (%d, %d)", padding[0],
                        padding[1]);
    const int64_t padded_h = x->dim[2] + 2 * (int64_t)padding[0];
    const int64_t padded_w = x->dim[3] + 2 * (int64_t)padding[1];
    if (w->dim[2] > padded_h || w->dim[3] > padded_w)
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: kernel %lldx%lld is larger than the padded input %lldx%lld "
                        "(input %s, padding (%d, %d))",
                        (long long)w->dim[2], (long long)w->dim[3], (long long)padded_h,
                        (long long)padded_w, sn_shape_format(x, sx, sizeof sx), padding[0],
                        padding[1]);
    /* The GEMM takes int sizes and leading dimensions, so K = C_in*kh*kw, N*OH*OW
     * and every index the kernels form (up to the padded sizes) must fit an int.
     * Each product is formed only once its factors are bounded: no int64 overflow. */
    const int64_t patch_size = w->dim[1] * w->dim[2] * w->dim[3]; /* <= numel(w) */
    if (padded_h > INT_MAX || padded_w > INT_MAX || w->dim[0] > INT_MAX || patch_size > INT_MAX)
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: input %s with weight %s and padding (%d, %d) is too large "
                        "(sizes must stay below 2^31)",
                        sn_shape_format(x, sx, sizeof sx), sn_shape_format(w, sw, sizeof sw),
                        padding[0], padding[1]);
    const int64_t out_h = (padded_h - w->dim[2]) / stride[0] + 1;
    const int64_t out_w = (padded_w - w->dim[3]) / stride[1] + 1;
    const int64_t out_plane = out_h * out_w; /* < 2^62 */
    if (out_plane > INT_MAX / x->dim[0])
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: input %s gives N*OH*OW = %lld*%lld*%lld columns, above 2^31",
                        sn_shape_format(x, sx, sizeof sx), (long long)x->dim[0], (long long)out_h,
                        (long long)out_w);
    const int64_t n_cols = x->dim[0] * out_plane;
    const int64_t work_floats = (patch_size + w->dim[0]) * n_cols;
    if (work_floats > SN_MAX_NUMEL || (uint64_t)work_floats > (SIZE_MAX - 64) / sizeof(float))
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: input %s with weight %s needs a workspace of %lld floats, "
                        "above the limit of 2^40",
                        sn_shape_format(x, sx, sizeof sx), sn_shape_format(w, sw, sizeof sw),
                        (long long)work_floats);
    *work_size = CONV_WORK_HEADER_BYTES + (size_t)work_floats * sizeof(float);
    const int64_t dims[4] = {x->dim[0], w->dim[0], out_h, out_w};
    return sn_shape_make(&io->out_shape, 4, dims);
}

static sn_status conv2d_forward(sn_op_io *io) {
    const conv_dims d = conv_dims_of(io);
    const conv_work work = conv_work_of(io, &d);
    const float *x = io->in[0], *weight = io->in[1], *bias = io->has_in[2] ? io->in[2] : NULL;
    float *y = io->out; /* (N, C_out, P) */

    sn_im2col(&d.geom, x, work.col);
    work.header->col_holds_patches = 1;
    /* Y (C_out, N*P) = W (C_out, K) col (K, N*P) */
    sn_sgemm(0, 0, d.c_out, d.n_cols, d.patch_size, 1.0f, weight, d.patch_size, work.col, d.n_cols,
             0.0f, work.y_mat, d.n_cols);

    /* y[n, o, :] = Y[o, n*P : (n+1)*P] + b[o] */
    const int planes = d.geom.n_batch * d.c_out;
#pragma omp parallel for schedule(static) if ((double)planes * d.out_plane > 65536)
    for (int plane = 0; plane < planes; plane++) {
        const int n = plane / d.c_out, o = plane % d.c_out;
        const float *src = work.y_mat + (size_t)o * d.n_cols + (size_t)n * d.out_plane;
        float *dst = y + (size_t)plane * d.out_plane;
        const float b = bias ? bias[o] : 0.0f;
        if (bias)
            for (int p = 0; p < d.out_plane; p++) dst[p] = src[p] + b;
        else
            for (int p = 0; p < d.out_plane; p++) dst[p] = src[p];
    }
    return SN_OK;
}

static void conv2d_backward(sn_op_io *io) {
    const conv_dims d = conv_dims_of(io);
    const conv_work work = conv_work_of(io, &d);
    const float *x = io->in[0], *weight = io->in[1], *dy = io->dout; /* dy (N, C_out, P) */
    float *dx = io->din[0], *dw = io->din[1], *db = io->has_in[2] ? io->din[2] : NULL;
    float *dy_mat = work.y_mat; /* (C_out, N*P) */

    /* dY[o, n*P + p] = dy[n, o, p] */
    const int planes = d.geom.n_batch * d.c_out;
#pragma omp parallel for schedule(static) if ((double)planes * d.out_plane > 65536)
    for (int plane = 0; plane < planes; plane++) {
        const int n = plane / d.c_out, o = plane % d.c_out;
        const float *src = dy + (size_t)plane * d.out_plane;
        float *dst = dy_mat + (size_t)o * d.n_cols + (size_t)n * d.out_plane;
        for (int p = 0; p < d.out_plane; p++) dst[p] = src[p];
    }

    if (dw) {
        if (!work.header->col_holds_patches) {
            sn_im2col(&d.geom, x, work.col);
            work.header->col_holds_patches = 1;
        }
        /* dW (C_out, K) += dY (C_out, N*P) col^T (N*P, K) */
        sn_sgemm(0, 1, d.c_out, d.patch_size, d.n_cols, 1.0f, dy_mat, d.n_cols, work.col, d.n_cols,
                 1.0f, dw, d.patch_size);
    }
    if (db) {
        /* db[o] += sum of row o of dY, in double: N*P terms can be many. */
        for (int o = 0; o < d.c_out; o++) {
            const float *row = dy_mat + (size_t)o * d.n_cols;
            double sum = 0.0;
            for (int i = 0; i < d.n_cols; i++) sum += row[i];
            db[o] += (float)sum;
        }
    }
    if (dx) {
        /* dcol (K, N*P) = W^T (K, C_out) dY (C_out, N*P), into col: dW is done. */
        sn_sgemm(1, 0, d.patch_size, d.n_cols, d.c_out, 1.0f, weight, d.patch_size, dy_mat,
                 d.n_cols, 0.0f, work.col, d.n_cols);
        work.header->col_holds_patches = 0;
        sn_col2im_add(&d.geom, work.col, dx);
    }
}

const sn_op sn_op_conv2d = {"conv2d", conv2d_infer, conv2d_forward, conv2d_backward};

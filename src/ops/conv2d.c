/*
 * conv2d: 2-D cross-correlation as torch.nn.Conv2d (dilation 1, groups 1),
 *   y[n, o, i, j] = b[o] + sum_{c, ki, kj} w[o, c, ki, kj] x[n, c, i*sh - ph + ki, j*sw - pw + kj]
 * with x read as zero in the padding.
 *   x (N, C_in, H, W)   w (C_out, C_in, kh, kw)   b (C_out) optional
 *   y (N, C_out, OH, OW), OH = (H + 2ph - kh)/sh + 1, OW = (W + 2pw - kw)/sw + 1
 *
 * As im2col + GEMM one image at a time (darknet, Caffe), with K = C_in*kh*kw,
 * P = OH*OW and torch's weight layout read as a matrix W (C_out, K). For
 * image n, col_n (K, P) = im2col(x[n]) and y[n] read as a (C_out, P) matrix:
 *   forward   y[n] = W col_n + b                                (C_out, K) x (K, P)
 *   backward  dW  += sum_n dy[n] col_n^T                        (C_out, P) x (P, K)
 *             db  += sum_n sum_p dy[n][:, p]
 *             dx[n] += col2im(W^T dy[n])                        (K, C_out) x (C_out, P)
 * y[n] and dy[n] are already (C_out, P) matrices, so no permutation is needed,
 * and col_n (K*P floats, 663 KB for Conv2d(32, 64, 3) on 26x26) stays in the
 * core's L2 between im2col and its products. A whole-batch col would be N
 * times larger (42 MB at batch 64) and stream from memory.
 *
 * Stride 1 with a small K (LeNet-5's layers, both of the benchmark CNN's
 * for dW and dx, its second for forward) goes without the patch matrix
 * where that measured faster: the products of src/backend/cpu/conv_direct.h
 * read x (a zero-padded copy, or kw shifted copies of it, much smaller than
 * col_n) and dy in place, and dx is dcol by blocks of a channel's rows,
 * each added back into dx while in L1 by a col2im that sums in registers,
 * for the chunk's images in one call. Which product goes which way depends
 * on the shapes only (sn_conv_direct_route), so the bits do not depend on
 * anything else.
 *
 * Threads (src/core/parallel.h): forward runs one chunk per image, each image
 * being independent. Backward splits the batch into n_chunks runs of
 * consecutive images, a count that depends on the shapes only; chunk c sums
 * dW and db of its images into its own partial slot, and the slots are added
 * in chunk order afterwards, so the bits do not depend on the thread count.
 * col is recomputed in backward (it is cheap and comes out cache-hot) rather
 * than kept from forward, which would cost the whole-batch matrix again.
 *
 * The work buffer, 64-byte aligned slots (sizes in floats, rounded up to 16):
 *   workers x scratch               col_n (K, P), then dcol_n in backward,
 *                                   and/or what the direct products need
 *                                   (the larger; no (K, P) when all are direct)
 *   max_chunks x dW partial (C_out, K)
 *   max_chunks x db partial (C_out) in double
 *   what the direct forward shares between its images (W^T for the
 *   channel-vector kernels, made once per forward; none otherwise)
 * max_chunks = min(N, chunk cap of the shapes) >= the chunks of any batch <= N,
 * and nothing grows as the batch shrinks, so sn_graph_set_batch fits.
 */
#include "ops/op.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/conv_direct.h"
#include "backend/cpu/conv_gemm.h"
#include "backend/cpu/conv_gemm_blocked.h"
#include "backend/cpu/im2col.h"
#include "core/parallel.h"

/* Backward chunks of a batch, at most: enough for the dynamic schedule of
 * sn_parallel_for to balance 2 threads (and a few more), few enough that the
 * partial slots and their reduction (max_chunks * C_out*K adds) stay small
 * next to the products (2*C_out*K*P multiply-adds per image). With one
 * thread, 8, 16 and 64 chunks of the batch-64 benchmark layers ran within 2%
 * of one another. */
#define CONV_MAX_CHUNKS 16
/* The dW partials together stay below this many floats (16 MiB): wide layers
 * get fewer, larger chunks rather than huge scratch. */
#define CONV_PARTIAL_BUDGET ((int64_t)1 << 22)
#define CONV_SLOT_ALIGN 16 /* floats: 64 bytes */

static int64_t round_to_slot(int64_t floats) {
    return (floats + CONV_SLOT_ALIGN - 1) / CONV_SLOT_ALIGN * CONV_SLOT_ALIGN;
}

/* The sizes of the work buffer, in floats, from shapes that infer has bounded:
 * every count here is <= 2^62 before the products with workers (<= 64) and
 * max_chunks (<= 16), which infer bounds first. */
typedef struct conv_layout {
    int64_t scratch; /* per worker: K*P, rounded */
    int64_t dw_slot; /* per chunk: C_out*K, rounded */
    int64_t db_slot; /* per chunk: C_out doubles = 2*C_out floats, rounded */
    int64_t max_chunks;
    int64_t shared; /* once: what sn_conv_direct_prepare makes for forward, rounded */
} conv_layout;

/* The chunk cap of the shapes: independent of the batch and of the threads. */
static int64_t chunk_cap(int64_t c_out, int64_t patch_size) {
    const int64_t slot = c_out * patch_size + 2 * c_out;
    const int64_t by_memory = CONV_PARTIAL_BUDGET / (slot > 0 ? slot : 1);
    const int64_t cap = by_memory < CONV_MAX_CHUNKS ? by_memory : CONV_MAX_CHUNKS;
    return cap < 1 ? 1 : cap;
}

/* direct: the products that take the direct path (a mask of SN_CONV_DIRECT_*),
 * direct_scratch what sn_conv_direct_scratch asks for them; the (K, P) im2col
 * scratch only when some product still goes through im2col. */
static conv_layout conv_layout_of(int64_t n_batch, int64_t c_out, int64_t patch_size,
                                  int64_t out_plane, int direct, int64_t direct_scratch,
                                  int64_t direct_shared) {
    conv_layout l;
    const int64_t cap = chunk_cap(c_out, patch_size);
    const int all = SN_CONV_DIRECT_FORWARD | SN_CONV_DIRECT_WEIGHT_GRAD | SN_CONV_DIRECT_INPUT_GRAD;
    l.scratch = (direct & all) == all ? 0 : round_to_slot(patch_size * out_plane);
    if (direct_scratch > l.scratch) l.scratch = round_to_slot(direct_scratch);
    l.dw_slot = round_to_slot(c_out * patch_size);
    l.db_slot = round_to_slot(2 * c_out);
    l.max_chunks = n_batch < cap ? n_batch : cap;
    l.shared = round_to_slot(direct_shared);
    return l;
}

typedef struct conv_dims {
    sn_im2col_geometry geom; /* of one image: n_batch = 1 */
    int n_batch, c_out;
    int patch_size; /* K = C_in*kh*kw: rows of col, columns of W */
    int out_plane;  /* P = OH*OW */
    /* 1x1 kernel, stride 1, no padding: col_n (C_in, H*W) is x[n] itself. */
    int col_is_input;
    int direct;                     /* the products that skip im2col: a mask of SN_CONV_DIRECT_* */
    int images_per_chunk, n_chunks; /* backward's split of the batch */
    conv_layout layout;
} conv_dims;

/* The geometry of one image of a node whose shapes infer has accepted (so
 * every size fits an int). */
static sn_im2col_geometry geometry_of(const sn_op_io *io) {
    const sn_shape *x = &io->in_shape[0], *w = &io->in_shape[1];
    sn_im2col_geometry geom;
    sn_im2col_geometry *g = &geom;
    g->n_batch = 1;
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
    return geom;
}

/* The dimensions of a node whose shapes infer has accepted. */
static conv_dims conv_dims_of(const sn_op_io *io) {
    const sn_shape *x = &io->in_shape[0], *w = &io->in_shape[1];
    conv_dims d;
    const sn_im2col_geometry *g = &d.geom;
    d.geom = geometry_of(io);
    d.n_batch = (int)x->dim[0];
    d.c_out = (int)w->dim[0];
    d.patch_size = g->channels * g->kernel_h * g->kernel_w;
    d.out_plane = g->out_h * g->out_w;
    d.col_is_input = g->kernel_h == 1 && g->kernel_w == 1 && g->stride_h == 1 && g->stride_w == 1 &&
                     g->pad_h == 0 && g->pad_w == 0;
    d.direct = sn_conv_direct_route(g, d.c_out);
    d.layout = conv_layout_of(d.n_batch, d.c_out, d.patch_size, d.out_plane, d.direct,
                              sn_conv_direct_scratch(g, d.c_out, d.direct),
                              sn_conv_direct_shared(g, d.c_out, d.direct));
    /* Consecutive images, as even as the cap allows: ceil(N / cap) per chunk. */
    const int64_t cap = chunk_cap(d.c_out, d.patch_size);
    d.images_per_chunk = (int)((d.n_batch + cap - 1) / cap);
    d.n_chunks = sn_chunk_count(d.n_batch, d.images_per_chunk);
    return d;
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
    /* K*P and C_out*K are < 2^62; each is bounded by SN_MAX_NUMEL before the
     * products with workers (<= SN_MAX_THREADS) and the chunk count (<= 16). */
    const int64_t workers = io->workers > 0 ? io->workers : 1;
    const sn_im2col_geometry geom = geometry_of(io);
    const int direct = sn_conv_direct_route(&geom, (int)w->dim[0]);
    const conv_layout l = conv_layout_of(x->dim[0], w->dim[0], patch_size, out_plane, direct,
                                         sn_conv_direct_scratch(&geom, (int)w->dim[0], direct),
                                         sn_conv_direct_shared(&geom, (int)w->dim[0], direct));
    int64_t work_floats = -1; /* -1: above the limit */
    if (l.scratch <= SN_MAX_NUMEL && l.dw_slot <= SN_MAX_NUMEL && l.shared <= SN_MAX_NUMEL)
        work_floats = workers * l.scratch + l.max_chunks * (l.dw_slot + l.db_slot) + l.shared;
    if (work_floats < 0 || work_floats > SN_MAX_NUMEL ||
        (uint64_t)work_floats > SIZE_MAX / sizeof(float))
        return sn_error(SN_ERR_SHAPE,
                        "conv2d: input %s with weight %s needs a workspace of %lld floats, "
                        "above the limit of 2^40",
                        sn_shape_format(x, sx, sizeof sx), sn_shape_format(w, sw, sizeof sw),
                        work_floats < 0 ? (long long)(patch_size * out_plane)
                                        : (long long)work_floats);
    *work_size = (size_t)work_floats * sizeof(float);
    const int64_t dims[4] = {x->dim[0], w->dim[0], out_h, out_w};
    return sn_shape_make(&io->out_shape, 4, dims);
}

/* What the chunks of one forward or backward share. */
typedef struct conv_run {
    conv_dims d;
    const float *x, *weight, *bias, *dy; /* x (N, C_in, H, W), dy (N, C_out, P) */
    float *y, *dx, *dw;                  /* y (N, C_out, P); dw, db: NULL if not wanted */
    float *db;
    float *scratch;     /* workers x (K, P) */
    float *dw_partial;  /* max_chunks x (C_out, K) */
    double *db_partial; /* max_chunks x (C_out) */
    float *shared;      /* layout.shared floats: sn_conv_direct_prepare's, for forward */
    int workers;
    int set_dx; /* io->din_set's bit 0: dx written, not added into (op.h) */
} conv_run;

static conv_run conv_run_of(sn_op_io *io) {
    conv_run r;
    r.d = conv_dims_of(io);
    r.x = io->in[0];
    r.weight = io->in[1];
    r.bias = io->has_in[2] ? io->in[2] : NULL;
    r.workers = io->workers > 0 ? io->workers : 1;
    r.scratch = io->work;
    r.dw_partial = r.scratch + (size_t)r.workers * (size_t)r.d.layout.scratch;
    r.db_partial =
        (double *)(r.dw_partial + (size_t)r.d.layout.max_chunks * (size_t)r.d.layout.dw_slot);
    r.shared = (float *)r.db_partial + (size_t)r.d.layout.max_chunks * (size_t)r.d.layout.db_slot;
    r.y = r.dx = r.dw = r.db = NULL;
    r.dy = NULL;
    r.set_dx = 0;
    return r;
}

/* The (K, P) scratch of a worker. A worker id >= workers comes only from a
 * nested call (a graph run from inside another parallel loop), which runs
 * every chunk inline on one thread: then any one slot is safe. */
static float *worker_scratch(const conv_run *r, int worker) {
    if (worker >= r->workers) worker = 0;
    return r->scratch + (size_t)worker * (size_t)r->d.layout.scratch;
}

/* x[n] (C_in, H, W) */
static const float *image_x(const conv_run *r, int n) {
    const conv_dims *d = &r->d;
    return r->x + (size_t)n * (size_t)d->geom.channels * (size_t)d->geom.height *
                      (size_t)d->geom.width; /* (C_in, H, W) */
}

/* col_n (K, P) of image n: x[n] itself for a 1x1 kernel with stride 1 and no
 * padding, else im2col into the worker's scratch. */
static const float *image_col(const conv_run *r, int n, float *scratch) {
    const conv_dims *d = &r->d;
    const float *x_n = image_x(r, n);
    if (d->col_is_input) return x_n;
    sn_im2col(&d->geom, x_n, scratch);
    return scratch;
}

/* Chunk = image n: y[n] (C_out, P) = W (C_out, K) col_n (K, P) + b. */
static void forward_image(void *ctx, int n, int worker) {
    const conv_run *r = ctx;
    const conv_dims *d = &r->d;
    float *y_n = r->y + (size_t)n * (size_t)d->c_out * (size_t)d->out_plane;
    if (d->direct & SN_CONV_DIRECT_FORWARD) {
        sn_conv_direct_forward_prepared(&d->geom, d->c_out, image_x(r, n), r->weight,
                                        d->layout.shared ? r->shared : NULL, r->bias, y_n,
                                        worker_scratch(r, worker));
        return;
    }
    const float *col = image_col(r, n, worker_scratch(r, worker));
    sn_conv_gemm_forward(d->c_out, d->patch_size, d->out_plane, r->weight, col, d->out_plane,
                         r->bias, y_n, d->out_plane);
}

static sn_status conv2d_forward(sn_op_io *io) {
    conv_run r = conv_run_of(io);
    r.y = io->out;
    if (r.d.layout.shared)
        sn_conv_direct_prepare(&r.d.geom, r.d.c_out, r.d.direct, r.weight, r.shared);
    sn_parallel_for(r.d.n_batch, r.workers, forward_image, &r);
    return SN_OK;
}

/* Chunk c = images [c*ipc, min(N, (c+1)*ipc)): dW and db of those images into
 * the chunk's own slots (zeroed first), dx of those images in place. */
static void backward_chunk(void *ctx, int chunk, int worker) {
    const conv_run *r = ctx;
    const conv_dims *d = &r->d;
    const int c_out = d->c_out, k = d->patch_size, p = d->out_plane;
    const size_t in_image = (size_t)d->geom.channels * (size_t)d->geom.height * d->geom.width;
    float *scratch = worker_scratch(r, worker); /* (K, P) */
    float *dw_part = r->dw ? r->dw_partial + (size_t)chunk * (size_t)d->layout.dw_slot : NULL;
    double *db_part = r->db ? r->db_partial + (size_t)chunk * (size_t)d->layout.db_slot / 2 : NULL;
    if (dw_part) memset(dw_part, 0, (size_t)c_out * (size_t)k * sizeof *dw_part);
    if (db_part)
        for (int o = 0; o < c_out; o++) db_part[o] = 0.0;

    const int first = chunk * d->images_per_chunk;
    const int last =
        first + d->images_per_chunk < d->n_batch ? first + d->images_per_chunk : d->n_batch;
    if (r->dx && r->set_dx) /* din_set: this chunk's images of dx, cleared where they are added */
        memset(r->dx + (size_t)first * in_image, 0,
               (size_t)(last - first) * in_image * sizeof *r->dx);
    if (dw_part && (d->direct & SN_CONV_DIRECT_WEIGHT_GRAD))
        /* dW_c += the chunk's images at once (conv_direct.h) */
        sn_conv_direct_weight_grad(&d->geom, c_out, last - first, image_x(r, first),
                                   r->dy + (size_t)first * (size_t)c_out * (size_t)p, dw_part,
                                   scratch);
    for (int n = first; n < last; n++) {
        const float *dy_n = r->dy + (size_t)n * (size_t)c_out * (size_t)p; /* (C_out, P) */
        if (dw_part && !(d->direct & SN_CONV_DIRECT_WEIGHT_GRAD)) {
            /* dW_c (C_out, K) += dy[n] (C_out, P) col_n^T (P, K) */
            const float *col = image_col(r, n, scratch);
            sn_conv_gemm_weight_grad(c_out, k, p, dy_n, p, col, p, dw_part);
        }
        if (db_part) {
            /* db_c[o] += sum_p dy[n, o, p], in double: N*P terms in all, each
             * row's in 32 lanes and a fixed tree (sn_conv_gemm_row_sum). */
            for (int o = 0; o < c_out; o++)
                db_part[o] += sn_conv_gemm_row_sum(dy_n + (size_t)o * (size_t)p, p);
        }
        if (r->dx && !(d->direct & SN_CONV_DIRECT_INPUT_GRAD)) {
            /* dcol (K, P) = W^T (K, C_out) dy[n] (C_out, P), into the scratch
             * (col_n is done with); then dx[n] += col2im(dcol). */
            sn_conv_gemm_input_grad(c_out, k, p, r->weight, dy_n, p, scratch, p);
            sn_col2im_add(&d->geom, scratch, r->dx + (size_t)n * in_image);
        }
    }
    if (r->dx && (d->direct & SN_CONV_DIRECT_INPUT_GRAD))
        /* dx of the chunk's images (conv_direct.h) */
        sn_conv_direct_input_grad(&d->geom, c_out, last - first, r->weight,
                                  r->dy + (size_t)first * (size_t)c_out * (size_t)p,
                                  r->dx + (size_t)first * in_image, scratch);
}

static void conv2d_backward(sn_op_io *io) {
    conv_run r = conv_run_of(io);
    r.dy = io->dout;
    r.dx = io->din[0];
    r.set_dx = (io->din_set & 1u) != 0;
    r.dw = io->din[1];
    r.db = io->has_in[2] ? io->din[2] : NULL;
    if (!r.dx && !r.dw && !r.db) return;
    const conv_dims *d = &r.d;
    sn_parallel_for(d->n_chunks, r.workers, backward_chunk, &r);

    /* The partials in chunk order, whatever thread ran which chunk:
     * dW += ((P_0 + P_1) + P_2) + ..., summed into P_0 first; dW = 0 + ...
     * when backward writes it (io->din_set, SN_OP_BWD_CAN_SET), as db. */
    const int set_dw = (io->din_set & 2u) != 0, set_db = (io->din_set & 4u) != 0;
    if (r.dw) {
        const size_t count = (size_t)d->c_out * (size_t)d->patch_size;
        float *total = r.dw_partial;
        for (int c = 1; c < d->n_chunks; c++) {
            const float *part = r.dw_partial + (size_t)c * (size_t)d->layout.dw_slot;
            for (size_t i = 0; i < count; i++) total[i] += part[i];
        }
        if (set_dw)
            for (size_t i = 0; i < count; i++) r.dw[i] = 0.0f + total[i];
        else
            for (size_t i = 0; i < count; i++) r.dw[i] += total[i];
    }
    if (r.db) {
        for (int o = 0; o < d->c_out; o++) {
            double sum = 0.0;
            for (int c = 0; c < d->n_chunks; c++)
                sum += r.db_partial[(size_t)c * (size_t)d->layout.db_slot / 2 + (size_t)o];
            r.db[o] = (set_db ? 0.0f : r.db[o]) + (float)sum;
        }
    }
}

/* backward reads x and w (never y or the bias) and rebuilds its scratch. */
const sn_op sn_op_conv2d = {"conv2d", conv2d_infer, conv2d_forward, conv2d_backward,
                            SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(2) | SN_OP_WORK_PER_CALL |
                                SN_OP_BWD_CAN_SET};

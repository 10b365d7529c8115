/*
 * linear: y = x W^T + b, as torch.nn.functional.linear.
 *   x (N, in)   W (out, in)   b (out) optional   y (N, out)
 * Backward (all three are GEMMs or a column sum, accumulated):
 *   dx += dy W          (N, out) x (out, in)
 *   dW += dy^T x        (out, N) x (N, in)
 *   db += sum_n dy[n]   (out)
 */
#include "ops/op.h"

#include "backend/cpu/gemm.h"
#include "ops/chunks.h"

static sn_status linear_infer(sn_op_io *io, size_t *work_size) {
    const sn_shape *x = &io->in_shape[0], *w = &io->in_shape[1], *b = &io->in_shape[2];
    char sx[64], sw[64];
    if (x->ndim != 2)
        return sn_error(SN_ERR_SHAPE, "linear: input must be (N, in_features), got %s",
                        sn_shape_format(x, sx, sizeof sx));
    if (w->ndim != 2)
        return sn_error(SN_ERR_SHAPE, "linear: weight must be (out_features, in_features), got %s",
                        sn_shape_format(w, sw, sizeof sw));
    if (x->dim[1] != w->dim[1])
        return sn_error(SN_ERR_SHAPE, "linear: input has %lld features but weight %s expects %lld",
                        (long long)x->dim[1], sn_shape_format(w, sw, sizeof sw),
                        (long long)w->dim[1]);
    if (x->dim[0] > INT32_MAX || w->dim[0] > INT32_MAX || w->dim[1] > INT32_MAX)
        return sn_error(SN_ERR_SHAPE, "linear: sizes above 2^31 are not supported");
    if (io->has_in[2] && (b->ndim != 1 || b->dim[0] != w->dim[0]))
        return sn_error(SN_ERR_SHAPE, "linear: bias must be (%lld), got %s", (long long)w->dim[0],
                        sn_shape_format(b, sx, sizeof sx));
    int64_t dims[2] = {x->dim[0], w->dim[0]};
    *work_size = 0;
    return sn_shape_make(&io->out_shape, 2, dims);
}

/* The bias passes run on the pool (src/ops/chunks.h): the broadcast over
 * chunks of rows of y, the column sum over chunks of columns of dy, each
 * column summed by one chunk in row order, so any thread count gives the
 * same bits. The GEMMs cut themselves (src/backend/cpu/gemm.c). */
typedef struct linear_job {
    const sn_op_io *io;
    int n, out;
} linear_job;

/* Rows [first, end) of y (N, out) = b. */
static void linear_bias_rows(void *ctx, int64_t first, int64_t end) {
    const linear_job *job = ctx;
    const float *restrict b = job->io->in[2]; /* (out) */
    float *restrict y = job->io->out;         /* (N, out) */
    for (int64_t i = first; i < end; i++)
        for (int o = 0; o < job->out; o++) y[i * job->out + o] = b[o];
}

/* Columns [first, end) of db (out) += sum_n dy[n]. */
static void linear_bias_grad_columns(void *ctx, int64_t first, int64_t end) {
    const linear_job *job = ctx;
    const float *restrict dy = job->io->dout; /* (N, out) */
    float *restrict db = job->io->din[2];     /* (out) */
    for (int64_t i = 0; i < job->n; i++)
        for (int64_t o = first; o < end; o++) db[o] += dy[i * job->out + o];
}

static sn_status linear_forward(sn_op_io *io) {
    const int n = (int)io->in_shape[0].dim[0], in = (int)io->in_shape[1].dim[1];
    const int out = (int)io->in_shape[1].dim[0];
    const float *x = io->in[0], *w = io->in[1], *b = io->in[2];
    float *y = io->out;
    if (b) {
        /* y starts as the broadcast bias, then the GEMM adds x W^T with beta = 1. */
        linear_job job = {io, n, out};
        sn_parallel_items(n, out, io->workers, linear_bias_rows, &job);
    }
    sn_sgemm(0, 1, n, out, in, 1.0f, x, in, w, in, b ? 1.0f : 0.0f, y, out);
    return SN_OK;
}

static void linear_backward(sn_op_io *io) {
    const int n = (int)io->in_shape[0].dim[0], in = (int)io->in_shape[1].dim[1];
    const int out = (int)io->in_shape[1].dim[0];
    const float *x = io->in[0], *w = io->in[1], *dy = io->dout;
    if (io->din[0]) sn_sgemm(0, 0, n, in, out, 1.0f, dy, out, w, in, 1.0f, io->din[0], in);
    if (io->din[1]) sn_sgemm(1, 0, out, in, n, 1.0f, dy, out, x, in, 1.0f, io->din[1], in);
    if (io->din[2]) {
        /* Chunks of whole columns, about SN_CHUNK_FLOATS of dy each. */
        linear_job job = {io, n, out};
        sn_parallel_items(out, n, io->workers, linear_bias_grad_columns, &job);
    }
}

/* Backward reads x (for dW) and W (for dx), never y or b. */
const sn_op sn_op_linear = {"linear", linear_infer, linear_forward, linear_backward,
                            SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(2)};

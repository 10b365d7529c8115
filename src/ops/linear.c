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
#include "backend/cpu/gemm_skip.h"
#include "core/parallel.h"
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

/* Forward and backward each run as ONE job on the pool (src/core/parallel.h):
 * the blocks of sn_sgemm's cut of each product (gemm.h: whole kernel panels,
 * 1, 2 or 4 per product by its size, the same for any thread count), with the
 * bias passes fused in:
 *   forward   chunk c: y's block c (rows or columns) = x W^T + b, the bias
 *             added by the GEMM as it stores its first K slice (the bits of
 *             filling y with b and adding x W^T; no pass over y before);
 *   backward  the blocks of dx = dy W, then those of dW = dy^T x, then db in
 *             chunks of whole columns of dy (each column summed by one chunk,
 *             rows in order). dx and dW are independent, so their blocks share
 *             the threads: LeNet-5's Linear(120, 84) has one block each.
 *             When dy has come back through a ReLU or dropout, enough of it
 *             is exactly zero that dW skips those terms (gemm_skip.h: the
 *             bits of the own kernel's product, which sn_sgemm would run).
 * Every element is computed by one chunk in an order fixed by the shapes, so
 * any thread count gives the same bits, those of sn_sgemm's. */
typedef struct linear_job {
    const sn_op_io *io;
    int n, out;
    sn_sgemm_job y;            /* forward */
    sn_sgemm_job dx, dw;       /* backward; chunks = 0 when the gradient is not wanted */
    sn_sgemm_skip_job dw_skip; /* dW with dy's zeros skipped, instead of dw */
    int db_chunks, db_per;     /* db: chunks of db_per columns */
} linear_job;

/* y's block `chunk` of y = x W^T + b (the bias added by the GEMM, gemm.h). */
static void linear_forward_chunk(void *ctx, int chunk, int worker) {
    (void)worker;
    const linear_job *job = ctx;
    sn_sgemm_run_block(&job->y, chunk);
}

/* Threads for a job of `flops`: one below LINEAR_POOL_MIN_FLOPS, where
 * handing out a pool job costs more than it saves. LeNet-5's Linear(84, 10)
 * backward (0.2 MFLOP, ~1 us of one core: dx, dW and db one chunk each)
 * measured 3.3 us inline, 12 us as a job on 2 threads of a busy machine. */
#define LINEAR_POOL_MIN_FLOPS 1000000.0
static int linear_workers(const sn_op_io *io, double flops) {
    return flops >= LINEAR_POOL_MIN_FLOPS ? io->workers : 1;
}

/* Columns [first, end) of db (out) += sum_n dy[n], n ascending; under
 * din_set (op.h) db = 0 first, in this chunk: the bits of clear-then-add. */
static void linear_bias_grad_columns(const linear_job *job, int first, int end) {
    const float *restrict dy = job->io->dout; /* (N, out) */
    float *restrict db = job->io->din[2];     /* (out) */
    if (job->io->din_set & (1u << 2))
        for (int o = first; o < end; o++) db[o] = 0.0f;
    for (int64_t i = 0; i < job->n; i++)
        for (int o = first; o < end; o++) db[o] += dy[i * job->out + o];
}

/* Chunks [0, dx) are dx's blocks, then dW's, then db's. */
static void linear_backward_chunk(void *ctx, int chunk, int worker) {
    (void)worker;
    const linear_job *job = ctx;
    if (chunk < job->dx.chunks) {
        sn_sgemm_run_block(&job->dx, chunk);
        return;
    }
    chunk -= job->dx.chunks;
    if (chunk < job->dw.chunks) {
        sn_sgemm_run_block(&job->dw, chunk);
        return;
    }
    chunk -= job->dw.chunks;
    if (chunk < job->dw_skip.chunks) {
        sn_sgemm_skip_run_block(&job->dw_skip, chunk);
        return;
    }
    chunk -= job->dw_skip.chunks;
    const int first = chunk * job->db_per;
    linear_bias_grad_columns(job, first,
                             first + job->db_per < job->out ? first + job->db_per : job->out);
}

static sn_status linear_forward(sn_op_io *io) {
    const int n = (int)io->in_shape[0].dim[0], in = (int)io->in_shape[1].dim[1];
    const int out = (int)io->in_shape[1].dim[0];
    const float *x = io->in[0], *w = io->in[1], *b = io->in[2];
    linear_job job = {.io = io, .n = n, .out = out};
    /* y = x W^T + b */
    job.y = sn_sgemm_plan(0, 1, n, out, in, 1.0f, x, in, w, in, 0.0f, io->out, out);
    job.y.bias = b;
    sn_parallel_for(job.y.chunks, linear_workers(io, 2.0 * n * out * in), linear_forward_chunk,
                    &job);
    return SN_OK;
}

static void linear_backward(sn_op_io *io) {
    const int n = (int)io->in_shape[0].dim[0], in = (int)io->in_shape[1].dim[1];
    const int out = (int)io->in_shape[1].dim[0];
    const float *x = io->in[0], *w = io->in[1], *dy = io->dout;
    linear_job job = {.io = io, .n = n, .out = out};
    if (io->din[0]) /* written (beta = 0) under din_set, as dW below */
        job.dx = sn_sgemm_plan(0, 0, n, in, out, 1.0f, dy, out, w, in,
                               io->din_set & 1u ? 0.0f : 1.0f, io->din[0], in);
    /* dW written (beta = 0) under din_set: the own kernel's sums start from
     * +0, so C = s has the bits of 0 + s (no -0 to turn into +0). */
    if (io->din[1]) {
        const float beta = io->din_set & (1u << 1) ? 0.0f : 1.0f;
        job.dw_skip = sn_sgemm_skip_plan(out, in, n, dy, out, x, in, beta, io->din[1], in);
        if (!job.dw_skip.chunks)
            job.dw = sn_sgemm_plan(1, 0, out, in, n, 1.0f, dy, out, x, in, beta, io->din[1], in);
    }
    if (io->din[2]) {
        /* Chunks of whole columns, about SN_CHUNK_FLOATS of dy each (src/ops/chunks.h). */
        job.db_per = (int)sn_items_per_chunk(n);
        job.db_chunks = sn_chunk_count(out, job.db_per);
    }
    const double flops = 2.0 * n * out * in * ((io->din[0] != NULL) + (io->din[1] != NULL));
    sn_parallel_for(job.dx.chunks + job.dw.chunks + job.dw_skip.chunks + job.db_chunks,
                    linear_workers(io, flops), linear_backward_chunk, &job);
}

/* Backward reads x (for dW) and W (for dx), never y or b. */
const sn_op sn_op_linear = {"linear", linear_infer, linear_forward, linear_backward,
                            SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(2) | SN_OP_BWD_CAN_SET};

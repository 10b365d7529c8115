/*
 * dropout: inverted dropout, as torch.nn.functional.dropout.
 *   x (any)   y (same shape)   work: mask (numel floats), 0 or 1/(1-p)
 * Training: each element i is kept when u_i >= p, u_i ~ U[0,1) the
 * counter-based draw sn_rng_uniform_at(key, i) (sinapsi/rng.h) with one key per
 * forward call from the graph's dropout stream (io->rng), so that the draws of
 * different spans are independent and run on the pool's threads and in vector
 * lanes (one u64 of the stream per call: a checkpoint's saved stream resumes
 * the same masks). A kept element is scaled by
 * 1/(1-p) so that E[y] = x and evaluation needs no rescaling. The mask holds the
 * factor itself (0 or 1/(1-p), as torch's noise tensor after div_(1-p)), so that
 * backward is dx += dy * mask. As torch: p == 0 is the identity and p == 1 gives
 * zeros, neither drawing any random number; in evaluation mode (io->training ==
 * 0) dropout is the identity and backward passes dy through.
 * It may run in place (SN_OP_INPLACE, src/ops/op.h): backward reads only the
 * mask, and with dx == dy writes dx = 0 + dy * mask.
 */
#include "ops/op.h"

#include <string.h>

#include "ops/chunks.h"

static sn_status dropout_infer(sn_op_io *io, size_t *work_size) {
    const float p = io->attr->p;
    if (!(p >= 0.0f && p <= 1.0f)) /* also rejects NaN */
        return sn_error(SN_ERR_INVALID_ARG,
                        "dropout: probability has to be between 0 and 1, but got %g", (double)p);
    io->out_shape = io->in_shape[0];
    *work_size = (size_t)sn_shape_numel(&io->out_shape) * sizeof(float);
    return SN_OK;
}

/* The elementwise passes run over spans taken by the pool's threads
 * (src/ops/chunks.h); every element's draw depends on its index only. */
typedef struct dropout_job {
    const sn_op_io *io;
    float keep;   /* the mask value of a kept element: 1/(1-p); 1 or 0 when p is 0 or 1 */
    uint64_t key; /* this call's draws: sn_rng_uniform_at(key, i) */
} dropout_job;

/* Evaluation: y = x (nothing to do in place). */
static void dropout_copy_span(void *ctx, int64_t begin, int64_t end) {
    const dropout_job *job = ctx;
    if (job->io->out != job->io->in[0])
        memcpy(job->io->out + begin, job->io->in[0] + begin, (size_t)(end - begin) * sizeof(float));
}

/* p == 0 or 1: the mask is the constant `keep`, y = x * keep. */
static void dropout_fill_span(void *ctx, int64_t begin, int64_t end) {
    const dropout_job *job = ctx;
    float *restrict mask = job->io->work;
    for (int64_t i = begin; i < end; i++) mask[i] = job->keep;
}

/* Training, 0 < p < 1: mask = keep (= 1/(1-p)) where u_i >= p, else 0, and
 * y = x * mask, in one pass. 590K elements (the benchmark CNN's first
 * dropout), 2 threads: 673 us when the draws were one xoshiro sequence
 * (serial, ~1 ns each) before two more passes. */
static void dropout_draw_span(void *ctx, int64_t begin, int64_t end) {
    const dropout_job *job = ctx;
    const float p = job->io->attr->p, keep = job->keep;
    const uint64_t key = job->key;
    const float *x = job->io->in[0]; /* y may be x */
    float *restrict mask = job->io->work;
    float *y = job->io->out;
    for (int64_t i = begin; i < end; i++) {
        const float m = sn_rng_uniform_at(key, (uint64_t)i) >= p ? keep : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

/* p == 0 or 1: y = x * keep. */
static void dropout_apply_span(void *ctx, int64_t begin, int64_t end) {
    const dropout_job *job = ctx;
    const float *x = job->io->in[0], *restrict mask = job->io->work; /* y may be x */
    float *y = job->io->out;
    for (int64_t i = begin; i < end; i++) y[i] = x[i] * mask[i];
}

static void dropout_backward_span(void *ctx, int64_t begin, int64_t end) {
    const dropout_job *job = ctx;
    const float *dy = job->io->dout, *restrict mask = job->io->work; /* dy may be dx */
    float *dx = job->io->din[0];
    const int accumulate = dx != dy; /* else dx = 0 + ..., see SN_OP_INPLACE */
    if (!job->io->training) {
        for (int64_t i = begin; i < end; i++) dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i];
        return;
    }
    /* One expression, as the += it replaces (an fma where the compiler contracts). */
    for (int64_t i = begin; i < end; i++) dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i] * mask[i];
}

static sn_status dropout_forward(sn_op_io *io) {
    const int64_t n = sn_shape_numel(&io->out_shape);
    const float p = io->attr->p;
    /* io->work (n): the mask, 0 or 1/(1-p), read by backward */
    dropout_job job = {.io = io, .keep = p == 0.0f ? 1.0f : 0.0f};
    if (!io->training) {
        sn_parallel_items(n, 1, io->workers, dropout_copy_span, &job);
        return SN_OK;
    }
    if (p == 0.0f || p == 1.0f) {
        sn_parallel_items(n, 1, io->workers, dropout_fill_span, &job);
        sn_parallel_items(n, 1, io->workers, dropout_apply_span, &job);
        return SN_OK;
    }
    job.keep = 1.0f / (1.0f - p);
    job.key = sn_rng_u64(io->rng);
    sn_parallel_items(n, 1, io->workers, dropout_draw_span, &job);
    return SN_OK;
}

static void dropout_backward(sn_op_io *io) {
    if (!io->din[0]) return;
    dropout_job job = {.io = io};
    sn_parallel_items(sn_shape_numel(&io->out_shape), 1, io->workers, dropout_backward_span, &job);
}

const sn_op sn_op_dropout = {"dropout", dropout_infer, dropout_forward, dropout_backward,
                             SN_OP_INPLACE | SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0)};

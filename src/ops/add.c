/*
 * add: y = a + b with PyTorch broadcasting (torch.add; "Broadcasting semantics"
 * in the torch docs): shapes align from the right, a missing leading dim counts
 * as 1, and in each position the sizes are equal or one of them is 1.
 *   a (..)   b (..)   y (broadcast shape, up to 4-D)
 * Backward: da += dy summed over the dims where a was broadcast, likewise db
 * (torch's sum_to_size). The sums over broadcast dims are accumulated in double
 * in the work buffer, so a bias-like (C,1,1) gradient summed over N*H*W terms
 * stays accurate to float rounding whatever the batch size.
 */
#include "ops/op.h"

#include <string.h>

#include "ops/chunks.h"

/* Both inputs seen as 4-D strided views of the output's index space, with
 * stride 0 along broadcast dims. Adjacent dims are merged where both views are
 * contiguous across them, so the common cases run as one long inner loop. */
typedef struct broadcast {
    int ndim;             /* 1..4 after merging */
    int64_t dim[4];       /* output sizes */
    int64_t stride[2][4]; /* element strides of a and b (0 where broadcast) */
} broadcast;

static int64_t padded_dim(const sn_shape *s, int ndim, int i) {
    int k = i - (ndim - s->ndim); /* right-aligned position in s */
    return k >= 0 ? s->dim[k] : 1;
}

static void broadcast_make(const sn_op_io *io, broadcast *bc) {
    const int ndim = io->out_shape.ndim > 0 ? io->out_shape.ndim : 1;
    int64_t dim[4], stride[2][4];
    for (int i = 0; i < ndim; i++) dim[i] = io->out_shape.ndim > 0 ? io->out_shape.dim[i] : 1;
    for (int t = 0; t < 2; t++) {
        int64_t step = 1;
        for (int i = ndim - 1; i >= 0; i--) {
            int64_t d = padded_dim(&io->in_shape[t], ndim, i);
            stride[t][i] = d == 1 ? 0 : step;
            step *= d;
        }
    }
    /* Merge dim i into the previous merged dim when both views step uniformly across it. */
    bc->ndim = 1;
    bc->dim[0] = dim[0];
    for (int t = 0; t < 2; t++) bc->stride[t][0] = stride[t][0];
    for (int i = 1; i < ndim; i++) {
        if (dim[i] == 1) continue; /* a size-1 output dim moves no offset */
        int last = bc->ndim - 1;
        int mergeable = 1;
        for (int t = 0; t < 2; t++) mergeable &= bc->stride[t][last] == stride[t][i] * dim[i];
        if (mergeable) {
            bc->dim[last] *= dim[i];
            for (int t = 0; t < 2; t++) bc->stride[t][last] = stride[t][i];
        } else {
            bc->dim[bc->ndim] = dim[i];
            for (int t = 0; t < 2; t++) bc->stride[t][bc->ndim] = stride[t][i];
            bc->ndim++;
        }
    }
}

/* Offset in input t of the first element of output row `row`, where a row is
 * one run of the innermost merged dim. */
static int64_t row_offset(const broadcast *bc, int t, int64_t row) {
    int64_t offset = 0;
    for (int i = bc->ndim - 2; i >= 0; i--) {
        offset += (row % bc->dim[i]) * bc->stride[t][i];
        row /= bc->dim[i];
    }
    return offset;
}

static int64_t row_count(const broadcast *bc) {
    int64_t rows = 1;
    for (int i = 0; i < bc->ndim - 1; i++) rows *= bc->dim[i];
    return rows;
}

static sn_status add_infer(sn_op_io *io, size_t *work_size) {
    const sn_shape *a = &io->in_shape[0], *b = &io->in_shape[1];
    const int ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t dims[SN_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int64_t da = padded_dim(a, ndim, i), db = padded_dim(b, ndim, i);
        if (da != db && da != 1 && db != 1) {
            char sa[64], sb[64];
            return sn_error(SN_ERR_SHAPE,
                            "add: shapes %s and %s do not broadcast (dim %d: %lld vs %lld; "
                            "sizes must be equal or 1, aligned from the right)",
                            sn_shape_format(a, sa, sizeof sa), sn_shape_format(b, sb, sizeof sb), i,
                            (long long)da, (long long)db);
        }
        dims[i] = da > db ? da : db;
    }
    sn_status st = sn_shape_make(&io->out_shape, ndim, dims);
    if (st != SN_OK) return st;
    /* One double accumulator per element of each broadcast input (see backward). */
    const int64_t numel = sn_shape_numel(&io->out_shape);
    size_t doubles = 0;
    for (int t = 0; t < 2; t++)
        if (sn_shape_numel(&io->in_shape[t]) != numel)
            doubles += (size_t)sn_shape_numel(&io->in_shape[t]);
    *work_size = doubles * sizeof(double);
    return SN_OK;
}

/* Forward runs over chunks of whole rows, backward's full-size gradients over
 * spans, both taken by the pool's threads (src/ops/chunks.h): each output
 * element is computed alone, so any thread count gives the same bits. The
 * sums over broadcast dims stay serial (their order is part of the result);
 * they are small for a bias-like operand. */
typedef struct add_job {
    const sn_op_io *io;
    broadcast bc;
    int64_t inner; /* length of a row: the innermost merged dim */
    int slot;      /* backward: the input whose gradient is added */
} add_job;

static void add_forward_rows(void *ctx, int64_t first, int64_t end) {
    const add_job *job = ctx;
    const broadcast *bc = &job->bc;
    const int64_t inner = job->inner;
    const int64_t sa = bc->stride[0][bc->ndim - 1], sb = bc->stride[1][bc->ndim - 1];
    for (int64_t r = first; r < end; r++) {
        const float *a = job->io->in[0] + row_offset(bc, 0, r); /* (inner) with stride sa */
        const float *b = job->io->in[1] + row_offset(bc, 1, r); /* (inner) with stride sb */
        float *y = job->io->out + r * inner;                    /* (inner) */
        for (int64_t i = 0; i < inner; i++) y[i] = a[i * sa] + b[i * sb];
    }
}

static void add_backward_span(void *ctx, int64_t begin, int64_t end) {
    const add_job *job = ctx;
    const float *restrict dy = job->io->dout; /* (out numel) */
    float *restrict din = job->io->din[job->slot];
    for (int64_t i = begin; i < end; i++) din[i] += dy[i];
}

static sn_status add_forward(sn_op_io *io) {
    add_job job = {.io = io};
    broadcast_make(io, &job.bc);
    job.inner = job.bc.dim[job.bc.ndim - 1];
    sn_parallel_items(row_count(&job.bc), job.inner, io->workers, add_forward_rows, &job);
    return SN_OK;
}

static void add_backward(sn_op_io *io) {
    const float *dy = io->dout; /* (out numel) */
    const int64_t numel = sn_shape_numel(&io->out_shape);
    add_job job = {.io = io};
    broadcast_make(io, &job.bc);
    const broadcast *bc = &job.bc;
    const int64_t rows = row_count(bc), inner = bc->dim[bc->ndim - 1];
    double *acc = io->work; /* (numel a) if a broadcasts, then (numel b) if b broadcasts */
    for (int t = 0; t < 2; t++) {
        const int64_t n_in = sn_shape_numel(&io->in_shape[t]);
        float *din = io->din[t];
        if (n_in == numel) {
            job.slot = t;
            if (din) sn_parallel_items(numel, 1, io->workers, add_backward_span, &job);
            continue;
        }
        if (din) {
            const int64_t s = bc->stride[t][bc->ndim - 1];
            memset(acc, 0, (size_t)n_in * sizeof *acc);
            for (int64_t r = 0; r < rows; r++) {
                double *acc_row = acc + row_offset(bc, t, r);
                const float *dy_row = dy + r * inner;
                for (int64_t i = 0; i < inner; i++) acc_row[i * s] += dy_row[i];
            }
            for (int64_t i = 0; i < n_in; i++) din[i] += (float)acc[i];
        }
        acc += n_in;
    }
}

/* Backward sums dy only; its work is written and read within backward. */
const sn_op sn_op_add = {"add", add_infer, add_forward, add_backward,
                         SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0) | SN_OP_BWD_NO_IN(1)};

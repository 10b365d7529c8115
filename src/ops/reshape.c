/*
 * reshape: the same elements in row-major order under a new shape, as
 * torch.reshape on a contiguous tensor; sn_flatten is reshape to (0, -1), i.e.
 * torch.flatten(x, 1).
 *   x (any)   y (attr.shape resolved)
 * attr.shape may hold one -1 (inferred from the element count, as torch) and,
 * in position 0 only, a 0 meaning "keep the input's dim 0" (the batch), so that
 * flatten needs no knowledge of N when the graph is built.
 * Forward copies; backward dx += dy (the same element order). The graph's plan
 * may make y x itself (SN_OP_ALIAS, src/ops/op.h): forward then does nothing,
 * and with dx == dy backward does dx = 0 + dy, the bits of clear-then-add.
 */
#include "ops/op.h"

#include <string.h>

#include "ops/chunks.h"

static sn_status reshape_infer(sn_op_io *io, size_t *work_size) {
    const sn_shape *x = &io->in_shape[0], *target = &io->attr->shape;
    char sx[64], st[64];
    *work_size = 0;
    if (target->ndim < 0 || target->ndim > SN_MAX_DIMS)
        return sn_error(SN_ERR_SHAPE,
                        "reshape: the target shape must have 0 to %d dims "
                        "(a NULL shape or a bad ndim was given)",
                        SN_MAX_DIMS);
    const int64_t numel = sn_shape_numel(x);
    int64_t dims[SN_MAX_DIMS], known = 1;
    int inferred = -1;
    for (int i = 0; i < target->ndim; i++) {
        int64_t d = target->dim[i];
        if (d == 0 && i == 0) {
            if (x->ndim < 1)
                return sn_error(SN_ERR_SHAPE,
                                "reshape: target dim 0 = 0 keeps the input's "
                                "dim 0, but the input %s is a scalar",
                                sn_shape_format(x, sx, sizeof sx));
            d = x->dim[0];
        } else if (d == -1) {
            if (inferred >= 0)
                return sn_error(SN_ERR_SHAPE, "reshape: target %s has more than one -1",
                                sn_shape_format(target, st, sizeof st));
            inferred = i;
            dims[i] = 1;
            continue;
        } else if (d < 1) {
            return sn_error(SN_ERR_SHAPE,
                            "reshape: target %s has size %lld in dim %d (sizes are "
                            ">= 1, or -1 to infer, or 0 in dim 0 to keep the batch)",
                            sn_shape_format(target, st, sizeof st), (long long)d, i);
        }
        dims[i] = d;
        if (sn_mul_checked(known, d, SN_MAX_NUMEL, &known) != SN_OK)
            return sn_error(SN_ERR_SHAPE, "reshape: target %s has more than 2^40 elements",
                            sn_shape_format(target, st, sizeof st));
    }
    if (inferred >= 0) {
        if (numel % known != 0)
            return sn_error(SN_ERR_SHAPE,
                            "reshape: cannot reshape %s (%lld elements) into %s: "
                            "%lld is not a multiple of %lld",
                            sn_shape_format(x, sx, sizeof sx), (long long)numel,
                            sn_shape_format(target, st, sizeof st), (long long)numel,
                            (long long)known);
        dims[inferred] = numel / known;
        known = numel;
    }
    if (known != numel)
        return sn_error(SN_ERR_SHAPE,
                        "reshape: cannot reshape %s (%lld elements) into %s "
                        "(%lld elements)",
                        sn_shape_format(x, sx, sizeof sx), (long long)numel,
                        sn_shape_format(target, st, sizeof st), (long long)known);
    return sn_shape_make(&io->out_shape, target->ndim, dims);
}

/* Both directions run over spans taken by the pool's threads (src/ops/chunks.h). */
static void reshape_forward_span(void *ctx, int64_t begin, int64_t end) {
    const sn_op_io *io = ctx;
    memcpy(io->out + begin, io->in[0] + begin, (size_t)(end - begin) * sizeof(float));
}

static void reshape_backward_span(void *ctx, int64_t begin, int64_t end) {
    const sn_op_io *io = ctx;
    const float *dy = io->dout;      /* (n); not restrict: may be dx */
    float *dx = io->din[0];          /* (n) */
    const int accumulate = dx != dy; /* else dx = 0 + dy: -0 becomes +0 as when cleared */
    for (int64_t i = begin; i < end; i++) dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i];
}

static sn_status reshape_forward(sn_op_io *io) {
    if (io->out == io->in[0]) return SN_OK; /* an alias: the elements are already there */
    sn_parallel_items(sn_shape_numel(&io->out_shape), 1, io->workers, reshape_forward_span, io);
    return SN_OK;
}

static void reshape_backward(sn_op_io *io) {
    if (!io->din[0]) return;
    sn_parallel_items(sn_shape_numel(&io->out_shape), 1, io->workers, reshape_backward_span, io);
}

const sn_op sn_op_reshape = {"reshape", reshape_infer, reshape_forward, reshape_backward,
                             SN_OP_ALIAS | SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0)};

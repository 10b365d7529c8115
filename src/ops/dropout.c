/*
 * dropout: inverted dropout, as torch.nn.functional.dropout.
 *   x (any)   y (same shape)   work: mask (numel floats), 0 or 1/(1-p)
 * Training: each element is kept when u >= p, u ~ U[0,1) drawn in element order
 * from the graph's dropout stream (io->rng), and a kept element is scaled by
 * 1/(1-p) so that E[y] = x and evaluation needs no rescaling. The mask holds the
 * factor itself (0 or 1/(1-p), as torch's noise tensor after div_(1-p)), so that
 * backward is dx += dy * mask. As torch: p == 0 is the identity and p == 1 gives
 * zeros, neither drawing any random number; in evaluation mode (io->training ==
 * 0) dropout is the identity and backward passes dy through.
 */
#include "ops/op.h"

#include <string.h>

static sn_status dropout_infer(sn_op_io *io, size_t *work_size) {
    const float p = io->attr->p;
    if (!(p >= 0.0f && p <= 1.0f)) /* also rejects NaN */
        return sn_error(SN_ERR_INVALID_ARG,
                        "dropout: probability has to be between 0 and 1, but got %g", (double)p);
    io->out_shape = io->in_shape[0];
    *work_size = (size_t)sn_shape_numel(&io->out_shape) * sizeof(float);
    return SN_OK;
}

static sn_status dropout_forward(sn_op_io *io) {
    const int64_t n = sn_shape_numel(&io->out_shape);
    const float p = io->attr->p;
    const float *x = io->in[0]; /* (n) */
    float *y = io->out;         /* (n) */
    float *mask = io->work;     /* (n): 0 or 1/(1-p), read by backward */
    if (!io->training) {
        memcpy(y, x, (size_t)n * sizeof *y);
        return SN_OK;
    }
    if (p == 0.0f || p == 1.0f) {
        const float keep = p == 0.0f ? 1.0f : 0.0f;
        for (int64_t i = 0; i < n; i++) mask[i] = keep;
    } else {
        const float scale = 1.0f / (1.0f - p);
        for (int64_t i = 0; i < n; i++) mask[i] = sn_rng_uniform(io->rng) >= p ? scale : 0.0f;
    }
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
    return SN_OK;
}

static void dropout_backward(sn_op_io *io) {
    const int64_t n = sn_shape_numel(&io->out_shape);
    const float *dy = io->dout, *mask = io->work; /* (n) each */
    float *dx = io->din[0];                       /* (n) */
    if (!dx) return;
    if (!io->training) {
        for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
        return;
    }
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * mask[i];
}

const sn_op sn_op_dropout = {"dropout", dropout_infer, dropout_forward, dropout_backward};

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

static sn_status linear_forward(sn_op_io *io) {
    const int n = (int)io->in_shape[0].dim[0], in = (int)io->in_shape[1].dim[1];
    const int out = (int)io->in_shape[1].dim[0];
    const float *x = io->in[0], *w = io->in[1], *b = io->in[2];
    float *y = io->out;
    if (b) {
        /* y starts as the broadcast bias, then the GEMM adds x W^T with beta = 1. */
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) y[(size_t)i * out + o] = b[o];
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
        float *db = io->din[2];
        for (int i = 0; i < n; i++)
            for (int o = 0; o < out; o++) db[o] += dy[(size_t)i * out + o];
    }
}

const sn_op sn_op_linear = {"linear", linear_infer, linear_forward, linear_backward};

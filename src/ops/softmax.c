/*
 * softmax and log_softmax along dim 1, as torch.softmax(x, 1) and
 * torch.log_softmax(x, 1):
 *   x (N, C) or (N, C, H, W)   y (same shape); rows run over C, one per (n, h, w)
 *   softmax      y_c = exp(x_c - m) / sum_k exp(x_k - m),  m = max_k x_k
 *   log_softmax  y_c = (x_c - m) - log sum_k exp(x_k - m)
 * Subtracting the row max m keeps every exp in (0, 1], so inputs of +-1000 give
 * finite results. exp is taken in float, as torch; the row sums (of exp here, of
 * dy or dy*y in backward) are accumulated in double, so a result differs from
 * torch's float accumulation by float rounding at most.
 * Backward (torch's softmax_backward_data / log_softmax_backward_data):
 *   softmax      dx += y (dy - sum_c dy_c y_c)
 *   log_softmax  dx += dy - exp(y) sum_c dy_c
 * One kernel per direction serves both ops, switching on `log_form` once per row.
 */
#include "ops/softmax.h"

#include <math.h>

#include "ops/op.h"

void sn_softmax_rows(const float *x, float *y, int64_t outer, int64_t classes, int64_t inner,
                     int log_form) {
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *xr = x + o * classes * inner + i; /* (classes) with stride inner */
            float *yr = y + o * classes * inner + i;       /* (classes) with stride inner */
            float max = -INFINITY;
            for (int64_t c = 0; c < classes; c++) {
                float v = xr[c * inner];
                max = v > max || isnan(v) ? v : max; /* a NaN propagates, as torch */
            }
            double sum = 0.0;
            for (int64_t c = 0; c < classes; c++) {
                float e = expf(xr[c * inner] - max);
                sum += e;
                if (!log_form) yr[c * inner] = e;
            }
            if (log_form) {
                const float log_sum = (float)log(sum);
                for (int64_t c = 0; c < classes; c++)
                    yr[c * inner] = (xr[c * inner] - max) - log_sum;
            } else {
                const float inv_sum = (float)(1.0 / sum);
                for (int64_t c = 0; c < classes; c++) yr[c * inner] *= inv_sum;
            }
        }
    }
}

/* dx += J^T dy for the rows of y = softmax(x) or y = log_softmax(x). */
static void softmax_backward_rows(const float *y, const float *dy, float *dx, int64_t outer,
                                  int64_t classes, int64_t inner, int log_form) {
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * classes * inner + i;
            const float *yr = y + base, *dyr = dy + base; /* (classes) with stride inner */
            float *dxr = dx + base;                       /* (classes) with stride inner */
            double dot = 0.0; /* sum_c dy_c (log) or sum_c dy_c y_c (softmax) */
            for (int64_t c = 0; c < classes; c++)
                dot += log_form ? dyr[c * inner] : (double)dyr[c * inner] * yr[c * inner];
            const float s = (float)dot;
            if (log_form) {
                for (int64_t c = 0; c < classes; c++)
                    dxr[c * inner] += dyr[c * inner] - expf(yr[c * inner]) * s;
            } else {
                for (int64_t c = 0; c < classes; c++)
                    dxr[c * inner] += yr[c * inner] * (dyr[c * inner] - s);
            }
        }
    }
}

/* The rows of x: (outer, classes, inner) = (N, C, H*W), H*W = 1 for (N, C). */
static void softmax_dims(const sn_shape *x, int64_t *outer, int64_t *classes, int64_t *inner) {
    *outer = x->dim[0];
    *classes = x->dim[1];
    *inner = 1;
    for (int i = 2; i < x->ndim; i++) *inner *= x->dim[i];
}

static sn_status rows_infer(sn_op_io *io, size_t *work_size, const char *name) {
    const sn_shape *x = &io->in_shape[0];
    *work_size = 0;
    if (x->ndim < 2) {
        char sx[64];
        return sn_error(SN_ERR_SHAPE,
                        "%s: input must be (N, C) or (N, C, H, W) with the classes "
                        "in dim 1, got %s",
                        name, sn_shape_format(x, sx, sizeof sx));
    }
    io->out_shape = *x;
    return SN_OK;
}

static sn_status rows_forward(sn_op_io *io, int log_form) {
    int64_t outer, classes, inner;
    softmax_dims(&io->in_shape[0], &outer, &classes, &inner);
    sn_softmax_rows(io->in[0], io->out, outer, classes, inner, log_form);
    return SN_OK;
}

static void rows_backward(sn_op_io *io, int log_form) {
    int64_t outer, classes, inner;
    softmax_dims(&io->in_shape[0], &outer, &classes, &inner);
    if (io->din[0])
        softmax_backward_rows(io->out, io->dout, io->din[0], outer, classes, inner, log_form);
}

/* The op-table entries: wrappers that fix the name and the form. */
#define SOFTMAX_OP(name, log_form)                                                                 \
    static sn_status name##_infer(sn_op_io *io, size_t *work_size) {                               \
        return rows_infer(io, work_size, #name);                                                   \
    }                                                                                              \
    static sn_status name##_forward(sn_op_io *io) {                                                \
        return rows_forward(io, log_form);                                                         \
    }                                                                                              \
    static void name##_backward(sn_op_io *io) {                                                    \
        rows_backward(io, log_form);                                                               \
    }                                                                                              \
    /* Backward reads y, never x. */                                                               \
    const sn_op sn_op_##name = {#name, name##_infer, name##_forward, name##_backward,              \
                                SN_OP_BWD_NO_IN(0)}

SOFTMAX_OP(softmax, 0);
SOFTMAX_OP(log_softmax, 1);

/*
 * Losses, as torch.nn.functional, each giving a 0-d scalar:
 *   mse              x, y (same shape)   sum (x - y)^2
 *   bce              p, y (same shape)   sum -(y max(log p, -100) + (1-y) max(log(1-p), -100))
 *   bce_with_logits  x, y (same shape)   sum max(x,0) - x y + log1p(exp(-|x|))
 *   nll              logp (N, C), target (N) class indices as floats   sum_n -logp[n, t_n]
 *   cross_entropy    x (N, C), target (N)   nll(log_softmax(x, 1), target), fused
 * reduction: SN_REDUCTION_SUM, or SN_REDUCTION_MEAN dividing by the number of
 * elements (pointwise losses) or by N (nll, cross_entropy), as torch without
 * class weights. Every backward scales by the same factor times the incoming
 * dout, computed in one place, reduction_scale().
 * Gradients (torch's *_backward in ATen and derivatives.yaml), g = scale * dout:
 *   mse              dx = 2 (x - y) g                      dy = -dx
 *   bce              dp = (p - y) / max((1 - p) p, 1e-12) g dy = -logit(p) g  (unclamped,
 *                                                                            as torch)
 *   bce_with_logits  dx = (sigmoid(x) - y) g               dy = -x g
 *   nll              dlogp[n, t_n] = -g
 *   cross_entropy    dx = (softmax(x) - onehot(t)) g
 * Torch also differentiates the first three w.r.t. the target, so din[1] is
 * filled when requested; class indices have no gradient and din[1] is ignored.
 * Terms are computed in float, as torch, and summed in double.
 */
#include "ops/op.h"

#include <math.h>

#include "ops/softmax.h"

typedef enum pointwise_loss { LOSS_MSE, LOSS_BCE, LOSS_BCE_WITH_LOGITS } pointwise_loss;

/* ---- shared by all losses ---- */

static sn_status check_reduction(const sn_op_io *io, const char *name) {
    sn_reduction r = io->attr->reduction;
    if (r != SN_REDUCTION_MEAN && r != SN_REDUCTION_SUM)
        return sn_error(SN_ERR_INVALID_ARG,
                        "%s: unknown reduction %d (use SN_REDUCTION_MEAN or SN_REDUCTION_SUM)",
                        name, (int)r);
    return SN_OK;
}

/* The factor of the reduction: 1/count for a mean over count terms, 1 for a sum. */
static double reduction_scale(const sn_op_io *io, int64_t count) {
    return io->attr->reduction == SN_REDUCTION_MEAN ? 1.0 / (double)count : 1.0;
}

/* ---- pointwise losses: mse, bce, bce_with_logits ---- */

static sn_status pointwise_infer(sn_op_io *io, size_t *work_size, pointwise_loss kind,
                                 const char *name) {
    (void)kind; /* every pointwise loss takes two same-shaped tensors */
    const sn_shape *x = &io->in_shape[0], *y = &io->in_shape[1];
    *work_size = 0;
    if (!sn_shape_equal(x, y)) {
        char sx[64], sy[64];
        return sn_error(SN_ERR_SHAPE, "%s: input %s and target %s must have the same shape", name,
                        sn_shape_format(x, sx, sizeof sx), sn_shape_format(y, sy, sizeof sy));
    }
    io->out_shape = (sn_shape){.ndim = 0};
    return check_reduction(io, name);
}

/* One term of the sum (torch's elementwise loss before reduction). */
static inline float pointwise_term(pointwise_loss kind, float x, float y) {
    switch (kind) {
    case LOSS_MSE:
        return (x - y) * (x - y);
    case LOSS_BCE: /* torch: (y - 1) max(log1p(-p), -100) - y max(log p, -100) */
        return (y - 1.0f) * fmaxf(log1pf(-x), -100.0f) - y * fmaxf(logf(x), -100.0f);
    case LOSS_BCE_WITH_LOGITS:
        return fmaxf(x, 0.0f) - x * y + log1pf(expf(-fabsf(x)));
    }
    return 0.0f;
}

/* d term / d x, and d term / d y. */
static inline float pointwise_dx(pointwise_loss kind, float x, float y) {
    switch (kind) {
    case LOSS_MSE:
        return 2.0f * (x - y);
    case LOSS_BCE:
        return (x - y) / fmaxf((1.0f - x) * x, 1e-12f);
    case LOSS_BCE_WITH_LOGITS:
        return sn_sigmoid_stable(x) - y;
    }
    return 0.0f;
}

static inline float pointwise_dy(pointwise_loss kind, float x, float y) {
    switch (kind) {
    case LOSS_MSE:
        return -2.0f * (x - y);
    case LOSS_BCE: /* torch's binary_cross_entropy_target_backward: -logit(p) */
        return -logf(x / (1.0f - x));
    case LOSS_BCE_WITH_LOGITS:
        return -x;
    }
    return 0.0f;
}

static sn_status pointwise_forward(sn_op_io *io, pointwise_loss kind, const char *name) {
    const int64_t n = sn_shape_numel(&io->in_shape[0]);
    const float *x = io->in[0], *y = io->in[1]; /* (n) each */
    if (kind == LOSS_BCE) {
        /* As torch, which refuses such input rather than return NaN. */
        for (int64_t i = 0; i < n; i++)
            if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                return sn_error(SN_ERR_RANGE, "%s: input[%lld] = %g is not a probability in [0, 1]",
                                name, (long long)i, (double)x[i]);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += pointwise_term(kind, x[i], y[i]);
    io->out[0] = (float)(sum * reduction_scale(io, n));
    return SN_OK;
}

static void pointwise_backward(sn_op_io *io, pointwise_loss kind) {
    const int64_t n = sn_shape_numel(&io->in_shape[0]);
    const float *x = io->in[0], *y = io->in[1]; /* (n) each */
    float *dx = io->din[0], *dy = io->din[1];   /* (n) each, or NULL */
    const float g = (float)(reduction_scale(io, n) * io->dout[0]);
    if (dx)
        for (int64_t i = 0; i < n; i++) dx[i] += pointwise_dx(kind, x[i], y[i]) * g;
    if (dy)
        for (int64_t i = 0; i < n; i++) dy[i] += pointwise_dy(kind, x[i], y[i]) * g;
}

/* ---- class-index losses: nll, cross_entropy (fused: log_softmax first) ---- */

static sn_status class_infer(sn_op_io *io, size_t *work_size, int fused, const char *name) {
    const sn_shape *x = &io->in_shape[0], *t = &io->in_shape[1];
    char sx[64], st[64];
    if (x->ndim != 2 || t->ndim != 1 || t->dim[0] != x->dim[0])
        return sn_error(SN_ERR_SHAPE,
                        "%s: input must be (N, C) and target (N), got input %s and "
                        "target %s",
                        name, sn_shape_format(x, sx, sizeof sx), sn_shape_format(t, st, sizeof st));
    io->out_shape = (sn_shape){.ndim = 0};
    /* cross_entropy keeps log_softmax(x) (N, C) for the loss and for backward. */
    *work_size = fused ? (size_t)sn_shape_numel(x) * sizeof(float) : 0;
    return check_reduction(io, name);
}

/* Every target must be an integer class in [0, C); checked before any index is
 * used, so a bad label is an error and never an out-of-bounds read. Unlike
 * torch there is no ignore_index: -100 is an error too. */
static sn_status check_targets(const sn_op_io *io, const char *name) {
    const int64_t n = io->in_shape[0].dim[0], classes = io->in_shape[0].dim[1];
    const float *target = io->in[1]; /* (N) */
    for (int64_t i = 0; i < n; i++) {
        float t = target[i];
        if (!(t >= 0.0f && t < (float)classes) || t != floorf(t))
            return sn_error(SN_ERR_RANGE,
                            "%s: target[%lld] = %.9g is not a class index (an "
                            "integer in [0, %lld))",
                            name, (long long)i, (double)t, (long long)classes);
    }
    return SN_OK;
}

static sn_status class_forward(sn_op_io *io, int fused, const char *name) {
    const int64_t n = io->in_shape[0].dim[0], classes = io->in_shape[0].dim[1];
    const float *target = io->in[1]; /* (N), checked below */
    const float *logp = io->in[0];   /* (N, C) */
    sn_status st = check_targets(io, name);
    if (st != SN_OK) return st;
    if (fused) {
        sn_softmax_rows(io->in[0], io->work, n, classes, 1, 1);
        logp = io->work;
    }
    double sum = 0.0; /* sum_n -logp[n, t_n] */
    for (int64_t i = 0; i < n; i++) sum -= logp[i * classes + (int64_t)target[i]];
    io->out[0] = (float)(sum * reduction_scale(io, n));
    return SN_OK;
}

/* nll: dlogp[n, t_n] -= g. cross_entropy: dx = (softmax - onehot) g, the same
 * onehot part after the softmax part exp(logp) g. */
static void class_backward(sn_op_io *io, int fused) {
    const int64_t n = io->in_shape[0].dim[0], classes = io->in_shape[0].dim[1];
    const float *target = io->in[1]; /* (N) */
    float *dx = io->din[0];          /* (N, C); din[1] (targets) is ignored */
    if (!dx) return;
    const float g = (float)(reduction_scale(io, n) * io->dout[0]);
    if (fused) {
        const float *logp = io->work; /* (N, C) from forward */
        for (int64_t i = 0; i < n * classes; i++) dx[i] += expf(logp[i]) * g;
    }
    for (int64_t i = 0; i < n; i++) dx[i * classes + (int64_t)target[i]] -= g;
}

/* ---- the op-table entries: wrappers that fix the name and the variant ---- */

#define LOSS_OP(name, family, variant, flags)                                                      \
    static sn_status name##_infer(sn_op_io *io, size_t *work_size) {                               \
        return family##_infer(io, work_size, variant, #name);                                      \
    }                                                                                              \
    static sn_status name##_forward(sn_op_io *io) {                                                \
        return family##_forward(io, variant, #name);                                               \
    }                                                                                              \
    static void name##_backward(sn_op_io *io) {                                                    \
        family##_backward(io, variant);                                                            \
    }                                                                                              \
    const sn_op sn_op_##name = {#name, name##_infer, name##_forward, name##_backward, flags}

/* The pointwise losses read x and y in backward; the class losses only the
 * targets (and cross_entropy its log-softmax in work). None reads the loss. */
LOSS_OP(mse, pointwise, LOSS_MSE, SN_OP_BWD_NO_OUT);
LOSS_OP(bce, pointwise, LOSS_BCE, SN_OP_BWD_NO_OUT);
LOSS_OP(bce_with_logits, pointwise, LOSS_BCE_WITH_LOGITS, SN_OP_BWD_NO_OUT);
LOSS_OP(nll, class, 0, SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0));
LOSS_OP(cross_entropy, class, 1, SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0));

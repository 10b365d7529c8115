/*
 * Elementwise activations, one mechanism for all of them: an infer that keeps
 * the shape, a forward and a backward that each switch once on the kind and run
 * one simple loop (vectorisable: no call through a pointer per element), over
 * spans of the flattened tensor taken by the pool's threads (src/ops/chunks.h;
 * every element is computed alone, so any thread count gives the same bits).
 *   x (any)   y (same shape)
 * Formulas as torch (torch.nn.functional; backward as ATen's kernels):
 *   relu        y = max(x, 0)              dx += x > 0 ? dy : 0  (threshold_backward:
 *                                                                 gradient 0 at x == 0)
 *   leaky_relu  y = x > 0 ? x : s x        dx += x > 0 ? dy : s dy
 *   sigmoid     y = 1 / (1 + e^-x)         dx += dy (1 - y) y    (sigmoid_backward, from y)
 *   tanh        y = tanh x                 dx += dy (1 - y^2)    (tanh_backward, from y)
 *   step        y = x >= 0 ? 1 : 0         no backward: no gradient flows (perceptron)
 * Everything is computed in float, as torch does for float32 on CPU.
 * relu and leaky_relu keep x > 0 as one byte per element in work (when a
 * gradient is needed), so that backward reads neither x nor y: the graph's
 * plan may then run them in place and free x once forward has read it.
 * sigmoid and tanh read y. All of them may run in place (SN_OP_INPLACE in
 * src/ops/op.h): x[i] is read before y[i] is written, and with dx == dy
 * backward writes 0 + the product, the bits of clear-then-accumulate.
 */
#include "ops/op.h"

#include <math.h>

#include "ops/chunks.h"
#include "ops/softmax.h"

typedef enum activation { ACT_RELU, ACT_LEAKY_RELU, ACT_SIGMOID, ACT_TANH, ACT_STEP } activation;

static sn_status activation_infer(sn_op_io *io, size_t *work_size) {
    *work_size = 0;
    io->out_shape = io->in_shape[0];
    return SN_OK;
}

/* relu, leaky_relu: work holds the mask x > 0, (n) bytes, for backward. */
static sn_status masked_infer(sn_op_io *io, size_t *work_size) {
    activation_infer(io, work_size);
    if (io->grad) *work_size = (size_t)sn_shape_numel(&io->out_shape);
    return SN_OK;
}

/* One span [begin, end) of the flat tensor; threads take whole spans. */
typedef struct activation_job {
    const sn_op_io *io;
    activation kind;
} activation_job;

static void activation_forward_span(void *ctx, int64_t begin, int64_t end) {
    const activation_job *job = ctx;
    /* Not restrict: y may be x (in place); each element is read, then written. */
    const float *x = job->io->in[0];     /* (n) */
    float *y = job->io->out;             /* (n) */
    unsigned char *mask = job->io->work; /* (n) relu, leaky_relu: x > 0, or NULL */
    const float slope = job->io->attr->negative_slope;
    switch (job->kind) {
    case ACT_RELU:
        if (mask)
            for (int64_t i = begin; i < end; i++) mask[i] = x[i] > 0.0f;
        for (int64_t i = begin; i < end; i++)
            y[i] = x[i] < 0.0f ? 0.0f : x[i]; /* NaN propagates, as torch */
        break;
    case ACT_LEAKY_RELU:
        if (mask)
            for (int64_t i = begin; i < end; i++) mask[i] = x[i] > 0.0f;
        for (int64_t i = begin; i < end; i++) {
            /* A select of two computed values: vectorised with AVX (gcc 12
             * keeps a branch with plain SSE2 under -ftrapping-math). */
            const float v = x[i], scaled = v * slope;
            y[i] = v > 0.0f ? v : scaled;
        }
        break;
    case ACT_SIGMOID:
        for (int64_t i = begin; i < end; i++) y[i] = sn_sigmoid_stable(x[i]);
        break;
    case ACT_TANH:
        for (int64_t i = begin; i < end; i++) y[i] = tanhf(x[i]);
        break;
    case ACT_STEP:
        for (int64_t i = begin; i < end; i++) y[i] = x[i] >= 0.0f ? 1.0f : 0.0f;
        break;
    }
}

static void activation_backward_span(void *ctx, int64_t begin, int64_t end) {
    const activation_job *job = ctx;
    const float *y = job->io->out;             /* (n) */
    const unsigned char *mask = job->io->work; /* (n) relu, leaky_relu: x > 0, from forward */
    const float *dy = job->io->dout;           /* (n); not restrict: may be dx (in place) */
    float *dx = job->io->din[0];               /* (n) */
    const int accumulate = dx != dy;           /* else dx = 0 + ..., see SN_OP_INPLACE */
    const float slope = job->io->attr->negative_slope;
    /* dy is loaded before the select, so that no load is conditional and the
     * loops vectorise (a conditional load is control flow for gcc, see also
     * leaky_relu's forward); the test of `accumulate` is loop-invariant. */
    switch (job->kind) {
    case ACT_RELU:
        for (int64_t i = begin; i < end; i++) {
            const float g = dy[i], prior = accumulate ? dx[i] : 0.0f;
            dx[i] = prior + (mask[i] ? g : 0.0f);
        }
        break;
    case ACT_LEAKY_RELU:
        for (int64_t i = begin; i < end; i++) {
            const float g = dy[i], scaled = g * slope, prior = accumulate ? dx[i] : 0.0f;
            dx[i] = prior + (mask[i] ? g : scaled);
        }
        break;
    /* One expression each, as the += it replaces: a compiler that contracts
     * a*b + c into an fma (clang does by default) then does so alike. */
    case ACT_SIGMOID:
        for (int64_t i = begin; i < end; i++) {
            const float prior = accumulate ? dx[i] : 0.0f;
            dx[i] = prior + dy[i] * (1.0f - y[i]) * y[i];
        }
        break;
    case ACT_TANH:
        for (int64_t i = begin; i < end; i++) {
            const float prior = accumulate ? dx[i] : 0.0f;
            dx[i] = prior + dy[i] * (1.0f - y[i] * y[i]);
        }
        break;
    case ACT_STEP: /* not differentiable: the op table has no backward */
        break;
    }
}

static void activation_forward(sn_op_io *io, activation kind) {
    activation_job job = {io, kind};
    sn_parallel_items(sn_shape_numel(&io->out_shape), 1, io->workers, activation_forward_span,
                      &job);
}

static void activation_backward(sn_op_io *io, activation kind) {
    if (!io->din[0]) return;
    activation_job job = {io, kind};
    sn_parallel_items(sn_shape_numel(&io->out_shape), 1, io->workers, activation_backward_span,
                      &job);
}

/* The op-table entries: thin wrappers that fix the kind. */
#define ACTIVATION_FORWARD(name, kind)                                                             \
    static sn_status name##_forward(sn_op_io *io) {                                                \
        activation_forward(io, kind);                                                              \
        return SN_OK;                                                                              \
    }
#define ACTIVATION_BACKWARD(name, kind)                                                            \
    static void name##_backward(sn_op_io *io) {                                                    \
        activation_backward(io, kind);                                                             \
    }

ACTIVATION_FORWARD(relu, ACT_RELU)
ACTIVATION_FORWARD(leaky_relu, ACT_LEAKY_RELU)
ACTIVATION_FORWARD(sigmoid, ACT_SIGMOID)
ACTIVATION_FORWARD(tanh, ACT_TANH)
ACTIVATION_FORWARD(step, ACT_STEP)
ACTIVATION_BACKWARD(relu, ACT_RELU)
ACTIVATION_BACKWARD(leaky_relu, ACT_LEAKY_RELU)
ACTIVATION_BACKWARD(sigmoid, ACT_SIGMOID)
ACTIVATION_BACKWARD(tanh, ACT_TANH)

/* Flags of src/ops/op.h: what each backward reads (see the top of this file). */
#define READS_MASK (SN_OP_INPLACE | SN_OP_BWD_NO_OUT | SN_OP_BWD_NO_IN(0))
#define READS_Y (SN_OP_INPLACE | SN_OP_BWD_NO_IN(0))

const sn_op sn_op_relu = {"relu", masked_infer, relu_forward, relu_backward, READS_MASK};
const sn_op sn_op_leaky_relu = {"leaky_relu", masked_infer, leaky_relu_forward, leaky_relu_backward,
                                READS_MASK};
const sn_op sn_op_sigmoid = {"sigmoid", activation_infer, sigmoid_forward, sigmoid_backward,
                             READS_Y};
const sn_op sn_op_tanh = {"tanh", activation_infer, tanh_forward, tanh_backward, READS_Y};
const sn_op sn_op_step = {"step", activation_infer, step_forward, NULL, READS_MASK};

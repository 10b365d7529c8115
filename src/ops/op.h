/*
 * src/ops/op.h: the contract between the graph and an op.
 *
 * An op is a table of three functions over raw float buffers:
 *   infer     checks the input shapes and attributes, sets the output shape and
 *             the bytes of scratch ("work") the op needs; no compute. Errors are
 *             recorded with sn_error(SN_ERR_SHAPE, "conv2d: ...") and the graph
 *             prefixes them with the node.
 *   forward   out = f(in...). May fail on bad data (an out-of-range class
 *             label), never on shapes: infer has checked those.
 *   backward  din[i] += (d out / d in[i])^T dout for every i with din[i] != NULL.
 *             Backward ACCUMULATES (+=): a value used twice gets both
 *             contributions; zeroing is the graph's separate step. NULL for
 *             ops with no gradient (step): no gradient flows through them.
 * The graph owns every buffer: out, dout, din and work are planned in its arena
 * at compile time, so no op allocates memory in forward or backward. The work
 * buffer persists from forward to backward of the same step (maxpool keeps its
 * arg-max indices there, dropout its mask), unless the op declares
 * SN_OP_WORK_PER_CALL (conv2d: per-worker patches and per-chunk weight-
 * gradient slots, rebuilt in backward). It is the only scratch an op may keep: the graph's memory
 * plan (src/graph/plan.c) gives buffers the same arena space outside the lifetimes it knows from
 * the op's flags (below), so an op may rely on nothing else surviving from forward to backward, and
 * on no buffer starting zeroed. Inputs are read-only, except buffers (sn_buffer: model state that
 * is not trained), which forward may update through io->state: batch_norm in training mode writes
 * its running mean, variance and batch count there.
 */
#ifndef SN_OPS_OP_H
#define SN_OPS_OP_H

#include <stddef.h>

#include "core/error.h"
#include "sinapsi/graph.h"
#include "sinapsi/rng.h"
#include "sinapsi/tensor.h"

#define SN_OP_MAX_IN 6 /* batch_norm: x, weight, bias and three running statistics */

typedef struct sn_op_io {
    int n_in;                 /* number of input slots of this node */
    int has_in[SN_OP_MAX_IN]; /* 0 for an absent optional input (no bias) */
    sn_shape in_shape[SN_OP_MAX_IN];
    const float *in[SN_OP_MAX_IN]; /* input values (NULL during infer) */
    float *din[SN_OP_MAX_IN];      /* input gradients, or NULL: none needed */
    float *state[SN_OP_MAX_IN];    /* the same values, writable, where the input is a buffer
                                      (batch_norm's running statistics), else NULL */
    sn_shape out_shape;            /* set by infer */
    float *out;                    /* output value */
    const float *dout;             /* gradient of the output (backward only) */
    void *work;                    /* scratch of work_size bytes, 64-byte aligned */
    size_t work_size;
    const sn_op_attr *attr; /* the node's attributes */
    sn_rng *rng;            /* the graph's dropout stream */
    int training;           /* 1 in training mode, 0 in evaluation */
    int grad;               /* 1 when backward may run on this node (an input needs a
                               gradient), set by the graph before infer: scratch kept
                               only for backward (relu's mask) is sized 0 without it */
    unsigned din_set;       /* bit i: din[i] holds nothing yet, and backward WRITES it
                               (0 + contribution, the bits of clear-then-add) instead of
                               adding into it. Set by the graph, only for ops flagged
                               SN_OP_BWD_CAN_SET: for the gradient of an op node that
                               no backward has written in this pass, and for parameter
                               gradients under SN_GRAD_SET (sinapsi/graph.h) */
    int workers;            /* threads the work buffer is sized for (>= 1), set by the
                               graph before infer: per-worker scratch is work split in
                               `workers` slots, and sn_parallel_for(..., workers, ...)
                               (src/core/parallel.h) gives worker ids below it */
} sn_op_io;

/* What an op's backward reads and where its output may live: the graph's
 * memory plan reuses a buffer once nothing will read it, so it must know.
 * Zero, the default, is always safe: backward may read every input value and
 * the output value, and the output has a buffer of its own. */
#define SN_OP_BWD_NO_OUT (1u << 0)           /* backward never reads io->out */
#define SN_OP_BWD_NO_IN(i) (1u << (1 + (i))) /* backward never reads io->in[i] */
/* out may be in[0]'s buffer (in place): forward is elementwise, reading x[i]
 * before writing y[i]; and din[0] may be dout's buffer, backward then writing
 * din[i] = 0 + (d out / d in)^T dout[i] (0 + keeps the bits of the cleared-
 * then-accumulated result, -0 included) instead of accumulating. */
#define SN_OP_INPLACE (1u << 8)
/* out may BE in[0] under the new shape (reshape: the same elements in the same
 * order): forward then does nothing, and with din[0] == dout backward only
 * does din[i] = 0 + dout[i]. */
#define SN_OP_ALIAS (1u << 9)
/* The work buffer carries nothing from forward to backward: each call uses it
 * as scratch only (conv2d rebuilds its patches in backward), so the plan may
 * give forward and backward different space, each alive for its call alone. */
#define SN_OP_WORK_PER_CALL (1u << 10)
/* Backward honours io->din_set, for EVERY input: for each input i whose bit
 * is set it writes din[i] whole rather than adding into it (or clears its own
 * part first, in the chunk that adds into it). For ops without the flag the
 * graph clears such a gradient first, as always. */
#define SN_OP_BWD_CAN_SET (1u << 11)

typedef struct sn_op {
    const char *name; /* torch-like name: "conv2d", "cross_entropy" */
    sn_status (*infer)(sn_op_io *io, size_t *work_size);
    sn_status (*forward)(sn_op_io *io);
    void (*backward)(sn_op_io *io);
    unsigned flags; /* SN_OP_* above; 0 = conservative */
} sn_op;

/* The op table: one entry per op, defined in each op's own file. */
extern const sn_op sn_op_linear, sn_op_add, sn_op_conv2d, sn_op_maxpool2d, sn_op_avgpool2d,
    sn_op_reshape, sn_op_relu, sn_op_leaky_relu, sn_op_sigmoid, sn_op_tanh, sn_op_softmax,
    sn_op_log_softmax, sn_op_dropout, sn_op_step, sn_op_mse, sn_op_bce, sn_op_bce_with_logits,
    sn_op_nll, sn_op_cross_entropy, sn_op_batch_norm;

#endif

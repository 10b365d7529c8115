/*
 * The public node builders of sinapsi/graph.h: each records one op from the
 * table in src/ops/op.h with its attributes. Shapes are checked at compile.
 */
#include "graph/graph_internal.h"

#define BIAS_OPTIONAL (1u << 2)

static int unary(sn_graph *g, const sn_op *op, int x, const sn_op_attr *attr) {
    return sn_graph_add_op(g, op, 1, &x, 0, attr);
}

static int binary(sn_graph *g, const sn_op *op, int a, int b, const sn_op_attr *attr) {
    int in[2] = {a, b};
    return sn_graph_add_op(g, op, 2, in, 0, attr);
}

int sn_linear(sn_graph *g, int x, int w, int b) {
    int in[3] = {x, w, b};
    return sn_graph_add_op(g, &sn_op_linear, 3, in, BIAS_OPTIONAL, NULL);
}

int sn_add(sn_graph *g, int a, int b) {
    return binary(g, &sn_op_add, a, b, NULL);
}

int sn_conv2d(sn_graph *g, int x, int w, int b, int sh, int sw, int ph, int pw) {
    sn_op_attr attr = {.stride = {sh, sw}, .padding = {ph, pw}};
    int in[3] = {x, w, b};
    return sn_graph_add_op(g, &sn_op_conv2d, 3, in, BIAS_OPTIONAL, &attr);
}

int sn_maxpool2d(sn_graph *g, int x, int kh, int kw, int sh, int sw, int ph, int pw) {
    sn_op_attr attr = {.kernel = {kh, kw}, .stride = {sh, sw}, .padding = {ph, pw}};
    return unary(g, &sn_op_maxpool2d, x, &attr);
}

int sn_avgpool2d(sn_graph *g, int x, int kh, int kw, int sh, int sw, int ph, int pw,
                 int count_include_pad) {
    sn_op_attr attr = {.kernel = {kh, kw},
                       .stride = {sh, sw},
                       .padding = {ph, pw},
                       .count_include_pad = count_include_pad != 0};
    return unary(g, &sn_op_avgpool2d, x, &attr);
}

int sn_flatten(sn_graph *g, int x) {
    /* (N, -1): the batch stays, the rest is folded. */
    sn_op_attr attr = {.shape = {.ndim = 2, .dim = {0, -1}}};
    return unary(g, &sn_op_reshape, x, &attr);
}

int sn_reshape(sn_graph *g, int x, int ndim, const int64_t *shape) {
    sn_op_attr attr = {.shape = {.ndim = ndim}};
    if (ndim < 0 || ndim > SN_MAX_DIMS || (ndim > 0 && !shape)) {
        attr.shape.ndim = -1; /* reported by infer, with the node */
    } else {
        for (int i = 0; i < ndim; i++) attr.shape.dim[i] = shape[i];
    }
    return unary(g, &sn_op_reshape, x, &attr);
}

int sn_relu(sn_graph *g, int x) {
    return unary(g, &sn_op_relu, x, NULL);
}

int sn_leaky_relu(sn_graph *g, int x, float negative_slope) {
    sn_op_attr attr = {.negative_slope = negative_slope};
    return unary(g, &sn_op_leaky_relu, x, &attr);
}

int sn_sigmoid(sn_graph *g, int x) {
    return unary(g, &sn_op_sigmoid, x, NULL);
}
int sn_tanh(sn_graph *g, int x) {
    return unary(g, &sn_op_tanh, x, NULL);
}
int sn_softmax(sn_graph *g, int x) {
    return unary(g, &sn_op_softmax, x, NULL);
}
int sn_log_softmax(sn_graph *g, int x) {
    return unary(g, &sn_op_log_softmax, x, NULL);
}

int sn_dropout(sn_graph *g, int x, float p) {
    sn_op_attr attr = {.p = p};
    return unary(g, &sn_op_dropout, x, &attr);
}

int sn_step(sn_graph *g, int x) {
    return unary(g, &sn_op_step, x, NULL);
}

/* The running statistics are state that forward writes: they must be buffers,
 * all three or none (track_running_stats=False). */
static int check_running_stats(sn_graph *g, const int stats[3]) {
    static const char *const what[3] = {"running_mean", "running_var", "num_batches_tracked"};
    const int present = (stats[0] != SN_NONE) + (stats[1] != SN_NONE) + (stats[2] != SN_NONE);
    if (present != 0 && present != 3)
        return sn_graph_build_error(
            g, sn_error(SN_ERR_INVALID_ARG,
                        "batch_norm: give running_mean, running_var and num_batches_tracked "
                        "all three, or none (track_running_stats=False)"));
    for (int i = 0; i < present; i++) {
        const sn_node *n = sn_graph_node_at(g, stats[i]);
        if (n && n->kind != SN_NODE_BUFFER)
            return sn_graph_build_error(
                g, sn_error(SN_ERR_INVALID_ARG,
                            "batch_norm: %s is node %d (%s), not a buffer: forward updates it, "
                            "so create it with sn_buffer",
                            what[i], stats[i], n->name));
    }
    return 1;
}

int sn_batch_norm(sn_graph *g, int x, int weight, int bias, int running_mean, int running_var,
                  int num_batches_tracked, float momentum, float eps) {
    const int in[6] = {x, weight, bias, running_mean, running_var, num_batches_tracked};
    if (!g) return SN_NONE;
    if (check_running_stats(g, in + 3) == SN_NONE) return SN_NONE;
    const unsigned optional = 0x3eu; /* all but x; infer checks that the pairs match */
    sn_op_attr attr = {.momentum = momentum, .eps = eps};
    return sn_graph_add_op(g, &sn_op_batch_norm, 6, in, optional, &attr);
}

static int loss(sn_graph *g, const sn_op *op, int a, int b, sn_reduction r) {
    sn_op_attr attr = {.reduction = r};
    return binary(g, op, a, b, &attr);
}

int sn_mse(sn_graph *g, int x, int y, sn_reduction r) {
    return loss(g, &sn_op_mse, x, y, r);
}
int sn_bce(sn_graph *g, int p, int y, sn_reduction r) {
    return loss(g, &sn_op_bce, p, y, r);
}
int sn_bce_with_logits(sn_graph *g, int x, int y, sn_reduction r) {
    return loss(g, &sn_op_bce_with_logits, x, y, r);
}
int sn_nll(sn_graph *g, int logp, int target, sn_reduction r) {
    return loss(g, &sn_op_nll, logp, target, r);
}
int sn_cross_entropy(sn_graph *g, int x, int target, sn_reduction r) {
    return loss(g, &sn_op_cross_entropy, x, target, r);
}

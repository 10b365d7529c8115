/*
 * The define-then-run graph: node storage, compile (shape inference, parameter
 * and buffer blocks, arena plan), forward, and reverse-mode backward. The op kernels live in
 * src/ops/, behind the sn_op table of src/ops/op.h.
 */
#include "graph/graph_internal.h"

#include "ops/chunks.h"
#include "sinapsi/threads.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SN_ALIGN 64

/* Accumulated wall time of one node (sn_graph_node_time). */
typedef struct sn_node_time {
    long long forward_ns, backward_ns;
    int64_t forward_calls, backward_calls;
} sn_node_time;

struct sn_graph {
    sn_node *nodes;
    int n_nodes, cap_nodes;
    int *param_ids; /* parameter node ids in creation order */
    int n_params;
    int *buffer_ids; /* buffer node ids in creation order */
    int n_buffers;

    float *param_block, *grad_block; /* n_param_floats each */
    size_t n_param_floats;
    float *buffer_block; /* n_buffer_floats: running statistics, no gradient */
    size_t n_buffer_floats;

    unsigned char *arena; /* values, gradients and scratch of op and input nodes */
    size_t arena_bytes;
    sn_graph_plan plan;        /* how the arena is shared (sinapsi/graph.h) */
    unsigned char *on_path;    /* n_nodes flags, scratch of backward */
    unsigned char *grad_ready; /* n_nodes flags, scratch of backward: op gradient cleared */
    int workers;               /* threads the graph was compiled for (sn_op_io.workers) */

    sn_rng rng;
    sn_rng rng_at_forward; /* the stream where the last forward started (replay) */
    int training;
    sn_grad_mode grad_mode; /* sn_graph_set_grad_mode */
    int compiled;
    int forward_done;
    sn_node_time *node_time;  /* (n_nodes) while profiling (sn_graph_set_profiling), else NULL */
    int64_t batch, max_batch; /* dim 0 of the inputs: now, and as compiled */
    sn_status build_status;   /* first error recorded while building */
    char build_message[512];
};

/* ---- building ---- */

sn_graph *sn_graph_create(uint64_t seed) {
    sn_graph *g = calloc(1, sizeof *g);
    if (!g) {
        sn_error(SN_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    sn_rng_seed(&g->rng, seed, SN_STREAM_DROPOUT);
    g->training = 1;
    return g;
}

void sn_graph_destroy(sn_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->param_ids);
    free(g->buffer_ids);
    free(g->param_block);
    free(g->grad_block);
    free(g->buffer_block);
    free(g->arena);
    free(g->on_path);
    free(g->grad_ready);
    free(g->node_time);
    free(g);
}

/* Keeps the first build error so that compile can report it. */
static int build_fail(sn_graph *g, sn_status st) {
    if (g->build_status == SN_OK) {
        g->build_status = st;
        snprintf(g->build_message, sizeof g->build_message, "%s", sn_last_error());
    }
    return SN_NONE;
}

int sn_graph_build_error(sn_graph *g, sn_status st) {
    return g ? build_fail(g, st) : SN_NONE;
}

static int new_node(sn_graph *g, sn_node_kind kind, const char *name) {
    if (g->compiled)
        return build_fail(g, sn_error(SN_ERR_STATE, "graph: cannot add nodes after compile"));
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 32;
        sn_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (!nodes) return build_fail(g, sn_error(SN_ERR_NOMEM, "graph: out of memory"));
        g->nodes = nodes;
        g->cap_nodes = cap;
    }
    sn_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    for (int i = 0; i < SN_OP_MAX_IN; i++) n->in[i] = SN_NONE;
    snprintf(n->name, sizeof n->name, "%s", name ? name : "");
    return g->n_nodes++;
}

/* Appends id to a list of node ids (parameters or buffers). */
static int append_id(sn_graph *g, int **ids, int *n, int id) {
    int *grown = realloc(*ids, (size_t)(*n + 1) * sizeof *grown);
    if (!grown) return build_fail(g, sn_error(SN_ERR_NOMEM, "graph: out of memory"));
    *ids = grown;
    (*ids)[(*n)++] = id;
    return id;
}

static const char *leaf_kind_name(sn_node_kind kind) {
    return kind == SN_NODE_PARAM ? "param" : kind == SN_NODE_BUFFER ? "buffer" : "input";
}

static int new_leaf(sn_graph *g, sn_node_kind kind, const char *name, int ndim,
                    const int64_t *shape) {
    if (!g) return SN_NONE;
    sn_shape s;
    sn_status st = sn_shape_make(&s, ndim, shape);
    if (st != SN_OK) {
        sn_error_prefix("%s '%s': ", leaf_kind_name(kind), name ? name : "");
        return build_fail(g, st);
    }
    int id = new_node(g, kind, name);
    if (id == SN_NONE) return SN_NONE;
    g->nodes[id].shape = s;
    if (kind == SN_NODE_PARAM) {
        g->nodes[id].requires_grad = 1;
        return append_id(g, &g->param_ids, &g->n_params, id);
    }
    if (kind == SN_NODE_BUFFER) return append_id(g, &g->buffer_ids, &g->n_buffers, id);
    return id;
}

int sn_input(sn_graph *g, const char *name, int ndim, const int64_t *shape) {
    return new_leaf(g, SN_NODE_INPUT, name, ndim, shape);
}

int sn_param(sn_graph *g, const char *name, int ndim, const int64_t *shape) {
    return new_leaf(g, SN_NODE_PARAM, name, ndim, shape);
}

int sn_buffer(sn_graph *g, const char *name, int ndim, const int64_t *shape) {
    return new_leaf(g, SN_NODE_BUFFER, name, ndim, shape);
}

sn_status sn_graph_set_requires_grad(sn_graph *g, int node, int requires_grad) {
    if (!g || node < 0 || node >= g->n_nodes)
        return sn_error(SN_ERR_INVALID_ARG, "set_requires_grad: no node %d", node);
    if (g->compiled) return sn_error(SN_ERR_STATE, "set_requires_grad: graph already compiled");
    if (g->nodes[node].kind != SN_NODE_INPUT)
        return sn_error(SN_ERR_INVALID_ARG, "set_requires_grad: node %d is not an input", node);
    g->nodes[node].requires_grad = requires_grad != 0;
    return SN_OK;
}

sn_status sn_graph_set_plan(sn_graph *g, sn_graph_plan plan) {
    if (!g) return sn_error(SN_ERR_INVALID_ARG, "set_plan: graph is NULL");
    if (g->compiled) return sn_error(SN_ERR_STATE, "set_plan: graph already compiled");
    if (plan != SN_PLAN_KEEP_ALL && plan != SN_PLAN_LEAN && plan != SN_PLAN_INFERENCE)
        return sn_error(SN_ERR_INVALID_ARG, "set_plan: unknown plan %d", (int)plan);
    g->plan = plan;
    return SN_OK;
}

sn_status sn_graph_keep(sn_graph *g, int node) {
    if (!g || node < 0 || node >= g->n_nodes)
        return sn_error(SN_ERR_INVALID_ARG, "keep: no node %d", node);
    if (g->compiled) return sn_error(SN_ERR_STATE, "keep: graph already compiled");
    g->nodes[node].kept = 1;
    return SN_OK;
}

int sn_graph_is_kept(const sn_graph *g, int node) {
    if (!g || node < 0 || node >= g->n_nodes) return 0;
    return g->plan == SN_PLAN_KEEP_ALL || g->nodes[node].kept || g->nodes[node].kind != SN_NODE_OP;
}

int sn_graph_add_op(sn_graph *g, const sn_op *op, int n_in, const int *in, unsigned optional_mask,
                    const sn_op_attr *attr) {
    if (!g) return SN_NONE;
    for (int i = 0; i < n_in; i++) {
        int absent_ok = (optional_mask >> i) & 1u;
        if (in[i] == SN_NONE && absent_ok) continue;
        if (in[i] == SN_NONE) {
            /* An earlier builder failed and recorded why; keep that first error. */
            if (g->build_status == SN_OK)
                build_fail(g, sn_error(SN_ERR_INVALID_ARG, "%s: input %d is missing", op->name, i));
            return SN_NONE;
        }
        if (in[i] < 0 || in[i] >= g->n_nodes)
            return build_fail(g, sn_error(SN_ERR_INVALID_ARG,
                                          "%s: input %d is node %d, which "
                                          "does not exist",
                                          op->name, i, in[i]));
    }
    int id = new_node(g, SN_NODE_OP, op->name);
    if (id == SN_NONE) return SN_NONE;
    sn_node *n = &g->nodes[id];
    n->op = op;
    n->io.n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        n->in[i] = in[i];
        n->io.has_in[i] = in[i] != SN_NONE;
    }
    if (attr) n->attr = *attr;
    return id;
}

/* ---- compile ---- */

static size_t floats_of(const sn_graph *g, const int *ids, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += (size_t)sn_shape_numel(&g->nodes[ids[i]].shape);
    return total;
}

static sn_status infer_shapes(sn_graph *g, size_t *work_sizes) {
    const int workers = g->workers = sn_get_threads();
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *n = &g->nodes[id];
        work_sizes[id] = 0;
        if (g->plan == SN_PLAN_INFERENCE) n->requires_grad = 0; /* no gradient anywhere */
        if (n->kind != SN_NODE_OP) continue;
        int any_grad = 0;
        for (int i = 0; i < n->io.n_in; i++) {
            if (!n->io.has_in[i]) continue;
            n->io.in_shape[i] = g->nodes[n->in[i]].shape;
            any_grad |= g->nodes[n->in[i]].requires_grad;
        }
        n->requires_grad = any_grad && n->op->backward != NULL;
        n->io.attr = &n->attr;
        n->io.workers = workers;
        n->io.grad = n->requires_grad;
        sn_status st = n->op->infer(&n->io, &work_sizes[id]);
        if (st != SN_OK) return sn_error_prefix("node %d (%s): ", id, n->op->name);
        n->shape = n->io.out_shape;
    }
    return SN_OK;
}

/* The batch is dim 0 shared by every input of ndim >= 1; 0 if inputs disagree
 * or there is none (then the batch cannot be changed). */
static int64_t batch_of_inputs(const sn_graph *g) {
    int64_t batch = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        const sn_node *n = &g->nodes[id];
        if (n->kind != SN_NODE_INPUT || n->shape.ndim < 1) continue;
        if (batch && n->shape.dim[0] != batch) return 0;
        batch = n->shape.dim[0];
    }
    return batch;
}

sn_status sn_graph_compile(sn_graph *g) {
    if (!g) return sn_error(SN_ERR_INVALID_ARG, "compile: graph is NULL");
    if (g->compiled) return sn_error(SN_ERR_STATE, "compile: graph already compiled");
    if (g->build_status != SN_OK) return sn_error(g->build_status, "%s", g->build_message);
    if (g->n_nodes == 0) return sn_error(SN_ERR_STATE, "compile: graph has no nodes");

    size_t *work = calloc((size_t)g->n_nodes, sizeof *work);
    unsigned char *kept = calloc((size_t)g->n_nodes, 1);
    g->on_path = calloc((size_t)g->n_nodes, 1);
    g->grad_ready = calloc((size_t)g->n_nodes, 1);
    sn_plan plan = {0};
    sn_status st = SN_OK;
    if (!work || !kept || !g->on_path || !g->grad_ready) {
        st = sn_error(SN_ERR_NOMEM, "compile: out of memory");
        goto done;
    }
    if ((st = infer_shapes(g, work)) != SN_OK) goto done;

    /* Parameter and buffer blocks: tensors packed back to back in creation
     * order; no gradient block without gradients. */
    const int grads = g->plan != SN_PLAN_INFERENCE;
    g->n_param_floats = floats_of(g, g->param_ids, g->n_params);
    g->n_buffer_floats = floats_of(g, g->buffer_ids, g->n_buffers);
    g->param_block = calloc(g->n_param_floats ? g->n_param_floats : 1, sizeof(float));
    g->grad_block = grads ? calloc(g->n_param_floats ? g->n_param_floats : 1, sizeof(float)) : NULL;
    g->buffer_block = calloc(g->n_buffer_floats ? g->n_buffer_floats : 1, sizeof(float));
    if (!g->param_block || (grads && !g->grad_block) || !g->buffer_block) {
        st = sn_error(SN_ERR_NOMEM, "compile: cannot allocate %zu parameters and %zu buffer floats",
                      g->n_param_floats, g->n_buffer_floats);
        goto done;
    }

    /* The arena's plan (src/graph/plan.c). */
    for (int id = 0; id < g->n_nodes; id++) kept[id] = (unsigned char)sn_graph_is_kept(g, id);
    if ((st = sn_plan_make(&plan, g->nodes, g->n_nodes, kept, work)) != SN_OK) goto done;
    g->arena_bytes = plan.bytes;
    g->arena = aligned_alloc(SN_ALIGN, plan.bytes ? plan.bytes : SN_ALIGN);
    if (!g->arena) {
        st = sn_error(SN_ERR_NOMEM, "compile: cannot allocate an arena of %zu bytes", plan.bytes);
        goto done;
    }

    /* Wire every value, gradient and scratch area; a node sharing a buffer
     * takes its root's, which comes earlier in creation order. */
    size_t param_off = 0, buffer_off = 0;
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *n = &g->nodes[id];
        if (n->kind == SN_NODE_PARAM) {
            n->value = g->param_block + param_off;
            n->grad = grads ? g->grad_block + param_off : NULL;
            param_off += (size_t)sn_shape_numel(&n->shape);
            continue;
        }
        if (n->kind == SN_NODE_BUFFER) {
            n->value = g->buffer_block + buffer_off;
            n->grad = NULL;
            buffer_off += (size_t)sn_shape_numel(&n->shape);
            continue;
        }
        const int v = plan.value_root[id], d = plan.grad_root[id];
        n->value = v == id ? (float *)(g->arena + plan.bufs[plan.value_buf[id]].offset)
                           : g->nodes[v].value;
        n->grad = d == SN_NONE ? NULL
                  : d == id    ? (float *)(g->arena + plan.bufs[plan.grad_buf[id]].offset)
                               : g->nodes[d].grad;
        /* Inputs start zeroed, as the caller may leave some unfilled (a loss's
         * target in sn_model_forward); nothing else is read before written. */
        if (n->kind == SN_NODE_INPUT) {
            memset(n->value, 0, (size_t)sn_shape_numel(&n->shape) * sizeof(float));
            if (n->grad) memset(n->grad, 0, (size_t)sn_shape_numel(&n->shape) * sizeof(float));
        }
    }
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *n = &g->nodes[id];
        if (n->kind != SN_NODE_OP) continue;
        for (int i = 0; i < n->io.n_in; i++) {
            if (!n->io.has_in[i]) continue;
            const sn_node *input = &g->nodes[n->in[i]];
            n->io.in[i] = input->value;
            n->io.din[i] = input->grad;
            n->io.state[i] = input->kind == SN_NODE_BUFFER ? input->value : NULL;
        }
        n->io.out = n->value;
        n->io.dout = n->grad;
        n->work_forward = work[id] ? g->arena + plan.bufs[plan.work_buf[id]].offset : NULL;
        n->work_backward =
            work[id] ? g->arena + plan.bufs[plan.work_backward_buf[id]].offset : NULL;
        n->io.work = n->work_forward;
        n->io.work_size = work[id];
        n->io.rng = &g->rng;
    }
    for (int id = 0; id < g->n_nodes; id++) {
        g->nodes[id].kept = kept[id];
        g->nodes[id].capacity = sn_shape_numel(&g->nodes[id].shape);
        g->nodes[id].work_capacity = work[id];
    }
    g->max_batch = g->batch = batch_of_inputs(g);
    g->compiled = 1;
done:
    sn_plan_free(&plan);
    free(work);
    free(kept);
    return st;
}

/* ---- batch size ---- */

/* Sets dim 0 of every input to n and infers every op again; fails if any op's
 * output or scratch would exceed what compile planned. */
static sn_status apply_batch(sn_graph *g, int64_t n) {
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *node = &g->nodes[id];
        if (node->kind == SN_NODE_INPUT && node->shape.ndim >= 1) node->shape.dim[0] = n;
        if (node->kind != SN_NODE_OP) continue;
        for (int i = 0; i < node->io.n_in; i++)
            if (node->io.has_in[i]) node->io.in_shape[i] = g->nodes[node->in[i]].shape;
        size_t work = 0;
        if (node->op->infer(&node->io, &work) != SN_OK)
            return sn_error_prefix("batch %lld: node %d (%s): ", (long long)n, id, node->op->name);
        if (sn_shape_numel(&node->io.out_shape) > node->capacity || work > node->work_capacity)
            return sn_error(SN_ERR_SHAPE, "batch %lld: node %d (%s) would outgrow its buffers",
                            (long long)n, id, node->op->name);
        node->shape = node->io.out_shape;
    }
    return SN_OK;
}

sn_status sn_graph_set_batch(sn_graph *g, int64_t n) {
    if (!g || !g->compiled) return sn_error(SN_ERR_STATE, "set_batch: graph is not compiled");
    if (g->max_batch == 0)
        return sn_error(SN_ERR_STATE, "set_batch: the inputs do not share a batch dimension");
    if (n < 1 || n > g->max_batch)
        return sn_error(SN_ERR_INVALID_ARG, "set_batch: batch %lld is outside [1, %lld]",
                        (long long)n, (long long)g->max_batch);
    if (n == g->batch) return SN_OK;
    sn_status st = apply_batch(g, n);
    if (st != SN_OK) {
        apply_batch(g, g->batch); /* the old batch was valid: put it back */
        return st;
    }
    g->batch = n;
    g->forward_done = 0;
    return SN_OK;
}

int64_t sn_graph_batch(const sn_graph *g) {
    return g ? g->batch : 0;
}

/* ---- run ---- */

void sn_graph_set_training(sn_graph *g, int training) {
    if (g) g->training = training != 0;
}

/* ---- profiling ---- */

static long long clock_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

sn_status sn_graph_set_profiling(sn_graph *g, int on) {
    if (!g) return sn_error(SN_ERR_INVALID_ARG, "set_profiling: graph is NULL");
    /* After compile no node can be added: the table below fits. */
    if (!g->compiled) return sn_error(SN_ERR_STATE, "set_profiling: graph is not compiled");
    free(g->node_time);
    g->node_time = NULL;
    if (!on) return SN_OK;
    g->node_time = calloc((size_t)g->n_nodes, sizeof *g->node_time); /* (n_nodes) */
    if (!g->node_time) return sn_error(SN_ERR_NOMEM, "set_profiling: out of memory");
    return SN_OK;
}

sn_status sn_graph_node_time(const sn_graph *g, int node, double *forward_s, double *backward_s,
                             int64_t *forward_calls, int64_t *backward_calls) {
    if (!g || node < 0 || node >= g->n_nodes)
        return sn_error(SN_ERR_INVALID_ARG, "node_time: no node %d", node);
    if (!g->node_time)
        return sn_error(SN_ERR_STATE, "node_time: profiling is off (sn_graph_set_profiling)");
    const sn_node_time *t = &g->node_time[node];
    if (forward_s) *forward_s = 1e-9 * (double)t->forward_ns;
    if (backward_s) *backward_s = 1e-9 * (double)t->backward_ns;
    if (forward_calls) *forward_calls = t->forward_calls;
    if (backward_calls) *backward_calls = t->backward_calls;
    return SN_OK;
}

sn_status sn_graph_forward(sn_graph *g) {
    if (!g || !g->compiled) return sn_error(SN_ERR_STATE, "forward: graph is not compiled");
    g->rng_at_forward = g->rng;
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *n = &g->nodes[id];
        if (n->kind != SN_NODE_OP) continue;
        n->io.training = g->training;
        n->io.work = n->work_forward;
        const long long t0 = g->node_time ? clock_ns() : 0;
        sn_status st = n->op->forward(&n->io);
        if (g->node_time) {
            g->node_time[id].forward_ns += clock_ns() - t0;
            g->node_time[id].forward_calls++;
        }
        if (st != SN_OK) {
            g->forward_done = 0;
            return sn_error_prefix("node %d (%s): ", id, n->op->name);
        }
    }
    g->forward_done = 1;
    return SN_OK;
}

/* Gradients are cleared in spans on the pool (src/ops/chunks.h). */
static void zero_span(void *ctx, int64_t begin, int64_t end) {
    memset((float *)ctx + begin, 0, (size_t)(end - begin) * sizeof(float));
}

static void zero_floats(const sn_graph *g, float *v, size_t n) {
    sn_parallel_items((int64_t)n, 1, g->workers, zero_span, v);
}

void sn_graph_zero_grad(sn_graph *g) {
    if (!g || !g->compiled || !g->grad_block) return;
    zero_floats(g, g->grad_block, g->n_param_floats);
    for (int id = 0; id < g->n_nodes; id++) {
        const sn_node *n = &g->nodes[id];
        if (n->kind == SN_NODE_INPUT && n->grad)
            zero_floats(g, n->grad, (size_t)sn_shape_numel(&n->shape));
    }
}

sn_status sn_graph_set_grad_mode(sn_graph *g, sn_grad_mode mode) {
    if (!g || !g->compiled) return sn_error(SN_ERR_STATE, "grad mode: graph is not compiled");
    if (mode != SN_GRAD_ACCUMULATE && mode != SN_GRAD_SET)
        return sn_error(SN_ERR_INVALID_ARG, "grad mode: %d is neither accumulate (0) nor set (1)",
                        (int)mode);
    g->grad_mode = mode;
    return SN_OK;
}

/* 1 when input slot i of node n holds a node that is in another slot too:
 * both slots add into its gradient, so neither may write it whole. */
static int input_twice(const sn_node *n, int i) {
    for (int j = 0; j < n->io.n_in; j++)
        if (j != i && n->io.has_in[j] && n->in[j] == n->in[i]) return 1;
    return 0;
}

/* Under SN_GRAD_SET, before node n's backward: for each parameter input
 * whose gradient this backward has not written yet, either lets the op write
 * it (SN_OP_BWD_CAN_SET) or clears it; marks it written (grad_ready, unused
 * for parameters otherwise). A parameter in two input slots of one node is
 * cleared and added into by both. */
static void prepare_param_grads(sn_graph *g, sn_node *n) {
    if (g->grad_mode != SN_GRAD_SET) return;
    for (int i = 0; i < n->io.n_in; i++) {
        const int p = n->in[i];
        if (!n->io.has_in[i] || !n->io.din[i] || g->nodes[p].kind != SN_NODE_PARAM ||
            g->grad_ready[p])
            continue;
        if ((n->op->flags & SN_OP_BWD_CAN_SET) && !input_twice(n, i))
            n->io.din_set |= 1u << i;
        else
            zero_floats(g, n->io.din[i], (size_t)sn_shape_numel(&g->nodes[p].shape));
        g->grad_ready[p] = 1;
    }
}

/* Clears the gradient of op node id, once per backward. */
static void clear_op_grad(sn_graph *g, int id) {
    sn_node *n = &g->nodes[id];
    if (g->grad_ready[id] || n->kind != SN_NODE_OP || !n->grad) return;
    zero_floats(g, n->grad, (size_t)sn_shape_numel(&n->shape));
    g->grad_ready[id] = 1;
}

sn_status sn_graph_backward_from(sn_graph *g, int node, const float *seed) {
    if (!g || !g->compiled) return sn_error(SN_ERR_STATE, "backward: graph is not compiled");
    if (node < 0 || node >= g->n_nodes)
        return sn_error(SN_ERR_INVALID_ARG, "backward: no node %d", node);
    if (!seed) return sn_error(SN_ERR_INVALID_ARG, "backward: seed is NULL");
    if (g->plan == SN_PLAN_INFERENCE)
        return sn_error(SN_ERR_STATE, "backward: the graph was compiled for inference");
    if (!g->forward_done)
        return sn_error(SN_ERR_STATE, g->plan == SN_PLAN_LEAN
                                          ? "backward: run forward first (a lean plan runs one "
                                            "backward per forward)"
                                          : "backward: run forward first");
    sn_node *top = &g->nodes[node];
    if (!top->requires_grad) { /* nothing trainable below this node */
        if (g->grad_mode == SN_GRAD_SET && g->grad_block)
            zero_floats(g, g->grad_block, g->n_param_floats);
        return SN_OK;
    }

    /* Op-node gradients are per-step scratch, cleared here; parameter and
     * input gradients accumulate across calls until sn_graph_zero_grad. Each
     * op gradient is cleared just before the first backward that adds into it
     * (every backward accumulates, src/ops/op.h), not all at the start: then
     * its lines are still in cache when that backward adds into them. */
    memset(g->grad_ready, 0, (size_t)g->n_nodes);
    clear_op_grad(g, node);
    size_t numel = (size_t)sn_shape_numel(&top->shape);
    for (size_t i = 0; i < numel; i++) top->grad[i] += seed[i];

    /* Mark the ancestors of `node`; only they take part. */
    memset(g->on_path, 0, (size_t)g->n_nodes);
    g->on_path[node] = 1;
    for (int id = node; id >= 0; id--) {
        sn_node *n = &g->nodes[id];
        if (!g->on_path[id] || n->kind != SN_NODE_OP) continue;
        for (int i = 0; i < n->io.n_in; i++)
            if (n->io.has_in[i]) g->on_path[n->in[i]] = 1;
    }
    /* Reverse creation order is a reverse topological order. */
    for (int id = node; id >= 0; id--) {
        sn_node *n = &g->nodes[id];
        if (!g->on_path[id] || n->kind != SN_NODE_OP || !n->requires_grad) continue;
        clear_op_grad(g, id); /* no backward added into it: its gradient is zero */
        n->io.din_set = 0;
        for (int i = 0; i < n->io.n_in; i++) {
            if (!n->io.has_in[i] || !n->io.din[i]) continue;
            const int in = n->in[i];
            if (n->io.din[i] == n->io.dout) {
                g->grad_ready[in] = 1; /* in place: backward writes it whole */
            } else if (g->nodes[in].kind == SN_NODE_OP && !g->grad_ready[in] &&
                       (n->op->flags & SN_OP_BWD_CAN_SET) && !input_twice(n, i)) {
                /* The first backward into an op gradient writes it whole, each
                 * chunk its own part while it is in cache, instead of a pass
                 * that clears it first (LeNet-5: 2.1 MB a step, ~14 us). */
                n->io.din_set |= 1u << i;
                g->grad_ready[in] = 1;
            } else {
                clear_op_grad(g, in);
            }
        }
        prepare_param_grads(g, n);
        n->io.work = n->work_backward;
        const long long t0 = g->node_time ? clock_ns() : 0;
        n->op->backward(&n->io);
        if (g->node_time) {
            g->node_time[id].backward_ns += clock_ns() - t0;
            g->node_time[id].backward_calls++;
        }
    }
    /* The kept op gradients off the path are zero, as if all had been
     * cleared; the others share their space with buffers of other lifetimes.
     * Under SN_GRAD_SET, so are the parameter gradients not written. */
    for (int id = 0; id < g->n_nodes; id++) {
        sn_node *n = &g->nodes[id];
        if (n->kept) clear_op_grad(g, id);
        if (g->grad_mode == SN_GRAD_SET && n->kind == SN_NODE_PARAM && n->grad &&
            !g->grad_ready[id]) {
            zero_floats(g, n->grad, (size_t)sn_shape_numel(&n->shape));
            g->grad_ready[id] = 1;
        }
    }
    /* A lean plan has reused what this backward read: it needs a new forward. */
    if (g->plan != SN_PLAN_KEEP_ALL) g->forward_done = 0;
    return SN_OK;
}

sn_status sn_graph_backward(sn_graph *g, int loss) {
    if (!g || !g->compiled) return sn_error(SN_ERR_STATE, "backward: graph is not compiled");
    if (loss < 0 || loss >= g->n_nodes)
        return sn_error(SN_ERR_INVALID_ARG, "backward: no node %d", loss);
    if (sn_shape_numel(&g->nodes[loss].shape) != 1) {
        char buf[64];
        return sn_error(SN_ERR_SHAPE,
                        "backward: node %d (%s) has shape %s, not a scalar; use "
                        "sn_graph_backward_from with a seed",
                        loss, g->nodes[loss].name,
                        sn_shape_format(&g->nodes[loss].shape, buf, sizeof buf));
    }
    const float one = 1.0f;
    return sn_graph_backward_from(g, loss, &one);
}

/* ---- access ---- */

static sn_node *node_at(const sn_graph *g, int node) {
    if (!g || node < 0 || node >= g->n_nodes) return NULL;
    return &g->nodes[node];
}

sn_node *sn_graph_node_at(sn_graph *g, int id) {
    return node_at(g, id);
}

float *sn_graph_value(sn_graph *g, int node) {
    sn_node *n = node_at(g, node);
    return n && g->compiled && n->kept ? n->value : NULL;
}

float *sn_graph_grad(sn_graph *g, int node) {
    sn_node *n = node_at(g, node);
    return n && g->compiled && n->kept ? n->grad : NULL;
}

const sn_shape *sn_graph_shape(const sn_graph *g, int node) {
    sn_node *n = node_at(g, node);
    return n && (g->compiled || n->kind != SN_NODE_OP) ? &n->shape : NULL;
}

const char *sn_graph_node_name(const sn_graph *g, int node) {
    sn_node *n = node_at(g, node);
    return n ? n->name : NULL;
}

int sn_graph_node_count(const sn_graph *g) {
    return g ? g->n_nodes : 0;
}

float *sn_graph_params(sn_graph *g, size_t *count) {
    if (count) *count = g && g->compiled ? g->n_param_floats : 0;
    return g && g->compiled ? g->param_block : NULL;
}

float *sn_graph_grads(sn_graph *g, size_t *count) {
    const int has = g && g->compiled && g->grad_block;
    if (count) *count = has ? g->n_param_floats : 0;
    return has ? g->grad_block : NULL;
}

int sn_graph_param_count(const sn_graph *g) {
    return g ? g->n_params : 0;
}

int sn_graph_param_node(const sn_graph *g, int index) {
    if (!g || index < 0 || index >= g->n_params) return SN_NONE;
    return g->param_ids[index];
}

float *sn_graph_buffers(sn_graph *g, size_t *count) {
    if (count) *count = g && g->compiled ? g->n_buffer_floats : 0;
    return g && g->compiled ? g->buffer_block : NULL;
}

int sn_graph_buffer_count(const sn_graph *g) {
    return g ? g->n_buffers : 0;
}

int sn_graph_buffer_node(const sn_graph *g, int index) {
    if (!g || index < 0 || index >= g->n_buffers) return SN_NONE;
    return g->buffer_ids[index];
}

sn_rng *sn_graph_rng(sn_graph *g) {
    return g ? &g->rng : NULL;
}

size_t sn_graph_arena_bytes(const sn_graph *g) {
    return g ? g->arena_bytes : 0;
}

void sn_graph_fill_arena(sn_graph *g, unsigned char byte) {
    if (g && g->arena) memset(g->arena, byte, g->arena_bytes);
}

sn_status sn_graph_replay_forward(sn_graph *g, sn_graph_visit_fn visit, void *ctx) {
    if (!g || !g->compiled || !visit)
        return sn_error(SN_ERR_STATE, "replay: graph is not compiled");
    float *buffers = malloc(sizeof *buffers * (g->n_buffer_floats ? g->n_buffer_floats : 1));
    if (!buffers) return sn_error(SN_ERR_NOMEM, "replay: out of memory");
    memcpy(buffers, g->buffer_block, sizeof *buffers * g->n_buffer_floats);
    const sn_rng after = g->rng;
    g->rng = g->rng_at_forward;
    sn_status st = SN_OK;
    int stop = 0;
    for (int id = 0; id < g->n_nodes && !stop && st == SN_OK; id++) {
        sn_node *n = &g->nodes[id];
        if (n->kind == SN_NODE_OP) {
            n->io.training = g->training;
            n->io.work = n->work_forward;
            if ((st = n->op->forward(&n->io)) != SN_OK) break;
        }
        stop = visit(ctx, id, n->value, sn_shape_numel(&n->shape));
    }
    memcpy(g->buffer_block, buffers, sizeof *buffers * g->n_buffer_floats);
    free(buffers);
    g->rng = after;
    g->forward_done = 0;
    return st;
}

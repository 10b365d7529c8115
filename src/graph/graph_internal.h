/* Private layout of sn_graph, shared by graph.c and builders.c. */
#ifndef SN_GRAPH_INTERNAL_H
#define SN_GRAPH_INTERNAL_H

#include "ops/op.h"

typedef enum { SN_NODE_INPUT, SN_NODE_PARAM, SN_NODE_BUFFER, SN_NODE_OP } sn_node_kind;

#define SN_NAME_CAP 64

typedef struct sn_node {
    sn_node_kind kind;
    const sn_op *op; /* NULL for leaves */
    char name[SN_NAME_CAP];
    int in[SN_OP_MAX_IN]; /* input node ids, SN_NONE where absent */
    sn_op_attr attr;
    sn_shape shape;       /* declared (leaves) or inferred (ops) */
    int64_t capacity;     /* elements planned at compile (the largest batch) */
    size_t work_capacity; /* scratch bytes planned at compile */
    int requires_grad;
    float *value, *grad; /* set at compile; grad NULL when not needed */
    sn_op_io io;         /* op nodes: buffers wired once at compile */
} sn_node;

/* Records an op node after checking its input ids; optional_mask has bit i set
 * when input slot i may be SN_NONE. Returns the node id or SN_NONE. */
int sn_graph_add_op(sn_graph *g, const sn_op *op, int n_in, const int *in, unsigned optional_mask,
                    const sn_op_attr *attr);

/* Records a builder's error (st, with sn_last_error() as its message) to be
 * reported by compile, unless an earlier one is kept; returns SN_NONE. */
int sn_graph_build_error(sn_graph *g, sn_status st);

/* The node with this id, or NULL. For tests that swap an op's table entry
 * (the gradient check's negative control corrupts one backward). */
sn_node *sn_graph_node_at(sn_graph *g, int id);

#endif

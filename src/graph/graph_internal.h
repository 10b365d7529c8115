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
    int kept;                           /* sn_graph_keep: value and gradient readable after a run */
    float *value, *grad;                /* set at compile; grad NULL when not needed */
    void *work_forward, *work_backward; /* io.work of each call: the same buffer
                                           unless the op is SN_OP_WORK_PER_CALL */
    sn_op_io io;                        /* op nodes: buffers wired once at compile */
} sn_node;

/* ---- the memory plan (plan.c) ---- */

/* One arena buffer: `bytes` (rounded up to 64 by sn_plan_place) alive over
 * the step times [begin, end], both included, at `offset`. */
typedef struct sn_plan_buf {
    size_t bytes;
    int begin, end;
    size_t offset;
} sn_plan_buf;

/* Places the buffers (sets every offset) so that two alive at a same time
 * never share a byte; *total is the arena size. */
sn_status sn_plan_place(sn_plan_buf *bufs, int n, size_t *total);
/* The most bytes (each rounded up to 64) alive at one time, at *peak: no
 * placement is smaller. */
size_t sn_plan_lower_bound(const sn_plan_buf *bufs, int n, int *peak);
/* 1 (and the pair) when two buffers alive at a same time share a byte. */
int sn_plan_find_overlap(const sn_plan_buf *bufs, int n, int *first, int *second);

/* The plan of a graph: per node, the node whose value (gradient) buffer it
 * uses (itself, its input's for an alias or an in-place op, SN_NONE for no
 * gradient), and the index in bufs of the buffers it owns (SN_NONE if none). */
typedef struct sn_plan {
    int *value_root, *grad_root;          /* (n) */
    int *value_buf, *grad_buf, *work_buf; /* (n) */
    int *work_backward_buf;               /* (n) backward's own work buffer
                                             (SN_OP_WORK_PER_CALL), else work_buf */
    sn_plan_buf *bufs;                    /* (n_bufs) */
    int n_bufs;
    size_t bytes; /* the arena */
} sn_plan;

/* Plans n nodes (shapes inferred, requires_grad set): kept[id] = 1 for a node
 * whose value and gradient stay valid, alone, over the whole step; work[id]
 * its scratch bytes. Parameters and buffers get no arena buffer. Checks the
 * result with sn_plan_find_overlap. sn_plan_free releases it. */
sn_status sn_plan_make(sn_plan *p, const sn_node *nodes, int n, const unsigned char *kept,
                       const size_t *work);
void sn_plan_free(sn_plan *p);

/* Fills the arena with `byte` (tests: a plan that reads a buffer before
 * writing it shows as a changed result, NaN for 0xff). */
void sn_graph_fill_arena(sn_graph *g, unsigned char byte);

/* Runs forward again as the last one ran (the dropout stream rewound to where
 * that forward started; the buffers' values, which forward may update, put
 * back after), calling visit after every node, leaves first in creation
 * order, with its value, valid at that moment whatever the plan; stops at
 * the first nonzero return. For diagnostics of a lean plan (which module
 * first went non-finite). Allocates; after it, backward needs a new forward. */
typedef int (*sn_graph_visit_fn)(void *ctx, int node, const float *value, int64_t numel);
sn_status sn_graph_replay_forward(sn_graph *g, sn_graph_visit_fn visit, void *ctx);

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

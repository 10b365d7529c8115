/*
 * The graph's memory plan: which nodes share a value or gradient buffer, the
 * lifetime of every buffer over one step, and where each buffer lives in the
 * arena so that buffers alive at the same time never overlap.
 *
 * The step's timeline: the forward of node i at time i, then the backward of
 * node i at time 2n-1-i (reverse creation order), END = 2n after both. A
 * buffer lives over [begin, end], both ends included:
 *   value     from its node's forward to its last read: a consumer's forward,
 *             a consumer's backward unless that op declares SN_OP_BWD_NO_IN
 *             for the slot, its own backward unless SN_OP_BWD_NO_OUT;
 *   gradient  from the backward of its last consumer (or the start of
 *             backward when it has none: a seed of sn_graph_backward_from)
 *             to its own backward, which reads it as dout;
 *   work      from its node's forward to its backward (arg-max and masks
 *             persist), to its forward alone without one; an op with
 *             SN_OP_WORK_PER_CALL (conv2d) gets two, one alive for its
 *             forward alone, the other for its backward alone.
 * A kept node's value and gradient, every input's (filled before forward,
 * read after it), and requested input gradients (which accumulate across
 * calls) live over [0, END]: alone.
 *
 * Sharing, decided in creation order:
 *   alias     an SN_OP_ALIAS node (reshape) that is not kept IS its input's
 *             buffer; the buffer then lives until the alias's reads end too.
 *   in place  an SN_OP_INPLACE node (relu, dropout...) that is not kept writes
 *             into its input's buffer when nothing reads that buffer after
 *             this node's forward (the reads of every node already in it are
 *             known: no other consumer later, no backward reading it), no
 *             node in it is kept, it is not a leaf's, and the sizes match.
 *   gradient  such a node's gradient is its input's when that input is an op
 *             node, not kept, whose only use is this node's slot 0: the
 *             input's gradient then has no other contribution, and the op
 *             writes din = 0 + ... over dout (src/ops/op.h).
 * Placement is greedy, each buffer at the best-fitting gap (smallest that
 * holds it, lowest offset on ties) among the buffers already placed whose
 * lifetimes overlap its own, as ggml-alloc and MXNet's planner do; in three
 * orders (largest first, largest bytes x lifetime first, those alive at the
 * peak first), keeping the smallest arena. Everything depends on the shapes,
 * the flags and the work sizes only, so the plan is the same on every run;
 * another thread count (conv2d's scratch is per worker) moves buffers, which
 * changes no result.
 */
#include "graph/graph_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SN_PLAN_ALIGN 64

static size_t align_up(size_t x) {
    return (x + SN_PLAN_ALIGN - 1) / SN_PLAN_ALIGN * SN_PLAN_ALIGN;
}

static int times_overlap(const sn_plan_buf *a, const sn_plan_buf *b) {
    return a->begin <= b->end && b->begin <= a->end;
}

static int bytes_overlap(const sn_plan_buf *a, const sn_plan_buf *b) {
    return a->bytes && b->bytes && a->offset < b->offset + b->bytes &&
           b->offset < a->offset + a->bytes;
}

int sn_plan_find_overlap(const sn_plan_buf *bufs, int n, int *first, int *second) {
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (times_overlap(&bufs[i], &bufs[j]) && bytes_overlap(&bufs[i], &bufs[j])) {
                if (first) *first = i;
                if (second) *second = j;
                return 1;
            }
    return 0;
}

/* Orders of placement; each returns < 0 when buffer a goes before b, and ends
 * on the index, so that every order is total and the plan deterministic. */
typedef struct order_ctx {
    const sn_plan_buf *bufs;
    int peak; /* a time when the bytes alive are the most */
} order_ctx;
typedef int (*placement_order)(const order_ctx *c, int a, int b);

static int larger_first(const order_ctx *c, int a, int b) {
    const sn_plan_buf *x = &c->bufs[a], *y = &c->bufs[b];
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (a > b) - (a < b);
}

/* Bytes times lifetime: the buffers that constrain most, first. */
static int larger_area_first(const order_ctx *c, int a, int b) {
    const sn_plan_buf *x = &c->bufs[a], *y = &c->bufs[b];
    const double area_x = (double)x->bytes * (double)(x->end - x->begin + 1);
    const double area_y = (double)y->bytes * (double)(y->end - y->begin + 1);
    if (area_x != area_y) return area_x > area_y ? -1 : 1;
    return larger_first(c, a, b);
}

/* The buffers alive at the peak first (packed, they take the least space
 * possible there), then by area. */
static int peak_first(const order_ctx *c, int a, int b) {
    const int pa = c->bufs[a].begin <= c->peak && c->peak <= c->bufs[a].end;
    const int pb = c->bufs[b].begin <= c->peak && c->peak <= c->bufs[b].end;
    if (pa != pb) return pa ? -1 : 1;
    return larger_area_first(c, a, b);
}

size_t sn_plan_lower_bound(const sn_plan_buf *bufs, int n, int *peak) {
    int last = 0;
    for (int i = 0; i < n; i++)
        if (bufs[i].end > last) last = bufs[i].end;
    size_t most = 0;
    if (peak) *peak = 0;
    for (int t = 0; t <= last; t++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            if (bufs[i].begin <= t && t <= bufs[i].end) live += align_up(bufs[i].bytes);
        if (live > most) {
            most = live;
            if (peak) *peak = t;
        }
    }
    return most;
}

/* Insertion sort: a graph has a few hundred buffers at most, and a
 * comparator with an argument needs no file-scope state (qsort would). */
static void sort_ids(int *ids, int n, const order_ctx *c, placement_order before) {
    for (int i = 1; i < n; i++) {
        const int id = ids[i];
        int j = i;
        for (; j > 0 && before(c, id, ids[j - 1]) < 0; j--) ids[j] = ids[j - 1];
        ids[j] = id;
    }
}

/* Places bufs in `order`, each at the smallest gap that holds it (the lowest
 * offset on ties) among the placed buffers alive at a same time, else after
 * them all. Offsets go to at[]; returns the arena size, SIZE_MAX on overflow. */
static size_t place_in_order(const sn_plan_buf *bufs, const int *order, int n, int *live,
                             size_t *at) {
    size_t top = 0;
    for (int k = 0; k < n; k++) {
        const sn_plan_buf *b = &bufs[order[k]];
        int n_live = 0;
        for (int j = 0; j < k; j++) {
            const int o = order[j];
            if (!bufs[o].bytes || !times_overlap(b, &bufs[o])) continue;
            int i = n_live++; /* kept sorted by offset */
            for (; i > 0 && at[live[i - 1]] > at[o]; i--) live[i] = live[i - 1];
            live[i] = o;
        }
        size_t end = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
        for (int j = 0; j < n_live; j++) {
            const size_t offset = at[live[j]], gap = offset > end ? offset - end : 0;
            if (gap >= b->bytes && gap < best_gap) {
                best_gap = gap;
                best = end;
            }
            if (offset + bufs[live[j]].bytes > end) end = offset + bufs[live[j]].bytes;
        }
        if (best == SIZE_MAX) best = end; /* no gap holds it: after the last */
        if (best > SIZE_MAX - b->bytes) return SIZE_MAX;
        at[order[k]] = best;
        if (best + b->bytes > top) top = best + b->bytes;
    }
    return top;
}

sn_status sn_plan_place(sn_plan_buf *bufs, int n, size_t *total) {
    static const placement_order orders[] = {larger_first, larger_area_first, peak_first};
    const size_t count = (size_t)(n ? n : 1);
    int *order = malloc(sizeof *order * count);
    int *live = malloc(sizeof *live * count); /* placed, alive at a same time, by offset */
    size_t *at = malloc(sizeof *at * count), *best_at = malloc(sizeof *best_at * count);
    if (!order || !live || !at || !best_at) {
        free(order);
        free(live);
        free(at);
        free(best_at);
        return sn_error(SN_ERR_NOMEM, "compile: out of memory for the memory plan");
    }
    for (int i = 0; i < n; i++) {
        bufs[i].bytes = align_up(bufs[i].bytes);
        best_at[i] = 0;
    }
    /* No one greedy order is best for every graph: models/cnn2.txt training
     * (batch 64) takes 28.0 MiB largest first, 27.3 by area (bound 25.0);
     * LeNet-5's 2.66 largest first, 2.37 peak first, its bound. Try each,
     * keep the smallest arena, the first on ties. */
    order_ctx ctx = {bufs, 0};
    sn_plan_lower_bound(bufs, n, &ctx.peak);
    size_t best = SIZE_MAX;
    for (size_t o = 0; o < sizeof orders / sizeof orders[0]; o++) {
        for (int i = 0; i < n; i++) order[i] = i;
        sort_ids(order, n, &ctx, orders[o]);
        const size_t top = place_in_order(bufs, order, n, live, at);
        if (top < best) {
            best = top;
            memcpy(best_at, at, sizeof *at * (size_t)n);
        }
    }
    for (int i = 0; i < n; i++) bufs[i].offset = best_at[i];
    free(order);
    free(live);
    free(at);
    free(best_at);
    *total = best == SIZE_MAX ? 0 : best;
    return best == SIZE_MAX ? sn_error(SN_ERR_NOMEM, "graph: arena too large") : SN_OK;
}

/* ---- liveness and sharing ---- */

static int bwd_time(int n, int id) {
    return 2 * n - 1 - id;
}

static int64_t numel_of(const sn_node *node) {
    return sn_shape_numel(&node->shape);
}

/* Adds a buffer of `bytes` over [begin, end]; returns its index. */
static int add_buf(sn_plan *p, size_t bytes, int begin, int end) {
    sn_plan_buf *b = &p->bufs[p->n_bufs];
    b->bytes = bytes;
    b->begin = begin;
    b->end = end;
    b->offset = 0;
    return p->n_bufs++;
}

void sn_plan_free(sn_plan *p) {
    free(p->value_root);
    free(p->grad_root);
    free(p->value_buf);
    free(p->grad_buf);
    free(p->work_buf);
    free(p->work_backward_buf);
    free(p->bufs);
    memset(p, 0, sizeof *p);
}

sn_status sn_plan_make(sn_plan *p, const sn_node *nodes, int n, const unsigned char *kept,
                       const size_t *work) {
    memset(p, 0, sizeof *p);
    const size_t count = (size_t)(n ? n : 1);
    const int end_time = 2 * n;
    p->value_root = malloc(sizeof(int) * count);
    p->grad_root = malloc(sizeof(int) * count);
    p->value_buf = malloc(sizeof(int) * count);
    p->grad_buf = malloc(sizeof(int) * count);
    p->work_buf = malloc(sizeof(int) * count);
    p->work_backward_buf = malloc(sizeof(int) * count);
    /* at most a value, a gradient and two work buffers each */
    p->bufs = malloc(sizeof *p->bufs * 4 * count);
    int *scratch = calloc(5 * count, sizeof *scratch);
    if (!p->value_root || !p->grad_root || !p->value_buf || !p->grad_buf || !p->work_buf ||
        !p->work_backward_buf || !p->bufs || !scratch) {
        free(scratch);
        sn_plan_free(p);
        return sn_error(SN_ERR_NOMEM, "compile: out of memory for the memory plan");
    }
    int *last = scratch;               /* (n) last read of each value; for the root of
                                          a shared buffer, of them all */
    int *first_grad = scratch + count; /* (n) first write of each gradient */
    int *uses = scratch + 2 * count;   /* (n) input slots naming each node */
    int *grad_begin = scratch + 3 * count, *grad_end = scratch + 4 * count; /* (n) per root */
    for (int id = 0; id < n; id++) {
        last[id] = kept[id] ? end_time : id;
        first_grad[id] = n; /* the start of backward, unless a consumer writes it later */
        p->value_root[id] = id;
        p->grad_root[id] = nodes[id].requires_grad ? id : SN_NONE;
        p->value_buf[id] = p->grad_buf[id] = p->work_buf[id] = p->work_backward_buf[id] = SN_NONE;
    }
    /* Last reads of every value, first writes of every gradient. */
    for (int c = 0; c < n; c++) {
        const sn_node *node = &nodes[c];
        if (node->kind != SN_NODE_OP) continue;
        const unsigned flags = node->op->flags;
        const int runs_backward = node->requires_grad;
        for (int s = 0; s < node->io.n_in; s++) {
            if (!node->io.has_in[s]) continue;
            const int v = node->in[s];
            uses[v]++;
            if (c > last[v]) last[v] = c;
            if (runs_backward && !(flags & SN_OP_BWD_NO_IN(s)) && bwd_time(n, c) > last[v])
                last[v] = bwd_time(n, c);
        }
        if (runs_backward && !(flags & SN_OP_BWD_NO_OUT) && bwd_time(n, c) > last[c])
            last[c] = bwd_time(n, c);
    }
    /* The latest consumer that runs backward writes a gradient first. */
    for (int c = n - 1; c >= 0; c--) {
        const sn_node *node = &nodes[c];
        if (node->kind != SN_NODE_OP || !node->requires_grad) continue;
        for (int s = 0; s < node->io.n_in; s++)
            if (node->io.has_in[s] && first_grad[node->in[s]] == n)
                first_grad[node->in[s]] = bwd_time(n, c);
    }
    /* Values: own buffers, aliases and in-place outputs, in creation order.
     * Every member of a shared buffer before this node has joined, so last[r]
     * holds all the reads of what the buffer held so far. A kept node joins
     * nothing, and nothing writes into a kept node's buffer. */
    for (int id = 0; id < n; id++) {
        const sn_node *node = &nodes[id];
        if (node->kind != SN_NODE_OP || kept[id] || !node->io.has_in[0]) continue;
        const unsigned flags = node->op->flags;
        const int a = node->in[0], r = p->value_root[a];
        int shared = 0;
        if (flags & SN_OP_ALIAS) {
            shared = 1;
        } else if (flags & SN_OP_INPLACE) {
            int other_slot = 0;
            for (int s = 1; s < node->io.n_in; s++)
                other_slot |= node->io.has_in[s] && node->in[s] == a;
            shared = nodes[r].kind == SN_NODE_OP && !kept[r] && last[r] <= id && !other_slot &&
                     numel_of(&nodes[a]) == numel_of(node);
        }
        if (!shared) continue;
        p->value_root[id] = r;
        if (last[id] > last[r]) last[r] = last[id];
    }
    for (int id = 0; id < n; id++) {
        const sn_node *node = &nodes[id];
        if (node->kind == SN_NODE_PARAM || node->kind == SN_NODE_BUFFER) continue;
        /* An input is filled by the caller before forward and read after: it
         * lives over the whole step whatever its id, as a kept node does. */
        const int whole = node->kind == SN_NODE_INPUT || kept[id];
        if (p->value_root[id] == id)
            p->value_buf[id] = add_buf(p, (size_t)numel_of(node) * sizeof(float), whole ? 0 : id,
                                       whole ? end_time : last[id]);
    }
    /* Gradients: an input's requested one is kept; an op node's may be its
     * in-place or alias consumer's. */
    for (int id = 0; id < n; id++) {
        const sn_node *node = &nodes[id];
        if (!node->requires_grad || node->kind == SN_NODE_PARAM) continue;
        const int whole = kept[id] || node->kind == SN_NODE_INPUT;
        const int begin = whole ? 0 : first_grad[id], end = whole ? end_time : bwd_time(n, id);
        const unsigned flags = node->kind == SN_NODE_OP ? node->op->flags : 0;
        const int a = node->kind == SN_NODE_OP && node->io.has_in[0] ? node->in[0] : SN_NONE;
        if (!whole && (flags & (SN_OP_INPLACE | SN_OP_ALIAS)) && a != SN_NONE &&
            nodes[a].kind == SN_NODE_OP && nodes[a].requires_grad && !kept[a] && uses[a] == 1) {
            const int r = p->grad_root[a];
            p->grad_root[id] = r;
            if (begin < grad_begin[r]) grad_begin[r] = begin;
            continue;
        }
        grad_begin[id] = begin;
        grad_end[id] = end;
    }
    for (int id = 0; id < n; id++)
        if (p->grad_root[id] == id && nodes[id].kind != SN_NODE_PARAM)
            p->grad_buf[id] = add_buf(p, (size_t)numel_of(&nodes[id]) * sizeof(float),
                                      grad_begin[id], grad_end[id]);
    for (int id = 0; id < n; id++) {
        if (!work[id]) continue;
        /* Scratch of one call at a time: forward's and backward's apart. */
        const int per_call = nodes[id].kind == SN_NODE_OP &&
                             (nodes[id].op->flags & SN_OP_WORK_PER_CALL) && !kept[id];
        if (per_call && nodes[id].requires_grad) {
            p->work_buf[id] = add_buf(p, work[id], id, id);
            p->work_backward_buf[id] = add_buf(p, work[id], bwd_time(n, id), bwd_time(n, id));
            continue;
        }
        p->work_buf[id] = p->work_backward_buf[id] =
            add_buf(p, work[id], id,
                    kept[id]                  ? end_time
                    : nodes[id].requires_grad ? bwd_time(n, id)
                                              : id);
    }
    free(scratch);
    sn_status st = sn_plan_place(p->bufs, p->n_bufs, &p->bytes);
    int i, j;
    if (st == SN_OK && sn_plan_find_overlap(p->bufs, p->n_bufs, &i, &j))
        st = sn_error(SN_ERR_STATE, "compile: the memory plan overlaps buffers %d and %d", i, j);
    if (st != SN_OK) sn_plan_free(p);
    return st;
}

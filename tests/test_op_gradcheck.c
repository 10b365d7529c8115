/*
 * Finite-difference gradient checks for every differentiable op, on at least
 * three shapes each (batch 1, odd sizes, asymmetric stride and padding), and a
 * negative control per case: the same check with the op's backward corrupted in
 * one element must fail. See support/gradcheck.h for the method.
 */
#include "support/gradcheck.h"
#include "support/test_support.h"

#include <stdio.h>
#include <string.h>

#include "graph/graph_internal.h"

/* What a case builds: a graph, the node under test, the node checked. */
typedef struct built {
    sn_graph *g;
    int op;
    int out;
} built;

typedef enum { FILL_UNIFORM, FILL_PROB, FILL_CLASS } fill_kind;

typedef struct leaf_spec {
    int ndim;
    int64_t dim[4];
    fill_kind fill;
    int param; /* a parameter (weight) rather than an input with a gradient */
} leaf_spec;

typedef struct gc_case {
    const char *name;
    int n_leaves;
    leaf_spec leaf[3];
    /* Builds the op over the leaf nodes; returns the op node. */
    int (*op)(sn_graph *g, const int *leaf, const struct gc_case *c);
    int a, b, c, d, e, f; /* op arguments (stride, padding, kernel...) */
    float x;              /* a float argument (slope, p, eps) */
    int eval_mode;
    /* After the leaves are filled: sets state the op reads (running statistics). */
    void (*prepare)(sn_graph *g, int op);
} gc_case;

static int64_t classes_of(const gc_case *c) {
    return c->leaf[0].dim[1];
}

static built build(const gc_case *c) {
    built b = {sn_graph_create(7), SN_NONE, SN_NONE};
    int leaf[3] = {SN_NONE, SN_NONE, SN_NONE};
    for (int i = 0; i < c->n_leaves; i++) {
        char name[16];
        snprintf(name, sizeof name, "in%d", i);
        const leaf_spec *s = &c->leaf[i];
        if (s->ndim < 0) continue;
        leaf[i] =
            s->param ? sn_param(b.g, name, s->ndim, s->dim) : sn_input(b.g, name, s->ndim, s->dim);
        if (!s->param && s->fill != FILL_CLASS) sn_graph_set_requires_grad(b.g, leaf[i], 1);
    }
    b.op = c->op(b.g, leaf, c);
    b.out = b.op;
    SN_ASSERT_OK(sn_graph_compile(b.g));
    sn_graph_set_training(b.g, !c->eval_mode);
    sn_rng rng;
    sn_rng_seed(&rng, 2024, 5);
    for (int i = 0; i < c->n_leaves; i++) {
        if (leaf[i] == SN_NONE) continue;
        float *v = sn_graph_value(b.g, leaf[i]);
        int64_t n = sn_shape_numel(sn_graph_shape(b.g, leaf[i]));
        for (int64_t k = 0; k < n; k++) {
            switch (c->leaf[i].fill) {
            case FILL_UNIFORM:
                v[k] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
                break;
            case FILL_PROB:
                v[k] = 0.05f + 0.9f * sn_rng_uniform(&rng);
                break;
            case FILL_CLASS:
                v[k] = (float)sn_rng_below(&rng, (uint64_t)classes_of(c));
                break;
            }
        }
    }
    if (c->prepare) c->prepare(b.g, b.op);
    return b;
}

/* ---- op builders ---- */

static int op_linear(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_linear(g, l[0], l[1], l[2]);
}
static int op_add(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_add(g, l[0], l[1]);
}
static int op_conv2d(sn_graph *g, const int *l, const gc_case *c) {
    return sn_conv2d(g, l[0], l[1], l[2], c->a, c->b, c->c, c->d);
}
static int op_maxpool(sn_graph *g, const int *l, const gc_case *c) {
    return sn_maxpool2d(g, l[0], c->a, c->b, c->c, c->d, c->e, c->f);
}
static int op_avgpool_incl(sn_graph *g, const int *l, const gc_case *c) {
    return sn_avgpool2d(g, l[0], c->a, c->b, c->c, c->d, c->e, c->f, 1);
}
static int op_avgpool_excl(sn_graph *g, const int *l, const gc_case *c) {
    return sn_avgpool2d(g, l[0], c->a, c->b, c->c, c->d, c->e, c->f, 0);
}
static int op_flatten(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_flatten(g, l[0]);
}
static int op_reshape(sn_graph *g, const int *l, const gc_case *c) {
    return sn_reshape(g, l[0], 2, (int64_t[]){c->a, c->b});
}
static int op_relu(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_relu(g, l[0]);
}
static int op_leaky(sn_graph *g, const int *l, const gc_case *c) {
    return sn_leaky_relu(g, l[0], c->x);
}
static int op_sigmoid(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_sigmoid(g, l[0]);
}
static int op_tanh(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_tanh(g, l[0]);
}
static int op_softmax(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_softmax(g, l[0]);
}
static int op_log_softmax(sn_graph *g, const int *l, const gc_case *c) {
    (void)c;
    return sn_log_softmax(g, l[0]);
}
static int op_dropout(sn_graph *g, const int *l, const gc_case *c) {
    return sn_dropout(g, l[0], c->x);
}
/* batch_norm over leaves x, weight, bias (NOBIAS twice: affine=False); with
 * c->a the running statistics as buffers; eps c->x, momentum 0.1. */
static int op_batch_norm(sn_graph *g, const int *l, const gc_case *c) {
    const int64_t channels = c->leaf[0].dim[1];
    int mean = SN_NONE, var = SN_NONE, count = SN_NONE;
    if (c->a) {
        mean = sn_buffer(g, "running_mean", 1, &channels);
        var = sn_buffer(g, "running_var", 1, &channels);
        count = sn_buffer(g, "num_batches_tracked", 0, NULL);
    }
    return sn_batch_norm(g, l[0], l[1], l[2], mean, var, count, 0.1f, c->x);
}

/* Running statistics away from torch's initial (0, 1), so that evaluation
 * mode's scale and shift are not the identity. */
static void prepare_running_stats(sn_graph *g, int op) {
    const sn_node *n = sn_graph_node_at(g, op);
    if (n->in[3] == SN_NONE) return;
    float *mean = sn_graph_value(g, n->in[3]), *var = sn_graph_value(g, n->in[4]);
    const int64_t channels = sn_shape_numel(sn_graph_shape(g, n->in[3]));
    for (int64_t c = 0; c < channels; c++) {
        mean[c] = 0.3f * (float)c - 0.4f;
        var[c] = 0.5f + 0.25f * (float)c;
    }
}

static int op_mse(sn_graph *g, const int *l, const gc_case *c) {
    return sn_mse(g, l[0], l[1], (sn_reduction)c->a);
}
static int op_bce(sn_graph *g, const int *l, const gc_case *c) {
    return sn_bce(g, l[0], l[1], (sn_reduction)c->a);
}
static int op_bce_logits(sn_graph *g, const int *l, const gc_case *c) {
    return sn_bce_with_logits(g, l[0], l[1], (sn_reduction)c->a);
}
static int op_nll(sn_graph *g, const int *l, const gc_case *c) {
    return sn_nll(g, l[0], l[1], (sn_reduction)c->a);
}
static int op_cross_entropy(sn_graph *g, const int *l, const gc_case *c) {
    return sn_cross_entropy(g, l[0], l[1], (sn_reduction)c->a);
}

/* ---- the cases ---- */

#define IN(...)                                                                                    \
    { sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}, FILL_UNIFORM, 0 }
#define PARAM(...)                                                                                 \
    { sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}, FILL_UNIFORM, 1 }
#define PROB(...)                                                                                  \
    { sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}, FILL_PROB, 0 }
#define CLASS(...)                                                                                 \
    { sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t), {__VA_ARGS__}, FILL_CLASS, 0 }
#define NOBIAS                                                                                     \
    { -1, {0}, FILL_UNIFORM, 0 } /* an absent optional input */

static const gc_case cases[] = {
    {"linear 1x3->2", 3, {IN(1, 3), PARAM(2, 3), PARAM(2)}, op_linear},
    {"linear 5x7->3 no bias", 3, {IN(5, 7), PARAM(3, 7), NOBIAS}, op_linear},
    {"linear 4x1->1", 3, {IN(4, 1), PARAM(1, 1), PARAM(1)}, op_linear},
    {"add same 1x4", 2, {IN(1, 4), IN(1, 4)}, op_add},
    {"add (5,7)+(7)", 2, {IN(5, 7), IN(7)}, op_add},
    {"add (2,3,4,5)+(3,1,1)", 2, {IN(2, 3, 4, 5), IN(3, 1, 1)}, op_add},
    {"add (4,1)+(1,3)", 2, {IN(4, 1), IN(1, 3)}, op_add},
    {"conv2d 1x1x5x5 k3 s1 p0",
     3,
     {IN(1, 1, 5, 5), PARAM(2, 1, 3, 3), PARAM(2)},
     op_conv2d,
     1,
     1,
     0,
     0},
    {"conv2d 2x3x7x6 k3x2 s(3,2) p(1,0)",
     3,
     {IN(2, 3, 7, 6), PARAM(4, 3, 3, 2), PARAM(4)},
     op_conv2d,
     3,
     2,
     1,
     0},
    {"conv2d 1x2x6x7 k2x3 s(1,2) p(0,2) no bias",
     3,
     {IN(1, 2, 6, 7), PARAM(3, 2, 2, 3), NOBIAS},
     op_conv2d,
     1,
     2,
     0,
     2},
    {"conv2d 3x1x4x4 k1", 3, {IN(3, 1, 4, 4), PARAM(1, 1, 1, 1), PARAM(1)}, op_conv2d, 1, 1, 0, 0},
    {"conv2d 1x3x9x8 k5x4 s(2,3) p(2,1)",
     3,
     {IN(1, 3, 9, 8), PARAM(8, 3, 5, 4), PARAM(8)},
     op_conv2d,
     2,
     3,
     2,
     1},
    {"maxpool 1x1x4x4 k2", 1, {IN(1, 1, 4, 4)}, op_maxpool, 2, 2, 2, 2, 0, 0},
    {"maxpool 2x3x7x5 k3x2 s(2,1) p(1,0)", 1, {IN(2, 3, 7, 5)}, op_maxpool, 3, 2, 2, 1, 1, 0},
    {"maxpool 1x2x5x6 k3 s(1,2) p1", 1, {IN(1, 2, 5, 6)}, op_maxpool, 3, 3, 1, 2, 1, 1},
    {"avgpool 1x1x4x4 k2", 1, {IN(1, 1, 4, 4)}, op_avgpool_incl, 2, 2, 2, 2, 0, 0},
    {"avgpool 2x3x7x5 k3x2 s(2,1) p(1,0)", 1, {IN(2, 3, 7, 5)}, op_avgpool_incl, 3, 2, 2, 1, 1, 0},
    {"avgpool excl-pad 1x2x5x6 k3 s(1,2) p1",
     1,
     {IN(1, 2, 5, 6)},
     op_avgpool_excl,
     3,
     3,
     1,
     2,
     1,
     1},
    {"flatten 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_flatten},
    {"flatten 1x7", 1, {IN(1, 7)}, op_flatten},
    {"reshape 6x4->3x8", 1, {IN(6, 4)}, op_reshape, 3, 8},
    {"relu 1x5", 1, {IN(1, 5)}, op_relu},
    {"relu 3x7", 1, {IN(3, 7)}, op_relu},
    {"relu 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_relu},
    {"leaky_relu 1x1", 1, {IN(1, 1)}, op_leaky, .x = 0.1f},
    {"leaky_relu 3x7", 1, {IN(3, 7)}, op_leaky, .x = 0.01f},
    {"leaky_relu 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_leaky, .x = 0.2f},
    {"sigmoid 1x1", 1, {IN(1, 1)}, op_sigmoid},
    {"sigmoid 3x7", 1, {IN(3, 7)}, op_sigmoid},
    {"sigmoid 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_sigmoid},
    {"tanh 1x1", 1, {IN(1, 1)}, op_tanh},
    {"tanh 3x7", 1, {IN(3, 7)}, op_tanh},
    {"tanh 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_tanh},
    {"softmax 1x5", 1, {IN(1, 5)}, op_softmax},
    {"softmax 4x3", 1, {IN(4, 3)}, op_softmax},
    {"softmax 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_softmax},
    {"log_softmax 1x5", 1, {IN(1, 5)}, op_log_softmax},
    {"log_softmax 4x3", 1, {IN(4, 3)}, op_log_softmax},
    {"log_softmax 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_log_softmax},
    {"dropout p=0.3 1x7", 1, {IN(1, 7)}, op_dropout, .x = 0.3f},
    {"dropout p=0.5 4x9", 1, {IN(4, 9)}, op_dropout, .x = 0.5f},
    {"dropout p=0.2 2x3x4x5", 1, {IN(2, 3, 4, 5)}, op_dropout, .x = 0.2f},
    {"dropout eval 3x5", 1, {IN(3, 5)}, op_dropout, .x = 0.5f, .eval_mode = 1},
    {"batch_norm2d train 2x3x4x5",
     3,
     {IN(2, 3, 4, 5), PARAM(3), PARAM(3)},
     op_batch_norm,
     1,
     .x = 1e-5f,
     .prepare = prepare_running_stats},
    {"batch_norm2d train batch 1 1x2x3x3",
     3,
     {IN(1, 2, 3, 3), PARAM(2), PARAM(2)},
     op_batch_norm,
     1,
     .x = 1e-5f,
     .prepare = prepare_running_stats},
    {"batch_norm2d train no affine 3x2x3x2",
     3,
     {IN(3, 2, 3, 2), NOBIAS, NOBIAS},
     op_batch_norm,
     1,
     .x = 1e-3f,
     .prepare = prepare_running_stats},
    {"batch_norm1d train 5x4", 3, {IN(5, 4), PARAM(4), PARAM(4)}, op_batch_norm, 1, .x = 1e-5f},
    {"batch_norm1d train 2x3x5 (N,C,L)",
     3,
     {IN(2, 3, 5), PARAM(3), PARAM(3)},
     op_batch_norm,
     1,
     .x = 1e-5f},
    {"batch_norm1d no running stats 4x3",
     3,
     {IN(4, 3), PARAM(3), PARAM(3)},
     op_batch_norm,
     0,
     .x = 1e-5f},
    {"batch_norm2d eval 2x3x4x4",
     3,
     {IN(2, 3, 4, 4), PARAM(3), PARAM(3)},
     op_batch_norm,
     1,
     .x = 1e-5f,
     .eval_mode = 1,
     .prepare = prepare_running_stats},
    {"batch_norm1d eval 3x4",
     3,
     {IN(3, 4), PARAM(4), PARAM(4)},
     op_batch_norm,
     1,
     .x = 1e-5f,
     .eval_mode = 1,
     .prepare = prepare_running_stats},
    {"batch_norm1d eval no running stats 3x2",
     3,
     {IN(3, 2), PARAM(2), PARAM(2)},
     op_batch_norm,
     0,
     .x = 1e-5f,
     .eval_mode = 1},
    {"mse mean 1x1", 2, {IN(1, 1), IN(1, 1)}, op_mse, SN_REDUCTION_MEAN},
    {"mse sum 3x4", 2, {IN(3, 4), IN(3, 4)}, op_mse, SN_REDUCTION_SUM},
    {"mse mean 2x3x4x5", 2, {IN(2, 3, 4, 5), IN(2, 3, 4, 5)}, op_mse, SN_REDUCTION_MEAN},
    {"bce mean 1x1", 2, {PROB(1, 1), PROB(1, 1)}, op_bce, SN_REDUCTION_MEAN},
    {"bce sum 3x4", 2, {PROB(3, 4), PROB(3, 4)}, op_bce, SN_REDUCTION_SUM},
    {"bce mean 5x1", 2, {PROB(5, 1), PROB(5, 1)}, op_bce, SN_REDUCTION_MEAN},
    {"bce_with_logits mean 1x1", 2, {IN(1, 1), PROB(1, 1)}, op_bce_logits, SN_REDUCTION_MEAN},
    {"bce_with_logits sum 3x4", 2, {IN(3, 4), PROB(3, 4)}, op_bce_logits, SN_REDUCTION_SUM},
    {"bce_with_logits mean 2x3x4x5",
     2,
     {IN(2, 3, 4, 5), PROB(2, 3, 4, 5)},
     op_bce_logits,
     SN_REDUCTION_MEAN},
    {"nll mean 1x3", 2, {IN(1, 3), CLASS(1)}, op_nll, SN_REDUCTION_MEAN},
    {"nll sum 5x4", 2, {IN(5, 4), CLASS(5)}, op_nll, SN_REDUCTION_SUM},
    {"nll mean 7x10", 2, {IN(7, 10), CLASS(7)}, op_nll, SN_REDUCTION_MEAN},
    {"cross_entropy mean 1x3", 2, {IN(1, 3), CLASS(1)}, op_cross_entropy, SN_REDUCTION_MEAN},
    {"cross_entropy sum 5x4", 2, {IN(5, 4), CLASS(5)}, op_cross_entropy, SN_REDUCTION_SUM},
    {"cross_entropy mean 7x10", 2, {IN(7, 10), CLASS(7)}, op_cross_entropy, SN_REDUCTION_MEAN},
};

static void test_every_op(void **state) {
    (void)state;
    int n_cases = (int)(sizeof cases / sizeof cases[0]), failures = 0;
    for (int i = 0; i < n_cases; i++) {
        const gc_case *c = &cases[i];
        built b = build(c);
        sn_gradcheck_result res, neg;
        sn_gradcheck_opts opts = sn_gradcheck_defaults();
        int ok = sn_gradcheck(b.g, b.out, &opts, &res);
        opts.perturb_node = b.op;
        int neg_passed = sn_gradcheck(b.g, b.out, &opts, &neg);
        printf("%-42s %s checked %4d (significant %4d, kinks %d) max err %.2e | "
               "negative control %s\n",
               c->name, ok ? "ok  " : "FAIL", res.checked, res.significant, res.skipped_kinks,
               res.max_abs_err, neg_passed ? "PASSED (bad)" : "failed (good)");
        if (!ok)
            printf("    %s; %d failed, %d vacuous tensors\n", res.worst, res.failed,
                   res.vacuous_tensors);
        failures += !ok + neg_passed;
        sn_graph_destroy(b.g);
    }
    printf("%d cases, %d failures\n", n_cases, failures);
    assert_int_equal(failures, 0);
}

/* The guard: a backward that produces an all-zero gradient must fail the check
 * even where the numeric gradient is small, and a check where both gradients
 * are zero everywhere (nothing reaches the parameter) must fail as vacuous. */
static void test_zero_gradient_cannot_pass(void **state) {
    (void)state;
    built b = build(&cases[1]); /* linear 5x7->3 */
    sn_gradcheck_result res;
    sn_gradcheck_opts opts = sn_gradcheck_defaults();
    opts.perturb_node = b.op;
    opts.perturb_zero = 1;
    assert_int_equal(sn_gradcheck(b.g, b.out, &opts, &res), 0);
    assert_true(res.failed > 0);
    sn_graph_destroy(b.g);

    /* relu of an all-negative input: d out / d x is zero everywhere, truly. */
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 2, (int64_t[]){2, 3});
    sn_graph_set_requires_grad(g, x, 1);
    int y = sn_relu(g, x);
    SN_ASSERT_OK(sn_graph_compile(g));
    float *xv = sn_graph_value(g, x);
    for (int i = 0; i < 6; i++) xv[i] = -1.0f - (float)i;
    opts = sn_gradcheck_defaults();
    assert_int_equal(sn_gradcheck(g, y, &opts, &res), 0);
    assert_int_equal(res.vacuous_tensors, 1);
    assert_int_equal(res.failed, 0);
    sn_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op),
        cmocka_unit_test(test_zero_gradient_cannot_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

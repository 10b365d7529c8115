/*
 * The graph: build errors reported at compile, shape inference before compute,
 * parameter/gradient blocks, accumulation, DAGs (a value used twice, a residual
 * add) checked by finite differences, and misuse returning errors.
 */
#include "support/gradcheck.h"
#include "support/test_support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill(sn_graph *g, int node, uint64_t seed) {
    sn_rng r;
    sn_rng_seed(&r, seed, 11);
    float *v = sn_graph_value(g, node);
    int64_t n = sn_shape_numel(sn_graph_shape(g, node));
    for (int64_t i = 0; i < n; i++) v[i] = 2.0f * sn_rng_uniform(&r) - 1.0f;
}

static void test_shape_error_names_node_before_compute(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){4, 5});
    int w = sn_param(g, "0.weight", 2, (int64_t[]){3, 6});
    int y = sn_linear(g, x, w, SN_NONE);
    assert_int_equal(y, 2);
    assert_int_equal(sn_graph_compile(g), SN_ERR_SHAPE);
    assert_non_null(strstr(sn_last_error(), "node 2 (linear)"));
    assert_non_null(strstr(sn_last_error(), "5 features"));
    /* Nothing ran and nothing can run. */
    assert_null(sn_graph_value(g, y));
    assert_int_equal(sn_graph_forward(g), SN_ERR_STATE);
    sn_graph_destroy(g);
}

static void test_build_errors_surface_at_compile(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){4, 0}); /* bad size */
    assert_int_equal(x, SN_NONE);
    int w = sn_param(g, "w", 2, (int64_t[]){3, 4});
    int y = sn_relu(g, sn_linear(g, x, w, SN_NONE)); /* chain through the failure */
    assert_int_equal(y, SN_NONE);
    assert_int_equal(sn_linear(g, 99, w, SN_NONE), SN_NONE);
    assert_int_equal(sn_graph_compile(g), SN_ERR_SHAPE);
    /* The first error is the one reported, naming the leaf. */
    assert_non_null(strstr(sn_last_error(), "input 'x'"));
    sn_graph_destroy(g);

    g = sn_graph_create(0);
    assert_int_equal(sn_linear(g, 5, 6, SN_NONE), SN_NONE);
    assert_int_equal(sn_graph_compile(g), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "does not exist"));
    sn_graph_destroy(g);

    /* Misuse after compile. */
    g = sn_graph_create(0);
    x = sn_input(g, "x", 2, (int64_t[]){1, 2});
    w = sn_param(g, "w", 2, (int64_t[]){1, 2});
    y = sn_linear(g, x, w, SN_NONE);
    SN_ASSERT_OK(sn_graph_compile(g));
    assert_int_equal(sn_graph_compile(g), SN_ERR_STATE);
    assert_int_equal(sn_graph_backward(g, y), SN_ERR_STATE); /* no forward yet */
    assert_int_equal(sn_input(g, "late", 1, (int64_t[]){1}), SN_NONE);
    assert_int_equal(sn_graph_set_requires_grad(g, x, 1), SN_ERR_STATE);
    assert_int_equal(sn_graph_backward(g, 42), SN_ERR_INVALID_ARG);
    sn_graph_destroy(g);
    sn_graph_destroy(NULL);
    assert_int_equal(sn_graph_compile(NULL), SN_ERR_INVALID_ARG);
}

static void test_param_block_and_accumulation(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){3, 4});
    int w = sn_param(g, "0.weight", 2, (int64_t[]){2, 4});
    int b = sn_param(g, "0.bias", 1, (int64_t[]){2});
    int y = sn_linear(g, x, w, b);
    int t = sn_input(g, "t", 2, (int64_t[]){3, 2});
    int loss = sn_mse(g, y, t, SN_REDUCTION_SUM);
    SN_ASSERT_OK(sn_graph_compile(g));
    size_t n_params = 0, n_grads = 0;
    float *params = sn_graph_params(g, &n_params);
    float *grads = sn_graph_grads(g, &n_grads);
    assert_int_equal(n_params, 10);
    assert_int_equal(n_grads, 10);
    /* Per-tensor views into the blocks, in creation order. */
    assert_ptr_equal(sn_graph_value(g, w), params);
    assert_ptr_equal(sn_graph_value(g, b), params + 8);
    assert_ptr_equal(sn_graph_grad(g, b), grads + 8);
    assert_int_equal(sn_graph_param_count(g), 2);
    assert_int_equal(sn_graph_param_node(g, 1), b);
    assert_string_equal(sn_graph_node_name(g, w), "0.weight");
    assert_null(sn_graph_grad(g, x)); /* an input without requires_grad */
    fill(g, x, 1);
    fill(g, w, 2);
    fill(g, b, 3);
    fill(g, t, 4);
    SN_ASSERT_OK(sn_graph_forward(g));
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward(g, loss));
    float once[10];
    memcpy(once, grads, sizeof once);
    /* A second backward ADDS: gradients double; zero_grad clears. */
    SN_ASSERT_OK(sn_graph_backward(g, loss));
    for (int i = 0; i < 10; i++) assert_float_equal(grads[i], 2 * once[i], 1e-6);
    sn_graph_zero_grad(g);
    for (int i = 0; i < 10; i++) assert_true(grads[i] == 0.0f);
    /* Non-scalar backward needs a seed. */
    assert_int_equal(sn_graph_backward(g, y), SN_ERR_SHAPE);
    sn_graph_destroy(g);
}

/* y = W x used twice (y + y) and a residual block out = relu(W2 h) + h: every
 * path's contribution must be summed. Checked by finite differences. */
/* Buffers: a block of their own, no gradient, not parameters; an ordinary op
 * may read one (as a constant). */
static void test_buffer_block(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    int x = sn_input(g, "x", 2, (int64_t[]){2, 3});
    int w = sn_param(g, "w", 1, (int64_t[]){3});
    int shift = sn_buffer(g, "shift", 1, (int64_t[]){3});
    int scalar = sn_buffer(g, "count", 0, NULL);
    assert_int_equal(sn_buffer(g, "bad", -1, NULL), SN_NONE);
    assert_null(sn_graph_buffers(g, NULL)); /* not compiled yet */
    assert_int_equal(sn_graph_compile(g), SN_ERR_SHAPE);
    assert_non_null(strstr(sn_last_error(), "buffer 'bad'"));
    sn_graph_destroy(g);

    g = sn_graph_create(1);
    x = sn_input(g, "x", 2, (int64_t[]){2, 3});
    w = sn_param(g, "w", 1, (int64_t[]){3});
    shift = sn_buffer(g, "shift", 1, (int64_t[]){3});
    scalar = sn_buffer(g, "count", 0, NULL);
    int y = sn_add(g, sn_add(g, x, w), shift);
    SN_ASSERT_OK(sn_graph_compile(g));
    size_t n_params, n_buffers;
    float *params = sn_graph_params(g, &n_params), *buffers = sn_graph_buffers(g, &n_buffers);
    assert_int_equal(n_params, 3);
    assert_int_equal(n_buffers, 4);
    assert_ptr_equal(sn_graph_value(g, shift), buffers);
    assert_ptr_equal(sn_graph_value(g, scalar), buffers + 3);
    assert_ptr_equal(sn_graph_value(g, w), params);
    assert_null(sn_graph_grad(g, shift));
    assert_int_equal(sn_graph_buffer_count(g), 2);
    assert_int_equal(sn_graph_buffer_node(g, 1), scalar);
    assert_int_equal(sn_graph_buffer_node(g, -1), SN_NONE);
    assert_string_equal(sn_graph_node_name(g, shift), "shift");
    for (int i = 0; i < 6; i++) sn_graph_value(g, x)[i] = (float)i;
    for (int i = 0; i < 3; i++) buffers[i] = 10.0f * (float)(i + 1);
    SN_ASSERT_OK(sn_graph_forward(g));
    assert_true(sn_graph_value(g, y)[4] == 4.0f + 20.0f);
    sn_graph_zero_grad(g);
    const float ones[6] = {1, 1, 1, 1, 1, 1};
    SN_ASSERT_OK(sn_graph_backward_from(g, y, ones));
    assert_true(sn_graph_grad(g, w)[0] == 2.0f); /* the parameter learns, the buffer not */
    assert_true(buffers[0] == 10.0f);
    sn_graph_destroy(g);
}

static void test_dag_value_used_twice_and_residual(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){3, 5});
    sn_graph_set_requires_grad(g, x, 1);
    int w1 = sn_param(g, "w1", 2, (int64_t[]){5, 5});
    int w2 = sn_param(g, "w2", 2, (int64_t[]){5, 5});
    int b2 = sn_param(g, "b2", 1, (int64_t[]){5});
    int h = sn_linear(g, x, w1, SN_NONE);
    int twice = sn_add(g, h, h);
    int block = sn_tanh(g, sn_linear(g, twice, w2, b2));
    int out = sn_add(g, block, twice); /* residual */
    int again = sn_add(g, out, x);     /* the input used twice too */
    SN_ASSERT_OK(sn_graph_compile(g));
    fill(g, x, 5);
    fill(g, w1, 6);
    fill(g, w2, 7);
    fill(g, b2, 8);
    sn_gradcheck_result res;
    sn_gradcheck_opts opts = sn_gradcheck_defaults();
    int ok = sn_gradcheck(g, again, &opts, &res);
    printf("DAG: checked %d, max err %.2e %s\n", res.checked, res.max_abs_err, res.worst);
    assert_true(ok);
    /* Dropping one path's gradient (the first add) must be caught. */
    opts.perturb_node = twice;
    opts.perturb_zero = 1;
    assert_false(sn_gradcheck(g, again, &opts, &res));
    sn_graph_destroy(g);
}

/* Only ancestors of the loss are differentiated; a side branch is left alone. */
static void test_backward_follows_only_the_loss(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){2, 3});
    int w = sn_param(g, "w", 2, (int64_t[]){1, 3});
    int v = sn_param(g, "v", 2, (int64_t[]){4, 3});
    int t = sn_input(g, "t", 2, (int64_t[]){2, 1});
    int y = sn_linear(g, x, w, SN_NONE);
    int side = sn_linear(g, x, v, SN_NONE);
    (void)side;
    int loss = sn_mse(g, y, t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(g));
    fill(g, x, 1);
    fill(g, w, 2);
    fill(g, v, 3);
    SN_ASSERT_OK(sn_graph_forward(g));
    sn_graph_zero_grad(g);
    SN_ASSERT_OK(sn_graph_backward(g, loss));
    const float *gv = sn_graph_grad(g, v), *gw = sn_graph_grad(g, w);
    for (int i = 0; i < 12; i++) assert_true(gv[i] == 0.0f);
    float norm = 0;
    for (int i = 0; i < 3; i++) norm += gw[i] * gw[i];
    assert_true(norm > 0);
    sn_graph_destroy(g);
}

/* A small CNN with a mean loss, built at batch `batch`. */
typedef struct cnn {
    sn_graph *g;
    int x, t, w, b, v, loss, logits;
} cnn;

static cnn make_cnn(int64_t batch) {
    cnn c;
    c.g = sn_graph_create(9);
    c.x = sn_input(c.g, "x", 4, (int64_t[]){batch, 2, 6, 5});
    c.t = sn_input(c.g, "t", 1, (int64_t[]){batch});
    c.w = sn_param(c.g, "0.weight", 4, (int64_t[]){3, 2, 3, 3});
    c.b = sn_param(c.g, "0.bias", 1, (int64_t[]){3});
    c.v = sn_param(c.g, "3.weight", 2, (int64_t[]){4, 3 * 3 * 2});
    int h = sn_maxpool2d(c.g, sn_relu(c.g, sn_conv2d(c.g, c.x, c.w, c.b, 1, 1, 1, 1)), 2, 2, 2, 2,
                         0, 0);
    c.logits = sn_linear(c.g, sn_flatten(c.g, h), c.v, SN_NONE);
    c.loss = sn_cross_entropy(c.g, c.logits, c.t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(c.g));
    fill(c.g, c.w, 1);
    fill(c.g, c.b, 2);
    fill(c.g, c.v, 3);
    return c;
}

/* Compiled at batch 8 and run at 3, a graph gives what a graph compiled at 3
 * gives: same loss (a mean over 3), same gradients. */
static void test_smaller_batch_matches_a_graph_built_for_it(void **state) {
    (void)state;
    cnn big = make_cnn(8), small = make_cnn(3);
    assert_int_equal(sn_graph_batch(big.g), 8);
    SN_ASSERT_OK(sn_graph_set_batch(big.g, 3));
    assert_int_equal(sn_graph_batch(big.g), 3);
    assert_int_equal(sn_graph_shape(big.g, big.logits)->dim[0], 3);
    fill(big.g, big.x, 4); /* fills 3 rows now */
    fill(small.g, small.x, 4);
    for (int i = 0; i < 3; i++)
        sn_graph_value(big.g, big.t)[i] = sn_graph_value(small.g, small.t)[i] = (float)i;
    cnn both[2] = {big, small};
    for (int k = 0; k < 2; k++) {
        SN_ASSERT_OK(sn_graph_forward(both[k].g));
        sn_graph_zero_grad(both[k].g);
        SN_ASSERT_OK(sn_graph_backward(both[k].g, both[k].loss));
    }
    assert_float_equal(sn_graph_value(big.g, big.loss)[0], sn_graph_value(small.g, small.loss)[0],
                       1e-6);
    size_t n;
    const float *ga = sn_graph_grads(big.g, &n), *gb = sn_graph_grads(small.g, NULL);
    for (size_t i = 0; i < n; i++) assert_float_equal(ga[i], gb[i], 1e-6);

    /* Out of range, and back up to the compiled batch. */
    assert_int_equal(sn_graph_set_batch(big.g, 9), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_graph_set_batch(big.g, 0), SN_ERR_INVALID_ARG);
    SN_ASSERT_OK(sn_graph_set_batch(big.g, 8));
    assert_int_equal(sn_graph_shape(big.g, big.loss)->ndim, 0);
    sn_graph_destroy(big.g);
    sn_graph_destroy(small.g);

    /* A reshape to a fixed size cannot follow the batch: an error, batch kept. */
    sn_graph *g = sn_graph_create(0);
    int x = sn_input(g, "x", 2, (int64_t[]){6, 4});
    sn_reshape(g, x, 2, (int64_t[]){3, 8});
    SN_ASSERT_OK(sn_graph_compile(g));
    assert_int_equal(sn_graph_set_batch(g, 5), SN_ERR_SHAPE);
    assert_non_null(strstr(sn_last_error(), "batch 5"));
    assert_int_equal(sn_graph_batch(g), 6);
    sn_graph_destroy(g);
}

/* Profiling counts each op's forward and backward calls and leaves the
 * results as they were; leaves are never timed; it is refused before compile
 * and read back only while on. */
static void test_profiling_counts_calls(void **state) {
    (void)state;
    cnn c = make_cnn(4);
    float loss_before, loss_after;
    for (int i = 0; i < 4; i++) sn_graph_value(c.g, c.t)[i] = (float)(i % 4);
    fill(c.g, c.x, 5);
    SN_ASSERT_OK(sn_graph_forward(c.g));
    loss_before = sn_graph_value(c.g, c.loss)[0];
    assert_int_equal(sn_graph_node_time(c.g, c.loss, NULL, NULL, NULL, NULL), SN_ERR_STATE);

    SN_ASSERT_OK(sn_graph_set_profiling(c.g, 1));
    for (int step = 0; step < 3; step++) {
        SN_ASSERT_OK(sn_graph_forward(c.g));
        sn_graph_zero_grad(c.g);
        SN_ASSERT_OK(sn_graph_backward(c.g, c.loss));
    }
    SN_ASSERT_OK(sn_graph_forward(c.g));
    loss_after = sn_graph_value(c.g, c.loss)[0];
    assert_true(loss_after == loss_before);
    double f = -1, b = -1, total = 0;
    int64_t fc = -1, bc = -1;
    for (int id = 0; id < sn_graph_node_count(c.g); id++) {
        SN_ASSERT_OK(sn_graph_node_time(c.g, id, &f, &b, &fc, &bc));
        const int leaf = id == c.x || id == c.t || id == c.w || id == c.b || id == c.v;
        assert_int_equal(fc, leaf ? 0 : 4);
        assert_int_equal(bc, leaf ? 0 : 3);
        assert_true(f >= 0 && b >= 0 && (!leaf || f + b == 0));
        total += f + b;
    }
    assert_true(total > 0);
    assert_int_equal(sn_graph_node_time(c.g, -1, NULL, NULL, NULL, NULL), SN_ERR_INVALID_ARG);

    /* Turning it on again starts from zero; off, nothing is read. */
    SN_ASSERT_OK(sn_graph_set_profiling(c.g, 1));
    SN_ASSERT_OK(sn_graph_node_time(c.g, c.loss, &f, &b, &fc, &bc));
    assert_true(f == 0 && b == 0 && fc == 0 && bc == 0);
    SN_ASSERT_OK(sn_graph_set_profiling(c.g, 0));
    assert_int_equal(sn_graph_node_time(c.g, c.loss, &f, NULL, NULL, NULL), SN_ERR_STATE);
    sn_graph_destroy(c.g);

    sn_graph *g = sn_graph_create(0);
    sn_input(g, "x", 1, (int64_t[]){3});
    assert_int_equal(sn_graph_set_profiling(g, 1), SN_ERR_STATE);
    sn_graph_destroy(g);
}

/* SN_GRAD_SET: each backward writes the parameter gradients, bit for bit
 * what zero_grad + backward give, over any garbage left in them; a weight
 * used by two nodes is written by one and added into by the other; a
 * parameter the pass does not reach reads zero; ops with and without
 * SN_OP_BWD_CAN_SET (conv2d, linear / batch_norm) both. */
typedef struct set_net {
    sn_graph *g;
    int x, t, unused, loss, params[9];
} set_net;

static set_net set_net_build(void) {
    set_net n;
    sn_graph *g = n.g = sn_graph_create(0);
    n.x = sn_input(g, "x", 4, (int64_t[]){3, 2, 5, 5});
    int k = n.params[0] = sn_param(g, "c.weight", 4, (int64_t[]){4, 2, 3, 3});
    int kb = n.params[1] = sn_param(g, "c.bias", 1, (int64_t[]){4});
    int h = sn_conv2d(g, n.x, k, kb, 1, 1, 0, 0); /* (3, 4, 3, 3) */
    int gamma = n.params[2] = sn_param(g, "bn.weight", 1, (int64_t[]){4});
    int beta = n.params[3] = sn_param(g, "bn.bias", 1, (int64_t[]){4});
    int rm = sn_buffer(g, "bn.running_mean", 1, (int64_t[]){4});
    int rv = sn_buffer(g, "bn.running_var", 1, (int64_t[]){4});
    int nbt = sn_buffer(g, "bn.num_batches_tracked", 1, (int64_t[]){1});
    h = sn_flatten(g, sn_relu(g, sn_batch_norm(g, h, gamma, beta, rm, rv, nbt, 0.1f, 1e-5f)));
    int w = n.params[4] = sn_param(g, "w", 2, (int64_t[]){36, 36}); /* used twice */
    int b1 = n.params[5] = sn_param(g, "b1", 1, (int64_t[]){36});
    int b2 = n.params[6] = sn_param(g, "b2", 1, (int64_t[]){36});
    h = sn_linear(g, sn_relu(g, sn_linear(g, h, w, b1)), w, b2);
    int v = n.params[7] = sn_param(g, "v", 2, (int64_t[]){2, 36});
    n.unused = n.params[8] = sn_param(g, "unused", 1, (int64_t[]){5});
    n.t = sn_input(g, "t", 2, (int64_t[]){3, 2});
    n.loss = sn_mse(g, sn_linear(g, h, v, SN_NONE), n.t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(g));
    for (int i = 0; i < 9; i++) fill(g, n.params[i], 10 + (uint64_t)i);
    fill(g, n.x, 1);
    fill(g, n.t, 2);
    return n;
}

static void test_grad_mode_set(void **state) {
    (void)state;
    set_net n = set_net_build();
    size_t count;
    float *grads = sn_graph_grads(n.g, &count);
    float *want = malloc(count * sizeof *want);
    assert_non_null(want);
    /* Reference: accumulate mode, zero_grad then backward. */
    SN_ASSERT_OK(sn_graph_forward(n.g));
    sn_graph_zero_grad(n.g);
    SN_ASSERT_OK(sn_graph_backward(n.g, n.loss));
    memcpy(want, grads, count * sizeof *want);
    assert_true(want[0] != 0.0f);

    assert_int_equal(sn_graph_set_grad_mode(n.g, (sn_grad_mode)2), SN_ERR_INVALID_ARG);
    SN_ASSERT_OK(sn_graph_set_grad_mode(n.g, SN_GRAD_SET));
    for (int pass = 0; pass < 2; pass++) { /* no zero_grad: the second is not doubled */
        for (size_t i = 0; i < count; i++) grads[i] = i % 2 ? NAN : 7.0f; /* garbage */
        SN_ASSERT_OK(sn_graph_forward(n.g));
        SN_ASSERT_OK(sn_graph_backward(n.g, n.loss));
        assert_memory_equal(grads, want, count * sizeof *want);
        const float *u = sn_graph_grad(n.g, n.unused);
        for (int i = 0; i < 5; i++) assert_true(u[i] == 0.0f && !signbit(u[i]));
    }
    /* Back to accumulating: a second backward adds (up to rounding: the
     * shared weight's two contributions are added one at a time). */
    SN_ASSERT_OK(sn_graph_set_grad_mode(n.g, SN_GRAD_ACCUMULATE));
    SN_ASSERT_OK(sn_graph_forward(n.g));
    SN_ASSERT_OK(sn_graph_backward(n.g, n.loss));
    for (size_t i = 0; i < count; i++)
        assert_float_equal(grads[i], 2.0f * want[i], 1e-6 + 1e-5 * fabsf(want[i]));
    free(want);
    sn_graph_destroy(n.g);

    sn_graph *g = sn_graph_create(0);
    assert_int_equal(sn_graph_set_grad_mode(g, SN_GRAD_SET), SN_ERR_STATE); /* before compile */
    assert_int_equal(sn_graph_set_grad_mode(NULL, SN_GRAD_SET), SN_ERR_STATE);
    sn_graph_destroy(g);
}

/* The first backward into an op node's gradient writes it whole (din_set,
 * src/ops/op.h: MaxPool2d, Conv2d's dx, Linear's dx) instead of the graph
 * clearing it first: over op gradients filled with NaN before each pass,
 * every gradient has the bits of the first pass, whose buffers were fresh
 * zeros. A NaN left anywhere reaches the parameter gradients. */
static void test_op_grads_written_whole(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(0);
    const int x = sn_input(g, "x", 4, (int64_t[]){2, 2, 8, 8});
    const int k1 = sn_param(g, "k1", 4, (int64_t[]){3, 2, 3, 3});
    const int k2 = sn_param(g, "k2", 4, (int64_t[]){4, 3, 3, 3});
    const int w1 = sn_param(g, "w1", 2, (int64_t[]){5, 4});
    const int w2 = sn_param(g, "w2", 2, (int64_t[]){2, 5});
    int ops[8], n_ops = 0;
    int h = ops[n_ops++] = sn_conv2d(g, x, k1, SN_NONE, 1, 1, 1, 1); /* (2, 3, 8, 8) */
    h = ops[n_ops++] = sn_relu(g, h);
    h = ops[n_ops++] = sn_maxpool2d(g, h, 2, 2, 2, 2, 0, 0);     /* (2, 3, 4, 4) */
    h = ops[n_ops++] = sn_conv2d(g, h, k2, SN_NONE, 2, 2, 0, 0); /* (2, 4, 1, 1) */
    h = ops[n_ops++] = sn_flatten(g, h);                         /* (2, 4) */
    h = ops[n_ops++] = sn_relu(g, sn_linear(g, h, w1, SN_NONE));
    h = ops[n_ops++] = sn_linear(g, h, w2, SN_NONE);
    const int t = sn_input(g, "t", 2, (int64_t[]){2, 2});
    const int loss = sn_mse(g, h, t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_compile(g));
    SN_ASSERT_OK(sn_graph_set_grad_mode(g, SN_GRAD_SET));
    const int params[4] = {k1, k2, w1, w2};
    for (int i = 0; i < 4; i++) fill(g, params[i], 20 + (uint64_t)i);
    fill(g, x, 3);
    fill(g, t, 4);
    size_t count;
    const float *grads = sn_graph_grads(g, &count);
    SN_ASSERT_OK(sn_graph_forward(g));
    SN_ASSERT_OK(sn_graph_backward(g, loss));
    float *want = malloc(count * sizeof *want);
    assert_non_null(want);
    memcpy(want, grads, count * sizeof *want);
    for (size_t i = 0; i < count; i++) assert_false(isnan(want[i]));
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n_ops; i++) {
            float *d = sn_graph_grad(g, ops[i]);
            assert_non_null(d);
            const int64_t n = sn_shape_numel(sn_graph_shape(g, ops[i]));
            for (int64_t j = 0; j < n; j++) d[j] = NAN;
        }
        SN_ASSERT_OK(sn_graph_forward(g));
        SN_ASSERT_OK(sn_graph_backward(g, loss));
        assert_memory_equal(grads, want, count * sizeof *want);
    }
    free(want);
    sn_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_error_names_node_before_compute),
        cmocka_unit_test(test_build_errors_surface_at_compile),
        cmocka_unit_test(test_param_block_and_accumulation),
        cmocka_unit_test(test_buffer_block),
        cmocka_unit_test(test_dag_value_used_twice_and_residual),
        cmocka_unit_test(test_backward_follows_only_the_loss),
        cmocka_unit_test(test_smaller_batch_matches_a_graph_built_for_it),
        cmocka_unit_test(test_profiling_counts_calls),
        cmocka_unit_test(test_grad_mode_set),
        cmocka_unit_test(test_op_grads_written_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

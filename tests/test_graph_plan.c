/*
 * The arena's memory plan (src/graph/plan.c): every plan computes the same
 * bits (training LeNet-5, the CNN and small models with dropout, batch norm
 * and every in-place activation, through a smaller batch too, with the arena
 * filled with NaN first so that nothing relies on a zeroed or left-over
 * buffer); what may share memory does and what may not does not (a value
 * used twice, a kept node, a value a later backward reads); the overlap
 * checker and a forced unsafe in-place are the negative controls.
 */
#include "support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph_internal.h"
#include "sinapsi/model.h"
#include "train/numeric.h"

/* ---- whole models: the same bits under every plan ---- */

typedef struct run_result {
    float *params, *buffers; /* (n_params), (n_buffers) after the run */
    size_t n_params, n_buffers;
    float losses[8]; /* one per step */
    float out[64];   /* the last step's first output values */
    size_t arena;
} run_result;

/* Fills x with U[-1, 1) and y with class indices below `classes`. */
static void fill_batch(sn_rng *rng, float *x, int64_t nx, float *y, int64_t n, int classes) {
    for (int64_t i = 0; i < nx; i++) x[i] = 2.0f * sn_rng_uniform(rng) - 1.0f;
    for (int64_t i = 0; i < n; i++) y[i] = (float)sn_rng_below(rng, (uint64_t)classes);
}

/* Trains `steps` SGD steps at `batch`, then one at `small` (sn_graph_set_batch),
 * from the same seeds whatever the plan; arena filled with `fill` first
 * unless fill < 0. */
static run_result train_run(sn_model *m, const sn_shape *sample, int classes, int64_t batch,
                            int64_t small, int steps, sn_graph_plan plan, int fill) {
    run_result r;
    memset(&r, 0, sizeof r);
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = batch;
    o.sample_shape = *sample;
    o.loss = SN_LOSS_CROSS_ENTROPY;
    o.seed = 5;
    o.plan = plan;
    SN_ASSERT_OK(sn_model_compile(m, &o));
    SN_ASSERT_OK(sn_model_init(m, 3, SN_INIT_TORCH_DEFAULT));
    sn_graph *g = sn_model_graph(m);
    r.arena = sn_graph_arena_bytes(g);
    if (fill >= 0) sn_graph_fill_arena(g, (unsigned char)fill);
    sn_graph_set_training(g, 1);
    sn_rng data;
    sn_rng_seed(&data, 9, 1);
    const int64_t per_example = sn_shape_numel(sample);
    for (int s = 0; s <= steps; s++) {
        const int64_t n = s < steps ? batch : small;
        SN_ASSERT_OK(sn_graph_set_batch(g, n));
        float *x = sn_graph_value(g, sn_model_input_node(m));
        float *y = sn_graph_value(g, sn_model_target_node(m));
        assert_non_null(x);
        assert_non_null(y);
        fill_batch(&data, x, n * per_example, y, n, classes);
        SN_ASSERT_OK(sn_graph_forward(g));
        r.losses[s] = sn_graph_value(g, sn_model_loss_node(m))[0];
        sn_graph_zero_grad(g);
        SN_ASSERT_OK(sn_graph_backward(g, sn_model_loss_node(m)));
        size_t np;
        float *p = sn_graph_params(g, &np), *d = sn_graph_grads(g, &np);
        for (size_t i = 0; i < np; i++) p[i] -= 0.05f * d[i];
        const float *out = sn_graph_value(g, sn_model_output_node(m));
        assert_non_null(out);
        for (int i = 0; i < 64 && i < n * classes; i++) r.out[i] = out[i];
    }
    const float *p = sn_graph_params(g, &r.n_params);
    const float *b = sn_graph_buffers(g, &r.n_buffers);
    r.params = malloc(sizeof *r.params * (r.n_params ? r.n_params : 1));
    r.buffers = malloc(sizeof *r.buffers * (r.n_buffers ? r.n_buffers : 1));
    assert_non_null(r.params);
    assert_non_null(r.buffers);
    memcpy(r.params, p, sizeof *p * r.n_params);
    memcpy(r.buffers, b, sizeof *b * r.n_buffers);
    return r;
}

static void assert_same_bits(const run_result *a, const run_result *b) {
    assert_int_equal(a->n_params, b->n_params);
    assert_int_equal(a->n_buffers, b->n_buffers);
    assert_memory_equal(a->params, b->params, sizeof(float) * a->n_params);
    if (a->n_buffers) assert_memory_equal(a->buffers, b->buffers, sizeof(float) * a->n_buffers);
    assert_memory_equal(a->losses, b->losses, sizeof a->losses);
    assert_memory_equal(a->out, b->out, sizeof a->out);
}

static void free_run(run_result *r) {
    free(r->params);
    free(r->buffers);
}

/* Keep-all against lean (NaN-filled and not) on the same model; the lean
 * arena must be smaller. */
static void check_plans_agree(sn_model *m, const sn_shape *sample, int classes, int64_t batch,
                              int64_t small, int steps) {
    run_result all = train_run(m, sample, classes, batch, small, steps, SN_PLAN_KEEP_ALL, -1);
    run_result lean = train_run(m, sample, classes, batch, small, steps, SN_PLAN_LEAN, 0xff);
    run_result clean = train_run(m, sample, classes, batch, small, steps, SN_PLAN_LEAN, -1);
    for (int s = 0; s <= steps; s++) assert_true(isfinite(all.losses[s]));
    assert_same_bits(&all, &lean);
    assert_same_bits(&all, &clean);
    assert_true(lean.arena < all.arena);
    free_run(&all);
    free_run(&lean);
    free_run(&clean);
}

static sn_model *spec_model(const char *name) {
    char path[512];
    snprintf(path, sizeof path, SN_GOLDEN_DIR "/../../models/%s.txt", name);
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_from_spec_file(&m, path));
    return m;
}

static void test_lenet5_and_cnn_same_bits_under_every_plan(void **state) {
    (void)state;
    sn_shape image;
    SN_ASSERT_OK(sn_shape_make(&image, 3, (int64_t[]){1, 28, 28}));
    const char *names[] = {"lenet5", "cnn2", "mlp"};
    for (int i = 0; i < 3; i++) {
        sn_model *m = spec_model(names[i]);
        check_plans_agree(m, &image, 10, 6, 4, 3);
        sn_model_destroy(m);
    }
}

/* Every op with a flag: batch norm (1d, 2d), leaky_relu, avgpool, sigmoid,
 * tanh and dropout in place, flatten as an alias, an Identity. */
static void test_small_models_same_bits_under_every_plan(void **state) {
    (void)state;
    sn_module conv[] = {
        sn_module_conv2d(2, 4, 3, 3, 1, 1, 1, 1, 1),
        sn_module_batchnorm(SN_MOD_BATCHNORM2D, 4),
        sn_module_leaky_relu(0.1f),
        sn_module_avgpool2d(2, 2, 2, 2, 0, 0, 1),
        sn_module_dropout(0.2f),
        sn_module_plain(SN_MOD_FLATTEN),
        sn_module_linear(4 * 4 * 4, 12, 1),
        sn_module_batchnorm(SN_MOD_BATCHNORM1D, 12),
        sn_module_plain(SN_MOD_SIGMOID),
        sn_module_dropout(0.5f),
        sn_module_linear(12, 8, 1),
        sn_module_plain(SN_MOD_TANH),
        sn_module_plain(SN_MOD_IDENTITY),
        sn_module_linear(8, 3, 0),
    };
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, conv, (int)(sizeof conv / sizeof conv[0])));
    sn_shape sample;
    SN_ASSERT_OK(sn_shape_make(&sample, 3, (int64_t[]){2, 8, 8}));
    check_plans_agree(m, &sample, 3, 7, 3, 4);
    sn_model_destroy(m);
}

/* ---- raw graphs: what shares and what does not ---- */

static sn_node *node(sn_graph *g, int id) {
    sn_node *n = sn_graph_node_at(g, id);
    assert_non_null(n);
    return n;
}

/* x -> a = linear -> relu(a) and sigmoid(a) (a used twice) -> add -> h =
 * relu -> f = flatten -> mse against t. Returns the graph compiled under
 * `plan`, with x and the weights filled from one seed. */
typedef struct twice_graph {
    sn_graph *g;
    int x, w, a, r, s, sum, h, f, t, loss;
} twice_graph;

static twice_graph twice_build(sn_graph_plan plan, int keep_h) {
    twice_graph t;
    t.g = sn_graph_create(1);
    t.x = sn_input(t.g, "x", 2, (int64_t[]){5, 6});
    t.w = sn_param(t.g, "0.weight", 2, (int64_t[]){4, 6});
    t.a = sn_linear(t.g, t.x, t.w, SN_NONE);
    t.r = sn_relu(t.g, t.a);
    t.s = sn_sigmoid(t.g, t.a);
    t.sum = sn_add(t.g, t.r, t.s);
    t.h = sn_relu(t.g, t.sum);
    t.f = sn_flatten(t.g, t.h);
    t.t = sn_input(t.g, "t", 2, (int64_t[]){5, 4});
    t.loss = sn_mse(t.g, t.f, t.t, SN_REDUCTION_MEAN);
    SN_ASSERT_OK(sn_graph_set_plan(t.g, plan));
    SN_ASSERT_OK(sn_graph_keep(t.g, t.loss));
    if (keep_h) SN_ASSERT_OK(sn_graph_keep(t.g, t.h));
    SN_ASSERT_OK(sn_graph_compile(t.g));
    sn_graph_fill_arena(t.g, 0xff);
    sn_rng rng;
    sn_rng_seed(&rng, 4, 2);
    float *v[] = {sn_graph_value(t.g, t.x), sn_graph_value(t.g, t.w), sn_graph_value(t.g, t.t)};
    const int64_t n[] = {30, 24, 20};
    for (int k = 0; k < 3; k++)
        for (int64_t i = 0; i < n[k]; i++) v[k][i] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
    return t;
}

/* Loss and weight gradient after one step. */
static void twice_run(twice_graph *t, float *loss, float dw[24]) {
    SN_ASSERT_OK(sn_graph_forward(t->g));
    *loss = sn_graph_value(t->g, t->loss)[0];
    sn_graph_zero_grad(t->g);
    SN_ASSERT_OK(sn_graph_backward(t->g, t->loss));
    memcpy(dw, sn_graph_grad(t->g, t->w), 24 * sizeof *dw);
}

/* Runs both graphs one step; 1 when their losses and dW are the same bits. */
static int same_step(twice_graph *a, twice_graph *b) {
    float la, lb, dwa[24], dwb[24];
    twice_run(a, &la, dwa);
    twice_run(b, &lb, dwb);
    return memcmp(&la, &lb, sizeof la) == 0 && memcmp(dwa, dwb, sizeof dwa) == 0;
}

static void test_value_used_twice_is_not_overwritten(void **state) {
    (void)state;
    twice_graph all = twice_build(SN_PLAN_KEEP_ALL, 0), lean = twice_build(SN_PLAN_LEAN, 0);
    /* a feeds relu, then sigmoid: relu may not write over it, the sigmoid
     * (its last reader; relu's backward reads a mask) may, but a's gradient,
     * with two contributions, is its own. The second relu's input (the sum)
     * has one reader: it runs in place; flatten is a view. */
    assert_ptr_not_equal(node(lean.g, lean.r)->value, node(lean.g, lean.a)->value);
    assert_ptr_equal(node(lean.g, lean.s)->value, node(lean.g, lean.a)->value);
    assert_ptr_not_equal(node(lean.g, lean.s)->grad, node(lean.g, lean.a)->grad);
    assert_ptr_equal(node(lean.g, lean.h)->value, node(lean.g, lean.sum)->value);
    assert_ptr_equal(node(lean.g, lean.f)->value, node(lean.g, lean.h)->value);
    assert_ptr_equal(node(lean.g, lean.h)->grad, node(lean.g, lean.sum)->grad);
    /* ... and nothing shares under keep-all. */
    assert_ptr_not_equal(node(all.g, all.h)->value, node(all.g, all.sum)->value);
    assert_true(same_step(&all, &lean));
    /* Lean: only kept nodes are readable, and backward needs a new forward. */
    assert_null(sn_graph_value(lean.g, lean.r));
    assert_null(sn_graph_grad(lean.g, lean.a));
    assert_false(sn_graph_is_kept(lean.g, lean.r));
    assert_true(sn_graph_is_kept(lean.g, lean.x));
    assert_true(sn_graph_is_kept(all.g, all.r));
    assert_int_equal(sn_graph_backward(lean.g, lean.loss), SN_ERR_STATE);
    assert_non_null(strstr(sn_last_error(), "one backward per forward"));
    assert_true(sn_graph_arena_bytes(lean.g) < sn_graph_arena_bytes(all.g));
    sn_graph_destroy(all.g);
    sn_graph_destroy(lean.g);
}

/* The negative control: running the first relu in place over a (which the
 * sigmoid reads afterwards), as a careless plan would, changes the result. */
static void test_forced_unsafe_in_place_changes_the_result(void **state) {
    (void)state;
    twice_graph all = twice_build(SN_PLAN_KEEP_ALL, 0), bad = twice_build(SN_PLAN_KEEP_ALL, 0);
    sn_node *r = node(bad.g, bad.r), *a = node(bad.g, bad.a);
    r->io.out = a->value;
    node(bad.g, bad.sum)->io.in[0] = a->value;
    assert_false(same_step(&all, &bad));
    sn_graph_destroy(all.g);
    sn_graph_destroy(bad.g);
}

static void test_kept_node_stays_readable_and_alone(void **state) {
    (void)state;
    twice_graph all = twice_build(SN_PLAN_KEEP_ALL, 0), lean = twice_build(SN_PLAN_LEAN, 1);
    assert_true(sn_graph_is_kept(lean.g, lean.h));
    /* Kept: not in place over its input; the flatten is a view that reads
     * it (nothing writes into it), but has a gradient of its own. */
    assert_ptr_not_equal(node(lean.g, lean.h)->value, node(lean.g, lean.sum)->value);
    assert_ptr_not_equal(node(lean.g, lean.h)->grad, node(lean.g, lean.sum)->grad);
    assert_ptr_not_equal(node(lean.g, lean.f)->grad, node(lean.g, lean.h)->grad);
    assert_true(same_step(&all, &lean));
    assert_memory_equal(sn_graph_value(all.g, all.h), sn_graph_value(lean.g, lean.h),
                        20 * sizeof(float));
    assert_memory_equal(sn_graph_grad(all.g, all.h), sn_graph_grad(lean.g, lean.h),
                        20 * sizeof(float));
    sn_graph_destroy(all.g);
    sn_graph_destroy(lean.g);
}

/* Sigmoid's backward reads its output and linear's reads x: both must
 * outlive the forward's later nodes, whose buffers are otherwise reused. */
static void test_value_read_by_a_later_backward_survives(void **state) {
    (void)state;
    sn_graph *g[2];
    int x, w1, w2, s, loss, t;
    float dw[2][64];
    for (int k = 0; k < 2; k++) {
        g[k] = sn_graph_create(0);
        x = sn_input(g[k], "x", 2, (int64_t[]){16, 8});
        w1 = sn_param(g[k], "0.weight", 2, (int64_t[]){8, 8});
        s = sn_sigmoid(g[k], sn_linear(g[k], x, w1, SN_NONE));
        w2 = sn_param(g[k], "2.weight", 2, (int64_t[]){4, 8});
        int big = sn_relu(g[k], sn_linear(g[k], s, w2, SN_NONE)); /* forward after s */
        t = sn_input(g[k], "t", 2, (int64_t[]){16, 4});
        loss = sn_mse(g[k], big, t, SN_REDUCTION_SUM);
        SN_ASSERT_OK(sn_graph_set_plan(g[k], k ? SN_PLAN_LEAN : SN_PLAN_KEEP_ALL));
        SN_ASSERT_OK(sn_graph_compile(g[k]));
        sn_graph_fill_arena(g[k], 0xff);
        sn_rng rng;
        sn_rng_seed(&rng, 8, 3);
        float *v[] = {sn_graph_value(g[k], x), sn_graph_value(g[k], w1), sn_graph_value(g[k], w2),
                      sn_graph_value(g[k], t)};
        const int n[] = {128, 64, 32, 64};
        for (int j = 0; j < 4; j++)
            for (int i = 0; i < n[j]; i++) v[j][i] = 2.0f * sn_rng_uniform(&rng) - 1.0f;
        SN_ASSERT_OK(sn_graph_forward(g[k]));
        sn_graph_zero_grad(g[k]);
        SN_ASSERT_OK(sn_graph_backward(g[k], loss));
        memcpy(dw[k], sn_graph_grad(g[k], w1), sizeof dw[k]);
    }
    /* The sigmoid's value was not run over in place by anything. */
    assert_ptr_not_equal(node(g[1], s)->value, node(g[1], s + 2)->value);
    assert_memory_equal(dw[0], dw[1], sizeof dw[0]);
    sn_graph_destroy(g[0]);
    sn_graph_destroy(g[1]);
}

/* ---- the placer and its checker ---- */

static void test_overlap_checker_catches_an_injected_overlap(void **state) {
    (void)state;
    sn_plan_buf b[3] = {
        {.bytes = 128, .begin = 0, .end = 4, .offset = 0},
        {.bytes = 64, .begin = 5, .end = 9, .offset = 0},   /* later: may share */
        {.bytes = 64, .begin = 3, .end = 6, .offset = 128}, /* alive with both */
    };
    int i = -1, j = -1;
    assert_false(sn_plan_find_overlap(b, 3, &i, &j));
    b[2].offset = 64; /* now inside the first, at times 3 and 4 */
    assert_true(sn_plan_find_overlap(b, 3, &i, &j));
    assert_int_equal(i, 0);
    assert_int_equal(j, 2);
}

/* Random lifetimes: the placement never overlaps, is at least the largest
 * sum of bytes alive at one time, and is the same when placed again. */
static void test_placement_is_sound_and_deterministic(void **state) {
    (void)state;
    enum { N = 300, T = 120 };
    sn_plan_buf *b = malloc(sizeof *b * N), *again = malloc(sizeof *again * N);
    assert_non_null(b);
    assert_non_null(again);
    sn_rng rng;
    sn_rng_seed(&rng, 12, 4);
    for (int i = 0; i < N; i++) {
        const int begin = (int)sn_rng_below(&rng, T), len = (int)sn_rng_below(&rng, 20);
        b[i] = (sn_plan_buf){
            .bytes = 1 + sn_rng_below(&rng, 5000), .begin = begin, .end = begin + len};
    }
    memcpy(again, b, sizeof *b * N);
    size_t total, total_again;
    SN_ASSERT_OK(sn_plan_place(b, N, &total));
    SN_ASSERT_OK(sn_plan_place(again, N, &total_again));
    assert_false(sn_plan_find_overlap(b, N, NULL, NULL));
    assert_int_equal(total, total_again);
    for (int i = 0; i < N; i++) assert_int_equal(b[i].offset, again[i].offset);
    size_t peak = 0;
    for (int t = 0; t < T + 20; t++) {
        size_t live = 0;
        for (int i = 0; i < N; i++)
            if (b[i].begin <= t && t <= b[i].end) live += b[i].bytes;
        if (live > peak) peak = live;
    }
    assert_int_equal(sn_plan_lower_bound(b, N, NULL), peak);
    assert_true(total >= peak);
    /* Greedy, but not far off on such a mix. */
    assert_true(total <= peak + peak / 2);
    free(b);
    free(again);
}

/* ---- plans through the model ---- */

static void test_inference_plan_has_no_gradients(void **state) {
    (void)state;
    sn_shape image;
    SN_ASSERT_OK(sn_shape_make(&image, 3, (int64_t[]){1, 28, 28}));
    sn_model *m = spec_model("lenet5");
    size_t arena[3];
    float *out[3];
    float *x = malloc(sizeof *x * 7 * 784);
    assert_non_null(x);
    for (int i = 0; i < 7 * 784; i++) x[i] = (float)((i * 37) % 101) / 101.0f;
    for (int p = 0; p < 3; p++) {
        sn_model_compile_opts o = sn_model_compile_defaults();
        o.batch = 4;
        o.sample_shape = image;
        o.plan = (sn_graph_plan)p;
        SN_ASSERT_OK(sn_model_compile(m, &o));
        if (p == 0) SN_ASSERT_OK(sn_model_init(m, 1, SN_INIT_TORCH_DEFAULT));
        arena[p] = sn_graph_arena_bytes(sn_model_graph(m));
        out[p] = malloc(sizeof(float) * 70);
        assert_non_null(out[p]);
        SN_ASSERT_OK(sn_model_forward(m, x, 7, out[p])); /* 4, then 3 rows */
    }
    assert_memory_equal(out[0], out[1], sizeof(float) * 70);
    assert_memory_equal(out[0], out[2], sizeof(float) * 70);
    assert_true(arena[2] < arena[1] && arena[1] < arena[0]);
    sn_graph *g = sn_model_graph(m);
    size_t n = 1;
    assert_null(sn_graph_grads(g, &n));
    assert_int_equal(n, 0);
    assert_null(sn_graph_grad(g, sn_graph_param_node(g, 0)));
    float seed[40] = {0};
    assert_int_equal(sn_graph_backward_from(g, sn_model_output_node(m), seed), SN_ERR_STATE);
    assert_non_null(strstr(sn_last_error(), "inference"));
    for (int p = 0; p < 3; p++) free(out[p]);
    free(x);
    sn_model_destroy(m);
}

/* keep_modules makes every module's output readable; the default keeps only
 * the output. The non-finite diagnosis finds the same module either way (a
 * lean plan by replaying the forward). */
static void test_keep_modules_and_nonfinite_diagnosis(void **state) {
    (void)state;
    sn_module mods[] = {sn_module_linear(4, 6, 1),    sn_module_plain(SN_MOD_RELU),
                        sn_module_dropout(0.5f),      sn_module_linear(6, 6, 1),
                        sn_module_plain(SN_MOD_TANH), sn_module_linear(6, 3, 1)};
    sn_shape sample;
    SN_ASSERT_OK(sn_shape_make(&sample, 1, (int64_t[]){4}));
    int found[2];
    for (int keep = 0; keep < 2; keep++) {
        sn_model *m = NULL;
        SN_ASSERT_OK(sn_model_create(&m, mods, 6));
        sn_model_compile_opts o = sn_model_compile_defaults();
        o.batch = 5;
        o.sample_shape = sample;
        o.loss = SN_LOSS_CROSS_ENTROPY;
        o.keep_modules = keep;
        SN_ASSERT_OK(sn_model_compile(m, &o));
        SN_ASSERT_OK(sn_model_init(m, 2, SN_INIT_TORCH_DEFAULT));
        sn_graph *g = sn_model_graph(m);
        for (int i = 0; i < 6; i++)
            assert_int_equal(sn_graph_value(g, sn_model_module_node(m, i)) != NULL, keep || i == 5);
        /* Module 3's weight overflows: its output is the first non-finite. */
        float *w = sn_graph_value(g, sn_graph_param_node(g, 2));
        for (int i = 0; i < 36; i++) w[i] = i % 2 ? 3e38f : -3e38f;
        float *x = sn_graph_value(g, sn_model_input_node(m));
        for (int i = 0; i < 20; i++) x[i] = 1.0f + (float)i;
        SN_ASSERT_OK(sn_graph_forward(g));
        found[keep] = sn_train__first_nonfinite_module(m);
        sn_model_destroy(m);
    }
    assert_int_equal(found[0], 3);
    assert_int_equal(found[1], 3);
}

static void test_plan_calls_checked(void **state) {
    (void)state;
    sn_model_compile_opts o = sn_model_compile_defaults();
    assert_int_equal(o.plan, SN_PLAN_LEAN);
    assert_int_equal(o.keep_modules, 0);
    sn_graph *g = sn_graph_create(0);
    const int x = sn_input(g, "x", 2, (int64_t[]){2, 3});
    const int r = sn_relu(g, x);
    assert_int_equal(sn_graph_set_plan(g, (sn_graph_plan)7), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_graph_keep(g, 5), SN_ERR_INVALID_ARG);
    SN_ASSERT_OK(sn_graph_set_plan(g, SN_PLAN_LEAN));
    SN_ASSERT_OK(sn_graph_compile(g));
    assert_int_equal(sn_graph_set_plan(g, SN_PLAN_KEEP_ALL), SN_ERR_STATE);
    assert_int_equal(sn_graph_keep(g, r), SN_ERR_STATE);
    assert_false(sn_graph_is_kept(g, r));
    assert_null(sn_graph_value(g, r));
    sn_graph_destroy(g);
    sn_model *m = spec_model("mlp");
    o.batch = 2;
    SN_ASSERT_OK(sn_shape_make(&o.sample_shape, 3, (int64_t[]){1, 28, 28}));
    o.plan = (sn_graph_plan)3;
    assert_int_equal(sn_model_compile(m, &o), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "plan"));
    sn_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet5_and_cnn_same_bits_under_every_plan),
        cmocka_unit_test(test_small_models_same_bits_under_every_plan),
        cmocka_unit_test(test_value_used_twice_is_not_overwritten),
        cmocka_unit_test(test_forced_unsafe_in_place_changes_the_result),
        cmocka_unit_test(test_kept_node_stays_readable_and_alone),
        cmocka_unit_test(test_value_read_by_a_later_backward_survives),
        cmocka_unit_test(test_overlap_checker_catches_an_injected_overlap),
        cmocka_unit_test(test_placement_is_sound_and_deterministic),
        cmocka_unit_test(test_inference_plan_has_no_gradients),
        cmocka_unit_test(test_keep_modules_and_nonfinite_diagnosis),
        cmocka_unit_test(test_plan_calls_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

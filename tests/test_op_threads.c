/*
 * The ops that split their work on the pool (src/ops/chunks.h: activations,
 * dropout, add, reshape, the pools, batch_norm, linear's products and bias), the
 * optimisers' updates and the graph's gradient clearing give the same bits for
 * 1, 2 and 3 threads, at sizes above SN_PARALLEL_MIN_FLOATS (below it they run
 * on one thread) and of several chunks (about SN_CHUNK_FLOATS floats each)
 * whose count is not a multiple of 2 or 3, the last chunk shorter. The graph is
 * compiled after sn_set_threads, so its ops see that many workers. Bit
 * equality of garbage would prove nothing: every case also checks that its
 * values and gradients are mostly nonzero, and the max-pool's direct 2x2
 * kernel is compared with the definition (first maximum, NaN wins) on data
 * full of ties and NaNs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/chunks.h"
#include "support/test_support.h"

/* ---- helpers ---- */

static void fill_uniform(sn_rng *rng, float *v, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) v[i] = lo + (hi - lo) * sn_rng_uniform(rng);
}

static size_t numel_of(sn_graph *g, int node) {
    return (size_t)sn_shape_numel(sn_graph_shape(g, node));
}

/* Appends n floats to a growing array. */
typedef struct floats {
    float *v;
    size_t n;
} floats;

static void append(floats *f, const float *v, size_t n) {
    f->v = realloc(f->v, (f->n + n) * sizeof *f->v);
    assert_non_null(f->v);
    memcpy(f->v + f->n, v, n * sizeof *v);
    f->n += n;
}

/* A one-op graph: the op on inputs that want gradients (and parameters or
 * buffers where the op has them). */
typedef struct op_graph {
    sn_graph *g;
    int in[6];
    int n_in;
    int out;
} op_graph;

typedef void (*build_fn)(op_graph *og);

typedef struct thread_case {
    const char *name;
    build_fn build;
    int training;
} thread_case;

/* x (19, 3, 61, 77): 267,729 floats, 17 chunks of SN_CHUNK_FLOATS (16,384),
 * the last of 5,585; 57 planes of 4,697 floats, 3 per chunk: 19 chunks. */
static const int64_t image_shape[4] = {19, 3, 61, 77};
_Static_assert(19 * 3 * 61 * 77 >= SN_PARALLEL_MIN_FLOATS && SN_CHUNK_FLOATS == 16384,
               "the cases are sized for these constants");

static int image_input(op_graph *og, const char *name) {
    const int x = sn_input(og->g, name, 4, image_shape);
    SN_ASSERT_OK(sn_graph_set_requires_grad(og->g, x, 1));
    og->in[og->n_in++] = x;
    return x;
}

static void build_relu(op_graph *og) {
    og->out = sn_relu(og->g, image_input(og, "x"));
}
static void build_leaky_relu(op_graph *og) {
    og->out = sn_leaky_relu(og->g, image_input(og, "x"), 0.1f);
}
static void build_sigmoid(op_graph *og) {
    og->out = sn_sigmoid(og->g, image_input(og, "x"));
}
static void build_tanh(op_graph *og) {
    og->out = sn_tanh(og->g, image_input(og, "x"));
}
static void build_dropout(op_graph *og) {
    og->out = sn_dropout(og->g, image_input(og, "x"), 0.3f);
}
static void build_add(op_graph *og) {
    const int a = image_input(og, "a");
    og->out = sn_add(og->g, a, image_input(og, "b"));
}
static void build_add_bias(op_graph *og) {
    const int a = image_input(og, "a");
    const int b = sn_input(og->g, "b", 3, (int64_t[]){3, 1, 1});
    SN_ASSERT_OK(sn_graph_set_requires_grad(og->g, b, 1));
    og->in[og->n_in++] = b;
    og->out = sn_add(og->g, a, b);
}
static void build_flatten(op_graph *og) {
    og->out = sn_flatten(og->g, image_input(og, "x"));
}
/* The direct kernel; of 61x77, a row and a column are in no window. */
static void build_maxpool_2x2(op_graph *og) {
    og->out = sn_maxpool2d(og->g, image_input(og, "x"), 2, 2, 2, 2, 0, 0);
}
/* The window walk. */
static void build_maxpool_3x3_padded(op_graph *og) {
    og->out = sn_maxpool2d(og->g, image_input(og, "x"), 3, 3, 2, 2, 1, 1);
}
static void build_avgpool_2x2(op_graph *og) {
    og->out = sn_avgpool2d(og->g, image_input(og, "x"), 2, 2, 2, 2, 0, 0, 1);
}
static void build_avgpool_3x3_padded(op_graph *og) {
    og->out = sn_avgpool2d(og->g, image_input(og, "x"), 3, 3, 2, 2, 1, 1, 0);
}

/* x (8, 7, 40, 80): 179,200 floats, 25,600 per channel, a chunk each: 7 chunks. */
static void build_batch_norm(op_graph *og) {
    sn_graph *g = og->g;
    const int x = sn_input(g, "x", 4, (int64_t[]){8, 7, 40, 80});
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    const int64_t c[1] = {7};
    const int w = sn_param(g, "w", 1, c), b = sn_param(g, "b", 1, c);
    const int mean = sn_buffer(g, "mean", 1, c), var = sn_buffer(g, "var", 1, c);
    const int count = sn_buffer(g, "count", 0, NULL);
    og->in[og->n_in++] = x;
    og->in[og->n_in++] = w;
    og->in[og->n_in++] = b;
    og->in[og->n_in++] = mean;
    og->in[og->n_in++] = var;
    og->out = sn_batch_norm(g, x, w, b, mean, var, count, 0.1f, 1e-5f);
}

/* x (290, 50), W (700, 50), b (700): y (203,000 floats) in 4 blocks of 80
 * rows (the last 50) with the bias, db in 13 chunks of 56 columns of dy, in
 * the same job as dx's and dW's blocks. */
static void build_linear(op_graph *og) {
    sn_graph *g = og->g;
    const int x = sn_input(g, "x", 2, (int64_t[]){290, 50});
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    const int w = sn_param(g, "w", 2, (int64_t[]){700, 50});
    const int b = sn_param(g, "b", 1, (int64_t[]){700});
    og->in[og->n_in++] = x;
    og->in[og->n_in++] = w;
    og->in[og->n_in++] = b;
    og->out = sn_linear(g, x, w, b);
}

/* Linear at the benchmark models' shapes, batch 64 (x, W and b want
 * gradients): the forward and backward products run as one pool job each,
 * cut by src/backend/cpu/gemm.c into 1, 2 or 4 blocks of whole kernel panels
 * (by rows or by columns), with the bias fused into the blocks. */
static void build_linear_shape(op_graph *og, int64_t in, int64_t out) {
    sn_graph *g = og->g;
    const int x = sn_input(g, "x", 2, (int64_t[]){64, in});
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    const int w = sn_param(g, "w", 2, (int64_t[]){out, in});
    const int b = sn_param(g, "b", 1, (int64_t[]){out});
    og->in[og->n_in++] = x;
    og->in[og->n_in++] = w;
    og->in[og->n_in++] = b;
    og->out = sn_linear(g, x, w, b);
}
static void build_linear_400_120(op_graph *og) {
    build_linear_shape(og, 400, 120);
}
static void build_linear_120_84(op_graph *og) {
    build_linear_shape(og, 120, 84);
}
static void build_linear_84_10(op_graph *og) {
    build_linear_shape(og, 84, 10);
}
static void build_linear_784_256(op_graph *og) {
    build_linear_shape(og, 784, 256);
}
static void build_linear_256_128(op_graph *og) {
    build_linear_shape(og, 256, 128);
}

static const thread_case thread_cases[] = {
    {"relu", build_relu, 1},
    {"leaky_relu", build_leaky_relu, 1},
    {"sigmoid", build_sigmoid, 1},
    {"tanh", build_tanh, 1},
    {"dropout (training)", build_dropout, 1},
    {"dropout (evaluation)", build_dropout, 0},
    {"add", build_add, 1},
    {"add (C,1,1) bias", build_add_bias, 1},
    {"flatten", build_flatten, 1},
    {"maxpool2d 2x2", build_maxpool_2x2, 1},
    {"maxpool2d 3x3/2 padded", build_maxpool_3x3_padded, 1},
    {"avgpool2d 2x2", build_avgpool_2x2, 1},
    {"avgpool2d 3x3/2 padded", build_avgpool_3x3_padded, 1},
    {"batch_norm (training)", build_batch_norm, 1},
    {"batch_norm (evaluation)", build_batch_norm, 0},
    {"linear", build_linear, 1},
    {"linear 400->120 (LeNet-5)", build_linear_400_120, 1},
    {"linear 120->84 (LeNet-5)", build_linear_120_84, 1},
    {"linear 84->10 (LeNet-5)", build_linear_84_10, 1},
    {"linear 784->256 (MLP)", build_linear_784_256, 1},
    {"linear 256->128 (MLP)", build_linear_256_128, 1},
};

/* Output, updated buffers and every gradient of one forward and backward with
 * `threads` threads; the inputs depend only on the case. Counts the nonzero
 * values in *nonzero. */
static floats run_case(const thread_case *c, int threads, size_t *nonzero) {
    SN_ASSERT_OK(sn_set_threads(threads));
    op_graph og = {.g = sn_graph_create(11)};
    c->build(&og);
    SN_ASSERT_OK(sn_graph_compile(og.g));
    sn_graph_set_training(og.g, c->training);
    sn_rng rng;
    sn_rng_seed(&rng, 5, 0);
    for (int i = 0; i < og.n_in; i++) { /* signed values, and variances > 0 */
        const int var = strcmp(sn_graph_node_name(og.g, og.in[i]), "var") == 0;
        fill_uniform(&rng, sn_graph_value(og.g, og.in[i]), numel_of(og.g, og.in[i]),
                     var ? 0.5f : -2.0f, var ? 1.5f : 2.0f);
    }
    const size_t n_out = numel_of(og.g, og.out);
    float *seed = malloc(n_out * sizeof *seed);
    assert_non_null(seed);
    fill_uniform(&rng, seed, n_out, -1.0f, 1.0f);

    SN_ASSERT_OK(sn_graph_forward(og.g));
    sn_graph_zero_grad(og.g);
    SN_ASSERT_OK(sn_graph_backward_from(og.g, og.out, seed));
    floats all = {0};
    append(&all, sn_graph_value(og.g, og.out), n_out);
    for (int i = 0; i < og.n_in; i++) {
        const float *grad = sn_graph_grad(og.g, og.in[i]);
        /* a buffer's value (running statistics, updated in training) instead */
        append(&all, grad ? grad : sn_graph_value(og.g, og.in[i]), numel_of(og.g, og.in[i]));
    }
    *nonzero = 0;
    for (size_t i = 0; i < all.n; i++) *nonzero += all.v[i] != 0.0f;
    free(seed);
    sn_graph_destroy(og.g);
    return all;
}

static void test_ops_same_bits_for_any_thread_count(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof thread_cases / sizeof thread_cases[0]; k++) {
        const thread_case *c = &thread_cases[k];
        size_t nonzero;
        floats one = run_case(c, 1, &nonzero);
        /* Pools and dropout zero most of dx; the output is nonzero. */
        if (nonzero < one.n / 5)
            fail_msg("%s: only %zu of %zu values nonzero", c->name, nonzero, one.n);
        for (int threads = 2; threads <= 3; threads++) {
            size_t nonzero_many;
            floats many = run_case(c, threads, &nonzero_many);
            assert_int_equal(many.n, one.n);
            if (memcmp(one.v, many.v, one.n * sizeof *one.v) != 0)
                fail_msg("%s: %d threads differ from 1 thread", c->name, threads);
            free(many.v);
        }
        free(one.v);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* ---- the optimisers ---- */

/* theta after three steps of `opts` on n parameters. */
static float *optim_run(const sn_optim_opts *opts, int threads, size_t n) {
    SN_ASSERT_OK(sn_set_threads(threads));
    sn_rng rng;
    sn_rng_seed(&rng, 3, 0);
    float *theta = malloc(n * sizeof *theta), *grad = malloc(n * sizeof *grad);
    assert_non_null(theta);
    assert_non_null(grad);
    fill_uniform(&rng, theta, n, -1.0f, 1.0f);
    sn_optim *opt;
    SN_ASSERT_OK(sn_optim_create(&opt, opts, n));
    for (int step = 0; step < 3; step++) {
        fill_uniform(&rng, grad, n, -1.0f, 1.0f);
        SN_ASSERT_OK(sn_optim_step(opt, theta, grad, 0.05));
    }
    sn_optim_destroy(opt);
    free(grad);
    return theta;
}

static void test_optimisers_same_bits_for_any_thread_count(void **state) {
    (void)state;
    const size_t n = 11 * SN_CHUNK_FLOATS - 5; /* 11 chunks, the last shorter */
    assert_true(n >= SN_PARALLEL_MIN_FLOATS);
    sn_optim_opts cases[6];
    cases[0] = sn_optim_defaults(SN_OPTIM_SGD); /* plain */
    cases[1] = sn_optim_defaults(SN_OPTIM_SGD);
    cases[1].momentum = 0.9;
    cases[1].weight_decay = 1e-3;
    cases[2] = cases[1];
    cases[2].nesterov = 1;
    cases[3] = cases[1];
    cases[3].velocity_form = 1;
    cases[4] = sn_optim_defaults(SN_OPTIM_ADAM);
    cases[4].weight_decay = 1e-2;
    cases[5] = sn_optim_defaults(SN_OPTIM_ADAMW);
    for (int k = 0; k < 6; k++) {
        float *one = optim_run(&cases[k], 1, n);
        for (int threads = 2; threads <= 3; threads++) {
            float *many = optim_run(&cases[k], threads, n);
            if (memcmp(one, many, n * sizeof *one) != 0)
                fail_msg("optimiser case %d: %d threads differ from 1 thread", k, threads);
            free(many);
        }
        free(one);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

/* ---- max-pool 2x2/2: the direct kernel against the definition ---- */

/* Over rows of 3 to 17 outputs (the kernel's short and long rows) and odd
 * sizes (the last row or column unused), on values in {-1, 0, 1} with -0.0
 * and NaNs: y is the first maximum of each window in row-major order, or its
 * last NaN, and dx gets dy there. */
static void test_maxpool_2x2_kernel_matches_definition(void **state) {
    (void)state;
    const int sizes[][2] = {{6, 7}, {10, 10}, {11, 15}, {28, 28}, {24, 35}};
    sn_rng rng;
    sn_rng_seed(&rng, 9, 0);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const int h = sizes[k][0], w = sizes[k][1], oh_n = h / 2, ow_n = w / 2, planes = 6;
        sn_graph *g = sn_graph_create(1);
        const int x = sn_input(g, "x", 4, (int64_t[]){2, 3, h, w});
        SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
        const int y = sn_maxpool2d(g, x, 2, 2, 2, 2, 0, 0);
        SN_ASSERT_OK(sn_graph_compile(g));
        float *xv = sn_graph_value(g, x);
        const size_t nx = (size_t)planes * h * w, ny = (size_t)planes * oh_n * ow_n;
        for (size_t i = 0; i < nx; i++) {
            const uint64_t r = sn_rng_below(&rng, 16);
            xv[i] = r < 5 ? -1.0f : r < 9 ? 0.0f : r < 11 ? -0.0f : r < 15 ? 1.0f : NAN;
        }
        float *dy = malloc(ny * sizeof *dy), *dx = calloc(nx, sizeof *dx);
        assert_non_null(dy);
        assert_non_null(dx);
        for (size_t i = 0; i < ny; i++) dy[i] = (float)(i + 1);
        SN_ASSERT_OK(sn_graph_forward(g));
        sn_graph_zero_grad(g);
        SN_ASSERT_OK(sn_graph_backward_from(g, y, dy));
        const float *yv = sn_graph_value(g, y), *dxv = sn_graph_grad(g, x);
        for (int p = 0; p < planes; p++)
            for (int oh = 0; oh < oh_n; oh++)
                for (int ow = 0; ow < ow_n; ow++) {
                    size_t best_at = ((size_t)p * h + 2 * oh) * w + 2 * ow;
                    for (int ki = 0; ki < 2; ki++)
                        for (int kj = 0; kj < 2; kj++) {
                            const size_t at = ((size_t)p * h + 2 * oh + ki) * w + 2 * ow + kj;
                            if (xv[at] > xv[best_at] || isnan(xv[at])) best_at = at;
                        }
                    const size_t o = ((size_t)p * oh_n + oh) * ow_n + ow;
                    if (memcmp(&yv[o], &xv[best_at], sizeof(float)) != 0)
                        fail_msg("%dx%d: output %zu is %g, want %g (x[%zu])", h, w, o,
                                 (double)yv[o], (double)xv[best_at], best_at);
                    dx[best_at] += dy[o];
                }
        if (memcmp(dx, dxv, nx * sizeof *dx) != 0) fail_msg("%dx%d: dx differs", h, w);
        free(dy);
        free(dx);
        sn_graph_destroy(g);
    }
}

/* ---- the graph clears each op gradient once per backward ---- */

/* r = relu(x) is used twice, z = r + tanh(r): the backward of the add (the
 * first to reach r's gradient) and of the tanh both add into it, after one
 * clearing: dx = [x > 0] (dz + dz (1 - tanh(r)^2)). A second backward gives
 * the same op gradients (cleared again) and doubles the input's. A backward
 * from r leaves z's and tanh's gradients zero (off the path). */
static void test_gradient_cleared_once_per_backward(void **state) {
    (void)state;
    sn_graph *g = sn_graph_create(1);
    const int64_t shape[2] = {5, 2 * SN_CHUNK_FLOATS + 7}; /* 11 chunks of zeroing */
    assert_true(shape[0] * shape[1] >= SN_PARALLEL_MIN_FLOATS);
    const int x = sn_input(g, "x", 2, shape);
    SN_ASSERT_OK(sn_graph_set_requires_grad(g, x, 1));
    const int r = sn_relu(g, x);
    const int t = sn_tanh(g, r);
    const int z = sn_add(g, r, t);
    SN_ASSERT_OK(sn_set_threads(2));
    SN_ASSERT_OK(sn_graph_compile(g));
    const size_t n = numel_of(g, x);
    sn_rng rng;
    sn_rng_seed(&rng, 4, 0);
    fill_uniform(&rng, sn_graph_value(g, x), n, -1.0f, 1.0f);
    float *dz = malloc(n * sizeof *dz);
    assert_non_null(dz);
    fill_uniform(&rng, dz, n, -1.0f, 1.0f);
    SN_ASSERT_OK(sn_graph_forward(g));
    sn_graph_zero_grad(g);
    const float *xv = sn_graph_value(g, x), *tv = sn_graph_value(g, t);
    for (int pass = 1; pass <= 2; pass++) {
        SN_ASSERT_OK(sn_graph_backward_from(g, z, dz));
        const float *dr = sn_graph_grad(g, r), *dx = sn_graph_grad(g, x);
        for (size_t i = 0; i < n; i++) {
            /* In the order the graph adds: the add's dz (creation order:
             * the add is last, so its backward runs first), then the tanh's. */
            const float want_dr = (0.0f + dz[i]) + dz[i] * (1.0f - tv[i] * tv[i]);
            const float want_dx = xv[i] > 0.0f ? want_dr : 0.0f;
            if (dr[i] != want_dr)
                fail_msg("pass %d: dr[%zu] = %g, want %g", pass, i, (double)dr[i], (double)want_dr);
            if (dx[i] != pass * want_dx)
                fail_msg("pass %d: dx[%zu] = %g, want %g", pass, i, (double)dx[i],
                         (double)(pass * want_dx));
        }
    }
    SN_ASSERT_OK(sn_graph_backward_from(g, r, dz));
    const float *dz_after = sn_graph_grad(g, z), *dt_after = sn_graph_grad(g, t);
    for (size_t i = 0; i < n; i++) assert_true(dz_after[i] == 0.0f && dt_after[i] == 0.0f);
    free(dz);
    sn_graph_destroy(g);
    SN_ASSERT_OK(sn_set_threads(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_same_bits_for_any_thread_count),
        cmocka_unit_test(test_optimisers_same_bits_for_any_thread_count),
        cmocka_unit_test(test_maxpool_2x2_kernel_matches_definition),
        cmocka_unit_test(test_gradient_cleared_once_per_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

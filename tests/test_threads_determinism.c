/*
 * Same seed, any thread count, same bits: sn_train of two small CNNs that use
 * every parallel kernel (conv2d with stride and padding, batch norm, ReLU,
 * tanh, max and average pooling, dropout, linear, cross-entropy, SGD with
 * momentum and Adam) ends with byte-identical parameters and running
 * statistics for 1, 2 and 3 threads (3 does not divide the chunk counts).
 * Negative control: a different seed changes the parameters, so the
 * comparison can fail.
 */
#include "support/test_support.h"
#include "support/train_fixture.h"

#include <stdlib.h>
#include <string.h>

#include "sinapsi/threads.h"

/* n images (1, side, side) ~ N(0, 1), 10 classes by the sign pattern of four
 * quadrant sums (a learnable rule). */
static sn_dataset *quadrant_images(int64_t n, int side, uint64_t seed) {
    const int64_t pixels = (int64_t)side * side;
    float *x = malloc(sizeof *x * (size_t)(n * pixels)); /* (n, 1, side, side) */
    float *y = malloc(sizeof *y * (size_t)n);            /* (n) */
    assert_non_null(x);
    assert_non_null(y);
    sn_rng rng;
    sn_rng_seed(&rng, seed, 200);
    for (int64_t i = 0; i < n; i++) {
        float *img = x + i * pixels;
        double quad[4] = {0};
        for (int r = 0; r < side; r++)
            for (int c = 0; c < side; c++) {
                img[r * side + c] = (float)sn_rng_normal(&rng);
                quad[(r >= side / 2) * 2 + (c >= side / 2)] += img[r * side + c];
            }
        int code = 0;
        for (int q = 0; q < 4; q++) code = code * 2 + (quad[q] > 0);
        y[i] = (float)(code % 10);
    }
    sn_shape shape;
    SN_ASSERT_OK(sn_shape_make(&shape, 3, (int64_t[]){1, side, side}));
    sn_dataset *ds = NULL;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, n, &shape, x, 1, y, 10));
    free(x);
    free(y);
    return ds;
}

typedef struct run_case {
    const char *name, *spec;
    int side, adam;
    int64_t n, batch;
} run_case;

static const run_case cases[] = {
    /* Small: most tensors below the kernels' parallel thresholds. */
    {"small", "Conv2d(1, 8, 3, stride=2, padding=1)\nBatchNorm2d(8)\nReLU()\n"
              "Conv2d(8, 12, 3, padding=1)\nTanh()\nMaxPool2d(2)\nDropout(0.25)\nFlatten()\n"
              "Linear(192, 32)\nSigmoid()\nLinear(32, 10)\n",
     16, 0, 40, 16},
    /* LeNet-sized: above them, with a partial last batch (100 = 64 + 36). */
    {"large", "Conv2d(1, 16, 5, padding=2)\nReLU()\nMaxPool2d(2)\n"
              "Conv2d(16, 32, 3, stride=2)\nBatchNorm2d(32)\nReLU()\nAvgPool2d(2)\n"
              "Dropout(0.3)\nFlatten()\nLinear(288, 64)\nReLU()\nDropout(0.5)\nLinear(64, 10)\n",
     28, 1, 100, 64},
};

/* Trains c with `threads` threads and seed; returns params then buffers, *n floats. */
static float *train_state(const run_case *c, int threads, uint64_t seed, size_t *n) {
    sn_module *modules = NULL;
    int count = 0;
    SN_ASSERT_OK(sn_spec_parse(c->spec, strlen(c->spec), c->name, &modules, &count));
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, count));
    free(modules);
    sn_dataset *ds = quadrant_images(c->n, c->side, 3);
    sn_train_opts o = sn_train_defaults();
    o.epochs = 2;
    o.batch = c->batch;
    o.seed = seed;
    o.threads = threads;
    o.progress = SN_PROGRESS_NONE;
    if (c->adam) {
        o.optim = sn_optim_defaults(SN_OPTIM_ADAM);
        o.optim.lr = 0.003;
    } else {
        o.optim.lr = 0.05;
        o.optim.momentum = 0.9;
    }
    SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
    size_t np = 0, nb = 0;
    float *params = sn_fixture_params(m, &np);
    float *buffers = sn_fixture_buffers(m, &nb);
    float *state = malloc(sizeof *state * (np + nb));
    assert_non_null(state);
    memcpy(state, params, sizeof *state * np);
    memcpy(state + np, buffers, sizeof *state * nb);
    *n = np + nb;
    free(params);
    free(buffers);
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
    return state;
}

static void test_same_bits_for_any_thread_count(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n1 = 0;
        float *one = train_state(&cases[i], 1, 11, &n1);
        for (int threads = 2; threads <= 3; threads++) {
            size_t n = 0;
            float *other = train_state(&cases[i], threads, 11, &n);
            assert_int_equal(n, n1);
            size_t first = n;
            for (size_t k = 0; k < n && first == n; k++)
                if (memcmp(&one[k], &other[k], sizeof(float)) != 0) first = k;
            if (first != n)
                fail_msg("%s: %d threads differ from 1 at float %zu of %zu (%.9g vs %.9g)",
                         cases[i].name, threads, first, n, (double)other[first],
                         (double)one[first]);
            free(other);
        }
        /* Negative control: another seed must change the result. */
        size_t nd = 0;
        float *different = train_state(&cases[i], 2, 12, &nd);
        assert_int_equal(nd, n1);
        assert_true(memcmp(one, different, sizeof(float) * n1) != 0);
        free(different);
        free(one);
    }
    SN_ASSERT_OK(sn_set_threads(0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bits_for_any_thread_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * The perceptron (src/optim/perceptron.c):
 *   - the rule exactly, by hand: f(0) = 1, the update's plus sign, the bias,
 *     convergence at the first mistake-free epoch, and the averaged weights;
 *   - Novikoff's bound: on generated data separable with a known margin γ
 *     inside radius R, it converges after at most (R/γ)² mistakes;
 *   - Fashion-MNIST: "Trouser" (1) vs "Sneaker" (7), the 12,000 training
 *     images of the two classes, is separable: the perceptron converges within
 *     a few epochs and the model it returns separates every one of them
 *     (checked here in double, apart from the learner's own counts);
 *     "T-shirt/top" (0) vs "Shirt" (6) does not converge, and XOR never does;
 *     "Trouser" vs "Bag" (8), said to be inseparable, is separable: the
 *     perceptron converges on it, slowly;
 *   - several classes, one-vs-rest and the multi-class perceptron, on a slice;
 *     determinism per seed; the errors.
 */
#include "support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* The model's Linear parameters: weight (k, d), bias (k). */
static void linear_params(sn_model *m, float **weight, float **bias) {
    sn_graph *g = sn_model_graph(m);
    *weight = *bias = NULL;
    for (int i = 0; i < sn_graph_param_count(g); i++) {
        const int node = sn_graph_param_node(g, i);
        const char *name = sn_graph_node_name(g, node);
        if (!strcmp(name, "0.weight")) *weight = sn_graph_value(g, node);
        if (!strcmp(name, "0.bias")) *bias = sn_graph_value(g, node);
    }
    assert_non_null(*weight);
    assert_non_null(*bias);
}

static sn_dataset *dataset_2d(const float *x, const float *y, int64_t n) {
    sn_shape s;
    sn_shape_make(&s, 1, (int64_t[]){2});
    sn_dataset *ds;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, n, &s, x, 1, y, 2));
    return ds;
}

/* Mistakes per epoch, as reported through on_epoch. */
typedef struct epoch_log {
    int epochs;
    int64_t mistakes[256];
} epoch_log;

static void log_epoch(const sn_perceptron_epoch *e, void *user) {
    epoch_log *log = user;
    assert_int_equal(e->epoch, log->epochs + 1);
    if (log->epochs < 256) log->mistakes[log->epochs] = e->mistakes;
    log->epochs++;
}

/* ---- the rule by hand ---- */

/* x1 = (1, 0), y = 0 and x2 = (0, 1), y = 1, file order, η = 0.5, from zero:
 *   x1: z = 0, ŷ = f(0) = 1, error -1: w = (-0.5, 0), b = -0.5
 *   x2: z = -0.5, ŷ = 0, error +1:      w = (-0.5, 0.5), b = 0
 *   epoch 2: z = -0.5 -> 0 and z = 0.5 -> 1, no mistake: converged.
 * Averaged (Daumé): the mean of w0..w4 = (0, w1, w2, w2, w2) = (-0.4, 0.3), b -0.1. */
static void test_rule_by_hand(void **state) {
    (void)state;
    const float x[] = {1, 0, 0, 1}, y[] = {0, 1};
    sn_dataset *ds = dataset_2d(x, y, 2);
    for (int averaged = 0; averaged < 2; averaged++) {
        sn_perceptron_opts o = sn_perceptron_defaults();
        o.lr = 0.5;
        o.shuffle = 0;
        o.averaged = averaged;
        epoch_log log = {0};
        o.on_epoch = log_epoch;
        o.user = &log;
        sn_perceptron *p;
        sn_perceptron_result r;
        SN_ASSERT_OK(sn_perceptron_train(&p, ds, &o, &r));
        assert_int_equal(r.kind, SN_PERCEPTRON_BINARY);
        assert_true(r.converged);
        assert_int_equal(r.epochs, 2);
        assert_int_equal(r.mistakes, 2);
        assert_int_equal(r.last_mistakes, 0);
        assert_int_equal(log.epochs, 2);
        assert_int_equal(log.mistakes[0], 2);
        assert_int_equal(log.mistakes[1], 0);
        float *w, *b;
        linear_params(sn_perceptron_model(p), &w, &b);
        const float want[2][3] = {{-0.5f, 0.5f, 0.0f}, {-0.4f, 0.3f, -0.1f}};
        assert_float_equal(w[0], want[averaged][0], 1e-7);
        assert_float_equal(w[1], want[averaged][1], 1e-7);
        assert_float_equal(b[0], want[averaged][2], 1e-7);
        /* The model is Linear(2, 1) then Step. */
        sn_model *m = sn_perceptron_model(p);
        assert_int_equal(sn_model_module_count(m), 2);
        assert_int_equal(sn_model_module(m, 1)->kind, SN_MOD_STEP);
        int64_t correct, n;
        SN_ASSERT_OK(sn_perceptron_accuracy(p, ds, &correct, &n));
        assert_int_equal(n, 2);
        assert_int_equal(correct, 2);
        sn_perceptron_destroy(p);
    }
    sn_dataset_destroy(ds);
}

/* XOR is not linearly separable: every epoch has a mistake. AND, its control
 * on the same points, converges. */
static void test_xor_does_not_converge(void **state) {
    (void)state;
    const float x[] = {0, 0, 0, 1, 1, 0, 1, 1};
    const float y_xor[] = {0, 1, 1, 0}, y_and[] = {0, 0, 0, 1};
    for (int is_and = 0; is_and < 2; is_and++) {
        sn_dataset *ds = dataset_2d(x, is_and ? y_and : y_xor, 4);
        sn_perceptron_opts o = sn_perceptron_defaults();
        o.max_epochs = 200;
        epoch_log log = {0};
        o.on_epoch = log_epoch;
        o.user = &log;
        sn_perceptron *p;
        sn_perceptron_result r;
        SN_ASSERT_OK(sn_perceptron_train(&p, ds, &o, &r));
        if (is_and) {
            assert_true(r.converged);
            assert_true(r.epochs < 200);
        } else {
            assert_false(r.converged);
            assert_int_equal(r.epochs, 200);
            for (int e = 0; e < 200; e++) assert_true(log.mistakes[e] >= 1);
            int64_t correct, n;
            SN_ASSERT_OK(sn_perceptron_accuracy(p, ds, &correct, &n));
            assert_true(correct <= 3); /* no line gets all four */
        }
        print_message("  %s: %s after %d epochs, %lld mistakes\n", is_and ? "AND" : "XOR",
                      r.converged ? "converged" : "not converged", r.epochs, (long long)r.mistakes);
        sn_perceptron_destroy(p);
        sn_dataset_destroy(ds);
    }
}

/* ---- Novikoff's bound ---- */

/* n points in d dimensions, x ~ N(0, I) kept when |w*·x| >= gap for a unit w*
 * through the origin, labelled [w*·x > 0]. With the bias as a constant input
 * 1, (w*, 0) is a unit separator of margin γ = min |w*·x| on points of radius
 * R = max ||(x, 1)||, and a perceptron from zero makes at most (R/γ)²
 * mistakes whatever η (Novikoff 1962). */
static void test_novikoff_bound(void **state) {
    (void)state;
    enum { D = 20, N = 1000 };
    for (uint64_t seed = 1; seed <= 4; seed++) {
        sn_rng rng;
        sn_rng_seed(&rng, seed, 99);
        double w_star[D], norm = 0.0;
        for (int i = 0; i < D; i++) {
            w_star[i] = sn_rng_normal(&rng);
            norm += w_star[i] * w_star[i];
        }
        for (int i = 0; i < D; i++) w_star[i] /= sqrt(norm);
        const double gap = 0.1 * (double)seed;
        float *x = malloc(sizeof *x * N * D), y[N];
        double radius2 = 0.0, margin = INFINITY;
        for (int k = 0; k < N;) {
            double dot = 0.0, r2 = 1.0;
            for (int i = 0; i < D; i++) {
                x[k * D + i] = (float)sn_rng_normal(&rng);
                dot += w_star[i] * x[k * D + i];
                r2 += (double)x[k * D + i] * x[k * D + i];
            }
            if (fabs(dot) < gap) continue;
            y[k] = dot > 0;
            radius2 = fmax(radius2, r2);
            margin = fmin(margin, fabs(dot));
            k++;
        }
        const double bound = radius2 / (margin * margin);
        sn_shape s;
        sn_shape_make(&s, 1, (int64_t[]){D});
        sn_dataset *ds;
        SN_ASSERT_OK(sn_dataset_from_arrays(&ds, N, &s, x, 1, y, 2));
        for (int k = 0; k < 2; k++) {
            sn_perceptron_opts o = sn_perceptron_defaults();
            o.lr = k ? 0.01 : 1.0;
            o.seed = seed;
            o.max_epochs = 10000;
            sn_perceptron *p;
            sn_perceptron_result r;
            SN_ASSERT_OK(sn_perceptron_train(&p, ds, &o, &r));
            print_message("  seed %llu, lr %g: converged in %d epochs after %lld mistakes; "
                          "(R/γ)² = %.0f (R %.2f, γ %.3f)\n",
                          (unsigned long long)seed, o.lr, r.epochs, (long long)r.mistakes, bound,
                          sqrt(radius2), margin);
            assert_true(r.converged);
            assert_true(r.mistakes > 0);
            assert_true((double)r.mistakes <= bound);
            int64_t correct, n;
            SN_ASSERT_OK(sn_perceptron_accuracy(p, ds, &correct, &n));
            assert_int_equal(correct, N);
            sn_perceptron_destroy(p);
        }
        sn_dataset_destroy(ds);
        free(x);
    }
}

/* ---- Fashion-MNIST pairs ---- */

static void load_fashion(int64_t limit, sn_dataset **train, sn_dataset **test) {
    sn_data_opts o = sn_data_defaults();
    o.limit = limit;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, train, test));
}

/* Every training image of classes a (0) and b (1) is on its side of the
 * model's hyperplane, computed in double from the model's own parameters. */
static int64_t count_separated(sn_model *m, const sn_dataset *ds, int a, int b, int64_t *total) {
    float *w, *bias;
    linear_params(m, &w, &bias);
    const int64_t n = sn_dataset_count(ds);
    float x[784], label;
    int64_t separated = 0;
    *total = 0;
    for (int64_t i = 0; i < n; i++) {
        SN_ASSERT_OK(sn_dataset_batch(ds, &i, 1, x, &label));
        if ((int)label != a && (int)label != b) continue;
        double z = bias[0];
        for (int j = 0; j < 784; j++) z += (double)w[j] * x[j];
        separated += (z >= 0.0) == ((int)label == b);
        (*total)++;
    }
    return separated;
}

/* A perceptron from zero on classes a (0) and b (1) of train, seed 0. */
static sn_perceptron *train_pair(const sn_dataset *train, int a, int b, int max_epochs,
                                 sn_perceptron_result *r, epoch_log *log) {
    sn_perceptron_opts o = sn_perceptron_defaults();
    o.classes[0] = a;
    o.classes[1] = b;
    o.max_epochs = max_epochs;
    if (log) {
        o.on_epoch = log_epoch;
        o.user = log;
    }
    sn_perceptron *p;
    SN_ASSERT_OK(sn_perceptron_train(&p, train, &o, r));
    return p;
}

static void test_trouser_sneaker_separable(void **state) {
    (void)state;
    sn_dataset *train, *test;
    load_fashion(0, &train, &test);
    epoch_log log = {0};
    sn_perceptron_result r;
    sn_perceptron *p = train_pair(train, 1, 7, 10, &r, &log);
    print_message("  Trouser vs Sneaker: %s in %d epochs, %lld mistakes (per epoch:",
                  r.converged ? "converged" : "NOT converged", r.epochs, (long long)r.mistakes);
    for (int e = 0; e < log.epochs; e++) print_message(" %lld", (long long)log.mistakes[e]);
    print_message(")\n");
    assert_int_equal(r.examples, 12000);
    assert_true(r.converged);
    assert_true(r.epochs <= 10);
    int64_t total, separated = count_separated(sn_perceptron_model(p), train, 1, 7, &total);
    assert_int_equal(total, 12000);
    assert_int_equal(separated, 12000);
    int64_t correct, n;
    SN_ASSERT_OK(sn_perceptron_accuracy(p, train, &correct, &n));
    assert_int_equal(correct, 12000);
    SN_ASSERT_OK(sn_perceptron_accuracy(p, test, &correct, &n));
    print_message("  test accuracy %.4f (%lld of %lld)\n", (double)correct / (double)n,
                  (long long)correct, (long long)n);
    assert_int_equal(n, 2000);
    assert_true(correct >= 1980);
    sn_perceptron_destroy(p);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
}

/* A pair the perceptron cannot separate: "T-shirt/top" (0) vs "Shirt" (6)
 * still makes over a thousand mistakes an epoch after 1,000 epochs (measured),
 * and after 20 it reports, as a result and not an error, that it did not
 * converge. (Non-convergence is evidence, not proof, of non-separability.) */
static void test_tshirt_shirt_does_not_converge(void **state) {
    (void)state;
    sn_dataset *train;
    load_fashion(0, &train, NULL);
    sn_perceptron_result r;
    sn_perceptron *p = train_pair(train, 0, 6, 20, &r, NULL);
    print_message("  T-shirt vs Shirt: %s after %d epochs, %lld mistakes in the last\n",
                  r.converged ? "converged" : "not converged", r.epochs,
                  (long long)r.last_mistakes);
    assert_false(r.converged);
    assert_int_equal(r.epochs, 20);
    assert_true(r.last_mistakes >= 500);
    int64_t total, separated = count_separated(sn_perceptron_model(p), train, 0, 6, &total);
    assert_int_equal(total, 12000);
    assert_true(separated < total);
    sn_perceptron_destroy(p);
    sn_dataset_destroy(train);
}

/* "Trouser" vs "Bag" (8): not converged after 20 epochs, but it is separable
 * after all: the perceptron converges later (epoch 61 with seed 0, measured),
 * and convergence proves separability. */
static void test_trouser_bag_separable_but_slow(void **state) {
    (void)state;
    sn_dataset *train;
    load_fashion(0, &train, NULL);
    for (int run = 0; run < 2; run++) {
        const int max_epochs = run ? 200 : 20;
        sn_perceptron_result r;
        sn_perceptron *p = train_pair(train, 1, 8, max_epochs, &r, NULL);
        print_message("  Trouser vs Bag, at most %d epochs: %s after %d epochs, %lld mistakes in "
                      "all\n",
                      max_epochs, r.converged ? "converged" : "not converged", r.epochs,
                      (long long)r.mistakes);
        int64_t total, separated = count_separated(sn_perceptron_model(p), train, 1, 8, &total);
        assert_int_equal(total, 12000);
        if (run) {
            assert_true(r.converged);
            assert_true(r.epochs > 20);
            assert_int_equal(separated, total);
        } else {
            assert_false(r.converged);
            assert_true(r.last_mistakes > 0);
            assert_true(separated < total);
        }
        sn_perceptron_destroy(p);
    }
    sn_dataset_destroy(train);
}

/* ---- several classes ---- */

static void test_multiclass_fashion_slice(void **state) {
    (void)state;
    sn_dataset *train, *test;
    load_fashion(5000, &train, &test);
    const sn_perceptron_kind kinds[] = {SN_PERCEPTRON_AUTO, SN_PERCEPTRON_MULTICLASS};
    for (int k = 0; k < 2; k++) {
        sn_perceptron_opts o = sn_perceptron_defaults();
        o.kind = kinds[k];
        o.max_epochs = 3;
        sn_perceptron *p;
        sn_perceptron_result r;
        SN_ASSERT_OK(sn_perceptron_train(&p, train, &o, &r));
        assert_int_equal(r.kind, k ? SN_PERCEPTRON_MULTICLASS : SN_PERCEPTRON_ONE_VS_REST);
        assert_false(r.converged);
        /* Linear(784, 10) alone: arg-max of the scores. */
        sn_model *m = sn_perceptron_model(p);
        assert_int_equal(sn_model_module_count(m), 1);
        assert_int_equal(sn_model_module(m, 0)->out_features, 10);
        int64_t correct, n;
        SN_ASSERT_OK(sn_perceptron_accuracy(p, test, &correct, &n));
        print_message("  %s, 5000 training images, 3 epochs: test accuracy %.4f\n",
                      k ? "multi-class" : "one-vs-rest", (double)correct / (double)n);
        assert_int_equal(n, 5000);
        assert_true(correct >= 3500); /* chance is 500 */
        sn_perceptron_destroy(p);
    }
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
}

/* Same seed, same weights; another seed (shuffle), other weights. */
static void test_deterministic(void **state) {
    (void)state;
    sn_dataset *train;
    load_fashion(2000, &train, NULL);
    float *weights[3];
    for (int run = 0; run < 3; run++) {
        sn_perceptron_opts o = sn_perceptron_defaults();
        o.max_epochs = 2;
        o.seed = run == 2 ? 8 : 7;
        o.random_init = 1;
        sn_perceptron *p;
        sn_perceptron_result r;
        SN_ASSERT_OK(sn_perceptron_train(&p, train, &o, &r));
        float *w, *b;
        linear_params(sn_perceptron_model(p), &w, &b);
        weights[run] = malloc(sizeof(float) * 7840);
        memcpy(weights[run], w, sizeof(float) * 7840);
        sn_perceptron_destroy(p);
    }
    assert_memory_equal(weights[0], weights[1], sizeof(float) * 7840);
    assert_memory_not_equal(weights[0], weights[2], sizeof(float) * 7840);
    for (int run = 0; run < 3; run++) free(weights[run]);
    sn_dataset_destroy(train);
}

/* ---- errors ---- */

static void expect_error(const sn_dataset *ds, const sn_perceptron_opts *o, sn_status want,
                         const char *needle) {
    sn_perceptron *p = (sn_perceptron *)1;
    sn_perceptron_result r;
    assert_int_equal(sn_perceptron_train(&p, ds, o, &r), want);
    assert_null(p);
    if (!strstr(sn_last_error(), needle))
        fail_msg("error '%s' does not mention '%s'", sn_last_error(), needle);
}

static void test_errors(void **state) {
    (void)state;
    const float x[] = {0, 0, 0, 1, 1, 0}, y3[] = {0, 1, 2}, yf[] = {0.5f, 1, 2};
    sn_shape s;
    sn_shape_make(&s, 1, (int64_t[]){2});
    sn_dataset *three, *floats;
    SN_ASSERT_OK(sn_dataset_from_arrays(&three, 3, &s, x, 1, y3, 3));
    SN_ASSERT_OK(sn_dataset_from_arrays(&floats, 3, &s, x, 1, yf, 0));
    sn_perceptron_opts o = sn_perceptron_defaults();
    expect_error(floats, &o, SN_ERR_INVALID_ARG, "class labels");
    o.kind = SN_PERCEPTRON_BINARY;
    expect_error(three, &o, SN_ERR_RANGE, "0 and 1");
    o = sn_perceptron_defaults();
    o.classes[0] = 0;
    o.classes[1] = 3;
    expect_error(three, &o, SN_ERR_RANGE, "class 3");
    o.classes[1] = 0;
    expect_error(three, &o, SN_ERR_INVALID_ARG, "both 0");
    o = sn_perceptron_defaults();
    o.lr = 0.0;
    expect_error(three, &o, SN_ERR_INVALID_ARG, "learning rate");
    o.lr = NAN;
    expect_error(three, &o, SN_ERR_INVALID_ARG, "learning rate");
    o = sn_perceptron_defaults();
    o.max_epochs = 0;
    expect_error(three, &o, SN_ERR_INVALID_ARG, "epochs");
    o = sn_perceptron_defaults();
    expect_error(NULL, &o, SN_ERR_INVALID_ARG, "NULL");
    /* Three classes, one-vs-rest by default: fine. */
    sn_perceptron *p;
    sn_perceptron_result r;
    SN_ASSERT_OK(sn_perceptron_train(&p, three, &o, &r));
    assert_int_equal(r.kind, SN_PERCEPTRON_ONE_VS_REST);
    int64_t correct, n;
    sn_shape_make(&s, 1, (int64_t[]){3});
    sn_dataset *wide;
    const float x3[] = {0, 0, 0, 1, 1, 1, 2, 2, 2};
    SN_ASSERT_OK(sn_dataset_from_arrays(&wide, 3, &s, x3, 1, y3, 3));
    assert_int_equal(sn_perceptron_accuracy(p, wide, &correct, &n), SN_ERR_SHAPE);
    sn_perceptron_destroy(p);
    sn_dataset_destroy(wide);
    sn_dataset_destroy(three);
    sn_dataset_destroy(floats);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_by_hand),
        cmocka_unit_test(test_xor_does_not_converge),
        cmocka_unit_test(test_novikoff_bound),
        cmocka_unit_test(test_trouser_sneaker_separable),
        cmocka_unit_test(test_tshirt_shirt_does_not_converge),
        cmocka_unit_test(test_trouser_bag_separable_but_slow),
        cmocka_unit_test(test_multiclass_fashion_slice),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

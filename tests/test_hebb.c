/*
 * Hebbian learning (src/optim/hebb.c, src/optim/pca.c) on real data: the first
 * 2,000 Fashion-MNIST training images, pixels in [0, 1], centred.
 *
 * The principal components are computed here independently of the library:
 * the covariance summed in double by plain loops, then power iteration with
 * deflation. Against them:
 *   - Oja's rule: |cosine| >= 0.99 with the first component, ||w|| within 1%
 *     of 1 (and the random start it came from is far from both, so the
 *     checks can fail);
 *   - Sanger's rule, k = 3: each unit against its component, the same way;
 *   - sn_principal_components (what `sinapsi hebb --check` uses) agrees;
 *   - the plain Hebb rule grows without bound, by the factor its mean step
 *     predicts, (1 + ηλ1) per example once aligned, until it overflows and
 *     says so;
 *   - the model's outputs are the projections W(x - mean); the errors.
 */
#include "support/test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"
#define N_SLICE 2000
#define D 784
#define K 3

/* The slice (N_SLICE, D) as floats, its first K components (K, D) and their
 * variances, computed once for the group. */
typedef struct reference {
    sn_dataset *ds;
    float *x;   /* (N_SLICE, D) */
    double *pc; /* (K, D) */
    double var[K];
} reference;

static reference ref;

static void power_iteration(double *cov, double *v, double *var) {
    double *next = malloc(sizeof *next * D);
    for (int i = 0; i < D; i++) v[i] = 1.0 / sqrt((double)D);
    double lambda = 0.0;
    for (int it = 0; it < 20000; it++) {
        double norm = 0.0;
        for (int i = 0; i < D; i++) {
            next[i] = 0.0;
            for (int j = 0; j < D; j++) next[i] += cov[i * D + j] * v[j];
            norm += next[i] * next[i];
        }
        norm = sqrt(norm);
        double diff = 0.0;
        for (int i = 0; i < D; i++) {
            diff = fmax(diff, fabs(next[i] / norm - v[i]));
            v[i] = next[i] / norm;
        }
        lambda = norm;
        if (diff < 1e-13) break;
    }
    *var = lambda;
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) cov[i * D + j] -= lambda * v[i] * v[j];
    free(next);
}

static int setup(void **state) {
    (void)state;
    sn_data_opts o = sn_data_defaults();
    o.limit = N_SLICE;
    if (sn_dataset_load(FASHION_DIR, &o, &ref.ds, NULL) != SN_OK) return -1;
    ref.x = malloc(sizeof *ref.x * N_SLICE * D);
    int64_t *all = malloc(sizeof *all * N_SLICE);
    for (int64_t i = 0; i < N_SLICE; i++) all[i] = i;
    if (sn_dataset_batch(ref.ds, all, N_SLICE, ref.x, NULL) != SN_OK) return -1;
    free(all);
    double mean[D] = {0};
    for (int r = 0; r < N_SLICE; r++)
        for (int i = 0; i < D; i++) mean[i] += ref.x[r * D + i];
    for (int i = 0; i < D; i++) mean[i] /= N_SLICE;
    double *cov = calloc(D * D, sizeof *cov), c[D];
    for (int r = 0; r < N_SLICE; r++) {
        for (int i = 0; i < D; i++) c[i] = ref.x[r * D + i] - mean[i];
        for (int i = 0; i < D; i++)
            for (int j = i; j < D; j++) cov[i * D + j] += c[i] * c[j];
    }
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) cov[j * D + i] = cov[i * D + j] /= N_SLICE;
    ref.pc = malloc(sizeof *ref.pc * K * D);
    for (int k = 0; k < K; k++) power_iteration(cov, ref.pc + k * D, &ref.var[k]);
    free(cov);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sn_dataset_destroy(ref.ds);
    free(ref.x);
    free(ref.pc);
    return 0;
}

static double norm_of(const float *w) {
    double s = 0.0;
    for (int i = 0; i < D; i++) s += (double)w[i] * w[i];
    return sqrt(s);
}

static double abs_cosine(const float *w, const double *v) {
    double dot = 0.0;
    for (int i = 0; i < D; i++) dot += w[i] * v[i];
    return fabs(dot) / norm_of(w);
}

/* The weight (k, D) of Linear(D, k) initialised from seed as sn_hebb_train
 * starts it; valid until the next call. */
static const float *initial_weights(int k, uint64_t seed) {
    static float weight[K * D];
    sn_module linear = sn_module_linear(D, k, 1);
    sn_model *m;
    SN_ASSERT_OK(sn_model_create(&m, &linear, 1));
    sn_model_compile_opts c = sn_model_compile_defaults();
    sn_shape_make(&c.sample_shape, 1, (int64_t[]){D});
    SN_ASSERT_OK(sn_model_compile(m, &c));
    SN_ASSERT_OK(sn_model_init(m, seed, SN_INIT_TORCH_DEFAULT));
    sn_graph *g = sn_model_graph(m);
    const int node = sn_graph_param_node(g, 0);
    assert_string_equal(sn_graph_node_name(g, node), "0.weight");
    memcpy(weight, sn_graph_value(g, node), sizeof(float) * (size_t)(k * D));
    sn_model_destroy(m);
    return weight;
}

/* Oja and Sanger: unit j against component j. */
static void check_components(sn_hebb_rule rule, int k) {
    sn_hebb_opts o = sn_hebb_defaults();
    o.rule = rule;
    o.components = k;
    o.seed = 3;
    /* Where the units start: torch's nn.Linear initialisation, same seed. */
    const float *start = initial_weights(k, o.seed);
    sn_hebb *h;
    SN_ASSERT_OK(sn_hebb_train(&h, ref.ds, &o));
    assert_int_equal(sn_hebb_components(h), k);
    assert_int_equal(sn_hebb_features(h), D);
    for (int j = 0; j < k; j++) {
        const float *w = sn_hebb_weights(h) + j * D, *w0 = start + j * D;
        const double cosine = abs_cosine(w, ref.pc + j * D), norm = norm_of(w);
        print_message("  %s unit %d: |cos| %.5f (from %.3f), ||w|| %.5f (from %.3f); "
                      "variance %.4f\n",
                      sn_hebb_rule_name(rule), j, cosine, abs_cosine(w0, ref.pc + j * D), norm,
                      norm_of(w0), ref.var[j]);
        assert_true(abs_cosine(w0, ref.pc + j * D) < 0.5);
        assert_true(fabs(norm_of(w0) - 1.0) > 0.1);
        assert_true(cosine >= 0.99);
        assert_true(fabs(norm - 1.0) <= 0.01);
    }
    sn_hebb_destroy(h);
}

static void test_oja_first_component(void **state) {
    (void)state;
    check_components(SN_HEBB_OJA, 1);
}

static void test_sanger_first_components(void **state) {
    (void)state;
    check_components(SN_HEBB_SANGER, K);
}

static void test_library_components_agree(void **state) {
    (void)state;
    double pc[K * D], var[K];
    SN_ASSERT_OK(sn_principal_components(ref.ds, K, 5000, pc, var));
    for (int j = 0; j < K; j++) {
        double dot = 0.0, norm = 0.0;
        for (int i = 0; i < D; i++) {
            dot += pc[j * D + i] * ref.pc[j * D + i];
            norm += pc[j * D + i] * pc[j * D + i];
        }
        print_message("  component %d: |cos| %.8f, variance %.6f (here %.6f)\n", j, fabs(dot),
                      var[j], ref.var[j]);
        assert_true(fabs(dot) >= 0.99999);
        assert_float_equal(norm, 1.0, 1e-9);
        assert_true(fabs(var[j] - ref.var[j]) <= 1e-4 * ref.var[j]);
    }
    /* The ranks are distinct: the first two variances differ (else "first"
     * would mean nothing). */
    assert_true(ref.var[0] > 1.2 * ref.var[1]);
}

typedef struct norm_log {
    int epochs;
    double norm[16];
} norm_log;

static void log_norm(const sn_hebb_epoch *e, void *user) {
    norm_log *log = user;
    if (log->epochs < 16) log->norm[log->epochs] = e->norm[0];
    log->epochs++;
}

/* Plain Hebb: E[Δw] = ηCw, so once w points along the first component each
 * example multiplies ||w|| by about 1 + ηλ1, an epoch by (1 + ηλ1)^n. */
static void test_plain_hebb_grows_without_bound(void **state) {
    (void)state;
    sn_hebb_opts o = sn_hebb_defaults();
    o.rule = SN_HEBB_PLAIN;
    o.lr = 1e-4;
    o.lr_decay = 0.0;
    o.max_epochs = 5;
    norm_log log = {0};
    o.on_epoch = log_norm;
    o.user = &log;
    sn_hebb *h;
    SN_ASSERT_OK(sn_hebb_train(&h, ref.ds, &o));
    const double predicted = pow(1.0 + o.lr * ref.var[0], N_SLICE);
    for (int e = 1; e < 5; e++) {
        const double factor = log.norm[e] / log.norm[e - 1];
        print_message("  epoch %d: ||w|| %.6g, x%.2f (predicted x%.2f)\n", e + 1, log.norm[e],
                      factor, predicted);
        assert_true(factor > 1.0);
        if (e >= 2) assert_true(factor > 0.8 * predicted && factor < 1.25 * predicted);
    }
    assert_true(abs_cosine(sn_hebb_weights(h), ref.pc) >= 0.99);
    sn_hebb_destroy(h);
    /* Run long enough, the weights overflow: an error naming the epoch. */
    o.max_epochs = 100;
    log.epochs = 0;
    sn_hebb *lost = (sn_hebb *)1;
    assert_int_equal(sn_hebb_train(&lost, ref.ds, &o), SN_ERR_NUMERIC);
    assert_null(lost);
    print_message("  %s\n", sn_last_error());
    assert_non_null(strstr(sn_last_error(), "grows without bound"));
    assert_true(log.epochs < 100);
}

/* The model: Linear(784, k) whose outputs are W(x - mean). */
static void test_model_projects(void **state) {
    (void)state;
    sn_hebb_opts o = sn_hebb_defaults();
    o.rule = SN_HEBB_SANGER;
    o.components = 2;
    o.max_epochs = 2;
    sn_hebb *h;
    SN_ASSERT_OK(sn_hebb_train(&h, ref.ds, &o));
    sn_model *m = sn_hebb_model(h);
    assert_int_equal(sn_model_module_count(m), 1);
    float y[4 * 2];
    SN_ASSERT_OK(sn_model_forward(m, ref.x, 4, y));
    const double *mean = sn_hebb_mean(h);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 2; j++) {
            double want = 0.0;
            for (int i = 0; i < D; i++)
                want += (double)sn_hebb_weights(h)[j * D + i] * (ref.x[r * D + i] - mean[i]);
            assert_float_equal(y[r * 2 + j], want, 1e-4);
        }
    sn_hebb_destroy(h);
}

static void test_errors(void **state) {
    (void)state;
    sn_hebb_rule rule;
    SN_ASSERT_OK(sn_hebb_rule_parse("sanger", &rule));
    assert_int_equal(rule, SN_HEBB_SANGER);
    assert_int_equal(sn_hebb_rule_parse("anti", &rule), SN_ERR_INVALID_ARG);
    struct {
        sn_hebb_rule rule;
        int k;
        double lr, decay;
        int epochs;
        const char *needle;
    } cases[] = {
        {SN_HEBB_OJA, 2, 1e-3, 1, 1, "Sanger"},      {SN_HEBB_SANGER, 0, 1e-3, 1, 1, "components"},
        {SN_HEBB_OJA, 1, -1, 1, 1, "learning rate"}, {SN_HEBB_OJA, 1, 1e-3, -1, 1, "decay"},
        {SN_HEBB_OJA, 1, 1e-3, 1, 0, "epochs"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sn_hebb_opts o = sn_hebb_defaults();
        o.rule = cases[c].rule;
        o.components = cases[c].k;
        o.lr = cases[c].lr;
        o.lr_decay = cases[c].decay;
        o.max_epochs = cases[c].epochs;
        sn_hebb *h = (sn_hebb *)1;
        assert_int_equal(sn_hebb_train(&h, ref.ds, &o), SN_ERR_INVALID_ARG);
        assert_null(h);
        if (!strstr(sn_last_error(), cases[c].needle))
            fail_msg("case %zu: '%s' does not mention '%s'", c, sn_last_error(), cases[c].needle);
    }
    double pc[D], var;
    assert_int_equal(sn_principal_components(ref.ds, 0, 10, pc, &var), SN_ERR_INVALID_ARG);
    assert_int_equal(sn_principal_components(ref.ds, D + 1, 10, pc, &var), SN_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oja_first_component),
        cmocka_unit_test(test_sanger_first_components),
        cmocka_unit_test(test_library_components_agree),
        cmocka_unit_test(test_plain_hebb_grows_without_bound),
        cmocka_unit_test(test_model_projects),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

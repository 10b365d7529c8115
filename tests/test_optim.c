/*
 * Optimisers against torch.optim (golden files written by
 * tests/optim_golden/gen.py), the velocity form against torch's form,
 * schedules against torch's lr_scheduler values, clipping, bad options.
 */
#include "support/test_support.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_GOLDEN_DIR SN_GOLDEN_DIR "/../optim_golden"

static double meta_double(sn_safetensors *f, const char *key, double fallback) {
    const char *v = sn_safetensors_metadata(f, key);
    return v ? strtod(v, NULL) : fallback;
}

static sn_tensor *read_tensor(sn_safetensors *f, const char *name) {
    sn_tensor *t = NULL;
    SN_ASSERT_OK(sn_safetensors_read(f, name, &t));
    return t;
}

static int names_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_optimisers_match_torch(void **state) {
    (void)state;
    DIR *dir = opendir(OPTIM_GOLDEN_DIR);
    assert_non_null(dir);
    char *names[64];
    int n_files = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n_files < 64)
        if (strstr(e->d_name, ".safetensors")) names[n_files++] = strdup(e->d_name);
    closedir(dir);
    qsort(names, (size_t)n_files, sizeof names[0], names_cmp);
    assert_true(n_files >= 10); /* an emptied directory must not pass */
    double worst = 0;
    int failures = 0;
    for (int k = 0; k < n_files; k++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", OPTIM_GOLDEN_DIR, names[k]);
        sn_safetensors *f = NULL;
        SN_ASSERT_OK(sn_safetensors_open(&f, path));
        sn_optim_kind kind;
        SN_ASSERT_OK(sn_optim_parse(sn_safetensors_metadata(f, "optim"), &kind));
        sn_optim_opts o = sn_optim_defaults(kind);
        o.momentum = meta_double(f, "momentum", 0);
        o.dampening = meta_double(f, "dampening", 0);
        o.nesterov = (int)meta_double(f, "nesterov", 0);
        o.weight_decay = meta_double(f, "weight_decay", o.weight_decay);
        o.beta1 = meta_double(f, "beta1", o.beta1);
        o.beta2 = meta_double(f, "beta2", o.beta2);
        o.eps = meta_double(f, "eps", o.eps);
        /* The learning rates as the decimal text torch used, not their float copies. */
        double lrs[16];
        int n_lrs = 0;
        const char *text = sn_safetensors_metadata(f, "lrs");
        assert_non_null(text);
        for (char *end; *text && n_lrs < 16; text = *end ? end + 1 : end) {
            lrs[n_lrs++] = strtod(text, &end);
        }
        o.lr = lrs[0];
        sn_tensor *theta = read_tensor(f, "theta0"), *grads = read_tensor(f, "grads");
        sn_tensor *expected = read_tensor(f, "expected");
        int64_t n = theta->shape.dim[0], steps = grads->shape.dim[0];
        assert_int_equal(steps, n_lrs);
        sn_optim *opt = NULL;
        SN_ASSERT_OK(sn_optim_create(&opt, &o, (size_t)n));
        double max_diff = 0;
        int bad = 0;
        for (int64_t t = 0; t < steps; t++) {
            SN_ASSERT_OK(sn_optim_step(opt, theta->data, grads->data + t * n, lrs[t]));
            for (int64_t i = 0; i < n; i++) {
                double want = expected->data[t * n + i], got = theta->data[i];
                double d = fabs(got - want);
                if (d > max_diff) max_diff = d;
                if (d > 1e-6 + 1e-5 * fabs(want)) bad++;
            }
        }
        printf("%-36s %s max|diff| %.3g after %lld steps\n", names[k], bad ? "FAIL" : "ok  ",
               max_diff, (long long)steps);
        if (max_diff > worst) worst = max_diff;
        failures += bad > 0;
        assert_int_equal(sn_optim_steps(opt), steps);
        sn_optim_destroy(opt);
        sn_tensor_destroy(theta);
        sn_tensor_destroy(grads);
        sn_tensor_destroy(expected);
        sn_safetensors_close(f);
        free(names[k]);
    }
    printf("optimisers: %d files, largest difference from torch %.3g (rtol 1e-5, atol 1e-6)\n",
           n_files, worst);
    assert_int_equal(failures, 0);
}

/* v <- a v - lr g; theta += v equals torch's b <- a b + g; theta -= lr b for a
 * constant rate, and differs once the rate changes. */
static void test_velocity_form_equals_torch_form_for_constant_rate(void **state) {
    (void)state;
    enum { N = 50, STEPS = 20 };
    float a[N], b[N], grads[STEPS][N];
    sn_rng r;
    sn_rng_seed(&r, 5, 1);
    for (int i = 0; i < N; i++) a[i] = b[i] = (float)sn_rng_normal(&r);
    for (int t = 0; t < STEPS; t++)
        for (int i = 0; i < N; i++) grads[t][i] = (float)sn_rng_normal(&r);
    for (int schedule = 0; schedule < 2; schedule++) {
        sn_optim_opts o = sn_optim_defaults(SN_OPTIM_SGD);
        o.lr = 0.05;
        o.momentum = 0.9;
        sn_optim *torch_form, *velocity;
        SN_ASSERT_OK(sn_optim_create(&torch_form, &o, N));
        o.velocity_form = 1;
        SN_ASSERT_OK(sn_optim_create(&velocity, &o, N));
        double max_diff = 0;
        for (int t = 0; t < STEPS; t++) {
            double lr = schedule ? 0.05 / (1 + t) : 0.05;
            sn_optim_step(torch_form, a, grads[t], lr);
            sn_optim_step(velocity, b, grads[t], lr);
        }
        for (int i = 0; i < N; i++) max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
        printf("velocity vs torch form, %s rate: max|diff| %.3g\n",
               schedule ? "decaying" : "constant", max_diff);
        if (schedule)
            assert_true(max_diff > 1e-3);
        else
            assert_true(max_diff < 1e-5);
        sn_optim_destroy(torch_form);
        sn_optim_destroy(velocity);
        for (int i = 0; i < N; i++) b[i] = a[i];
    }
}

/* Values printed by torch.optim.lr_scheduler for lr 0.1 (see the comments). */
static void test_schedules_match_torch(void **state) {
    (void)state;
    sn_schedule s = sn_schedule_constant(0.1);
    /* StepLR(step_size=2, gamma=0.5) */
    s.kind = SN_SCHEDULE_STEP;
    s.step_size = 2;
    s.gamma = 0.5;
    const double step_lr[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025};
    for (int e = 0; e < 6; e++) assert_float_equal(sn_schedule_lr(&s, 0, e), step_lr[e], 1e-12);
    /* CosineAnnealingLR(T_max=5, eta_min=0.001) */
    s = sn_schedule_constant(0.1);
    s.kind = SN_SCHEDULE_COSINE;
    s.total_epochs = 5;
    s.eta_min = 0.001;
    const double cos_lr[] = {
        0.1,   0.0905463412215599,  0.06579634122155989, 0.035203658778440096, 0.010453658778440105,
        0.001, 0.010453658778440102};
    for (int e = 0; e < 7; e++) assert_float_equal(sn_schedule_lr(&s, 0, e), cos_lr[e], 1e-12);
    /* LinearLR(start_factor=0.25, total_iters=4) = a warm-up of 4 steps */
    s = sn_schedule_constant(0.1);
    s.warmup_steps = 4;
    const double warm_lr[] = {
        0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.1, 0.1};
    for (int t = 0; t < 6; t++) assert_float_equal(sn_schedule_lr(&s, t, 0), warm_lr[t], 1e-12);
    sn_schedule_kind k;
    SN_ASSERT_OK(sn_schedule_parse("cosine", &k));
    assert_int_equal(k, SN_SCHEDULE_COSINE);
    assert_int_equal(sn_schedule_parse("linear", &k), SN_ERR_INVALID_ARG);
}

static void test_clip_grad_norm(void **state) {
    (void)state;
    float g[4] = {3, 4, 0, 0}; /* norm 5 */
    double total = sn_clip_grad_norm(g, 4, 1.0);
    assert_float_equal(total, 5.0, 1e-12);
    assert_float_equal(g[0], 3.0 / (5.0 + 1e-6), 1e-7);
    assert_float_equal(g[1], 4.0 / (5.0 + 1e-6), 1e-7);
    float h[2] = {0.3f, 0.4f}; /* below the limit: unchanged */
    sn_clip_grad_norm(h, 2, 1.0);
    assert_true(h[0] == 0.3f && h[1] == 0.4f);
    float bad[2] = {NAN, 1};
    assert_true(isnan(sn_clip_grad_norm(bad, 2, 1.0)));
}

static void test_bad_options_are_refused(void **state) {
    (void)state;
    sn_optim *o = NULL;
    sn_optim_opts opts = sn_optim_defaults(SN_OPTIM_SGD);
    opts.lr = -1;
    assert_int_equal(sn_optim_create(&o, &opts, 3), SN_ERR_INVALID_ARG);
    opts = sn_optim_defaults(SN_OPTIM_SGD);
    opts.nesterov = 1; /* without momentum */
    assert_int_equal(sn_optim_create(&o, &opts, 3), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "Nesterov"));
    opts = sn_optim_defaults(SN_OPTIM_ADAM);
    opts.beta2 = 1.0;
    assert_int_equal(sn_optim_create(&o, &opts, 3), SN_ERR_INVALID_ARG);
    opts = sn_optim_defaults(SN_OPTIM_ADAMW);
    opts.lr = NAN;
    assert_int_equal(sn_optim_create(&o, &opts, 3), SN_ERR_INVALID_ARG);
    assert_null(o);
    sn_optim_kind k;
    assert_int_equal(sn_optim_parse("rmsprop", &k), SN_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_optimisers_match_torch),
        cmocka_unit_test(test_velocity_form_equals_torch_form_for_constant_rate),
        cmocka_unit_test(test_schedules_match_torch),
        cmocka_unit_test(test_clip_grad_norm),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

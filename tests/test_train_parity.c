/*
 * Step-by-step parity of `sinapsi train` with PyTorch.
 *
 * tests/train_parity/gen.py trains small torch models (MLPs with ReLU and
 * Tanh, a CNN with Conv2d/MaxPool2d/Linear on 1x8x8 inputs) from fixed
 * initial weights over consecutive minibatches (SGD, momentum with
 * dampening, the velocity form, Nesterov with weight decay and a step
 * schedule, Adam with decay and clipping, AdamW; cross_entropy, mse on one-hot
 * labels and on float targets, bce_with_logits; one case with a partial last
 * batch) and records every step's loss and the final state_dict. This test
 * runs the built sinapsi with each case's arguments (<case>.args) plus
 * --log --log-steps --out --threads 1, and requires
 *   - the log's step lines: exactly as many as torch's steps, losses at rtol 1e-4;
 *   - the saved model: every torch tensor, same shape, at rtol 1e-3, atol 1e-4,
 *     and no other parameter.
 * The largest differences are printed. A case listed here whose files are
 * missing fails, and so does a case in the directory that is not listed.
 */
#include "support/test_support.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinapsi/safetensors.h"
#include "support/cli_run.h"
#include "support/temp_dir.h"

#ifndef SN_CLI_PATH
#error "SN_CLI_PATH (the built sinapsi) must be defined by the build"
#endif
#define PARITY_DIR SN_GOLDEN_DIR "/../train_parity"
#define LOSS_RTOL 1e-4
#define WEIGHT_RTOL 1e-3
#define WEIGHT_ATOL 1e-4

static const char *const cases[] = {
    "mlp_relu_sgd_ce",         "mlp_tanh_momentum_mse",          "mlp_relu_velocity_ce",
    "mlp_relu_nesterov_wd_ce", "mlp_tanh_sgd_wd_mse_regression", "cnn_adam_ce",
    "cnn_adam_wd_clip_ce",     "mlp_tanh_adamw_bce_with_logits",
};
#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* ---- comparing ---- */

/* Index of the first got[i] outside atol + rtol*|want[i]| (NaN included), or
 * -1; *max_abs and *max_rel get the largest differences. */
static int64_t first_mismatch(const float *got, const float *want, int64_t n, double rtol,
                              double atol, double *max_abs, double *max_rel) {
    int64_t worst = -1;
    *max_abs = *max_rel = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double rel = d / fmax(fabs((double)want[i]), 1e-30);
        if (!(d <= atol + rtol * fabs((double)want[i])) && worst < 0) worst = i;
        if (d > *max_abs || isnan(d)) *max_abs = d;
        if (rel > *max_rel || isnan(rel)) *max_rel = rel;
    }
    return worst;
}

/* The comparisons must reject a value off by a little more than their tolerance. */
static void test_comparison_rejects_perturbed(void **state) {
    (void)state;
    float want[3] = {2.5f, -0.75f, 1e-6f}, got[3];
    double max_abs, max_rel;
    memcpy(got, want, sizeof got);
    assert_int_equal(first_mismatch(got, want, 3, LOSS_RTOL, 0.0, &max_abs, &max_rel), -1);
    got[1] = (float)(want[1] * (1.0 + 2.0 * LOSS_RTOL));
    assert_int_equal(first_mismatch(got, want, 3, LOSS_RTOL, 0.0, &max_abs, &max_rel), 1);
    memcpy(got, want, sizeof got);
    got[2] += (float)(2.0 * WEIGHT_ATOL);
    assert_int_equal(first_mismatch(got, want, 3, WEIGHT_RTOL, WEIGHT_ATOL, &max_abs, &max_rel), 2);
    got[2] = NAN;
    assert_int_equal(first_mismatch(got, want, 3, WEIGHT_RTOL, WEIGHT_ATOL, &max_abs, &max_rel), 2);
}

/* ---- running a case ---- */

/* Splits the one line of <case>.args at spaces into args (NULL-terminated);
 * returns the count. The words point into text. */
static int split_args(char *text, const char **args, int cap) {
    int n = 0;
    for (char *word = strtok(text, " \t\r\n"); word; word = strtok(NULL, " \t\r\n")) {
        assert_true(n < cap - 1);
        args[n++] = word;
    }
    args[n] = NULL;
    return n;
}

/* The losses of the log's step lines, in order, into losses (cap); their count. */
static int64_t read_step_losses(const char *log_path, float *losses, int64_t cap) {
    char *text = sn_slurp(log_path);
    if (!text) fail_msg("%s: no log written", log_path);
    int64_t n = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        if (!o) fail_msg("%s: a line is not JSON: %.200s", log_path, line);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (cJSON_IsString(type) && !strcmp(type->valuestring, "step")) {
            const cJSON *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
            const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
            if (!cJSON_IsNumber(loss))
                fail_msg("%s: a step line without a loss: %s", log_path, line);
            /* Steps are numbered from 1, in order, none skipped or repeated. */
            if (!cJSON_IsNumber(step) || step->valuedouble != (double)(n + 1))
                fail_msg("%s: step line %lld has step %s", log_path, (long long)(n + 1),
                         cJSON_IsNumber(step) ? "out of order" : "missing");
            if (n == cap) fail_msg("%s: more than %lld step lines", log_path, (long long)cap);
            losses[n++] = (float)loss->valuedouble;
        }
        cJSON_Delete(o);
    }
    free(text);
    return n;
}

static void compare_losses(const char *name, sn_tensor *want, const char *log_path) {
    const int64_t steps = sn_tensor_numel(want);
    float *got = calloc((size_t)steps + 1, sizeof *got);
    assert_non_null(got);
    int64_t n = read_step_losses(log_path, got, steps + 1);
    if (n != steps)
        fail_msg("%s: %lld step lines in the log, torch took %lld steps", name, (long long)n,
                 (long long)steps);
    double max_abs, max_rel;
    int64_t bad = first_mismatch(got, want->data, steps, LOSS_RTOL, 0.0, &max_abs, &max_rel);
    print_message("  %-32s %3lld step losses   max rel diff %.3g (abs %.3g)\n", name,
                  (long long)steps, max_rel, max_abs);
    if (bad >= 0)
        fail_msg("%s: step %lld loss %.9g, torch %.9g", name, (long long)bad + 1, got[bad],
                 want->data[bad]);
    free(got);
}

/* Every tensor of expected but "losses" must be in the model file, close. */
static void compare_weights(const char *name, sn_safetensors *expected, const char *model_path) {
    sn_safetensors *model;
    SN_ASSERT_OK(sn_safetensors_open(&model, model_path));
    int n_params = 0;
    double worst_abs = 0.0;
    const char *worst_name = "";
    for (int i = 0; i < sn_safetensors_count(expected); i++) {
        const char *tensor = sn_safetensors_name(expected, i);
        if (!strcmp(tensor, "losses")) continue;
        n_params++;
        if (sn_safetensors_find(model, tensor) < 0)
            fail_msg("%s: %s has no tensor '%s'", name, model_path, tensor);
        sn_tensor *want, *got;
        SN_ASSERT_OK(sn_safetensors_read(expected, tensor, &want));
        SN_ASSERT_OK(sn_safetensors_read(model, tensor, &got));
        char a[64], b[64];
        if (!sn_shape_equal(&got->shape, &want->shape))
            fail_msg("%s: %s has shape %s, torch %s", name, tensor,
                     sn_shape_format(&got->shape, a, sizeof a),
                     sn_shape_format(&want->shape, b, sizeof b));
        double max_abs, max_rel;
        int64_t bad = first_mismatch(got->data, want->data, sn_tensor_numel(want), WEIGHT_RTOL,
                                     WEIGHT_ATOL, &max_abs, &max_rel);
        if (bad >= 0)
            fail_msg("%s: %s[%lld] is %.9g, torch %.9g", name, tensor, (long long)bad,
                     got->data[bad], want->data[bad]);
        if (max_abs >= worst_abs) {
            worst_abs = max_abs;
            worst_name = sn_safetensors_name(expected, i);
        }
        sn_tensor_destroy(want);
        sn_tensor_destroy(got);
    }
    print_message("  %-32s %3d final tensors   max abs diff %.3g (%s)\n", name, n_params, worst_abs,
                  worst_name);
    if (sn_safetensors_count(model) != n_params)
        fail_msg("%s: %s holds %d tensors, torch's state_dict %d", name, model_path,
                 sn_safetensors_count(model), n_params);
    sn_safetensors_close(model);
}

static void run_case(const char *name) {
    char path[512], log_path[512], out_path[512];
    snprintf(log_path, sizeof log_path, "%s", sn_temp_path("log.jsonl"));
    snprintf(out_path, sizeof out_path, "%s", sn_temp_path("out.safetensors"));
    snprintf(path, sizeof path, "%s.args", name);
    char *text = sn_slurp(path);
    if (!text) fail_msg("%s/%s: missing (run tests/train_parity/gen.py)", PARITY_DIR, path);
    const char *args[64] = {"train"};
    int n = 1 + split_args(text, args + 1, 64 - 12);
    const char *tail[] = {"--log",     log_path, "--log-steps", "--out", out_path,
                          "--threads", "1",      "--progress",  "none",  NULL};
    for (int i = 0; tail[i]; i++) args[n++] = tail[i];
    args[n] = NULL;
    unlink(log_path); /* the log appends */
    unlink(out_path);
    sn_cli_run r = sn_cli_run_args(SN_CLI_PATH, args);
    if (r.status != 0) fail_msg("%s: sinapsi train exited %d: %s", name, r.status, r.err);
    sn_cli_run_free(&r);

    snprintf(path, sizeof path, "%s.expected.safetensors", name);
    sn_safetensors *expected;
    SN_ASSERT_OK(sn_safetensors_open(&expected, path));
    sn_tensor *losses;
    SN_ASSERT_OK(sn_safetensors_read(expected, "losses", &losses));
    compare_losses(name, losses, log_path);
    compare_weights(name, expected, out_path);
    sn_tensor_destroy(losses);
    sn_safetensors_close(expected);
    free(text);
}

/* One cmocka test per case, its name as the state: every case runs and reports. */
static void test_case(void **state) {
    run_case((const char *)*state);
}

/* Every <case>.args in the directory is one of the cases above. */
static void test_every_case_is_run(void **state) {
    (void)state;
    DIR *dir = opendir(".");
    assert_non_null(dir);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".args")) continue;
        int listed = 0;
        for (int i = 0; i < N_CASES; i++)
            listed |= strlen(cases[i]) == len - 5 && !strncmp(cases[i], e->d_name, len - 5);
        if (!listed) fail_msg("%s/%s is not among the cases of this test", PARITY_DIR, e->d_name);
        found++;
    }
    closedir(dir);
    assert_int_equal(found, N_CASES);
}

/* ---- set-up ---- */

/* The .args name files relative to the parity directory, as gen.py wrote them. */
static int set_up(void **state) {
    if (sn_temp_dir_setup(state)) return -1;
    return chdir(PARITY_DIR) == 0 ? 0 : -1;
}

int main(void) {
    struct CMUnitTest tests[2 + N_CASES] = {
        cmocka_unit_test(test_comparison_rejects_perturbed),
        cmocka_unit_test(test_every_case_is_run),
    };
    for (int i = 0; i < N_CASES; i++) {
        struct CMUnitTest t = cmocka_unit_test_prestate(test_case, (void *)cases[i]);
        t.name = cases[i];
        tests[2 + i] = t;
    }
    return cmocka_run_group_tests(tests, set_up, sn_temp_dir_teardown);
}

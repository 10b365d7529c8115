/*
 * `sinapsi perceptron` and `sinapsi hebb` end to end: runs the built sinapsi
 * (SN_CLI_PATH) and checks exit status, what it prints, and the files it
 * writes.
 *
 *   - perceptron --classes 1,7 on Fashion-MNIST converges within a few epochs
 *     and says so, with train accuracy 1.0000; the saved model (Linear + Step)
 *     goes through `forward`, which puts a trouser at 0 and a sneaker at 1;
 *   - a noisy two-class CSV: "did not converge" in words, exit 0, and `eval
 *     --json` on the saved model counts exactly the correct examples it printed;
 *   - ten classes (one-vs-rest, a slice): `eval --json` on the saved
 *     Linear(784, 10) counts exactly the printed test split's correct examples;
 *   - hebb --check (Oja, a slice): |cosine| >= 0.99 and |w| near 1; the
 *     saved model is a Linear(784, 1); the plain rule overflows with one
 *     error line;
 *   - usage errors exit 2, data errors exit 1, one line each.
 */
#include "support/test_support.h"
#include "support/cli_run.h"
#include "support/temp_dir.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinapsi/safetensors.h"

#ifndef SN_CLI_PATH
#error "SN_CLI_PATH (the built sinapsi) must be defined by the build"
#endif
#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static sn_cli_run run(const char *const *args) {
    return sn_cli_run_args(SN_CLI_PATH, args);
}

static void expect_status(const sn_cli_run *r, int status) {
    if (r->status != status)
        fail_msg("exit %d (want %d); stdout:\n%s\nstderr:\n%s", r->status, status, r->out, r->err);
}

/* The run failed with `status` and exactly one line "sinapsi..." holding needle. */
static void expect_one_error_line(const char *const *args, int status, const char *needle) {
    sn_cli_run r = run(args);
    const char *nl = strchr(r.err, '\n');
    if (r.status != status || strncmp(r.err, "sinapsi", 7) || !nl || nl[1] ||
        !strstr(r.err, needle))
        fail_msg("%s ...: exit %d (want %d), stderr '%s' (want one line with '%s')", args[0],
                 r.status, status, r.err, needle);
    print_message("  exit %d: %s", r.status, r.err);
    sn_cli_run_free(&r);
}

/* The number after `label` in text ("accuracy  0.9995 (1999 of 2000)" -> 0.9995
 * with label "test  accuracy"); fails if absent. */
static double number_after(const char *text, const char *label) {
    const char *at = strstr(text, label);
    if (!at) fail_msg("no '%s' in:\n%s", label, text);
    return strtod(at + strlen(label), NULL);
}

/* The correct count of a printed accuracy line: "<label>  0.9995 (1999 of 2000)". */
static long printed_correct(const char *text, const char *label) {
    const char *at = strstr(text, label);
    if (!at) fail_msg("no '%s' in:\n%s", label, text);
    const char *open = strchr(at, '(');
    assert_non_null(open);
    return strtol(open + 1, NULL, 10);
}

/* `eval --json`: the number of correct predictions. */
static long eval_correct(const char *model, const char *data, const char *limit) {
    const char *args[] = {
        "eval", "--model", model, "--data", data, "--json", limit ? "--limit" : NULL, limit, NULL};
    sn_cli_run r = run(args);
    expect_status(&r, 0);
    cJSON *json = cJSON_Parse(r.out);
    assert_non_null(json);
    const cJSON *correct = cJSON_GetObjectItem(json, "correct");
    assert_true(cJSON_IsNumber(correct));
    const long value = (long)correct->valuedouble;
    print_message("  eval: %s", r.out);
    cJSON_Delete(json);
    sn_cli_run_free(&r);
    return value;
}

/* ---- perceptron ---- */

static void test_trouser_sneaker(void **state) {
    (void)state;
    char model[512];
    snprintf(model, sizeof model, "%s", sn_temp_path("trouser_sneaker.safetensors"));
    sn_cli_run r = run((const char *[]){"perceptron", "--data", FASHION_DIR, "--classes", "1,7",
                                        "--epochs", "20", "--out", model, NULL});
    expect_status(&r, 0);
    print_message("%s", r.out);
    const double epoch = number_after(r.out, "converged at epoch ");
    assert_true(epoch >= 1 && epoch <= 10);
    assert_non_null(strstr(r.out, "train accuracy  1.0000 (12000 of 12000)"));
    assert_non_null(strstr(r.out, "epoch 1 "));
    sn_cli_run_free(&r);

    /* forward: test image 2 is a trouser (label 1), test image 9 a sneaker (7). */
    sn_dataset *test;
    sn_data_opts o = sn_data_defaults();
    o.limit = 10;
    sn_dataset *train;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &o, &train, &test));
    sn_tensor *x;
    SN_ASSERT_OK(sn_tensor_create(&x, 2, (int64_t[]){2, 784}));
    float labels[2];
    SN_ASSERT_OK(sn_dataset_batch(test, (int64_t[]){2, 9}, 2, x->data, labels));
    assert_float_equal(labels[0], 1, 0);
    assert_float_equal(labels[1], 7, 0);
    char input[512], output[512];
    snprintf(input, sizeof input, "%s", sn_temp_path("x.safetensors"));
    snprintf(output, sizeof output, "%s", sn_temp_path("y.safetensors"));
    const char *names[] = {"x"};
    SN_ASSERT_OK(
        sn_safetensors_write(input, 1, names, (const sn_tensor *const[]){x}, 0, NULL, NULL));
    r = run(
        (const char *[]){"forward", "--model", model, "--input", input, "--output", output, NULL});
    expect_status(&r, 0);
    sn_cli_run_free(&r);
    sn_safetensors *f;
    sn_tensor *y;
    SN_ASSERT_OK(sn_safetensors_open(&f, output));
    SN_ASSERT_OK(sn_safetensors_read(f, "y", &y));
    assert_int_equal(sn_shape_numel(&y->shape), 2);
    assert_float_equal(y->data[0], 0.0f, 0); /* Step: exactly 0 or 1 */
    assert_float_equal(y->data[1], 1.0f, 0);
    sn_safetensors_close(f);
    sn_tensor_destroy(y);
    sn_tensor_destroy(x);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
}

/* Two noisy blobs (labels flipped for one point in ten): not separable. */
static void write_noisy_csv(const char *path) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    sn_rng rng;
    sn_rng_seed(&rng, 5, 1);
    fprintf(f, "label,a,b\n");
    for (int i = 0; i < 300; i++) {
        int label = i % 2;
        const double a = sn_rng_normal(&rng) + (label ? 1.0 : -1.0), b = sn_rng_normal(&rng);
        if (i % 10 == 3) label = !label;
        fprintf(f, "%d,%.6f,%.6f\n", label, a, b);
    }
    fclose(f);
}

static void test_noisy_csv_matches_eval(void **state) {
    (void)state;
    char csv[512], model[512];
    snprintf(csv, sizeof csv, "%s", sn_temp_path("noisy.csv"));
    snprintf(model, sizeof model, "%s", sn_temp_path("noisy.safetensors"));
    write_noisy_csv(csv);
    sn_cli_run r = run((const char *[]){"perceptron", "--data", csv, "--epochs", "5", "--lr", "0.5",
                                        "--averaged", "--out", model, NULL});
    expect_status(&r, 0);
    print_message("%s", r.out);
    assert_non_null(strstr(r.out, "did not converge in 5 epochs"));
    const double printed = number_after(r.out, "train accuracy  ");
    assert_true(printed > 0.6 && printed < 1.0);
    const long correct = printed_correct(r.out, "train accuracy");
    sn_cli_run_free(&r);
    assert_int_equal(eval_correct(model, csv, NULL), correct);
}

static void test_ten_classes_match_eval(void **state) {
    (void)state;
    char model[512];
    snprintf(model, sizeof model, "%s", sn_temp_path("ovr.safetensors"));
    sn_cli_run r = run((const char *[]){"perceptron", "--data", FASHION_DIR, "--limit", "2000",
                                        "--epochs", "2", "--out", model, NULL});
    expect_status(&r, 0);
    print_message("%s", r.out);
    assert_non_null(strstr(r.out, "one-vs-rest"));
    const double printed = number_after(r.out, "test  accuracy  ");
    assert_true(printed > 0.6);
    const long correct = printed_correct(r.out, "test  accuracy");
    sn_cli_run_free(&r);
    assert_int_equal(eval_correct(model, FASHION_DIR, "2000"), correct);
}

/* ---- hebb ---- */

static void test_hebb_oja_check(void **state) {
    (void)state;
    char model[512];
    snprintf(model, sizeof model, "%s", sn_temp_path("oja.safetensors"));
    sn_cli_run r = run((const char *[]){"hebb", "--data", FASHION_DIR, "--limit", "2000", "--check",
                                        "--out", model, NULL});
    expect_status(&r, 0);
    print_message("%s", r.out);
    assert_non_null(strstr(r.out, "rule      oja"));
    assert_non_null(strstr(r.out, "epoch 10 "));
    assert_true(number_after(r.out, "|cosine| ") >= 0.99);
    assert_true(fabs(number_after(r.out, "), |w| ") - 1.0) <= 0.01);
    sn_cli_run_free(&r);
    r = run((const char *[]){"info", model, NULL});
    expect_status(&r, 0);
    assert_non_null(strstr(r.out, "Linear(in_features=784, out_features=1"));
    sn_cli_run_free(&r);
}

static void test_hebb_plain_overflows(void **state) {
    (void)state;
    sn_cli_run r =
        run((const char *[]){"hebb", "--data", FASHION_DIR, "--limit", "500", "--rule", "hebb",
                             "--lr", "0.01", "--lr-decay", "0", "--epochs", "1000", NULL});
    expect_status(&r, 1);
    assert_non_null(strstr(r.out, "epoch 1 "));
    const char *nl = strchr(r.err, '\n');
    assert_true(nl && !nl[1]);
    assert_non_null(strstr(r.err, "grows without bound"));
    print_message("  %s", r.err);
    sn_cli_run_free(&r);
}

/* ---- errors ---- */

static void test_errors(void **state) {
    (void)state;
    expect_one_error_line((const char *[]){"perceptron", "--classes", "1,7", NULL}, 2, "--data");
    expect_one_error_line(
        (const char *[]){"perceptron", "--data", FASHION_DIR, "--classes", "1", NULL}, 2,
        "--classes");
    expect_one_error_line((const char *[]){"perceptron", "--data", FASHION_DIR, "--lr", "-1", NULL},
                          2, "--lr");
    expect_one_error_line(
        (const char *[]){"perceptron", "--data", FASHION_DIR, "--lr", "inf", NULL}, 2, "--lr");
    expect_one_error_line((const char *[]){"perceptron", "--data", FASHION_DIR, "--limit", "100",
                                           "--classes", "1,11", NULL},
                          1, "class 11");
    expect_one_error_line((const char *[]){"perceptron", "--data", "/nonexistent/dir", NULL}, 1,
                          "/nonexistent/dir");
    expect_one_error_line(
        (const char *[]){"hebb", "--data", FASHION_DIR, "--rule", "oja", "--components", "2", NULL},
        2, "sanger");
    expect_one_error_line((const char *[]){"hebb", "--data", FASHION_DIR, "--rule", "anti", NULL},
                          2, "anti");
    expect_one_error_line((const char *[]){"hebb", "--data", FASHION_DIR, "--lr-decay", "x", NULL},
                          2, "--lr-decay");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trouser_sneaker),
        cmocka_unit_test(test_noisy_csv_matches_eval),
        cmocka_unit_test(test_ten_classes_match_eval),
        cmocka_unit_test(test_hebb_oja_check),
        cmocka_unit_test(test_hebb_plain_overflows),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

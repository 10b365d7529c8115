/*
 * The command line, end to end: runs the built `sinapsi` (SN_CLI_PATH) as a
 * child process and checks its exit status, stdout and stderr.
 *
 *   - forward on the PyTorch models of tests/interop (tests/interop/gen.py:
 *     MLPs with every activation, CNNs with rectangular kernels, per-axis
 *     stride and padding, max and average pooling, dropout; LeNet-5), from a
 *     spec plus a state_dict and from a sinapsi model file, with a batch that
 *     divides the input and one that does not; y must equal torch's at rtol
 *     1e-4, atol 1e-5 (the largest difference is printed);
 *   - info on LeNet-5: 61,706 parameters (the classic count with padding=2);
 *   - eval --json on the interop datasets: the JSON parses, n is the test
 *     split's, and loss and accuracy equal those this test computes from
 *     torch's outputs and the labels;
 *   - the error paths: a missing file, a corrupt model file, a bad option, a
 *     bad number, a spec without --input-shape, ...: exit 1 with exactly one
 *     line "sinapsi: ..." naming the file, or exit 2 for usage errors.
 */
#include "support/test_support.h"
#include "support/cli_run.h"
#include "support/temp_dir.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinapsi/safetensors.h"

#ifndef SN_CLI_PATH
#error "SN_CLI_PATH (the built sinapsi) must be defined by the build"
#endif
#define INTEROP_DIR SN_GOLDEN_DIR "/../interop"
#define RTOL 1e-4
#define ATOL 1e-5

/* ---- running the CLI ---- */

typedef sn_cli_run cli_run;

static cli_run run_cli(const char *const *args) {
    return sn_cli_run_args(SN_CLI_PATH, args);
}

static void free_run(cli_run *r) {
    sn_cli_run_free(r);
}

/* The run must exit with `status`, printing exactly one line on stderr that
 * starts with "sinapsi: " and contains `needle` (a file name, an option). */
static void expect_one_error_line(const char *const *args, int status, const char *needle) {
    cli_run r = run_cli(args);
    const char *nl = strchr(r.err, '\n');
    if (r.status != status || strncmp(r.err, "sinapsi: ", 9) || !nl || nl[1] ||
        !strstr(r.err, needle))
        fail_msg("%s %s ...: exit %d (want %d), stderr '%s' (want one line 'sinapsi: ...%s...')",
                 args[0], args[1] ? args[1] : "", r.status, status, r.err, needle);
    print_message("  exit %d: %s", r.status, r.err);
    free_run(&r);
}

static const char *interop(const char *name, const char *suffix, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/%s%s", INTEROP_DIR, name, suffix);
    return buf;
}

/* sn_temp_path(name) copied into buf: these paths outlive its 4 buffers. */
static const char *tmp_file(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", sn_temp_path(name));
    return buf;
}

/* ---- tensors ---- */

static sn_tensor *read_tensor(const char *path, const char *name) {
    sn_safetensors *f;
    sn_tensor *t;
    SN_ASSERT_OK(sn_safetensors_open(&f, path));
    SN_ASSERT_OK(sn_safetensors_read(f, name, &t));
    sn_safetensors_close(f);
    return t;
}

/* Index of the first element of got outside atol + rtol*|want| (NaN included),
 * or -1 when all pass; *max_diff gets the largest difference. Same shapes. */
static int64_t first_mismatch(const sn_tensor *got, const sn_tensor *want, double *max_diff) {
    int64_t worst = -1, n = sn_tensor_numel(want);
    *max_diff = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got->data[i] - (double)want->data[i]);
        if (!(d <= ATOL + RTOL * fabs((double)want->data[i])) && worst < 0) worst = i;
        if (d > *max_diff || isnan(d)) *max_diff = d;
    }
    return worst;
}

/* Fails unless got matches want element by element; prints the largest difference. */
static void expect_close(const char *label, const sn_tensor *got, const sn_tensor *want) {
    char a[64], b[64];
    if (!sn_shape_equal(&got->shape, &want->shape))
        fail_msg("%s: shape %s, want %s", label, sn_shape_format(&got->shape, a, sizeof a),
                 sn_shape_format(&want->shape, b, sizeof b));
    double max_diff;
    int64_t worst = first_mismatch(got, want, &max_diff);
    print_message("  %-40s max |diff| %.3g over %lld values\n", label, max_diff,
                  (long long)sn_tensor_numel(want));
    if (worst >= 0)
        fail_msg("%s: element %lld is %.9g, torch %.9g", label, (long long)worst, got->data[worst],
                 want->data[worst]);
}

/* The comparison must reject an output off by a little more than the tolerance. */
static void test_comparison_rejects_perturbed(void **state) {
    (void)state;
    char expected[512];
    sn_tensor *want = read_tensor(interop("lenet5", ".expected.safetensors", expected, 512), "y");
    sn_tensor *got = read_tensor(expected, "y");
    double max_diff;
    assert_int_equal(first_mismatch(got, want, &max_diff), -1);
    got->data[17] += (float)(2.0 * (ATOL + RTOL * fabs((double)want->data[17])));
    assert_int_equal(first_mismatch(got, want, &max_diff), 17);
    got->data[17] = NAN;
    assert_int_equal(first_mismatch(got, want, &max_diff), 17);
    sn_tensor_destroy(got);
    sn_tensor_destroy(want);
}

/* ---- forward ---- */

static const char *const interop_cases[] = {
    "mlp_relu_tanh_softmax", "mlp_sigmoid_logsoftmax", "mlp_binary_sigmoid",
    "cnn_rect_kernels",      "cnn_avgpool_padded",     "lenet5",
};
#define N_INTEROP ((int)(sizeof interop_cases / sizeof interop_cases[0]))

/* Runs forward with model args and compares y with the case's expected output. */
static void forward_and_compare(const char *name, const char *const *model_args,
                                const char *batch) {
    char input[512], output[512], expected[512], label[128];
    interop(name, ".input.safetensors", input, sizeof input);
    interop(name, ".expected.safetensors", expected, sizeof expected);
    tmp_file("y.safetensors", output, sizeof output);
    unlink(output);
    const char *args[16] = {"forward"};
    int n = 1;
    for (int i = 0; model_args[i]; i++) args[n++] = model_args[i];
    const char *tail[] = {"--input", input, "--output", output, "--batch", batch, NULL};
    for (int i = 0; tail[i]; i++) args[n++] = tail[i];
    args[n] = NULL;
    cli_run r = run_cli(args);
    if (r.status != 0 || r.err[0]) fail_msg("forward %s: exit %d: %s", name, r.status, r.err);
    free_run(&r);
    sn_tensor *got = read_tensor(output, "y"), *want = read_tensor(expected, "y");
    snprintf(label, sizeof label, "%s (batch %s)", name, batch);
    expect_close(label, got, want);
    sn_tensor_destroy(got);
    sn_tensor_destroy(want);
}

static void test_forward_spec_and_state_dict(void **state) {
    (void)state;
    for (int i = 0; i < N_INTEROP; i++) {
        char spec[512], weights[512];
        const char *model_args[] = {
            "--model", interop(interop_cases[i], ".spec.txt", spec, sizeof spec), "--weights",
            interop(interop_cases[i], ".weights.safetensors", weights, sizeof weights), NULL};
        forward_and_compare(interop_cases[i], model_args, "64");
        forward_and_compare(interop_cases[i], model_args, "4"); /* 4 + a partial batch */
    }
}

/* Saves the case as a sinapsi model file through the C API; returns its path. */
static const char *save_model_file(const char *name, const char *sample, char *buf, size_t cap) {
    char spec[512], weights[512], file[128];
    sn_model *m;
    SN_ASSERT_OK(sn_model_from_spec_file(&m, interop(name, ".spec.txt", spec, sizeof spec)));
    sn_model_compile_opts o = sn_model_compile_defaults();
    assert_int_equal(sscanf(sample, "%" SCNd64 "x%" SCNd64 "x%" SCNd64, &o.sample_shape.dim[0],
                            &o.sample_shape.dim[1], &o.sample_shape.dim[2]),
                     3);
    o.sample_shape.ndim = 3;
    SN_ASSERT_OK(sn_model_compile(m, &o));
    SN_ASSERT_OK(
        sn_model_load_weights(m, interop(name, ".weights.safetensors", weights, sizeof weights)));
    snprintf(file, sizeof file, "%s.safetensors", name);
    SN_ASSERT_OK(sn_model_save(m, tmp_file(file, buf, cap)));
    sn_model_destroy(m);
    return buf;
}

static void test_forward_model_file(void **state) {
    (void)state;
    char lenet[512], cnn[512];
    const char *lenet_args[] = {"--model", save_model_file("lenet5", "1x28x28", lenet, 512), NULL};
    forward_and_compare("lenet5", lenet_args, "64");
    forward_and_compare("lenet5", lenet_args, "5");
    const char *cnn_args[] = {"--model", save_model_file("cnn_rect_kernels", "3x12x10", cnn, 512),
                              NULL};
    forward_and_compare("cnn_rect_kernels", cnn_args, "3");

    /* Examples of another shape than the one saved: refused, naming the input. */
    char input[512], output[512];
    const char *wrong_shape[] = {"forward",
                                 "--model",
                                 lenet,
                                 "--input",
                                 interop("cnn_rect_kernels", ".input.safetensors", input, 512),
                                 "--output",
                                 tmp_file("never.safetensors", output, 512),
                                 NULL};
    expect_one_error_line(wrong_shape, 1, input);
    assert_int_equal(access(output, F_OK), -1);
}

static void test_forward_spec_needs_weights(void **state) {
    (void)state;
    char spec[512], input[512], output[512];
    interop("mlp_binary_sigmoid", ".spec.txt", spec, sizeof spec);
    interop("mlp_binary_sigmoid", ".input.safetensors", input, sizeof input);
    tmp_file("random.safetensors", output, sizeof output);
    const char *no_weights[] = {"forward", "--model",  spec,   "--input",
                                input,     "--output", output, NULL};
    expect_one_error_line(no_weights, 1, "--init");
    /* With --init the output exists with torch's shape, (6, 1), values in (0, 1). */
    const char *with_init[] = {"forward", "--model", spec,       "--input", input,
                               "--init",  "7",       "--output", output,    NULL};
    cli_run r = run_cli(with_init);
    assert_int_equal(r.status, 0);
    free_run(&r);
    sn_tensor *y = read_tensor(output, "y");
    assert_int_equal(y->shape.ndim, 2);
    assert_int_equal(y->shape.dim[0], 6);
    assert_int_equal(y->shape.dim[1], 1);
    for (int i = 0; i < 6; i++) assert_true(y->data[i] > 0.0f && y->data[i] < 1.0f);
    sn_tensor_destroy(y);
}

/* ---- info ---- */

static void expect_lenet5_totals(const cli_run *r) {
    if (r->status != 0 || !strstr(r->out, "Total params: 61,706\n"))
        fail_msg("info: exit %d, stdout:\n%s\nstderr: %s", r->status, r->out, r->err);
    /* One row per module: the last Linear(84, 10) has 84*10 + 10 = 850 parameters. */
    assert_non_null(strstr(r->out, "850"));
    assert_non_null(strstr(r->out, "Parameter bytes: 246,824"));
}

static void test_info_lenet5(void **state) {
    (void)state;
    char spec[512], file[512];
    const char *from_spec[] = {"info", interop("lenet5", ".spec.txt", spec, sizeof spec),
                               "--input-shape", "1x28x28", NULL};
    cli_run r = run_cli(from_spec);
    fputs(r.out, stdout);
    expect_lenet5_totals(&r);
    free_run(&r);
    const char *from_file[] = {"info", save_model_file("lenet5", "1x28x28", file, sizeof file),
                               NULL};
    r = run_cli(from_file);
    expect_lenet5_totals(&r);
    free_run(&r);

    /* A spec alone has no input shape. */
    const char *no_shape[] = {"info", spec, NULL};
    expect_one_error_line(no_shape, 1, "--input-shape");
    /* A shape that does not fit names the spec line of the module that fails. */
    const char *bad_shape[] = {"info", spec, "--input-shape", "1x32x32", NULL};
    expect_one_error_line(bad_shape, 1, "lenet5.spec.txt");
}

/* ---- eval ---- */

typedef struct eval_case {
    const char *name;
    const char *loss_name; /* the default loss the CLI must pick */
} eval_case;

/* The mean loss of torch's outputs out (n, width) against labels, in double. */
static double reference_loss(const char *loss, const sn_tensor *out, const sn_tensor *labels) {
    const int64_t n = out->shape.dim[0], width = out->shape.dim[1];
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = out->data + i * width;
        const int64_t label = (int64_t)labels->data[i];
        if (!strcmp(loss, "nll")) {
            sum -= row[label];
        } else if (!strcmp(loss, "cross_entropy")) {
            double max = row[0], total = 0.0;
            for (int64_t c = 1; c < width; c++) max = fmax(max, row[c]);
            for (int64_t c = 0; c < width; c++) total += exp(row[c] - max);
            sum += max + log(total) - row[label];
        } else { /* bce on one probability, logs clamped at -100 as torch */
            sum -= label ? fmax(log(row[0]), -100.0) : fmax(log(1.0 - row[0]), -100.0);
        }
    }
    return sum / (double)n;
}

/* Correct predictions among the first n: arg-max, or p >= 0.5 for one output. */
static int64_t reference_correct(const sn_tensor *out, const sn_tensor *labels, int64_t n) {
    const int64_t width = out->shape.dim[1];
    int64_t correct = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = out->data + i * width;
        int64_t predicted = 0;
        if (width == 1)
            predicted = row[0] >= 0.5f;
        else
            for (int64_t c = 1; c < width; c++) predicted = row[c] > row[predicted] ? c : predicted;
        correct += predicted == (int64_t)labels->data[i];
    }
    return correct;
}

static cJSON *eval_json(const char *const *args) {
    cli_run r = run_cli(args);
    if (r.status != 0 || r.err[0]) fail_msg("eval: exit %d: %s", r.status, r.err);
    cJSON *o = cJSON_Parse(r.out);
    if (!o || !cJSON_IsObject(o)) fail_msg("eval --json printed no JSON object: %s", r.out);
    /* Exactly one object: nothing but the line break after it. */
    const char *end = strrchr(r.out, '}');
    assert_true(end && !strcmp(end, "}\n"));
    free_run(&r);
    return o;
}

static double json_number(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("JSON has no number '%s'", key);
    return v->valuedouble;
}

static void test_eval_json(void **state) {
    (void)state;
    const eval_case cases[] = {
        {"mlp_sigmoid_logsoftmax", "nll"},
        {"mlp_binary_sigmoid", "bce"},
        {"cnn_rect_kernels", "cross_entropy"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *name = cases[k].name;
        char spec[512], weights[512], data[512], expected[512];
        interop(name, ".spec.txt", spec, sizeof spec);
        interop(name, ".weights.safetensors", weights, sizeof weights);
        interop(name, ".data.safetensors", data, sizeof data);
        sn_tensor *out =
            read_tensor(interop(name, ".data_expected.safetensors", expected, 512), "y");
        sn_tensor *labels = read_tensor(data, "y_test");
        const int64_t n = labels->shape.dim[0];
        const int64_t correct = reference_correct(out, labels, n);
        const double loss = reference_loss(cases[k].loss_name, out, labels);
        /* A split where every answer is right or wrong would hide a wrong arg-max. */
        assert_true(correct > 0 && correct < n);

        const char *args[] = {"eval", "--model", spec,      "--weights", weights, "--data",
                              data,   "--json",  "--batch", "7",         NULL};
        cJSON *o = eval_json(args);
        const cJSON *loss_name = cJSON_GetObjectItemCaseSensitive(o, "loss_name");
        assert_true(cJSON_IsString(loss_name));
        assert_string_equal(loss_name->valuestring, cases[k].loss_name);
        assert_int_equal((int64_t)json_number(o, "n"), n);
        const double accuracy = json_number(o, "accuracy"), got_loss = json_number(o, "loss");
        print_message("  %-24s %-14s n %lld  accuracy %.4f (want %.4f)  loss %.6f (want %.6f)\n",
                      name, loss_name->valuestring, (long long)n, accuracy,
                      (double)correct / (double)n, got_loss, loss);
        assert_true(fabs(accuracy - (double)correct / (double)n) < 1e-12);
        assert_true(fabs(got_loss - loss) <= ATOL + RTOL * fabs(loss));
        assert_true(json_number(o, "seconds") >= 0.0);
        assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "model")));
        cJSON_Delete(o);

        /* --limit: the first 10 test examples only. */
        const char *limited[] = {"eval", "--model", spec,      "--weights", weights, "--data",
                                 data,   "--json",  "--limit", "10",        NULL};
        o = eval_json(limited);
        assert_int_equal((int64_t)json_number(o, "n"), 10);
        assert_true(fabs(json_number(o, "accuracy") -
                         (double)reference_correct(out, labels, 10) / 10.0) < 1e-12);
        cJSON_Delete(o);
        sn_tensor_destroy(out);
        sn_tensor_destroy(labels);
    }
}

static void test_eval_errors(void **state) {
    (void)state;
    char spec[512], weights[512], data[512], missing[512];
    interop("mlp_sigmoid_logsoftmax", ".spec.txt", spec, sizeof spec);
    interop("mlp_sigmoid_logsoftmax", ".weights.safetensors", weights, sizeof weights);
    interop("mlp_sigmoid_logsoftmax", ".data.safetensors", data, sizeof data);
    tmp_file("no-such-data.safetensors", missing, sizeof missing);
    const char *no_data[] = {"eval",  "--model", spec,    "--weights",
                             weights, "--data",  missing, NULL};
    expect_one_error_line(no_data, 1, missing);
    const char *bad_loss[] = {"eval",   "--model", spec,     "--weights", weights,
                              "--data", data,      "--loss", "hinge",     NULL};
    expect_one_error_line(bad_loss, 2, "--help");
    /* Data of 4 classes against the one-output model. */
    char binary_spec[512], binary_weights[512];
    const char *mismatch[] = {
        "eval",
        "--model",
        interop("mlp_binary_sigmoid", ".spec.txt", binary_spec, 512),
        "--weights",
        interop("mlp_binary_sigmoid", ".weights.safetensors", binary_weights, 512),
        "--data",
        data,
        NULL};
    expect_one_error_line(mismatch, 1, "mlp_binary_sigmoid.spec.txt");
}

/* ---- errors, help ---- */

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

static void test_error_paths(void **state) {
    (void)state;
    char spec[512], weights[512], input[512], output[512], missing[512], path[512];
    interop("lenet5", ".spec.txt", spec, sizeof spec);
    interop("lenet5", ".weights.safetensors", weights, sizeof weights);
    interop("lenet5", ".input.safetensors", input, sizeof input);
    tmp_file("y.safetensors", output, sizeof output);
    tmp_file("no-such-model.safetensors", missing, sizeof missing);

    const char *missing_model[] = {"forward", "--model",  missing, "--input",
                                   input,     "--output", output,  NULL};
    expect_one_error_line(missing_model, 1, missing);
    const char *missing_spec[] = {"info", tmp_file("no-such-spec.txt", path, sizeof path),
                                  "--input-shape", "1x28x28", NULL};
    expect_one_error_line(missing_spec, 1, path);
    const char *missing_input[] = {"forward", "--model", spec,       "--weights", weights,
                                   "--input", missing,   "--output", output,      NULL};
    expect_one_error_line(missing_input, 1, missing);

    /* Weights of another model: named, with the tensor that does not fit. */
    char other[512];
    const char *wrong_weights[] = {
        "forward",
        "--model",
        spec,
        "--weights",
        interop("cnn_rect_kernels", ".weights.safetensors", other, sizeof other),
        "--input",
        input,
        "--output",
        output,
        NULL};
    expect_one_error_line(wrong_weights, 1, "cnn_rect_kernels.weights.safetensors");

    /* Corrupt model files: a truncated one and one of random bytes. */
    char model[512], truncated[512];
    save_model_file("lenet5", "1x28x28", model, sizeof model);
    FILE *f = fopen(model, "rb");
    assert_non_null(f);
    static unsigned char bytes[1 << 16];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    assert_true(n > 1000);
    write_bytes(tmp_file("truncated.safetensors", truncated, sizeof truncated), bytes, n / 2);
    const char *corrupt[] = {"info", truncated, NULL};
    expect_one_error_line(corrupt, 1, truncated);
    const char *corrupt_forward[] = {"forward", "--model",  truncated, "--input",
                                     input,     "--output", output,    NULL};
    expect_one_error_line(corrupt_forward, 1, truncated);
    for (size_t i = 0; i < 512; i++) bytes[i] = (unsigned char)(i * 131u + 7u);
    write_bytes(tmp_file("noise.safetensors", path, sizeof path), bytes, 512);
    const char *noise[] = {"info", path, NULL};
    expect_one_error_line(noise, 1, path);
    /* A spec with a line sinapsi cannot honour. */
    const char bad_spec_text[] = "Conv2d(1, 6, 5, dilation=2)\nReLU()\n";
    write_bytes(tmp_file("bad.spec.txt", path, sizeof path), bad_spec_text,
                sizeof bad_spec_text - 1);
    const char *bad_spec[] = {"info", path, "--input-shape", "1x28x28", NULL};
    expect_one_error_line(bad_spec, 1, path);

    /* Usage errors: exit 2 and a hint to --help. */
    const char *unknown_option[] = {"forward", "--modle", spec, NULL};
    expect_one_error_line(unknown_option, 2, "--modle");
    const char *missing_value[] = {"forward", "--model", spec, "--batch", NULL};
    expect_one_error_line(missing_value, 2, "--batch");
    const char *bad_number[] = {"forward", "--model", spec, "--batch", "12x", NULL};
    expect_one_error_line(bad_number, 2, "12x");
    const char *zero_batch[] = {"forward", "--model", spec, "--batch", "0", NULL};
    expect_one_error_line(zero_batch, 2, "--batch");
    const char *negative_seed[] = {"forward", "--model", spec, "--init", "-1", NULL};
    expect_one_error_line(negative_seed, 2, "--init");
    const char *both[] = {"forward", "--model", spec,  "--weights", weights, "--init",
                          "1",       "--input", input, "--output",  output,  NULL};
    expect_one_error_line(both, 2, "--init");
    const char *bad_shape[] = {"info", spec, "--input-shape", "1x28x", NULL};
    expect_one_error_line(bad_shape, 2, "1x28x");
    const char *no_output[] = {"forward", "--model", spec, "--input", input, NULL};
    expect_one_error_line(no_output, 2, "--output");
    const char *unknown_command[] = {"frobnicate", NULL};
    expect_one_error_line(unknown_command, 2, "frobnicate");
}

static void expect_help_lists(const char *command, const char *const *options) {
    const char *args[] = {command, "--help", NULL};
    cli_run r = run_cli(args);
    assert_int_equal(r.status, 0);
    for (int i = 0; options[i]; i++)
        if (!strstr(r.out, options[i]))
            fail_msg("'%s --help' does not list %s:\n%s", command, options[i], r.out);
    free_run(&r);
}

static void test_help(void **state) {
    (void)state;
    const char *commands[] = {"forward", "info", "eval", "--version", NULL};
    expect_help_lists("--help", commands);
    const char *forward[] = {"--model",  "--weights", "--init",    "--input",
                             "--output", "--batch",   "--threads", NULL};
    expect_help_lists("forward", forward);
    const char *info[] = {"--input-shape", NULL};
    expect_help_lists("info", info);
    const char *eval[] = {"--model", "--weights", "--data",    "--loss", "--batch",
                          "--json",  "--limit",   "--threads", NULL};
    expect_help_lists("eval", eval);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparison_rejects_perturbed),
        cmocka_unit_test(test_forward_spec_and_state_dict),
        cmocka_unit_test(test_forward_model_file),
        cmocka_unit_test(test_forward_spec_needs_weights),
        cmocka_unit_test(test_info_lenet5),
        cmocka_unit_test(test_eval_json),
        cmocka_unit_test(test_eval_errors),
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

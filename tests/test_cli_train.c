/*
 * `sinapsi train` end to end: runs the built sinapsi (SN_CLI_PATH) on the
 * small datasets of tests/train_parity (96 training and 32 test examples of
 * 20 features, 5 classes).
 *
 *   - a tiny run succeeds and prints one final line; the model it saved,
 *     run through `sinapsi eval --json`, gets the very accuracy (the same
 *     count of correct examples) and loss that line printed; a second run
 *     with the same seed writes a byte-identical file;
 *   - bad input gives exit 1 and one line "sinapsi: ..." naming the culprit,
 *     and loses nothing: a spec that does not fit the data's shape, labels
 *     out of range for the output width, a missing model, data, --weights or
 *     --resume file, an unwritable --out (reported before any training: no log
 *     line is written) -- while a model already saved at --out stays as it was;
 *   - usage errors (a malformed number, an option of another optimiser, an
 *     unknown name, Nesterov without momentum) exit 2;
 *   - --help lists every option.
 */
#include "support/test_support.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/cli_run.h"
#include "support/temp_dir.h"

#ifndef SN_CLI_PATH
#error "SN_CLI_PATH (the built sinapsi) must be defined by the build"
#endif
#define PARITY_DIR SN_GOLDEN_DIR "/../train_parity"
#define MODELS_DIR SN_GOLDEN_DIR "/../../models"
#define SPEC PARITY_DIR "/mlp_relu_sgd_ce.spec.txt"
#define DATA PARITY_DIR "/mlp_relu_sgd_ce.data.safetensors"

static sn_cli_run run(const char *const *args) {
    return sn_cli_run_args(SN_CLI_PATH, args);
}

/* Exit `status` with exactly one line on stderr, "sinapsi: ...needle...". */
static void expect_one_error_line(const char *what, const char *const *args, int status,
                                  const char *needle) {
    sn_cli_run r = run(args);
    const char *nl = strchr(r.err, '\n');
    if (r.status != status || strncmp(r.err, "sinapsi: ", 9) || !nl || nl[1] ||
        !strstr(r.err, needle))
        fail_msg("%s: exit %d (want %d), stderr '%s' (want one line 'sinapsi: ...%s...')", what,
                 r.status, status, r.err, needle);
    print_message("  %-28s exit %d: %s", what, r.status, r.err);
    sn_cli_run_free(&r);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- a successful run ---- */

typedef struct final_line {
    double loss, accuracy;
    long long correct, n;
} final_line;

/* "final: test loss L, accuracy A (C of N), ..." -- the one line on stdout
 * that starts with "final: ". */
static final_line parse_final(const char *out) {
    const char *line = strstr(out, "final: test loss ");
    if (!line) fail_msg("no line 'final: test loss ...' in stdout:\n%s", out);
    final_line f;
    if (sscanf(line, "final: test loss %lf, accuracy %lf (%lld of %lld)", &f.loss, &f.accuracy,
               &f.correct, &f.n) != 4)
        fail_msg("cannot read the final line: %.200s", line);
    return f;
}

static char *train_tiny(const char *out_path) {
    const char *args[] = {"train", "--model", SPEC,     "--data",    DATA,   "--epochs",
                          "10",    "--batch", "16",     "--optim",   "adam", "--lr",
                          "0.01",  "--seed",  "7",      "--threads", "1",    "--progress",
                          "none",  "--out",   out_path, NULL};
    sn_cli_run r = run(args);
    if (r.status) fail_msg("train exited %d: %s", r.status, r.err);
    char *out = r.out;
    r.out = NULL;
    sn_cli_run_free(&r);
    return out;
}

static void test_train_then_eval(void **state) {
    (void)state;
    char model[512], again[512];
    snprintf(model, sizeof model, "%s", sn_temp_path("tiny.safetensors"));
    char *out = train_tiny(model);
    final_line f = parse_final(out);
    print_message("  train: %s", strstr(out, "final: "));
    assert_int_equal(f.n, 32);
    /* 5 classes: a model that learnt nothing gets about 20%; this one, 75%. */
    if (f.accuracy < 0.6) fail_msg("test accuracy %.4f after 10 epochs of adam", f.accuracy);
    assert_true(fabs(f.accuracy - (double)f.correct / (double)f.n) < 1e-4);

    const char *eval[] = {"eval", "--model", model, "--data", DATA, "--json", NULL};
    sn_cli_run r = run(eval);
    if (r.status) fail_msg("eval exited %d: %s", r.status, r.err);
    cJSON *o = cJSON_Parse(r.out);
    if (!o) fail_msg("eval --json printed no JSON: %s", r.out);
    const cJSON *correct = cJSON_GetObjectItemCaseSensitive(o, "correct");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, "n");
    const cJSON *loss = cJSON_GetObjectItemCaseSensitive(o, "loss");
    assert_true(cJSON_IsNumber(correct) && cJSON_IsNumber(n) && cJSON_IsNumber(loss));
    print_message("  eval:  %s", r.out);
    if ((long long)correct->valuedouble != f.correct || (long long)n->valuedouble != f.n)
        fail_msg("eval: %.0f of %.0f correct, train printed %lld of %lld", correct->valuedouble,
                 n->valuedouble, f.correct, f.n);
    /* The final line prints six decimals. */
    if (!(fabs(loss->valuedouble - f.loss) <= 1e-6 + 1e-5 * f.loss))
        fail_msg("eval: loss %.9g, train printed %.6f", loss->valuedouble, f.loss);
    cJSON_Delete(o);
    sn_cli_run_free(&r);

    /* Same seed, data, build and threads: the same file, byte for byte. */
    snprintf(again, sizeof again, "%s", sn_temp_path("tiny_again.safetensors"));
    free(train_tiny(again));
    char *a = sn_slurp(model), *b = sn_slurp(again);
    struct stat sa, sb;
    assert_int_equal(stat(model, &sa), 0);
    assert_int_equal(stat(again, &sb), 0);
    assert_non_null(a);
    assert_non_null(b);
    if (sa.st_size != sb.st_size || memcmp(a, b, (size_t)sa.st_size))
        fail_msg("two runs with seed 7 wrote different model files");
    free(a);
    free(b);
    free(out);
    unlink(model);
    unlink(again);
}

/* A model trained on standardised data is evaluated right only with the same
 * --normalize: then eval counts what train printed; without it the inputs are
 * scaled otherwise and the loss differs. */
static void test_eval_normalize_matches_training(void **state) {
    (void)state;
    char model[512];
    snprintf(model, sizeof model, "%s", sn_temp_path("standard.safetensors"));
    const char *train[] = {"train", "--model", SPEC,  "--data",      DATA,       "--epochs",
                           "10",    "--batch", "16",  "--optim",     "adam",     "--lr",
                           "0.01",  "--seed",  "7",   "--threads",   "1",        "--progress",
                           "none",  "--out",   model, "--normalize", "standard", NULL};
    sn_cli_run r = run(train);
    if (r.status) fail_msg("train exited %d: %s", r.status, r.err);
    final_line f = parse_final(r.out);
    sn_cli_run_free(&r);
    double losses[2];
    for (int same = 0; same < 2; same++) {
        const char *eval[] = {
            "eval",     "--model", model, "--data", DATA, "--json", same ? "--normalize" : NULL,
            "standard", NULL};
        r = run(eval);
        if (r.status) fail_msg("eval exited %d: %s", r.status, r.err);
        cJSON *o = cJSON_Parse(r.out);
        assert_non_null(o);
        losses[same] = cJSON_GetObjectItemCaseSensitive(o, "loss")->valuedouble;
        if (same)
            assert_int_equal((long long)cJSON_GetObjectItemCaseSensitive(o, "correct")->valuedouble,
                             f.correct);
        cJSON_Delete(o);
        sn_cli_run_free(&r);
    }
    if (!(fabs(losses[1] - f.loss) <= 1e-6 + 1e-5 * f.loss))
        fail_msg("eval --normalize standard: loss %.9g, train printed %.6f", losses[1], f.loss);
    if (fabs(losses[0] - losses[1]) < 1e-3)
        fail_msg("eval without --normalize gave the same loss %.6f: the option changed nothing",
                 losses[0]);
    unlink(model);
}

/* ---- bad input ---- */

static void test_errors_lose_nothing(void **state) {
    (void)state;
    char saved[512], log[512], narrow[512], missing_dir[512];
    /* A model already saved where a failing run would write. */
    snprintf(saved, sizeof saved, "%s", sn_temp_path("saved.safetensors"));
    free(train_tiny(saved));
    char *before = sn_slurp(saved);
    struct stat st_before;
    assert_int_equal(stat(saved, &st_before), 0);
    snprintf(log, sizeof log, "%s", sn_temp_path("run.jsonl"));
    snprintf(narrow, sizeof narrow, "%s", sn_temp_path("narrow.txt"));
    write_text(narrow, "Linear(20, 3)\n");
    snprintf(missing_dir, sizeof missing_dir, "%s", sn_temp_path("no/such/dir/m.safetensors"));

    const char *lenet[] = {
        "train", "--model", MODELS_DIR "/lenet5.txt", "--data", DATA, "--out", saved, "--log",
        log,     NULL};
    expect_one_error_line("spec does not fit the data", lenet, 1, "lenet5.txt");
    const char *labels[] = {"train", "--model", narrow,  "--data", DATA,
                            "--out", saved,     "--log", log,      NULL};
    expect_one_error_line("labels beyond the outputs", labels, 1, "3 outputs");
    const char *no_model[] = {"train", "--model", "/nonexistent/m.txt", "--data", DATA, "--out",
                              saved,   NULL};
    expect_one_error_line("missing model", no_model, 1, "/nonexistent/m.txt");
    const char *no_data[] = {"train", "--model", SPEC, "--data", "/nonexistent/d.safetensors",
                             "--out", saved,     NULL};
    expect_one_error_line("missing data", no_data, 1, "/nonexistent/d.safetensors");
    const char *no_weights[] = {
        "train",  "--model", SPEC,    "--weights", "/nonexistent/w.safetensors",
        "--data", DATA,      "--out", saved,       NULL};
    expect_one_error_line("missing weights", no_weights, 1, "/nonexistent/w.safetensors");
    const char *no_resume[] = {
        "train", "--model", SPEC, "--data", DATA, "--resume", "/nonexistent/run.ckpt",
        "--out", saved,     NULL};
    expect_one_error_line("missing --resume", no_resume, 1, "/nonexistent/run.ckpt");
    const char *bad_out[] = {"train", "--model",   SPEC,    "--data", DATA,
                             "--out", missing_dir, "--log", log,      NULL};
    expect_one_error_line("unwritable --out", bad_out, 1, missing_dir);
    const char *dir_out[] = {"train", "--model",     SPEC,    "--data", DATA,
                             "--out", sn_temp_dir(), "--log", log,      NULL};
    expect_one_error_line("--out a directory", dir_out, 1, "directory");

    /* Nothing was trained (the log gets its settings line when training
     * starts) and the saved model is untouched. */
    if (file_exists(log)) fail_msg("%s was written: a run that failed its checks started", log);
    assert_false(file_exists(missing_dir));
    char *after = sn_slurp(saved);
    struct stat st_after;
    assert_int_equal(stat(saved, &st_after), 0);
    if (st_after.st_size != st_before.st_size || memcmp(before, after, (size_t)st_after.st_size))
        fail_msg("%s changed after failed runs", saved);
    free(before);
    free(after);
    unlink(saved);
    unlink(narrow);
}

/* --profile prints one row per module and one for the loss, with the call
 * counts of the run: a backward per step, and more forwards (evaluation). */
static void test_profile_table(void **state) {
    (void)state;
    const char *args[] = {"train", "--model", SPEC,    "--data",     DATA,   "--epochs", "4",
                          "--batch", "16",    "--seed", "7",         "--threads", "1",
                          "--progress", "none", "--profile", NULL};
    sn_cli_run r = run(args);
    if (r.status) fail_msg("train exited %d: %s", r.status, r.err);
    const char *p = strstr(r.out, "profile: ");
    if (!p) fail_msg("no profile line in:\n%s", r.out);
    long long forwards = 0, backwards = 0;
    double seconds = -1;
    assert_int_equal(sscanf(p, "profile: %lf s in the modules; ms per call of %lld forwards "
                               "(training and evaluation) and %lld backwards",
                            &seconds, &forwards, &backwards),
                     3);
    print_message("  %s", p);
    const char *rows[] = {"0   Linear", "1   ReLU", "2   Linear", "3   loss"};
    for (int i = 0; i < 4; i++)
        if (!strstr(p, rows[i])) fail_msg("no row '%s' in:\n%s", rows[i], p);
    const char *steps = strstr(r.out, " epochs, ");
    long long n_steps = -1;
    assert_non_null(steps);
    assert_int_equal(sscanf(steps, " epochs, %lld steps", &n_steps), 1);
    assert_int_equal(backwards, n_steps);
    assert_true(forwards > backwards && seconds >= 0);
    sn_cli_run_free(&r);
}

static void test_usage_errors(void **state) {
    (void)state;
    struct {
        const char *what, *option, *value, *needle;
    } cases[] = {
        {"malformed lr", "--lr", "0.1x", "--lr"},
        {"negative lr", "--lr", "-1", "--lr"},
        {"unknown optimiser", "--optim", "rmsprop", "rmsprop"},
        {"unknown schedule", "--schedule", "linear", "linear"},
        {"unknown loss", "--loss", "hinge", "hinge"},
        {"unknown init", "--init", "orthogonal", "orthogonal"},
        {"unknown progress", "--progress", "fancy", "fancy"},
        {"val split of 1", "--val-split", "1", "--val-split"},
        {"zero epochs", "--epochs", "0", "--epochs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"train", "--model",       SPEC,           "--data",
                              DATA,    cases[i].option, cases[i].value, NULL};
        expect_one_error_line(cases[i].what, args, 2, cases[i].needle);
    }
    const char *momentum_adam[] = {"train",   "--model", SPEC,         "--data", DATA,
                                   "--optim", "adam",    "--momentum", "0.9",    NULL};
    expect_one_error_line("momentum with adam", momentum_adam, 2, "--momentum");
    const char *nesterov[] = {"train", "--model", SPEC, "--data", DATA, "--nesterov", NULL};
    expect_one_error_line("nesterov without momentum", nesterov, 2, "esterov");
    const char *gamma[] = {"train", "--model", SPEC, "--data", DATA, "--gamma", "0.5", NULL};
    expect_one_error_line("gamma without step", gamma, 2, "--gamma");
    const char *no_data[] = {"train", "--model", SPEC, NULL};
    expect_one_error_line("no --data", no_data, 2, "--data");
}

static void test_help(void **state) {
    (void)state;
    const char *options[] = {"--model",     "--weights",   "--data",         "--input-shape",
                             "--epochs",    "--batch",     "--optim",        "--lr",
                             "--momentum",  "--dampening", "--nesterov",     "--velocity",
                             "--betas",     "--eps",       "--weight-decay", "--schedule",
                             "--step-size", "--gamma",     "--warmup",       "--clip",
                             "--loss",      "--init",      "--seed",         "--no-shuffle",
                             "--val-split", "--threads",   "--out",          "--checkpoint",
                             "--resume",    "--log",       "--log-steps",    "--max-steps",
                             "--limit",     "--normalize", "--progress",     NULL};
    const char *args[] = {"train", "--help", NULL};
    sn_cli_run r = run(args);
    assert_int_equal(r.status, 0);
    for (int i = 0; options[i]; i++)
        if (!strstr(r.out, options[i])) fail_msg("'train --help' does not list %s", options[i]);
    sn_cli_run_free(&r);
    const char *top[] = {"--help", NULL};
    r = run(top);
    if (!strstr(r.out, "train")) fail_msg("'sinapsi --help' does not list train:\n%s", r.out);
    sn_cli_run_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_train_then_eval),
        cmocka_unit_test(test_eval_normalize_matches_training),
        cmocka_unit_test(test_errors_lose_nothing),
        cmocka_unit_test(test_profile_table),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

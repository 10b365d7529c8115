/*
 * Checkpoints (docs/checkpoints.md): a run stopped after epoch k, or part-way
 * through an epoch by max_steps, and resumed ends bit-identical to the run
 * that was never stopped (SGD with momentum and Adam, with dropout and
 * shuffling, so that every saved state matters); so does a run killed by
 * SIGKILL in the middle of writing a checkpoint, whose previous checkpoint
 * must survive under the final name. A checkpoint works as weights, holds
 * every documented key, and is refused by a run with other settings.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"
#include "support/train_fixture.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sinapsi/train.h"

#define EPOCHS 4

static sn_train_opts opts_for(sn_optim_kind kind) {
    sn_train_opts o = sn_fixture_opts();
    o.epochs = EPOCHS;
    if (kind != SN_OPTIM_SGD) {
        o.optim = sn_optim_defaults(kind);
        o.optim.lr = 0.01;
    }
    return o;
}

/* Trains the dropout MLP on the fixture data (37 examples: batches of 8, the
 * last of 5) with opts; returns the status and, when weights is not NULL, a
 * copy of the weights. */
static sn_status train_run(const sn_train_opts *o, float **weights, size_t *n) {
    sn_dataset *ds = sn_fixture_blobs(37, 17), *test = sn_fixture_blobs(12, 18);
    sn_model *m = sn_fixture_mlp(1);
    const sn_status st = sn_train(m, ds, test, o, NULL);
    if (weights) *weights = st == SN_OK ? sn_fixture_params(m, n) : NULL;
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
    sn_dataset_destroy(test);
    return st;
}

static float *uninterrupted(sn_optim_kind kind, size_t *n) {
    sn_train_opts o = opts_for(kind);
    float *w = NULL;
    SN_ASSERT_OK(train_run(&o, &w, n));
    return w;
}

static void test_resume_after_epoch_is_bit_identical(void **state) {
    (void)state;
    const sn_optim_kind kinds[] = {SN_OPTIM_SGD, SN_OPTIM_ADAM};
    for (int k = 0; k < 2; k++) {
        size_t n_full = 0, n_resumed = 0;
        float *full = uninterrupted(kinds[k], &n_full);
        for (int stop = 1; stop < EPOCHS; stop++) {
            char ckpt[512];
            snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("resume.ckpt"));
            sn_train_opts o = opts_for(kinds[k]);
            o.epochs = stop;
            o.checkpoint = ckpt;
            SN_ASSERT_OK(train_run(&o, NULL, NULL));
            o.epochs = EPOCHS;
            o.resume = ckpt;
            float *resumed = NULL;
            SN_ASSERT_OK(train_run(&o, &resumed, &n_resumed));
            assert_int_equal(n_resumed, n_full);
            if (memcmp(resumed, full, n_full * sizeof *full))
                fail_msg("%s: stopped after epoch %d and resumed: weights differ",
                         sn_optim_name(kinds[k]), stop);
            free(resumed);
        }
        /* Without the saved state (a fresh start from the checkpoint's weights)
         * the weights differ: the comparison can fail. */
        char weights_only[512];
        snprintf(weights_only, sizeof weights_only, "%s", sn_temp_path("resume.ckpt"));
        sn_dataset *ds = sn_fixture_blobs(37, 17);
        sn_model *m = sn_fixture_mlp(1);
        sn_train_opts o = opts_for(kinds[k]);
        o.epochs = 1;
        SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL)); /* compiled, 1 epoch */
        SN_ASSERT_OK(sn_model_load_weights(m, weights_only));
        o.keep_weights = 1;
        SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
        size_t n_other = 0;
        float *other = sn_fixture_params(m, &n_other);
        assert_true(memcmp(other, full, n_full * sizeof *full) != 0);
        free(other);
        sn_model_destroy(m);
        sn_dataset_destroy(ds);
        free(full);
    }
}

/* BatchNorm's running statistics are model state: a checkpoint must carry
 * them, or the resumed run normalises with the wrong statistics. */
static void test_resume_with_batchnorm_is_bit_identical(void **state) {
    (void)state;
    float *weights[2], *buffers[2];
    size_t n_weights = 0, n_buffers = 0;
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("bn.ckpt"));
    for (int resumed = 0; resumed < 2; resumed++) {
        sn_train_opts o = opts_for(SN_OPTIM_SGD);
        if (resumed) {
            o.epochs = 2;
            o.checkpoint = ckpt;
            sn_dataset *ds = sn_fixture_blobs(37, 17);
            sn_model *m = sn_fixture_mlp_batchnorm();
            SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
            sn_model_destroy(m);
            sn_dataset_destroy(ds);
            o.epochs = EPOCHS;
            o.checkpoint = NULL;
            o.resume = ckpt;
        }
        sn_dataset *ds = sn_fixture_blobs(37, 17);
        sn_model *m = sn_fixture_mlp_batchnorm();
        SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
        weights[resumed] = sn_fixture_params(m, &n_weights);
        buffers[resumed] = sn_fixture_buffers(m, &n_buffers);
        sn_model_destroy(m);
        sn_dataset_destroy(ds);
    }
    assert_int_equal(n_buffers, 2 * 12 + 1); /* running mean, var, count */
    assert_memory_equal(weights[0], weights[1], n_weights * sizeof(float));
    assert_memory_equal(buffers[0], buffers[1], n_buffers * sizeof(float));
    for (int k = 0; k < 2; k++) free(weights[k]), free(buffers[k]);
}

/* max_steps stops inside epoch 2 (5 batches an epoch); the checkpoint keeps
 * the position in the epoch's order. */
static void test_resume_mid_epoch_is_bit_identical(void **state) {
    (void)state;
    size_t n_full = 0, n_resumed = 0;
    float *full = uninterrupted(SN_OPTIM_SGD, &n_full);
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("mid.ckpt"));
    sn_train_opts o = opts_for(SN_OPTIM_SGD);
    o.max_steps = 7;
    o.checkpoint = ckpt;
    SN_ASSERT_OK(train_run(&o, NULL, NULL));
    sn_safetensors *f = NULL;
    SN_ASSERT_OK(sn_safetensors_open(&f, ckpt));
    assert_string_equal(sn_safetensors_metadata(f, "epoch"), "1");
    assert_string_equal(sn_safetensors_metadata(f, "epoch_batch"), "2");
    assert_string_equal(sn_safetensors_metadata(f, "step"), "7");
    sn_safetensors_close(f);
    o.max_steps = 0;
    o.resume = ckpt;
    float *resumed = NULL;
    SN_ASSERT_OK(train_run(&o, &resumed, &n_resumed));
    assert_memory_equal(resumed, full, n_full * sizeof *full);
    free(resumed);
    free(full);
}

static void test_checkpoint_contents(void **state) {
    (void)state;
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("contents.ckpt"));
    sn_dataset *ds = sn_fixture_blobs(37, 17);
    sn_model *m = sn_fixture_mlp(1);
    sn_train_opts o = opts_for(SN_OPTIM_ADAM);
    o.epochs = 2;
    o.checkpoint = ckpt;
    SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
    sn_safetensors *f = NULL;
    SN_ASSERT_OK(sn_safetensors_open(&f, ckpt));
    const char *meta[][2] = {
        {"format", "sinapsi-checkpoint"},
        {"epoch", "2"},
        {"epoch_batch", "0"},
        {"step", "10"},
        {"optim_steps", "10"},
        {"optim", "adam"},
        {"lr", "0.01"},
        {"batch", "8"},
        {"n_train", "37"},
        {"loss", "cross_entropy"},
        {"input_shape", "16"},
        {"seed", "7"},
    };
    for (size_t k = 0; k < sizeof meta / sizeof meta[0]; k++) {
        const char *v = sn_safetensors_metadata(f, meta[k][0]);
        if (!v || strcmp(v, meta[k][1]))
            fail_msg("__metadata__ %s = %s, expected %s", meta[k][0], v ? v : "(none)", meta[k][1]);
    }
    assert_non_null(strstr(sn_safetensors_metadata(f, "spec"), "Dropout(p=0.25"));
    for (int r = 0; r < 2; r++) {
        const char *words = sn_safetensors_metadata(f, r ? "rng_dropout" : "rng_shuffle");
        assert_non_null(words);
        assert_int_equal(strlen(words), 67);
        assert_int_equal(strspn(words, "0123456789abcdef "), 67);
    }
    size_t n_params = 0;
    sn_graph_params(sn_model_graph(m), &n_params);
    const char *blocks[] = {"optim.exp_avg", "optim.exp_avg_sq"};
    for (int b = 0; b < 2; b++) {
        const int i = sn_safetensors_find(f, blocks[b]);
        assert_true(i >= 0);
        assert_int_equal(sn_safetensors_ndim(f, i), 1);
        assert_int_equal(sn_safetensors_dims(f, i)[0], (int64_t)n_params);
    }
    assert_true(sn_safetensors_find(f, "0.weight") >= 0);
    assert_true(sn_safetensors_find(f, "3.bias") >= 0);
    sn_safetensors_close(f);

    /* A checkpoint is also a weights file. */
    size_t n = 0, n2 = 0;
    float *trained = sn_fixture_params(m, &n);
    sn_model *copy = sn_fixture_mlp(1);
    sn_model_compile_opts c = sn_model_compile_defaults();
    SN_ASSERT_OK(sn_shape_make(&c.sample_shape, 1, (int64_t[]){SN_FIXTURE_FEATURES}));
    SN_ASSERT_OK(sn_model_compile(copy, &c));
    SN_ASSERT_OK(sn_model_load_weights(copy, ckpt));
    float *loaded = sn_fixture_params(copy, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(loaded, trained, n * sizeof *loaded);
    free(trained);
    free(loaded);
    sn_model_destroy(copy);
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
}

static void expect_refused(const sn_train_opts *o, const char *needle) {
    const sn_status st = train_run(o, NULL, NULL);
    print_message("  %s\n", sn_last_error());
    assert_int_not_equal(st, SN_OK);
    if (!strstr(sn_last_error(), needle)) fail_msg("expected '%s' in: %s", needle, sn_last_error());
}

static void test_resume_refuses_other_runs(void **state) {
    (void)state;
    char ckpt[512], model[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("refuse.ckpt"));
    snprintf(model, sizeof model, "%s", sn_temp_path("refuse.safetensors"));
    sn_train_opts o = opts_for(SN_OPTIM_SGD);
    o.epochs = 1;
    o.checkpoint = ckpt;
    o.out = model;
    SN_ASSERT_OK(train_run(&o, NULL, NULL));
    size_t len = 0;
    unsigned char *before = sn_fixture_read_file(ckpt, &len);
    o.checkpoint = NULL;
    o.out = NULL;
    o.resume = ckpt;
    o.epochs = 2;
    sn_train_opts other = o;
    other.optim.lr = 0.1;
    expect_refused(&other, "lr 0.05, this run has 0.1");
    other = o;
    other.batch = 4;
    expect_refused(&other, "batch 8, this run has 4");
    other = o;
    other.optim = sn_optim_defaults(SN_OPTIM_ADAMW);
    expect_refused(&other, "optim sgd, this run has adamw");
    /* Another model: a spec without dropout. */
    sn_dataset *ds = sn_fixture_blobs(37, 17);
    sn_model *m = sn_fixture_mlp(0);
    assert_int_not_equal(sn_train(m, ds, NULL, &o, NULL), SN_OK);
    assert_non_null(strstr(sn_last_error(), "another spec"));
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
    /* A model file is not a checkpoint. */
    other = o;
    other.resume = model;
    expect_refused(&other, "not a sinapsi checkpoint");
    /* Nothing refused touched the checkpoint. */
    size_t len_after = 0;
    unsigned char *after = sn_fixture_read_file(ckpt, &len_after);
    assert_int_equal(len_after, len);
    assert_memory_equal(after, before, len);
    free(before);
    free(after);
}

/* ---- SIGKILL while writing a checkpoint ---- */

static const char *self_path;

/* The child: the SGD run of EPOCHS epochs with a checkpoint, killed by the
 * hook SN_TEST_KILL_IN_CHECKPOINT (set by the parent) while writing the
 * checkpoint of epoch 3. It should never return. */
static int child_train(const char *ckpt) {
    sn_train_opts o = opts_for(SN_OPTIM_SGD);
    o.checkpoint = ckpt;
    if (train_run(&o, NULL, NULL) != SN_OK) fprintf(stderr, "child: %s\n", sn_last_error());
    return 3;
}

/* 1 when checkpoints a and b hold the same tensors, bit for bit, and the same
 * metadata but for `except` (a setting free to differ between them). */
static int same_checkpoint(const char *a, const char *b, const char *except) {
    sn_safetensors *fa = NULL, *fb = NULL;
    SN_ASSERT_OK(sn_safetensors_open(&fa, a));
    SN_ASSERT_OK(sn_safetensors_open(&fb, b));
    int same = sn_safetensors_count(fa) == sn_safetensors_count(fb) &&
               sn_safetensors_metadata_count(fa) == sn_safetensors_metadata_count(fb);
    for (int i = 0; same && i < sn_safetensors_count(fa); i++) {
        sn_tensor *ta = NULL, *tb = NULL;
        SN_ASSERT_OK(sn_safetensors_read(fa, sn_safetensors_name(fa, i), &ta));
        if (sn_safetensors_read(fb, sn_safetensors_name(fa, i), &tb) != SN_OK)
            same = 0;
        else
            same = sn_tensor_numel(ta) == sn_tensor_numel(tb) &&
                   !memcmp(ta->data, tb->data, sizeof(float) * (size_t)sn_tensor_numel(ta));
        sn_tensor_destroy(ta);
        sn_tensor_destroy(tb);
    }
    for (int i = 0; same && i < sn_safetensors_metadata_count(fa); i++) {
        const char *key = sn_safetensors_metadata_key(fa, i);
        const char *vb = sn_safetensors_metadata(fb, key);
        if (strcmp(key, except) && (!vb || strcmp(vb, sn_safetensors_metadata_value(fa, i)))) {
            print_message("  __metadata__ %s differs\n", key);
            same = 0;
        }
    }
    sn_safetensors_close(fa);
    sn_safetensors_close(fb);
    return same;
}

/* The partial temporary file the killed writer left beside path, if any. */
static long partial_file_size(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    long size = -1;
    const size_t n = strlen(base);
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, n) && strstr(e->d_name + n, ".tmp-")) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            size_t len = 0;
            free(sn_fixture_read_file(path, &len));
            size = (long)len;
        }
    closedir(d);
    return size;
}

static void test_sigkill_during_checkpoint(void **state) {
    (void)state;
    char ckpt[512], reference[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("killed.ckpt"));
    snprintf(reference, sizeof reference, "%s", sn_temp_path("reference.ckpt"));
    /* A fresh process (fork + exec of this test), so that OpenMP's threads in
     * this one are not inherited half-alive by the child. */
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("SN_TEST_KILL_IN_CHECKPOINT", "3", 1);
        execl(self_path, self_path, "--train-child", ckpt, (char *)NULL);
        _exit(127);
    }
    int wstatus = 0;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    if (!WIFSIGNALED(wstatus) || WTERMSIG(wstatus) != SIGKILL)
        fail_msg("the child was not killed by SIGKILL (status 0x%x)", wstatus);

    /* The checkpoint of epoch 2 is intact under the final name: what a run of
     * 2 epochs writes (but for the epochs setting). */
    sn_train_opts o = opts_for(SN_OPTIM_SGD);
    o.epochs = 2;
    o.schedule.total_epochs = EPOCHS; /* as the child's default */
    o.checkpoint = reference;
    SN_ASSERT_OK(train_run(&o, NULL, NULL));
    assert_true(same_checkpoint(ckpt, reference, "epochs"));
    assert_false(same_checkpoint(ckpt, reference, "none")); /* the comparison can fail */
    sn_safetensors *f = NULL;
    SN_ASSERT_OK(sn_safetensors_open(&f, ckpt));
    assert_string_equal(sn_safetensors_metadata(f, "epoch"), "2");
    sn_safetensors_close(f);
    /* The writer was caught in the middle: a partial file lies beside it. */
    size_t full_len = 0;
    free(sn_fixture_read_file(ckpt, &full_len));
    const long partial = partial_file_size(sn_temp_dir(), "killed.ckpt");
    print_message("  checkpoint %zu bytes, partial temporary file %ld bytes\n", full_len, partial);
    assert_true(partial > 0 && (size_t)partial < full_len);

    /* Resumed, the run ends as if never killed. */
    size_t n_full = 0, n_resumed = 0;
    float *full = uninterrupted(SN_OPTIM_SGD, &n_full), *resumed = NULL;
    o = opts_for(SN_OPTIM_SGD);
    o.resume = ckpt;
    SN_ASSERT_OK(train_run(&o, &resumed, &n_resumed));
    assert_memory_equal(resumed, full, n_full * sizeof *full);
    free(full);
    free(resumed);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--train-child")) return child_train(argv[2]);
    self_path = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_during_checkpoint),
        cmocka_unit_test(test_resume_after_epoch_is_bit_identical),
        cmocka_unit_test(test_resume_with_batchnorm_is_bit_identical),
        cmocka_unit_test(test_resume_mid_epoch_is_bit_identical),
        cmocka_unit_test(test_checkpoint_contents),
        cmocka_unit_test(test_resume_refuses_other_runs),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

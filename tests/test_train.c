/*
 * The trainer (sinapsi/train.h): the task (default losses, checks, one-hot
 * targets, counting correct answers) as `sinapsi eval` had it; sn_evaluate
 * against a direct computation; sn_train against a hand-written loop in
 * torch's order with a partial last batch; determinism (weights and model file
 * bytes); the validation split; the stop on a non-finite loss, which must leave
 * the last good checkpoint byte for byte; the JSON-lines log; the progress
 * bar and the per-epoch lines; and accuracy on a slice of Fashion-MNIST.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"
#include "support/train_fixture.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sinapsi/train.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- the task ---- */

static sn_model *compiled(const sn_module *modules, int count, int64_t features) {
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, count));
    sn_model_compile_opts o = sn_model_compile_defaults();
    SN_ASSERT_OK(sn_shape_make(&o.sample_shape, 1, (int64_t[]){features}));
    SN_ASSERT_OK(sn_model_compile(m, &o));
    return m;
}

/* n = 4 examples of 2 features with class labels (n_classes) or float targets
 * (n_classes 0, target_size values each). */
static sn_dataset *tiny_data(int n_classes, int64_t target_size) {
    const float x[8] = {0};
    const float y[12] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
    sn_shape shape;
    SN_ASSERT_OK(sn_shape_make(&shape, 1, (int64_t[]){2}));
    sn_dataset *ds = NULL;
    float labels[12];
    memcpy(labels, y, sizeof labels);
    if (n_classes) labels[3] = (float)(n_classes - 1); /* max label + 1 = n_classes */
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, 4, &shape, x, target_size, labels, n_classes));
    return ds;
}

typedef struct task_case {
    const char *name;
    sn_module last[2]; /* after Linear(2, width) */
    int n_last;
    int width, n_classes;
    int64_t target_size;
    sn_loss_kind given;
    sn_status status;  /* expected from sn_task_make */
    sn_loss_kind loss; /* expected loss */
    int one_hot;
    float threshold;
} task_case;

static void test_task_make(void **state) {
    (void)state;
    const sn_module log_softmax = sn_module_plain(SN_MOD_LOG_SOFTMAX);
    const sn_module sigmoid = sn_module_plain(SN_MOD_SIGMOID);
    const sn_module softmax = sn_module_plain(SN_MOD_SOFTMAX);
    const sn_module step = sn_module_plain(SN_MOD_STEP);
    const sn_module dropout = sn_module_dropout(0.5f);
    const task_case cases[] = {
        {"logits", {{0}}, 0, 3, 3, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_CROSS_ENTROPY, 0, 0.0f},
        {"log_softmax", {log_softmax}, 1, 3, 3, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_NLL, 0, 0.0f},
        {"log_softmax+dropout",
         {log_softmax, dropout},
         2,
         3,
         3,
         1,
         SN_LOSS_NONE,
         SN_OK,
         SN_LOSS_NLL},
        {"one sigmoid", {sigmoid}, 1, 1, 2, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_BCE, 0, 0.5f},
        {"one logit", {{0}}, 0, 1, 2, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_BCE_WITH_LOGITS, 0, 0.0f},
        {"one step", {step}, 1, 1, 2, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_MSE, 0, 0.5f},
        {"sigmoids", {sigmoid}, 1, 3, 3, 1, SN_LOSS_NONE, SN_OK, SN_LOSS_BCE, 1, 0.5f},
        {"mse one-hot", {{0}}, 0, 3, 3, 1, SN_LOSS_MSE, SN_OK, SN_LOSS_MSE, 1, 0.0f},
        {"softmax", {softmax}, 1, 3, 3, 1, SN_LOSS_NONE, SN_ERR_INVALID_ARG},
        {"softmax, nll given", {softmax}, 1, 3, 3, 1, SN_LOSS_NLL, SN_OK, SN_LOSS_NLL, 0, 0.0f},
        {"float targets", {{0}}, 0, 3, 0, 3, SN_LOSS_NONE, SN_OK, SN_LOSS_MSE, 0, 0.0f},
        {"float targets, wrong width", {{0}}, 0, 3, 0, 2, SN_LOSS_NONE, SN_ERR_SHAPE},
        {"float targets, ce", {{0}}, 0, 3, 0, 3, SN_LOSS_CROSS_ENTROPY, SN_ERR_INVALID_ARG},
        {"4 classes, 3 outputs", {{0}}, 0, 3, 4, 1, SN_LOSS_NONE, SN_ERR_SHAPE},
        {"3 classes, 1 output", {sigmoid}, 1, 1, 3, 1, SN_LOSS_NONE, SN_ERR_SHAPE},
        {"ce on 1 output", {{0}}, 0, 1, 2, 1, SN_LOSS_CROSS_ENTROPY, SN_ERR_SHAPE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const task_case *c = &cases[k];
        sn_module modules[3] = {sn_module_linear(2, c->width, 1), c->last[0], c->last[1]};
        sn_model *m = compiled(modules, 1 + c->n_last, 2);
        sn_dataset *ds = tiny_data(c->n_classes, c->target_size);
        sn_task t;
        memset(&t, 0xAB, sizeof t);
        const sn_status st = sn_task_make(m, ds, c->given, &t);
        print_message("  %-28s -> %s %s\n", c->name, sn_status_string(st),
                      st == SN_OK ? sn_loss_name(t.loss) : sn_last_error());
        assert_int_equal(st, c->status);
        if (st == SN_OK) {
            assert_int_equal(t.loss, c->loss);
            assert_int_equal(t.one_hot, c->one_hot);
            assert_true(t.threshold == c->threshold);
            assert_int_equal(t.out_width, c->width);
            assert_int_equal(t.n_classes, c->n_classes);
            assert_int_equal(t.target_size, c->target_size);
        } else {
            assert_true(strlen(sn_last_error()) > 10);
        }
        sn_dataset_destroy(ds);
        sn_model_destroy(m);
    }
}

static void test_task_targets_and_correct(void **state) {
    (void)state;
    sn_task t = {
        .loss = SN_LOSS_BCE, .n_classes = 3, .out_width = 3, .target_size = 1, .one_hot = 1};
    const float labels[3] = {2, 0, 1};
    float target[9];
    SN_ASSERT_OK(sn_task_targets(&t, labels, 3, target));
    const float one_hot[9] = {0, 0, 1, 1, 0, 0, 0, 1, 0};
    assert_memory_equal(target, one_hot, sizeof one_hot);
    const float bad[2] = {1, 3};
    assert_int_equal(sn_task_targets(&t, bad, 2, target), SN_ERR_RANGE);
    assert_non_null(strstr(sn_last_error(), "outside [0, 3)"));
    t.one_hot = 0;
    SN_ASSERT_OK(sn_task_targets(&t, labels, 3, target));
    assert_memory_equal(target, labels, sizeof labels);

    /* Arg-max with torch's tie rule (the first maximum), against the labels. */
    const float out[9] = {0.1f, 0.5f, 0.5f, /* tie: 1 */ 2, 1, 0, /* 0 */ 0, 0, 3 /* 2 */};
    const float truth[3] = {1, 0, 1};
    assert_int_equal(sn_task_correct(&t, out, truth, 3), 2);
    /* One output: class 1 from the threshold on. */
    sn_task one = {
        .loss = SN_LOSS_BCE, .n_classes = 2, .out_width = 1, .target_size = 1, .threshold = 0.5f};
    const float p[4] = {0.5f, 0.49f, 0.9f, 0.1f}, y01[4] = {1, 0, 0, 0};
    assert_int_equal(sn_task_correct(&one, p, y01, 4), 3);
}

/* ---- evaluation ---- */

static void test_evaluate_matches_direct_computation(void **state) {
    (void)state;
    const int64_t n = 23; /* batches of 5: the last has 3 */
    sn_dataset *ds = sn_fixture_blobs(n, 11);
    for (int reduction = 0; reduction < 2; reduction++) {
        sn_model *m = sn_fixture_mlp(1);
        sn_model_compile_opts o = sn_model_compile_defaults();
        SN_ASSERT_OK(sn_shape_make(&o.sample_shape, 1, (int64_t[]){SN_FIXTURE_FEATURES}));
        o.batch = 5;
        o.loss = SN_LOSS_CROSS_ENTROPY;
        o.reduction = reduction ? SN_REDUCTION_SUM : SN_REDUCTION_MEAN;
        SN_ASSERT_OK(sn_model_compile(m, &o));
        SN_ASSERT_OK(sn_model_init(m, 3, SN_INIT_TORCH_DEFAULT));
        sn_task t;
        SN_ASSERT_OK(sn_task_make(m, ds, SN_LOSS_NONE, &t));
        sn_eval_result r;
        SN_ASSERT_OK(sn_evaluate(m, ds, &t, &r));
        assert_int_equal(sn_graph_batch(sn_model_graph(m)), 5);

        /* The reference: outputs of every example, cross-entropy in double. */
        float x[23 * SN_FIXTURE_FEATURES], y[23], out[23 * SN_FIXTURE_CLASSES];
        int64_t idx[23];
        for (int64_t i = 0; i < n; i++) idx[i] = i;
        SN_ASSERT_OK(sn_dataset_batch(ds, idx, n, x, y));
        SN_ASSERT_OK(sn_model_forward(m, x, n, out));
        double sum = 0;
        int64_t correct = 0;
        for (int64_t i = 0; i < n; i++) {
            const float *row = out + i * SN_FIXTURE_CLASSES;
            double max = row[0], total = 0;
            int best = 0;
            for (int c = 1; c < SN_FIXTURE_CLASSES; c++) {
                max = fmax(max, row[c]);
                if (row[c] > row[best]) best = c;
            }
            for (int c = 0; c < SN_FIXTURE_CLASSES; c++) total += exp(row[c] - max);
            sum += max + log(total) - row[(int)y[i]];
            correct += best == (int)y[i];
        }
        const double want = sum / (double)n;
        print_message("  reduction %s: loss %.9f (want %.9f), %lld correct (want %lld)\n",
                      reduction ? "sum" : "mean", r.loss, want, (long long)r.correct,
                      (long long)correct);
        assert_int_equal(r.n, n);
        assert_true(fabs(r.loss - want) <= 1e-6 * fabs(want));
        assert_int_equal(r.correct, correct);
        assert_true(correct > 0 && correct < n);
        assert_true(fabs(r.accuracy - (double)correct / (double)n) < 1e-15);

        /* A model compiled for another loss is refused. */
        t.loss = SN_LOSS_NLL;
        assert_int_equal(sn_evaluate(m, ds, &t, &r), SN_ERR_STATE);
        sn_model_destroy(m);
    }
    sn_dataset_destroy(ds);
}

/* ---- training ---- */

/* The loop of a PyTorch user, written out with the graph: consecutive slices
 * (the last one shorter), forward, zero_grad, backward, optimiser step. */
static float *hand_loop(const sn_dataset *ds, const sn_train_opts *o, size_t *n_params) {
    sn_model *m = sn_fixture_mlp(0);
    sn_model_compile_opts c = sn_model_compile_defaults();
    SN_ASSERT_OK(sn_shape_make(&c.sample_shape, 1, (int64_t[]){SN_FIXTURE_FEATURES}));
    c.batch = o->batch;
    c.loss = SN_LOSS_CROSS_ENTROPY;
    c.seed = o->seed;
    SN_ASSERT_OK(sn_model_compile(m, &c));
    SN_ASSERT_OK(sn_model_init(m, o->seed, SN_INIT_TORCH_DEFAULT));
    sn_graph *g = sn_model_graph(m);
    size_t count = 0;
    float *params = sn_graph_params(g, &count), *grads = sn_graph_grads(g, &count);
    sn_optim *opt = NULL;
    SN_ASSERT_OK(sn_optim_create(&opt, &o->optim, count));
    const int64_t n = sn_dataset_count(ds);
    int64_t idx[64];
    for (int e = 0; e < o->epochs; e++)
        for (int64_t first = 0; first < n; first += o->batch) {
            const int64_t k = n - first < o->batch ? n - first : o->batch;
            for (int64_t i = 0; i < k; i++) idx[i] = first + i;
            SN_ASSERT_OK(sn_graph_set_batch(g, k));
            SN_ASSERT_OK(sn_dataset_batch(ds, idx, k, sn_graph_value(g, sn_model_input_node(m)),
                                          sn_graph_value(g, sn_model_target_node(m))));
            SN_ASSERT_OK(sn_graph_forward(g));
            sn_graph_zero_grad(g);
            SN_ASSERT_OK(sn_graph_backward(g, sn_model_loss_node(m)));
            SN_ASSERT_OK(sn_optim_step(opt, params, grads, o->optim.lr));
        }
    float *copy = sn_fixture_params(m, n_params);
    sn_optim_destroy(opt);
    sn_model_destroy(m);
    return copy;
}

static void test_train_matches_hand_loop_with_partial_batch(void **state) {
    (void)state;
    sn_dataset *ds = sn_fixture_blobs(21, 5); /* batches of 8, 8 and 5 */
    sn_train_opts o = sn_fixture_opts();
    o.epochs = 2;
    o.shuffle = 0;
    size_t n_want = 0, n_got = 0;
    float *want = hand_loop(ds, &o, &n_want);
    sn_model *m = sn_fixture_mlp(0);
    sn_train_result r;
    SN_ASSERT_OK(sn_train(m, ds, NULL, &o, &r));
    assert_int_equal(r.steps, 6);
    assert_int_equal(r.epochs_run, 2);
    assert_int_equal(r.last.has_eval, 0);
    float *got = sn_fixture_params(m, &n_got);
    assert_int_equal(n_got, n_want);
    assert_memory_equal(got, want, n_want * sizeof *got);
    /* The same run dropping nothing but visiting 20 examples must differ: the
     * comparison can fail. */
    sn_dataset *shorter = sn_fixture_blobs(20, 5);
    size_t n_other = 0;
    float *other = hand_loop(shorter, &o, &n_other);
    assert_true(memcmp(other, want, n_want * sizeof *got) != 0);
    free(other);
    sn_dataset_destroy(shorter);
    free(want);
    free(got);
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
}

/* Trains the dropout MLP on shuffled data; returns its weights. */
static float *train_once(const sn_train_opts *o, size_t *n) {
    sn_dataset *ds = sn_fixture_blobs(45, 9), *test = sn_fixture_blobs(20, 10);
    sn_model *m = sn_fixture_mlp(1);
    SN_ASSERT_OK(sn_train(m, ds, test, o, NULL));
    float *w = sn_fixture_params(m, n);
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
    sn_dataset_destroy(test);
    return w;
}

static void test_determinism(void **state) {
    (void)state;
    sn_train_opts o = sn_fixture_opts();
    char out_a[512], out_b[512];
    snprintf(out_a, sizeof out_a, "%s", sn_temp_path("a.safetensors"));
    snprintf(out_b, sizeof out_b, "%s", sn_temp_path("b.safetensors"));
    size_t na = 0, nb = 0, nc = 0;
    o.out = out_a;
    float *a = train_once(&o, &na);
    o.out = out_b;
    float *b = train_once(&o, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    assert_true(sn_fixture_same_file(out_a, out_b));
    /* Another seed: other weights (so the comparison above can fail). */
    o.seed = 8;
    o.out = NULL;
    float *c = train_once(&o, &nc);
    assert_true(memcmp(a, c, na * sizeof *a) != 0);
    /* The saved model is the trained one. */
    sn_model *loaded = NULL;
    SN_ASSERT_OK(sn_model_load(&loaded, out_a));
    size_t nl = 0;
    float *l = sn_fixture_params(loaded, &nl);
    assert_memory_equal(l, a, na * sizeof *a);
    free(l);
    sn_model_destroy(loaded);
    free(a);
    free(b);
    free(c);
}

static void test_val_split(void **state) {
    (void)state;
    sn_dataset *ds = sn_fixture_blobs(50, 3), *test = sn_fixture_blobs(30, 4);
    sn_model *m = sn_fixture_mlp(0);
    sn_train_opts o = sn_fixture_opts();
    o.val_split = 0.2;
    o.epochs = 2;
    sn_train_result r;
    SN_ASSERT_OK(sn_train(m, ds, test, &o, &r));
    /* 40 to train in batches of 8, 10 held out; the test split is not used. */
    assert_int_equal(sn_dataset_count(ds), 40);
    assert_int_equal(r.steps, 10);
    assert_true(r.last.has_eval);
    assert_string_equal(r.last.eval_split, "validation");
    assert_int_equal(r.last.eval.n, 10);
    assert_true(r.last.eval.accuracy >= 0 && r.last.eval.accuracy <= 1);
    /* Without a split, the test set. */
    sn_model *m2 = sn_fixture_mlp(0);
    o.val_split = 0;
    SN_ASSERT_OK(sn_train(m2, ds, test, &o, &r));
    assert_string_equal(r.last.eval_split, "test");
    assert_int_equal(r.last.eval.n, 30);
    assert_true(fabs(r.last.eval.accuracy * 30 - (double)r.last.eval.correct) < 1e-9);
    assert_int_equal(sn_train(m2, ds, test, &(sn_train_opts){.val_split = 1.5}, &r),
                     SN_ERR_INVALID_ARG);
    sn_model_destroy(m);
    sn_model_destroy(m2);
    sn_dataset_destroy(ds);
    sn_dataset_destroy(test);
}

static void test_nonfinite_stops_and_keeps_checkpoint(void **state) {
    (void)state;
    sn_dataset *ds = sn_fixture_blobs(40, 21);
    char ckpt[512], saved[512];
    snprintf(ckpt, sizeof ckpt, "%s", sn_temp_path("nonfinite.ckpt"));
    snprintf(saved, sizeof saved, "%s", sn_temp_path("nonfinite.copy"));
    sn_model *m = sn_fixture_mlp(0);
    sn_train_opts o = sn_fixture_opts();
    o.epochs = 1;
    o.checkpoint = ckpt;
    SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
    size_t len = 0;
    unsigned char *before = sn_fixture_read_file(ckpt, &len);
    assert_non_null(before);
    /* Epoch 2 at lr 0.05 * 1e30: the weights blow up at once. */
    o.epochs = 3;
    o.resume = ckpt;
    o.schedule.kind = SN_SCHEDULE_STEP;
    o.schedule.step_size = 1;
    o.schedule.gamma = 1e30;
    sn_train_result r = {0};
    const sn_status st = sn_train(m, ds, NULL, &o, &r);
    print_message("  %s\n", sn_last_error());
    assert_int_equal(st, SN_ERR_NUMERIC);
    /* Stopped at once: the result counts the steps that succeeded, no epoch. */
    assert_int_equal(r.epochs_run, 0);
    assert_int_equal(r.steps, atoi(strstr(sn_last_error(), "step ") + 5) - 1);
    /* 40 examples: 5 steps per epoch; the first of epoch 2 is step 6 and
     * succeeds (its loss is still finite), so the failure is at step 7 or later. */
    const char *msg = sn_last_error();
    assert_non_null(strstr(msg, "(epoch 2)"));
    assert_non_null(strstr(msg, "step "));
    assert_true(atoi(strstr(msg, "step ") + 5) >= 7);
    assert_true(strstr(msg, "module 0 Linear(") || strstr(msg, "module 2 Linear(") ||
                strstr(msg, "module 1 ReLU("));
    size_t len_after = 0;
    unsigned char *after = sn_fixture_read_file(ckpt, &len_after);
    assert_non_null(after);
    assert_int_equal(len_after, len);
    assert_memory_equal(after, before, len);
    free(before);
    free(after);
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
}

/* A finite loss whose gradient overflows: Linear(1, 1) -> Linear(1, 1) with
 * weights 1.5e19 and 1 on x = 1, y = 0 under MSE: the loss is 2.25e38 (a
 * float), but d loss / d w2 = 2 out h = 4.5e38 is not. */
static void test_nonfinite_gradient_names_the_parameter(void **state) {
    (void)state;
    const sn_module modules[] = {sn_module_linear(1, 1, 1), sn_module_linear(1, 1, 1)};
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, 2));
    sn_model_compile_opts c = sn_model_compile_defaults();
    SN_ASSERT_OK(sn_shape_make(&c.sample_shape, 1, (int64_t[]){1}));
    SN_ASSERT_OK(sn_model_compile(m, &c));
    size_t n = 0;
    float *params = sn_graph_params(sn_model_graph(m), &n); /* 0.weight 0.bias 1.weight 1.bias */
    assert_int_equal(n, 4);
    const float weights[4] = {1.5e19f, 0, 1, 0};
    memcpy(params, weights, sizeof weights);
    const float x = 1, y = 0;
    sn_shape shape;
    SN_ASSERT_OK(sn_shape_make(&shape, 1, (int64_t[]){1}));
    sn_dataset *ds = NULL;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, 1, &shape, &x, 1, &y, 0));
    sn_train_opts o = sn_fixture_opts();
    o.keep_weights = 1;
    o.optim.momentum = 0;
    sn_train_result r;
    assert_int_equal(sn_train(m, ds, NULL, &o, &r), SN_ERR_NUMERIC);
    print_message("  %s\n", sn_last_error());
    assert_non_null(
        strstr(sn_last_error(), "step 1 (epoch 1): the gradient of 1.weight in module 1 Linear("));
    assert_int_equal(r.steps, 0);
    /* The weights were not updated by the bad step. */
    assert_memory_equal(sn_graph_params(sn_model_graph(m), &n), weights, sizeof weights);
    sn_dataset_destroy(ds);
    sn_model_destroy(m);
}

/* Every line of the log parses; returns the number of lines of type `type`. */
static int count_lines(const char *path, const char *type, cJSON **first) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[65536];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        if (!o) fail_msg("log line is not JSON: %s", line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        assert_true(cJSON_IsString(t));
        if (!strcmp(t->valuestring, type)) {
            if (first && !*first) {
                *first = o;
                o = NULL;
            }
            count++;
        }
        cJSON_Delete(o);
    }
    fclose(f);
    return count;
}

/* The train loss of `epoch` from its step lines, summed as the trainer does. */
static int steps_match_epoch(const char *path, int epoch, const int64_t *k, int n_steps,
                             double train_loss) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[65536];
    double sum = 0;
    int64_t seen = 0;
    int i = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
        if (!strcmp(t->valuestring, "step") && e->valueint == epoch && i < n_steps) {
            const float loss = (float)cJSON_GetObjectItemCaseSensitive(o, "loss")->valuedouble;
            sum += (double)loss * (double)k[i];
            seen += k[i++];
        }
        cJSON_Delete(o);
    }
    fclose(f);
    print_message("  epoch %d: train loss %.17g from the steps, %.17g logged\n", epoch,
                  sum / (double)seen, train_loss);
    return i == n_steps && sum / (double)seen == train_loss;
}

static void test_run_log(void **state) {
    (void)state;
    char log[512];
    snprintf(log, sizeof log, "%s", sn_temp_path("run.jsonl"));
    sn_dataset *ds = sn_fixture_blobs(20, 1), *test = sn_fixture_blobs(10, 2);
    sn_model *m = sn_fixture_mlp(1);
    sn_train_opts o = sn_fixture_opts();
    o.epochs = 2;
    o.log = log;
    o.log_steps = 1;
    sn_train_result r;
    SN_ASSERT_OK(sn_train(m, ds, test, &o, &r));
    cJSON *settings = NULL, *epoch = NULL, *step = NULL;
    assert_int_equal(count_lines(log, "settings", &settings), 1);
    assert_int_equal(count_lines(log, "epoch", &epoch), 2);
    assert_int_equal(count_lines(log, "step", &step), 6);
    const char *keys[] = {"version",  "seed",    "threads", "gemm_backend", "spec",
                          "data",     "n_train", "n_test",  "batch",        "lr",
                          "momentum", "optim",   "epochs",  "normalize"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (!cJSON_GetObjectItemCaseSensitive(settings, keys[k]))
            fail_msg("settings line has no '%s'", keys[k]);
    /* Float data: auto resolves to none, as applied. */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(settings, "normalize")->valuestring,
                        "none");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(settings, "n_train")->valueint, 20);
    assert_true(cJSON_GetObjectItemCaseSensitive(settings, "lr")->valuedouble == 0.05);
    const char *epoch_keys[] = {"epoch",          "step", "lr",      "train_loss",
                                "train_accuracy", "eval", "seconds", "images_per_second",
                                "eval_split"};
    for (size_t k = 0; k < sizeof epoch_keys / sizeof epoch_keys[0]; k++)
        if (!cJSON_GetObjectItemCaseSensitive(epoch, epoch_keys[k]))
            fail_msg("epoch line has no '%s'", epoch_keys[k]);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(epoch, "step")->valueint, 3);
    /* The step losses read back as the floats the steps computed: their mean
     * weighted by the batches (8, 8, 4) is the epoch's train loss exactly. */
    assert_true(
        steps_match_epoch(log, 1, (const int64_t[]){8, 8, 4}, 3,
                          cJSON_GetObjectItemCaseSensitive(epoch, "train_loss")->valuedouble));
    /* Appended: a second run adds its own settings line. */
    sn_model *m2 = sn_fixture_mlp(1);
    o.log_steps = 0;
    SN_ASSERT_OK(sn_train(m2, ds, test, &o, &r));
    assert_int_equal(count_lines(log, "settings", NULL), 2);
    assert_int_equal(count_lines(log, "step", NULL), 6);
    cJSON_Delete(settings);
    cJSON_Delete(epoch);
    cJSON_Delete(step);
    sn_model_destroy(m);
    sn_model_destroy(m2);
    sn_dataset_destroy(ds);
    sn_dataset_destroy(test);
}

/* Runs a 2-epoch training with `progress` while file descriptor fd goes to
 * a file; returns what was written there (the caller frees it). */
static char *capture_training(sn_progress progress, int fd) {
    sn_train_opts o = sn_fixture_opts();
    o.epochs = 2;
    o.progress = progress;
    return sn_fixture_train_captured(&o, 1, fd);
}

static int count_char(const char *text, char c) {
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == c;
    return n;
}

/* LINES prints one line per epoch on stdout, in the documented form; BAR
 * draws on stderr with \r and ends each epoch with the same line; NONE is
 * silent. */
static void test_progress_output(void **state) {
    (void)state;
    char *lines = capture_training(SN_PROGRESS_LINES, 1);
    print_message("%s", lines);
    assert_non_null(strstr(lines, "epoch 1/2  train loss "));
    assert_non_null(strstr(lines, "epoch 2/2  train loss "));
    assert_non_null(strstr(lines, " acc "));
    assert_non_null(strstr(lines, "  test loss "));
    assert_non_null(strstr(lines, "  lr 0.05  "));
    assert_non_null(strstr(lines, " img/s\n"));
    assert_int_equal(count_char(lines, '\n'), 2);
    assert_int_equal(count_char(lines, '\r'), 0);
    char *bar = capture_training(SN_PROGRESS_BAR, 2);
    assert_non_null(strstr(bar, "\repoch 1/2 ["));
    assert_non_null(strstr(bar, "] 3/3 "));
    assert_non_null(strstr(bar, " ETA "));
    assert_non_null(strstr(bar, "epoch 2/2  train loss "));
    assert_int_equal(count_char(bar, '\n'), 2);
    char *none_out = capture_training(SN_PROGRESS_NONE, 1);
    char *none_err = capture_training(SN_PROGRESS_NONE, 2);
    assert_string_equal(none_out, "");
    assert_string_equal(none_err, "");
    free(lines);
    free(bar);
    free(none_out);
    free(none_err);
}

/* ---- a real dataset ---- */

static void test_fashion_mnist_accuracy(void **state) {
    (void)state;
    sn_data_opts d = sn_data_defaults();
    d.limit = 5000;
    sn_dataset *train = NULL, *unused = NULL, *test = NULL;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &d, &train, NULL));
    d.limit = 1000;
    SN_ASSERT_OK(sn_dataset_load(FASHION_DIR, &d, &unused, &test));
    assert_int_equal(sn_dataset_count(train), 5000);
    assert_int_equal(sn_dataset_count(test), 1000);
    const sn_module modules[] = {sn_module_plain(SN_MOD_FLATTEN), sn_module_linear(784, 128, 1),
                                 sn_module_plain(SN_MOD_RELU), sn_module_linear(128, 10, 1)};
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, 4));
    sn_train_opts o = sn_train_defaults();
    o.epochs = 3;
    o.batch = 32;
    o.optim.lr = 0.05;
    o.optim.momentum = 0.9;
    o.seed = 1;
    o.progress = SN_PROGRESS_NONE;
    sn_train_result r;
    SN_ASSERT_OK(sn_train(m, train, test, &o, &r));
    print_message("  Fashion-MNIST, MLP 784-128-10, 5000 images x 3 epochs: train loss %.4f, "
                  "test accuracy %.4f on %lld, %.2f s\n",
                  r.last.train_loss, r.last.eval.accuracy, (long long)r.last.eval.n, r.seconds);
    assert_int_equal(r.last.eval.n, 1000);
    assert_true(r.last.eval.accuracy >= 0.75);
    sn_model_destroy(m);
    sn_dataset_destroy(train);
    sn_dataset_destroy(unused);
    sn_dataset_destroy(test);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_make),
        cmocka_unit_test(test_task_targets_and_correct),
        cmocka_unit_test(test_evaluate_matches_direct_computation),
        cmocka_unit_test(test_train_matches_hand_loop_with_partial_batch),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_val_split),
        cmocka_unit_test(test_nonfinite_stops_and_keeps_checkpoint),
        cmocka_unit_test(test_nonfinite_gradient_names_the_parameter),
        cmocka_unit_test(test_run_log),
        cmocka_unit_test(test_progress_output),
        cmocka_unit_test(test_fashion_mnist_accuracy),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

/*
 * Training health (docs/health.md): the per-layer numbers of one step on a
 * 2-layer net with known weights and inputs, worked out by hand below; the
 * warnings triggered and not triggered; the log lines parse with the
 * documented fields; the table printed per epoch; and health never changing
 * what training computes (bit-identical weights with and without it).
 *
 * The net: Linear(2, 2), ReLU, Linear(2, 1), Sigmoid with BCE (the default
 * loss for one sigmoid output and labels 0/1), batch 2, SGD lr 0.1, no
 * momentum, biases 0, so that for examples x_a, x_b:
 *     h = W1 x, r = relu(h), z = W2 r, p = sigmoid(z),
 *     L = mean BCE,   dz_n = (p_n - y_n) / 2,
 *     dL/dW2 = sum_n dz_n r_n^T,   dL/dr_n = dz_n W2,
 *     dL/dh_n = dL/dr_n * [h_n > 0],   dL/dW1 = sum_n dL/dh_n x_n^T,
 * and plain SGD moves W by lr * dL/dW, so update_ratio = lr ||dW|| / ||W||.
 */
#include "support/test_support.h"
#include "support/temp_dir.h"
#include "support/train_fixture.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sinapsi/train.h"

#define LR 0.1

/* One case: W1 (2, 2), W2 (1, 2), two examples (2, 2) and their labels. */
typedef struct net_case {
    float w1[4], w2[2], x[4], y[2];
} net_case;

static sn_model *tiny_net(const net_case *c) {
    const sn_module modules[] = {sn_module_linear(2, 2, 1), sn_module_plain(SN_MOD_RELU),
                                 sn_module_linear(2, 1, 1), sn_module_plain(SN_MOD_SIGMOID)};
    sn_model *m = NULL;
    SN_ASSERT_OK(sn_model_create(&m, modules, 4));
    sn_model_compile_opts o = sn_model_compile_defaults();
    SN_ASSERT_OK(sn_shape_make(&o.sample_shape, 1, (int64_t[]){2}));
    o.batch = 2;
    SN_ASSERT_OK(sn_model_compile(m, &o));
    size_t n = 0;
    float *p = sn_graph_params(sn_model_graph(m), &n);
    assert_int_equal(n, 4 + 2 + 2 + 1); /* 0.weight 0.bias 2.weight 2.bias */
    memset(p, 0, n * sizeof *p);
    memcpy(p, c->w1, sizeof c->w1);
    memcpy(p + 6, c->w2, sizeof c->w2);
    return m;
}

static sn_dataset *tiny_data(const net_case *c) {
    sn_shape shape;
    SN_ASSERT_OK(sn_shape_make(&shape, 1, (int64_t[]){2}));
    sn_dataset *ds = NULL;
    SN_ASSERT_OK(sn_dataset_from_arrays(&ds, 2, &shape, c->x, 1, c->y, 2));
    return ds;
}

/* What the callback saw: the first step's record and the first epoch's. */
typedef struct seen {
    int steps, epochs;
    sn_health step, epoch;
    sn_layer_health step_layers[8], epoch_layers[8];
    char names[8][128]; /* of the step's rows: the record's pointers die with the call */
} seen;

static void remember(const sn_health *h, void *user) {
    seen *s = user;
    assert_true(h->n_layers <= 8);
    sn_health *into = h->is_epoch ? &s->epoch : &s->step;
    sn_layer_health *rows = h->is_epoch ? s->epoch_layers : s->step_layers;
    if ((h->is_epoch ? s->epochs++ : s->steps++) > 0) return;
    *into = *h;
    memcpy(rows, h->layers, sizeof *rows * (size_t)h->n_layers);
    into->layers = rows;
    for (int i = 0; !h->is_epoch && i < h->n_layers; i++) {
        snprintf(s->names[i], sizeof s->names[i], "%s", rows[i].name);
        rows[i].name = s->names[i];
    }
}

/* One epoch of one step, health every step, the log in `log`. */
static void train_case(const net_case *c, const char *log, seen *s) {
    sn_model *m = tiny_net(c);
    sn_dataset *ds = tiny_data(c);
    sn_train_opts o = sn_train_defaults();
    o.epochs = 1;
    o.batch = 2;
    o.optim.lr = LR;
    o.keep_weights = 1;
    o.shuffle = 0;
    o.progress = SN_PROGRESS_NONE;
    o.health_every = 1;
    o.on_health = remember;
    o.health_user = s;
    o.log = log;
    memset(s, 0, sizeof *s);
    SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
}

static double sigmoid(double z) {
    return 1.0 / (1.0 + exp(-z));
}

static void assert_close(double got, double want) {
    if (!(fabs(got - want) <= 1e-5 * fabs(want) + 1e-9)) fail_msg("got %.9g, want %.9g", got, want);
}

/* W1 = [[1, 0], [0, -1]], W2 = [[2, 1]], x_a = (1, 2) labelled 1, x_b = (3, 1)
 * labelled 0: h_a = (1, -2), h_b = (3, -1), so ReLU unit 1 is zero for both
 * examples (dead 1/2); z_a = 2, z_b = 6, and only |z_b| > 4 (saturated 1/2). */
static const net_case hand_case = {{1, 0, 0, -1}, {2, 1}, {1, 2, 3, 1}, {1, 0}};

static void test_numbers_by_hand(void **state) {
    (void)state;
    seen s;
    train_case(&hand_case, NULL, &s);
    assert_int_equal(s.steps, 1);
    assert_int_equal(s.epochs, 1);
    const sn_health *h = &s.step;
    assert_int_equal(h->epoch, 1);
    assert_int_equal(h->step, 1);
    assert_int_equal(h->is_epoch, 0);
    assert_int_equal(h->first_nonfinite, -1);
    assert_int_equal(h->n_layers, 4); /* Linear, ReLU, Linear, Sigmoid */

    const double dza = (sigmoid(2.0) - 1.0) / 2, dzb = (sigmoid(6.0) - 0.0) / 2;
    const double gw2 = fabs(dza * 1 + dzb * 3); /* r_a = (1, 0), r_b = (3, 0) */
    /* dL/dh_n = (2 dz_n, 0); dL/dW1 row 0 = 2 dz_a (1, 2) + 2 dz_b (3, 1), row 1 = 0 */
    const double gw1 = hypot(2 * dza + 6 * dzb, 4 * dza + 2 * dzb);

    const sn_layer_health *l0 = &h->layers[0], *l1 = &h->layers[1], *l2 = &h->layers[2],
                          *l3 = &h->layers[3];
    assert_int_equal(l0->module, 0);
    assert_string_equal(l0->kind_name, "Linear");
    assert_string_equal(l0->name, "Linear(in_features=2, out_features=2, bias=True)");
    assert_close(l0->weight_norm, sqrt(2.0));
    assert_close(l0->grad_norm, gw1);
    assert_close(l0->update_ratio, LR * gw1 / sqrt(2.0));
    assert_true(isnan(l0->input_grad_mean_abs)); /* x keeps no gradient */
    assert_true(isnan(l0->saturated) && isnan(l0->dead));

    assert_int_equal(l1->module, 1);
    assert_true(isnan(l1->weight_norm) && isnan(l1->grad_norm) && isnan(l1->update_ratio));
    assert_close(l1->input_grad_mean_abs, (2 * fabs(dza) + 2 * fabs(dzb)) / 4); /* dL/dh */
    assert_close(l1->dead, 0.5);
    assert_true(isnan(l1->saturated));

    assert_int_equal(l2->module, 2);
    assert_close(l2->weight_norm, sqrt(5.0));
    assert_close(l2->grad_norm, gw2);
    assert_close(l2->update_ratio, LR * gw2 / sqrt(5.0));
    assert_close(l2->input_grad_mean_abs, 3 * (fabs(dza) + fabs(dzb)) / 4); /* dL/dr */

    assert_int_equal(l3->module, 3);
    assert_close(l3->input_grad_mean_abs, (fabs(dza) + fabs(dzb)) / 2); /* dL/dz */
    assert_close(l3->saturated, 0.5);
    assert_true(isnan(l3->dead));

    assert_close(h->vanish_ratio, gw2 / gw1);
    /* The epoch's means over its one step are that step. */
    assert_int_equal(s.epoch.is_epoch, 1);
    assert_int_equal(s.epoch.samples, 1);
    for (int i = 0; i < 4; i++)
        assert_memory_equal(&s.epoch.layers[i].grad_norm, &h->layers[i].grad_norm, sizeof(double));
}

/* Reads a JSON-lines log; returns the first object of `type`, or NULL. */
static cJSON *log_object(const char *path, const char *type) {
    size_t len = 0;
    char *text = (char *)sn_fixture_read_file(path, &len);
    assert_non_null(text);
    text[len] = '\0';
    cJSON *found = NULL;
    for (char *line = strtok(text, "\n"); line && !found; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        assert_non_null(o); /* every line parses */
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "type");
        if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0)
            found = o;
        else
            cJSON_Delete(o);
    }
    free(text);
    return found;
}

/* The warnings of the log's health_epoch line, joined. */
static void warnings_of(const char *log, char *out, size_t cap) {
    cJSON *e = log_object(log, "health_epoch");
    assert_non_null(e);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(e, "warnings");
    assert_true(cJSON_IsArray(w));
    out[0] = '\0';
    const cJSON *item;
    cJSON_ArrayForEach(item, w) {
        assert_true(cJSON_IsString(item));
        strncat(out, item->valuestring, cap - strlen(out) - 2);
        strcat(out, "\n");
    }
    cJSON_Delete(e);
}

static double number(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(v);
    if (cJSON_IsNull(v)) return NAN;
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* The log holds the documented fields, with null where a field does not apply. */
static void test_log_lines(void **state) {
    (void)state;
    const char *log = sn_temp_path("hand.jsonl");
    unlink(log);
    seen s;
    train_case(&hand_case, log, &s);
    cJSON *h = log_object(log, "health");
    assert_non_null(h);
    assert_int_equal((int)number(h, "epoch"), 1);
    assert_int_equal((int)number(h, "step"), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(h, "first_nonfinite")));
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(h, "layers");
    assert_int_equal(cJSON_GetArraySize(layers), 4);
    const cJSON *l0 = cJSON_GetArrayItem(layers, 0), *l3 = cJSON_GetArrayItem(layers, 3);
    assert_int_equal((int)number(l0, "module"), 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l0, "name")->valuestring,
                        "Linear(in_features=2, out_features=2, bias=True)");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(l0, "kind")->valuestring, "Linear");
    assert_close(number(l0, "weight_norm"), s.step.layers[0].weight_norm);
    assert_close(number(l0, "grad_norm"), s.step.layers[0].grad_norm);
    assert_close(number(l0, "update_ratio"), s.step.layers[0].update_ratio);
    assert_true(isnan(number(l0, "input_grad_mean_abs")));
    assert_true(isnan(number(l0, "saturated")) && isnan(number(l0, "dead")));
    assert_close(number(l3, "saturated"), 0.5);
    assert_close(number(l3, "input_grad_mean_abs"), s.step.layers[3].input_grad_mean_abs);
    assert_close(number(cJSON_GetArrayItem(layers, 1), "dead"), 0.5);
    cJSON_Delete(h);
    cJSON *settings = log_object(log, "settings");
    assert_int_equal((int)number(settings, "health_every"), 1);
    cJSON_Delete(settings);
    cJSON *e = log_object(log, "health_epoch");
    assert_int_equal((int)number(e, "samples"), 1);
    cJSON_Delete(e);
    /* Half saturated, half dead, gradients of the same order: no warning (> 50% warns). */
    char w[2048];
    warnings_of(log, w, sizeof w);
    assert_string_equal(w, "");
}

static void test_warnings(void **state) {
    (void)state;
    char w[2048];
    seen s;
    const char *log = sn_temp_path("warn.jsonl");
    /* z_a = 10, z_b = 6: every sigmoid output saturated. */
    net_case saturated = hand_case;
    saturated.x[0] = 5;
    unlink(log);
    train_case(&saturated, log, &s);
    assert_close(s.step.layers[3].saturated, 1.0);
    warnings_of(log, w, sizeof w);
    assert_non_null(strstr(w, "module 3 Sigmoid: 100% of units saturated — gradients through it "
                              "vanish; try ReLU or BatchNorm"));
    assert_null(strstr(w, "dead"));
    /* W1 = -I on positive inputs: both ReLU units zero for the whole batch. */
    net_case dead = hand_case;
    dead.w1[0] = -1;
    unlink(log);
    train_case(&dead, log, &s);
    assert_close(s.step.layers[1].dead, 1.0);
    warnings_of(log, w, sizeof w);
    assert_non_null(strstr(w, "module 1 ReLU: 100% of units dead"));
    assert_null(strstr(w, "saturated"));
    assert_null(strstr(w, "gradients shrink")); /* no gradient anywhere: no ratio */
    assert_true(isnan(s.step.vanish_ratio));
    /* W2 = (0.001, 0): dL/dW1 is 2000 times smaller than with W2 = (2, 1), while
     * dL/dW2 keeps its size: more than 100x from the last layer to the first. */
    net_case vanishing = hand_case;
    vanishing.w2[0] = 0.001f;
    vanishing.w2[1] = 0;
    unlink(log);
    train_case(&vanishing, log, &s);
    assert_true(s.step.vanish_ratio > SN_HEALTH_VANISH_FACTOR);
    warnings_of(log, w, sizeof w);
    assert_non_null(strstr(w, "gradients shrink "));
    assert_non_null(strstr(w, "x from module 2 Linear to module 0 Linear"));
    assert_non_null(strstr(w, "try ReLU or BatchNorm"));
}

/* Health reads and never writes: weights, buffers and the log's epochs agree
 * bit for bit with it off and on, with momentum, clipping, dropout and
 * BatchNorm, and a partial last batch. */
static void test_health_changes_nothing(void **state) {
    (void)state;
    for (int model = 0; model < 2; model++) {
        float *params[2], *buffers[2];
        size_t n_params = 0, n_buffers = 0;
        for (int on = 0; on < 2; on++) {
            sn_dataset *ds = sn_fixture_blobs(45, 3);
            sn_model *m = model ? sn_fixture_mlp_batchnorm() : sn_fixture_mlp(1);
            sn_train_opts o = sn_fixture_opts();
            o.clip = 1.0;
            o.health_every = on ? 2 : 0;
            SN_ASSERT_OK(sn_train(m, ds, NULL, &o, NULL));
            params[on] = sn_fixture_params(m, &n_params);
            buffers[on] = sn_fixture_buffers(m, &n_buffers);
            sn_model_destroy(m);
            sn_dataset_destroy(ds);
        }
        assert_memory_equal(params[0], params[1], n_params * sizeof(float));
        assert_memory_equal(buffers[0], buffers[1], n_buffers * sizeof(float));
        for (int i = 0; i < 2; i++) {
            free(params[i]);
            free(buffers[i]);
        }
    }
}

/* Runs the fixture for 2 epochs with health every 2 steps and `progress`,
 * stdout going to a file; returns what was written (the caller frees it). */
static char *captured_stdout(sn_progress progress) {
    sn_train_opts o = sn_fixture_opts();
    o.epochs = 2;
    o.progress = progress;
    o.health_every = 2;
    return sn_fixture_train_captured(&o, 0, 1);
}

/* The table follows each epoch's line; nothing is printed with NONE. */
static void test_table(void **state) {
    (void)state;
    char *lines = captured_stdout(SN_PROGRESS_LINES);
    print_message("%s", lines);
    /* 20 examples in batches of 8: 3 steps an epoch, health at steps 2, 4 and 6. */
    const char *e1 = strstr(lines, "epoch 1/2  train loss ");
    const char *t1 = strstr(lines, "health, epoch 1 (means of 1 samples, every 2 steps):\n");
    const char *t2 = strstr(lines, "health, epoch 2 (means of 2 samples, every 2 steps):\n");
    assert_non_null(e1);
    assert_non_null(t1);
    assert_non_null(t2);
    assert_true(e1 < t1 && t1 < strstr(lines, "epoch 2/2  train loss ") && t1 < t2);
    assert_non_null(strstr(lines, "  module  layer "));
    assert_non_null(strstr(lines, "\n       0  Linear "));
    assert_non_null(strstr(lines, "\n       1  ReLU "));
    assert_non_null(strstr(lines, "\n       2  Linear "));
    char *none = captured_stdout(SN_PROGRESS_NONE);
    assert_string_equal(none, "");
    free(lines);
    free(none);
}

static void test_bad_option(void **state) {
    (void)state;
    sn_dataset *ds = sn_fixture_blobs(8, 1);
    sn_model *m = sn_fixture_mlp(0);
    sn_train_opts o = sn_fixture_opts();
    o.health_every = -1;
    assert_int_equal(sn_train(m, ds, NULL, &o, NULL), SN_ERR_INVALID_ARG);
    assert_non_null(strstr(sn_last_error(), "health_every"));
    sn_model_destroy(m);
    sn_dataset_destroy(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_by_hand), cmocka_unit_test(test_log_lines),
        cmocka_unit_test(test_warnings),        cmocka_unit_test(test_health_changes_nothing),
        cmocka_unit_test(test_table),           cmocka_unit_test(test_bad_option),
    };
    return cmocka_run_group_tests(tests, sn_temp_dir_setup, sn_temp_dir_teardown);
}

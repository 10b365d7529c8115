/*
 * sinapsi eval: a model's loss and accuracy on a dataset's test split (or on
 * the whole data when it has none), in evaluation mode.
 *
 * The loss is PyTorch's with reduction='mean' over the whole split: the graph
 * sums per batch, and the total is divided by the examples (cross_entropy,
 * nll) or by the target elements (bce, bce_with_logits, mse), as torch's mean
 * does (https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

const cli_command cli_eval_command = {
    .name = "eval",
    .synopsis = "--model SPEC|MODEL.safetensors [--weights W.safetensors] --data DATA [options]",
    .summary = "reports a model's loss and accuracy on a dataset",
    .description = "Reports a model's loss and accuracy on the test split of DATA, or on all of\n"
                   "DATA when it has no test split, in evaluation mode (dropout off).\n",
    .details = "DATA is a directory of IDX files, a .csv file or a .safetensors file (x, y,\n"
               "optionally x_test, y_test). Default loss: with class labels, nll after\n"
               "LogSoftmax, cross_entropy otherwise; for one output, bce after Sigmoid,\n"
               "mse after Step, bce_with_logits otherwise; bce on one-hot labels after a\n"
               "Sigmoid of several outputs; mse for float targets. After Softmax choose\n"
               "the loss. Accuracy (class labels only): arg-max against the label; for one\n"
               "output, output >= 0.5 after Sigmoid or Step, >= 0 otherwise, means class 1.\n",
    .run = cli_eval,
};

/* How outputs meet targets, decided once from the model and the data. */
typedef struct eval_task {
    sn_loss_kind loss;
    int n_classes;       /* 0 for float targets */
    int64_t out_width;   /* floats of one example's output */
    int64_t target_size; /* floats of one example's target in the dataset */
    int one_hot;         /* class labels expanded to out_width columns */
    float threshold;     /* one output: predicted class 1 when output >= threshold */
} eval_task;

/* The last module that changes values (a trailing Dropout or Identity does not). */
static sn_module_kind last_kind(const sn_model *m) {
    for (int i = sn_model_module_count(m) - 1; i >= 0; i--) {
        sn_module_kind kind = sn_model_module(m, i)->kind;
        if (kind != SN_MOD_DROPOUT && kind != SN_MOD_IDENTITY) return kind;
    }
    return SN_MOD_IDENTITY;
}

static int default_loss(const char *model_path, sn_module_kind last, const eval_task *t,
                        sn_loss_kind *loss) {
    if (!t->n_classes)
        *loss = SN_LOSS_MSE;
    else if (last == SN_MOD_LOG_SOFTMAX)
        *loss = SN_LOSS_NLL;
    else if (last == SN_MOD_SOFTMAX)
        return cli_error("%s ends with Softmax, whose probabilities no default loss takes "
                         "(cross_entropy wants logits, nll LogSoftmax): choose one with --loss",
                         model_path);
    else if (t->out_width == 1)
        *loss = last == SN_MOD_SIGMOID ? SN_LOSS_BCE
                : last == SN_MOD_STEP  ? SN_LOSS_MSE
                                       : SN_LOSS_BCE_WITH_LOGITS;
    else
        *loss = last == SN_MOD_SIGMOID ? SN_LOSS_BCE : SN_LOSS_CROSS_ENTROPY;
    return 0;
}

/* Checks that the loss can compare these outputs with these targets. */
static int check_task(const char *model_path, const char *data_path, const sn_shape *out,
                      eval_task *t) {
    const char *loss = sn_loss_name(t->loss);
    const int class_loss = t->loss == SN_LOSS_CROSS_ENTROPY || t->loss == SN_LOSS_NLL;
    if (!t->n_classes) {
        if (class_loss)
            return cli_error("%s: %s needs class labels, but the targets are float values",
                             data_path, loss);
        if (t->target_size != t->out_width)
            return cli_error("%s: targets of %lld values, but %s gives %lld per example", data_path,
                             (long long)t->target_size, model_path, (long long)t->out_width);
        return 0;
    }
    if (out->ndim != 1)
        return cli_error("%s: class labels need outputs (batch, classes), but one output has "
                         "%d dimensions",
                         model_path, out->ndim);
    if (t->out_width == 1) {
        if (t->loss != SN_LOSS_MSE && t->n_classes > 2)
            return cli_error("%s: %d classes, but %s has one output and %s needs labels 0 or 1",
                             data_path, t->n_classes, model_path, loss);
        if (class_loss)
            return cli_error("%s: %s needs one output per class, and %s has one", model_path, loss,
                             model_path);
        return 0;
    }
    if (t->n_classes > t->out_width)
        return cli_error("%s: labels up to %d, but %s has %lld outputs", data_path,
                         t->n_classes - 1, model_path, (long long)t->out_width);
    t->one_hot = !class_loss;
    return 0;
}

/* Targets for the graph: class indices as they are, or one-hot rows. A label
 * outside [0, out_width) cannot be one-hot encoded: -1 (the reader should
 * never give one, but a row index from data is not trusted). */
static int fill_targets(const eval_task *t, const float *labels, int64_t k, float *target) {
    if (!t->one_hot) {
        memcpy(target, labels, sizeof(float) * (size_t)(k * t->target_size));
        return 0;
    }
    memset(target, 0, sizeof(float) * (size_t)(k * t->out_width));
    for (int64_t i = 0; i < k; i++) {
        if (!(labels[i] >= 0.0f && labels[i] < (float)t->out_width)) return -1;
        target[i * t->out_width + (int64_t)labels[i]] = 1.0f;
    }
    return 0;
}

static int64_t count_correct(const eval_task *t, const float *out, const float *labels, int64_t k) {
    int64_t correct = 0;
    for (int64_t i = 0; i < k; i++) {
        const float *row = out + i * t->out_width;
        int64_t predicted = 0;
        if (t->out_width == 1) {
            predicted = row[0] >= t->threshold;
        } else {
            /* torch.argmax: the first of equal maxima. */
            for (int64_t c = 1; c < t->out_width; c++)
                if (row[c] > row[predicted]) predicted = c;
        }
        correct += predicted == (int64_t)labels[i];
    }
    return correct;
}

typedef struct eval_result {
    int64_t n, correct;
    double loss, seconds;
} eval_result;

/* Runs the compiled model over every example of ds in batches of `batch`. */
static int run_eval(sn_model *m, const char *model_path, const sn_dataset *ds, const eval_task *t,
                    int64_t batch, eval_result *r) {
    sn_graph *g = sn_model_graph(m);
    const int64_t n = sn_dataset_count(ds);
    int64_t *idx = malloc(sizeof *idx * (size_t)batch);
    float *labels = malloc(sizeof *labels * (size_t)(batch * t->target_size));
    int status = 0;
    if (!idx || !labels) {
        status = cli_error("out of memory for a batch of %lld", (long long)batch);
        goto done;
    }
    sn_graph_set_training(g, 0);
    double loss_sum = 0.0, start = cli_now();
    r->correct = 0;
    for (int64_t first = 0; first < n && !status; first += batch) {
        const int64_t k = n - first < batch ? n - first : batch;
        for (int64_t i = 0; i < k; i++) idx[i] = first + i;
        if (sn_graph_set_batch(g, k) != SN_OK) {
            status = cli_library_error(model_path);
            break;
        }
        float *x = sn_graph_value(g, sn_model_input_node(m));
        float *target = sn_graph_value(g, sn_model_target_node(m));
        if (sn_dataset_batch(ds, idx, k, x, labels) != SN_OK) {
            status = cli_library_error(sn_dataset_source(ds));
            break;
        }
        if (fill_targets(t, labels, k, target)) {
            status = cli_error("%s: a label outside [0, %lld) in examples %lld to %lld",
                               sn_dataset_source(ds), (long long)t->out_width, (long long)first,
                               (long long)(first + k - 1));
            break;
        }
        if (sn_graph_forward(g) != SN_OK) {
            status = cli_library_error(model_path);
            break;
        }
        loss_sum += sn_graph_value(g, sn_model_loss_node(m))[0];
        if (t->n_classes)
            r->correct += count_correct(t, sn_graph_value(g, sn_model_output_node(m)), labels, k);
    }
    r->seconds = cli_now() - start;
    r->n = n;
    const int per_example = t->loss == SN_LOSS_CROSS_ENTROPY || t->loss == SN_LOSS_NLL;
    r->loss = loss_sum / ((double)n * (double)(per_example ? 1 : t->out_width));
done:
    free(idx);
    free(labels);
    return status;
}

static int print_json(const char *model, const char *data, const char *split, const eval_task *t,
                      const eval_result *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return cli_error("out of memory");
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddNumberToObject(o, "n", (double)r->n);
    cJSON_AddStringToObject(o, "loss_name", sn_loss_name(t->loss));
    cJSON_AddNumberToObject(o, "loss", r->loss);
    if (t->n_classes) {
        cJSON_AddNumberToObject(o, "accuracy", (double)r->correct / (double)r->n);
        cJSON_AddNumberToObject(o, "correct", (double)r->correct);
    } else {
        cJSON_AddNullToObject(o, "accuracy");
    }
    cJSON_AddNumberToObject(o, "seconds", r->seconds);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return cli_error("out of memory");
    puts(text);
    cJSON_free(text);
    return 0;
}

static void print_text(const char *model, const char *data, const char *split, const eval_task *t,
                       const eval_result *r) {
    printf("model     %s\n", model);
    printf("data      %s (%s, %lld examples)\n", data, split, (long long)r->n);
    printf("loss      %.6f (%s, mean)\n", r->loss, sn_loss_name(t->loss));
    if (t->n_classes)
        printf("accuracy  %.4f (%lld of %lld)\n", (double)r->correct / (double)r->n,
               (long long)r->correct, (long long)r->n);
    printf("time      %.3g s\n", r->seconds);
}

/* One example's shape for the model: a model file's own, else --input-shape,
 * else the data's; the data must have as many values per example. */
static int sample_shape(const cli_model *cm, const char *model_path, const sn_shape *given,
                        const sn_dataset *ds, sn_shape *out) {
    const sn_shape *data_shape = sn_dataset_sample_shape(ds);
    *out = cm->is_file ? cm->saved_shape : given->ndim ? *given : *data_shape;
    if (sn_shape_numel(out) != sn_shape_numel(data_shape)) {
        char want[64], got[64];
        return cli_error("%s: examples of shape %s, but %s takes %s", sn_dataset_source(ds),
                         cli_format_shape(data_shape, got, sizeof got), model_path,
                         cli_format_shape(out, want, sizeof want));
    }
    return 0;
}

int cli_eval(int argc, char **argv) {
    cli_model_args margs = {.command = "eval"};
    const char *data = NULL, *loss_name = NULL;
    int64_t batch = 256, limit = 0, threads = 0;
    int json = 0;
    sn_shape input_shape = {0};
    cli_option options[] = {
        CLI_MODEL_OPTIONS(margs),
        CLI_OPTION("--data", "DATA", CLI_STRING, &data,
                   "IDX directory, .csv or .safetensors (x, y[, x_test, y_test])"),
        CLI_OPTION("--loss", "NAME", CLI_STRING, &loss_name,
                   "cross_entropy|nll|bce|bce_with_logits|mse (default: see below)"),
        CLI_BATCH_OPTION(batch, "256"),
        CLI_INT_OPTION("--limit", "N", &limit, 1, INT64_MAX,
                       "evaluate only the first N examples of the split"),
        CLI_OPTION("--input-shape", "CxHxW", CLI_SHAPE, &input_shape,
                   "a spec's example shape when it differs from the data's (same size)"),
        CLI_THREADS_OPTION(threads),
        CLI_OPTION("--json", NULL, CLI_FLAG, &json,
                   "print one JSON object instead (fields: docs/cli.md)"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse_model_command(&cli_eval_command, options, n_options, argc, argv, &margs);
    if (status >= 0) return status;
    if (!data) return cli_usage_error("eval", "--data is required");
    eval_task task = {.loss = SN_LOSS_NONE};
    if (loss_name && (sn_loss_parse(loss_name, &task.loss) != SN_OK || task.loss == SN_LOSS_NONE))
        return cli_usage_error("eval", "--loss: unknown loss '%s'", loss_name);
    cli_set_threads(threads);

    cli_model cm;
    if ((status = cli_model_open(&margs, &cm))) return status;
    sn_dataset *train = NULL, *test = NULL;
    sn_data_opts dopts = sn_data_defaults();
    dopts.limit = limit;
    if (sn_dataset_load(data, &dopts, &train, &test) != SN_OK) {
        status = cli_library_error(data);
        goto done;
    }
    const sn_dataset *ds = test ? test : train;
    const char *split = test ? "test" : "all";
    if (sn_dataset_count(ds) < 1) {
        status = cli_error("%s: no examples to evaluate", data);
        goto done;
    }
    sn_shape sample, out;
    if ((status = sample_shape(&cm, margs.path, &input_shape, ds, &sample))) goto done;
    /* Compile without a loss first: the output's shape decides the default loss. */
    const int64_t n = sn_dataset_count(ds), compiled_batch = n < batch ? n : batch;
    if ((status = cli_model_prepare(&cm, &margs, &sample, compiled_batch, SN_LOSS_NONE))) goto done;
    if (sn_model_output_shape(cm.model, &out) != SN_OK) {
        status = cli_library_error(margs.path);
        goto done;
    }
    const sn_module_kind last = last_kind(cm.model);
    task.n_classes = sn_dataset_num_classes(ds);
    task.target_size = sn_dataset_target_size(ds);
    task.out_width = sn_shape_numel(&out);
    task.threshold = last == SN_MOD_SIGMOID || last == SN_MOD_STEP ? 0.5f : 0.0f;
    if (task.loss == SN_LOSS_NONE && (status = default_loss(margs.path, last, &task, &task.loss)))
        goto done;
    if ((status = check_task(margs.path, data, &out, &task))) goto done;
    if ((status = cli_model_compile(&cm, margs.path, &sample, compiled_batch, task.loss)))
        goto done;
    eval_result result = {0};
    if ((status = run_eval(cm.model, margs.path, ds, &task, compiled_batch, &result))) goto done;
    if (json)
        status = print_json(margs.path, data, split, &task, &result);
    else
        print_text(margs.path, data, split, &task, &result);

done:
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    cli_model_close(&cm);
    return status;
}

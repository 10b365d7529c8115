/*
 * sinapsi eval: a model's loss and accuracy on a dataset's test split (or on
 * the whole data when it has none), in evaluation mode.
 *
 * The loss and the accuracy are sn_task_make's and sn_evaluate's
 * (sinapsi/train.h), shared with the trainer: PyTorch's reduction='mean' over
 * the whole split.
 */
#include <cjson/cJSON.h>

#include "cli.h"
#include "sinapsi/train.h"

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

static int print_json(const char *model, const char *data, const char *split, const sn_task *t,
                      const sn_eval_result *r) {
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

static void print_text(const char *model, const char *data, const char *split, const sn_task *t,
                       const sn_eval_result *r) {
    printf("model     %s\n", model);
    printf("data      %s (%s, %lld examples)\n", data, split, (long long)r->n);
    printf("loss      %.6f (%s, mean)\n", r->loss, sn_loss_name(t->loss));
    if (t->n_classes)
        printf("accuracy  %.4f (%lld of %lld)\n", (double)r->correct / (double)r->n,
               (long long)r->correct, (long long)r->n);
    printf("time      %.3g s\n", r->seconds);
}

int cli_eval(int argc, char **argv) {
    cli_model_args margs = {.command = "eval"};
    const char *data = NULL, *loss_name = NULL, *normalize = "auto";
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
        CLI_OPTION("--normalize", "NAME", CLI_STRING, &normalize,
                   "auto|none|unit|symmetric|standard, as the model was trained (default auto)"),
        CLI_THREADS_OPTION(threads),
        CLI_OPTION("--json", NULL, CLI_FLAG, &json,
                   "print one JSON object instead (fields: docs/cli.md)"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse_model_command(&cli_eval_command, options, n_options, argc, argv, &margs);
    if (status >= 0) return status;
    if (!data) return cli_usage_error("eval", "--data is required");
    sn_loss_kind loss = SN_LOSS_NONE;
    if (loss_name && (sn_loss_parse(loss_name, &loss) != SN_OK || loss == SN_LOSS_NONE))
        return cli_usage_error("eval", "--loss: unknown loss '%s'", loss_name);
    sn_data_opts dopts = sn_data_defaults();
    dopts.limit = limit;
    if (sn_normalize_parse(normalize, &dopts.normalize) != SN_OK)
        return cli_usage_error("eval", "--normalize: %s", sn_last_error());
    cli_set_threads(threads);

    cli_model cm;
    if ((status = cli_model_open(&margs, &cm))) return status;
    sn_dataset *train = NULL, *test = NULL;
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
    sn_shape sample;
    if ((status = cli_model_sample_shape(&cm, margs.path, &input_shape, ds, &sample))) goto done;
    /* Compile without a loss first: the output's shape decides the default loss. */
    const int64_t n = sn_dataset_count(ds), compiled_batch = n < batch ? n : batch;
    if ((status = cli_model_prepare(&cm, &margs, &sample, compiled_batch, SN_LOSS_NONE))) goto done;
    sn_task task;
    if (sn_task_make(cm.model, ds, loss, &task) != SN_OK) {
        status = cli_library_error(margs.path);
        goto done;
    }
    if ((status = cli_model_compile(&cm, margs.path, &sample, compiled_batch, task.loss)))
        goto done;
    sn_eval_result result;
    if (sn_evaluate(cm.model, ds, &task, &result) != SN_OK) {
        status = cli_library_error(margs.path);
        goto done;
    }
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

/*
 * sinapsi report: draws a finished run (its --log) as pictures and an
 * index.html, with sn_report_write (sinapsi/report.h). With --model and
 * --data it also evaluates the model on the test split for the confusion
 * matrix, the misclassified examples and the first layer's filters.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "report/run_history.h"
#include "sinapsi/report.h"

const cli_command cli_report_command = {
    .name = "report",
    .synopsis = "RUN.jsonl DIR [--model MODEL.safetensors --data DATA] [options]",
    .summary = "draws a training run's log (and model) as pictures in DIR/index.html",
    .description =
        "Reads the JSON-lines log of 'sinapsi train --log RUN.jsonl' and writes into DIR\n"
        "(created if missing) loss and accuracy curves, per-layer health curves when the\n"
        "log has them, and index.html with the run's settings. With --model and --data:\n"
        "the confusion matrix on the test split, the misclassified test images and the\n"
        "first Conv2d's filters. The log and DIR come first.\n",
    .details = "Class names: Fashion-MNIST's ten when the data is recognised (its path names\n"
               "it, 10 classes, 28x28 examples), else --class-names, else numbers. The data is\n"
               "read with the normalisation the log's settings line records (the default\n"
               "for logs without one).\n"
               "The files: docs/report.md.\n",
    .run = cli_report,
};

/* Splits "A,B,C" into names (pointing into a copy, *copy, that the caller frees). */
static int split_names(const char *text, char **copy, const char **names, int max, int *n) {
    *copy = strdup(text);
    if (!*copy) return cli_error("out of memory");
    *n = 0;
    for (char *p = *copy; p; (*n)++) {
        if (*n == max) return cli_usage_error("report", "--class-names: more than %d names", max);
        names[*n] = p;
        p = strchr(p, ',');
        if (p) *p++ = '\0';
        if (!names[*n][0]) return cli_usage_error("report", "--class-names: an empty name");
    }
    return 0;
}

enum { MAX_NAMES = 1000 };

/* The normalisation the run trained with, from its settings line (older logs
 * without one: the default), so the test images are read as in training. */
static int logged_normalization(const char *log, sn_normalize *out) {
    sn_run_history h;
    if (sn_run_history__read(log, &h) != SN_OK) return cli_library_error(NULL);
    const cJSON *name =
        h.settings ? cJSON_GetObjectItemCaseSensitive(h.settings, "normalize") : NULL;
    int status = 0;
    if (cJSON_IsString(name) && sn_normalize_parse(name->valuestring, out) != SN_OK)
        status = cli_error("%s: %s", log, sn_last_error());
    sn_run_history__free(&h);
    return status;
}

int cli_report(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *class_names = NULL;
    int64_t limit = 0, max_images = 32, threads = 0;
    cli_option options[] = {
        CLI_OPTION("--model", "MODEL.safetensors", CLI_STRING, &model,
                   "the trained model (a model file, as train --out saves)"),
        CLI_OPTION("--data", "DATA", CLI_STRING, &data, "the data it was trained on (test split)"),
        CLI_INT_OPTION("--limit", "N", &limit, 1, INT64_MAX, "use only the first N test examples"),
        CLI_OPTION("--class-names", "A,B,...", CLI_STRING, &class_names,
                   "names of the classes, in label order (or fashion-mnist)"),
        CLI_INT_OPTION("--max-images", "N", &max_images, 0, 10000,
                       "misclassified images to show (default 32)"),
        CLI_THREADS_OPTION(threads),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    /* Two positional arguments first: cli_parse takes one, so it parses the rest. */
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        for (int i = 1; i < argc; i++)
            if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
                return cli_parse(&cli_report_command, options, n_options, argc, argv, NULL);
        return cli_usage_error("report", "give the log and the directory first: RUN.jsonl DIR");
    }
    const char *log = argv[1], *dir = argv[2];
    int status = cli_parse(&cli_report_command, options, n_options, argc - 2, argv + 2, NULL);
    if (status >= 0) return status;
    if (!model != !data) return cli_usage_error("report", "--model and --data go together");
    cli_set_threads(threads);

    sn_report_opts r = sn_report_defaults();
    r.log = log;
    r.max_misclassified = (int)max_images;
    const char *names[MAX_NAMES];
    char *names_copy = NULL;
    if (class_names && strcmp(class_names, "fashion-mnist")) {
        if ((status = split_names(class_names, &names_copy, names, MAX_NAMES, &r.n_class_names))) {
            free(names_copy);
            return status;
        }
        r.class_names = names;
    } else if (class_names) {
        r.class_names = sn_report_fashion_mnist;
        r.n_class_names = 10;
    }
    cli_model cm = {0};
    sn_dataset *train = NULL, *test = NULL;
    if (model) {
        sn_data_opts d = sn_data_defaults();
        d.limit = limit;
        if ((status = logged_normalization(log, &d.normalize))) goto done;
        sn_shape sample, none = {0};
        if ((status = cli_model_load(model, &cm))) goto done;
        if (!cm.is_file) {
            status = cli_error("%s: a spec has no weights: give the model file train --out saved",
                               model);
            goto done;
        }
        if (sn_dataset_load(data, &d, &train, &test) != SN_OK) {
            status = cli_library_error(data);
            goto done;
        }
        if (!test) {
            status = cli_error("%s: the data has no test split to evaluate on", data);
            goto done;
        }
        if ((status = cli_model_sample_shape(&cm, model, &none, test, &sample)) ||
            (status = cli_model_compile(&cm, model, &sample, 256, SN_LOSS_NONE)))
            goto done;
        r.model = cm.model;
        r.test = test;
    }
    if (sn_report_write(dir, &r) != SN_OK) {
        status = cli_library_error(NULL);
        goto done;
    }
    printf("report: %s/index.html\n", dir);
done:
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    cli_model_close(&cm);
    free(names_copy);
    return status;
}

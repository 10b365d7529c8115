/*
 * sinapsi perceptron: trains a perceptron by its own rule (not backprop) and
 * reports mistakes per epoch, convergence, and accuracy. See docs/perceptron.md.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_learn.h"

const cli_command cli_perceptron_command = {
    .name = "perceptron",
    .synopsis = "--data DATA [--classes A,B] [--epochs N] [--lr X] [--seed S] [--averaged] "
                "[--out MODEL.safetensors] [options]",
    .summary = "trains a perceptron (binary, one-vs-rest or multi-class)",
    .description =
        "Trains a perceptron by the rule w <- w + lr (y - f(w.x + b)) x, b <- b + lr (y - f(..)),\n"
        "f(z) = 1 if z >= 0 else 0, one example at a time, until an epoch without a\n"
        "mistake (convergence) or --epochs. Prints the mistakes of each epoch, whether\n"
        "and when it converged, and the train and test accuracy.\n",
    .details = "Labels 0 and 1 give a binary perceptron, saved as Linear(d, 1) + Step(); with\n"
               "--classes A,B the examples of class A (as 0) and B (as 1) are used and the rest\n"
               "left out. More classes give one-vs-rest (or --multiclass), saved as Linear(d, k)\n"
               "alone: the prediction is the arg-max of the scores, as `sinapsi eval` takes it.\n"
               "On the same data `sinapsi eval --model MODEL` reports the same accuracy (with\n"
               "--classes, on data whose labels are 0 and 1). Exit status 0 whether or not it\n"
               "converged. See docs/perceptron.md.\n",
    .run = cli_perceptron,
};

/* "A,B": two class labels >= 0. */
static int parse_classes(const char *text, int classes[2]) {
    char *end;
    long a = strtol(text, &end, 10);
    if (end == text || *end != ',' || text[0] < '0' || text[0] > '9') return -1;
    const char *second = end + 1;
    long b = strtol(second, &end, 10);
    if (end == second || *end || second[0] < '0' || second[0] > '9') return -1;
    if (a > 1000000 || b > 1000000) return -1;
    classes[0] = (int)a;
    classes[1] = (int)b;
    return 0;
}

static void print_epoch(const sn_perceptron_epoch *e, void *user) {
    (void)user;
    printf("epoch %-4d mistakes %lld of %lld\n", e->epoch, (long long)e->mistakes,
           (long long)e->examples);
    fflush(stdout);
}

static const char *kind_name(int kind) {
    switch (kind) {
    case SN_PERCEPTRON_BINARY:
        return "binary";
    case SN_PERCEPTRON_ONE_VS_REST:
        return "one-vs-rest";
    case SN_PERCEPTRON_MULTICLASS:
        return "multi-class";
    }
    return "?";
}

static void print_outcome(const sn_perceptron_result *r, const sn_perceptron_opts *o) {
    if (r->converged)
        printf("converged at epoch %d: an epoch without a mistake (%lld mistakes in all)\n",
               r->epochs, (long long)r->mistakes);
    else
        printf("did not converge in %d epochs: %lld mistakes in the last epoch (%lld in all); "
               "the data may not be linearly separable, or it needs more epochs\n",
               r->epochs, (long long)r->last_mistakes, (long long)r->mistakes);
    if (o->averaged) printf("model     the average of the weights over every step\n");
}

static int report_accuracy(sn_perceptron *p, const char *label, const sn_dataset *ds,
                           const char *data) {
    int64_t correct, count;
    if (sn_perceptron_accuracy(p, ds, &correct, &count) != SN_OK) return cli_library_error(data);
    cli_learn_print_accuracy(label, correct, count);
    return 0;
}

int cli_perceptron(int argc, char **argv) {
    const char *data = NULL, *classes_text = NULL, *lr_text = NULL, *out = NULL;
    int64_t epochs = 100, limit = 0;
    uint64_t seed = 0;
    int averaged = 0, multiclass = 0, random_init = 0, no_shuffle = 0;
    cli_option options[] = {
        CLI_OPTION("--data", "DATA", CLI_STRING, &data,
                   "IDX directory, .csv or .safetensors (x, y[, x_test, y_test])"),
        CLI_OPTION("--classes", "A,B", CLI_STRING, &classes_text,
                   "binary: class A (as 0) against class B (as 1)"),
        CLI_INT_OPTION("--epochs", "N", &epochs, 1, 1000000,
                       "stop after N epochs if none is mistake-free (default 100)"),
        CLI_OPTION("--lr", "X", CLI_STRING, &lr_text, "learning rate eta > 0 (default 1)"),
        CLI_OPTION("--seed", "S", CLI_UINT64, &seed, "seed of the shuffle and --random-init"),
        CLI_OPTION("--averaged", NULL, CLI_FLAG, &averaged,
                   "keep the average of the weights over every step"),
        CLI_OPTION("--multiclass", NULL, CLI_FLAG, &multiclass,
                   "the multi-class perceptron instead of one-vs-rest"),
        CLI_OPTION("--random-init", NULL, CLI_FLAG, &random_init,
                   "start from torch's nn.Linear initialisation instead of zero"),
        CLI_OPTION("--no-shuffle", NULL, CLI_FLAG, &no_shuffle,
                   "examples in file order (default: a new order every epoch)"),
        CLI_INT_OPTION("--limit", "N", &limit, 1, INT64_MAX,
                       "use only the first N examples of each split"),
        CLI_OPTION("--out", "MODEL.safetensors", CLI_STRING, &out, "save the trained model"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse(&cli_perceptron_command, options, n_options, argc, argv, NULL);
    if (status >= 0) return status;
    if (!data) return cli_usage_error("perceptron", "--data is required");
    sn_perceptron_opts o = sn_perceptron_defaults();
    if (classes_text && parse_classes(classes_text, o.classes))
        return cli_usage_error("perceptron", "--classes: '%s' is not two labels like 1,7",
                               classes_text);
    if (lr_text && (status = cli_learn_parse_rate("perceptron", "--lr", lr_text, 0, &o.lr)))
        return status;
    if (multiclass && classes_text)
        return cli_usage_error("perceptron", "--multiclass and --classes do not go together");
    o.max_epochs = (int)epochs;
    o.seed = seed;
    o.averaged = averaged;
    o.random_init = random_init;
    o.shuffle = !no_shuffle;
    o.kind = multiclass ? SN_PERCEPTRON_MULTICLASS : SN_PERCEPTRON_AUTO;
    o.on_epoch = print_epoch;

    sn_dataset *train = NULL, *test = NULL;
    if ((status = cli_learn_load(data, limit, &train, &test))) return status;
    sn_perceptron *p = NULL;
    sn_perceptron_result r;
    const int64_t features = sn_shape_numel(sn_dataset_sample_shape(train));
    if (o.classes[0] >= 0)
        printf("data      %s: class %d (as 0) against class %d (as 1), %lld features\n", data,
               o.classes[0], o.classes[1], (long long)features);
    else
        printf("data      %s: %lld examples, %d classes, %lld features\n", data,
               (long long)sn_dataset_count(train), sn_dataset_num_classes(train),
               (long long)features);
    const int kind = multiclass ? o.kind
                     : o.classes[0] >= 0 || sn_dataset_num_classes(train) <= 2
                         ? SN_PERCEPTRON_BINARY
                         : SN_PERCEPTRON_ONE_VS_REST;
    printf("rule      %s perceptron, lr %g, %s start, %s\n", kind_name(kind), o.lr,
           random_init ? "random" : "zero", o.shuffle ? "shuffled every epoch" : "file order");
    if (sn_perceptron_train(&p, train, &o, &r) != SN_OK) {
        status = cli_library_error(data);
        goto done;
    }
    print_outcome(&r, &o);
    if ((status = report_accuracy(p, "train", train, data))) goto done;
    if (test && (status = report_accuracy(p, "test", test, data))) goto done;
    if (out) {
        if (sn_model_save(sn_perceptron_model(p), out) != SN_OK) {
            status = cli_library_error(out);
            goto done;
        }
        printf("saved     %s (%s)\n", out,
               r.kind == SN_PERCEPTRON_BINARY ? "Linear + Step" : "Linear: arg-max of the scores");
    }

done:
    sn_perceptron_destroy(p);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    return status;
}

/*
 * sinapsi hebb: Hebbian learning (plain Hebb, Oja, Sanger) on the centred
 * examples of a dataset; prints the weight norms per epoch and, with --check,
 * the cosine of each unit with the principal component it should find. See
 * docs/hebb.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli_learn.h"

const cli_command cli_hebb_command = {
    .name = "hebb",
    .synopsis = "--data DATA [--rule hebb|oja|sanger] [--components K] [--epochs N] [--lr X] "
                "[--seed S] [--check] [--out FILE.safetensors] [options]",
    .summary = "Hebbian learning: plain Hebb, Oja's rule, Sanger's rule",
    .description = "Runs a Hebbian rule on a Linear layer y = Wx over the training examples minus\n"
                   "their mean, one example at a time, and prints the norm of each unit's weights\n"
                   "after every epoch:\n"
                   "  hebb    dw = lr y x                      grows without bound\n"
                   "  oja     dw = lr y (x - y w)              -> the first principal component\n"
                   "  sanger  dw_j = lr y_j (x - sum_{i<=j} y_i w_i)   -> the first K components\n",
    .details = "The rate of epoch e (from 0) is lr / (1 + decay e). --check computes the\n"
               "principal components by power iteration on the covariance and prints each\n"
               "unit's |cosine| with its component (the first one for every unit of the\n"
               "plain rule). --out saves Linear(d, K) with bias -W.mean, whose outputs are\n"
               "the projections W(x - mean). See docs/hebb.md.\n",
    .run = cli_hebb,
};

static void print_epoch(const sn_hebb_epoch *e, void *user) {
    (void)user;
    printf("epoch %-4d lr %-10.4g |w|", e->epoch, e->lr);
    for (int j = 0; j < e->components; j++) printf(" %.6g", e->norm[j]);
    printf("\n");
    fflush(stdout);
}

/* |cosine| of each unit with its principal component, and the variances. */
static int check_components(const sn_hebb *h, sn_hebb_rule rule, const sn_dataset *ds,
                            const char *data) {
    const int k = sn_hebb_components(h);
    const int64_t d = sn_hebb_features(h);
    const int n_pc = rule == SN_HEBB_PLAIN ? 1 : k;
    double *pc = malloc(sizeof *pc * (size_t)(n_pc * d)),
           *variance = malloc(sizeof *variance * (size_t)n_pc);
    int status = 0;
    if (!pc || !variance)
        status = cli_error("out of memory for %d components", n_pc);
    else if (sn_principal_components(ds, n_pc, 10000, pc, variance) != SN_OK)
        status = cli_library_error(data);
    for (int j = 0; j < k && !status; j++) {
        const int c = rule == SN_HEBB_PLAIN ? 0 : j;
        const float *w = sn_hebb_weights(h) + j * d;
        double dot = 0.0, norm = 0.0;
        for (int64_t i = 0; i < d; i++) {
            dot += (double)w[i] * pc[c * d + i];
            norm += (double)w[i] * w[i];
        }
        printf("check     unit %d: |cosine| %.5f with principal component %d (variance %.4g), "
               "|w| %.5f\n",
               j + 1, fabs(dot) / sqrt(norm), c + 1, variance[c], sqrt(norm));
    }
    free(pc);
    free(variance);
    return status;
}

int cli_hebb(int argc, char **argv) {
    const char *data = NULL, *rule_text = NULL, *lr_text = NULL, *decay_text = NULL, *out = NULL;
    int64_t components = 1, epochs = 10, limit = 0;
    uint64_t seed = 0;
    int check = 0, no_shuffle = 0;
    cli_option options[] = {
        CLI_OPTION("--data", "DATA", CLI_STRING, &data,
                   "IDX directory, .csv or .safetensors (x, y[, x_test, y_test])"),
        CLI_OPTION("--rule", "NAME", CLI_STRING, &rule_text,
                   "hebb|oja|sanger (default oja for one component, sanger for more)"),
        CLI_INT_OPTION("--components", "K", &components, 1, 100000, "units to learn (default 1)"),
        CLI_INT_OPTION("--epochs", "N", &epochs, 1, 1000000, "passes over the data (default 10)"),
        CLI_OPTION("--lr", "X", CLI_STRING, &lr_text,
                   "learning rate of the first epoch (default 0.001)"),
        CLI_OPTION("--lr-decay", "X", CLI_STRING, &decay_text,
                   "rate of epoch e is lr / (1 + X e) (default 1)"),
        CLI_OPTION("--seed", "S", CLI_UINT64, &seed, "seed of the initial weights and the shuffle"),
        CLI_OPTION("--no-shuffle", NULL, CLI_FLAG, &no_shuffle,
                   "examples in file order (default: a new order every epoch)"),
        CLI_INT_OPTION("--limit", "N", &limit, 1, INT64_MAX,
                       "use only the first N training examples"),
        CLI_OPTION("--check", NULL, CLI_FLAG, &check,
                   "compare with the principal components (power iteration)"),
        CLI_OPTION("--out", "FILE.safetensors", CLI_STRING, &out,
                   "save the model Linear(d, K): outputs W(x - mean)"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse(&cli_hebb_command, options, n_options, argc, argv, NULL);
    if (status >= 0) return status;
    if (!data) return cli_usage_error("hebb", "--data is required");
    sn_hebb_opts o = sn_hebb_defaults();
    o.rule = components > 1 ? SN_HEBB_SANGER : SN_HEBB_OJA;
    if (rule_text && sn_hebb_rule_parse(rule_text, &o.rule) != SN_OK)
        return cli_usage_error("hebb", "--rule: unknown rule '%s' (hebb, oja or sanger)",
                               rule_text);
    if (o.rule == SN_HEBB_OJA && components > 1)
        return cli_usage_error("hebb",
                               "--rule oja learns one component; use --rule sanger "
                               "for %lld",
                               (long long)components);
    if (lr_text && (status = cli_learn_parse_rate("hebb", "--lr", lr_text, 0, &o.lr)))
        return status;
    if (decay_text &&
        (status = cli_learn_parse_rate("hebb", "--lr-decay", decay_text, 1, &o.lr_decay)))
        return status;
    o.components = (int)components;
    o.max_epochs = (int)epochs;
    o.seed = seed;
    o.shuffle = !no_shuffle;
    o.on_epoch = print_epoch;

    sn_dataset *train = NULL;
    if ((status = cli_learn_load(data, limit, &train, NULL))) return status;
    printf("data      %s: %lld examples, %lld features, centred\n", data,
           (long long)sn_dataset_count(train),
           (long long)sn_shape_numel(sn_dataset_sample_shape(train)));
    printf("rule      %s, %d unit%s, lr %g, decay %g\n", sn_hebb_rule_name(o.rule), o.components,
           o.components > 1 ? "s" : "", o.lr, o.lr_decay);
    sn_hebb *h = NULL;
    if (sn_hebb_train(&h, train, &o) != SN_OK) {
        status = cli_library_error(data);
        goto done;
    }
    if (check && (status = check_components(h, o.rule, train, data))) goto done;
    if (out) {
        if (sn_model_save(sn_hebb_model(h), out) != SN_OK) {
            status = cli_library_error(out);
            goto done;
        }
        printf("saved     %s (Linear(%lld, %d): outputs W(x - mean))\n", out,
               (long long)sn_hebb_features(h), o.components);
    }

done:
    sn_hebb_destroy(h);
    sn_dataset_destroy(train);
    return status;
}

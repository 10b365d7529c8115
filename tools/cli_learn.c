/*
 * Shared parts of the learning-rule commands (cmd_perceptron.c, cmd_hebb.c).
 */
#include "cli_learn.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

int cli_learn_parse_rate(const char *command, const char *option, const char *text, int allow_zero,
                         double *out) {
    char *end;
    errno = 0;
    /* strtod skips leading spaces and takes "inf" and "nan": refuse them. */
    const double v = text && text[0] != ' ' ? strtod(text, &end) : NAN;
    if (!text || errno || end == text || *end || !isfinite(v) || v < 0.0 ||
        (!allow_zero && v == 0.0))
        return cli_usage_error(command, "%s: '%s' is not a number %s 0", option, text ? text : "",
                               allow_zero ? ">=" : ">");
    *out = v;
    return 0;
}

int cli_learn_load(const char *data, int64_t limit, sn_dataset **train, sn_dataset **test) {
    sn_data_opts o = sn_data_defaults();
    o.limit = limit;
    if (sn_dataset_load(data, &o, train, test) != SN_OK) return cli_library_error(data);
    if (sn_dataset_count(*train) < 1) {
        sn_dataset_destroy(*train);
        sn_dataset_destroy(*test);
        return cli_error("%s: no training examples", data);
    }
    return 0;
}

void cli_learn_print_accuracy(const char *label, int64_t correct, int64_t count) {
    printf("%-5s accuracy  %.4f (%lld of %lld)\n", label,
           count ? (double)correct / (double)count : 0.0, (long long)correct, (long long)count);
}

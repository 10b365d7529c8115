/*
 * What `sinapsi perceptron` and `sinapsi hebb` share: a strict parser for a
 * positive real option (the learning rate) and loading the data they learn
 * from.
 */
#ifndef SN_TOOLS_CLI_LEARN_H
#define SN_TOOLS_CLI_LEARN_H

#include "cli.h"

/* text as a finite double > 0 (or >= 0 when allow_zero): the whole string,
 * no spaces. Returns 0, or the usage error's exit status (already reported,
 * naming command and option). */
int cli_learn_parse_rate(const char *command, const char *option, const char *text, int allow_zero,
                         double *out);

/* Loads DATA normalised as the other commands do ([0, 1] for pixels), the
 * first `limit` examples of each split when limit > 0; *test may come back
 * NULL. Returns 0 or the exit status (reported). */
int cli_learn_load(const char *data, int64_t limit, sn_dataset **train, sn_dataset **test);

/* Prints "<label> accuracy  0.9995 (1999 of 2000)". */
void cli_learn_print_accuracy(const char *label, int64_t correct, int64_t count);

#endif

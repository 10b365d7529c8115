/*
 * sinapsi: the command line. This file only dispatches; each command lives in
 * tools/cmd_<name>.c, the shared option parsing and error lines in
 * tools/cli_args.c. See docs/cli.md.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command *const commands[] = {
    &cli_forward_command,    &cli_info_command, &cli_eval_command,   &cli_train_command,
    &cli_perceptron_command, &cli_hebb_command, &cli_report_command,
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *out) {
    fprintf(out, "usage: sinapsi <command> [options]\n"
                 "\n"
                 "sinapsi is a deep-learning library and trainer in C11.\n"
                 "\n"
                 "commands:\n");
    for (int i = 0; i < n_commands; i++) {
        /* The first line of the summary. */
        const char *summary = commands[i]->summary;
        int len = (int)strcspn(summary, "\n");
        fprintf(out, "  %-10s %.*s\n", commands[i]->name, len, summary);
    }
    fprintf(out, "\n"
                 "  --help, -h      show this help; 'sinapsi <command> --help' for a command\n"
                 "  --version, -V   show the version and the GEMM backend\n"
                 "\n"
                 "Exit status: 0 success, 1 an error (one line on stderr), 2 a usage error.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        printf("sinapsi %s (gemm: %s)\n", sn_version(), sn_gemm_backend());
        return CLI_EXIT_OK;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(name, commands[i]->name)) return commands[i]->run(argc - 1, argv + 1);
    return cli_usage_error(NULL, "unknown command '%s'", name);
}

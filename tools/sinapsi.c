/*
 * sinapsi: the command-line trainer. For now it reports its version and build;
 * train/eval/forward/info arrive with the issues that build them.
 */
#include <stdio.h>
#include <string.h>

#include "sinapsi/sinapsi.h"

static void usage(FILE *out) {
    fprintf(out, "usage: sinapsi <command> [options]\n"
                 "\n"
                 "sinapsi is a deep-learning library and trainer in C11.\n"
                 "\n"
                 "commands:\n"
                 "  --help, -h      show this help\n"
                 "  --version, -V   show the version and the GEMM backend\n"
                 "\n"
                 "train, eval, forward and info are not built yet.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("sinapsi %s (gemm: %s)\n", sn_version(), sn_gemm_backend());
        return 0;
    }
    fprintf(stderr, "sinapsi: unknown command '%s' (try 'sinapsi --help')\n", argv[1]);
    return 2;
}

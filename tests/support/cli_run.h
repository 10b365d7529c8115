/* Running the built `sinapsi` as a child process in the tests: its exit
 * status and everything it printed. stdout and stderr go through files in
 * the test's temporary directory (support/temp_dir.h), which must exist. */
#ifndef SN_TEST_CLI_RUN_H
#define SN_TEST_CLI_RUN_H

typedef struct sn_cli_run {
    int status; /* exit status, or 128 + signal */
    char *out, *err;
} sn_cli_run;

/* The whole file, NUL-terminated, or NULL; the caller frees it. */
char *sn_slurp(const char *path);

/* Runs the program cli with the NULL-terminated args (at most 62), in the
 * current directory. Fails the test if it cannot be run. Free the result
 * with sn_cli_run_free. */
sn_cli_run sn_cli_run_args(const char *cli, const char *const *args);
void sn_cli_run_free(sn_cli_run *r);

#endif

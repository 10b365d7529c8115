/* Running the built sinapsi in the tests (see cli_run.h). */
#include "support/cli_run.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/temp_dir.h"
#include "support/test_support.h"

extern char **environ;

char *sn_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0, got;
    char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *bigger = realloc(buf, cap *= 2);
            if (!bigger) free(buf);
            buf = bigger;
        }
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    return buf;
}

sn_cli_run sn_cli_run_args(const char *cli, const char *const *args) {
    const char *out_path = sn_temp_path("cli_stdout"), *err_path = sn_temp_path("cli_stderr");
    const char *argv[64] = {cli};
    int argc = 1;
    for (; args[argc - 1]; argc++) {
        assert_true(argc < 63);
        argv[argc] = args[argc - 1];
    }
    argv[argc] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, cli, &actions, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc) fail_msg("cannot run %s", cli);
    int wstatus;
    assert_int_equal(waitpid(pid, &wstatus, 0), pid);
    sn_cli_run r = {WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus),
                    sn_slurp(out_path), sn_slurp(err_path)};
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

void sn_cli_run_free(sn_cli_run *r) {
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

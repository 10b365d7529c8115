/*
 * Option parsing, strict numbers and the error lines of the command line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Writes msg to stderr on one line: a message from a file name or from the
 * library must never break the one-line rule that scripts rely on. */
static void put_one_line(const char *msg) {
    for (const char *c = msg; *c; c++) fputc(*c == '\n' || *c == '\r' ? ' ' : *c, stderr);
    fputc('\n', stderr);
}

static void vreport(const char *prefix, const char *fmt, va_list ap) {
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fputs(prefix, stderr);
    put_one_line(msg);
}

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vreport("sinapsi: ", fmt, ap);
    va_end(ap);
    return CLI_EXIT_ERROR;
}

int cli_library_error(const char *path) {
    const char *msg = sn_last_error();
    if (!msg[0]) msg = sn_status_string(sn_last_status());
    if (path && !strstr(msg, path)) return cli_error("%s: %s", path, msg);
    return cli_error("%s", msg);
}

int cli_usage_error(const char *command, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (command)
        cli_error("%s: %s (try 'sinapsi %s --help')", command, msg, command);
    else
        cli_error("%s (try 'sinapsi --help')", msg);
    return CLI_EXIT_USAGE;
}

int cli_parse_uint64(const char *text, uint64_t *out) {
    if (!text || text[0] < '0' || text[0] > '9') return -1; /* no sign, no space */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end) return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_int64(const char *text, int64_t *out) {
    if (!text) return -1;
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (digits[0] < '0' || digits[0] > '9') return -1;
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || *end) return -1;
    *out = (int64_t)v;
    return 0;
}

int cli_parse_shape(const char *text, sn_shape *out) {
    int64_t dims[SN_MAX_DIMS];
    int ndim = 0;
    const char *p = text;
    /* One example: the batch takes the fourth dimension. */
    while (ndim < SN_MAX_DIMS - 1) {
        char part[32];
        size_t len = strcspn(p, "x");
        if (len == 0 || len >= sizeof part) return -1;
        memcpy(part, p, len);
        part[len] = '\0';
        uint64_t v;
        if (cli_parse_uint64(part, &v) || v < 1 || v > (uint64_t)SN_MAX_NUMEL) return -1;
        dims[ndim++] = (int64_t)v;
        if (p[len] == '\0') return sn_shape_make(out, ndim, dims) == SN_OK ? 0 : -1;
        p += len + 1;
    }
    return -1;
}

char *cli_format_shape(const sn_shape *s, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->ndim && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, i ? "x%lld" : "%lld", (long long)s->dim[i]);
        if (n < 0) break;
        used += (size_t)n;
    }
    return buf;
}

const cli_option *cli_find_option(const cli_option *options, int n_options, const char *name) {
    for (int i = 0; i < n_options; i++)
        if (!strcmp(options[i].name, name)) return &options[i];
    return NULL;
}

static void print_help(const cli_command *cmd, const cli_option *options, int n_options) {
    printf("usage: sinapsi %s %s\n\n%s\noptions:\n", cmd->name, cmd->synopsis, cmd->description);
    for (int i = 0; i < n_options; i++) {
        char left[64];
        if (options[i].metavar)
            snprintf(left, sizeof left, "%s %s", options[i].name, options[i].metavar);
        else
            snprintf(left, sizeof left, "%s", options[i].name);
        printf("  %-26s %s\n", left, options[i].help);
    }
    printf("  %-26s %s\n", "--help, -h", "show this help");
    if (cmd->details) printf("\n%s", cmd->details);
}

static int store_value(const cli_command *cmd, cli_option *opt, const char *value) {
    switch (opt->kind) {
    case CLI_FLAG:
        *(int *)opt->dest = 1;
        return 0;
    case CLI_STRING:
        if (!value[0]) return cli_usage_error(cmd->name, "%s needs a non-empty value", opt->name);
        *(const char **)opt->dest = value;
        return 0;
    case CLI_INT64: {
        int64_t v;
        if (cli_parse_int64(value, &v))
            return cli_usage_error(cmd->name, "%s: '%s' is not an integer", opt->name, value);
        if (v < opt->min || v > opt->max)
            return cli_usage_error(cmd->name, "%s: %s is out of range [%lld, %lld]", opt->name,
                                   value, (long long)opt->min, (long long)opt->max);
        *(int64_t *)opt->dest = v;
        return 0;
    }
    case CLI_UINT64:
        if (cli_parse_uint64(value, (uint64_t *)opt->dest))
            return cli_usage_error(cmd->name, "%s: '%s' is not an integer in [0, 2^64)", opt->name,
                                   value);
        return 0;
    case CLI_SHAPE:
        if (cli_parse_shape(value, (sn_shape *)opt->dest))
            return cli_usage_error(cmd->name,
                                   "%s: '%s' is not a shape like 1x28x28 (1 to 3 sizes >= 1)",
                                   opt->name, value);
        return 0;
    }
    return cli_usage_error(cmd->name, "%s: internal error: unknown option kind", opt->name);
}

int cli_parse(const cli_command *cmd, cli_option *options, int n_options, int argc, char **argv,
              const char **positional) {
    int only_positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_positional && (!strcmp(arg, "--help") || !strcmp(arg, "-h"))) {
            print_help(cmd, options, n_options);
            return CLI_EXIT_OK;
        }
        if (!only_positional && !strcmp(arg, "--")) {
            only_positional = 1;
            continue;
        }
        if (only_positional || arg[0] != '-' || !arg[1]) {
            if (!cmd->positional)
                return cli_usage_error(cmd->name, "unexpected argument '%s'", arg);
            if (*positional)
                return cli_usage_error(cmd->name, "more than one %s: '%s' and '%s'",
                                       cmd->positional, *positional, arg);
            *positional = arg;
            continue;
        }
        /* --name=value or --name value */
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        cli_option *opt = NULL;
        for (int k = 0; k < n_options; k++)
            if (strlen(options[k].name) == name_len && !strncmp(options[k].name, arg, name_len))
                opt = &options[k];
        if (!opt) return cli_usage_error(cmd->name, "unknown option '%.*s'", (int)name_len, arg);
        const char *value = NULL;
        if (opt->kind == CLI_FLAG) {
            if (eq) return cli_usage_error(cmd->name, "%s takes no value", opt->name);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return cli_usage_error(cmd->name, "%s needs a value (%s)", opt->name, opt->metavar);
        }
        if (opt->given && opt->kind != CLI_FLAG)
            return cli_usage_error(cmd->name, "%s given twice", opt->name);
        int status = store_value(cmd, opt, value);
        if (status) return status;
        opt->given = 1;
    }
    return -1;
}

void cli_set_threads(int64_t n) {
    if (n > 0) sn_set_threads((int)n);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

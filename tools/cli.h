/*
 * The command line's shared parts: option tables, strict number parsing, error
 * lines, and opening a model the way every command does.
 *
 * Exit statuses: 0 success, 1 an error in the input or the run (one line on
 * stderr, "sinapsi: <file>: <what is wrong>"), 2 a usage error (an unknown
 * option, a missing value, a malformed number), with a hint to --help.
 */
#ifndef SN_TOOLS_CLI_H
#define SN_TOOLS_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "sinapsi/sinapsi.h"

#if defined(__GNUC__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
#endif

enum { CLI_EXIT_OK = 0, CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* What an option's value is, and so how it is parsed and where it goes. */
typedef enum cli_value_kind {
    CLI_FLAG,   /* no value: *(int *)dest = 1 */
    CLI_STRING, /* *(const char **)dest = the argument */
    CLI_INT64,  /* *(int64_t *)dest, a decimal integer in [min, max] */
    CLI_UINT64, /* *(uint64_t *)dest, a decimal integer >= 0 */
    CLI_SHAPE   /* *(sn_shape *)dest, "1x28x28": 1 to 3 sizes >= 1 (one example) */
} cli_value_kind;

typedef struct cli_option {
    const char *name;    /* "--batch" */
    const char *metavar; /* "B", shown in --help; NULL for a flag */
    cli_value_kind kind;
    void *dest;
    int64_t min, max; /* CLI_INT64 only */
    const char *help; /* one line */
    int given;        /* set to 1 when the option appears */
} cli_option;

/* Table rows: an option with a value or a flag, and an integer in [min, max]. */
#define CLI_OPTION(name, metavar, kind, dest, help)                                                \
    { name, metavar, kind, dest, 0, 0, help, 0 }
#define CLI_INT_OPTION(name, metavar, dest, min, max, help)                                        \
    { name, metavar, CLI_INT64, dest, min, max, help, 0 }

/* The rows of --model, --weights and --init into a cli_model_args, and of
 * --threads into an int64_t: forward and eval take them alike. */
#define CLI_MODEL_OPTIONS(args)                                                                    \
    CLI_OPTION("--model", "SPEC|MODEL", CLI_STRING, &(args).path,                                  \
               "the model: a spec (text) or a model file (.safetensors)"),                         \
        CLI_OPTION("--weights", "W.safetensors", CLI_STRING, &(args).weights,                      \
                   "weights by torch state_dict names (replace a model file's own)"),              \
        CLI_OPTION("--init", "SEED", CLI_UINT64, &(args).init_seed,                                \
                   "a spec without weights: initialise as torch does, from SEED")
#define CLI_THREADS_OPTION(threads)                                                                \
    CLI_INT_OPTION("--threads", "T", &(threads), 0, SN_MAX_THREADS,                                          \
                   "threads for the kernels (default: SINAPSI_NUM_THREADS, OMP_NUM_THREADS or all cores)")
/* --batch into an int64_t; default_text is its initial value, for --help. */
#define CLI_BATCH_OPTION(batch, default_text)                                                      \
    CLI_INT_OPTION("--batch", "B", &(batch), 1, 1 << 20,                                           \
                   "examples per forward pass (default " default_text ")")

typedef struct cli_command {
    const char *name;        /* "forward" */
    const char *synopsis;    /* the usage line after "sinapsi <name> " */
    const char *summary;     /* one line for `sinapsi --help` */
    const char *description; /* the paragraph under the usage line of its --help */
    const char *details;     /* paragraphs after the options in --help, or NULL */
    const char *positional;  /* metavar of the one positional argument, or NULL for none */
    int (*run)(int argc, char **argv);
} cli_command;

/* Parses argv[1..argc-1] (argv[0] is the command name) against options.
 * `--name value` and `--name=value` both work; --help/-h prints the help.
 * *positional gets the positional argument when the command takes one.
 * Returns -1 to go on, or the exit status to return now (0 after --help,
 * 2 after a usage error, already reported). */
int cli_parse(const cli_command *cmd, cli_option *options, int n_options, int argc, char **argv,
              const char **positional);

/* The option called name in the table (for `given`). */
const cli_option *cli_find_option(const cli_option *options, int n_options, const char *name);

/* Strict parsers: the whole string must be the number, no sign for unsigned,
 * no spaces, no overflow. Return 0 on success, -1 otherwise. */
int cli_parse_int64(const char *text, int64_t *out);
int cli_parse_uint64(const char *text, uint64_t *out);
/* "1x28x28" -> (1, 28, 28); "784" -> (784). */
int cli_parse_shape(const char *text, sn_shape *out);
/* "1x28x28" into buf. */
char *cli_format_shape(const sn_shape *s, char *buf, size_t cap);

/* Prints "sinapsi: <message>" on one line of stderr; returns CLI_EXIT_ERROR. */
int cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Prints sn_last_error(), prefixed by "<path>: " unless the message already
 * names path; returns CLI_EXIT_ERROR. */
int cli_library_error(const char *path);
/* Prints "sinapsi <command>: <message> (try 'sinapsi <command> --help')";
 * returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Sets sinapsi's thread pool to n threads (sn_set_threads); 0 leaves the default. */
void cli_set_threads(int64_t n);

/* Seconds on a monotonic clock. */
double cli_now(void);

/* ---- models, as forward and eval take them ---- */

typedef struct cli_model_args {
    const char *command; /* "forward", for usage errors */
    const char *path;    /* --model: a spec or a model file */
    const char *weights; /* --weights, or NULL */
    int init_given;      /* --init SEED given */
    uint64_t init_seed;
} cli_model_args;

typedef struct cli_model {
    sn_model *model;
    int is_file;          /* 1 for a model file (safetensors), 0 for a spec */
    sn_shape saved_shape; /* a model file's input shape; ndim 0 for a spec */
} cli_model;

/* Opens path, a model file or a spec, without weights for a spec (info).
 * Returns 0 or an exit status (error already reported). */
int cli_model_load(const char *path, cli_model *out);

/* Opens args->path. A spec with neither --weights nor --init is refused here,
 * before any data is read, because its weights would be random. Returns 0 or
 * an exit status (error already reported). */
int cli_model_open(const cli_model_args *args, cli_model *out);

/* cli_parse for a command whose options include CLI_MODEL_OPTIONS(*args);
 * then sets args->init_given and requires --model. Returns -1 to go on, or
 * the exit status to return now (already reported). */
int cli_parse_model_command(const cli_command *cmd, cli_option *options, int n_options, int argc,
                            char **argv, cli_model_args *args);

/* Compiles for one example of shape sample, a batch of batch and loss (with
 * sum reduction, so that callers can average over a whole dataset), with the
 * inference plan: forward only, no gradient buffers (train recompiles through
 * sn_train for the step). Compiling again keeps the weights. Returns 0 or
 * CLI_EXIT_ERROR. */
int cli_model_compile(cli_model *cm, const char *path, const sn_shape *sample, int64_t batch,
                      sn_loss_kind loss);

/* cli_model_compile, then loads --weights or initialises from --init. */
int cli_model_prepare(cli_model *cm, const cli_model_args *args, const sn_shape *sample,
                      int64_t batch, sn_loss_kind loss);

/* One example's shape for the model: a model file's own, else given (a
 * spec's --input-shape, ndim 0 when absent), else the data's. The data must
 * have as many values per example; otherwise an error naming both (returns
 * CLI_EXIT_ERROR, reported). */
int cli_model_sample_shape(const cli_model *cm, const char *model_path, const sn_shape *given,
                           const sn_dataset *ds, sn_shape *out);

void cli_model_close(cli_model *cm);

/* ---- the commands ---- */

int cli_forward(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_eval(int argc, char **argv);

extern const cli_command cli_forward_command, cli_info_command, cli_eval_command;
/* Training (cmd_train.c, with sinapsi/train.h). */
int cli_train(int argc, char **argv);
extern const cli_command cli_train_command;
/* The learning rules (cmd_perceptron.c, cmd_hebb.c; shared parts in cli_learn.h). */
int cli_perceptron(int argc, char **argv);
int cli_hebb(int argc, char **argv);
extern const cli_command cli_perceptron_command, cli_hebb_command;
/* The report of a run (cmd_report.c, with sinapsi/report.h). */
int cli_report(int argc, char **argv);
extern const cli_command cli_report_command;

#endif

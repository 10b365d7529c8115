/*
 * sinapsi train: trains a model (a spec, or a model file to continue from) on
 * a dataset with sn_train, prints one final line and saves the model.
 *
 * Everything that can be checked before the data is read is: every option
 * strictly (exit 2), the optimiser's hyperparameters (sn_optim_create on one
 * float), that --resume exists and that --out and --checkpoint can be created
 * in their directories, so that a mistake costs neither the training time nor
 * a file already saved.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "sinapsi/report.h"
#include "sinapsi/train.h"

const cli_command cli_train_command = {
    .name = "train",
    .synopsis = "--model SPEC|MODEL.safetensors [--weights W.safetensors] --data DATA [options]",
    .summary = "trains a model on a dataset",
    .description =
        "Trains the model on the training split of DATA in minibatches, evaluates it on\n"
        "the test split (or on --val-split's validation split) after every epoch, and\n"
        "prints the final loss and accuracy. A spec starts from --init's random\n"
        "weights (from --seed), a model file or --weights from those weights.\n",
    .details = "DATA is a directory of IDX files, a .csv file or a .safetensors file (x, y,\n"
               "optionally x_test, y_test). Without --out the trained model is not saved.\n"
               "Defaults: 10 epochs, batch 64, sgd with lr 0.01 (adam and adamw: 1e-3;\n"
               "adamw's weight decay 0.01), constant schedule, torch's initialisation, seed 0,\n"
               "shuffled every epoch, all cores. Default loss: as 'sinapsi eval --help'.\n"
               "Every option, the log's fields and examples: docs/cli.md.\n",
    .run = cli_train,
};

/* ---- names and numbers ---- */

typedef struct named_value {
    const char *name;
    int value;
} named_value;

static const named_value init_names[] = {
    {"torch", SN_INIT_TORCH_DEFAULT},           {"xavier_uniform", SN_INIT_XAVIER_UNIFORM},
    {"xavier_normal", SN_INIT_XAVIER_NORMAL},   {"kaiming_uniform", SN_INIT_KAIMING_UNIFORM},
    {"kaiming_normal", SN_INIT_KAIMING_NORMAL}, {NULL, 0},
};
static const named_value normalize_names[] = {
    {"auto", SN_NORM_AUTO},           {"none", SN_NORM_NONE},         {"unit", SN_NORM_UNIT},
    {"symmetric", SN_NORM_SYMMETRIC}, {"standard", SN_NORM_STANDARD}, {NULL, 0},
};
static const named_value progress_names[] = {
    {"auto", SN_PROGRESS_AUTO},
    {"bar", SN_PROGRESS_BAR},
    {"lines", SN_PROGRESS_LINES},
    {"none", SN_PROGRESS_NONE},
    {NULL, 0},
};

/* The value called text in table into *out; a usage error listing the names
 * otherwise. A NULL text (option not given) leaves *out. */
static int parse_name(const char *option, const char *text, const named_value *table, int *out) {
    if (!text) return 0;
    char names[256] = "";
    for (const named_value *v = table; v->name; v++) {
        if (!strcmp(v->name, text)) {
            *out = v->value;
            return 0;
        }
        strncat(names, v->name, sizeof names - strlen(names) - 2);
        if (v[1].name) strcat(names, "|");
    }
    return cli_usage_error("train", "%s: unknown value '%s' (%s)", option, text, names);
}

/* Which ends of a range belong to it. */
enum { CLOSED = 0, OPEN_MIN = 1, OPEN_MAX = 2 };

/* A real number, all of text, finite, within [min, max] (ends excluded as
 * `open` says). A NULL text (option not given) leaves *out. */
static int parse_real(const char *option, const char *text, double min, double max, int open,
                      double *out) {
    if (!text) return 0;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!text[0] || *end || errno == ERANGE || !isfinite(v) || text[0] == ' ')
        return cli_usage_error("train", "%s: '%s' is not a number", option, text);
    if (v < min || v > max || ((open & OPEN_MIN) && v == min) || ((open & OPEN_MAX) && v == max))
        return cli_usage_error("train", "%s: %s is out of range %s%g, %g%s", option, text,
                               open & OPEN_MIN ? "(" : "[", min, max, open & OPEN_MAX ? ")" : "]");
    *out = v;
    return 0;
}

/* ---- the command's options, as given ---- */

typedef struct train_args {
    const char *model, *weights, *data, *out, *checkpoint, *resume, *log;
    const char *optim, *schedule, *loss, *init, *normalize, *progress;
    const char *lr, *momentum, *dampening, *betas, *eps, *weight_decay, *gamma, *clip, *val_split;
    const char *report; /* --report DIR: sn_report_write after training */
    sn_shape input_shape;
    int64_t epochs, batch, step_size, warmup, threads, max_steps, limit;
    int64_t health_every; /* --health-every: per-layer health (docs/health.md) */
    uint64_t seed;
    int nesterov, velocity, no_shuffle, log_steps, profile;
} train_args;

/* "0.9,0.999" -> beta1, beta2, each in [0, 1). */
static int parse_betas(const char *text, sn_optim_opts *o) {
    if (!text) return 0;
    const char *comma = strchr(text, ',');
    char first[64];
    if (!comma || (size_t)(comma - text) >= sizeof first)
        return cli_usage_error("train", "--betas: '%s' is not two numbers like 0.9,0.999", text);
    memcpy(first, text, (size_t)(comma - text));
    first[comma - text] = '\0';
    int status = parse_real("--betas", first, 0.0, 1.0, OPEN_MAX, &o->beta1);
    if (!status) status = parse_real("--betas", comma + 1, 0.0, 1.0, OPEN_MAX, &o->beta2);
    return status;
}

/* An option that only applies to some settings, given where it does not. */
static int misplaced(const cli_option *options, int n, const char *name, int applies,
                     const char *why) {
    if (cli_find_option(options, n, name)->given && !applies)
        return cli_usage_error("train", "%s %s", name, why);
    return 0;
}

/* Fills o from the parsed arguments; a usage error for inconsistent ones. */
static int make_opts(const train_args *a, const cli_option *options, int n, sn_train_opts *o,
                     sn_data_opts *d) {
    int status;
    sn_optim_kind kind = SN_OPTIM_SGD;
    if (a->optim && sn_optim_parse(a->optim, &kind) != SN_OK)
        return cli_usage_error("train", "--optim: unknown optimiser '%s' (sgd|adam|adamw)",
                               a->optim);
    o->optim = sn_optim_defaults(kind);
    const int sgd = kind == SN_OPTIM_SGD;
    if ((status = misplaced(options, n, "--momentum", sgd, "is for --optim sgd")) ||
        (status = misplaced(options, n, "--dampening", sgd, "is for --optim sgd")) ||
        (status = misplaced(options, n, "--nesterov", sgd, "is for --optim sgd")) ||
        (status = misplaced(options, n, "--velocity", sgd, "is for --optim sgd")) ||
        (status = misplaced(options, n, "--betas", !sgd, "is for --optim adam or adamw")) ||
        (status = misplaced(options, n, "--eps", !sgd, "is for --optim adam or adamw")))
        return status;
    if ((status = parse_real("--lr", a->lr, 0.0, 1e6, OPEN_MIN, &o->optim.lr)) ||
        (status = parse_real("--momentum", a->momentum, 0.0, 1.0, CLOSED, &o->optim.momentum)) ||
        (status = parse_real("--dampening", a->dampening, 0.0, 1.0, CLOSED, &o->optim.dampening)) ||
        (status = parse_real("--eps", a->eps, 0.0, 1.0, OPEN_MIN, &o->optim.eps)) ||
        (status = parse_real("--weight-decay", a->weight_decay, 0.0, 1e6, CLOSED,
                             &o->optim.weight_decay)) ||
        (status = parse_betas(a->betas, &o->optim)))
        return status;
    o->optim.nesterov = a->nesterov;
    o->optim.velocity_form = a->velocity;
    /* sn_optim_create checks the combination (Nesterov needs momentum and no
     * dampening ...) now, before any data is read. */
    sn_optim *probe;
    if (sn_optim_create(&probe, &o->optim, 1) != SN_OK)
        return cli_usage_error("train", "%s", sn_last_error());
    sn_optim_destroy(probe);

    sn_schedule_kind schedule = SN_SCHEDULE_CONSTANT;
    if (a->schedule && sn_schedule_parse(a->schedule, &schedule) != SN_OK)
        return cli_usage_error("train", "--schedule: unknown schedule '%s' (constant|step|cosine)",
                               a->schedule);
    const int step = schedule == SN_SCHEDULE_STEP;
    if ((status = misplaced(options, n, "--step-size", step, "is for --schedule step")) ||
        (status = misplaced(options, n, "--gamma", step, "is for --schedule step")))
        return status;
    /* base_lr comes from optim.lr, and cosine's period from the epochs, in sn_train. */
    o->schedule.kind = schedule;
    if (cli_find_option(options, n, "--step-size")->given)
        o->schedule.step_size = (int)a->step_size;
    o->schedule.warmup_steps = a->warmup;
    if ((status = parse_real("--gamma", a->gamma, 0.0, 1.0, OPEN_MIN, &o->schedule.gamma)) ||
        (status = parse_real("--clip", a->clip, 0.0, 1e30, OPEN_MIN, &o->clip)) ||
        (status =
             parse_real("--val-split", a->val_split, 0.0, 1.0, OPEN_MIN | OPEN_MAX, &o->val_split)))
        return status;

    if (a->loss && (sn_loss_parse(a->loss, &o->loss) != SN_OK || o->loss == SN_LOSS_NONE))
        return cli_usage_error("train",
                               "--loss: unknown loss '%s' (cross_entropy|nll|bce|bce_with_logits|"
                               "mse)",
                               a->loss);
    int init = SN_INIT_TORCH_DEFAULT, normalize = SN_NORM_AUTO, progress = SN_PROGRESS_AUTO;
    if ((status = parse_name("--init", a->init, init_names, &init)) ||
        (status = parse_name("--normalize", a->normalize, normalize_names, &normalize)) ||
        (status = parse_name("--progress", a->progress, progress_names, &progress)))
        return status;
    o->init = (sn_init_scheme)init;
    o->progress = (sn_progress)progress;
    d->normalize = (sn_normalize)normalize;
    d->limit = a->limit;

    o->epochs = (int)a->epochs;
    o->batch = a->batch;
    o->seed = a->seed;
    o->shuffle = !a->no_shuffle;
    o->threads = (int)a->threads;
    o->checkpoint = a->checkpoint;
    o->resume = a->resume;
    o->log = a->log;
    o->log_steps = a->log_steps;
    o->max_steps = a->max_steps;
    o->health_every = (int)a->health_every;
    o->profile = a->profile;
    o->out = a->out;
    return 0;
}

/* ---- files checked before training ---- */

/* Creates and removes a file in path's directory, as sn_model_save's
 * temporary file will be, so that an unwritable destination is reported
 * before the training rather than after it. path itself is not touched. */
static int check_writable(const char *option, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return cli_error("%s: %s is a directory", path, option);
    const char *slash = strrchr(path, '/');
    char probe[4096];
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    if (snprintf(probe, sizeof probe, "%.*s.sinapsi-probe-XXXXXX", dir_len, path) >=
        (int)sizeof probe)
        return cli_error("%s: the path is too long", path);
    int fd = mkstemp(probe);
    if (fd < 0)
        return cli_error("%s: cannot write %s in %.*s: %s", path, option, dir_len ? dir_len : 1,
                         dir_len ? path : ".", strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

static int check_readable(const char *option, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error("%s: cannot open %s: %s", path, option, strerror(errno));
    fclose(f);
    return 0;
}

/* ---- the model ---- */

/* Compiles for the data's example shape (sn_train recompiles for the batch
 * and the loss, keeping the shape and the weights) and loads --weights. */
static int prepare_model(cli_model *cm, const train_args *a, const sn_dataset *train,
                         sn_train_opts *o) {
    sn_shape sample;
    int status = cli_model_sample_shape(cm, a->model, &a->input_shape, train, &sample);
    if (!status) status = cli_model_compile(cm, a->model, &sample, 1, SN_LOSS_NONE);
    if (status) return status;
    if (a->weights && sn_model_load_weights(cm->model, a->weights) != SN_OK)
        return cli_library_error(a->weights);
    o->keep_weights = cm->is_file || a->weights;
    return 0;
}

/* ---- the final line ---- */

static void print_result(const sn_train_result *r, const char *out) {
    const sn_epoch_stats *e = &r->last;
    printf("final: ");
    if (e->has_eval) {
        printf("%s loss %.6f", e->eval_split, e->eval.loss);
        if (!isnan(e->eval.accuracy))
            printf(", accuracy %.4f (%lld of %lld)", e->eval.accuracy, (long long)e->eval.correct,
                   (long long)e->eval.n);
    } else {
        printf("train loss %.6f", e->train_loss);
        if (!isnan(e->train_accuracy)) printf(", accuracy %.4f", e->train_accuracy);
    }
    printf(", %d epochs, %lld steps, %.1f s", r->epochs_run, (long long)r->steps, r->seconds);
    if (out) printf(", saved %s", out);
    printf("\n");
}

/* The --profile table: per module, the time of the graph nodes it built
 * (those after the previous module's output, up to its own), per call. */
static void print_profile(sn_model *m) {
    sn_graph *g = sn_model_graph(m);
    const int n_modules = sn_model_module_count(m), n_nodes = sn_graph_node_count(g);
    double total = 0;
    int64_t forwards = 0, backwards = 0;
    for (int id = 0; id < n_nodes; id++) {
        double f = 0, b = 0;
        int64_t fc = 0, bc = 0;
        if (sn_graph_node_time(g, id, &f, &b, &fc, &bc) != SN_OK) continue;
        total += f + b;
        forwards = fc > forwards ? fc : forwards;
        backwards = bc > backwards ? bc : backwards;
    }
    printf("profile: %.2f s in the modules; ms per call of %lld forwards (training and "
           "evaluation) and %lld backwards\n  %-3s %-12s %9s %9s %6s\n",
           total, (long long)forwards, (long long)backwards, "#", "module", "forward", "backward",
           "share");
    int first = 0;
    for (int i = 0; i <= n_modules; i++) {
        /* the row after the last module: the loss, when one was compiled in */
        const int last = i < n_modules ? sn_model_module_node(m, i) : n_nodes - 1;
        double f = 0, b = 0;
        for (int id = first; id <= last; id++) {
            double fi = 0, bi = 0;
            if (sn_graph_node_time(g, id, &fi, &bi, NULL, NULL) == SN_OK) f += fi, b += bi;
        }
        first = last + 1;
        if (i == n_modules && f + b == 0) break;
        printf("  %-3d %-12s %9.3f %9.3f %5.1f%%\n", i,
               i < n_modules ? sn_module_kind_name(sn_model_module(m, i)->kind) : "loss",
               forwards ? 1e3 * f / (double)forwards : 0.0,
               backwards ? 1e3 * b / (double)backwards : 0.0, total > 0 ? 100 * (f + b) / total : 0.0);
    }
}

/* ---- the report ---- */

/* Creates the report's directory before training; without --log the run is
 * logged into DIR/run.jsonl (held in buf), for the report to read. */
static int prepare_report(const char *dir, const char **log, char *buf, size_t cap) {
    struct stat st;
    if (mkdir(dir, 0777) && !(errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return cli_error("%s: cannot create the --report directory: %s", dir, strerror(errno));
    if (*log) return 0;
    if (snprintf(buf, cap, "%s/run.jsonl", dir) >= (int)cap)
        return cli_error("%s: the path is too long", dir);
    *log = buf;
    return 0;
}

static int write_report(const char *dir, const char *log, sn_model *model, const sn_dataset *test) {
    sn_report_opts r = sn_report_defaults();
    r.log = log;
    r.model = model;
    r.test = test;
    if (sn_report_write(dir, &r) != SN_OK) return cli_library_error(NULL);
    printf("report: %s/index.html\n", dir);
    return 0;
}

int cli_train(int argc, char **argv) {
    train_args a = {.epochs = 10, .batch = 64};
    cli_option options[] = {
        CLI_OPTION("--model", "SPEC|MODEL", CLI_STRING, &a.model,
                   "the model: a spec (text) or a model file (.safetensors)"),
        CLI_OPTION("--weights", "W.safetensors", CLI_STRING, &a.weights,
                   "start from these weights (torch state_dict names)"),
        CLI_OPTION("--data", "DATA", CLI_STRING, &a.data,
                   "IDX directory, .csv or .safetensors (x, y[, x_test, y_test])"),
        CLI_OPTION("--input-shape", "CxHxW", CLI_SHAPE, &a.input_shape,
                   "a spec's example shape when it differs from the data's (same size)"),
        CLI_INT_OPTION("--epochs", "N", &a.epochs, 1, 1000000, "passes over the data (default 10)"),
        CLI_INT_OPTION("--batch", "B", &a.batch, 1, 1 << 20, "examples per step (default 64)"),
        CLI_OPTION("--optim", "NAME", CLI_STRING, &a.optim, "sgd|adam|adamw (default sgd)"),
        CLI_OPTION("--lr", "X", CLI_STRING, &a.lr,
                   "learning rate (default 0.01 for sgd, 1e-3 for adam, adamw)"),
        CLI_OPTION("--momentum", "M", CLI_STRING, &a.momentum, "sgd: momentum (default 0)"),
        CLI_OPTION("--dampening", "D", CLI_STRING, &a.dampening, "sgd: dampening (default 0)"),
        CLI_OPTION("--nesterov", NULL, CLI_FLAG, &a.nesterov, "sgd: Nesterov momentum"),
        CLI_OPTION("--velocity", NULL, CLI_FLAG, &a.velocity,
                   "sgd: the textbook form v <- mv - lr g; w <- w + v"),
        CLI_OPTION("--betas", "B1,B2", CLI_STRING, &a.betas,
                   "adam, adamw: moment decays (default 0.9,0.999)"),
        CLI_OPTION("--eps", "E", CLI_STRING, &a.eps, "adam, adamw: epsilon (default 1e-8)"),
        CLI_OPTION("--weight-decay", "W", CLI_STRING, &a.weight_decay,
                   "L2 (sgd, adam) or decoupled (adamw) decay (default 0; adamw 0.01)"),
        CLI_OPTION("--schedule", "NAME", CLI_STRING, &a.schedule,
                   "constant|step|cosine learning rate per epoch (default constant)"),
        CLI_INT_OPTION("--step-size", "K", &a.step_size, 1, 1000000,
                       "step: epochs between decays (default 1)"),
        CLI_OPTION("--gamma", "G", CLI_STRING, &a.gamma, "step: decay factor (default 0.1)"),
        CLI_INT_OPTION("--warmup", "STEPS", &a.warmup, 0, INT64_MAX,
                       "linear warm-up over the first STEPS steps (default 0)"),
        CLI_OPTION("--clip", "C", CLI_STRING, &a.clip,
                   "clip the global gradient norm at C (default off)"),
        CLI_OPTION("--loss", "NAME", CLI_STRING, &a.loss,
                   "cross_entropy|nll|bce|bce_with_logits|mse (default: as eval)"),
        CLI_OPTION("--init", "NAME", CLI_STRING, &a.init,
                   "torch|xavier_uniform|xavier_normal|kaiming_uniform|kaiming_normal"),
        CLI_OPTION("--seed", "S", CLI_UINT64, &a.seed,
                   "seed of the init, shuffle and dropout streams (default 0)"),
        CLI_OPTION("--no-shuffle", NULL, CLI_FLAG, &a.no_shuffle,
                   "keep the file order (consecutive minibatches)"),
        CLI_OPTION("--val-split", "F", CLI_STRING, &a.val_split,
                   "validate on the last fraction F of the training data"),
        CLI_THREADS_OPTION(a.threads),
        CLI_OPTION("--out", "MODEL.safetensors", CLI_STRING, &a.out,
                   "save the trained model here (default: not saved)"),
        CLI_OPTION("--report", "DIR", CLI_STRING, &a.report,
                   "after training, write pictures and DIR/index.html (docs/report.md)"),
        CLI_OPTION("--checkpoint", "FILE", CLI_STRING, &a.checkpoint,
                   "write a checkpoint after every epoch"),
        CLI_OPTION("--resume", "FILE", CLI_STRING, &a.resume, "continue from this checkpoint"),
        CLI_OPTION("--log", "FILE", CLI_STRING, &a.log, "append JSON lines: settings, epochs"),
        CLI_OPTION("--log-steps", NULL, CLI_FLAG, &a.log_steps, "also log every step's loss"),
        CLI_INT_OPTION("--health-every", "K", &a.health_every, 0, INT32_MAX,
                       "per-layer health every K steps: table, warnings, log (default 0 = off)"),
        CLI_OPTION("--profile", NULL, CLI_FLAG, &a.profile,
                   "after training, print each module's forward and backward time"),
        CLI_INT_OPTION("--max-steps", "N", &a.max_steps, 1, INT64_MAX, "stop after N steps in all"),
        CLI_INT_OPTION("--limit", "N", &a.limit, 1, INT64_MAX,
                       "use only the first N examples of each split"),
        CLI_OPTION("--normalize", "NAME", CLI_STRING, &a.normalize,
                   "auto|none|unit|symmetric|standard (default auto)"),
        CLI_OPTION("--progress", "NAME", CLI_STRING, &a.progress,
                   "auto|bar|lines|none (default auto: a bar on a terminal)"),
    };
    const int n_options = (int)(sizeof options / sizeof options[0]);
    int status = cli_parse(&cli_train_command, options, n_options, argc, argv, NULL);
    if (status >= 0) return status;
    if (!a.model) return cli_usage_error("train", "--model is required");
    if (!a.data) return cli_usage_error("train", "--data is required");
    if (a.log_steps && !a.log) return cli_usage_error("train", "--log-steps needs --log");
    char report_log[4096];
    if (a.report && (status = prepare_report(a.report, &a.log, report_log, sizeof report_log)))
        return status;
    sn_train_opts o = sn_train_defaults();
    sn_data_opts d = sn_data_defaults();
    if ((status = make_opts(&a, options, n_options, &o, &d))) return status;
    if ((status = check_readable("--model", a.model)) ||
        (a.weights && (status = check_readable("--weights", a.weights))) ||
        (a.resume && (status = check_readable("--resume", a.resume))) ||
        (a.out && (status = check_writable("--out", a.out))) ||
        (a.checkpoint && (status = check_writable("--checkpoint", a.checkpoint))))
        return status;

    cli_model cm = {0};
    if ((status = cli_model_load(a.model, &cm))) return status;
    if (cm.is_file && (a.init || a.input_shape.ndim)) {
        cli_model_close(&cm);
        return cli_usage_error("train", "%s is for a spec: the model file %s has its own",
                               a.init ? "--init" : "--input-shape", a.model);
    }
    if (a.weights && a.init) {
        cli_model_close(&cm);
        return cli_usage_error("train", "--init and --weights exclude each other");
    }
    sn_dataset *train = NULL, *test = NULL;
    if (sn_dataset_load(a.data, &d, &train, &test) != SN_OK) {
        status = cli_library_error(a.data);
        goto done;
    }
    if ((status = prepare_model(&cm, &a, train, &o))) goto done;
    sn_train_result result;
    if (sn_train(cm.model, train, test, &o, &result) != SN_OK) {
        status = cli_library_error(NULL);
        goto done;
    }
    print_result(&result, a.out);
    if (a.profile) print_profile(cm.model);
    if (a.report) status = write_report(a.report, a.log, cm.model, test);

done:
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    cli_model_close(&cm);
    return status;
}

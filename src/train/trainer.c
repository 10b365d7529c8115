/*
 * sn_train: the training loop (sinapsi/train.h).
 *
 * Each step is, in torch's order, forward, zero_grad, backward, (clip),
 * optimiser step, as the loop
 *     for x, y in loader: loss = crit(model(x), y); opt.zero_grad();
 *                         loss.backward(); clip_grad_norm_(...); opt.step()
 * so that a run without shuffling matches a PyTorch loop step by step. The
 * minibatches follow torch's DataLoader(drop_last=False): the last one is
 * smaller, run through sn_graph_set_batch, and its mean loss is over its own
 * examples. Every buffer is allocated before the first step.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/threads.h"
#include "sinapsi/train.h"
#include "train/checkpoint.h"
#include "train/clock.h"
#include "train/health.h"
#include "train/numeric.h"
#include "train/progress.h"
#include "train/run_log.h"
#include "train/settings.h"

sn_train_opts sn_train_defaults(void) {
    sn_train_opts o;
    memset(&o, 0, sizeof o);
    o.epochs = 10;
    o.batch = 64;
    o.optim = sn_optim_defaults(SN_OPTIM_SGD);
    o.schedule = sn_schedule_constant(o.optim.lr);
    o.schedule.total_epochs = 0; /* cosine: the run's epochs */
    o.loss = SN_LOSS_NONE;
    o.init = SN_INIT_TORCH_DEFAULT;
    o.shuffle = 1;
    o.progress = SN_PROGRESS_AUTO;
    return o;
}

/* Everything one run holds; released by trainer_release. */
typedef struct trainer {
    sn_train_opts o; /* as given, total_epochs filled in */
    sn_model *m;
    sn_graph *g;
    sn_optim *opt;
    sn_task task;
    sn_schedule schedule;
    const sn_dataset *train, *eval;
    sn_dataset *val; /* owned: the validation split, if any */
    const char *eval_split;
    sn_settings settings;
    sn_run_log log;
    sn_progress_state progress;
    sn_health_state health; /* per-layer health, when health_every > 0 */
    sn_train_state state;   /* epoch/step position; the RNGs as of the last checkpoint */
    sn_rng shuffle;         /* the live shuffle stream */
    int64_t n_train, n_batches;
    int64_t *order;        /* (n_train) this epoch's visiting order */
    float *labels;         /* (batch, target_size) the dataset's targets of a batch */
    float *params, *grads; /* (n_params) the graph's blocks */
    size_t n_params;
} trainer;

static sn_status check_opts(const sn_train_opts *o) {
    if (o->epochs < 0) return sn_error(SN_ERR_INVALID_ARG, "train: epochs must be >= 0");
    if (o->batch < 1) return sn_error(SN_ERR_INVALID_ARG, "train: batch must be >= 1");
    if (!(o->clip >= 0.0) || !isfinite(o->clip))
        return sn_error(SN_ERR_INVALID_ARG, "train: clip must be a finite value >= 0");
    if (!(o->val_split >= 0.0 && o->val_split < 1.0))
        return sn_error(SN_ERR_INVALID_ARG, "train: val_split must be in [0, 1)");
    if (o->max_steps < 0) return sn_error(SN_ERR_INVALID_ARG, "train: max_steps must be >= 0");
    if (o->health_every < 0)
        return sn_error(SN_ERR_INVALID_ARG, "train: health_every must be >= 0");
    if (o->threads < 0 || o->threads > SN_MAX_THREADS)
        return sn_error(SN_ERR_INVALID_ARG, "train: threads must be in [0, %d], got %d",
                        SN_MAX_THREADS, o->threads);
    if ((unsigned)o->progress > SN_PROGRESS_NONE)
        return sn_error(SN_ERR_INVALID_ARG, "train: unknown progress mode %d", (int)o->progress);
    return SN_OK;
}

/* The thread pool (sinapsi/threads.h) uses `threads`; 0 keeps the default
 * (SINAPSI_NUM_THREADS, OMP_NUM_THREADS, else every core). Returns the count
 * in use. The options were validated, so the call cannot fail. */
static int set_threads(int threads) {
    if (threads > 0) sn_set_threads(threads);
    return sn_get_threads();
}

/* One example's shape: the model's own when it is compiled for one of the
 * same size (a model file saved as 1x28x28 against CSV rows of 784), else the
 * data's. */
static sn_status sample_shape(sn_model *m, const sn_dataset *ds, sn_shape *out) {
    const sn_shape *data = sn_dataset_sample_shape(ds), *own = sn_model_sample_shape(m);
    *out = own && sn_shape_numel(own) == sn_shape_numel(data) ? *own : *data;
    return SN_OK;
}

/* Compiles for the task: first without a loss (the output's shape decides
 * the default loss), then for (batch, loss) with the dropout seed. */
static sn_status compile(trainer *t) {
    sn_model_compile_opts c = sn_model_compile_defaults();
    sample_shape(t->m, t->train, &c.sample_shape);
    c.seed = t->o.seed;
    c.batch = 1;
    sn_status st = sn_model_compile(t->m, &c);
    if (st == SN_OK) st = sn_task_make(t->m, t->train, t->o.loss, &t->task);
    if (st != SN_OK) return st;
    c.batch = t->o.batch;
    c.loss = t->task.loss;
    c.reduction = SN_REDUCTION_MEAN;
    /* The health monitor reads every module's output and input gradient
     * after backward (health.c); otherwise only the output and the loss are
     * read, and the lean plan shares the rest. */
    c.keep_modules = t->o.health_every > 0;
    if ((st = sn_model_compile(t->m, &c)) != SN_OK) return st;
    t->g = sn_model_graph(t->m);
    /* Each backward writes the gradients: zero_grad + backward without the
     * clearing pass (torch's zero_grad(set_to_none=True)), the same bits. */
    if ((st = sn_graph_set_grad_mode(t->g, SN_GRAD_SET)) != SN_OK) return st;
    if (t->o.profile && (st = sn_graph_set_profiling(t->g, 1)) != SN_OK) return st;
    t->params = sn_graph_params(t->g, &t->n_params);
    t->grads = sn_graph_grads(t->g, &t->n_params);
    return SN_OK;
}

static sn_status setup(trainer *t, sn_dataset *train, sn_dataset *test) {
    sn_status st;
    if (t->o.val_split > 0) {
        if ((st = sn_dataset_split(train, t->o.val_split, &t->val)) != SN_OK) return st;
        t->eval = t->val;
        t->eval_split = "validation";
    } else {
        t->eval = test;
        t->eval_split = "test";
    }
    t->train = train;
    t->n_train = sn_dataset_count(train);
    if (t->n_train < 1)
        return sn_error(SN_ERR_INVALID_ARG, "%s: no training examples", sn_dataset_source(train));
    t->n_batches = (t->n_train + t->o.batch - 1) / t->o.batch;
    if ((st = compile(t)) != SN_OK) return st;
    /* The test split fills the same input buffer: it must be of the same size. */
    if (t->eval && (sn_shape_numel(sn_dataset_sample_shape(t->eval)) !=
                        sn_shape_numel(sn_dataset_sample_shape(train)) ||
                    sn_dataset_target_size(t->eval) != sn_dataset_target_size(train)))
        return sn_error(SN_ERR_SHAPE,
                        "%s: %s examples or targets differ in size from the training ones",
                        sn_dataset_source(t->eval), t->eval_split);
    if ((st = sn_health__init(&t->health, t->m, t->o.health_every)) != SN_OK) return st;
    if (!t->o.keep_weights && (st = sn_model_init(t->m, t->o.seed, t->o.init)) != SN_OK) return st;
    if ((st = sn_optim_create(&t->opt, &t->o.optim, t->n_params)) != SN_OK) return st;
    t->schedule = t->o.schedule;
    t->schedule.base_lr = t->o.optim.lr;
    if ((st = sn_settings__make(&t->settings, &t->o, t->m, &t->task, t->n_train)) != SN_OK)
        return st;
    memset(&t->state, 0, sizeof t->state);
    sn_rng_seed(&t->state.shuffle, t->o.seed, SN_STREAM_SHUFFLE);
    t->state.dropout = *sn_graph_rng(t->g);
    if (t->o.resume) {
        if ((st = sn_checkpoint__read(t->o.resume, t->m, t->opt, &t->state, &t->settings)) != SN_OK)
            return st;
        if (t->state.epoch_batch >= t->n_batches)
            return sn_error(SN_ERR_FORMAT, "%s: epoch_batch %lld is past the %lld batches",
                            t->o.resume, (long long)t->state.epoch_batch, (long long)t->n_batches);
        *sn_graph_rng(t->g) = t->state.dropout;
    }
    t->shuffle = t->state.shuffle;
    t->order = malloc(sizeof *t->order * (size_t)t->n_train);
    t->labels = malloc(sizeof *t->labels * (size_t)(t->o.batch * t->task.target_size));
    if (!t->order || !t->labels) return sn_error(SN_ERR_NOMEM, "train: out of memory");
    return SN_OK;
}

static void trainer_release(trainer *t) {
    sn_run_log__close(&t->log);
    sn_health__free(&t->health);
    sn_settings__free(&t->settings);
    sn_optim_destroy(t->opt);
    sn_dataset_destroy(t->val);
    free(t->order);
    free(t->labels);
}

/* This epoch's order: drawn from the shuffle stream, or the file's. */
static void draw_order(trainer *t) {
    if (t->o.shuffle) {
        sn_shuffle_indices(t->order, t->n_train, &t->shuffle);
    } else {
        for (int64_t i = 0; i < t->n_train; i++) t->order[i] = i;
    }
}

/* Running sums of an epoch. */
typedef struct epoch_sums {
    double loss; /* sum over batches of mean loss x examples */
    int64_t correct, seen, batches;
    double lr;
} epoch_sums;

/* A health record to the log and the caller's callback. */
static sn_status report_health(trainer *t, const sn_health *h) {
    if (t->o.on_health) t->o.on_health(h, t->o.health_user);
    return sn_run_log__health(&t->log, t->m, h);
}

/* The epoch's health means: table, log, callback. */
static sn_status epoch_health(trainer *t, int epoch) {
    if (!t->health.every) return SN_OK;
    sn_health h;
    sn_health__epoch(&t->health, epoch, t->state.step, &h);
    if (h.samples == 0) return SN_OK;
    sn_progress__health(&t->progress, &h, t->health.every);
    return report_health(t, &h);
}

/* One minibatch: examples order[first .. first + k). */
static sn_status step(trainer *t, int epoch, int64_t first, int64_t k, epoch_sums *sums) {
    sn_status st;
    if (k != sn_graph_batch(t->g) && (st = sn_graph_set_batch(t->g, k)) != SN_OK) return st;
    float *x = sn_graph_value(t->g, sn_model_input_node(t->m));  /* (k, sample...) */
    float *y = sn_graph_value(t->g, sn_model_target_node(t->m)); /* (k, loss target) */
    if ((st = sn_dataset_batch(t->train, t->order + first, k, x, t->labels)) != SN_OK) return st;
    if ((st = sn_task_targets(&t->task, t->labels, k, y)) != SN_OK)
        return sn_error_prefix("%s: ", sn_dataset_source(t->train));
    if ((st = sn_graph_forward(t->g)) != SN_OK) return st;
    const float loss = sn_graph_value(t->g, sn_model_loss_node(t->m))[0];
    const int64_t step_number = t->state.step + 1;
    if (!isfinite(loss)) return sn_train__numeric_error(t->m, step_number, epoch, loss, 0);
    /* zero_grad: backward writes the gradients (SN_GRAD_SET, set above). */
    if ((st = sn_graph_backward(t->g, sn_model_loss_node(t->m))) != SN_OK) return st;
    if (!sn_train__all_finite(t->grads, t->n_params))
        return sn_train__numeric_error(t->m, step_number, epoch, loss, 1);
    sn_health__after_backward(&t->health, t->m, step_number); /* the gradients before clipping */
    if (t->o.clip > 0) sn_clip_grad_norm(t->grads, t->n_params, t->o.clip);
    const double lr = sn_schedule_lr(&t->schedule, t->state.step, epoch - 1);
    if ((st = sn_optim_step(t->opt, t->params, t->grads, lr)) != SN_OK) return st;
    t->state.step = step_number;
    sn_health h;
    if (sn_health__after_step(&t->health, t->m, epoch, step_number, &h) &&
        (st = report_health(t, &h)) != SN_OK)
        return st;
    sums->loss += (double)loss * (double)k;
    sums->seen += k;
    sums->batches++;
    sums->lr = lr;
    if (t->task.n_classes)
        sums->correct += sn_task_correct(&t->task, sn_graph_value(t->g, sn_model_output_node(t->m)),
                                         t->labels, k);
    if (t->o.log_steps && (st = sn_run_log__step(&t->log, epoch, step_number, loss, lr)) != SN_OK)
        return st;
    return SN_OK;
}

/* Evaluation after an epoch, then back to training. */
static sn_status evaluate(trainer *t, sn_epoch_stats *s) {
    if (!t->eval) return SN_OK;
    sn_status st = sn_evaluate(t->m, t->eval, &t->task, &s->eval);
    sn_graph_set_training(t->g, 1);
    if (st != SN_OK) return st;
    s->has_eval = 1;
    s->eval_split = t->eval_split;
    return SN_OK;
}

/* Trains epoch `epoch` (1-based) from batch first_batch. *stopped is set when
 * max_steps ends the run inside it. */
static sn_status run_epoch(trainer *t, int epoch, int64_t first_batch, sn_epoch_stats *s,
                           int *stopped) {
    const sn_rng shuffle_at_start = t->shuffle;
    draw_order(t);
    sn_progress__epoch_begin(&t->progress, epoch, t->n_batches, first_batch);
    sn_graph_set_training(t->g, 1);
    epoch_sums sums = {0};
    const double start = sn_train__now();
    int64_t b = first_batch;
    sn_status st = SN_OK;
    *stopped = 0;
    while (b < t->n_batches) {
        const int64_t first = b * t->o.batch;
        const int64_t k = t->n_train - first < t->o.batch ? t->n_train - first : t->o.batch;
        if ((st = step(t, epoch, first, k, &sums)) != SN_OK) return st;
        b++;
        sn_progress__step(&t->progress, b, sums.seen, sums.loss / (double)sums.seen);
        if (t->o.max_steps && t->state.step >= t->o.max_steps) break;
    }
    const double train_seconds = sn_train__now() - start;
    *stopped = b < t->n_batches;
    memset(s, 0, sizeof *s);
    s->epoch = epoch;
    s->step = t->state.step;
    s->lr = sums.lr;
    s->train_loss = sums.seen ? sums.loss / (double)sums.seen : NAN;
    s->train_accuracy =
        t->task.n_classes && sums.seen ? (double)sums.correct / (double)sums.seen : NAN;
    s->images_per_second = train_seconds > 0 ? (double)sums.seen / train_seconds : 0.0;
    if ((st = evaluate(t, s)) != SN_OK) return st;
    s->seconds = sn_train__now() - start;
    /* The position to resume from: the next epoch, or this one part-way. */
    t->state.epoch = *stopped ? epoch - 1 : epoch;
    t->state.epoch_batch = *stopped ? b : 0;
    t->state.shuffle = *stopped ? shuffle_at_start : t->shuffle;
    t->state.dropout = *sn_graph_rng(t->g);
    if (t->o.checkpoint && (st = sn_checkpoint__write(t->o.checkpoint, t->m, t->opt, &t->state,
                                                      &t->settings)) != SN_OK)
        return st;
    sn_progress__epoch_end(&t->progress, s);
    if ((st = sn_run_log__epoch(&t->log, s)) != SN_OK) return st;
    return epoch_health(t, epoch);
}

sn_status sn_train(sn_model *m, sn_dataset *train, sn_dataset *test, const sn_train_opts *opts,
                   sn_train_result *result) {
    if (!m || !train || !opts) return sn_error(SN_ERR_INVALID_ARG, "train: NULL argument");
    sn_status st = check_opts(opts);
    if (st != SN_OK) return st;
    const double start = sn_train__now();
    trainer t;
    memset(&t, 0, sizeof t);
    t.o = *opts;
    if (t.o.schedule.total_epochs <= 0) t.o.schedule.total_epochs = t.o.epochs;
    t.m = m;
    const int threads = set_threads(t.o.threads);
    sn_train_result r;
    memset(&r, 0, sizeof r);
    if ((st = setup(&t, train, test)) != SN_OK) goto done;
    if ((st = sn_run_log__open(&t.log, t.o.log)) != SN_OK) goto done;
    if ((st = sn_run_log__settings(&t.log, &t.settings, &t.o, threads, t.train, t.eval,
                                   t.eval_split)) != SN_OK)
        goto done;
    sn_progress__init(&t.progress, t.o.progress, t.o.epochs);
    int64_t first_batch = t.state.epoch_batch;
    for (int epoch = t.state.epoch + 1; epoch <= t.o.epochs; epoch++, first_batch = 0) {
        if (t.o.max_steps && t.state.step >= t.o.max_steps) break;
        int stopped = 0;
        if ((st = run_epoch(&t, epoch, first_batch, &r.last, &stopped)) != SN_OK) {
            sn_progress__abort(&t.progress);
            goto done;
        }
        r.epochs_run++;
        if (stopped) break;
    }
    if (t.o.out) st = sn_model_save(m, t.o.out);
done:
    /* Filled on failure too: the epochs that did run, and where it stopped. */
    r.steps = t.state.step;
    r.seconds = sn_train__now() - start;
    if (result) *result = r;
    /* Leave the graph at its compiled batch for the caller. */
    if (t.g && sn_graph_batch(t.g) != t.o.batch) sn_graph_set_batch(t.g, t.o.batch);
    trainer_release(&t);
    return st;
}

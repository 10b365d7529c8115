/*
 * sinapsi/train.h: training a model on a dataset, evaluating it, checkpoints.
 *
 *     sn_train_opts o = sn_train_defaults();
 *     o.epochs = 10; o.batch = 64;
 *     o.optim = sn_optim_defaults(SN_OPTIM_SGD); o.optim.lr = 0.05; o.optim.momentum = 0.9;
 *     o.checkpoint = "run.ckpt";
 *     sn_train_result r;
 *     if (sn_train(model, train, test, &o, &r) != SN_OK) fail(sn_last_error());
 *     printf("test accuracy %.4f\n", r.last.eval.accuracy);
 *
 * One training run: the model is compiled with the loss for the batch size,
 * initialised from the seed (PyTorch's default) unless opts.keep_weights,
 * then for each epoch the training examples are visited in an order shuffled
 * by the (seed, SN_STREAM_SHUFFLE) stream (or in file order), in minibatches of
 * `batch` (the last one smaller), each a forward, a backward and an optimiser
 * step. After each epoch the test (or validation) split is evaluated and a
 * checkpoint written. Same seed, data, build and thread count give
 * bit-identical weights; a run resumed from the checkpoint of epoch k ends
 * bit-identical to the uninterrupted run.
 */
#ifndef SINAPSI_TRAIN_H
#define SINAPSI_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "sinapsi/data.h"
#include "sinapsi/model.h"
#include "sinapsi/optim.h"
#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- how outputs meet targets ---- */

/* Decided once from the model and the data: the loss, and how accuracy is
 * counted. Shared by the trainer and `sinapsi eval`. */
typedef struct sn_task {
    sn_loss_kind loss;
    int n_classes;       /* 0 for float targets (no accuracy) */
    int64_t out_width;   /* floats of one example's output */
    int64_t target_size; /* floats of one example's target in the dataset */
    int one_hot;         /* class labels expanded to out_width columns (bce, mse) */
    float threshold;     /* one output: class 1 when output >= threshold */
} sn_task;

/* Chooses and checks the task. loss SN_LOSS_NONE picks the default: with class
 * labels, nll after LogSoftmax, cross_entropy otherwise; for one output, bce
 * after Sigmoid, mse after Step, bce_with_logits otherwise; bce on one-hot
 * labels after a Sigmoid of several outputs; mse for float targets. A model
 * ending in Softmax needs an explicit loss. The model must be compiled (any
 * loss) so that its output shape is known. Errors name the model/data. */
sn_status sn_task_make(const sn_model *m, const sn_dataset *ds, sn_loss_kind loss, sn_task *out);

/* Writes the loss targets of k examples from their dataset targets (one-hot
 * expansion where needed): target (k, width of the loss's target). A label
 * that cannot be one-hot encoded (outside [0, out_width)) is SN_ERR_RANGE. */
sn_status sn_task_targets(const sn_task *t, const float *labels, int64_t k, float *target);

/* Correct predictions among k outputs (k, out_width) against labels (k). */
int64_t sn_task_correct(const sn_task *t, const float *out, const float *labels, int64_t k);

/* ---- evaluation ---- */

typedef struct sn_eval_result {
    int64_t n;       /* examples */
    double loss;     /* mean as torch's reduction='mean' over the whole set */
    double accuracy; /* NaN without class labels */
    int64_t correct;
    double seconds;
} sn_eval_result;

/* Evaluation mode over the whole dataset in batches of the compiled batch
 * size. The model must have been compiled with t->loss (reduction mean or
 * sum); the graph's batch is put back as it was. No allocation per
 * batch beyond one batch buffer allocated once per call. */
sn_status sn_evaluate(sn_model *m, const sn_dataset *ds, const sn_task *t, sn_eval_result *out);

/* ---- training ---- */

typedef enum sn_progress {
    SN_PROGRESS_AUTO,  /* a bar when stderr is a terminal, else per-epoch lines */
    SN_PROGRESS_BAR,   /* a bar per epoch with images/s, running loss, ETA (stderr) */
    SN_PROGRESS_LINES, /* one line per epoch (stdout) */
    SN_PROGRESS_NONE
} sn_progress;

/* ---- training health (docs/health.md) ---- */

/* A Sigmoid output is saturated when its pre-activation |z| > 4 (output below
 * sigmoid(-4) or above sigmoid(4)); a Tanh output when |z| > 2 (|output| >
 * tanh(2)). After Glorot & Bengio, AISTATS 2010, sections 3-4. */
#define SN_HEALTH_SIGMOID_SATURATION 4.0
#define SN_HEALTH_TANH_SATURATION 2.0
/* Warn when the gradient norm of the last weighted layer exceeds the first's
 * by more than this factor ... */
#define SN_HEALTH_VANISH_FACTOR 100.0
/* ... or when more than this fraction of a layer's units are saturated or dead. */
#define SN_HEALTH_MOST 0.5

/* One layer's health. NaN marks a field that does not apply to the module. */
typedef struct sn_layer_health {
    int module; /* index in the model */
    sn_module_kind kind;
    const char *kind_name;      /* "Linear" */
    const char *name;           /* the module's spec text */
    double weight_norm;         /* ||W|| of k.weight before the step */
    double grad_norm;           /* ||dloss/dW||, before clipping */
    double update_ratio;        /* ||W_after - W_before|| / ||W_before|| */
    double input_grad_mean_abs; /* mean |dloss/d input|; NaN for module 0 (x has no gradient) */
    double saturated;           /* Sigmoid, Tanh: fraction of saturated outputs */
    double dead;                /* ReLU: fraction of units zero for the whole batch */
} sn_layer_health;

typedef struct sn_health {
    int epoch;           /* 1-based */
    int64_t step;        /* the step sampled, or the epoch's last step */
    int is_epoch;        /* 1: means over the epoch's health steps; 0: one step */
    int samples;         /* health steps behind the numbers (1 for a step) */
    int first_nonfinite; /* first module whose output is not finite, or -1 */
    /* grad_norm of the last weighted layer over the first's (NaN with fewer than
     * two weighted layers); above SN_HEALTH_VANISH_FACTOR is the vanishing warning */
    double vanish_ratio;
    int n_layers;
    const sn_layer_health *layers; /* valid during the callback only */
} sn_health;

/* Called after every health step and after every epoch (its means). */
typedef void (*sn_health_fn)(const sn_health *health, void *user);

typedef struct sn_train_opts {
    int epochs;             /* default 10 */
    int64_t batch;          /* default 64 */
    sn_optim_opts optim;    /* default sn_optim_defaults(SN_OPTIM_SGD) */
    sn_schedule schedule;   /* base_lr is taken from optim.lr; default constant;
                               cosine with total_epochs 0 anneals over `epochs` */
    double clip;            /* global gradient-norm clipping, 0 = off */
    sn_loss_kind loss;      /* SN_LOSS_NONE = the default of sn_task_make */
    uint64_t seed;          /* init, shuffle and dropout streams (default 0) */
    sn_init_scheme init;    /* default SN_INIT_TORCH_DEFAULT */
    int keep_weights;       /* 1 = start from the model's current weights (--weights) */
    int shuffle;            /* default 1; 0 keeps the file order */
    double val_split;       /* hold out this last fraction of train for validation
                               (split off train with sn_dataset_split, for good) */
    int threads;            /* kernel threads (sn_set_threads); 0 = the default */
    const char *checkpoint; /* written after every epoch (atomically), or NULL;
                               format and resume rules: docs/checkpoints.md */
    const char *resume;     /* continue from this checkpoint, or NULL */
    const char *log;        /* append JSON lines (settings first, then one per epoch) */
    int log_steps;          /* also log every step's loss (parity tests) */
    sn_progress progress;
    int64_t max_steps;      /* stop after this many steps in all (0 = no limit) */
    const char *out;        /* save the final model here (sn_model_save), or NULL */
    int health_every;       /* per-layer health every this many steps, 0 = off (default);
                               printed per epoch, logged, and given to on_health */
    sn_health_fn on_health; /* or NULL */
    void *health_user;      /* passed to on_health */
    int profile;            /* 1 = time every graph node (sn_graph_set_profiling) from the
                               first step; read with sn_graph_node_time afterwards
                               (forward times include the evaluation passes) */
} sn_train_opts;

sn_train_opts sn_train_defaults(void);

typedef struct sn_epoch_stats {
    int epoch;                         /* 1-based */
    int64_t step;                      /* optimiser steps so far */
    double lr;                         /* learning rate of the epoch's last step */
    double train_loss, train_accuracy; /* running means over the epoch's batches */
    int has_eval;
    const char *eval_split; /* "test" or "validation" */
    sn_eval_result eval;
    double seconds, images_per_second;
} sn_epoch_stats;

typedef struct sn_train_result {
    int epochs_run;
    int64_t steps;
    sn_epoch_stats last;
    double seconds;
} sn_train_result;

/* Trains m (not yet compiled, or compiled: it is recompiled for the batch and
 * loss). test may be NULL. A non-finite loss or gradient stops at once with
 * SN_ERR_NUMERIC naming the step and the first module whose output is not
 * finite; a good checkpoint is never overwritten by a bad state. result may
 * be NULL; it is filled on failure too (the epochs and steps that ran). */
sn_status sn_train(sn_model *m, sn_dataset *train, sn_dataset *test, const sn_train_opts *opts,
                   sn_train_result *result);

#ifdef __cplusplus
}
#endif
#endif

/*
 * sinapsi/learn.h: local learning rules on a Linear layer: the perceptron and
 * Hebbian learning (plain Hebb, Oja, Sanger).
 *
 * These are the first learners of the course. They update the same Linear
 * layer that backpropagation trains, weight (k, d) and bias (k) in torch's
 * layout, but by a local rule, one example at a time, with no gradient. The
 * result is a normal sinapsi model (sn_model) that sn_model_save writes, that
 * `sinapsi forward` runs and that `sinapsi eval` scores.
 *
 * The perceptron (docs/perceptron.md), for each example (x, y) in turn:
 *     ŷ = f(wᵀx + b),  f(z) = 1 if z >= 0 else 0
 *     w <- w + η (y - ŷ) x,   b <- b + η (y - ŷ)
 * until an epoch without a mistake (convergence) or the epoch limit.
 *
 *     sn_perceptron_opts o = sn_perceptron_defaults();
 *     o.classes[0] = 1; o.classes[1] = 7;        // Trouser (0) vs Sneaker (1)
 *     sn_perceptron *p;
 *     sn_perceptron_result r;
 *     if (sn_perceptron_train(&p, train, &o, &r) != SN_OK) fail(sn_last_error());
 *     printf("%s after %d epochs\n", r.converged ? "converged" : "not converged", r.epochs);
 *     sn_model_save(sn_perceptron_model(p), "trouser_sneaker.safetensors");
 *     sn_perceptron_destroy(p);
 *
 * Hebbian learning (docs/hebb.md), on centred examples x (the training mean
 * is subtracted), with y = Wx:
 *     plain Hebb   Δw = η y x                          grows without bound
 *     Oja          Δw = η y (x - y w)                  -> the first principal component
 *     Sanger (GHA) Δw_j = η y_j (x - Σ_{i<=j} y_i w_i)  -> the first k components
 */
#ifndef SINAPSI_LEARN_H
#define SINAPSI_LEARN_H

#include <stdint.h>

#include "sinapsi/data.h"
#include "sinapsi/model.h"
#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the perceptron ---- */

typedef enum sn_perceptron_kind {
    SN_PERCEPTRON_AUTO,        /* binary for two classes, one-vs-rest for more (default) */
    SN_PERCEPTRON_BINARY,      /* one unit; labels 0 and 1 (or the two of `classes`) */
    SN_PERCEPTRON_ONE_VS_REST, /* k units, unit j learns "label == j" by the binary rule;
                                  the prediction is the arg-max of the k scores */
    SN_PERCEPTRON_MULTICLASS   /* the multi-class perceptron: on a mistake (arg-max p
                                  differs from the label y) w_y += ηx, w_p -= ηx */
} sn_perceptron_kind;

/* What an epoch did, for progress lines. */
typedef struct sn_perceptron_epoch {
    int epoch;        /* 1, 2, ... */
    int64_t mistakes; /* examples that caused an update in this epoch */
    int64_t examples; /* examples seen in this epoch */
} sn_perceptron_epoch;

typedef struct sn_perceptron_opts {
    sn_perceptron_kind kind;
    int classes[2];  /* a binary task from two classes of a larger dataset: label
                        classes[0] becomes 0, classes[1] becomes 1, other examples are
                        left out (here and in sn_perceptron_accuracy); {-1, -1} = use
                        every example with its own label (default) */
    int max_epochs;  /* default 100 */
    double lr;       /* η > 0, default 1 */
    uint64_t seed;   /* weights (random_init) and the shuffle, default 0 */
    int random_init; /* 0: weights and bias start at zero (default); 1: as torch
                        initialises nn.Linear, from (seed, SN_STREAM_INIT) */
    int shuffle;     /* 1: a new order every epoch from (seed, SN_STREAM_SHUFFLE)
                        (default); 0: file order */
    int averaged;    /* 1: the model gets the average of the weights over every step
                        (the averaged perceptron); mistakes still count the running
                        weights */
    /* Called after each epoch (may be NULL). */
    void (*on_epoch)(const sn_perceptron_epoch *e, void *user);
    void *user;
} sn_perceptron_opts;

sn_perceptron_opts sn_perceptron_defaults(void);

typedef struct sn_perceptron_result {
    int converged;         /* 1 when the last epoch made no mistake */
    int epochs;            /* epochs run, the mistake-free one included */
    int64_t mistakes;      /* updates over all epochs (Novikoff's bound counts these) */
    int64_t last_mistakes; /* in the last epoch */
    int64_t examples;      /* examples per epoch (after the class selection) */
    int kind;              /* the sn_perceptron_kind used (AUTO resolved) */
} sn_perceptron_result;

typedef struct sn_perceptron sn_perceptron;

/* Trains a perceptron on ds, whose targets must be class indices. The model
 * is Linear(d, 1) followed by Step() for a binary task (d = values per
 * example), and Linear(d, k) for k classes: a multi-class perceptron predicts
 * the arg-max of its scores, which is what `sinapsi eval` takes from several
 * outputs (a Step there would turn the scores into tied 0/1 values). Not
 * converging is a result (result->converged = 0), not an error. Errors: float
 * targets, a binary task whose labels are not 0 and 1, a class of `classes`
 * outside the data's, no example selected, a non-positive lr. *out is NULL
 * on error; the caller destroys it. */
sn_status sn_perceptron_train(sn_perceptron **out, const sn_dataset *ds,
                              const sn_perceptron_opts *opts, sn_perceptron_result *result);

/* Correct predictions of the trained model over ds (with the same class
 * selection), computed through sn_model_forward, exactly as `sinapsi eval`
 * scores the saved model: a binary model's Step output >= 0.5 means class 1;
 * otherwise the first arg-max of the scores. */
sn_status sn_perceptron_accuracy(sn_perceptron *p, const sn_dataset *ds, int64_t *correct,
                                 int64_t *count);

/* The trained model (owned by p: valid until sn_perceptron_destroy). */
sn_model *sn_perceptron_model(sn_perceptron *p);

void sn_perceptron_destroy(sn_perceptron *p);

/* ---- Hebbian learning ---- */

typedef enum sn_hebb_rule {
    SN_HEBB_PLAIN, /* Δw = η y x: every unit grows along the first component, without bound */
    SN_HEBB_OJA,   /* Δw = η y (x - y w): one unit, -> the first principal component */
    SN_HEBB_SANGER /* Δw_j = η y_j (x - Σ_{i<=j} y_i w_i): k units, -> the first k
                      components in order (Oja's rule when k = 1) */
} sn_hebb_rule;

/* "hebb", "oja", "sanger" -> the rule; SN_ERR_INVALID_ARG otherwise. */
sn_status sn_hebb_rule_parse(const char *name, sn_hebb_rule *out);
const char *sn_hebb_rule_name(sn_hebb_rule rule);

typedef struct sn_hebb_epoch {
    int epoch;          /* 1, 2, ... */
    double lr;          /* η used in this epoch */
    int components;     /* k */
    const double *norm; /* (k) ||w_j|| after the epoch */
} sn_hebb_epoch;

typedef struct sn_hebb_opts {
    sn_hebb_rule rule; /* default SN_HEBB_OJA */
    int components;    /* k >= 1, default 1; Oja takes only 1 */
    int max_epochs;    /* default 10 */
    double lr;         /* η of the first epoch, default 1e-3 */
    double lr_decay;   /* η of epoch e (from 0) = lr / (1 + lr_decay * e), default 1:
                          the decreasing rate that stochastic approximation needs to
                          settle on the component rather than wander around it */
    uint64_t seed;     /* initial weights, as torch initialises nn.Linear, from (seed,
                          SN_STREAM_INIT), and the shuffle; default 0 */
    int shuffle;       /* default 1 */
    void (*on_epoch)(const sn_hebb_epoch *e, void *user);
    void *user;
} sn_hebb_opts;

sn_hebb_opts sn_hebb_defaults(void);

typedef struct sn_hebb sn_hebb;

/* Runs the rule over the centred examples of ds (mean of ds subtracted).
 * Fails with SN_ERR_NUMERIC, naming the epoch, if the weights stop being
 * finite: what the plain Hebb rule does when run long enough. *out is NULL
 * on error; the caller destroys it. */
sn_status sn_hebb_train(sn_hebb **out, const sn_dataset *ds, const sn_hebb_opts *opts);

/* The learned weights W (k, d), row j the j-th unit, and the mean (d) that was
 * subtracted. Owned by h. */
const float *sn_hebb_weights(const sn_hebb *h);
const double *sn_hebb_mean(const sn_hebb *h);
int sn_hebb_components(const sn_hebb *h);
int64_t sn_hebb_features(const sn_hebb *h);

/* The model Linear(d, k) with weight W and bias -W·mean: its outputs are the
 * projections y = W(x - mean) of raw examples. Owned by h. */
sn_model *sn_hebb_model(sn_hebb *h);

void sn_hebb_destroy(sn_hebb *h);

/* The first k principal components of ds (unit vectors, (k, d), in double)
 * and the variances along them (k), from the covariance of the centred
 * examples (divided by n) by power iteration with deflation, to a relative
 * change below 1e-12 or `max_iterations` per component. The sign of each
 * component is arbitrary. For checking the Hebbian rules. */
sn_status sn_principal_components(const sn_dataset *ds, int k, int max_iterations,
                                  double *components, double *variances);

#ifdef __cplusplus
}
#endif
#endif

/*
 * The perceptron, exactly as the course states it (Rosenblatt 1958):
 *
 *     ŷ = f(wᵀx + b),  f(z) = 1 if z >= 0 else 0
 *     w <- w + η (y - ŷ) x,   b <- b + η (y - ŷ)
 *
 * one example at a time, until an epoch without a mistake. The error y - ŷ is
 * in {-1, 0, 1}, so a mistake adds or subtracts ηx. (The course notes print the
 * update with a minus sign; with the error written y - ŷ the sign is plus.)
 *
 * Several classes: one-vs-rest runs the binary rule on k units, unit j with
 * target [label == j], and predicts the arg-max of the scores; the multi-class
 * perceptron (Collins 2002) predicts p = arg-max and on a mistake moves the
 * true class's row toward x and p's row away from it. The averaged perceptron
 * (Freund & Schapire 1999) keeps the mean of the weights over every step, by
 * Daumé's trick: with c the step number, wa += c·Δ at each update, and the mean
 * is w - wa/c at the end.
 *
 * The weights live in the model's own Linear parameters, weight (k, d) and bias
 * (k); scores are summed in double (sn_learn_dot).
 */
#include "sinapsi/learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "optim/learn_internal.h"

struct sn_perceptron {
    learn_linear lin;
    sn_perceptron_kind kind; /* resolved: never AUTO */
    int select;              /* 1: a binary task from classes[0] (0) and classes[1] (1) */
    int classes[2];
};

sn_perceptron_opts sn_perceptron_defaults(void) {
    return (sn_perceptron_opts){
        .kind = SN_PERCEPTRON_AUTO,
        .classes = {-1, -1},
        .max_epochs = 100,
        .lr = 1.0,
        .shuffle = 1,
    };
}

/* ---- the examples a perceptron sees ---- */

/* The examples of ds the task uses, in file order, and their labels (after
 * the class selection). The caller frees *index and *labels. */
static sn_status select_examples(const sn_perceptron *p, const sn_dataset *ds, int64_t **index,
                                 int **labels, int64_t *count) {
    const int64_t n = sn_dataset_count(ds);
    int64_t *all = malloc(sizeof *all * (size_t)n);
    float *y = malloc(sizeof *y * (size_t)n);
    int *lab = malloc(sizeof *lab * (size_t)n);
    *index = NULL;
    *labels = NULL;
    *count = 0;
    if (!all || !y || !lab) {
        free(all);
        free(y);
        free(lab);
        return sn_error(SN_ERR_NOMEM, "perceptron: %s: no memory for %lld labels",
                        sn_dataset_source(ds), (long long)n);
    }
    for (int64_t i = 0; i < n; i++) all[i] = i;
    sn_status st = sn_dataset_batch(ds, all, n, NULL, y);
    int64_t kept = 0;
    for (int64_t i = 0; i < n && st == SN_OK; i++) {
        const int label = (int)y[i];
        if (p->select) {
            if (label != p->classes[0] && label != p->classes[1]) continue;
            lab[kept] = label == p->classes[1];
        } else {
            lab[kept] = label;
        }
        all[kept++] = i;
    }
    free(y);
    if (st == SN_OK && kept == 0)
        st = sn_error(SN_ERR_INVALID_ARG, "perceptron: %s: no example of class %d or %d",
                      sn_dataset_source(ds), p->classes[0], p->classes[1]);
    if (st != SN_OK) {
        free(all);
        free(lab);
        return st;
    }
    *index = all;
    *labels = lab;
    *count = kept;
    return SN_OK;
}

/* Decides the task from the options and the data; records errors. */
static sn_status resolve_task(sn_perceptron *p, const sn_dataset *ds, const sn_perceptron_opts *o,
                              int *units) {
    const int n_classes = sn_dataset_num_classes(ds);
    if (n_classes < 1)
        return sn_error(SN_ERR_INVALID_ARG,
                        "perceptron: %s: the targets are float values; the perceptron needs "
                        "class labels",
                        sn_dataset_source(ds));
    p->select = o->classes[0] >= 0 || o->classes[1] >= 0;
    if (p->select) {
        for (int i = 0; i < 2; i++)
            if (o->classes[i] < 0 || o->classes[i] >= n_classes)
                return sn_error(SN_ERR_RANGE,
                                "perceptron: %s: class %d is not among its labels "
                                "0..%d",
                                sn_dataset_source(ds), o->classes[i], n_classes - 1);
        if (o->classes[0] == o->classes[1])
            return sn_error(SN_ERR_INVALID_ARG, "perceptron: the two classes are both %d",
                            o->classes[0]);
        p->classes[0] = o->classes[0];
        p->classes[1] = o->classes[1];
    }
    p->kind = o->kind;
    if (p->kind == SN_PERCEPTRON_AUTO)
        p->kind = p->select || n_classes <= 2 ? SN_PERCEPTRON_BINARY : SN_PERCEPTRON_ONE_VS_REST;
    if (p->kind == SN_PERCEPTRON_BINARY) {
        if (!p->select && n_classes > 2)
            return sn_error(SN_ERR_RANGE,
                            "perceptron: %s: labels 0..%d, but a binary perceptron needs 0 and 1 "
                            "(choose two classes, or one-vs-rest)",
                            sn_dataset_source(ds), n_classes - 1);
        *units = 1;
    } else if (p->kind == SN_PERCEPTRON_ONE_VS_REST || p->kind == SN_PERCEPTRON_MULTICLASS) {
        *units = p->select ? 2 : n_classes < 2 ? 2 : n_classes;
    } else {
        return sn_error(SN_ERR_INVALID_ARG, "perceptron: unknown kind %d", (int)o->kind);
    }
    return SN_OK;
}

/* ---- training ---- */

typedef struct perceptron_run {
    sn_perceptron *p;
    const sn_perceptron_opts *o;
    const int *label_of;  /* (dataset count) label of each selected example, by dataset index */
    const int64_t *order; /* the epoch's order, to map a chunk row back to its example */
    int64_t first;        /* position in order of the chunk's first row */
    double *scores;       /* (k) */
    double *avg_sum;      /* (k, d + 1): Σ c·Δ of weight rows and bias, averaged only */
    int64_t step;         /* c: examples seen so far, from 1 */
    int64_t mistakes;     /* in this epoch */
} perceptron_run;

/* Row j of the layer (and its bias) += delta · x. */
static void add_to_unit(perceptron_run *r, int j, const float *x, double delta) {
    learn_linear *l = &r->p->lin;
    const int64_t d = l->d;
    float *w = l->weight + (int64_t)j * d;
    const float step = (float)delta;
    for (int64_t i = 0; i < d; i++) w[i] += step * x[i];
    l->bias[j] += step;
    if (r->avg_sum) {
        double *a = r->avg_sum + (int64_t)j * (d + 1);
        const double weighted = (double)r->step * (double)step;
        for (int64_t i = 0; i < d; i++) a[i] += weighted * (double)x[i];
        a[d] += weighted;
    }
}

/* One example: the rule of the task. Returns 1 for a mistake (an update). */
static int learn_example(perceptron_run *r, const float *x, int label) {
    learn_linear *l = &r->p->lin;
    const double eta = r->o->lr;
    for (int j = 0; j < l->k; j++)
        r->scores[j] = l->bias[j] + sn_learn_dot(l->weight + (int64_t)j * l->d, x, l->d);
    if (r->p->kind == SN_PERCEPTRON_MULTICLASS) {
        int predicted = 0; /* the first of equal maxima, as torch.argmax */
        for (int j = 1; j < l->k; j++)
            if (r->scores[j] > r->scores[predicted]) predicted = j;
        if (predicted == label) return 0;
        add_to_unit(r, label, x, eta);
        add_to_unit(r, predicted, x, -eta);
        return 1;
    }
    /* Binary (one unit, target = label) or one-vs-rest (unit j, target label == j). */
    int mistake = 0;
    for (int j = 0; j < l->k; j++) {
        const int target = l->k == 1 ? label : label == j;
        const int output = r->scores[j] >= 0.0; /* f(z) = 1 if z >= 0 */
        if (target != output) {
            add_to_unit(r, j, x, eta * (double)(target - output));
            mistake = 1;
        }
    }
    return mistake;
}

static sn_status learn_chunk(const float *x, const float *y, int64_t count, void *user) {
    perceptron_run *r = user;
    (void)y; /* labels come from the selection (mapped to 0/1 for two classes) */
    for (int64_t i = 0; i < count; i++) {
        const int label = r->label_of[r->order[r->first + i]];
        r->mistakes += learn_example(r, x + i * r->p->lin.d, label);
        r->step++;
    }
    r->first += count;
    return SN_OK;
}

/* Averaged perceptron: the model's parameters become w - wa/c. */
static void store_average(perceptron_run *r) {
    learn_linear *l = &r->p->lin;
    const double c = (double)r->step;
    for (int j = 0; j < l->k; j++) {
        const double *a = r->avg_sum + (int64_t)j * (l->d + 1);
        float *w = l->weight + (int64_t)j * l->d;
        for (int64_t i = 0; i < l->d; i++) w[i] = (float)((double)w[i] - a[i] / c);
        l->bias[j] = (float)((double)l->bias[j] - a[l->d] / c);
    }
}

static sn_status check_opts(const sn_perceptron_opts *o) {
    if (!(o->lr > 0.0) || !isfinite(o->lr))
        return sn_error(SN_ERR_INVALID_ARG, "perceptron: learning rate %g, it must be > 0", o->lr);
    if (o->max_epochs < 1)
        return sn_error(SN_ERR_INVALID_ARG, "perceptron: %d epochs, at least 1 is needed",
                        o->max_epochs);
    return SN_OK;
}

/* Epochs over the selection; fills result. */
static sn_status run_epochs(perceptron_run *r, const sn_dataset *ds, const int64_t *index,
                            int64_t n, int64_t *order, int64_t *perm,
                            sn_perceptron_result *result) {
    const sn_perceptron_opts *o = r->o;
    sn_rng shuffle;
    sn_rng_seed(&shuffle, o->seed, SN_STREAM_SHUFFLE);
    r->order = order;
    r->step = 1;
    for (int epoch = 1; epoch <= o->max_epochs; epoch++) {
        if (o->shuffle) {
            sn_shuffle_indices(perm, n, &shuffle);
            for (int64_t i = 0; i < n; i++) order[i] = index[perm[i]];
        } else {
            memcpy(order, index, sizeof *order * (size_t)n);
        }
        r->first = 0;
        r->mistakes = 0;
        sn_status st = sn_learn_each_chunk(ds, r->p->lin.d, order, n, learn_chunk, r);
        if (st != SN_OK) return st;
        result->epochs = epoch;
        result->mistakes += r->mistakes;
        result->last_mistakes = r->mistakes;
        if (o->on_epoch) {
            sn_perceptron_epoch e = {epoch, r->mistakes, n};
            o->on_epoch(&e, o->user);
        }
        if (r->mistakes == 0) {
            result->converged = 1;
            break;
        }
    }
    return SN_OK;
}

sn_status sn_perceptron_train(sn_perceptron **out, const sn_dataset *ds,
                              const sn_perceptron_opts *opts, sn_perceptron_result *result) {
    if (!out || !opts || !result)
        return sn_error(SN_ERR_INVALID_ARG, "perceptron: out, opts and result must not be NULL");
    *out = NULL;
    memset(result, 0, sizeof *result);
    int64_t d;
    sn_status st = check_opts(opts);
    if (st == SN_OK) st = sn_learn_features(ds, "perceptron", &d);
    if (st != SN_OK) return st;
    sn_perceptron *p = calloc(1, sizeof *p);
    if (!p) return sn_error(SN_ERR_NOMEM, "perceptron: out of memory");
    int units = 0;
    int64_t *index = NULL, *order = NULL, *perm = NULL, n = 0;
    int *labels = NULL, *label_of = NULL;
    perceptron_run r = {.p = p, .o = opts};
    if ((st = resolve_task(p, ds, opts, &units)) != SN_OK ||
        (st = select_examples(p, ds, &index, &labels, &n)) != SN_OK)
        goto done;
    const int64_t count = sn_dataset_count(ds);
    order = malloc(sizeof *order * (size_t)n);
    perm = malloc(sizeof *perm * (size_t)n);
    label_of = malloc(sizeof *label_of * (size_t)count);
    r.scores = malloc(sizeof *r.scores * (size_t)units);
    if (opts->averaged) r.avg_sum = calloc((size_t)units * (size_t)(d + 1), sizeof *r.avg_sum);
    if (!order || !perm || !label_of || !r.scores || (opts->averaged && !r.avg_sum)) {
        st = sn_error(SN_ERR_NOMEM, "perceptron: out of memory for %lld examples", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        const int limit = p->kind == SN_PERCEPTRON_BINARY ? 2 : units;
        if (labels[i] < 0 || labels[i] >= limit) {
            st = sn_error(SN_ERR_RANGE, "perceptron: %s: example %lld has label %d, outside 0..%d",
                          sn_dataset_source(ds), (long long)index[i], labels[i], limit - 1);
            goto done;
        }
        label_of[index[i]] = labels[i];
    }
    r.label_of = label_of;
    st = sn_learn_linear_create(&p->lin, "perceptron", d, units, p->kind == SN_PERCEPTRON_BINARY,
                                opts->random_init, opts->seed);
    if (st != SN_OK) goto done;
    result->examples = n;
    result->kind = (int)p->kind;
    if ((st = run_epochs(&r, ds, index, n, order, perm, result)) != SN_OK) goto done;
    if (opts->averaged) store_average(&r);

done:
    free(index);
    free(labels);
    free(order);
    free(perm);
    free(label_of);
    free(r.scores);
    free(r.avg_sum);
    if (st != SN_OK) {
        sn_perceptron_destroy(p);
        memset(result, 0, sizeof *result);
        return st;
    }
    *out = p;
    return SN_OK;
}

/* ---- using the trained model ---- */

typedef struct accuracy_run {
    sn_perceptron *p;
    const int *label_of; /* (n) labels of the chunks' examples, in pass order */
    int64_t first;
    float *out; /* (LEARN_CHUNK, k) */
    int64_t correct;
} accuracy_run;

static sn_status score_chunk(const float *x, const float *y, int64_t count, void *user) {
    accuracy_run *a = user;
    (void)y;
    const int k = a->p->lin.k;
    sn_status st = sn_model_forward(a->p->lin.model, x, count, a->out);
    if (st != SN_OK) return st;
    for (int64_t i = 0; i < count; i++) {
        const float *row = a->out + i * k;
        int predicted = 0;
        if (k == 1) {
            predicted = row[0] >= 0.5f; /* Step gives 0 or 1 */
        } else {
            for (int j = 1; j < k; j++)
                if (row[j] > row[predicted]) predicted = j;
        }
        a->correct += predicted == a->label_of[a->first + i];
    }
    a->first += count;
    return SN_OK;
}

sn_status sn_perceptron_accuracy(sn_perceptron *p, const sn_dataset *ds, int64_t *correct,
                                 int64_t *count) {
    if (!p || !correct || !count)
        return sn_error(SN_ERR_INVALID_ARG, "perceptron accuracy: NULL argument");
    int64_t d;
    sn_status st = sn_learn_features(ds, "perceptron accuracy", &d);
    if (st != SN_OK) return st;
    if (d != p->lin.d)
        return sn_error(SN_ERR_SHAPE,
                        "perceptron accuracy: %s has %lld values per example, the "
                        "perceptron takes %lld",
                        sn_dataset_source(ds), (long long)d, (long long)p->lin.d);
    int64_t *index, n;
    int *labels;
    if ((st = select_examples(p, ds, &index, &labels, &n)) != SN_OK) return st;
    accuracy_run a = {.p = p, .label_of = labels};
    a.out = malloc(sizeof *a.out * (size_t)(LEARN_CHUNK * p->lin.k));
    if (!a.out)
        st = sn_error(SN_ERR_NOMEM, "perceptron accuracy: out of memory");
    else
        st = sn_learn_each_chunk(ds, d, index, n, score_chunk, &a);
    free(a.out);
    free(index);
    free(labels);
    if (st != SN_OK) return st;
    *correct = a.correct;
    *count = n;
    return SN_OK;
}

sn_model *sn_perceptron_model(sn_perceptron *p) {
    return p ? p->lin.model : NULL;
}

void sn_perceptron_destroy(sn_perceptron *p) {
    if (!p) return;
    sn_learn_linear_destroy(&p->lin);
    free(p);
}

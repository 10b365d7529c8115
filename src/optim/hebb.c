/*
 * Hebbian learning on a Linear layer y = Wx, W (k, d), over centred examples
 * x (the mean of the data subtracted), one example at a time:
 *
 *   plain Hebb   Δw_j = η y_j x                      (Hebb 1949)
 *   Oja          Δw   = η y (x - y w)                (Oja 1982)
 *   Sanger (GHA) Δw_j = η y_j (x - Σ_{i<=j} y_i w_i)  (Sanger 1989)
 *
 * With C the covariance of x, the plain rule's mean step is Δw = η C w: w
 * turns toward the first principal component and its norm grows by about
 * (1 + η λ1) a step, without bound. Oja's term -η y² w is the first-order
 * effect of renormalising w after each step; it keeps ||w|| near 1 and w
 * converges to ±the unit first principal component. Sanger's rule applies
 * Oja's rule to unit j on x with the components of units 1..j-1 removed, so
 * unit j converges to the j-th component. The rate must decrease for the
 * stochastic updates to settle (Robbins-Monro): η_e = η / (1 + decay·e).
 */
#include "sinapsi/learn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "optim/learn_internal.h"

struct sn_hebb {
    learn_linear lin;
    sn_hebb_rule rule;
    double *mean; /* (d) */
};

static const char *const rule_names[] = {"hebb", "oja", "sanger"};

sn_status sn_hebb_rule_parse(const char *name, sn_hebb_rule *out) {
    for (int i = 0; i < 3; i++)
        if (name && !strcmp(name, rule_names[i])) {
            *out = (sn_hebb_rule)i;
            return SN_OK;
        }
    return sn_error(SN_ERR_INVALID_ARG, "unknown Hebbian rule '%s' (hebb, oja or sanger)",
                    name ? name : "(null)");
}

const char *sn_hebb_rule_name(sn_hebb_rule rule) {
    return rule >= SN_HEBB_PLAIN && rule <= SN_HEBB_SANGER ? rule_names[rule] : "unknown";
}

sn_hebb_opts sn_hebb_defaults(void) {
    return (sn_hebb_opts){
        .rule = SN_HEBB_OJA,
        .components = 1,
        .max_epochs = 10,
        .lr = 1e-3,
        .lr_decay = 1.0,
        .shuffle = 1,
    };
}

/* ---- the rules ---- */

typedef struct hebb_run {
    sn_hebb *h;
    float eta;
    float *centred; /* (d) */
    double *y;      /* (k) outputs */
    double *rest;   /* (d) Sanger's x - Σ_{i<=j} y_i w_i */
} hebb_run;

static void learn_example(hebb_run *r, const float *x) {
    learn_linear *l = &r->h->lin;
    const int64_t d = l->d;
    for (int64_t i = 0; i < d; i++) r->centred[i] = (float)((double)x[i] - r->h->mean[i]);
    for (int j = 0; j < l->k; j++) r->y[j] = sn_learn_dot(l->weight + j * d, r->centred, d);
    if (r->h->rule == SN_HEBB_PLAIN) {
        for (int j = 0; j < l->k; j++) {
            float *w = l->weight + j * d;
            const float step = r->eta * (float)r->y[j];
            for (int64_t i = 0; i < d; i++) w[i] += step * r->centred[i];
        }
        return;
    }
    /* Oja is Sanger with one unit. rest takes off each unit's own old w_j
     * before w_j moves, so unit j sees x - Σ_{i<=j} y_i w_i with every w_i
     * as it was when y was computed. */
    for (int64_t i = 0; i < d; i++) r->rest[i] = r->centred[i];
    for (int j = 0; j < l->k; j++) {
        float *w = l->weight + j * d;
        const double yj = r->y[j];
        for (int64_t i = 0; i < d; i++) r->rest[i] -= yj * (double)w[i];
        const double step = (double)r->eta * yj;
        for (int64_t i = 0; i < d; i++) w[i] = (float)((double)w[i] + step * r->rest[i]);
    }
}

static sn_status learn_chunk(const float *x, const float *y, int64_t count, void *user) {
    hebb_run *r = user;
    (void)y;
    for (int64_t i = 0; i < count; i++) learn_example(r, x + i * r->h->lin.d);
    return SN_OK;
}

/* ||w_j|| into norm (k); 0 if every one is finite. */
static int row_norms(const learn_linear *l, double *norm) {
    int bad = 0;
    for (int j = 0; j < l->k; j++) {
        const float *w = l->weight + j * l->d;
        norm[j] = sqrt(sn_learn_dot(w, w, l->d));
        bad |= !isfinite(norm[j]);
    }
    return bad;
}

static sn_status check_opts(const sn_hebb_opts *o) {
    if (o->rule < SN_HEBB_PLAIN || o->rule > SN_HEBB_SANGER)
        return sn_error(SN_ERR_INVALID_ARG, "hebb: unknown rule %d", (int)o->rule);
    if (o->components < 1)
        return sn_error(SN_ERR_INVALID_ARG, "hebb: %d components, at least 1 is needed",
                        o->components);
    if (o->rule == SN_HEBB_OJA && o->components != 1)
        return sn_error(SN_ERR_INVALID_ARG,
                        "hebb: Oja's rule learns one component (%d asked); Sanger's rule learns "
                        "several",
                        o->components);
    if (!(o->lr > 0.0) || !isfinite(o->lr))
        return sn_error(SN_ERR_INVALID_ARG, "hebb: learning rate %g, it must be > 0", o->lr);
    if (!(o->lr_decay >= 0.0) || !isfinite(o->lr_decay))
        return sn_error(SN_ERR_INVALID_ARG, "hebb: learning-rate decay %g, it must be >= 0",
                        o->lr_decay);
    if (o->max_epochs < 1)
        return sn_error(SN_ERR_INVALID_ARG, "hebb: %d epochs, at least 1 is needed", o->max_epochs);
    return SN_OK;
}

static sn_status run_epochs(hebb_run *r, const sn_dataset *ds, const sn_hebb_opts *o,
                            int64_t *order, double *norm) {
    const int64_t n = sn_dataset_count(ds);
    sn_rng shuffle;
    sn_rng_seed(&shuffle, o->seed, SN_STREAM_SHUFFLE);
    for (int epoch = 1; epoch <= o->max_epochs; epoch++) {
        const double eta = o->lr / (1.0 + o->lr_decay * (epoch - 1));
        r->eta = (float)eta;
        if (o->shuffle) sn_shuffle_indices(order, n, &shuffle);
        sn_status st = sn_learn_each_chunk(ds, r->h->lin.d, order, n, learn_chunk, r);
        if (st != SN_OK) return st;
        const int overflowed = row_norms(&r->h->lin, norm);
        if (o->on_epoch) {
            sn_hebb_epoch e = {epoch, eta, o->components, norm};
            o->on_epoch(&e, o->user);
        }
        if (overflowed)
            return sn_error(SN_ERR_NUMERIC,
                            "hebb: the weights overflowed in epoch %d (rule %s, lr %g)%s", epoch,
                            sn_hebb_rule_name(o->rule), eta,
                            o->rule == SN_HEBB_PLAIN ? ": the plain Hebb rule grows without bound"
                                                     : ": the learning rate is too large");
    }
    return SN_OK;
}

sn_status sn_hebb_train(sn_hebb **out, const sn_dataset *ds, const sn_hebb_opts *opts) {
    if (!out || !opts) return sn_error(SN_ERR_INVALID_ARG, "hebb: out and opts must not be NULL");
    *out = NULL;
    int64_t d;
    sn_status st = check_opts(opts);
    if (st == SN_OK) st = sn_learn_features(ds, "hebb", &d);
    if (st != SN_OK) return st;
    sn_hebb *h = calloc(1, sizeof *h);
    if (!h) return sn_error(SN_ERR_NOMEM, "hebb: out of memory");
    h->rule = opts->rule;
    const int k = opts->components;
    hebb_run r = {.h = h};
    const int64_t n = sn_dataset_count(ds);
    int64_t *order = malloc(sizeof *order * (size_t)n); /* the epoch's order */
    double *norm = malloc(sizeof *norm * (size_t)k);
    h->mean = malloc(sizeof *h->mean * (size_t)d);
    r.centred = malloc(sizeof *r.centred * (size_t)d);
    r.y = malloc(sizeof *r.y * (size_t)k);
    r.rest = malloc(sizeof *r.rest * (size_t)d);
    if (!order || !norm || !h->mean || !r.centred || !r.y || !r.rest) {
        st = sn_error(SN_ERR_NOMEM, "hebb: out of memory for %lld features", (long long)d);
        goto done;
    }
    if ((st = sn_learn_linear_create(&h->lin, "hebb", d, k, 0, 1, opts->seed)) != SN_OK ||
        (st = sn_learn_mean(ds, d, h->mean)) != SN_OK)
        goto done;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    /* The rules see y = Wx with no bias; the bias is set at the end. */
    memset(h->lin.bias, 0, sizeof *h->lin.bias * (size_t)k);
    if ((st = run_epochs(&r, ds, opts, order, norm)) != SN_OK) goto done;
    /* The model's outputs are the projections W(x - mean) of raw examples. */
    for (int j = 0; j < k; j++) {
        const float *w = h->lin.weight + j * d;
        double wm = 0.0;
        for (int64_t i = 0; i < d; i++) wm += (double)w[i] * h->mean[i];
        h->lin.bias[j] = (float)-wm;
    }

done:
    free(order);
    free(norm);
    free(r.centred);
    free(r.y);
    free(r.rest);
    if (st != SN_OK) {
        sn_hebb_destroy(h);
        return st;
    }
    *out = h;
    return SN_OK;
}

const float *sn_hebb_weights(const sn_hebb *h) {
    return h ? h->lin.weight : NULL;
}

const double *sn_hebb_mean(const sn_hebb *h) {
    return h ? h->mean : NULL;
}

int sn_hebb_components(const sn_hebb *h) {
    return h ? h->lin.k : 0;
}

int64_t sn_hebb_features(const sn_hebb *h) {
    return h ? h->lin.d : 0;
}

sn_model *sn_hebb_model(sn_hebb *h) {
    return h ? h->lin.model : NULL;
}

void sn_hebb_destroy(sn_hebb *h) {
    if (!h) return;
    sn_learn_linear_destroy(&h->lin);
    free(h->mean);
    free(h);
}

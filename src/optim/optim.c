/* Optimiser objects: options, state blocks, dispatch to the update rules in
 * sgd.c and adam.c (sinapsi/optim.h). */
#include "optim/optim_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

sn_optim_opts sn_optim_defaults(sn_optim_kind kind) {
    sn_optim_opts o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr = kind == SN_OPTIM_SGD ? 0.01 : 1e-3;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = kind == SN_OPTIM_ADAMW ? 0.01 : 0.0;
    return o;
}

static const char *const optim_names[] = {"sgd", "adam", "adamw"};

sn_status sn_optim_parse(const char *name, sn_optim_kind *out) {
    for (int k = 0; k < 3; k++)
        if (name && !strcmp(name, optim_names[k])) {
            *out = (sn_optim_kind)k;
            return SN_OK;
        }
    return sn_error(SN_ERR_INVALID_ARG, "unknown optimiser '%s' (sgd, adam or adamw)",
                    name ? name : "");
}

const char *sn_optim_name(sn_optim_kind kind) {
    return (unsigned)kind < 3 ? optim_names[kind] : "?";
}

static int finite_in(double v, double lo, double hi) {
    return isfinite(v) && v >= lo && v <= hi;
}

static sn_status check_opts(const sn_optim_opts *o) {
    if ((unsigned)o->kind > SN_OPTIM_ADAMW)
        return sn_error(SN_ERR_INVALID_ARG, "optimiser: unknown kind %d", (int)o->kind);
    if (!(isfinite(o->lr) && o->lr > 0))
        return sn_error(SN_ERR_INVALID_ARG, "optimiser: learning rate %g must be > 0", o->lr);
    if (!finite_in(o->weight_decay, 0, INFINITY))
        return sn_error(SN_ERR_INVALID_ARG, "optimiser: weight decay %g must be >= 0",
                        o->weight_decay);
    if (o->kind == SN_OPTIM_SGD) {
        if (!finite_in(o->momentum, 0, INFINITY))
            return sn_error(SN_ERR_INVALID_ARG, "sgd: momentum %g must be >= 0", o->momentum);
        if (!finite_in(o->dampening, 0, 1))
            return sn_error(SN_ERR_INVALID_ARG, "sgd: dampening %g must be in [0, 1]",
                            o->dampening);
        /* torch.optim.SGD: "Nesterov momentum requires a momentum and zero dampening". */
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return sn_error(SN_ERR_INVALID_ARG,
                            "sgd: Nesterov momentum requires a momentum and zero dampening");
        if (o->velocity_form && (o->dampening != 0 || o->nesterov))
            return sn_error(SN_ERR_INVALID_ARG,
                            "sgd: the velocity form has no dampening and no Nesterov variant");
    } else {
        if (!finite_in(o->beta1, 0, 1) || o->beta1 >= 1 || !finite_in(o->beta2, 0, 1) ||
            o->beta2 >= 1)
            return sn_error(SN_ERR_INVALID_ARG, "%s: betas (%g, %g) must be in [0, 1)",
                            sn_optim_name(o->kind), o->beta1, o->beta2);
        if (!finite_in(o->eps, 0, INFINITY))
            return sn_error(SN_ERR_INVALID_ARG, "%s: eps %g must be >= 0", sn_optim_name(o->kind),
                            o->eps);
    }
    return SN_OK;
}

sn_status sn_optim_create(sn_optim **out, const sn_optim_opts *opts, size_t n_params) {
    if (!out || !opts) return sn_error(SN_ERR_INVALID_ARG, "sn_optim_create: NULL argument");
    *out = NULL;
    sn_status st = check_opts(opts);
    if (st != SN_OK) return st;
    sn_optim *o = calloc(1, sizeof *o);
    if (!o) return sn_error(SN_ERR_NOMEM, "optimiser: out of memory");
    o->opts = *opts;
    o->n = n_params;
    int n_state = opts->kind == SN_OPTIM_SGD ? (opts->momentum > 0) : 2;
    for (int i = 0; i < n_state; i++) {
        o->state[i] = calloc(n_params ? n_params : 1, sizeof(float));
        if (!o->state[i]) {
            sn_optim_destroy(o);
            return sn_error(SN_ERR_NOMEM, "optimiser: cannot allocate state for %zu parameters",
                            n_params);
        }
    }
    *out = o;
    return SN_OK;
}

void sn_optim_destroy(sn_optim *opt) {
    if (!opt) return;
    free(opt->state[0]);
    free(opt->state[1]);
    free(opt);
}

sn_status sn_optim_step(sn_optim *opt, float *params, const float *grads, double lr) {
    if (!opt || (!params && opt->n) || (!grads && opt->n))
        return sn_error(SN_ERR_INVALID_ARG, "optimiser step: NULL argument");
    if (!(isfinite(lr) && lr >= 0))
        return sn_error(SN_ERR_INVALID_ARG, "optimiser step: learning rate %g", lr);
    opt->steps++;
    if (opt->opts.kind == SN_OPTIM_SGD)
        sn_sgd_update(opt, params, grads, lr);
    else
        sn_adam_update(opt, params, grads, lr);
    return SN_OK;
}

int64_t sn_optim_steps(const sn_optim *opt) {
    return opt ? opt->steps : 0;
}
void sn_optim_set_steps(sn_optim *opt, int64_t steps) {
    if (opt) opt->steps = steps;
}
float *sn_optim_state(sn_optim *opt, int index) {
    return opt && (index == 0 || index == 1) ? opt->state[index] : NULL;
}
const sn_optim_opts *sn_optim_options(const sn_optim *opt) {
    return opt ? &opt->opts : NULL;
}

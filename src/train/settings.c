/* The settings table of a training run (see settings.h). */
#include "train/settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static const char *const init_names[] = {"torch_default", "xavier_uniform", "xavier_normal",
                                         "kaiming_uniform", "kaiming_normal"};

static void add_text(sn_settings *s, const char *key, const char *value, int flags) {
    s->item[s->count++] = (sn_setting){key, value, flags};
}

/* The shortest of %.15g and %.17g that reads back as v: "0.05", not
 * "0.050000000000000003". */
static void add_double(sn_settings *s, const char *key, double v, int flags) {
    snprintf(s->text[s->count], sizeof s->text[0], "%.15g", v);
    if (strtod(s->text[s->count], NULL) != v)
        snprintf(s->text[s->count], sizeof s->text[0], "%.17g", v);
    add_text(s, key, s->text[s->count], flags | SN_SETTING_NUMBER);
}

static void add_int(sn_settings *s, const char *key, long long v, int flags) {
    snprintf(s->text[s->count], sizeof s->text[0], "%lld", v);
    add_text(s, key, s->text[s->count], flags | SN_SETTING_NUMBER);
}

static void add_u64(sn_settings *s, const char *key, uint64_t v, int flags) {
    snprintf(s->text[s->count], sizeof s->text[0], "%llu", (unsigned long long)v);
    add_text(s, key, s->text[s->count], flags | SN_SETTING_NUMBER);
}

sn_status sn_settings__make(sn_settings *s, const sn_train_opts *o, const sn_model *m,
                            const sn_task *t, int64_t n_train) {
    memset(s, 0, sizeof *s);
    const int n_modules = sn_model_module_count(m);
    sn_status st = sn_spec_format(sn_model_module(m, 0), n_modules, &s->spec);
    if (st != SN_OK) return st;
    const int match = SN_SETTING_MATCH;
    char shape[48] = "";
    const sn_shape *sample = sn_model_sample_shape(m);
    for (int i = 0, used = 0; i < sample->ndim; i++)
        used += snprintf(shape + used, sizeof shape - (size_t)used, i ? "x%lld" : "%lld",
                         (long long)sample->dim[i]);
    add_text(s, "spec", s->spec, match);
    memcpy(s->text[s->count], shape, sizeof shape);
    add_text(s, "input_shape", s->text[s->count], match);
    add_int(s, "n_train", n_train, match);
    add_int(s, "batch", o->batch, match);
    add_text(s, "loss", sn_loss_name(t->loss), match);
    add_int(s, "shuffle", o->shuffle != 0, match);
    add_text(s, "optim", sn_optim_name(o->optim.kind), match);
    add_double(s, "lr", o->optim.lr, match);
    add_double(s, "weight_decay", o->optim.weight_decay, match);
    add_double(s, "momentum", o->optim.momentum, match);
    add_double(s, "dampening", o->optim.dampening, match);
    add_int(s, "nesterov", o->optim.nesterov, match);
    add_int(s, "velocity_form", o->optim.velocity_form, match);
    add_double(s, "beta1", o->optim.beta1, match);
    add_double(s, "beta2", o->optim.beta2, match);
    add_double(s, "eps", o->optim.eps, match);
    /* Free to change between a run and its resumption (documented in
     * docs/checkpoints.md): they do not alter the state that was saved. */
    add_int(s, "epochs", o->epochs, 0);
    add_u64(s, "seed", o->seed, 0);
    add_text(s, "init", (unsigned)o->init < 5 ? init_names[o->init] : "?", 0);
    add_int(s, "keep_weights", o->keep_weights != 0, 0);
    add_text(s, "schedule", sn_schedule_name(o->schedule.kind), 0);
    add_int(s, "step_size", o->schedule.step_size, 0);
    add_double(s, "gamma", o->schedule.gamma, 0);
    add_int(s, "total_epochs", o->schedule.total_epochs, 0);
    add_double(s, "eta_min", o->schedule.eta_min, 0);
    add_int(s, "warmup_steps", o->schedule.warmup_steps, 0);
    add_double(s, "clip", o->clip, 0);
    add_double(s, "val_split", o->val_split, 0);
    add_int(s, "max_steps", o->max_steps, 0);
    return SN_OK;
}

void sn_settings__free(sn_settings *s) {
    free(s->spec);
    s->spec = NULL;
}

const char *sn_settings__get(const sn_settings *s, const char *key) {
    for (int i = 0; i < s->count; i++)
        if (!strcmp(s->item[i].key, key)) return s->item[i].value;
    return NULL;
}

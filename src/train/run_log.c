/* The JSON-lines log of a training run (see run_log.h). */
#include "train/run_log.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "sinapsi/sinapsi.h"
#include "train/health.h"
#include "train/numeric.h"

sn_status sn_run_log__open(sn_run_log *log, const char *path) {
    log->file = NULL;
    log->path = path;
    if (!path) return SN_OK;
    log->file = fopen(path, "a");
    if (!log->file)
        return sn_error(SN_ERR_IO, "%s: cannot open the log for appending: %s", path,
                        strerror(errno));
    return SN_OK;
}

void sn_run_log__close(sn_run_log *log) {
    if (log->file) fclose(log->file);
    log->file = NULL;
}

/* Writes one line and flushes it, so that a run that dies keeps its log. */
static sn_status write_line(sn_run_log *log, const char *text) {
    if (fputs(text, log->file) == EOF || fputc('\n', log->file) == EOF || fflush(log->file))
        return sn_error(SN_ERR_IO, "%s: cannot write the log: %s", log->path, strerror(errno));
    return SN_OK;
}

static sn_status write_object(sn_run_log *log, cJSON *o) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return sn_error(SN_ERR_NOMEM, "%s: out of memory for a log line", log->path);
    sn_status st = write_line(log, text);
    cJSON_free(text);
    return st;
}

/* A number, or null for NaN and infinities (JSON has neither). */
static void add_number(cJSON *o, const char *key, double v) {
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_string_or_null(cJSON *o, const char *key, const char *v) {
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

sn_status sn_run_log__settings(sn_run_log *log, const sn_settings *s, const sn_train_opts *o,
                               int threads, const sn_dataset *train, const sn_dataset *eval,
                               const char *eval_split) {
    if (!log->file) return SN_OK;
    cJSON *j = cJSON_CreateObject();
    if (!j) return sn_error(SN_ERR_NOMEM, "%s: out of memory for a log line", log->path);
    cJSON_AddStringToObject(j, "type", "settings");
    cJSON_AddStringToObject(j, "version", sn_version());
    cJSON_AddNumberToObject(j, "threads", threads);
    cJSON_AddStringToObject(j, "gemm_backend", sn_gemm_backend());
    /* Numbers as their exact text: a u64 seed would lose bits as a double. */
    for (int i = 0; i < s->count; i++) {
        const sn_setting *e = &s->item[i];
        if (e->flags & SN_SETTING_NUMBER)
            cJSON_AddRawToObject(j, e->key, e->value);
        else
            cJSON_AddStringToObject(j, e->key, e->value);
    }
    cJSON_AddStringToObject(j, "data", sn_dataset_source(train));
    /* As applied (auto resolved), so that a report reads the data alike. */
    cJSON_AddStringToObject(j, "normalize", sn_normalize_name(sn_dataset_normalization(train)));
    cJSON_AddNumberToObject(j, "n_test", eval ? (double)sn_dataset_count(eval) : 0.0);
    add_string_or_null(j, "eval_split", eval ? eval_split : NULL);
    cJSON_AddNumberToObject(j, "log_steps", o->log_steps != 0);
    cJSON_AddNumberToObject(j, "health_every", o->health_every);
    add_string_or_null(j, "checkpoint", o->checkpoint);
    add_string_or_null(j, "resume", o->resume);
    add_string_or_null(j, "out", o->out);
    add_string_or_null(j, "log", o->log);
    static const char *const progress_names[] = {"auto", "bar", "lines", "none"};
    cJSON_AddStringToObject(j, "progress", progress_names[o->progress]);
    return write_object(log, j);
}

sn_status sn_run_log__epoch(sn_run_log *log, const sn_epoch_stats *e) {
    if (!log->file) return SN_OK;
    cJSON *j = cJSON_CreateObject();
    if (!j) return sn_error(SN_ERR_NOMEM, "%s: out of memory for a log line", log->path);
    cJSON_AddStringToObject(j, "type", "epoch");
    cJSON_AddNumberToObject(j, "epoch", e->epoch);
    cJSON_AddNumberToObject(j, "step", (double)e->step);
    add_number(j, "lr", e->lr);
    add_number(j, "train_loss", e->train_loss);
    add_number(j, "train_accuracy", e->train_accuracy);
    cJSON_AddNumberToObject(j, "has_eval", e->has_eval);
    if (e->has_eval) {
        cJSON_AddStringToObject(j, "eval_split", e->eval_split);
        cJSON *ev = cJSON_AddObjectToObject(j, "eval");
        if (ev) {
            cJSON_AddNumberToObject(ev, "n", (double)e->eval.n);
            add_number(ev, "loss", e->eval.loss);
            add_number(ev, "accuracy", e->eval.accuracy);
            cJSON_AddNumberToObject(ev, "correct", (double)e->eval.correct);
            add_number(ev, "seconds", e->eval.seconds);
        }
    }
    add_number(j, "seconds", e->seconds);
    add_number(j, "images_per_second", e->images_per_second);
    return write_object(log, j);
}

sn_status sn_run_log__step(sn_run_log *log, int epoch, int64_t step, float loss, double lr) {
    if (!log->file) return SN_OK;
    char line[160];
    snprintf(line, sizeof line,
             "{\"type\":\"step\",\"epoch\":%d,\"step\":%lld,\"loss\":%.9g,\"lr\":%.17g}", epoch,
             (long long)step, (double)loss, lr);
    return write_line(log, line);
}

static void add_warning(const char *line, void *array) {
    cJSON_AddItemToArray(array, cJSON_CreateString(line));
}

static void add_layer(cJSON *layers, const sn_layer_health *x) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(layers, o)) {
        cJSON_Delete(o);
        return;
    }
    cJSON_AddNumberToObject(o, "module", x->module);
    cJSON_AddStringToObject(o, "name", x->name);
    cJSON_AddStringToObject(o, "kind", x->kind_name);
    add_number(o, "weight_norm", x->weight_norm);
    add_number(o, "grad_norm", x->grad_norm);
    add_number(o, "update_ratio", x->update_ratio);
    add_number(o, "input_grad_mean_abs", x->input_grad_mean_abs);
    add_number(o, "saturated", x->saturated);
    add_number(o, "dead", x->dead);
}

sn_status sn_run_log__health(sn_run_log *log, sn_model *m, const sn_health *h) {
    if (!log->file) return SN_OK;
    cJSON *j = cJSON_CreateObject();
    if (!j) return sn_error(SN_ERR_NOMEM, "%s: out of memory for a log line", log->path);
    cJSON_AddStringToObject(j, "type", h->is_epoch ? "health_epoch" : "health");
    cJSON_AddNumberToObject(j, "epoch", h->epoch);
    cJSON_AddNumberToObject(j, "step", (double)h->step);
    if (h->is_epoch) cJSON_AddNumberToObject(j, "samples", h->samples);
    if (h->first_nonfinite >= 0) {
        char text[256];
        cJSON *bad = cJSON_AddObjectToObject(j, "first_nonfinite");
        if (bad) {
            cJSON_AddNumberToObject(bad, "module", h->first_nonfinite);
            cJSON_AddStringToObject(
                bad, "name", sn_train__module_text(m, h->first_nonfinite, text, sizeof text));
        }
    } else {
        cJSON_AddNullToObject(j, "first_nonfinite");
    }
    cJSON *layers = cJSON_AddArrayToObject(j, "layers");
    for (int l = 0; layers && l < h->n_layers; l++) add_layer(layers, &h->layers[l]);
    if (h->is_epoch) {
        cJSON *warnings = cJSON_AddArrayToObject(j, "warnings");
        if (warnings) sn_health__warnings(h, add_warning, warnings);
    }
    return write_object(log, j);
}

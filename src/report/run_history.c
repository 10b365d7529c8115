/* Reading a run's JSON-lines log back (run_history.h). The log is input like
 * any other file: every line is parsed and checked, its length is bounded,
 * and a missing or mistyped field is an error naming the line. */
#include "report/run_history.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"

const char *const sn_health_field_names[SN_HEALTH_FIELDS] = {
    "weight_norm", "grad_norm", "update_ratio", "input_grad_mean_abs", "saturated", "dead"};

/* A settings line holds the spec; 16 MB is far beyond any real line. */
#define MAX_LINE (16 << 20)
#define MAX_ITEMS 10000000 /* epochs and health points */
#define MAX_LAYERS 4096

/* A number, NaN for null or absent; -1 for another type. */
static int get_number(const cJSON *o, const char *key, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NAN;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v)) return -1;
    *out = v->valuedouble;
    return 0;
}

/* An integer field that must be there, within [0, max]. */
static int get_count(const cJSON *o, const char *key, double max, double *out) {
    if (get_number(o, key, out) || !(*out >= 0 && *out <= max) || *out != floor(*out)) return -1;
    return 0;
}

/* Grows *items (of size bytes each) to hold one more than n. */
static int reserve(void **items, int n, int *cap, size_t size) {
    if (n < *cap) return 0;
    if (n >= MAX_ITEMS) return -1;
    int grown = *cap ? *cap * 2 : 64;
    void *p = realloc(*items, (size_t)grown * size);
    if (!p) return -1;
    *items = p;
    *cap = grown;
    return 0;
}

typedef struct reader {
    const char *path;
    long line;
    int epoch_cap, health_cap;
    int resume_pending; /* a resumed run's first epoch not seen yet */
} reader;

static sn_status bad_line(const reader *r, const char *what) {
    return sn_error(SN_ERR_FORMAT, "%s: line %ld: %s", r->path, r->line, what);
}

/* A resumed run logs again from its checkpoint's next epoch: drop what the
 * first run logged from there on. */
static void truncate_from(sn_run_history *h, int epoch) {
    int kept = 0;
    for (int i = 0; i < h->n_epochs; i++)
        if (h->epochs[i].epoch < epoch) h->epochs[kept++] = h->epochs[i];
    h->n_epochs = kept;
    kept = 0;
    for (int i = 0; i < h->n_health; i++)
        if (h->health[i].epoch < epoch) h->health[kept++] = h->health[i];
    h->n_health = kept;
}

static sn_status read_settings(reader *r, sn_run_history *h, cJSON *line) {
    const cJSON *resume = cJSON_GetObjectItemCaseSensitive(line, "resume");
    const int resumed = cJSON_IsString(resume);
    if (!resumed) h->n_epochs = h->n_health = 0;
    r->resume_pending = resumed;
    cJSON *copy = cJSON_Duplicate(line, 1);
    if (!copy) return sn_error(SN_ERR_NOMEM, "%s: out of memory", r->path);
    cJSON_Delete(h->settings);
    h->settings = copy;
    return SN_OK;
}

static void note_epoch(reader *r, sn_run_history *h, int epoch) {
    if (r->resume_pending) truncate_from(h, epoch);
    r->resume_pending = 0;
}

static sn_status read_epoch(reader *r, sn_run_history *h, const cJSON *line) {
    double epoch, step;
    sn_run_epoch e;
    if (get_count(line, "epoch", 1e9, &epoch) || get_count(line, "step", 9e15, &step))
        return bad_line(r, "an epoch line needs whole numbers \"epoch\" and \"step\"");
    if (get_number(line, "train_loss", &e.train_loss) ||
        get_number(line, "train_accuracy", &e.train_accuracy))
        return bad_line(r, "\"train_loss\" and \"train_accuracy\" must be numbers or null");
    e.epoch = (int)epoch;
    e.step = (int64_t)step;
    e.eval_loss = e.eval_accuracy = NAN;
    const cJSON *eval = cJSON_GetObjectItemCaseSensitive(line, "eval");
    if (eval) {
        if (!cJSON_IsObject(eval) || get_number(eval, "loss", &e.eval_loss) ||
            get_number(eval, "accuracy", &e.eval_accuracy))
            return bad_line(r, "\"eval\" must be an object with numbers \"loss\", \"accuracy\"");
        const cJSON *split = cJSON_GetObjectItemCaseSensitive(line, "eval_split");
        if (cJSON_IsString(split))
            snprintf(h->eval_split, sizeof h->eval_split, "%s", split->valuestring);
    }
    note_epoch(r, h, e.epoch);
    if (reserve((void **)&h->epochs, h->n_epochs, &r->epoch_cap, sizeof *h->epochs))
        return sn_error(SN_ERR_NOMEM, "%s: line %ld: too many epochs", r->path, r->line);
    h->epochs[h->n_epochs++] = e;
    return SN_OK;
}

/* The index of module's layer in h->layers, added (in module order) if new. */
static int layer_index(sn_run_history *h, int module, const char *name) {
    int i = 0;
    while (i < h->n_layers && h->layers[i].module < module) i++;
    if (i < h->n_layers && h->layers[i].module == module) return i;
    if (h->n_layers >= MAX_LAYERS) return -1;
    sn_health_layer *grown = realloc(h->layers, sizeof *grown * (size_t)(h->n_layers + 1));
    if (!grown) return -1;
    h->layers = grown;
    memmove(&h->layers[i + 1], &h->layers[i], sizeof *grown * (size_t)(h->n_layers - i));
    h->layers[i].module = module;
    snprintf(h->layers[i].name, sizeof h->layers[i].name, "%.*s", (int)strcspn(name, "("), name);
    h->n_layers++;
    /* Points refer to layers by index: shift those after the insertion. */
    for (int p = 0; p < h->n_health; p++)
        if (h->health[p].layer >= i) h->health[p].layer++;
    return i;
}

static sn_status read_health(reader *r, sn_run_history *h, const cJSON *line) {
    double epoch, step;
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(line, "layers");
    if (get_count(line, "epoch", 1e9, &epoch) || get_count(line, "step", 9e15, &step) ||
        !cJSON_IsArray(layers))
        return bad_line(r, "a health line needs \"epoch\", \"step\" and a \"layers\" array");
    note_epoch(r, h, (int)epoch);
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) {
        double module;
        /* The legend wants "Linear", not the whole constructor: "kind" when
         * logged, else the name up to its '('. */
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "kind");
        if (!cJSON_IsString(name)) name = cJSON_GetObjectItemCaseSensitive(l, "name");
        if (!cJSON_IsObject(l) || get_count(l, "module", MAX_LAYERS * 16.0, &module) ||
            !cJSON_IsString(name))
            return bad_line(r, "each of \"layers\" needs a whole \"module\" and a \"name\"");
        sn_health_point p = {.epoch = (int)epoch, .step = (int64_t)step};
        for (int f = 0; f < SN_HEALTH_FIELDS; f++)
            if (get_number(l, sn_health_field_names[f], &p.value[f]))
                return bad_line(r, "a layer's health values must be numbers or null");
        p.layer = layer_index(h, (int)module, name->valuestring);
        if (p.layer < 0 ||
            reserve((void **)&h->health, h->n_health, &r->health_cap, sizeof *h->health))
            return sn_error(SN_ERR_NOMEM, "%s: line %ld: too many health values", r->path, r->line);
        h->health[h->n_health++] = p;
    }
    return SN_OK;
}

static sn_status read_line(reader *r, sn_run_history *h, const char *text) {
    cJSON *line = cJSON_Parse(text);
    if (!line) return bad_line(r, "not JSON");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(line, "type");
    sn_status st = SN_OK;
    if (!cJSON_IsObject(line) || !cJSON_IsString(type))
        st = bad_line(r, "not an object with a \"type\"");
    else if (!strcmp(type->valuestring, "settings"))
        st = read_settings(r, h, line);
    else if (!strcmp(type->valuestring, "epoch"))
        st = read_epoch(r, h, line);
    else if (!strcmp(type->valuestring, "health"))
        st = read_health(r, h, line);
    cJSON_Delete(line);
    return st;
}

sn_status sn_run_history__read(const char *path, sn_run_history *out) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "r");
    if (!f) return sn_error(SN_ERR_IO, "%s: cannot open the log: %s", path, strerror(errno));
    reader r = {.path = path};
    char *text = NULL;
    size_t cap = 0;
    ssize_t len;
    sn_status st = SN_OK;
    while (st == SN_OK && (len = getline(&text, &cap, f)) >= 0) {
        r.line++;
        if (len > MAX_LINE) {
            st = bad_line(&r, "longer than 16 MB");
            break;
        }
        if ((size_t)len != strlen(text)) {
            st = bad_line(&r, "holds a NUL byte");
            break;
        }
        if (strspn(text, " \t\r\n") == (size_t)len) continue;
        st = read_line(&r, out, text);
    }
    if (st == SN_OK && ferror(f)) st = sn_error(SN_ERR_IO, "%s: cannot read the log", path);
    if (st == SN_OK && !out->settings)
        st = sn_error(SN_ERR_FORMAT, "%s: no settings line: not a sinapsi training log", path);
    free(text);
    fclose(f);
    if (st != SN_OK) sn_run_history__free(out);
    return st;
}

void sn_run_history__free(sn_run_history *h) {
    cJSON_Delete(h->settings);
    free(h->epochs);
    free(h->health);
    free(h->layers);
    memset(h, 0, sizeof *h);
}

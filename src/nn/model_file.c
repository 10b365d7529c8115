/*
 * Model files: safetensors with the weights under torch's state_dict names and
 * the spec and input shape in __metadata__ (layout in docs/formats.md).
 * Saving, loading a whole model, and strict loading of weights by name.
 */
#include "nn/model_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/sinapsi.h"

#define MODEL_FORMAT "sinapsi-model"

/* ---- input shape text: "1x28x28" ---- */

static void format_input_shape(const sn_shape *s, char *buf, size_t cap) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->ndim && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, i ? "x%lld" : "%lld", (long long)s->dim[i]);
        if (n > 0) used += (size_t)n;
    }
}

/* Parses 1 to 3 positive sizes separated by 'x'; nothing else is allowed. */
static sn_status parse_input_shape(const char *text, const char *path, sn_shape *out) {
    int64_t dims[SN_MAX_DIMS];
    int ndim = 0;
    const char *p = text;
    for (;;) {
        if (!isdigit((unsigned char)*p) || ndim == SN_MAX_DIMS - 1) break;
        int64_t v = 0;
        while (isdigit((unsigned char)*p) && v <= SN_MAX_NUMEL) v = v * 10 + (*p++ - '0');
        dims[ndim++] = v;
        if (*p == '\0') {
            if (sn_shape_make(out, ndim, dims) == SN_OK) return SN_OK;
            break;
        }
        if (*p++ != 'x') break;
    }
    return sn_error(SN_ERR_FORMAT,
                    "%s: __metadata__ input_shape '%s' is not 1 to 3 sizes such as 1x28x28", path,
                    text);
}

/* ---- the model's state: parameters and buffers ---- */

/* The two kinds of graph leaves a model file holds, each a block of its own:
 * parameters (trained) and buffers (BatchNorm's running statistics). */
typedef struct state_kind {
    int (*count)(const sn_graph *g);
    int (*node)(const sn_graph *g, int index);
    float *(*block)(sn_graph *g, size_t *count);
} state_kind;

static const state_kind state_kinds[2] = {
    {sn_graph_param_count, sn_graph_param_node, sn_graph_params},
    {sn_graph_buffer_count, sn_graph_buffer_node, sn_graph_buffers},
};

static int state_count(const sn_graph *g) {
    return sn_graph_param_count(g) + sn_graph_buffer_count(g);
}

/* The i-th parameter or buffer in creation order, which is the state_dict's
 * order (module by module: weight, bias, running_mean, running_var,
 * num_batches_tracked): the two id lists, each increasing, merged. */
static int state_node(const sn_graph *g, int i) {
    int p = 0, b = 0;
    const int n_p = sn_graph_param_count(g), n_b = sn_graph_buffer_count(g);
    for (;;) {
        const int next_p = p < n_p ? sn_graph_param_node(g, p) : -1;
        const int next_b = b < n_b ? sn_graph_buffer_node(g, b) : -1;
        const int take_param = next_b < 0 || (next_p >= 0 && next_p < next_b);
        if (i-- == 0) return take_param ? next_p : next_b;
        take_param ? p++ : b++;
    }
}

/* ---- saving ---- */

sn_status sn_model_save(const sn_model *m, const char *path) {
    if (!m || !path) return sn_error(SN_ERR_INVALID_ARG, "save: NULL argument");
    if (!m->graph) return sn_error(SN_ERR_STATE, "save: compile the model first");
    sn_graph *g = m->graph;
    const int n = state_count(g);
    const char **names = malloc((size_t)(n + 1) * sizeof *names);
    sn_tensor *views = malloc((size_t)(n + 1) * sizeof *views);
    const sn_tensor **tensors = malloc((size_t)(n + 1) * sizeof *tensors);
    char *spec = NULL;
    sn_status st = SN_OK;
    if (!names || !views || !tensors) {
        st = sn_error(SN_ERR_NOMEM, "save: out of memory");
        goto done;
    }
    /* Views into the parameter and buffer blocks: the writer reads only shape
     * and data. */
    for (int i = 0; i < n; i++) {
        const int node = state_node(g, i);
        names[i] = sn_graph_node_name(g, node);
        views[i].shape = *sn_graph_shape(g, node);
        views[i].data = sn_graph_value(g, node);
        tensors[i] = &views[i];
    }
    if ((st = sn_spec_format(m->modules, m->count, &spec)) != SN_OK) goto done;
    char input_shape[96];
    format_input_shape(&m->opts.sample_shape, input_shape, sizeof input_shape);
    const char *keys[] = {"format", "spec", "input_shape", "sinapsi_version"};
    const char *values[] = {MODEL_FORMAT, spec, input_shape, sn_version()};
    st = sn_safetensors_write(path, n, names, tensors, 4, keys, values);
done:
    free(spec);
    free(names);
    free(views);
    free(tensors);
    return st;
}

/* ---- strict loading of weights ---- */

/* "3.weight", "12.bias", "0.running_mean": the names of an nn.Sequential's
 * state_dict, the only ones a model file may hold that the model must own. */
static int is_parameter_name(const char *name) {
    const char *p = name;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p)) p++;
    return p[0] == '.' && p[1] != '\0';
}

static int model_has_state(sn_graph *g, const char *name) {
    for (int i = 0; i < state_count(g); i++)
        if (strcmp(sn_graph_node_name(g, state_node(g, i)), name) == 0) return 1;
    return 0;
}

/* "[6, 1, 5, 5]" of a file tensor (up to 8 dimensions). */
static void format_dims(int ndim, const int64_t *dims, char *buf, size_t cap) {
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && used < cap; i++) {
        int n = snprintf(buf + used, cap - used, i ? ", %lld" : "%lld", (long long)dims[i]);
        if (n > 0) used += (size_t)n;
    }
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

/* Every parameter (or buffer) of one kind present with its exact shape;
 * returns its file index in idx. */
static sn_status check_present(const sn_model *m, const state_kind *kind, const sn_safetensors *f,
                               int *idx) {
    sn_graph *g = m->graph;
    const char *path = sn_safetensors_path(f);
    char want[64], got[128];
    for (int i = 0; i < kind->count(g); i++) {
        const int node = kind->node(g, i);
        const char *name = sn_graph_node_name(g, node);
        const sn_shape *shape = sn_graph_shape(g, node);
        sn_shape_format(shape, want, sizeof want);
        idx[i] = sn_safetensors_find(f, name);
        if (idx[i] < 0)
            return sn_error(SN_ERR_FORMAT,
                            "%s: tensor '%s' is missing (the model needs it with shape %s)", path,
                            name, want);
        const int ndim = sn_safetensors_ndim(f, idx[i]);
        const int64_t *dims = sn_safetensors_dims(f, idx[i]);
        int same = ndim == shape->ndim;
        for (int d = 0; same && d < ndim; d++) same = dims[d] == shape->dim[d];
        if (!same) {
            format_dims(ndim, dims, got, sizeof got);
            return sn_error(SN_ERR_SHAPE, "%s: tensor '%s' has shape %s, the model expects %s",
                            path, name, got, want);
        }
    }
    return SN_OK;
}

/* No tensor named like a state_dict entry that the model does not have as a
 * parameter or a buffer. */
static sn_status check_no_extra(const sn_model *m, const sn_safetensors *f) {
    const char *path = sn_safetensors_path(f);
    for (int i = 0; i < sn_safetensors_count(f); i++) {
        const char *name = sn_safetensors_name(f, i);
        if (!is_parameter_name(name) || model_has_state(m->graph, name)) continue;
        const long module = strtol(name, NULL, 10);
        char desc[96] = "";
        if (module >= 0 && module < m->count)
            snprintf(desc, sizeof desc, "module %ld is %s, which has no such tensor", module,
                     sn_module_kind_name(m->modules[module].kind));
        else
            snprintf(desc, sizeof desc, "the model has %d modules", m->count);
        return sn_error(SN_ERR_FORMAT,
                        "%s: tensor '%s' is not a parameter or buffer of this model (%s)", path,
                        name, desc);
    }
    return SN_OK;
}

/* Reads the parameters (or buffers) of one kind into staging, laid out as
 * their block. */
static sn_status read_kind(sn_graph *g, const state_kind *kind, const sn_safetensors *f,
                           const int *idx, float *staging) {
    size_t offset = 0;
    for (int i = 0; i < kind->count(g); i++) {
        const size_t count = (size_t)sn_shape_numel(sn_graph_shape(g, kind->node(g, i)));
        sn_status st = sn_safetensors_read_into(f, idx[i], staging + offset, count);
        if (st != SN_OK) return st;
        offset += count;
    }
    return SN_OK;
}

sn_status sn_model__weights_from(sn_model *m, const sn_safetensors *f) {
    if (!m->graph) return sn_error(SN_ERR_STATE, "load weights: compile the model first");
    sn_graph *g = m->graph;
    int *idx[2] = {NULL, NULL};
    float *staging[2] = {NULL, NULL}; /* laid out as the parameter and the buffer block */
    size_t n_floats[2];
    sn_status st = SN_OK;
    for (int k = 0; k < 2 && st == SN_OK; k++) {
        state_kinds[k].block(g, &n_floats[k]);
        idx[k] = malloc((size_t)(state_kinds[k].count(g) + 1) * sizeof *idx[k]);
        staging[k] = malloc((n_floats[k] + 1) * sizeof *staging[k]);
        if (!idx[k] || !staging[k]) st = sn_error(SN_ERR_NOMEM, "load weights: out of memory");
    }
    for (int k = 0; k < 2 && st == SN_OK; k++) st = check_present(m, &state_kinds[k], f, idx[k]);
    if (st == SN_OK) st = check_no_extra(m, f);
    /* Convert everything first (a value may not fit float32), then copy, so a
     * failure leaves the model as it was. */
    for (int k = 0; k < 2 && st == SN_OK; k++)
        st = read_kind(g, &state_kinds[k], f, idx[k], staging[k]);
    for (int k = 0; k < 2 && st == SN_OK; k++)
        memcpy(state_kinds[k].block(g, NULL), staging[k], n_floats[k] * sizeof(float));
    for (int k = 0; k < 2; k++) {
        free(idx[k]);
        free(staging[k]);
    }
    return st;
}

sn_status sn_model_load_weights(sn_model *m, const char *path) {
    if (!m || !path) return sn_error(SN_ERR_INVALID_ARG, "load weights: NULL argument");
    if (!m->graph) return sn_error(SN_ERR_STATE, "load weights: compile the model first");
    sn_safetensors *f;
    sn_status st = sn_safetensors_open(&f, path);
    if (st != SN_OK) return st;
    st = sn_model__weights_from(m, f);
    sn_safetensors_close(f);
    return st;
}

/* ---- loading a model ---- */

/* The rule is documented in model.h. Eight bytes of text (each >= 0x09) read
 * as a little-endian u64 are above 0x0909090909090909, far beyond the 100 MB
 * a safetensors header may take, so a spec can never pass for one. */
sn_status sn_model_file_is_safetensors(const char *path, int *is_safetensors) {
    if (!path || !is_safetensors)
        return sn_error(SN_ERR_INVALID_ARG, "sn_model_file_is_safetensors: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp) return sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[8];
    const size_t got = fread(head, 1, sizeof head, fp);
    const int failed = ferror(fp);
    fclose(fp);
    if (failed) return sn_error(SN_ERR_IO, "%s: read error", path);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | head[i];
    const size_t len = strlen(path), suffix = strlen(".safetensors");
    *is_safetensors = (got == sizeof head && header_len <= SN_SAFETENSORS_MAX_HEADER) ||
                      (len >= suffix && strcmp(path + len - suffix, ".safetensors") == 0);
    return SN_OK;
}

/* A model from the spec and input shape in f's metadata, compiled at batch 1,
 * with f's weights. */
static sn_status model_from_file(sn_model **out, const sn_safetensors *f) {
    const char *path = sn_safetensors_path(f);
    const char *spec = sn_safetensors_metadata(f, "spec");
    const char *input_shape = sn_safetensors_metadata(f, "input_shape");
    if (!spec)
        return sn_error(SN_ERR_FORMAT,
                        "%s: safetensors without a model spec in __metadata__ (a PyTorch "
                        "state_dict?): give the model as a spec file and this file as its "
                        "weights (--weights %s)",
                        path, path);
    if (!input_shape)
        return sn_error(SN_ERR_FORMAT, "%s: __metadata__ has a spec but no input_shape", path);
    sn_model_compile_opts opts = sn_model_compile_defaults();
    sn_status st = parse_input_shape(input_shape, path, &opts.sample_shape);
    if (st != SN_OK) return st;

    char source[512];
    snprintf(source, sizeof source, "%s (__metadata__ spec)", path);
    sn_module *modules = NULL;
    int count = 0;
    if ((st = sn_spec_parse(spec, strlen(spec), source, &modules, &count)) != SN_OK) return st;
    sn_model *m = NULL;
    st = sn_model_create(&m, modules, count);
    free(modules);
    if (st == SN_OK && (st = sn_model_compile(m, &opts)) != SN_OK)
        sn_error_prefix("%s: the model in __metadata__ does not compile: ", path);
    if (st == SN_OK) st = sn_model__weights_from(m, f);
    if (st != SN_OK) {
        sn_model_destroy(m);
        return st;
    }
    *out = m;
    return SN_OK;
}

sn_status sn_model_load(sn_model **out, const char *path) {
    if (!out || !path) return sn_error(SN_ERR_INVALID_ARG, "load: NULL argument");
    *out = NULL;
    int is_safetensors = 0;
    sn_status st = sn_model_file_is_safetensors(path, &is_safetensors);
    if (st != SN_OK) return st;
    if (!is_safetensors) return sn_model_from_spec_file(out, path);
    sn_safetensors *f;
    if ((st = sn_safetensors_open(&f, path)) != SN_OK) return st;
    st = model_from_file(out, f);
    sn_safetensors_close(f);
    return st;
}

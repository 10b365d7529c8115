/*
 * The Linear layer that the local learning rules update in place, and the
 * chunked pass over a dataset's examples that feeds them.
 */
#include "optim/learn_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sinapsi/graph.h"

sn_status sn_learn_features(const sn_dataset *ds, const char *who, int64_t *d) {
    if (!ds) return sn_error(SN_ERR_INVALID_ARG, "%s: dataset is NULL", who);
    *d = sn_shape_numel(sn_dataset_sample_shape(ds));
    /* sn_module.in_features is an int. */
    if (*d < 1 || *d > INT32_MAX)
        return sn_error(SN_ERR_SHAPE,
                        "%s: %s: %lld values per example, a Linear layer takes 1 to %d", who,
                        sn_dataset_source(ds), (long long)*d, INT32_MAX);
    return SN_OK;
}

/* The value buffer of the parameter called name, or NULL. */
static float *param_named(sn_graph *g, const char *name) {
    for (int i = 0; i < sn_graph_param_count(g); i++) {
        int node = sn_graph_param_node(g, i);
        if (!strcmp(sn_graph_node_name(g, node), name)) return sn_graph_value(g, node);
    }
    return NULL;
}

sn_status sn_learn_linear_create(learn_linear *out, const char *who, int64_t d, int k, int step,
                                 int random_init, uint64_t seed) {
    memset(out, 0, sizeof *out);
    sn_module modules[2] = {sn_module_linear((int)d, k, 1), sn_module_plain(SN_MOD_STEP)};
    sn_status st = sn_model_create(&out->model, modules, step ? 2 : 1);
    if (st != SN_OK) return sn_error_prefix("%s: ", who);
    sn_model_compile_opts o = sn_model_compile_defaults();
    o.batch = LEARN_CHUNK;
    sn_shape_make(&o.sample_shape, 1, (int64_t[]){d});
    if ((st = sn_model_compile(out->model, &o)) != SN_OK ||
        (random_init && (st = sn_model_init(out->model, seed, SN_INIT_TORCH_DEFAULT)) != SN_OK)) {
        sn_error_prefix("%s: ", who);
        sn_learn_linear_destroy(out);
        return st;
    }
    /* A first compile leaves the parameters at zero (model.h). */
    sn_graph *g = sn_model_graph(out->model);
    out->weight = param_named(g, "0.weight");
    out->bias = param_named(g, "0.bias");
    out->d = d;
    out->k = k;
    if (!out->weight || !out->bias) {
        sn_learn_linear_destroy(out);
        return sn_error(SN_ERR_STATE, "%s: the Linear layer has no 0.weight or 0.bias", who);
    }
    return SN_OK;
}

void sn_learn_linear_destroy(learn_linear *l) {
    sn_model_destroy(l->model);
    memset(l, 0, sizeof *l);
}

sn_status sn_learn_each_chunk(const sn_dataset *ds, int64_t d, const int64_t *order, int64_t n,
                              learn_visit visit, void *user) {
    const int64_t target_size = sn_dataset_target_size(ds);
    float *x = malloc(sizeof *x * (size_t)(LEARN_CHUNK * d));           /* (LEARN_CHUNK, d) */
    float *y = malloc(sizeof *y * (size_t)(LEARN_CHUNK * target_size)); /* (LEARN_CHUNK, t) */
    sn_status st = SN_OK;
    if (!x || !y)
        st = sn_error(SN_ERR_NOMEM, "%s: no memory for a chunk of %d examples",
                      sn_dataset_source(ds), LEARN_CHUNK);
    for (int64_t first = 0; first < n && st == SN_OK; first += LEARN_CHUNK) {
        const int64_t count = n - first < LEARN_CHUNK ? n - first : LEARN_CHUNK;
        st = sn_dataset_batch(ds, order + first, count, x, y);
        if (st == SN_OK) st = visit(x, y, count, user);
    }
    free(x);
    free(y);
    return st;
}

typedef struct mean_run {
    int64_t d;
    double *sum; /* (d) */
} mean_run;

static sn_status add_chunk(const float *x, const float *y, int64_t count, void *user) {
    mean_run *m = user;
    (void)y;
    for (int64_t r = 0; r < count; r++)
        for (int64_t i = 0; i < m->d; i++) m->sum[i] += x[r * m->d + i];
    return SN_OK;
}

sn_status sn_learn_mean(const sn_dataset *ds, int64_t d, double *mean) {
    const int64_t n = sn_dataset_count(ds);
    int64_t *order = malloc(sizeof *order * (size_t)n);
    if (!order) return sn_error(SN_ERR_NOMEM, "%s: out of memory", sn_dataset_source(ds));
    for (int64_t i = 0; i < n; i++) order[i] = i;
    memset(mean, 0, sizeof *mean * (size_t)d);
    mean_run m = {d, mean};
    sn_status st = sn_learn_each_chunk(ds, d, order, n, add_chunk, &m);
    for (int64_t i = 0; i < d; i++) mean[i] /= (double)n;
    free(order);
    return st;
}

double sn_learn_dot(const float *w, const float *x, int64_t d) {
    double sum = 0.0;
    for (int64_t i = 0; i < d; i++) sum += (double)w[i] * (double)x[i];
    return sum;
}

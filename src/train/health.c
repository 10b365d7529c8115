/*
 * Per-layer training health (docs/health.md): norms of weights and their
 * gradients, the update-to-weight ratio, the gradient reaching each layer,
 * saturated Sigmoid/Tanh outputs and dead ReLU units, read from the graph's
 * own buffers on every `every`-th step.
 */
#include "train/health.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/numeric.h"

static int is_activation(sn_module_kind k) {
    return k == SN_MOD_SIGMOID || k == SN_MOD_TANH || k == SN_MOD_RELU;
}

/* The node of parameter "<module>.weight", or SN_NONE. */
static int weight_node(sn_graph *g, int module) {
    char want[32];
    snprintf(want, sizeof want, "%d.weight", module);
    for (int i = 0; i < sn_graph_param_count(g); i++) {
        const int node = sn_graph_param_node(g, i);
        if (strcmp(sn_graph_node_name(g, node), want) == 0) return node;
    }
    return SN_NONE;
}

sn_status sn_health__init(sn_health_state *h, sn_model *m, int every) {
    memset(h, 0, sizeof *h);
    h->epoch_nonfinite = -1;
    if (every <= 0) return SN_OK;
    h->every = every;
    sn_graph *g = sn_model_graph(m);
    float *params = sn_graph_params(g, &h->n_params);
    const int modules = sn_model_module_count(m);
    h->source = calloc((size_t)modules, sizeof *h->source);
    h->now = calloc((size_t)modules, sizeof *h->now);
    h->sum = calloc((size_t)modules, sizeof *h->sum);
    h->mean = calloc((size_t)modules, sizeof *h->mean);
    h->before = malloc(sizeof *h->before * (h->n_params ? h->n_params : 1));
    if (!h->source || !h->now || !h->sum || !h->mean || !h->before)
        return sn_error(SN_ERR_NOMEM, "train: out of memory for the health statistics");
    for (int i = 0; i < modules; i++) {
        const sn_module *mod = sn_model_module(m, i);
        const int w = weight_node(g, i);
        if (w == SN_NONE && !is_activation(mod->kind)) continue;
        sn_health_source *s = &h->source[h->n_layers];
        s->weight_node = w;
        if (w != SN_NONE) {
            s->weight_offset = (size_t)(sn_graph_value(g, w) - params);
            s->weight_size = (size_t)sn_shape_numel(sn_graph_shape(g, w));
        }
        s->input_node = i ? sn_model_module_node(m, i - 1) : sn_model_input_node(m);
        s->output_node = sn_model_module_node(m, i);
        sn_train__module_text(m, i, s->name, sizeof s->name);
        sn_layer_health *row = &h->now[h->n_layers];
        row->module = i;
        row->kind = mod->kind;
        row->kind_name = sn_module_kind_name(mod->kind);
        row->name = s->name;
        h->sum[h->n_layers] = h->mean[h->n_layers] = *row;
        h->n_layers++;
    }
    return SN_OK;
}

void sn_health__free(sn_health_state *h) {
    free(h->source);
    free(h->now);
    free(h->sum);
    free(h->mean);
    free(h->before);
    memset(h, 0, sizeof *h);
}

static double norm(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    return sqrt(s);
}

static double distance(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return sqrt(s);
}

static double mean_abs(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)x[i]);
    return n ? s / (double)n : NAN;
}

/* Fraction of outputs y (n) in saturation: the pre-activation beyond +-limit,
 * read on the output as y outside (f(-limit), f(limit)). */
static double saturated(sn_module_kind kind, const float *y, int64_t n) {
    const double lo = kind == SN_MOD_SIGMOID ? 1.0 / (1.0 + exp(SN_HEALTH_SIGMOID_SATURATION))
                                             : -tanh(SN_HEALTH_TANH_SATURATION);
    const double hi = kind == SN_MOD_SIGMOID ? 1.0 / (1.0 + exp(-SN_HEALTH_SIGMOID_SATURATION))
                                             : tanh(SN_HEALTH_TANH_SATURATION);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) count += y[i] < lo || y[i] > hi;
    return n ? (double)count / (double)n : NAN;
}

/* Fraction of units (elements of one example's output) that are 0 for every
 * example of the batch; y (batch, units). */
static double dead(const float *y, int64_t batch, int64_t units) {
    int64_t count = 0;
    for (int64_t j = 0; j < units; j++) {
        int64_t i = 0;
        while (i < batch && y[i * units + j] == 0.0f) i++;
        count += i == batch;
    }
    return units ? (double)count / (double)units : NAN;
}

void sn_health__after_backward(sn_health_state *h, sn_model *m, int64_t step) {
    h->measuring = h->every && step % h->every == 0;
    if (!h->measuring) return;
    sn_graph *g = sn_model_graph(m);
    size_t n;
    const float *params = sn_graph_params(g, &n), *grads = sn_graph_grads(g, &n);
    memcpy(h->before, params, sizeof *params * n);
    for (int l = 0; l < h->n_layers; l++) {
        const sn_health_source *s = &h->source[l];
        sn_layer_health *row = &h->now[l];
        row->weight_norm = row->grad_norm = row->update_ratio = NAN;
        row->saturated = row->dead = row->input_grad_mean_abs = NAN;
        if (s->weight_node != SN_NONE) {
            row->weight_norm = norm(params + s->weight_offset, s->weight_size);
            row->grad_norm = norm(grads + s->weight_offset, s->weight_size);
        }
        const float *input_grad = sn_graph_grad(g, s->input_node);
        if (input_grad)
            row->input_grad_mean_abs =
                mean_abs(input_grad, sn_shape_numel(sn_graph_shape(g, s->input_node)));
        const sn_shape *shape = sn_graph_shape(g, s->output_node);
        const float *y = sn_graph_value(g, s->output_node); /* (batch, units...) */
        const int64_t count = sn_shape_numel(shape), batch = shape->dim[0];
        if (row->kind == SN_MOD_SIGMOID || row->kind == SN_MOD_TANH)
            row->saturated = saturated(row->kind, y, count);
        else if (row->kind == SN_MOD_RELU && batch > 0)
            row->dead = dead(y, batch, count / batch);
    }
    h->now_nonfinite = sn_train__first_nonfinite_module(m);
}

/* grad_norm of the last weighted row over the first's, NaN with fewer than two. */
static double vanish_ratio(const sn_layer_health *rows, int n) {
    int first = -1, last = -1;
    for (int l = 0; l < n; l++)
        if (!isnan(rows[l].weight_norm)) {
            if (first < 0) first = l;
            last = l;
        }
    if (first < 0 || first == last) return NAN;
    if (rows[first].grad_norm > 0) return rows[last].grad_norm / rows[first].grad_norm;
    return rows[last].grad_norm > 0 ? INFINITY : NAN; /* no gradient anywhere: no ratio */
}

static void fill(sn_health *out, const sn_health_state *h, const sn_layer_health *rows, int epoch,
                 int64_t step, int is_epoch, int samples, int nonfinite) {
    out->epoch = epoch;
    out->step = step;
    out->is_epoch = is_epoch;
    out->samples = samples;
    out->first_nonfinite = nonfinite;
    out->n_layers = h->n_layers;
    out->layers = rows;
    out->vanish_ratio = vanish_ratio(rows, h->n_layers);
}

/* Sums over the epoch: a field that does not apply (NaN) stays NaN. */
static void accumulate(sn_layer_health *sum, const sn_layer_health *x) {
    sum->weight_norm += x->weight_norm;
    sum->grad_norm += x->grad_norm;
    sum->update_ratio += x->update_ratio;
    sum->input_grad_mean_abs += x->input_grad_mean_abs;
    sum->saturated += x->saturated;
    sum->dead += x->dead;
}

static void scale(sn_layer_health *x, double k) {
    x->weight_norm *= k;
    x->grad_norm *= k;
    x->update_ratio *= k;
    x->input_grad_mean_abs *= k;
    x->saturated *= k;
    x->dead *= k;
}

static void clear(sn_layer_health *x) {
    x->weight_norm = x->grad_norm = x->update_ratio = 0.0;
    x->input_grad_mean_abs = x->saturated = x->dead = 0.0;
}

int sn_health__after_step(sn_health_state *h, sn_model *m, int epoch, int64_t step,
                          sn_health *out) {
    if (!h->measuring) return 0;
    h->measuring = 0;
    size_t n;
    const float *params = sn_graph_params(sn_model_graph(m), &n);
    for (int l = 0; l < h->n_layers; l++) {
        const sn_health_source *s = &h->source[l];
        sn_layer_health *row = &h->now[l];
        if (s->weight_node != SN_NONE)
            row->update_ratio =
                distance(params + s->weight_offset, h->before + s->weight_offset, s->weight_size) /
                row->weight_norm;
        accumulate(&h->sum[l], row);
    }
    if (h->epoch_nonfinite < 0) h->epoch_nonfinite = h->now_nonfinite;
    h->samples++;
    fill(out, h, h->now, epoch, step, 0, 1, h->now_nonfinite);
    return 1;
}

void sn_health__epoch(sn_health_state *h, int epoch, int64_t step, sn_health *out) {
    for (int l = 0; l < h->n_layers; l++) {
        h->mean[l] = h->sum[l];
        /* An epoch without health steps has no numbers. */
        scale(&h->mean[l], h->samples ? 1.0 / (double)h->samples : NAN);
        clear(&h->sum[l]);
    }
    fill(out, h, h->mean, epoch, step, 1, h->samples, h->epoch_nonfinite);
    h->samples = 0;
    h->epoch_nonfinite = -1;
}

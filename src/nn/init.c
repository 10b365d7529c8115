/*
 * Parameter initialisation: PyTorch's default for Linear and Conv2d, Xavier
 * (Glorot) and Kaiming (He), each uniform or normal.
 *
 * Fans follow torch.nn.init._calculate_fan_in_and_fan_out: for a weight
 * (out, in, kh, kw), fan_in = in·kh·kw and fan_out = out·kh·kw (Linear: kh = kw = 1).
 *
 *   torch default  reset_parameters of nn.Linear / nn.Conv2d: kaiming_uniform_
 *                  with a = sqrt(5), so bound = gain·sqrt(3 / fan_in) with
 *                  gain = sqrt(2 / (1 + a²)) = sqrt(1/3), i.e. 1/sqrt(fan_in);
 *                  the bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) too.
 *   Xavier         Glorot & Bengio (2010), gain 1: U(-a, a), a = sqrt(6 / (fan_in
 *                  + fan_out)), or N(0, 2 / (fan_in + fan_out)).
 *   Kaiming        He et al. (2015), ReLU gain sqrt(2), mode fan_in: U(-b, b),
 *                  b = sqrt(6 / fan_in), or N(0, 2 / fan_in).
 *
 * BatchNorm takes torch's _NormBase.reset_parameters whatever the scheme and
 * draws nothing: weight 1, bias 0 (init.ones_, init.zeros_), and
 * reset_running_stats: running_mean 0, running_var 1, num_batches_tracked 0.
 *
 * Every number comes from one generator seeded with (seed, SN_STREAM_INIT),
 * drawn through the parameters in creation order (module by module, weight then
 * bias, as the state_dict), so a seed gives the same weights on every machine.
 */
#include "nn/model_internal.h"

#include <math.h>

#include "core/error.h"

static void fill_uniform(float *w, int64_t n, double bound, sn_rng *rng) {
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)(bound * (2.0 * sn_rng_uniform_double(rng) - 1.0));
}

static void fill_normal(float *w, int64_t n, double std, sn_rng *rng) {
    for (int64_t i = 0; i < n; i++) w[i] = (float)(std * sn_rng_normal(rng));
}

static void fill_constant(float *w, int64_t n, float value) {
    for (int64_t i = 0; i < n; i++) w[i] = value;
}

/* Sets a node (parameter or buffer, SN_NONE skipped) to a constant. */
static void fill_node(sn_graph *g, int node, float value) {
    if (node != SN_NONE)
        fill_constant(sn_graph_value(g, node), sn_shape_numel(sn_graph_shape(g, node)), value);
}

static void init_batchnorm(sn_graph *g, const sn_model_layer *layer) {
    fill_node(g, layer->weight, 1.0f);
    fill_node(g, layer->bias, 0.0f);
    fill_node(g, layer->running_mean, 0.0f);
    fill_node(g, layer->running_var, 1.0f);
    fill_node(g, layer->num_batches_tracked, 0.0f);
}

/* Initialises one module's weight (and bias) of the given fans. */
static void init_layer(sn_graph *g, const sn_model_layer *layer, double fan_in, double fan_out,
                       sn_init_scheme scheme, sn_rng *rng) {
    float *w = sn_graph_value(g, layer->weight);
    const int64_t n_w = sn_shape_numel(sn_graph_shape(g, layer->weight));
    float *b = layer->bias != SN_NONE ? sn_graph_value(g, layer->bias) : NULL;
    const int64_t n_b = b ? sn_shape_numel(sn_graph_shape(g, layer->bias)) : 0;
    switch (scheme) {
    case SN_INIT_TORCH_DEFAULT:
        fill_uniform(w, n_w, 1.0 / sqrt(fan_in), rng);
        if (b) fill_uniform(b, n_b, 1.0 / sqrt(fan_in), rng);
        return;
    case SN_INIT_XAVIER_UNIFORM:
        fill_uniform(w, n_w, sqrt(6.0 / (fan_in + fan_out)), rng);
        break;
    case SN_INIT_XAVIER_NORMAL:
        fill_normal(w, n_w, sqrt(2.0 / (fan_in + fan_out)), rng);
        break;
    case SN_INIT_KAIMING_UNIFORM:
        fill_uniform(w, n_w, sqrt(6.0 / fan_in), rng);
        break;
    case SN_INIT_KAIMING_NORMAL:
        fill_normal(w, n_w, sqrt(2.0 / fan_in), rng);
        break;
    }
    if (b) fill_constant(b, n_b, 0.0f);
}

sn_status sn_model_init(sn_model *m, uint64_t seed, sn_init_scheme scheme) {
    if (!m) return sn_error(SN_ERR_INVALID_ARG, "init: model is NULL");
    if (!m->graph) return sn_error(SN_ERR_STATE, "init: compile the model first");
    if (scheme < SN_INIT_TORCH_DEFAULT || scheme > SN_INIT_KAIMING_NORMAL)
        return sn_error(SN_ERR_INVALID_ARG, "init: unknown scheme %d", (int)scheme);
    sn_rng rng;
    sn_rng_seed(&rng, seed, SN_STREAM_INIT);
    for (int i = 0; i < m->count; i++) {
        const sn_module *mod = &m->modules[i];
        const sn_model_layer *layer = &m->layers[i];
        if (mod->kind == SN_MOD_BATCHNORM1D || mod->kind == SN_MOD_BATCHNORM2D) {
            init_batchnorm(m->graph, layer);
            continue;
        }
        if (layer->weight == SN_NONE) continue;
        /* weight (out, in) or (out, in, kh, kw): receptive field 1 or kh·kw */
        const double receptive =
            mod->kind == SN_MOD_CONV2D ? (double)mod->kernel[0] * mod->kernel[1] : 1.0;
        const double fan_in =
            receptive * (mod->kind == SN_MOD_CONV2D ? mod->in_channels : mod->in_features);
        const double fan_out =
            receptive * (mod->kind == SN_MOD_CONV2D ? mod->out_channels : mod->out_features);
        init_layer(m->graph, layer, fan_in, fan_out, scheme, &rng);
    }
    return SN_OK;
}

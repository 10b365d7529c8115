/*
 * Models as torch.nn.Sequential: creation, compile (per-module shape checks in
 * the user's terms, then the graph), evaluation-mode forward in chunks, the
 * accessors and per-layer information. Initialisation is in init.c, model files
 * in model_file.c.
 */
#include "nn/model_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* A spec is a short text; anything larger is not one (and is not read whole). */
#define SPEC_FILE_MAX_BYTES (16 << 20)

/* ---- describing a module in messages ---- */

/* "5" for (5, 5), "(5, 3)" otherwise, as torch prints an int or a tuple. */
static const char *format_pair(const int v[2], char *buf, size_t cap) {
    if (v[0] == v[1])
        snprintf(buf, cap, "%d", v[0]);
    else
        snprintf(buf, cap, "(%d, %d)", v[0], v[1]);
    return buf;
}

/* "BatchNorm2d(6)", with the arguments that differ from torch's defaults. */
static void describe_batchnorm(const sn_module *mod, char *buf, size_t cap) {
    char eps[32] = "", momentum[40] = "";
    if (mod->eps != 1e-5f) snprintf(eps, sizeof eps, ", eps=%g", (double)mod->eps);
    if (mod->momentum == SN_BATCH_NORM_CUMULATIVE)
        snprintf(momentum, sizeof momentum, ", momentum=None");
    else if (mod->momentum != 0.1f)
        snprintf(momentum, sizeof momentum, ", momentum=%g", (double)mod->momentum);
    snprintf(buf, cap, "%s(%d%s%s%s%s)", sn_module_kind_name(mod->kind), mod->num_features, eps,
             momentum, mod->affine ? "" : ", affine=False",
             mod->track_running_stats ? "" : ", track_running_stats=False");
}

/* Short constructor text for messages, leaving out arguments at their torch
 * defaults: "Linear(400, 120)", "Conv2d(1, 6, kernel_size=5, padding=2)". */
static void describe_module(const sn_module *mod, char *buf, size_t cap) {
    const char *name = sn_module_kind_name(mod->kind);
    char k[32], s[32], p[32];
    format_pair(mod->kernel, k, sizeof k);
    format_pair(mod->stride, s, sizeof s);
    format_pair(mod->padding, p, sizeof p);
    const int default_stride =
        mod->kind == SN_MOD_CONV2D
            ? mod->stride[0] == 1 && mod->stride[1] == 1
            : mod->stride[0] == mod->kernel[0] && mod->stride[1] == mod->kernel[1];
    const int no_padding = mod->padding[0] == 0 && mod->padding[1] == 0;
    char stride_text[48] = "", padding_text[48] = "";
    if (!default_stride) snprintf(stride_text, sizeof stride_text, ", stride=%s", s);
    if (!no_padding) snprintf(padding_text, sizeof padding_text, ", padding=%s", p);
    switch (mod->kind) {
    case SN_MOD_LINEAR:
        snprintf(buf, cap, "%s(%d, %d%s)", name, mod->in_features, mod->out_features,
                 mod->bias ? "" : ", bias=False");
        break;
    case SN_MOD_CONV2D:
        snprintf(buf, cap, "%s(%d, %d, kernel_size=%s%s%s%s)", name, mod->in_channels,
                 mod->out_channels, k, stride_text, padding_text, mod->bias ? "" : ", bias=False");
        break;
    case SN_MOD_MAXPOOL2D:
    case SN_MOD_AVGPOOL2D:
        snprintf(buf, cap, "%s(kernel_size=%s%s%s%s)", name, k, stride_text, padding_text,
                 mod->kind == SN_MOD_AVGPOOL2D && !mod->count_include_pad
                     ? ", count_include_pad=False"
                     : "");
        break;
    case SN_MOD_DROPOUT:
        snprintf(buf, cap, "%s(p=%g)", name, (double)mod->p);
        break;
    case SN_MOD_LEAKY_RELU:
        snprintf(buf, cap, "%s(negative_slope=%g)", name, (double)mod->negative_slope);
        break;
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D:
        describe_batchnorm(mod, buf, cap);
        break;
    default:
        snprintf(buf, cap, "%s()", name);
        break;
    }
}

/* Records "line 9: Linear(400, 120): <message>" ("module 6: ..." for a module
 * built in C) and returns st. */
static sn_status module_error(const sn_module *mod, int index, sn_status st, const char *fmt, ...)
    SN_PRINTF(4, 5);
static sn_status module_error(const sn_module *mod, int index, sn_status st, const char *fmt, ...) {
    char message[320], desc[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    describe_module(mod, desc, sizeof desc);
    if (mod->line > 0) return sn_error(st, "line %d: %s: %s", mod->line, desc, message);
    return sn_error(st, "module %d: %s: %s", index, desc, message);
}

/* ---- shapes, module by module, as torch computes them ---- */

/* Output size of a sliding window along one axis, floor((size + 2p - k) / s) + 1
 * (torch.nn.Conv2d / MaxPool2d with ceil_mode=False), or -1 when the padded
 * input is smaller than the window. */
static int64_t window_output(int64_t size, int kernel, int stride, int padding) {
    const int64_t padded = size + 2 * (int64_t)padding;
    if (padded < kernel) return -1;
    return (padded - kernel) / stride + 1;
}

/* Checks a window module's arguments and the (C, H, W) reaching it, and gives
 * the spatial output size. */
static sn_status window_shape(const sn_module *mod, int index, const sn_shape *in, int64_t *oh,
                              int64_t *ow) {
    char sin[64];
    if (mod->kernel[0] < 1 || mod->kernel[1] < 1 || mod->stride[0] < 1 || mod->stride[1] < 1 ||
        mod->padding[0] < 0 || mod->padding[1] < 0)
        return module_error(mod, index, SN_ERR_INVALID_ARG,
                            "kernel and stride must be >= 1 and padding >= 0");
    if (in->ndim != 3)
        return module_error(
            mod, index, SN_ERR_SHAPE, "input is %s per example, expected (C, H, W)%s",
            sn_shape_format(in, sin, sizeof sin),
            in->ndim < 3 && index == 0 ? " (give the input shape as CxHxW, such as 1x28x28)" : "");
    *oh = window_output(in->dim[1], mod->kernel[0], mod->stride[0], mod->padding[0]);
    *ow = window_output(in->dim[2], mod->kernel[1], mod->stride[1], mod->padding[1]);
    if (*oh < 1 || *ow < 1)
        return module_error(mod, index, SN_ERR_SHAPE,
                            "input %lldx%lld with padding (%d, %d) is smaller than the kernel "
                            "(%d, %d)",
                            (long long)in->dim[1], (long long)in->dim[2], mod->padding[0],
                            mod->padding[1], mod->kernel[0], mod->kernel[1]);
    return SN_OK;
}

/* BatchNorm1d takes (C) or (C, L) per example, BatchNorm2d (C, H, W); torch
 * names the input with its batch ("expected 2D or 3D input (got 4D input)"). */
static sn_status batchnorm_shape(const sn_module *mod, int index, const sn_shape *in) {
    const int is_1d = mod->kind == SN_MOD_BATCHNORM1D;
    if (mod->num_features < 1)
        return module_error(mod, index, SN_ERR_INVALID_ARG, "num_features must be >= 1");
    if (!(mod->eps >= 0.0f) || !isfinite(mod->eps))
        return module_error(mod, index, SN_ERR_INVALID_ARG, "eps must be finite and >= 0");
    if (mod->momentum != SN_BATCH_NORM_CUMULATIVE &&
        !(mod->momentum >= 0.0f && mod->momentum <= 1.0f))
        return module_error(mod, index, SN_ERR_INVALID_ARG,
                            "momentum must be between 0 and 1, or None");
    if (is_1d ? in->ndim != 1 && in->ndim != 2 : in->ndim != 3)
        return module_error(mod, index, SN_ERR_SHAPE, "expected %s input (got %dD input)",
                            is_1d ? "2D or 3D" : "4D", in->ndim + 1);
    if (in->dim[0] != mod->num_features)
        return module_error(mod, index, SN_ERR_SHAPE, "input has %lld %s, expected %d",
                            (long long)in->dim[0], in->ndim == 1 ? "features" : "channels",
                            mod->num_features);
    return SN_OK;
}

/* One example's output shape of module `index` given its input `in` (both
 * without the batch), or an error naming the module. */
static sn_status infer_module(const sn_module *mod, int index, const sn_shape *in, sn_shape *out) {
    char sin[64];
    int64_t oh, ow;
    sn_status st;
    *out = *in;
    switch (mod->kind) {
    case SN_MOD_LINEAR:
        if (mod->in_features < 1 || mod->out_features < 1)
            return module_error(mod, index, SN_ERR_INVALID_ARG,
                                "in_features and out_features must be >= 1");
        if (in->ndim != 1)
            return module_error(mod, index, SN_ERR_SHAPE,
                                "input is %s per example (%d-D with the batch) but Linear takes "
                                "vectors of %d features: add Flatten() before it",
                                sn_shape_format(in, sin, sizeof sin), in->ndim + 1,
                                mod->in_features);
        if (in->dim[0] != mod->in_features)
            return module_error(mod, index, SN_ERR_SHAPE, "input has %lld features, expected %d",
                                (long long)in->dim[0], mod->in_features);
        out->dim[0] = mod->out_features;
        return SN_OK;
    case SN_MOD_CONV2D:
        if (mod->in_channels < 1 || mod->out_channels < 1)
            return module_error(mod, index, SN_ERR_INVALID_ARG,
                                "in_channels and out_channels must be >= 1");
        if ((st = window_shape(mod, index, in, &oh, &ow)) != SN_OK) return st;
        if (in->dim[0] != mod->in_channels)
            return module_error(mod, index, SN_ERR_SHAPE, "input has %lld channels, expected %d",
                                (long long)in->dim[0], mod->in_channels);
        return sn_shape_make(out, 3, (int64_t[]){mod->out_channels, oh, ow});
    case SN_MOD_MAXPOOL2D:
    case SN_MOD_AVGPOOL2D:
        if ((st = window_shape(mod, index, in, &oh, &ow)) != SN_OK) return st;
        /* torch: "pad should be at most half of effective kernel size". */
        if (mod->padding[0] > mod->kernel[0] / 2 || mod->padding[1] > mod->kernel[1] / 2)
            return module_error(mod, index, SN_ERR_INVALID_ARG,
                                "padding must be at most half the kernel size");
        return sn_shape_make(out, 3, (int64_t[]){in->dim[0], oh, ow});
    case SN_MOD_FLATTEN:
        return sn_shape_make(out, 1, (int64_t[]){sn_shape_numel(in)});
    case SN_MOD_DROPOUT:
        if (!(mod->p >= 0.0f && mod->p <= 1.0f)) /* also rejects NaN */
            return module_error(mod, index, SN_ERR_INVALID_ARG,
                                "dropout probability has to be between 0 and 1, but got %g",
                                (double)mod->p);
        return SN_OK;
    case SN_MOD_RELU:
    case SN_MOD_LEAKY_RELU:
    case SN_MOD_SIGMOID:
    case SN_MOD_TANH:
    case SN_MOD_SOFTMAX:
    case SN_MOD_LOG_SOFTMAX:
    case SN_MOD_IDENTITY:
    case SN_MOD_STEP:
        return SN_OK;
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D:
        return batchnorm_shape(mod, index, in);
    }
    return module_error(mod, index, SN_ERR_INVALID_ARG, "unknown module kind %d", (int)mod->kind);
}

/* Class-index losses need (N, classes) scores; the others any output shape. */
static sn_status check_loss(sn_loss_kind loss, const sn_shape *output) {
    char s[64];
    if ((loss == SN_LOSS_CROSS_ENTROPY || loss == SN_LOSS_NLL) && output->ndim != 1)
        return sn_error(SN_ERR_SHAPE,
                        "loss %s: the model's output is %s per example, but %s needs a vector of "
                        "class scores: end the model with Flatten() and Linear",
                        sn_loss_name(loss), sn_shape_format(output, s, sizeof s),
                        sn_loss_name(loss));
    return SN_OK;
}

/* ---- building the graph ---- */

/* A parameter or buffer of module `index` named as torch's state_dict ("3.weight",
 * "3.running_mean"); leaf is sn_param or sn_buffer. */
static int module_leaf(int (*leaf)(sn_graph *, const char *, int, const int64_t *), sn_graph *g,
                       int index, const char *what, int ndim, const int64_t *shape) {
    char name[48];
    snprintf(name, sizeof name, "%d.%s", index, what);
    return leaf(g, name, ndim, shape);
}

static int module_param(sn_graph *g, int index, const char *what, int ndim, const int64_t *shape) {
    return module_leaf(sn_param, g, index, what, ndim, shape);
}

/* BatchNorm: weight and bias when affine, the running statistics when tracked. */
static void build_batchnorm(sn_graph *g, const sn_module *mod, int index, int x,
                            sn_model_layer *layer) {
    const int64_t channels[1] = {mod->num_features};
    if (mod->affine) {
        layer->weight = module_param(g, index, "weight", 1, channels);
        layer->bias = module_param(g, index, "bias", 1, channels);
    }
    if (mod->track_running_stats) {
        layer->running_mean = module_leaf(sn_buffer, g, index, "running_mean", 1, channels);
        layer->running_var = module_leaf(sn_buffer, g, index, "running_var", 1, channels);
        layer->num_batches_tracked = module_leaf(sn_buffer, g, index, "num_batches_tracked", 0,
                                                 NULL); /* a scalar, as torch's */
    }
    layer->node =
        sn_batch_norm(g, x, layer->weight, layer->bias, layer->running_mean, layer->running_var,
                      layer->num_batches_tracked, mod->momentum, mod->eps);
}

typedef int (*unary_builder)(sn_graph *g, int x);

/* The graph builder of a module without arguments (Identity adds no node). */
static unary_builder unary_builder_of(sn_module_kind kind) {
    switch (kind) {
    case SN_MOD_FLATTEN:
        return sn_flatten;
    case SN_MOD_SIGMOID:
        return sn_sigmoid;
    case SN_MOD_TANH:
        return sn_tanh;
    case SN_MOD_SOFTMAX:
        return sn_softmax;
    case SN_MOD_LOG_SOFTMAX:
        return sn_log_softmax;
    case SN_MOD_STEP:
        return sn_step;
    case SN_MOD_RELU:
    default: /* build_module calls this for the kinds above only */
        return sn_relu;
    }
}

/* Adds module `index` after node x; fills layer->node, weight, bias. Builder
 * errors are kept by the graph and reported by sn_graph_compile. */
static void build_module(sn_graph *g, const sn_module *mod, int index, int x,
                         sn_model_layer *layer) {
    const int *k = mod->kernel, *s = mod->stride, *p = mod->padding;
    layer->weight = layer->bias = SN_NONE;
    layer->running_mean = layer->running_var = layer->num_batches_tracked = SN_NONE;
    switch (mod->kind) {
    case SN_MOD_LINEAR:
        layer->weight =
            module_param(g, index, "weight", 2, (int64_t[]){mod->out_features, mod->in_features});
        if (mod->bias)
            layer->bias = module_param(g, index, "bias", 1, (int64_t[]){mod->out_features});
        layer->node = sn_linear(g, x, layer->weight, layer->bias);
        return;
    case SN_MOD_CONV2D:
        layer->weight = module_param(
            g, index, "weight", 4,
            (int64_t[]){mod->out_channels, mod->in_channels, mod->kernel[0], mod->kernel[1]});
        if (mod->bias)
            layer->bias = module_param(g, index, "bias", 1, (int64_t[]){mod->out_channels});
        layer->node = sn_conv2d(g, x, layer->weight, layer->bias, s[0], s[1], p[0], p[1]);
        return;
    case SN_MOD_MAXPOOL2D:
        layer->node = sn_maxpool2d(g, x, k[0], k[1], s[0], s[1], p[0], p[1]);
        return;
    case SN_MOD_AVGPOOL2D:
        layer->node =
            sn_avgpool2d(g, x, k[0], k[1], s[0], s[1], p[0], p[1], mod->count_include_pad);
        return;
    case SN_MOD_DROPOUT:
        layer->node = sn_dropout(g, x, mod->p);
        return;
    case SN_MOD_LEAKY_RELU:
        layer->node = sn_leaky_relu(g, x, mod->negative_slope);
        return;
    case SN_MOD_FLATTEN:
    case SN_MOD_RELU:
    case SN_MOD_SIGMOID:
    case SN_MOD_TANH:
    case SN_MOD_SOFTMAX:
    case SN_MOD_LOG_SOFTMAX:
    case SN_MOD_STEP:
        layer->node = unary_builder_of(mod->kind)(g, x);
        return;
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D:
        build_batchnorm(g, mod, index, x, layer);
        return;
    case SN_MOD_IDENTITY:
        break;
    }
    layer->node = x; /* Identity adds no node */
}

/* Adds the target input "y" and the loss node after `output`. */
static void build_loss(sn_graph *g, const sn_model_compile_opts *opts, int output,
                       const sn_shape *out_sample, int *target, int *loss) {
    int64_t dims[SN_MAX_DIMS] = {opts->batch};
    switch (opts->loss) {
    case SN_LOSS_CROSS_ENTROPY:
    case SN_LOSS_NLL:
        *target = sn_input(g, "y", 1, dims); /* (batch) class indices */
        *loss = opts->loss == SN_LOSS_NLL ? sn_nll(g, output, *target, opts->reduction)
                                          : sn_cross_entropy(g, output, *target, opts->reduction);
        return;
    case SN_LOSS_BCE:
    case SN_LOSS_BCE_WITH_LOGITS:
    case SN_LOSS_MSE:
        for (int i = 0; i < out_sample->ndim; i++) dims[i + 1] = out_sample->dim[i];
        *target = sn_input(g, "y", out_sample->ndim + 1, dims); /* the output's shape */
        *loss = opts->loss == SN_LOSS_BCE ? sn_bce(g, output, *target, opts->reduction)
                : opts->loss == SN_LOSS_MSE
                    ? sn_mse(g, output, *target, opts->reduction)
                    : sn_bce_with_logits(g, output, *target, opts->reduction);
        return;
    case SN_LOSS_NONE:
        break;
    }
    *target = *loss = SN_NONE;
}

/* The graph names nodes ("node 7 (conv2d): ..."); put the module it belongs to
 * first, in the user's terms. A module's nodes (parameters, then its op) come
 * after the previous module's output, so it is the first module whose output
 * node is at or after the failing node; later nodes belong to the loss. */
static void graph_error_in_user_terms(const sn_model *m, const sn_model_layer *layers,
                                      sn_loss_kind loss) {
    int node;
    if (sscanf(sn_last_error(), "node %d (", &node) != 1) return;
    for (int i = 0; i < m->count; i++) {
        if (layers[i].node < node) continue;
        char desc[160];
        describe_module(&m->modules[i], desc, sizeof desc);
        if (m->modules[i].line > 0)
            sn_error_prefix("line %d: %s: ", m->modules[i].line, desc);
        else
            sn_error_prefix("module %d: %s: ", i, desc);
        return;
    }
    sn_error_prefix("loss %s: ", sn_loss_name(loss));
}

static sn_status check_compile_opts(const sn_model_compile_opts *o) {
    char s[64];
    if (o->batch < 1)
        return sn_error(SN_ERR_INVALID_ARG, "compile: batch must be >= 1, got %lld",
                        (long long)o->batch);
    if (o->sample_shape.ndim < 1 || o->sample_shape.ndim > SN_MAX_DIMS - 1 ||
        sn_shape_check(&o->sample_shape) != SN_OK)
        return sn_error(SN_ERR_INVALID_ARG,
                        "compile: the input shape of one example must have 1 to %d dimensions "
                        "of size >= 1 (such as 1x28x28 or 784), got %s",
                        SN_MAX_DIMS - 1,
                        o->sample_shape.ndim >= 0 && o->sample_shape.ndim <= SN_MAX_DIMS
                            ? sn_shape_format(&o->sample_shape, s, sizeof s)
                            : "an invalid shape");
    if (o->loss < SN_LOSS_NONE || o->loss > SN_LOSS_MSE)
        return sn_error(SN_ERR_INVALID_ARG, "compile: unknown loss %d", (int)o->loss);
    if (o->reduction != SN_REDUCTION_MEAN && o->reduction != SN_REDUCTION_SUM)
        return sn_error(SN_ERR_INVALID_ARG, "compile: unknown reduction %d", (int)o->reduction);
    if (o->plan != SN_PLAN_KEEP_ALL && o->plan != SN_PLAN_LEAN && o->plan != SN_PLAN_INFERENCE)
        return sn_error(SN_ERR_INVALID_ARG, "compile: unknown plan %d", (int)o->plan);
    return SN_OK;
}

/* Copies parameter and buffer values from the graph being replaced. The
 * modules are the same, so the blocks have the same layout. */
static void keep_parameters_and_buffers(sn_graph *from, sn_graph *to) {
    size_t n_from, n_to;
    const float *src = sn_graph_params(from, &n_from);
    float *dst = sn_graph_params(to, &n_to);
    if (src && dst && n_from == n_to) memcpy(dst, src, n_to * sizeof *dst);
    src = sn_graph_buffers(from, &n_from);
    dst = sn_graph_buffers(to, &n_to);
    if (src && dst && n_from == n_to) memcpy(dst, src, n_to * sizeof *dst);
}

sn_status sn_model_compile(sn_model *m, const sn_model_compile_opts *opts) {
    if (!m || !opts) return sn_error(SN_ERR_INVALID_ARG, "compile: NULL argument");
    sn_status st = check_compile_opts(opts);
    if (st != SN_OK) return st;
    const sn_shape *sample = &opts->sample_shape;
    int64_t x_dims[SN_MAX_DIMS] = {opts->batch};
    for (int i = 0; i < sample->ndim; i++) x_dims[i + 1] = sample->dim[i];
    sn_shape x_shape;
    if (sn_shape_make(&x_shape, sample->ndim + 1, x_dims) != SN_OK)
        return sn_error_prefix("compile: input batch of %lld: ", (long long)opts->batch);

    sn_model_layer *layers = calloc((size_t)m->count, sizeof *layers);
    if (!layers) return sn_error(SN_ERR_NOMEM, "compile: out of memory");

    /* Shapes first, module by module, so that a misfit names its spec line. */
    const sn_shape *in = sample;
    for (int i = 0; i < m->count && st == SN_OK; i++) {
        st = infer_module(&m->modules[i], i, in, &layers[i].output);
        in = &layers[i].output;
    }
    if (st == SN_OK) st = check_loss(opts->loss, in);
    if (st != SN_OK) {
        free(layers);
        return st;
    }

    sn_graph *g = sn_graph_create(opts->seed);
    if (!g) {
        free(layers);
        return SN_ERR_NOMEM;
    }
    const int input = sn_input(g, "x", x_shape.ndim, x_shape.dim);
    int node = input, target, loss;
    for (int i = 0; i < m->count; i++) {
        build_module(g, &m->modules[i], i, node, &layers[i]);
        node = layers[i].node;
    }
    build_loss(g, opts, node, in, &target, &loss);
    /* What callers read after a run: the output (sn_model_forward, accuracy)
     * and the loss; the input and target are inputs, always kept. A failed
     * build left SN_NONE, which compile reports. */
    sn_graph_set_plan(g, opts->plan);
    if (node != SN_NONE) sn_graph_keep(g, node);
    if (loss != SN_NONE) sn_graph_keep(g, loss);
    for (int i = 0; i < m->count && opts->keep_modules; i++)
        if (layers[i].node != SN_NONE) sn_graph_keep(g, layers[i].node);
    st = sn_graph_compile(g);
    if (st != SN_OK) {
        graph_error_in_user_terms(m, layers, opts->loss);
        sn_graph_destroy(g);
        free(layers);
        return st;
    }
    if (m->graph) keep_parameters_and_buffers(m->graph, g);
    sn_graph_destroy(m->graph);
    free(m->layers);
    m->graph = g;
    m->layers = layers;
    m->opts = *opts;
    m->input = input;
    m->output = node;
    m->target = target;
    m->loss = loss;
    return SN_OK;
}

/* ---- life cycle ---- */

sn_status sn_model_create(sn_model **out, const sn_module *modules, int count) {
    if (!out) return sn_error(SN_ERR_INVALID_ARG, "model: out is NULL");
    *out = NULL;
    if (count < 1 || !modules)
        return sn_error(SN_ERR_INVALID_ARG, "model: a model needs at least one module");
    sn_model *m = calloc(1, sizeof *m);
    if (m) m->modules = malloc((size_t)count * sizeof *m->modules);
    if (!m || !m->modules) {
        free(m);
        return sn_error(SN_ERR_NOMEM, "model: out of memory");
    }
    memcpy(m->modules, modules, (size_t)count * sizeof *m->modules);
    m->count = count;
    m->input = m->output = m->target = m->loss = SN_NONE;
    *out = m;
    return SN_OK;
}

void sn_model_destroy(sn_model *m) {
    if (!m) return;
    sn_graph_destroy(m->graph);
    free(m->layers);
    free(m->modules);
    free(m);
}

/* Reads a whole spec file, bounded by SPEC_FILE_MAX_BYTES. */
static sn_status read_spec_file(const char *path, char **text, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return sn_error(SN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(SPEC_FILE_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return sn_error(SN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, SPEC_FILE_MAX_BYTES + 1, f);
    const int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return sn_error(SN_ERR_IO, "%s: read error", path);
    }
    if (n > SPEC_FILE_MAX_BYTES) {
        free(buf);
        return sn_error(SN_ERR_FORMAT, "%s: larger than %d MB, too large for a model spec", path,
                        SPEC_FILE_MAX_BYTES >> 20);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return SN_OK;
}

sn_status sn_model_from_spec_file(sn_model **out, const char *path) {
    if (!out || !path) return sn_error(SN_ERR_INVALID_ARG, "model: NULL argument");
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    sn_status st = read_spec_file(path, &text, &len);
    if (st != SN_OK) return st;
    sn_module *modules = NULL;
    int count = 0;
    st = sn_spec_parse(text, len, path, &modules, &count);
    free(text);
    if (st != SN_OK) return st;
    if (count < 1)
        st = sn_error(SN_ERR_FORMAT, "%s: the spec has no modules", path);
    else
        st = sn_model_create(out, modules, count);
    free(modules);
    return st;
}

/* ---- losses ---- */

static const char *const loss_names[] = {
    [SN_LOSS_NONE] = "none", [SN_LOSS_CROSS_ENTROPY] = "cross_entropy",     [SN_LOSS_NLL] = "nll",
    [SN_LOSS_BCE] = "bce",   [SN_LOSS_BCE_WITH_LOGITS] = "bce_with_logits", [SN_LOSS_MSE] = "mse",
};
#define N_LOSSES ((int)(sizeof loss_names / sizeof loss_names[0]))

sn_status sn_loss_parse(const char *name, sn_loss_kind *out) {
    if (!name || !out) return sn_error(SN_ERR_INVALID_ARG, "loss: NULL argument");
    for (int i = 0; i < N_LOSSES; i++)
        if (strcmp(name, loss_names[i]) == 0) {
            *out = (sn_loss_kind)i;
            return SN_OK;
        }
    return sn_error(SN_ERR_INVALID_ARG,
                    "unknown loss '%s' (expected cross_entropy, nll, bce, bce_with_logits, mse "
                    "or none)",
                    name);
}

const char *sn_loss_name(sn_loss_kind kind) {
    return kind >= 0 && (int)kind < N_LOSSES ? loss_names[kind] : "unknown";
}

sn_model_compile_opts sn_model_compile_defaults(void) {
    sn_model_compile_opts o;
    memset(&o, 0, sizeof o);
    o.batch = 1;
    o.loss = SN_LOSS_NONE;
    o.reduction = SN_REDUCTION_MEAN;
    o.seed = 0;
    o.plan = SN_PLAN_LEAN;
    o.keep_modules = 0;
    return o; /* sample_shape has ndim 0: the caller must set it */
}

/* ---- forward ---- */

sn_status sn_model_forward(sn_model *m, const float *x, int64_t n, float *y) {
    if (!m || !x || !y) return sn_error(SN_ERR_INVALID_ARG, "forward: NULL argument");
    if (!m->graph) return sn_error(SN_ERR_STATE, "forward: compile the model first");
    if (n < 0) return sn_error(SN_ERR_INVALID_ARG, "forward: n = %lld < 0", (long long)n);
    sn_graph *g = m->graph;
    const int64_t in_numel = sn_shape_numel(&m->opts.sample_shape);
    const int64_t out_numel = sn_shape_numel(&m->layers[m->count - 1].output);
    int64_t total;
    if (sn_mul_checked(n, in_numel, INT64_MAX / (int64_t)sizeof(float), &total) != SN_OK ||
        sn_mul_checked(n, out_numel, INT64_MAX / (int64_t)sizeof(float), &total) != SN_OK)
        return sn_error(SN_ERR_INVALID_ARG, "forward: %lld examples are too many", (long long)n);
    const int64_t batch_on_entry = sn_graph_batch(g);
    float *x_buf = sn_graph_value(g, m->input);  /* (batch, sample...) */
    float *y_buf = sn_graph_value(g, m->output); /* (batch, output...) */
    sn_graph_set_training(g, 0);
    sn_status st = SN_OK;
    int64_t rows;
    for (int64_t start = 0; start < n && st == SN_OK; start += rows) {
        rows = n - start < m->opts.batch ? n - start : m->opts.batch;
        if (rows != sn_graph_batch(g) && (st = sn_graph_set_batch(g, rows)) != SN_OK) break;
        memcpy(x_buf, x + start * in_numel, (size_t)(rows * in_numel) * sizeof *x);
        if ((st = sn_graph_forward(g)) != SN_OK) break;
        memcpy(y + start * out_numel, y_buf, (size_t)(rows * out_numel) * sizeof *y);
    }
    /* Give the graph back at the batch it had, for a caller mid-training. */
    if (sn_graph_batch(g) != batch_on_entry) sn_graph_set_batch(g, batch_on_entry);
    return st;
}

/* ---- access ---- */

int sn_model_module_count(const sn_model *m) {
    return m ? m->count : 0;
}

const sn_module *sn_model_module(const sn_model *m, int index) {
    return m && index >= 0 && index < m->count ? &m->modules[index] : NULL;
}

sn_graph *sn_model_graph(sn_model *m) {
    return m ? m->graph : NULL;
}

int sn_model_input_node(const sn_model *m) {
    return m ? m->input : SN_NONE;
}

int sn_model_output_node(const sn_model *m) {
    return m ? m->output : SN_NONE;
}

int sn_model_target_node(const sn_model *m) {
    return m ? m->target : SN_NONE;
}

int sn_model_loss_node(const sn_model *m) {
    return m ? m->loss : SN_NONE;
}

int sn_model_module_node(const sn_model *m, int index) {
    if (!m || !m->layers || index < 0 || index >= m->count) return SN_NONE;
    return m->layers[index].node;
}

const sn_shape *sn_model_sample_shape(const sn_model *m) {
    return m && m->graph ? &m->opts.sample_shape : NULL;
}

sn_status sn_model_output_shape(const sn_model *m, sn_shape *out) {
    if (!m || !out) return sn_error(SN_ERR_INVALID_ARG, "output_shape: NULL argument");
    if (!m->graph) return sn_error(SN_ERR_STATE, "output_shape: compile the model first");
    *out = m->layers[m->count - 1].output;
    return SN_OK;
}

/* ---- per-layer information ---- */

/* Product of the factors into *out, or SN_ERR_RANGE if it passes INT64_MAX. */
static sn_status count_product(int n, const int64_t *factors, int64_t *out) {
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        if (sn_mul_checked(p, factors[i], INT64_MAX, &p) != SN_OK)
            return sn_error(SN_ERR_RANGE, "layer info: count overflows 64 bits");
    *out = p;
    return SN_OK;
}

/* Forward FLOPs of one example; the convention is in model.h. */
static sn_status module_flops(const sn_module *mod, const sn_shape *out, int64_t *flops) {
    const int64_t out_numel = sn_shape_numel(out);
    int64_t mult_adds = 0;
    sn_status st;
    switch (mod->kind) {
    case SN_MOD_LINEAR: /* 2·in·out multiply-adds, plus out bias adds */
        st = count_product(3, (int64_t[]){2, mod->in_features, mod->out_features}, &mult_adds);
        *flops = mult_adds + (mod->bias ? out_numel : 0);
        return st;
    case SN_MOD_CONV2D: /* 2·C_in·kh·kw per output element, plus its bias add */
        st = count_product(
            5, (int64_t[]){2, mod->in_channels, mod->kernel[0], mod->kernel[1], out_numel},
            &mult_adds);
        *flops = mult_adds + (mod->bias ? out_numel : 0);
        return st;
    case SN_MOD_MAXPOOL2D: /* one comparison or addition per window element */
    case SN_MOD_AVGPOOL2D:
        return count_product(3, (int64_t[]){out_numel, mod->kernel[0], mod->kernel[1]}, flops);
    case SN_MOD_BATCHNORM1D: /* y = x · scale + shift per element in evaluation */
    case SN_MOD_BATCHNORM2D:
        return count_product(2, (int64_t[]){2, out_numel}, flops);
    case SN_MOD_FLATTEN: /* no arithmetic; dropout is the identity in evaluation */
    case SN_MOD_DROPOUT:
    case SN_MOD_IDENTITY:
        *flops = 0;
        return SN_OK;
    default: /* activations, softmax: one per output element */
        *flops = out_numel;
        return SN_OK;
    }
}

sn_status sn_model_layer_info(const sn_model *m, int index, sn_layer_info *out) {
    if (!m || !out) return sn_error(SN_ERR_INVALID_ARG, "layer info: NULL argument");
    if (!m->graph) return sn_error(SN_ERR_STATE, "layer info: compile the model first");
    if (index < 0 || index >= m->count)
        return sn_error(SN_ERR_RANGE, "layer info: no module %d (the model has %d)", index,
                        m->count);
    const sn_model_layer *layer = &m->layers[index];
    out->output = layer->output;
    out->params = 0;
    if (layer->weight != SN_NONE)
        out->params += sn_shape_numel(sn_graph_shape(m->graph, layer->weight));
    if (layer->bias != SN_NONE)
        out->params += sn_shape_numel(sn_graph_shape(m->graph, layer->bias));
    return module_flops(&m->modules[index], &layer->output, &out->flops);
}

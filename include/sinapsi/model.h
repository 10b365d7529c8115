/*
 * sinapsi/model.h: models as torch.nn.Sequential: modules, the model spec,
 * initialisation, model files.
 *
 * A model is a list of modules (Linear, Conv2d, ReLU, ...) applied in order,
 * exactly as a torch.nn.Sequential. It is written as a spec, one torch.nn
 * constructor per line, or as the text print(model) shows in PyTorch:
 *
 *     # LeNet-5                                 Sequential(
 *     Conv2d(1, 6, 5, padding=2)                  (0): Conv2d(1, 6, kernel_size=(5, 5), ...)
 *     ReLU()                                      (1): ReLU()
 *     MaxPool2d(2)                                ...
 *     ...                                       )
 *
 * Parameters are named as the equivalent nn.Sequential's state_dict: the
 * weight of module 3 is "3.weight" with torch's layout (Linear (out, in),
 * Conv2d (C_out, C_in, kh, kw)), so weights move between PyTorch and sinapsi
 * through safetensors files unchanged. BatchNorm's running statistics are
 * graph buffers (not trained, no gradient) named as torch's too:
 * "k.running_mean", "k.running_var" (C) and "k.num_batches_tracked" (a scalar
 * count, held as a float; a torch file stores it as I64), saved and loaded with
 * the parameters.
 *
 *     sn_model *m;
 *     if (sn_model_from_spec_file(&m, "models/lenet5.txt") != SN_OK) fail(sn_last_error());
 *     sn_model_compile_opts o = sn_model_compile_defaults();
 *     o.batch = 64;
 *     sn_shape_make(&o.sample_shape, 3, (int64_t[]){1, 28, 28});
 *     sn_model_compile(m, &o);           // shapes checked: errors name the spec line
 *     sn_model_init(m, 42, SN_INIT_TORCH_DEFAULT);
 *     sn_model_forward(m, x, n, y);      // eval mode, any n
 *     sn_model_save(m, "lenet5.safetensors");
 *     sn_model_destroy(m);
 */
#ifndef SINAPSI_MODEL_H
#define SINAPSI_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/graph.h"
#include "sinapsi/status.h"
#include "sinapsi/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- modules ---- */

typedef enum sn_module_kind {
    SN_MOD_LINEAR,      /* Linear(in_features, out_features, bias=True) */
    SN_MOD_CONV2D,      /* Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
                           bias=True); dilation=1, groups=1, padding_mode='zeros' only */
    SN_MOD_MAXPOOL2D,   /* MaxPool2d(kernel_size, stride=kernel_size, padding=0) */
    SN_MOD_AVGPOOL2D,   /* AvgPool2d(kernel_size, stride=kernel_size, padding=0,
                           count_include_pad=True) */
    SN_MOD_FLATTEN,     /* Flatten() = Flatten(start_dim=1, end_dim=-1) */
    SN_MOD_DROPOUT,     /* Dropout(p=0.5) */
    SN_MOD_RELU,        /* ReLU() */
    SN_MOD_LEAKY_RELU,  /* LeakyReLU(negative_slope=0.01) */
    SN_MOD_SIGMOID,     /* Sigmoid() */
    SN_MOD_TANH,        /* Tanh() */
    SN_MOD_SOFTMAX,     /* Softmax(dim=1) */
    SN_MOD_LOG_SOFTMAX, /* LogSoftmax(dim=1) */
    SN_MOD_IDENTITY,    /* Identity() */
    SN_MOD_STEP,        /* Step(): the perceptron's Heaviside step (not in torch.nn) */
    SN_MOD_BATCHNORM1D, /* BatchNorm1d(num_features, eps=1e-05, momentum=0.1, affine=True,
                           track_running_stats=True) on (N, C) or (N, C, L) */
    SN_MOD_BATCHNORM2D  /* BatchNorm2d(...), the same arguments, on (N, C, H, W) */
} sn_module_kind;

typedef struct sn_module {
    sn_module_kind kind;
    int in_features, out_features;        /* Linear */
    int in_channels, out_channels;        /* Conv2d */
    int kernel[2], stride[2], padding[2]; /* Conv2d, pools: (h, w) */
    int bias;                             /* Linear, Conv2d: 1 = has a bias */
    int count_include_pad;                /* AvgPool2d */
    float p;                              /* Dropout */
    float negative_slope;                 /* LeakyReLU */
    int num_features;                     /* BatchNorm: C */
    float eps;                            /* BatchNorm: added to the variance */
    float momentum;                       /* BatchNorm; SN_BATCH_NORM_CUMULATIVE = None */
    int affine;                           /* BatchNorm: 1 = learnable weight and bias */
    int track_running_stats;              /* BatchNorm: 1 = running mean and variance */
    int line;                             /* line of the spec it came from, 0 if built in C */
} sn_module;

/* Constructors with torch's defaults, for building models in C. */
sn_module sn_module_linear(int in_features, int out_features, int bias);
sn_module sn_module_conv2d(int in_channels, int out_channels, int kh, int kw, int sh, int sw,
                           int ph, int pw, int bias);
sn_module sn_module_maxpool2d(int kh, int kw, int sh, int sw, int ph, int pw);
sn_module sn_module_avgpool2d(int kh, int kw, int sh, int sw, int ph, int pw,
                              int count_include_pad);
sn_module sn_module_dropout(float p);
sn_module sn_module_leaky_relu(float negative_slope);
/* kind SN_MOD_BATCHNORM1D or SN_MOD_BATCHNORM2D with torch's defaults (eps 1e-5,
 * momentum 0.1, affine, track_running_stats); change the fields after. */
sn_module sn_module_batchnorm(sn_module_kind kind, int num_features);
/* Modules without arguments: FLATTEN, RELU, SIGMOID, TANH, SOFTMAX, LOG_SOFTMAX,
 * IDENTITY, STEP. */
sn_module sn_module_plain(sn_module_kind kind);

/* The torch.nn class name of a kind ("Conv2d"). */
const char *sn_module_kind_name(sn_module_kind kind);

/* ---- the model spec ---- */

/* Parses spec text (len bytes, need not be NUL-terminated). `source` names the
 * text in error messages ("models/lenet5.txt:4: Conv2d: dilation=2 is not
 * supported"). On success *modules is an array of *count modules that the
 * caller frees with free(). Errors name the line and the argument. */
sn_status sn_spec_parse(const char *text, size_t len, const char *source, sn_module **modules,
                        int *count);

/* Writes modules as canonical spec text, one constructor per line with every
 * argument spelled as a keyword ("Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1),
 * padding=(2, 2), bias=True)"). *text is NUL-terminated; the caller frees it. */
sn_status sn_spec_format(const sn_module *modules, int count, char **text);

/* ---- models ---- */

typedef struct sn_model sn_model;

/* A model from modules (copied). The caller destroys it. */
sn_status sn_model_create(sn_model **out, const sn_module *modules, int count);
/* A model from a spec file. */
sn_status sn_model_from_spec_file(sn_model **out, const char *path);
/* A model from a sinapsi model file (safetensors with the spec, the input shape
 * and the weights; see docs/formats.md) or, if the file is not safetensors, a
 * spec file. A model file comes back compiled (batch 1) and loaded. */
sn_status sn_model_load(sn_model **out, const char *path);
/* How sn_model_load tells the two apart: *is_safetensors = 1 when path holds a
 * safetensors file (a model file, or a state_dict), 0 when it holds a spec. A
 * safetensors file starts with its header length, a little-endian u64 of at
 * most SN_SAFETENSORS_MAX_HEADER; eight bytes of text never read as one. A
 * file named .safetensors is 1 whatever it holds, so that a damaged model file
 * is reported by the safetensors reader, not parsed as a spec. Reads at most 8
 * bytes. Errors: SN_ERR_IO when the file cannot be opened or read. */
sn_status sn_model_file_is_safetensors(const char *path, int *is_safetensors);
void sn_model_destroy(sn_model *m);

typedef enum sn_loss_kind {
    SN_LOSS_NONE, /* inference only */
    SN_LOSS_CROSS_ENTROPY,
    SN_LOSS_NLL,
    SN_LOSS_BCE,
    SN_LOSS_BCE_WITH_LOGITS,
    SN_LOSS_MSE
} sn_loss_kind;

/* "cross_entropy" -> SN_LOSS_CROSS_ENTROPY ...; SN_ERR_INVALID_ARG if unknown. */
sn_status sn_loss_parse(const char *name, sn_loss_kind *out);
const char *sn_loss_name(sn_loss_kind kind);

typedef struct sn_model_compile_opts {
    int64_t batch;          /* largest batch the graph will run (default 1) */
    sn_shape sample_shape;  /* one example's shape, without the batch: (1, 28, 28) or (784) */
    sn_loss_kind loss;      /* default SN_LOSS_NONE */
    sn_reduction reduction; /* default mean */
    uint64_t seed;          /* seed of the dropout stream (default 0) */
    sn_graph_plan plan;     /* the arena's plan (sinapsi/graph.h), default SN_PLAN_LEAN;
                               SN_PLAN_INFERENCE when the graph only runs forward */
    int keep_modules;       /* 1: every module's output value and gradient stay readable
                               after a run (sn_model_module_node), as the health
                               monitor reads them; default 0 */
} sn_model_compile_opts;

sn_model_compile_opts sn_model_compile_defaults(void);

/* Builds the graph: input "x" (batch, sample...), the modules, and with a loss
 * the target input "y" and the loss node. The input, the output, the target and
 * the loss are kept under every plan; under a lean plan the other modules'
 * outputs are not readable after a run unless opts.keep_modules. Targets are
 * class indices, shape (batch), for cross_entropy and nll; the output's shape
 * for bce, bce_with_logits and mse. A module that does not fit the shape
 * reaching it is an error naming its spec line ("line 9: Linear(400, 120):
 * input has 256 features, expected 400"). Compiling again rebuilds the graph
 * (parameter and buffer values are kept); a failed compile leaves the previous
 * graph in place. Parameters of a first compile are zero until sn_model_init
 * or sn_model_load_weights. */
sn_status sn_model_compile(sn_model *m, const sn_model_compile_opts *opts);

typedef enum sn_init_scheme {
    SN_INIT_TORCH_DEFAULT,   /* weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    SN_INIT_XAVIER_UNIFORM,  /* U(-a, a), a = sqrt(6 / (fan_in + fan_out)); bias 0 */
    SN_INIT_XAVIER_NORMAL,   /* N(0, 2 / (fan_in + fan_out)); bias 0 */
    SN_INIT_KAIMING_UNIFORM, /* U(-b, b), b = sqrt(6 / fan_in) (ReLU gain); bias 0 */
    SN_INIT_KAIMING_NORMAL   /* N(0, 2 / fan_in); bias 0 */
} sn_init_scheme;

/* Initialises every parameter from (seed, SN_STREAM_INIT). fan_in = in_features
 * for Linear, C_in*kh*kw for Conv2d. BatchNorm takes torch's reset_parameters
 * whatever the scheme, and draws nothing: weight 1, bias 0, running_mean 0,
 * running_var 1, num_batches_tracked 0. The model must be compiled. */
sn_status sn_model_init(sn_model *m, uint64_t seed, sn_init_scheme scheme);

/* Loads weights by name from a safetensors file (a torch state_dict saved with
 * safetensors, or a sinapsi model file). Every parameter and buffer must be
 * present with its exact shape, and the file may hold no other tensor named as
 * a state_dict entry ("3.weight"): anything else fails, naming the tensor, and
 * leaves the model's weights and buffers unchanged. Integer tensors
 * (num_batches_tracked is I64 in a torch file) are converted exactly. */
sn_status sn_model_load_weights(sn_model *m, const char *path);

/* Writes the weights and buffers under torch's names, in the state_dict's
 * order, and __metadata__ with "format":
 * "sinapsi-model", "spec" (canonical text), "input_shape" ("1x28x28") and
 * "sinapsi_version". Atomic: temporary file, fsync, rename. */
sn_status sn_model_save(const sn_model *m, const char *path);

/* Evaluation-mode forward of n examples x (n, sample...) into y (n, output...),
 * in chunks of the compiled batch (the last one through sn_graph_set_batch, so
 * nothing is allocated); the graph's batch is put back as it was. A loss
 * compiled in runs too, on whatever the target input holds. Leaves the model
 * in evaluation mode. */
sn_status sn_model_forward(sn_model *m, const float *x, int64_t n, float *y);

/* ---- access ---- */

int sn_model_module_count(const sn_model *m);
const sn_module *sn_model_module(const sn_model *m, int index);
/* The graph and its nodes, after compile (SN_NONE where absent). */
sn_graph *sn_model_graph(sn_model *m);
int sn_model_input_node(const sn_model *m);
int sn_model_output_node(const sn_model *m);
int sn_model_target_node(const sn_model *m);
int sn_model_loss_node(const sn_model *m);
/* The graph node of module i's output. */
int sn_model_module_node(const sn_model *m, int index);
/* One example's input and output shapes (without batch), after compile. */
const sn_shape *sn_model_sample_shape(const sn_model *m);
sn_status sn_model_output_shape(const sn_model *m, sn_shape *out);

/* What `sinapsi info` prints per module: the output shape of one example,
 * parameter count, and forward FLOPs per example (a multiply-add counts 2):
 *   Linear     2·in·out, plus out for the bias
 *   Conv2d     2·C_in·kh·kw·C_out·OH·OW, plus C_out·OH·OW for the bias
 *   pools      one per window element per output: C·OH·OW·kh·kw
 *   ReLU, LeakyReLU, Sigmoid, Tanh, Step, Softmax, LogSoftmax: one per output element
 *   Flatten, Identity, Dropout (the identity in evaluation): 0
 *   BatchNorm1d/2d: 2 per output element (a multiply and an add in evaluation)
 * After compile; SN_ERR_STATE before. */
typedef struct sn_layer_info {
    sn_shape output; /* without batch */
    int64_t params;
    int64_t flops;
} sn_layer_info;
sn_status sn_model_layer_info(const sn_model *m, int index, sn_layer_info *out);

#ifdef __cplusplus
}
#endif
#endif

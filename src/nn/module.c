/*
 * Module constructors with torch.nn's defaults, and the torch.nn class name of
 * each kind. These only fill the struct: the model compiler checks the values
 * (and the spec parser checks them before, naming the spec line).
 */
#include "sinapsi/model.h"

sn_module sn_module_linear(int in_features, int out_features, int bias) {
    return (sn_module){.kind = SN_MOD_LINEAR,
                       .in_features = in_features,
                       .out_features = out_features,
                       .bias = bias != 0};
}

sn_module sn_module_conv2d(int in_channels, int out_channels, int kh, int kw, int sh, int sw,
                           int ph, int pw, int bias) {
    return (sn_module){.kind = SN_MOD_CONV2D,
                       .in_channels = in_channels,
                       .out_channels = out_channels,
                       .kernel = {kh, kw},
                       .stride = {sh, sw},
                       .padding = {ph, pw},
                       .bias = bias != 0};
}

sn_module sn_module_maxpool2d(int kh, int kw, int sh, int sw, int ph, int pw) {
    return (sn_module){
        .kind = SN_MOD_MAXPOOL2D, .kernel = {kh, kw}, .stride = {sh, sw}, .padding = {ph, pw}};
}

sn_module sn_module_avgpool2d(int kh, int kw, int sh, int sw, int ph, int pw,
                              int count_include_pad) {
    return (sn_module){.kind = SN_MOD_AVGPOOL2D,
                       .kernel = {kh, kw},
                       .stride = {sh, sw},
                       .padding = {ph, pw},
                       .count_include_pad = count_include_pad != 0};
}

sn_module sn_module_dropout(float p) {
    return (sn_module){.kind = SN_MOD_DROPOUT, .p = p};
}

sn_module sn_module_leaky_relu(float negative_slope) {
    return (sn_module){.kind = SN_MOD_LEAKY_RELU, .negative_slope = negative_slope};
}

/* torch.nn.BatchNorm1d/2d's defaults. */
sn_module sn_module_batchnorm(sn_module_kind kind, int num_features) {
    return (sn_module){.kind = kind,
                       .num_features = num_features,
                       .eps = 1e-5f,
                       .momentum = 0.1f,
                       .affine = 1,
                       .track_running_stats = 1};
}

/* A kind whose arguments are all optional gets torch's defaults (Dropout
 * p=0.5, LeakyReLU negative_slope=0.01), so that sn_module_plain(SN_MOD_DROPOUT)
 * is nn.Dropout(). Kinds with required arguments (Linear, Conv2d, the pools,
 * BatchNorm's num_features) come back with zeros, which the model compiler
 * refuses; BatchNorm's optional arguments get torch's defaults. */
sn_module sn_module_plain(sn_module_kind kind) {
    switch (kind) {
    case SN_MOD_DROPOUT:
        return sn_module_dropout(0.5f);
    case SN_MOD_LEAKY_RELU:
        return sn_module_leaky_relu(0.01f);
    case SN_MOD_BATCHNORM1D:
    case SN_MOD_BATCHNORM2D:
        return sn_module_batchnorm(kind, 0);
    default:
        return (sn_module){.kind = kind};
    }
}

const char *sn_module_kind_name(sn_module_kind kind) {
    switch (kind) {
    case SN_MOD_LINEAR:
        return "Linear";
    case SN_MOD_CONV2D:
        return "Conv2d";
    case SN_MOD_MAXPOOL2D:
        return "MaxPool2d";
    case SN_MOD_AVGPOOL2D:
        return "AvgPool2d";
    case SN_MOD_FLATTEN:
        return "Flatten";
    case SN_MOD_DROPOUT:
        return "Dropout";
    case SN_MOD_RELU:
        return "ReLU";
    case SN_MOD_LEAKY_RELU:
        return "LeakyReLU";
    case SN_MOD_SIGMOID:
        return "Sigmoid";
    case SN_MOD_TANH:
        return "Tanh";
    case SN_MOD_SOFTMAX:
        return "Softmax";
    case SN_MOD_LOG_SOFTMAX:
        return "LogSoftmax";
    case SN_MOD_IDENTITY:
        return "Identity";
    case SN_MOD_STEP:
        return "Step";
    case SN_MOD_BATCHNORM1D:
        return "BatchNorm1d";
    case SN_MOD_BATCHNORM2D:
        return "BatchNorm2d";
    }
    return "unknown";
}

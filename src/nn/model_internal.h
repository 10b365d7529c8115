/* Private layout of sn_model, shared by model.c, init.c and model_file.c. */
#ifndef SN_NN_MODEL_INTERNAL_H
#define SN_NN_MODEL_INTERNAL_H

#include "sinapsi/model.h"
#include "sinapsi/safetensors.h"

/* What compile made of one module. */
typedef struct sn_model_layer {
    int node;   /* graph node of the module's output (Identity: its input's) */
    int weight; /* parameter nodes "<index>.weight", "<index>.bias"; SN_NONE where */
    int bias;   /* the module has none */
    int running_mean, running_var, num_batches_tracked; /* BatchNorm's buffers, or SN_NONE */
    sn_shape output; /* one example's output shape, without the batch */
} sn_model_layer;

struct sn_model {
    sn_module *modules; /* (count) copied from the caller */
    int count;
    /* Set by compile, all NULL / SN_NONE before. */
    sn_graph *graph;
    sn_model_layer *layers;     /* (count) */
    sn_model_compile_opts opts; /* as last compiled; opts.sample_shape is the input */
    int input, output, target, loss;
};

/* Loads every parameter of the compiled model m from the open file f, strictly
 * (see sn_model_load_weights); nothing changes on failure. */
sn_status sn_model__weights_from(sn_model *m, const sn_safetensors *f);

#endif

/* Per-layer training health (private to src/train; docs/health.md): what is
 * measured on a health step, and the means over an epoch. Everything is
 * allocated by sn_health__init; health steps allocate nothing. */
#ifndef SN_TRAIN_HEALTH_H
#define SN_TRAIN_HEALTH_H

#include <stddef.h>
#include <stdio.h>

#include "sinapsi/train.h"

#define SN_HEALTH_NAME_CAP 160

/* Where one row's numbers come from in the graph. */
typedef struct sn_health_source {
    int weight_node;                   /* "<module>.weight", or SN_NONE */
    size_t weight_offset, weight_size; /* in the parameter block */
    int input_node;                    /* the node feeding the module */
    int output_node;                   /* the module's output */
    char name[SN_HEALTH_NAME_CAP];
} sn_health_source;

typedef struct sn_health_state {
    int every; /* 0: off, and nothing else is allocated */
    int n_layers;
    sn_health_source *source; /* (n_layers) */
    sn_layer_health *now;     /* (n_layers) the health step being measured */
    sn_layer_health *sum;     /* (n_layers) sums over the epoch's health steps */
    sn_layer_health *mean;    /* (n_layers) the epoch's means */
    float *before;            /* (n_params) the parameter block before the step */
    size_t n_params;
    int measuring; /* the current step is a health step */
    int now_nonfinite, epoch_nonfinite;
    int samples;
} sn_health_state;

/* Plans the rows of m (compiled) and allocates every buffer; every = 0 leaves
 * the state off. */
sn_status sn_health__init(sn_health_state *h, sn_model *m, int every);
void sn_health__free(sn_health_state *h);

/* After backward of global step `step` (1-based), before clipping and the
 * optimiser: when it is a health step, measures the weights, gradients and
 * activations and keeps a copy of the parameters. */
void sn_health__after_backward(sn_health_state *h, sn_model *m, int64_t step);

/* After the optimiser step: on a health step, the update ratios; adds the
 * step to the epoch's sums and fills *out (is_epoch 0). Returns 1 when *out
 * was filled. */
int sn_health__after_step(sn_health_state *h, sn_model *m, int epoch, int64_t step, sn_health *out);

/* The epoch's means into *out (is_epoch 1; samples may be 0, with every
 * number NaN) and restarts the sums. */
void sn_health__epoch(sn_health_state *h, int epoch, int64_t step, sn_health *out);

/* The warnings about a record in plain words (docs/health.md), each given to
 * emit: vanishing gradients first, then saturated or dead layers in order. */
typedef void (*sn_health_emit)(const char *line, void *ctx);
void sn_health__warnings(const sn_health *r, sn_health_emit emit, void *ctx);

/* The epoch's table and its warnings, to out. */
void sn_health__print(FILE *out, const sn_health *r, int every);

#endif

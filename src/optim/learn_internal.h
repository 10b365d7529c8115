/*
 * Private helpers shared by the local learning rules (perceptron.c, hebb.c):
 * the Linear layer they update in place, and a pass over examples in chunks.
 */
#ifndef SN_OPTIM_LEARN_INTERNAL_H
#define SN_OPTIM_LEARN_INTERNAL_H

#include <stdint.h>

#include "sinapsi/data.h"
#include "sinapsi/model.h"

/* Examples copied out of a dataset at a time: enough to amortise the call,
 * few enough that the chunk (LEARN_CHUNK, d) stays in cache for MNIST sizes. */
#define LEARN_CHUNK 256

/* A model Linear(d, k) (followed by Step() when `step`), compiled for flat
 * examples (d) and a batch of LEARN_CHUNK. The rules write its parameters in
 * place through weight (k, d) and bias (k), torch's layout of "0.weight" and
 * "0.bias", so that the trained model is saved as it is. */
typedef struct learn_linear {
    sn_model *model;
    float *weight; /* (k, d) */
    float *bias;   /* (k) */
    int64_t d;
    int k;
} learn_linear;

/* Creates the layer with zero parameters, or torch's nn.Linear initialisation
 * from (seed, SN_STREAM_INIT) when random_init. `who` prefixes errors. */
sn_status sn_learn_linear_create(learn_linear *out, const char *who, int64_t d, int k, int step,
                                 int random_init, uint64_t seed);
void sn_learn_linear_destroy(learn_linear *l);

/* Values per example of ds, checked to fit a Linear layer's in_features. */
sn_status sn_learn_features(const sn_dataset *ds, const char *who, int64_t *d);

/* Calls visit for examples order[0..n) in chunks of at most LEARN_CHUNK:
 * x (count, d) normalised as the dataset gives them, y (count, target_size)
 * their targets (class indices as floats). Stops at the first status visit returns that is
 * not SN_OK and returns it. */
typedef sn_status (*learn_visit)(const float *x, const float *y, int64_t count, void *user);
sn_status sn_learn_each_chunk(const sn_dataset *ds, int64_t d, const int64_t *order, int64_t n,
                              learn_visit visit, void *user);

/* The mean (d) of every example of ds, summed in double. */
sn_status sn_learn_mean(const sn_dataset *ds, int64_t d, double *mean);

/* Σ_i w[i] x[i] in double, so that a sum over 784 pixels does not depend on
 * the rounding of a float accumulator. */
double sn_learn_dot(const float *w, const float *x, int64_t d);

#endif

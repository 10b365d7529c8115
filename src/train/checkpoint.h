/*
 * Training checkpoints (format in docs/checkpoints.md): a safetensors file
 * with the weights under torch's names, the optimiser's state blocks, and in
 * __metadata__ the position of the run, the RNG states and the settings.
 */
#ifndef SN_TRAIN_CHECKPOINT_H
#define SN_TRAIN_CHECKPOINT_H

#include "sinapsi/rng.h"
#include "sinapsi/train.h"
#include "train/settings.h"

/* Where a run is, beyond the weights and the optimiser. */
typedef struct sn_train_state {
    int epoch;           /* epochs completed */
    int64_t epoch_batch; /* batches of epoch + 1 already done (a run stopped by max_steps) */
    int64_t step;        /* optimiser steps so far */
    sn_rng shuffle;      /* the shuffle stream, before epoch + 1's order is drawn */
    sn_rng dropout;      /* the graph's dropout stream */
} sn_train_state;

/* Writes the checkpoint atomically (sn_safetensors_write). The test hook
 * SN_TEST_KILL_IN_CHECKPOINT=<epoch> kills the process with SIGKILL part-way
 * through the temporary file of that epoch's checkpoint (docs/checkpoints.md). */
sn_status sn_checkpoint__write(const char *path, sn_model *m, sn_optim *opt,
                               const sn_train_state *state, const sn_settings *settings);

/* Restores weights, optimiser state and *state from path, after checking that
 * it was written by a run with the same settings (those marked MATCH). */
sn_status sn_checkpoint__read(const char *path, sn_model *m, sn_optim *opt, sn_train_state *state,
                              const sn_settings *settings);

#endif

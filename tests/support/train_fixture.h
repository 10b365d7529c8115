/* Small, fast training set-ups shared by tests/test_train.c and
 * tests/test_checkpoint.c: a synthetic 3-class dataset, an MLP with dropout,
 * options that train it in milliseconds, and file helpers. */
#ifndef SN_TEST_TRAIN_FIXTURE_H
#define SN_TEST_TRAIN_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/train.h"

#define SN_FIXTURE_FEATURES 16
#define SN_FIXTURE_CLASSES 3

/* n examples x (n, 16) ~ N(0, 1) from seed, labelled by the arg-max of a fixed
 * linear map (so the task is learnable). */
sn_dataset *sn_fixture_blobs(int64_t n, uint64_t seed);

/* Linear(16, 12), ReLU, [Dropout(0.25),] Linear(12, 3). */
sn_model *sn_fixture_mlp(int dropout);

/* Linear(16, 12), BatchNorm1d(12), ReLU, Dropout(0.25), Linear(12, 3): a model
 * with buffers (running statistics) besides parameters. */
sn_model *sn_fixture_mlp_batchnorm(void);

/* A copy of the model's buffer block (*n floats); the caller frees it. */
float *sn_fixture_buffers(sn_model *m, size_t *n);

/* 3 epochs, batch 8, SGD lr 0.05 momentum 0.9, seed 7, no progress output. */
sn_train_opts sn_fixture_opts(void);

/* Trains sn_fixture_mlp(0) on sn_fixture_blobs(20, 1) (and, when with_test,
 * a test set sn_fixture_blobs(10, 2)) with o, while file descriptor fd (1 or
 * 2) goes to a file; fails the test if training fails, and returns what was
 * written there, NUL-terminated (the caller frees it). */
char *sn_fixture_train_captured(const sn_train_opts *o, int with_test, int fd);

/* A copy of the model's parameter block (*n floats); the caller frees it. */
float *sn_fixture_params(sn_model *m, size_t *n);

/* The whole file (*len bytes), or NULL if it cannot be read; the caller frees it. */
unsigned char *sn_fixture_read_file(const char *path, size_t *len);

/* 1 when the two files exist and hold the same bytes. */
int sn_fixture_same_file(const char *a, const char *b);

#endif

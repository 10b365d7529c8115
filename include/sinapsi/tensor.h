/*
 * sinapsi/tensor.h: shapes and float32 tensors.
 *
 * A tensor is float32, contiguous, row-major, with up to 4 dimensions, read as
 * (N, C, H, W) for images and (N, features) for vectors. A 0-d tensor is a
 * scalar with one element (a loss). Every size product is checked for overflow.
 *
 *     sn_tensor *t;
 *     if (sn_tensor_create(&t, 4, (int64_t[]){64, 1, 28, 28}) != SN_OK) ...
 *     t->data[0] = 1.0f;   // 64*1*28*28 floats, zeroed
 *     sn_tensor_destroy(t);
 */
#ifndef SINAPSI_TENSOR_H
#define SINAPSI_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "sinapsi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SN_MAX_DIMS 4

/* Largest number of elements a tensor may have (2^40): any product of dims
 * beyond it is refused, so byte counts never overflow size_t or int64_t. */
#define SN_MAX_NUMEL ((int64_t)1 << 40)

typedef struct sn_shape {
    int ndim;                 /* 0..SN_MAX_DIMS; 0 is a scalar */
    int64_t dim[SN_MAX_DIMS]; /* dim[0] is the batch N when ndim >= 2 */
} sn_shape;

/* Builds a shape from ndim sizes; fails on ndim outside 0..4, a size < 1, or a
 * product above SN_MAX_NUMEL. */
sn_status sn_shape_make(sn_shape *out, int ndim, const int64_t *dims);

/* Number of elements (1 for a scalar). The shape must be valid. */
int64_t sn_shape_numel(const sn_shape *s);

/* Checks that a shape is valid (see sn_shape_make). */
sn_status sn_shape_check(const sn_shape *s);

/* 1 if a and b have the same ndim and sizes. */
int sn_shape_equal(const sn_shape *a, const sn_shape *b);

/* Writes "[64, 1, 28, 28]" into buf (always NUL-terminated); returns buf. */
char *sn_shape_format(const sn_shape *s, char *buf, size_t cap);

/* a*b into *out, failing with SN_ERR_NOMEM if the product exceeds limit or
 * either factor is negative. Used before every allocation sized by input. */
sn_status sn_mul_checked(int64_t a, int64_t b, int64_t limit, int64_t *out);

typedef struct sn_tensor {
    sn_shape shape;
    float *data; /* numel floats, owned by the tensor */
} sn_tensor;

/* Creates a zeroed tensor. The caller destroys it with sn_tensor_destroy. */
sn_status sn_tensor_create(sn_tensor **out, int ndim, const int64_t *dims);

/* Frees the tensor and its data; NULL is allowed. */
void sn_tensor_destroy(sn_tensor *t);

/* Number of elements of t. */
int64_t sn_tensor_numel(const sn_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
